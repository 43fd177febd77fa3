//! The RSA family: PKCS#1 v1.5 (raw and hashed), raw RSA (X.509), PSS (raw and hashed), OAEP,
//! RSA-AES key wrap, key-pair generation and PKCS#8 conversion.
//!
//! A key is parsed once from its object's attributes into an aws-lc `RSA` object ([`RsaKey`]),
//! then shared (through the engine's `Arc<KeyMaterial>`) by every operation and thread: aws-lc's
//! RSA operations are safe to run concurrently on one key, so no lock is taken here. Hashed
//! mechanisms hash incrementally with `aws_lc_rs::digest::Context`; raw mechanisms (and every
//! encryption/decryption) buffer their input and act in `finish`. Everything aws-lc-rs's safe API
//! lacks (raw RSA, type 1 padding over arbitrary data, PSS/OAEP with any parameters, keys from
//! components, any-size key generation, PKCS#8) goes through the [`sys`] submodule, the only place
//! with `unsafe` code.
mod sys;

use super::*;
use crate::attribute::Attributes;
use crate::error::{Result, err};
use aws_lc_rs::digest;
use cryptoki_sys::*;
use std::sync::Arc;
use sys::{Padding, RsaHandle};
use zeroize::Zeroizing;

/// The smallest modulus (in bits) an operation accepts (the registry's `ulMinKeySize`).
pub const MIN_BITS: usize = 1024;
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
                    "RSA keys of {} bits are not supported (1024 to 4096)",
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

fn data_len(why: &'static str) -> crate::error::Error {
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

fn finished() -> crate::error::Error {
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

    fn len_error(&self, why: &'static str) -> crate::error::Error {
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
    out.extend(sys::kwp_wrap(&aes_key, key_bytes).ok_or_else(failed)?);
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
    let mut plain = sys::kwp_unwrap(&aes_key, aes_part).ok_or_else(invalid)?;
    Ok(std::mem::take(&mut *plain))
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
        .filter(|b| (MIN_BITS..=MAX_BITS).contains(b))
        .ok_or_else(|| err(CKR_KEY_SIZE_RANGE, "RSA keys are 1024 to 4096 bits"))?;
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
