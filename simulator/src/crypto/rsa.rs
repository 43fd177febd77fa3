//! The RSA family: PKCS#1 v1.5 (raw and hashed), raw RSA (X.509), PSS (raw and hashed), OAEP,
//! RSA-AES key wrap, key-pair generation and PKCS#8 conversion.
//!
//! A key is parsed once from its object's attributes into an aws-lc `RSA` object ([`RsaKey`]),
//! then shared (through the engine's `Arc<KeyMaterial>`) by every operation and thread: aws-lc's
//! RSA operations are safe to run concurrently on one key, so no lock is taken here. Hashed
//! mechanisms hash incrementally with `aws_lc_rs::digest::Context`; raw mechanisms (and every
//! encryption/decryption) buffer their input and act in `finish`. Everything aws-lc-rs's safe API
//! lacks (raw RSA, type 1 padding over arbitrary data, PSS/OAEP with any parameters, keys from
//! components, any-size key generation, PKCS#8) goes through `ffi::rsa` (imported as `sys`), the
//! only place that calls aws-lc's C API for it.
use super::ffi::rsa as sys;

use super::*;
use crate::base::attribute::Attributes;
use crate::base::error::{Result, err};
use aws_lc_rs::digest;
use cryptoki_sys::*;
use std::sync::Arc;
use sys::{Padding, RsaHandle};
use zeroize::Zeroizing;

/// The smallest modulus (in bits) an operation accepts (the registry's `ulMinKeySize`): legacy
/// 512-bit keys (old certificates, old partitions) can still be used (simulator-defined, as
/// SoftHSMv2), though new keys are generated from `GEN_MIN_BITS` up.
pub const MIN_BITS: usize = 512;
/// The smallest modulus `CKM_RSA_PKCS_KEY_PAIR_GEN` generates.
pub const GEN_MIN_BITS: usize = 1024;
/// The largest modulus (in bits) an operation accepts (the registry's `ulMaxKeySize`).
pub const MAX_BITS: usize = 4096;
/// The public exponent of generated keys when the template gives none.
const DEFAULT_EXPONENT: u64 = 65537;
/// PKCS#1 v1.5 padding overhead: at least 8 padding bytes plus 3 framing bytes.
const PKCS1_OVERHEAD: usize = 11;

/// A hash usable by the RSA mechanisms (signature digest, OAEP/PSS hash or MGF1 hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// From a digest mechanism (`CKM_SHA_1` ... `CKM_SHA512`), as in OAEP/PSS parameters.
    fn from_mechanism(m: CK_MECHANISM_TYPE) -> Option<Hash> {
        Some(match m {
            CKM_SHA_1 => Hash::Sha1,
            CKM_SHA224 => Hash::Sha224,
            CKM_SHA256 => Hash::Sha256,
            CKM_SHA384 => Hash::Sha384,
            CKM_SHA512 => Hash::Sha512,
            _ => return None,
        })
    }

    /// From a mask generation function (`CKG_MGF1_SHA1` ... `CKG_MGF1_SHA512`).
    fn from_mgf(m: CK_RSA_PKCS_MGF_TYPE) -> Option<Hash> {
        Some(match m {
            CKG_MGF1_SHA1 => Hash::Sha1,
            CKG_MGF1_SHA224 => Hash::Sha224,
            CKG_MGF1_SHA256 => Hash::Sha256,
            CKG_MGF1_SHA384 => Hash::Sha384,
            CKG_MGF1_SHA512 => Hash::Sha512,
            _ => return None,
        })
    }

    fn len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha224 => 28,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    fn algorithm(self) -> &'static digest::Algorithm {
        match self {
            Hash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha224 => &digest::SHA224,
            Hash::Sha256 => &digest::SHA256,
            Hash::Sha384 => &digest::SHA384,
            Hash::Sha512 => &digest::SHA512,
        }
    }
}

/// An RSA public or private key, parsed once and held in aws-lc form.
pub struct RsaKey {
    handle: RsaHandle,
    /// True for a `CKO_PRIVATE_KEY` object (private operations allowed, public ones refused).
    private: bool,
    bits: usize,
    /// k: the modulus length in bytes.
    size: usize,
    /// The modulus, big-endian, left-padded to k bytes (for the raw-RSA range checks).
    modulus: Vec<u8>,
}

impl RsaKey {
    /// Parses a key object's attributes. Public keys need `CKA_MODULUS` and
    /// `CKA_PUBLIC_EXPONENT`; private keys also `CKA_PRIVATE_EXPONENT`, and either all five CRT
    /// values (`CKA_PRIME_1`, `CKA_PRIME_2`, `CKA_EXPONENT_1`, `CKA_EXPONENT_2`,
    /// `CKA_COEFFICIENT`) or none. Missing values are `CKR_TEMPLATE_INCOMPLETE`; values aws-lc
    /// rejects (inconsistent private key, even modulus, exponent out of range, ...) are
    /// `CKR_ATTRIBUTE_VALUE_INVALID`. The key size is checked at use, not here.
    pub fn from_attributes(class: CK_OBJECT_CLASS, attrs: &Attributes) -> Result<Self> {
        let n = attrs.require_bytes(CKA_MODULUS)?;
        let e = attrs.require_bytes(CKA_PUBLIC_EXPONENT)?;
        let handle = match class {
            CKO_PUBLIC_KEY => RsaHandle::new_public(n, e)
                .ok_or_else(|| err(CKR_ATTRIBUTE_VALUE_INVALID, "the RSA public key is invalid"))?,
            CKO_PRIVATE_KEY => {
                let d = attrs.require_bytes(CKA_PRIVATE_EXPONENT)?;
                // An empty CRT value counts as absent.
                let crt_types = [
                    CKA_PRIME_1,
                    CKA_PRIME_2,
                    CKA_EXPONENT_1,
                    CKA_EXPONENT_2,
                    CKA_COEFFICIENT,
                ];
                let crt = crt_types.map(|t| attrs.bytes(t).filter(|b| !b.is_empty()));
                let crt = if crt.iter().all(Option::is_none) {
                    None
                } else if let [Some(p), Some(q), Some(dp), Some(dq), Some(qinv)] = crt {
                    Some([p, q, dp, dq, qinv])
                } else {
                    let missing = crt_types
                        .iter()
                        .zip(crt.iter())
                        .find_map(|(t, v)| v.is_none().then_some(*t))
                        .unwrap_or(CKA_PRIME_1);
                    return Err(err(
                        CKR_TEMPLATE_INCOMPLETE,
                        format!(
                            "attribute 0x{missing:X} is required when other CRT values are given"
                        ),
                    ));
                };
                RsaHandle::new_private(n, e, d, crt).ok_or_else(|| {
                    err(
                        CKR_ATTRIBUTE_VALUE_INVALID,
                        "the RSA private key values are inconsistent",
                    )
                })?
            }
            _ => {
                return Err(err(
                    CKR_KEY_TYPE_INCONSISTENT,
                    "not an RSA public or private key",
                ));
            }
        };
        Self::from_handle(handle, class == CKO_PRIVATE_KEY)
    }

    fn from_handle(handle: RsaHandle, private: bool) -> Result<Self> {
        let bits = handle.bits();
        let size = handle.size();
        let comps = handle
            .components()
            .ok_or_else(|| err(CKR_ATTRIBUTE_VALUE_INVALID, "the RSA key has no modulus"))?;
        if comps.n.len() > size {
            return Err(err(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "the RSA modulus is malformed",
            ));
        }
        let mut modulus = vec![0u8; size - comps.n.len()];
        modulus.extend_from_slice(&comps.n);
        Ok(RsaKey {
            handle,
            private,
            bits,
            size,
            modulus,
        })
    }

    /// The key's PKCS#8 `PrivateKeyInfo` (private keys with CRT values only).
    pub fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>> {
        if !self.private {
            return Err(err(
                CKR_KEY_TYPE_INCONSISTENT,
                "only a private key has a PKCS#8 form",
            ));
        }
        self.handle.to_pkcs8().ok_or_else(|| {
            err(
                CKR_KEY_NOT_WRAPPABLE,
                "an RSA private key without CRT values cannot be encoded as PKCS#8",
            )
        })
    }

    /// The modulus length in bits.
    pub fn modulus_bits(&self) -> usize {
        self.bits
    }

    /// The modulus length in bytes (the length of every signature and ciphertext).
    pub fn modulus_len(&self) -> usize {
        self.size
    }

    /// True for a private key.
    pub fn is_private(&self) -> bool {
        self.private
    }

    /// The big-endian modulus, left-padded to the modulus length.
    pub fn modulus(&self) -> &[u8] {
        &self.modulus
    }

    fn check_size(&self) -> Result<()> {
        if (MIN_BITS..=MAX_BITS).contains(&self.bits) {
            Ok(())
        } else {
            Err(err(
                CKR_KEY_SIZE_RANGE,
                format!(
                    "RSA keys of {} bits are not supported (512 to 4096)",
                    self.bits
                ),
            ))
        }
    }

    /// `data` left-padded with zeros to k bytes, checked to be below the modulus (raw RSA input);
    /// `None` when it is longer than k bytes or not below the modulus.
    fn raw_block(&self, data: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if data.len() > self.size {
            return None;
        }
        let mut block = Zeroizing::new(vec![0u8; self.size]);
        block[self.size - data.len()..].copy_from_slice(data);
        (block.as_slice() < self.modulus.as_slice()).then_some(block)
    }
}

/// The RSA key of `key`, checked to be private (or public) and of a supported size.
fn rsa_key(key: &KeyMaterial, private: bool) -> Result<&RsaKey> {
    let KeyMaterial::Rsa(k) = key else {
        return Err(err(CKR_KEY_TYPE_INCONSISTENT, "an RSA key is required"));
    };
    if k.private != private {
        return Err(err(
            CKR_KEY_TYPE_INCONSISTENT,
            if private {
                "this operation needs an RSA private key"
            } else {
                "this operation needs an RSA public key"
            },
        ));
    }
    k.check_size()?;
    Ok(k)
}

/// PSS parameters, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pss {
    hash: Hash,
    mgf: Hash,
    salt_len: usize,
}

/// Parses `CK_RSA_PKCS_PSS_PARAMS`: `hash` must be `required` when the mechanism names one, and
/// the salt must fit the key (emLen >= hLen + sLen + 2, RFC 8017 §9.1.1).
fn pss_params(mech: &Mechanism, required: Option<Hash>, key: &RsaKey) -> Result<Pss> {
    let MechParams::Pss {
        hash,
        mgf,
        salt_len,
    } = mech.params
    else {
        return Err(err(
            CKR_MECHANISM_PARAM_INVALID,
            "PSS needs CK_RSA_PKCS_PSS_PARAMS",
        ));
    };
    let hash = Hash::from_mechanism(hash)
        .ok_or_else(|| err(CKR_MECHANISM_PARAM_INVALID, "unsupported PSS hash"))?;
    if required.is_some_and(|r| r != hash) {
        return Err(err(
            CKR_MECHANISM_PARAM_INVALID,
            "the PSS parameters name a hash other than the mechanism's",
        ));
    }
    let mgf = Hash::from_mgf(mgf).ok_or_else(|| {
        err(
            CKR_MECHANISM_PARAM_INVALID,
            "unsupported PSS mask generation function",
        )
    })?;
    let em_len = key.bits.saturating_sub(1).div_ceil(8);
    let salt_len = usize::try_from(salt_len)
        .ok()
        .filter(|s| {
            s.checked_add(hash.len() + 2)
                .is_some_and(|need| need <= em_len)
        })
        .ok_or_else(|| {
            err(
                CKR_MECHANISM_PARAM_INVALID,
                "the PSS salt is too long for this key",
            )
        })?;
    Ok(Pss {
        hash,
        mgf,
        salt_len,
    })
}

/// OAEP parameters, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Oaep {
    hash: Hash,
    mgf: Hash,
    label: Vec<u8>,
}

fn oaep_from(hash: CK_MECHANISM_TYPE, mgf: CK_RSA_PKCS_MGF_TYPE, label: &[u8]) -> Result<Oaep> {
    let hash = Hash::from_mechanism(hash)
        .ok_or_else(|| err(CKR_MECHANISM_PARAM_INVALID, "unsupported OAEP hash"))?;
    let mgf = Hash::from_mgf(mgf).ok_or_else(|| {
        err(
            CKR_MECHANISM_PARAM_INVALID,
            "unsupported OAEP mask generation function",
        )
    })?;
    Ok(Oaep {
        hash,
        mgf,
        label: label.to_vec(),
    })
}

impl Oaep {
    /// The longest message this key can encrypt (RFC 8017 §7.1.1: k - 2hLen - 2), or
    /// `CKR_KEY_SIZE_RANGE` when the key is too small for the hash (simulator-defined).
    fn max_message(&self, key: &RsaKey) -> Result<usize> {
        key.size
            .checked_sub(2 * self.hash.len() + 2)
            .ok_or_else(|| {
                err(
                    CKR_KEY_SIZE_RANGE,
                    "the RSA key is too small for this OAEP hash",
                )
            })
    }
}

/// How a signature mechanism turns its input into a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigScheme {
    /// `CKM_RSA_PKCS`: type 1 padding over the data (at most k - 11 bytes).
    Pkcs1Raw,
    /// `CKM_RSA_X_509`: raw RSA over the data left-padded to k bytes.
    X509,
    /// `CKM_RSA_PKCS_PSS`: the data is the hash.
    PssRaw(Pss),
    /// `CKM_SHAx_RSA_PKCS`.
    Pkcs1(Hash),
    /// `CKM_SHAx_RSA_PKCS_PSS`.
    PssHashed(Pss),
}

fn sig_scheme(mech: &Mechanism, key: &RsaKey) -> Result<SigScheme> {
    let hashed_pkcs1 = |h| {
        mech.expect_no_params()?;
        Ok(SigScheme::Pkcs1(h))
    };
    let hashed_pss = |h| Ok(SigScheme::PssHashed(pss_params(mech, Some(h), key)?));
    match mech.mechanism_type {
        CKM_RSA_PKCS => mech.expect_no_params().map(|_| SigScheme::Pkcs1Raw),
        CKM_RSA_X_509 => mech.expect_no_params().map(|_| SigScheme::X509),
        CKM_RSA_PKCS_PSS => Ok(SigScheme::PssRaw(pss_params(mech, None, key)?)),
        CKM_SHA1_RSA_PKCS => hashed_pkcs1(Hash::Sha1),
        CKM_SHA224_RSA_PKCS => hashed_pkcs1(Hash::Sha224),
        CKM_SHA256_RSA_PKCS => hashed_pkcs1(Hash::Sha256),
        CKM_SHA384_RSA_PKCS => hashed_pkcs1(Hash::Sha384),
        CKM_SHA512_RSA_PKCS => hashed_pkcs1(Hash::Sha512),
        CKM_SHA1_RSA_PKCS_PSS => hashed_pss(Hash::Sha1),
        CKM_SHA224_RSA_PKCS_PSS => hashed_pss(Hash::Sha224),
        CKM_SHA256_RSA_PKCS_PSS => hashed_pss(Hash::Sha256),
        CKM_SHA384_RSA_PKCS_PSS => hashed_pss(Hash::Sha384),
        CKM_SHA512_RSA_PKCS_PSS => hashed_pss(Hash::Sha512),
        _ => Err(err(CKR_MECHANISM_INVALID, "not an RSA signature mechanism")),
    }
}

impl SigScheme {
    /// The hash computed over the input, for the hashed mechanisms.
    fn digest(self) -> Option<Hash> {
        match self {
            SigScheme::Pkcs1(h) => Some(h),
            SigScheme::PssHashed(p) => Some(p.hash),
            _ => None,
        }
    }

    /// The most input bytes a raw mechanism may buffer.
    fn max_buffer(self, key: &RsaKey) -> usize {
        match self {
            SigScheme::PssRaw(p) => p.hash.len(),
            _ => key.size,
        }
    }

    /// Signs `msg` (the data for raw mechanisms, the digest for hashed ones).
    fn sign(self, key: &RsaKey, msg: &[u8]) -> Result<Vec<u8>> {
        let mut out = vec![0u8; key.size];
        let len = match self {
            SigScheme::Pkcs1Raw => {
                if msg.len() > key.size - PKCS1_OVERHEAD {
                    return Err(data_len("CKM_RSA_PKCS signs at most k - 11 bytes"));
                }
                key.handle.sign_raw(Padding::Pkcs1, msg, &mut out)
            }
            SigScheme::X509 => {
                let block = key
                    .raw_block(msg)
                    .ok_or_else(|| data_len("raw RSA input must be below the modulus"))?;
                key.handle.sign_raw(Padding::None, &block, &mut out)
            }
            SigScheme::PssRaw(p) => {
                if msg.len() != p.hash.len() {
                    return Err(data_len(
                        "CKM_RSA_PKCS_PSS signs a hash of the parameters' length",
                    ));
                }
                key.handle
                    .sign_pss(p.hash, p.mgf, p.salt_len, msg, &mut out)
            }
            SigScheme::Pkcs1(h) => key.handle.sign_digest_pkcs1(h, msg, &mut out),
            SigScheme::PssHashed(p) => key
                .handle
                .sign_pss(p.hash, p.mgf, p.salt_len, msg, &mut out),
        }
        .ok_or_else(|| err(CKR_FUNCTION_FAILED, "the RSA signature failed"))?;
        out.truncate(len);
        Ok(out)
    }

    /// Verifies `sig` over `msg` (the data for raw mechanisms, the digest for hashed ones).
    fn verify(self, key: &RsaKey, msg: &[u8], sig: &[u8]) -> Result<()> {
        if sig.len() != key.size {
            return Err(err(
                CKR_SIGNATURE_LEN_RANGE,
                "an RSA signature is as long as the modulus",
            ));
        }
        let ok = match self {
            SigScheme::Pkcs1Raw => {
                if msg.len() > key.size - PKCS1_OVERHEAD {
                    return Err(data_len("CKM_RSA_PKCS signs at most k - 11 bytes"));
                }
                let mut out = vec![0u8; key.size];
                key.handle
                    .verify_raw(Padding::Pkcs1, sig, &mut out)
                    .is_some_and(|len| out[..len] == *msg)
            }
            SigScheme::X509 => {
                if msg.len() > key.size {
                    return Err(data_len("raw RSA input is at most k bytes"));
                }
                let mut out = vec![0u8; key.size];
                key.handle
                    .verify_raw(Padding::None, sig, &mut out)
                    .is_some_and(|len| {
                        len == key.size
                            && out[..len - msg.len()].iter().all(|b| *b == 0)
                            && out[len - msg.len()..] == *msg
                    })
            }
            SigScheme::PssRaw(p) => {
                if msg.len() != p.hash.len() {
                    return Err(data_len(
                        "CKM_RSA_PKCS_PSS verifies a hash of the parameters' length",
                    ));
                }
                key.handle.verify_pss(p.hash, p.mgf, p.salt_len, msg, sig)
            }
            SigScheme::Pkcs1(h) => key.handle.verify_digest_pkcs1(h, msg, sig),
            SigScheme::PssHashed(p) => key.handle.verify_pss(p.hash, p.mgf, p.salt_len, msg, sig),
        };
        if ok {
            Ok(())
        } else {
            Err(err(
                CKR_SIGNATURE_INVALID,
                "the RSA signature does not verify",
            ))
        }
    }
}

fn data_len(why: &'static str) -> crate::base::error::Error {
    err(CKR_DATA_LEN_RANGE, why)
}

/// The input of a signature or verification in progress.
enum Input {
    /// Raw mechanisms: the data so far.
    Buffer(Vec<u8>),
    /// Hashed mechanisms: the running hash (taken by `finish`).
    Hashing(Option<digest::Context>),
}

/// The state shared by signatures and verifications.
struct SigState {
    key: Arc<KeyMaterial>,
    private: bool,
    scheme: SigScheme,
    input: Input,
}

impl SigState {
    fn new(mech: &Mechanism, key: &Arc<KeyMaterial>, private: bool) -> Result<Self> {
        let k = rsa_key(key, private)?;
        let scheme = sig_scheme(mech, k)?;
        let input = match scheme.digest() {
            Some(h) => Input::Hashing(Some(digest::Context::new(h.algorithm()))),
            None => Input::Buffer(Vec::new()),
        };
        Ok(SigState {
            key: Arc::clone(key),
            private,
            scheme,
            input,
        })
    }

    fn key(&self) -> Result<&RsaKey> {
        rsa_key(&self.key, self.private)
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        match &mut self.input {
            Input::Hashing(Some(ctx)) => ctx.update(data),
            Input::Hashing(None) => return Err(finished()),
            Input::Buffer(buf) => {
                let max = self.scheme.max_buffer(rsa_key(&self.key, self.private)?);
                if buf.len().saturating_add(data.len()) > max {
                    return Err(data_len("too much data for a single-block RSA mechanism"));
                }
                buf.extend_from_slice(data);
            }
        }
        Ok(())
    }

    /// The message to sign or verify: the digest, or the buffered data.
    fn message(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        match &mut self.input {
            Input::Hashing(ctx) => {
                let ctx = ctx.take().ok_or_else(finished)?;
                Ok(Zeroizing::new(ctx.finish().as_ref().to_vec()))
            }
            Input::Buffer(buf) => Ok(Zeroizing::new(std::mem::take(buf))),
        }
    }
}

fn finished() -> crate::base::error::Error {
    err(CKR_OPERATION_NOT_INITIALIZED, "the operation has finished")
}

struct RsaSigner(SigState);

impl SignOperation for RsaSigner {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.0.update(data)
    }
    fn finish(&mut self) -> Result<Vec<u8>> {
        let msg = self.0.message()?;
        self.0.scheme.sign(self.0.key()?, &msg)
    }
}

struct RsaVerifier(SigState);

impl VerifyOperation for RsaVerifier {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.0.update(data)
    }
    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let msg = self.0.message()?;
        self.0.scheme.verify(self.0.key()?, &msg, signature)
    }
}

/// Starts a signature with a private key.
pub fn signer(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn SignOperation>> {
    Ok(Box::new(RsaSigner(SigState::new(mech, key, true)?)))
}

/// Starts a verification with a public key.
pub fn verifier(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn VerifyOperation>> {
    Ok(Box::new(RsaVerifier(SigState::new(mech, key, false)?)))
}

/// The padding of a recoverable-signature mechanism (`CKM_RSA_PKCS`, `CKM_RSA_X_509`).
fn recover_scheme(mech: &Mechanism) -> Result<SigScheme> {
    let scheme = match mech.mechanism_type {
        CKM_RSA_PKCS => SigScheme::Pkcs1Raw,
        CKM_RSA_X_509 => SigScheme::X509,
        _ => {
            return Err(err(
                CKR_MECHANISM_INVALID,
                "only CKM_RSA_PKCS and CKM_RSA_X_509 recover",
            ));
        }
    };
    mech.expect_no_params()?;
    Ok(scheme)
}

/// Signs with message recovery: the same signature as `C_Sign` with the mechanism.
pub fn sign_recover(mech: &Mechanism, key: &Arc<KeyMaterial>, data: &[u8]) -> Result<Vec<u8>> {
    let k = rsa_key(key, true)?;
    recover_scheme(mech)?.sign(k, data)
}

/// Recovers the data of a signature: the type 1 payload for `CKM_RSA_PKCS`, the whole k-byte
/// block for `CKM_RSA_X_509`.
pub fn verify_recover(
    mech: &Mechanism,
    key: &Arc<KeyMaterial>,
    signature: &[u8],
) -> Result<Vec<u8>> {
    let k = rsa_key(key, false)?;
    let padding = match recover_scheme(mech)? {
        SigScheme::Pkcs1Raw => Padding::Pkcs1,
        _ => Padding::None,
    };
    if signature.len() != k.size {
        return Err(err(
            CKR_SIGNATURE_LEN_RANGE,
            "an RSA signature is as long as the modulus",
        ));
    }
    let mut out = vec![0u8; k.size];
    let len = k
        .handle
        .verify_raw(padding, signature, &mut out)
        .ok_or_else(|| err(CKR_SIGNATURE_INVALID, "the RSA signature does not verify"))?;
    out.truncate(len);
    Ok(out)
}

/// How an encryption mechanism pads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CipherScheme {
    Pkcs1,
    X509,
    Oaep(Oaep),
}

fn cipher_scheme(mech: &Mechanism, key: &RsaKey) -> Result<CipherScheme> {
    match mech.mechanism_type {
        CKM_RSA_PKCS => mech.expect_no_params().map(|_| CipherScheme::Pkcs1),
        CKM_RSA_X_509 => mech.expect_no_params().map(|_| CipherScheme::X509),
        CKM_RSA_PKCS_OAEP => {
            let MechParams::Oaep {
                hash,
                mgf,
                source_data,
            } = &mech.params
            else {
                return Err(err(
                    CKR_MECHANISM_PARAM_INVALID,
                    "OAEP needs CK_RSA_PKCS_OAEP_PARAMS",
                ));
            };
            let oaep = oaep_from(*hash, *mgf, source_data)?;
            oaep.max_message(key)?;
            Ok(CipherScheme::Oaep(oaep))
        }
        _ => Err(err(
            CKR_MECHANISM_INVALID,
            "not an RSA encryption mechanism",
        )),
    }
}

/// An RSA encryption or decryption: input buffered, all output from `finish`.
struct RsaCipher {
    key: Arc<KeyMaterial>,
    encrypt: bool,
    scheme: CipherScheme,
    buf: Zeroizing<Vec<u8>>,
    done: bool,
}

impl RsaCipher {
    fn new(mech: &Mechanism, key: &Arc<KeyMaterial>, encrypt: bool) -> Result<Self> {
        let k = rsa_key(key, !encrypt)?;
        let scheme = cipher_scheme(mech, k)?;
        Ok(RsaCipher {
            key: Arc::clone(key),
            encrypt,
            scheme,
            buf: Zeroizing::default(),
            done: false,
        })
    }

    fn len_error(&self, why: &'static str) -> crate::base::error::Error {
        err(
            if self.encrypt {
                CKR_DATA_LEN_RANGE
            } else {
                CKR_ENCRYPTED_DATA_LEN_RANGE
            },
            why,
        )
    }

    fn encrypt(&self, k: &RsaKey) -> Result<Vec<u8>> {
        let input = self.buf.as_slice();
        let failed = || err(CKR_FUNCTION_FAILED, "the RSA encryption failed");
        match &self.scheme {
            CipherScheme::Pkcs1 => {
                if input.len() > k.size - PKCS1_OVERHEAD {
                    return Err(data_len("CKM_RSA_PKCS encrypts at most k - 11 bytes"));
                }
                let mut out = vec![0u8; k.size];
                let len = k
                    .handle
                    .encrypt(Padding::Pkcs1, input, &mut out)
                    .ok_or_else(failed)?;
                out.truncate(len);
                Ok(out)
            }
            CipherScheme::X509 => {
                let block = k
                    .raw_block(input)
                    .ok_or_else(|| data_len("raw RSA input must be below the modulus"))?;
                let mut out = vec![0u8; k.size];
                let len = k
                    .handle
                    .encrypt(Padding::None, &block, &mut out)
                    .ok_or_else(failed)?;
                out.truncate(len);
                Ok(out)
            }
            CipherScheme::Oaep(o) => {
                if input.len() > o.max_message(k)? {
                    return Err(data_len(
                        "the message is too long for OAEP with this key and hash",
                    ));
                }
                k.handle
                    .oaep_encrypt(o.hash, o.mgf, &o.label, input)
                    .ok_or_else(failed)
            }
        }
    }

    fn decrypt(&self, k: &RsaKey) -> Result<Vec<u8>> {
        let input = self.buf.as_slice();
        if input.len() != k.size {
            return Err(err(
                CKR_ENCRYPTED_DATA_LEN_RANGE,
                "an RSA ciphertext is as long as the modulus",
            ));
        }
        let invalid = || {
            err(
                CKR_ENCRYPTED_DATA_INVALID,
                "the RSA ciphertext does not decrypt",
            )
        };
        let mut out = Zeroizing::new(vec![0u8; k.size]);
        let len = match &self.scheme {
            CipherScheme::Pkcs1 => k.handle.decrypt(Padding::Pkcs1, input, &mut out),
            CipherScheme::X509 => k.handle.decrypt(Padding::None, input, &mut out),
            CipherScheme::Oaep(o) => {
                let plain = k
                    .handle
                    .oaep_decrypt(o.hash, o.mgf, &o.label, input)
                    .ok_or_else(invalid)?;
                return Ok(plain.to_vec());
            }
        }
        .ok_or_else(invalid)?;
        out.truncate(len);
        Ok(std::mem::take(&mut *out))
    }
}

impl CipherOperation for RsaCipher {
    fn update(&mut self, input: &[u8]) -> Result<Vec<u8>> {
        if self.done {
            return Err(finished());
        }
        let k = rsa_key(&self.key, !self.encrypt)?;
        if self.buf.len().saturating_add(input.len()) > k.size {
            return Err(self.len_error("too much input for a single RSA block"));
        }
        self.buf.extend_from_slice(input);
        Ok(Vec::new())
    }

    fn finish(&mut self) -> Result<Vec<u8>> {
        if self.done {
            return Err(finished());
        }
        self.done = true;
        let k = rsa_key(&self.key, !self.encrypt)?;
        let out = if self.encrypt {
            self.encrypt(k)
        } else {
            self.decrypt(k)
        };
        self.buf.clear();
        out
    }

    fn update_len(&self, _input_len: usize) -> usize {
        0
    }
}

/// Starts an encryption with a public key.
pub fn encryptor(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn CipherOperation>> {
    Ok(Box::new(RsaCipher::new(mech, key, true)?))
}

/// Starts a decryption with a private key.
pub fn decryptor(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn CipherOperation>> {
    Ok(Box::new(RsaCipher::new(mech, key, false)?))
}

/// `CK_RSA_AES_KEY_WRAP_PARAMS`: the temporary AES key length in bytes and the OAEP parameters.
fn rsa_aes_params(mech: &Mechanism, key: &RsaKey) -> Result<(usize, Oaep)> {
    let MechParams::RsaAesKeyWrap {
        aes_key_bits,
        hash,
        mgf,
        source_data,
    } = &mech.params
    else {
        return Err(err(
            CKR_MECHANISM_PARAM_INVALID,
            "CKM_RSA_AES_KEY_WRAP needs CK_RSA_AES_KEY_WRAP_PARAMS",
        ));
    };
    let aes_len = match aes_key_bits {
        128 => 16,
        192 => 24,
        256 => 32,
        _ => {
            return Err(err(
                CKR_MECHANISM_PARAM_INVALID,
                "the AES key must be 128, 192 or 256 bits",
            ));
        }
    };
    let oaep = oaep_from(*hash, *mgf, source_data)?;
    if oaep.max_message(key)? < aes_len {
        return Err(err(
            CKR_KEY_SIZE_RANGE,
            "the RSA key is too small for this OAEP hash",
        ));
    }
    Ok((aes_len, oaep))
}

/// `CKM_RSA_AES_KEY_WRAP` (PKCS#11 3.0 §2.1.21): a fresh AES key, OAEP-encrypted under the RSA
/// public key, followed by `key_bytes` wrapped with AES key wrap with padding (RFC 5649) under
/// that AES key.
pub fn rsa_aes_wrap(mech: &Mechanism, key: &Arc<KeyMaterial>, key_bytes: &[u8]) -> Result<Vec<u8>> {
    let k = rsa_key(key, false)?;
    let (aes_len, oaep) = rsa_aes_params(mech, k)?;
    if key_bytes.is_empty() {
        return Err(err(CKR_KEY_SIZE_RANGE, "there is no key value to wrap"));
    }
    let mut aes_key = Zeroizing::new(vec![0u8; aes_len]);
    random_fill(&mut aes_key)?;
    let failed = || err(CKR_FUNCTION_FAILED, "CKM_RSA_AES_KEY_WRAP failed");
    let mut out = k
        .handle
        .oaep_encrypt(oaep.hash, oaep.mgf, &oaep.label, &aes_key)
        .ok_or_else(failed)?;
    out.extend(aes_kwp(&aes_key, key_bytes, true).map_err(|_| failed())?);
    Ok(out)
}

/// Reverses [`rsa_aes_wrap`] with the RSA private key; any failure is `CKR_WRAPPED_KEY_INVALID`.
pub fn rsa_aes_unwrap(mech: &Mechanism, key: &Arc<KeyMaterial>, wrapped: &[u8]) -> Result<Vec<u8>> {
    let k = rsa_key(key, true)?;
    let (aes_len, oaep) = rsa_aes_params(mech, k)?;
    let invalid = || {
        err(
            CKR_WRAPPED_KEY_INVALID,
            "the RSA-AES wrapped key does not unwrap",
        )
    };
    if wrapped.len() < k.size + 16 {
        return Err(invalid());
    }
    let (rsa_part, aes_part) = wrapped.split_at(k.size);
    let aes_key = k
        .handle
        .oaep_decrypt(oaep.hash, oaep.mgf, &oaep.label, rsa_part)
        .filter(|key| key.len() == aes_len)
        .ok_or_else(invalid)?;
    aes_kwp(&aes_key, aes_part, false).map_err(|_| invalid())
}

/// AES key wrap with padding (RFC 5649) under a temporary key, through the AES family.
fn aes_kwp(aes_key: &[u8], input: &[u8], wrap: bool) -> Result<Vec<u8>> {
    let kek = Arc::new(KeyMaterial::Secret(SecretKey {
        key_type: CKK_AES,
        value: Zeroizing::new(aes_key.to_vec()),
    }));
    let m = Mechanism::new(CKM_AES_KEY_WRAP_KWP);
    let mut op = if wrap {
        super::aes::encryptor(&m, &kek)?
    } else {
        super::aes::decryptor(&m, &kek)?
    };
    op.one_shot(input)
}

/// The public exponent of a generation template (65537 by default): odd, 3 ..= 2^32 - 1 (aws-lc's
/// generation limit; simulator-defined), else `CKR_ATTRIBUTE_VALUE_INVALID`.
fn template_exponent(template: &Attributes) -> Result<u64> {
    let Some(bytes) = template.bytes(CKA_PUBLIC_EXPONENT) else {
        return Ok(DEFAULT_EXPONENT);
    };
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let bytes = &bytes[start..];
    let invalid = || {
        err(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "the public exponent must be odd, 3 to 2^32-1",
        )
    };
    if bytes.len() > 4 {
        return Err(invalid());
    }
    let e = bytes.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
    if e < 3 || e & 1 == 0 {
        return Err(invalid());
    }
    Ok(e)
}

/// The private-key attributes of a key (key type and every component).
fn private_attributes(handle: &RsaHandle) -> Result<Attributes> {
    let c = handle
        .components()
        .ok_or_else(|| err(CKR_FUNCTION_FAILED, "the RSA key has no public values"))?;
    let (Some(d), Some([p, q, dp, dq, qinv])) = (c.d, c.crt) else {
        return Err(err(CKR_FUNCTION_FAILED, "the RSA key lacks private values"));
    };
    let mut a = Attributes::new();
    a.set_ulong(CKA_KEY_TYPE, CKK_RSA);
    a.set_bytes(CKA_MODULUS, c.n);
    a.set_bytes(CKA_PUBLIC_EXPONENT, c.e);
    a.set_bytes(CKA_PRIVATE_EXPONENT, d.to_vec());
    a.set_bytes(CKA_PRIME_1, p.to_vec());
    a.set_bytes(CKA_PRIME_2, q.to_vec());
    a.set_bytes(CKA_EXPONENT_1, dp.to_vec());
    a.set_bytes(CKA_EXPONENT_2, dq.to_vec());
    a.set_bytes(CKA_COEFFICIENT, qinv.to_vec());
    Ok(a)
}

/// `CKM_RSA_PKCS_KEY_PAIR_GEN`: `CKA_MODULUS_BITS` (1024 to 4096, any value) from the public
/// template, `CKA_PUBLIC_EXPONENT` optional. Returns (public, private) attributes.
pub fn generate_key_pair(
    public_template: &Attributes,
    _private_template: &Attributes,
) -> Result<(Attributes, Attributes)> {
    let bits = public_template.require_ulong(CKA_MODULUS_BITS)?;
    let bits = usize::try_from(bits)
        .ok()
        .filter(|b| (GEN_MIN_BITS..=MAX_BITS).contains(b))
        .ok_or_else(|| {
            err(
                CKR_KEY_SIZE_RANGE,
                "RSA keys are generated at 1024 to 4096 bits",
            )
        })?;
    let e = template_exponent(public_template)?;
    let handle = RsaHandle::generate(bits, e)
        .ok_or_else(|| err(CKR_FUNCTION_FAILED, "RSA key generation failed"))?;
    let private = private_attributes(&handle)?;
    let mut public = Attributes::new();
    public.set_ulong(CKA_KEY_TYPE, CKK_RSA);
    for t in [CKA_MODULUS, CKA_PUBLIC_EXPONENT] {
        public.set_bytes(t, private.bytes(t).unwrap_or_default().to_vec());
    }
    public.set_ulong(CKA_MODULUS_BITS, handle.bits() as CK_ULONG);
    Ok((public, private))
}

/// The private-key attributes of a PKCS#8 `PrivateKeyInfo` holding an RSA key.
pub fn attributes_from_pkcs8(der: &[u8]) -> Result<Attributes> {
    let handle = RsaHandle::from_pkcs8(der)
        .ok_or_else(|| err(CKR_WRAPPED_KEY_INVALID, "not a PKCS#8 RSA private key"))?;
    private_attributes(&handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents};
    use std::sync::OnceLock;

    /// A generated key pair: (public, private) key material and attributes.
    struct Pair {
        public: Arc<KeyMaterial>,
        private: Arc<KeyMaterial>,
        pub_attrs: Attributes,
        priv_attrs: Attributes,
    }

    fn gen_pair(bits: usize, e: Option<&[u8]>) -> Pair {
        let mut t = Attributes::new();
        t.set_ulong(CKA_MODULUS_BITS, bits as CK_ULONG);
        if let Some(e) = e {
            t.set_bytes(CKA_PUBLIC_EXPONENT, e.to_vec());
        }
        let (pub_attrs, priv_attrs) = generate_key_pair(&t, &Attributes::new()).unwrap();
        let public = Arc::new(KeyMaterial::Rsa(
            RsaKey::from_attributes(CKO_PUBLIC_KEY, &pub_attrs).unwrap(),
        ));
        let private = Arc::new(KeyMaterial::Rsa(
            RsaKey::from_attributes(CKO_PRIVATE_KEY, &priv_attrs).unwrap(),
        ));
        Pair {
            public,
            private,
            pub_attrs,
            priv_attrs,
        }
    }

    fn pair(bits: usize) -> &'static Pair {
        static P1024: OnceLock<Pair> = OnceLock::new();
        static P2048: OnceLock<Pair> = OnceLock::new();
        match bits {
            1024 => P1024.get_or_init(|| gen_pair(1024, None)),
            2048 => P2048.get_or_init(|| gen_pair(2048, None)),
            _ => unreachable!(),
        }
    }

    fn rsa(k: &KeyMaterial) -> &RsaKey {
        match k {
            KeyMaterial::Rsa(k) => k,
            _ => unreachable!(),
        }
    }

    fn pss(hash: CK_MECHANISM_TYPE, mgf: CK_RSA_PKCS_MGF_TYPE, salt: CK_ULONG) -> MechParams {
        MechParams::Pss {
            hash,
            mgf,
            salt_len: salt,
        }
    }

    fn oaep(hash: CK_MECHANISM_TYPE, mgf: CK_RSA_PKCS_MGF_TYPE, label: &[u8]) -> MechParams {
        MechParams::Oaep {
            hash,
            mgf,
            source_data: label.to_vec(),
        }
    }

    fn sign(m: &Mechanism, k: &Arc<KeyMaterial>, data: &[u8]) -> Result<Vec<u8>> {
        signer(m, k)?.one_shot(data)
    }

    fn verify(m: &Mechanism, k: &Arc<KeyMaterial>, data: &[u8], sig: &[u8]) -> Result<()> {
        verifier(m, k)?.one_shot(data, sig)
    }

    fn encrypt(m: &Mechanism, k: &Arc<KeyMaterial>, data: &[u8]) -> Result<Vec<u8>> {
        encryptor(m, k)?.one_shot(data)
    }

    fn decrypt(m: &Mechanism, k: &Arc<KeyMaterial>, data: &[u8]) -> Result<Vec<u8>> {
        decryptor(m, k)?.one_shot(data)
    }

    fn rv<T>(r: Result<T>) -> CK_RV {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.rv,
        }
    }

    const HASHES: [(
        CK_MECHANISM_TYPE,
        CK_MECHANISM_TYPE,
        CK_MECHANISM_TYPE,
        CK_RSA_PKCS_MGF_TYPE,
        usize,
    ); 5] = [
        (
            CKM_SHA1_RSA_PKCS,
            CKM_SHA1_RSA_PKCS_PSS,
            CKM_SHA_1,
            CKG_MGF1_SHA1,
            20,
        ),
        (
            CKM_SHA224_RSA_PKCS,
            CKM_SHA224_RSA_PKCS_PSS,
            CKM_SHA224,
            CKG_MGF1_SHA224,
            28,
        ),
        (
            CKM_SHA256_RSA_PKCS,
            CKM_SHA256_RSA_PKCS_PSS,
            CKM_SHA256,
            CKG_MGF1_SHA256,
            32,
        ),
        (
            CKM_SHA384_RSA_PKCS,
            CKM_SHA384_RSA_PKCS_PSS,
            CKM_SHA384,
            CKG_MGF1_SHA384,
            48,
        ),
        (
            CKM_SHA512_RSA_PKCS,
            CKM_SHA512_RSA_PKCS_PSS,
            CKM_SHA512,
            CKG_MGF1_SHA512,
            64,
        ),
    ];

    /// Signs, verifies, and checks a tampered signature, other data and a short signature fail.
    fn sign_verify_checks(m: &Mechanism, p: &Pair, data: &[u8]) {
        let k = rsa(&p.private).modulus_len();
        let sig = sign(m, &p.private, data).unwrap();
        assert_eq!(sig.len(), k, "{m:?}");
        verify(m, &p.public, data, &sig).unwrap();
        let mut bad = sig.clone();
        bad[k / 2] ^= 1;
        assert_eq!(
            rv(verify(m, &p.public, data, &bad)),
            CKR_SIGNATURE_INVALID,
            "{m:?}"
        );
        let mut other = data.to_vec();
        other[0] ^= 0x80;
        assert_eq!(
            rv(verify(m, &p.public, &other, &sig)),
            CKR_SIGNATURE_INVALID,
            "{m:?}"
        );
        assert_eq!(
            rv(verify(m, &p.public, data, &sig[1..])),
            CKR_SIGNATURE_LEN_RANGE
        );
        let mut long = sig.clone();
        long.push(0);
        assert_eq!(
            rv(verify(m, &p.public, data, &long)),
            CKR_SIGNATURE_LEN_RANGE
        );
    }

    #[test]
    fn sign_verify_round_trips_every_mechanism() {
        for bits in [1024, 2048] {
            let p = pair(bits);
            sign_verify_checks(&Mechanism::new(CKM_RSA_PKCS), p, b"raw pkcs#1 data");
            sign_verify_checks(&Mechanism::new(CKM_RSA_X_509), p, b"\x01raw rsa data");
            for (pkcs, pss_mech, hash, mgf, hlen) in HASHES {
                // multi-part hashing gives the same signature as one-shot (PKCS#1 is deterministic)
                let m = Mechanism::new(pkcs);
                sign_verify_checks(&m, p, b"message to be hashed");
                let mut s = signer(&m, &p.private).unwrap();
                s.update(b"message ").unwrap();
                s.update(b"to be ").unwrap();
                s.update(b"hashed").unwrap();
                assert_eq!(
                    s.finish().unwrap(),
                    sign(&m, &p.private, b"message to be hashed").unwrap()
                );
                let sig = sign(&m, &p.private, b"message to be hashed").unwrap();
                let mut v = verifier(&m, &p.public).unwrap();
                v.update(b"message to be").unwrap();
                v.update(b" hashed").unwrap();
                v.finish(&sig).unwrap();

                let salt = 20;
                let m = Mechanism::with(pss_mech, pss(hash, mgf, salt));
                sign_verify_checks(&m, p, b"message to be hashed");
                // a different MGF hash works too
                let m2 = Mechanism::with(pss_mech, pss(hash, CKG_MGF1_SHA1, 0));
                sign_verify_checks(&m2, p, b"message to be hashed");
                // verifying with another salt length fails
                let sig = sign(&m, &p.private, b"abc").unwrap();
                let m3 = Mechanism::with(pss_mech, pss(hash, mgf, salt + 1));
                assert_eq!(
                    rv(verify(&m3, &p.public, b"abc", &sig)),
                    CKR_SIGNATURE_INVALID
                );

                let raw = Mechanism::with(CKM_RSA_PKCS_PSS, pss(hash, mgf, salt));
                let digest = vec![0x5a; hlen];
                sign_verify_checks(&raw, p, &digest);
                assert_eq!(rv(sign(&raw, &p.private, &digest[1..])), CKR_DATA_LEN_RANGE);
                let mut long = digest.clone();
                long.push(1);
                assert_eq!(rv(sign(&raw, &p.private, &long)), CKR_DATA_LEN_RANGE);
                let sig = sign(&raw, &p.private, &digest).unwrap();
                assert_eq!(
                    rv(verify(&raw, &p.public, &digest[1..], &sig)),
                    CKR_DATA_LEN_RANGE
                );
            }
        }
    }

    #[test]
    fn pkcs1_raw_limits_and_padding() {
        let p = pair(1024);
        let k = 128;
        let m = Mechanism::new(CKM_RSA_PKCS);
        let ok = vec![7u8; k - 11];
        sign_verify_checks(&m, p, &ok);
        assert_eq!(
            rv(sign(&m, &p.private, &vec![7u8; k - 10])),
            CKR_DATA_LEN_RANGE
        );
        // update beyond k bytes fails at once
        let mut s = signer(&m, &p.private).unwrap();
        assert_eq!(
            s.update(&vec![0u8; k + 1]).unwrap_err().rv,
            CKR_DATA_LEN_RANGE
        );
        // the signature is the type 1 block: the public operation (X.509 verify-recover) shows it
        let sig = sign(&m, &p.private, b"hello").unwrap();
        let block = verify_recover(&Mechanism::new(CKM_RSA_X_509), &p.public, &sig).unwrap();
        assert_eq!(block.len(), k);
        assert_eq!(&block[..2], &[0, 1]);
        assert!(block[2..k - 6].iter().all(|b| *b == 0xff));
        assert_eq!(&block[k - 6..], b"\0hello");
        // empty data signs too
        let sig = sign(&m, &p.private, &[]).unwrap();
        verify(&m, &p.public, &[], &sig).unwrap();
        assert_eq!(rv(verify(&m, &p.public, b"x", &sig)), CKR_SIGNATURE_INVALID);
    }

    #[test]
    fn sha256_rsa_pkcs_known_answer_against_aws_lc_rs() {
        let p = pair(2048);
        let key = rsa(&p.private);
        let msg = b"known answer for CKM_SHA256_RSA_PKCS";
        let sig = sign(&Mechanism::new(CKM_SHA256_RSA_PKCS), &p.private, msg).unwrap();
        // aws-lc-rs verifies it with the public key...
        let n = p.pub_attrs.bytes(CKA_MODULUS).unwrap();
        let e = p.pub_attrs.bytes(CKA_PUBLIC_EXPONENT).unwrap();
        RsaPublicKeyComponents { n, e }
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg, &sig)
            .unwrap();
        // ...including through UnparsedPublicKey with the key's DER form
        let kp = RsaKeyPair::from_pkcs8(&key.to_pkcs8().unwrap()).unwrap();
        signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            kp.public_key().as_ref(),
        )
        .verify(msg, &sig)
        .unwrap();
        // and PKCS#1 v1.5 is deterministic: aws-lc-rs's own signature is byte-identical
        let mut theirs = vec![0u8; kp.public_modulus_len()];
        kp.sign(
            &signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            msg,
            &mut theirs,
        )
        .unwrap();
        assert_eq!(theirs, sig);
        verify(
            &Mechanism::new(CKM_SHA256_RSA_PKCS),
            &p.public,
            msg,
            &theirs,
        )
        .unwrap();
    }

    #[test]
    fn pss_cross_checked_with_aws_lc_rs() {
        let p = pair(2048);
        let key = rsa(&p.private);
        let n = p.pub_attrs.bytes(CKA_MODULUS).unwrap();
        let e = p.pub_attrs.bytes(CKA_PUBLIC_EXPONENT).unwrap();
        let kp = RsaKeyPair::from_pkcs8(&key.to_pkcs8().unwrap()).unwrap();
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let msg = b"pss cross-check";
        // aws-lc-rs PSS uses MGF1 with the same hash and a salt as long as the hash
        let cases: [(
            CK_MECHANISM_TYPE,
            CK_MECHANISM_TYPE,
            CK_RSA_PKCS_MGF_TYPE,
            usize,
            _,
            _,
        ); 3] = [
            (
                CKM_SHA256_RSA_PKCS_PSS,
                CKM_SHA256,
                CKG_MGF1_SHA256,
                32,
                &signature::RSA_PSS_2048_8192_SHA256,
                &signature::RSA_PSS_SHA256,
            ),
            (
                CKM_SHA384_RSA_PKCS_PSS,
                CKM_SHA384,
                CKG_MGF1_SHA384,
                48,
                &signature::RSA_PSS_2048_8192_SHA384,
                &signature::RSA_PSS_SHA384,
            ),
            (
                CKM_SHA512_RSA_PKCS_PSS,
                CKM_SHA512,
                CKG_MGF1_SHA512,
                64,
                &signature::RSA_PSS_2048_8192_SHA512,
                &signature::RSA_PSS_SHA512,
            ),
        ];
        for (mech, hash, mgf, hlen, verify_alg, sign_alg) in cases {
            let m = Mechanism::with(mech, pss(hash, mgf, hlen as CK_ULONG));
            let ours = sign(&m, &p.private, msg).unwrap();
            RsaPublicKeyComponents { n, e }
                .verify(verify_alg, msg, &ours)
                .unwrap();
            let mut theirs = vec![0u8; kp.public_modulus_len()];
            kp.sign(sign_alg, &rng, msg, &mut theirs).unwrap();
            verify(&m, &p.public, msg, &theirs).unwrap();
            // raw CKM_RSA_PKCS_PSS over the digest is the same scheme
            let h = Hash::from_mechanism(hash).unwrap();
            let digest = digest::digest(h.algorithm(), msg);
            let raw = Mechanism::with(CKM_RSA_PKCS_PSS, pss(hash, mgf, hlen as CK_ULONG));
            verify(&raw, &p.public, digest.as_ref(), &theirs).unwrap();
            let ours_raw = sign(&raw, &p.private, digest.as_ref()).unwrap();
            RsaPublicKeyComponents { n, e }
                .verify(verify_alg, msg, &ours_raw)
                .unwrap();
        }
    }

    #[test]
    fn pss_parameter_errors() {
        let p = pair(1024);
        let sha256_pss = |params| Mechanism::with(CKM_SHA256_RSA_PKCS_PSS, params);
        // params are required
        assert_eq!(
            rv(signer(&Mechanism::new(CKM_SHA256_RSA_PKCS_PSS), &p.private)),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            rv(signer(&Mechanism::new(CKM_RSA_PKCS_PSS), &p.private)),
            CKR_MECHANISM_PARAM_INVALID
        );
        // the hash must match the mechanism's
        assert_eq!(
            rv(signer(
                &sha256_pss(pss(CKM_SHA384, CKG_MGF1_SHA256, 32)),
                &p.private
            )),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            rv(verifier(
                &sha256_pss(pss(CKM_SHA_1, CKG_MGF1_SHA256, 32)),
                &p.public
            )),
            CKR_MECHANISM_PARAM_INVALID
        );
        // unknown hash / mgf
        assert_eq!(
            rv(signer(
                &Mechanism::with(CKM_RSA_PKCS_PSS, pss(CKM_MD5, CKG_MGF1_SHA1, 0)),
                &p.private
            )),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            rv(signer(&sha256_pss(pss(CKM_SHA256, 0x99, 32)), &p.private)),
            CKR_MECHANISM_PARAM_INVALID
        );
        // a salt too long for the key (emLen = 128: 32 + 94 + 2 = 128 fits, 95 does not)
        signer(
            &sha256_pss(pss(CKM_SHA256, CKG_MGF1_SHA256, 94)),
            &p.private,
        )
        .unwrap();
        sign_verify_checks(
            &sha256_pss(pss(CKM_SHA256, CKG_MGF1_SHA256, 94)),
            p,
            b"max salt",
        );
        assert_eq!(
            rv(signer(
                &sha256_pss(pss(CKM_SHA256, CKG_MGF1_SHA256, 95)),
                &p.private
            )),
            CKR_MECHANISM_PARAM_INVALID
        );
        // wrong parameter type
        assert_eq!(
            rv(signer(
                &sha256_pss(oaep(CKM_SHA256, CKG_MGF1_SHA256, b"")),
                &p.private
            )),
            CKR_MECHANISM_PARAM_INVALID
        );
    }

    #[test]
    fn no_param_mechanisms_reject_params() {
        let p = pair(1024);
        let bytes = MechParams::Bytes(vec![1]);
        for m in [
            CKM_RSA_PKCS,
            CKM_RSA_X_509,
            CKM_SHA1_RSA_PKCS,
            CKM_SHA256_RSA_PKCS,
            CKM_SHA512_RSA_PKCS,
        ] {
            let m = Mechanism::with(m, bytes.clone());
            assert_eq!(rv(signer(&m, &p.private)), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(rv(verifier(&m, &p.public)), CKR_MECHANISM_PARAM_INVALID);
        }
        for m in [CKM_RSA_PKCS, CKM_RSA_X_509] {
            let m = Mechanism::with(m, bytes.clone());
            assert_eq!(rv(encryptor(&m, &p.public)), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(rv(decryptor(&m, &p.private)), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(
                rv(sign_recover(&m, &p.private, b"x")),
                CKR_MECHANISM_PARAM_INVALID
            );
            assert_eq!(
                rv(verify_recover(&m, &p.public, &[0; 128])),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
    }

    #[test]
    fn key_class_must_suit_the_operation() {
        let p = pair(1024);
        let m = Mechanism::new(CKM_SHA256_RSA_PKCS);
        assert_eq!(rv(signer(&m, &p.public)), CKR_KEY_TYPE_INCONSISTENT);
        assert_eq!(rv(verifier(&m, &p.private)), CKR_KEY_TYPE_INCONSISTENT);
        let m = Mechanism::new(CKM_RSA_PKCS);
        assert_eq!(rv(encryptor(&m, &p.private)), CKR_KEY_TYPE_INCONSISTENT);
        assert_eq!(rv(decryptor(&m, &p.public)), CKR_KEY_TYPE_INCONSISTENT);
        assert_eq!(
            rv(sign_recover(&m, &p.public, b"x")),
            CKR_KEY_TYPE_INCONSISTENT
        );
        assert_eq!(
            rv(verify_recover(&m, &p.private, &[0; 128])),
            CKR_KEY_TYPE_INCONSISTENT
        );
        let secret = Arc::new(KeyMaterial::Secret(SecretKey {
            key_type: CKK_AES,
            value: Zeroizing::new(vec![0; 16]),
        }));
        assert_eq!(rv(signer(&m, &secret)), CKR_KEY_TYPE_INCONSISTENT);
        assert_eq!(rv(rsa(&p.public).to_pkcs8()), CKR_KEY_TYPE_INCONSISTENT);
        let wrap = Mechanism::with(
            CKM_RSA_AES_KEY_WRAP,
            MechParams::RsaAesKeyWrap {
                aes_key_bits: 256,
                hash: CKM_SHA256,
                mgf: CKG_MGF1_SHA256,
                source_data: vec![],
            },
        );
        assert_eq!(
            rv(rsa_aes_wrap(&wrap, &p.private, &[1; 16])),
            CKR_KEY_TYPE_INCONSISTENT
        );
        assert_eq!(
            rv(rsa_aes_unwrap(&wrap, &p.public, &[1; 200])),
            CKR_KEY_TYPE_INCONSISTENT
        );
    }

    #[test]
    fn encrypt_decrypt_round_trips() {
        for bits in [1024, 2048] {
            let p = pair(bits);
            let k = bits / 8;
            // PKCS#1 v1.5 (randomised): up to k - 11 bytes
            let m = Mechanism::new(CKM_RSA_PKCS);
            for len in [0, 1, 16, k - 11] {
                let msg = vec![0xa5u8; len];
                let ct = encrypt(&m, &p.public, &msg).unwrap();
                assert_eq!(ct.len(), k);
                assert_ne!(ct, encrypt(&m, &p.public, &msg).unwrap());
                assert_eq!(decrypt(&m, &p.private, &ct).unwrap(), msg);
            }
            assert_eq!(
                rv(encrypt(&m, &p.public, &vec![1u8; k - 10])),
                CKR_DATA_LEN_RANGE
            );
            // multi-part: updates give no output, finish gives everything
            let mut op = encryptor(&m, &p.public).unwrap();
            assert!(op.update(b"part one, ").unwrap().is_empty());
            assert!(op.update(b"part two").unwrap().is_empty());
            let ct = op.finish().unwrap();
            let mut op = decryptor(&m, &p.private).unwrap();
            assert!(op.update(&ct[..10]).unwrap().is_empty());
            assert!(op.update(&ct[10..]).unwrap().is_empty());
            assert_eq!(op.finish().unwrap(), b"part one, part two");
            // tampered or wrong-length ciphertext
            let mut bad = ct.clone();
            bad[5] ^= 0x40;
            assert_eq!(
                rv(decrypt(&m, &p.private, &bad)),
                CKR_ENCRYPTED_DATA_INVALID
            );
            assert_eq!(
                rv(decrypt(&m, &p.private, &ct[1..])),
                CKR_ENCRYPTED_DATA_LEN_RANGE
            );
            let mut long = ct.clone();
            long.push(0);
            assert_eq!(
                rv(decrypt(&m, &p.private, &long)),
                CKR_ENCRYPTED_DATA_LEN_RANGE
            );
            // a ciphertext not below the modulus
            assert_eq!(
                rv(decrypt(&m, &p.private, &vec![0xff; k])),
                CKR_ENCRYPTED_DATA_INVALID
            );

            // OAEP with every hash that fits, with and without a label, and a different MGF hash
            for (_, _, hash, mgf, hlen) in HASHES {
                if k < 2 * hlen + 2 {
                    let m = Mechanism::with(CKM_RSA_PKCS_OAEP, oaep(hash, mgf, b""));
                    assert_eq!(rv(encryptor(&m, &p.public)), CKR_KEY_SIZE_RANGE);
                    continue;
                }
                for (label, mgf) in [
                    (&b""[..], mgf),
                    (&b"a label"[..], mgf),
                    (&b"x"[..], CKG_MGF1_SHA1),
                ] {
                    let m = Mechanism::with(CKM_RSA_PKCS_OAEP, oaep(hash, mgf, label));
                    let max = k - 2 * hlen - 2;
                    for len in [0, 1, max] {
                        let msg = vec![0x3cu8; len];
                        let ct = encrypt(&m, &p.public, &msg).unwrap();
                        assert_eq!(ct.len(), k);
                        assert_eq!(decrypt(&m, &p.private, &ct).unwrap(), msg);
                    }
                    assert_eq!(
                        rv(encrypt(&m, &p.public, &vec![1u8; max + 1])),
                        CKR_DATA_LEN_RANGE
                    );
                    let ct = encrypt(&m, &p.public, b"secret").unwrap();
                    let mut bad = ct.clone();
                    bad[k - 1] ^= 1;
                    assert_eq!(
                        rv(decrypt(&m, &p.private, &bad)),
                        CKR_ENCRYPTED_DATA_INVALID
                    );
                    assert_eq!(
                        rv(decrypt(&m, &p.private, &ct[..k - 1])),
                        CKR_ENCRYPTED_DATA_LEN_RANGE
                    );
                    // another label does not decrypt
                    let other = Mechanism::with(CKM_RSA_PKCS_OAEP, oaep(hash, mgf, b"other label"));
                    assert_eq!(
                        rv(decrypt(&other, &p.private, &ct)),
                        CKR_ENCRYPTED_DATA_INVALID
                    );
                }
            }
        }
    }

    #[test]
    fn oaep_parameter_errors() {
        let p = pair(2048);
        let none = Mechanism::new(CKM_RSA_PKCS_OAEP);
        assert_eq!(rv(encryptor(&none, &p.public)), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(
            rv(decryptor(&none, &p.private)),
            CKR_MECHANISM_PARAM_INVALID
        );
        let bad_hash = Mechanism::with(CKM_RSA_PKCS_OAEP, oaep(CKM_MD5, CKG_MGF1_SHA1, b""));
        assert_eq!(
            rv(encryptor(&bad_hash, &p.public)),
            CKR_MECHANISM_PARAM_INVALID
        );
        let bad_mgf = Mechanism::with(CKM_RSA_PKCS_OAEP, oaep(CKM_SHA256, 0, b""));
        assert_eq!(
            rv(decryptor(&bad_mgf, &p.private)),
            CKR_MECHANISM_PARAM_INVALID
        );
        let wrong = Mechanism::with(CKM_RSA_PKCS_OAEP, pss(CKM_SHA256, CKG_MGF1_SHA256, 32));
        assert_eq!(
            rv(encryptor(&wrong, &p.public)),
            CKR_MECHANISM_PARAM_INVALID
        );
    }

    #[test]
    fn oaep_cross_checked_with_aws_lc_rs() {
        use aws_lc_rs::rsa::{
            OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384,
            OAEP_SHA512_MGF1SHA512, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
            PrivateDecryptingKey,
        };
        let p = pair(2048);
        let der = rsa(&p.private).to_pkcs8().unwrap();
        let private = PrivateDecryptingKey::from_pkcs8(&der).unwrap();
        let public = OaepPublicEncryptingKey::new(private.public_key()).unwrap();
        let private = OaepPrivateDecryptingKey::new(private).unwrap();
        let cases = [
            (&OAEP_SHA1_MGF1SHA1, CKM_SHA_1, CKG_MGF1_SHA1),
            (&OAEP_SHA256_MGF1SHA256, CKM_SHA256, CKG_MGF1_SHA256),
            (&OAEP_SHA384_MGF1SHA384, CKM_SHA384, CKG_MGF1_SHA384),
            (&OAEP_SHA512_MGF1SHA512, CKM_SHA512, CKG_MGF1_SHA512),
        ];
        for (alg, hash, mgf) in cases {
            for label in [&b""[..], &b"the label"[..]] {
                let m = Mechanism::with(CKM_RSA_PKCS_OAEP, oaep(hash, mgf, label));
                let lbl = (!label.is_empty()).then_some(label);
                // theirs -> ours
                let mut ct = vec![0u8; public.ciphertext_size()];
                let ct = public
                    .encrypt(alg, b"from aws-lc-rs", &mut ct, lbl)
                    .unwrap()
                    .to_vec();
                assert_eq!(decrypt(&m, &p.private, &ct).unwrap(), b"from aws-lc-rs");
                // ours -> theirs
                let ct = encrypt(&m, &p.public, b"from hsmsim").unwrap();
                let mut out = vec![0u8; private.min_output_size()];
                assert_eq!(
                    private.decrypt(alg, &ct, &mut out, lbl).unwrap(),
                    b"from hsmsim"
                );
            }
        }
    }

    #[test]
    fn x509_raw() {
        for bits in [1024, 2048] {
            let p = pair(bits);
            let key = rsa(&p.private);
            let k = key.modulus_len();
            let m = Mechanism::new(CKM_RSA_X_509);
            // encrypt/decrypt: deterministic, output k bytes, left-padded
            let ct = encrypt(&m, &p.public, b"short").unwrap();
            assert_eq!(ct.len(), k);
            assert_eq!(ct, encrypt(&m, &p.public, b"\0\0short").unwrap());
            let pt = decrypt(&m, &p.private, &ct).unwrap();
            assert_eq!(pt.len(), k);
            assert!(pt[..k - 5].iter().all(|b| *b == 0));
            assert_eq!(&pt[k - 5..], b"short");
            // the private operation is the inverse of the public one
            let sig = sign(&m, &p.private, b"short").unwrap();
            assert_eq!(encrypt(&m, &p.public, &sig).unwrap(), pt);
            assert_eq!(decrypt(&m, &p.private, &sig).unwrap().len(), k);
            // a full-length value below the modulus
            let mut below = key.modulus().to_vec();
            // The top byte of a full-length modulus is at least 0x80: one less keeps the value
            // full length and below the modulus (the last byte may be 1, so not there).
            below[0] -= 1;
            let ct = encrypt(&m, &p.public, &below).unwrap();
            assert_eq!(decrypt(&m, &p.private, &ct).unwrap(), below);
            sign_verify_checks(&m, p, &below);
            // the modulus itself, larger values and longer input are out of range
            assert_eq!(
                rv(encrypt(&m, &p.public, key.modulus())),
                CKR_DATA_LEN_RANGE
            );
            assert_eq!(
                rv(encrypt(&m, &p.public, &vec![0xff; k])),
                CKR_DATA_LEN_RANGE
            );
            assert_eq!(rv(sign(&m, &p.private, key.modulus())), CKR_DATA_LEN_RANGE);
            assert_eq!(
                rv(encrypt(&m, &p.public, &vec![0; k + 1])),
                CKR_DATA_LEN_RANGE
            );
            assert_eq!(
                rv(sign(&m, &p.private, &vec![0; k + 1])),
                CKR_DATA_LEN_RANGE
            );
            assert_eq!(
                rv(decrypt(&m, &p.private, &vec![0xff; k])),
                CKR_ENCRYPTED_DATA_INVALID
            );
            assert_eq!(
                rv(decrypt(&m, &p.private, &[1; 3])),
                CKR_ENCRYPTED_DATA_LEN_RANGE
            );
        }
    }

    #[test]
    fn sign_recover_and_verify_recover() {
        for bits in [1024, 2048] {
            let p = pair(bits);
            let k = bits / 8;
            let m = Mechanism::new(CKM_RSA_PKCS);
            let sig = sign_recover(&m, &p.private, b"recover me").unwrap();
            assert_eq!(sig, sign(&m, &p.private, b"recover me").unwrap());
            assert_eq!(verify_recover(&m, &p.public, &sig).unwrap(), b"recover me");
            let mut bad = sig.clone();
            bad[3] ^= 1;
            assert_eq!(
                rv(verify_recover(&m, &p.public, &bad)),
                CKR_SIGNATURE_INVALID
            );
            assert_eq!(
                rv(verify_recover(&m, &p.public, &sig[1..])),
                CKR_SIGNATURE_LEN_RANGE
            );
            assert_eq!(
                rv(sign_recover(&m, &p.private, &vec![0; k - 10])),
                CKR_DATA_LEN_RANGE
            );

            let m = Mechanism::new(CKM_RSA_X_509);
            let sig = sign_recover(&m, &p.private, b"raw").unwrap();
            let rec = verify_recover(&m, &p.public, &sig).unwrap();
            assert_eq!(rec.len(), k);
            assert!(rec[..k - 3].iter().all(|b| *b == 0));
            assert_eq!(&rec[k - 3..], b"raw");
            assert_eq!(
                rv(verify_recover(&m, &p.public, &vec![0xff; k])),
                CKR_SIGNATURE_INVALID
            );
            assert_eq!(
                rv(verify_recover(&m, &p.public, &[0; 5])),
                CKR_SIGNATURE_LEN_RANGE
            );

            let m = Mechanism::new(CKM_SHA256_RSA_PKCS);
            assert_eq!(
                rv(sign_recover(&m, &p.private, b"x")),
                CKR_MECHANISM_INVALID
            );
        }
    }

    #[test]
    fn pkcs8_round_trip() {
        for bits in [1024, 2048] {
            let p = pair(bits);
            let der = rsa(&p.private).to_pkcs8().unwrap();
            let attrs = attributes_from_pkcs8(&der).unwrap();
            assert_eq!(attrs, p.priv_attrs);
            assert_eq!(attrs.ulong(CKA_KEY_TYPE), Some(CKK_RSA));
            let again = RsaKey::from_attributes(CKO_PRIVATE_KEY, &attrs).unwrap();
            assert_eq!(*again.to_pkcs8().unwrap(), *der);
        }
        // aws-lc-rs reads it
        RsaKeyPair::from_pkcs8(&rsa(&pair(2048).private).to_pkcs8().unwrap()).unwrap();
        // aws-lc-rs's own PKCS#8 reads back
        let theirs = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der =
            aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&theirs).unwrap();
        let attrs = attributes_from_pkcs8(der.as_ref()).unwrap();
        assert_eq!(attrs.bytes(CKA_MODULUS).unwrap().len(), 256);
        let key = Arc::new(KeyMaterial::Rsa(
            RsaKey::from_attributes(CKO_PRIVATE_KEY, &attrs).unwrap(),
        ));
        let sig = sign(&Mechanism::new(CKM_SHA256_RSA_PKCS), &key, b"m").unwrap();
        signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            theirs.public_key().as_ref(),
        )
        .verify(b"m", &sig)
        .unwrap();
        // non-RSA and malformed input
        let ec = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .unwrap();
        assert!(attributes_from_pkcs8(ec.as_ref()).is_err());
        assert!(attributes_from_pkcs8(b"").is_err());
        assert!(attributes_from_pkcs8(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
        let good = rsa(&pair(1024).private).to_pkcs8().unwrap();
        let mut trailing = good.to_vec();
        trailing.push(0);
        assert!(attributes_from_pkcs8(&trailing).is_err());
        assert!(attributes_from_pkcs8(&good[..good.len() - 1]).is_err());
    }

    fn rsa_aes(bits: CK_ULONG, label: &[u8]) -> Mechanism {
        Mechanism::with(
            CKM_RSA_AES_KEY_WRAP,
            MechParams::RsaAesKeyWrap {
                aes_key_bits: bits,
                hash: CKM_SHA256,
                mgf: CKG_MGF1_SHA256,
                source_data: label.to_vec(),
            },
        )
    }

    #[test]
    fn rsa_aes_key_wrap_round_trip() {
        for bits in [1024, 2048] {
            let p = pair(bits);
            let k = bits / 8;
            let target = rsa(&pair(1024).private).to_pkcs8().unwrap();
            for aes_bits in [128, 192, 256] {
                for key_bytes in [&[0x11u8; 16][..], &[0x22; 21][..], &target[..]] {
                    let m = rsa_aes(aes_bits, b"lbl");
                    let wrapped = rsa_aes_wrap(&m, &p.public, key_bytes).unwrap();
                    assert_eq!(wrapped.len(), k + key_bytes.len().div_ceil(8) * 8 + 8);
                    assert_eq!(rsa_aes_unwrap(&m, &p.private, &wrapped).unwrap(), key_bytes);
                    // tampering anywhere, truncation, other params: CKR_WRAPPED_KEY_INVALID
                    for i in [0, k - 1, k, wrapped.len() - 1] {
                        let mut bad = wrapped.clone();
                        bad[i] ^= 1;
                        assert_eq!(
                            rv(rsa_aes_unwrap(&m, &p.private, &bad)),
                            CKR_WRAPPED_KEY_INVALID
                        );
                    }
                    let cut = &wrapped[..wrapped.len() - 8];
                    assert_eq!(
                        rv(rsa_aes_unwrap(&m, &p.private, cut)),
                        CKR_WRAPPED_KEY_INVALID
                    );
                    assert_eq!(
                        rv(rsa_aes_unwrap(&m, &p.private, &wrapped[..k])),
                        CKR_WRAPPED_KEY_INVALID
                    );
                    let other_label = rsa_aes(aes_bits, b"other");
                    assert_eq!(
                        rv(rsa_aes_unwrap(&other_label, &p.private, &wrapped)),
                        CKR_WRAPPED_KEY_INVALID
                    );
                    let other_size = rsa_aes(if aes_bits == 128 { 256 } else { 128 }, b"lbl");
                    assert_eq!(
                        rv(rsa_aes_unwrap(&other_size, &p.private, &wrapped)),
                        CKR_WRAPPED_KEY_INVALID
                    );
                }
            }
            for bad_bits in [0, 64, 129, 512] {
                assert_eq!(
                    rv(rsa_aes_wrap(&rsa_aes(bad_bits, b""), &p.public, &[1; 16])),
                    CKR_MECHANISM_PARAM_INVALID
                );
            }
            let no_params = Mechanism::new(CKM_RSA_AES_KEY_WRAP);
            assert_eq!(
                rv(rsa_aes_wrap(&no_params, &p.public, &[1; 16])),
                CKR_MECHANISM_PARAM_INVALID
            );
            assert_eq!(
                rv(rsa_aes_unwrap(&no_params, &p.private, &[1; 300])),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
    }

    #[test]
    fn key_pair_generation() {
        let mut t = Attributes::new();
        assert_eq!(
            rv(generate_key_pair(&t, &Attributes::new())),
            CKR_TEMPLATE_INCOMPLETE
        );
        for bits in [0, 512, 1023, 4097, 8192] {
            t.set_ulong(CKA_MODULUS_BITS, bits);
            assert_eq!(
                rv(generate_key_pair(&t, &Attributes::new())),
                CKR_KEY_SIZE_RANGE,
                "{bits}"
            );
        }
        t.set_ulong(CKA_MODULUS_BITS, 1024);
        for e in [
            &[][..],
            &[0][..],
            &[1][..],
            &[2][..],
            &[1, 0, 0][..],
            &[1, 0, 0, 0, 1][..],
        ] {
            t.set_bytes(CKA_PUBLIC_EXPONENT, e.to_vec());
            assert_eq!(
                rv(generate_key_pair(&t, &Attributes::new())),
                CKR_ATTRIBUTE_VALUE_INVALID,
                "{e:?}"
            );
        }
        // default exponent and attribute sets
        let p = pair(1024);
        assert_eq!(p.pub_attrs.bytes(CKA_PUBLIC_EXPONENT).unwrap(), &[1, 0, 1]);
        assert_eq!(p.pub_attrs.ulong(CKA_MODULUS_BITS), Some(1024));
        assert_eq!(p.pub_attrs.ulong(CKA_KEY_TYPE), Some(CKK_RSA));
        assert_eq!(p.pub_attrs.bytes(CKA_MODULUS).unwrap().len(), 128);
        assert_eq!(p.pub_attrs.iter().count(), 4);
        assert_eq!(p.priv_attrs.iter().count(), 9);
        for t in [CKA_MODULUS, CKA_PUBLIC_EXPONENT] {
            assert_eq!(p.pub_attrs.bytes(t), p.priv_attrs.bytes(t));
        }
        // explicit exponents (with leading zeros), and sizes that are not multiples of 128
        for (bits, e) in [
            (1024, &[0, 0, 3][..]),
            (1100, &[1, 0, 1][..]),
            (1025, &[0x11][..]),
            (3072, &[1, 0, 1][..]),
        ] {
            let p = gen_pair(bits, Some(e));
            assert_eq!(rsa(&p.public).modulus_bits(), bits);
            assert_eq!(rsa(&p.private).modulus_bits(), bits);
            let e_min: Vec<u8> = e.iter().copied().skip_while(|b| *b == 0).collect();
            assert_eq!(p.pub_attrs.bytes(CKA_PUBLIC_EXPONENT).unwrap(), e_min);
            sign_verify_checks(&Mechanism::new(CKM_SHA256_RSA_PKCS), &p, b"odd sizes");
            let ct = encrypt(&Mechanism::new(CKM_RSA_PKCS), &p.public, b"abc").unwrap();
            assert_eq!(
                decrypt(&Mechanism::new(CKM_RSA_PKCS), &p.private, &ct).unwrap(),
                b"abc"
            );
            let m = Mechanism::with(
                CKM_SHA256_RSA_PKCS_PSS,
                pss(CKM_SHA256, CKG_MGF1_SHA256, 32),
            );
            sign_verify_checks(&m, &p, b"pss at odd sizes");
        }
    }

    #[test]
    fn key_size_4096() {
        let p = gen_pair(4096, None);
        assert_eq!(rsa(&p.private).modulus_bits(), 4096);
        sign_verify_checks(&Mechanism::new(CKM_SHA512_RSA_PKCS), &p, b"big key");
        let m = Mechanism::with(CKM_RSA_PKCS_OAEP, oaep(CKM_SHA512, CKG_MGF1_SHA512, b"l"));
        let ct = encrypt(&m, &p.public, b"big").unwrap();
        assert_eq!(decrypt(&m, &p.private, &ct).unwrap(), b"big");
    }

    #[test]
    fn legacy_512_bit_keys_are_usable() {
        // 512-bit keys are not generated, but imported ones (old certificates) still work.
        let small = RsaHandle::generate(512, 65537).unwrap();
        let attrs = private_attributes(&small).unwrap();
        let private = Arc::new(KeyMaterial::Rsa(
            RsaKey::from_attributes(CKO_PRIVATE_KEY, &attrs).unwrap(),
        ));
        let public = Arc::new(KeyMaterial::Rsa(
            RsaKey::from_attributes(CKO_PUBLIC_KEY, &attrs).unwrap(),
        ));
        assert_eq!(rsa(&private).modulus_bits(), 512);
        let m = Mechanism::new(CKM_SHA1_RSA_PKCS);
        let sig = signer(&m, &private).unwrap().one_shot(b"tbs").unwrap();
        assert_eq!(sig.len(), 64);
        verifier(&m, &public)
            .unwrap()
            .one_shot(b"tbs", &sig)
            .unwrap();
    }

    #[test]
    fn key_attribute_errors() {
        let p = pair(1024);
        let full = &p.priv_attrs;
        let without = |t| {
            let mut a = full.clone();
            a.remove(t);
            a
        };
        for t in [CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT] {
            assert_eq!(
                rv(RsaKey::from_attributes(CKO_PRIVATE_KEY, &without(t))),
                CKR_TEMPLATE_INCOMPLETE
            );
        }
        for t in [CKA_MODULUS, CKA_PUBLIC_EXPONENT] {
            assert_eq!(
                rv(RsaKey::from_attributes(CKO_PUBLIC_KEY, &without(t))),
                CKR_TEMPLATE_INCOMPLETE
            );
        }
        // some CRT values but not all
        assert_eq!(
            rv(RsaKey::from_attributes(
                CKO_PRIVATE_KEY,
                &without(CKA_COEFFICIENT)
            )),
            CKR_TEMPLATE_INCOMPLETE
        );
        // inconsistent values
        for t in [
            CKA_PRIME_1,
            CKA_PRIVATE_EXPONENT,
            CKA_EXPONENT_2,
            CKA_COEFFICIENT,
            CKA_MODULUS,
        ] {
            let mut a = full.clone();
            let mut v = a.bytes(t).unwrap().to_vec();
            let last = v.len() - 1;
            v[last] ^= 2;
            a.set_bytes(t, v);
            assert_eq!(
                rv(RsaKey::from_attributes(CKO_PRIVATE_KEY, &a)),
                CKR_ATTRIBUTE_VALUE_INVALID,
                "{t:#x}"
            );
        }
        let mut a = p.pub_attrs.clone();
        a.set_bytes(CKA_PUBLIC_EXPONENT, vec![2]);
        assert_eq!(
            rv(RsaKey::from_attributes(CKO_PUBLIC_KEY, &a)),
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        a.set_bytes(CKA_PUBLIC_EXPONENT, vec![]);
        assert_eq!(
            rv(RsaKey::from_attributes(CKO_PUBLIC_KEY, &a)),
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        let mut a = p.pub_attrs.clone();
        a.set_bytes(CKA_MODULUS, vec![0x10; 128]); // even
        assert_eq!(
            rv(RsaKey::from_attributes(CKO_PUBLIC_KEY, &a)),
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        a.set_bytes(CKA_MODULUS, vec![]);
        assert_eq!(
            rv(RsaKey::from_attributes(CKO_PUBLIC_KEY, &a)),
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        assert_eq!(
            rv(RsaKey::from_attributes(CKO_SECRET_KEY, full)),
            CKR_KEY_TYPE_INCONSISTENT
        );
        // leading zeros in the modulus are accepted
        let mut a = p.pub_attrs.clone();
        let mut n = vec![0, 0];
        n.extend_from_slice(a.bytes(CKA_MODULUS).unwrap());
        a.set_bytes(CKA_MODULUS, n);
        let k = RsaKey::from_attributes(CKO_PUBLIC_KEY, &a).unwrap();
        assert_eq!(k.modulus_bits(), 1024);
        assert_eq!(k.modulus_len(), 128);
    }

    #[test]
    fn private_key_without_crt() {
        let p = pair(1024);
        let mut a = Attributes::new();
        for t in [CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT] {
            a.set_bytes(t, p.priv_attrs.bytes(t).unwrap().to_vec());
        }
        let key = Arc::new(KeyMaterial::Rsa(
            RsaKey::from_attributes(CKO_PRIVATE_KEY, &a).unwrap(),
        ));
        let m = Mechanism::new(CKM_SHA256_RSA_PKCS);
        let sig = sign(&m, &key, b"no crt").unwrap();
        assert_eq!(sig, sign(&m, &p.private, b"no crt").unwrap());
        verify(&m, &p.public, b"no crt", &sig).unwrap();
        let ct = encrypt(&Mechanism::new(CKM_RSA_PKCS), &p.public, b"x").unwrap();
        assert_eq!(
            decrypt(&Mechanism::new(CKM_RSA_PKCS), &key, &ct).unwrap(),
            b"x"
        );
        assert_eq!(rv(rsa(&key).to_pkcs8()), CKR_KEY_NOT_WRAPPABLE);
    }

    #[test]
    fn operations_end_after_finish() {
        let p = pair(1024);
        let mut s = signer(&Mechanism::new(CKM_SHA256_RSA_PKCS), &p.private).unwrap();
        s.update(b"a").unwrap();
        s.finish().unwrap();
        assert_eq!(s.finish().unwrap_err().rv, CKR_OPERATION_NOT_INITIALIZED);
        assert_eq!(
            s.update(b"a").unwrap_err().rv,
            CKR_OPERATION_NOT_INITIALIZED
        );
        let mut e = encryptor(&Mechanism::new(CKM_RSA_PKCS), &p.public).unwrap();
        e.finish().unwrap();
        assert_eq!(e.finish().unwrap_err().rv, CKR_OPERATION_NOT_INITIALIZED);
    }

    #[test]
    fn keys_are_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RsaKey>();
        let p = pair(2048);
        let m = Mechanism::new(CKM_SHA256_RSA_PKCS);
        let expected = sign(&m, &p.private, b"threads").unwrap();
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..10 {
                        assert_eq!(sign(&m, &p.private, b"threads").unwrap(), expected);
                        verify(&m, &p.public, b"threads", &expected).unwrap();
                    }
                });
            }
        });
    }
}
