//! EC family: `CKM_EC_KEY_PAIR_GEN`, `CKM_ECDSA` (over a caller-computed hash),
//! `CKM_ECDSA_SHA1/224/256/384/512` and `CKM_ECDH1_DERIVE`, on the named curves P-256, P-384 and
//! P-521.
//!
//! Encodings (PKCS#11 3.0 §2.3):
//! - `CKA_EC_PARAMS`: the DER OID of a named curve (exact match of the three encodings below;
//!   anything else is `CKR_CURVE_NOT_SUPPORTED`);
//! - `CKA_EC_POINT`: a DER OCTET STRING wrapping the uncompressed point 04 || X || Y. On import the
//!   bare point is accepted too (lenient, simulator-defined); generation always writes the DER form;
//! - private `CKA_VALUE`: the scalar, big-endian. On import shorter values are left-padded with
//!   zeros (lenient); generation writes exactly the field length;
//! - signatures: raw r || s, each the field length (64 / 96 / 132 bytes), never DER.
//!
//! A key is parsed once into an [`EcKey`] holding ready-to-use aws-lc objects; an operation holds an
//! `Arc` of it and never re-parses. Hash/curve pairs that aws-lc-rs's safe API covers go through it
//! (`EcdsaKeyPair::sign_digest`, `ParsedPublicKey::verify_digest_sig`); the others go through
//! `ECDSA_do_sign` / `ECDSA_do_verify` in the [`sys`] submodule, the C ABI boundary.
use super::*;
use crate::error::Error;
use aws_lc_rs::agreement;
use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, KeyPair,
    ParsedPublicKey,
};

#[path = "ec_sys.rs"]
pub(crate) mod sys;

const OID_P256: &[u8] = &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x23];

/// Largest `CKA_VALUE_LEN` a KDF may be asked for (simulator-defined bound, 64 KiB).
const MAX_DERIVED_LEN: usize = 1 << 16;

/// A supported named curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    /// The curve named by a `CKA_EC_PARAMS` value.
    pub fn from_params(params: &[u8]) -> Result<Curve> {
        match params {
            OID_P256 => Ok(Curve::P256),
            OID_P384 => Ok(Curve::P384),
            OID_P521 => Ok(Curve::P521),
            _ => Err(err(
                CKR_CURVE_NOT_SUPPORTED,
                "CKA_EC_PARAMS must name prime256v1, secp384r1 or secp521r1",
            )),
        }
    }
    /// The DER OID of the curve (`CKA_EC_PARAMS`).
    pub fn params(self) -> &'static [u8] {
        match self {
            Curve::P256 => OID_P256,
            Curve::P384 => OID_P384,
            Curve::P521 => OID_P521,
        }
    }
    /// Bytes of a field element / scalar.
    pub fn field_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
    /// Bytes of an uncompressed point.
    fn point_len(self) -> usize {
        2 * self.field_len() + 1
    }
    fn nid(self) -> i32 {
        match self {
            Curve::P256 => sys::NID_P256,
            Curve::P384 => sys::NID_P384,
            Curve::P521 => sys::NID_P521,
        }
    }
    fn ecdh(self) -> &'static agreement::Algorithm {
        match self {
            Curve::P256 => &agreement::ECDH_P256,
            Curve::P384 => &agreement::ECDH_P384,
            Curve::P521 => &agreement::ECDH_P521,
        }
    }
    /// An aws-lc-rs signing algorithm on this curve (any: used for generation and PKCS#8).
    fn native(self) -> &'static EcdsaSigningAlgorithm {
        match self {
            Curve::P256 => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            Curve::P384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            Curve::P521 => &sig::ECDSA_P521_SHA512_FIXED_SIGNING,
        }
    }
}

/// The hash of an `CKM_ECDSA_SHA*` mechanism or an X9.63 KDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

const HASHES: [Hash; 5] = [
    Hash::Sha1,
    Hash::Sha224,
    Hash::Sha256,
    Hash::Sha384,
    Hash::Sha512,
];

impl Hash {
    fn algorithm(self) -> &'static digest::Algorithm {
        match self {
            Hash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha224 => &digest::SHA224,
            Hash::Sha256 => &digest::SHA256,
            Hash::Sha384 => &digest::SHA384,
            Hash::Sha512 => &digest::SHA512,
        }
    }
    fn index(self) -> usize {
        self as usize
    }
    fn len(self) -> usize {
        self.algorithm().output_len()
    }
    fn of_mechanism(m: CK_MECHANISM_TYPE) -> Option<Hash> {
        Some(match m {
            CKM_ECDSA_SHA1 => Hash::Sha1,
            CKM_ECDSA_SHA224 => Hash::Sha224,
            CKM_ECDSA_SHA256 => Hash::Sha256,
            CKM_ECDSA_SHA384 => Hash::Sha384,
            CKM_ECDSA_SHA512 => Hash::Sha512,
            _ => return None,
        })
    }
    fn of_kdf(kdf: CK_EC_KDF_TYPE) -> Option<Hash> {
        Some(match kdf {
            CKD_SHA1_KDF => Hash::Sha1,
            CKD_SHA224_KDF => Hash::Sha224,
            CKD_SHA256_KDF => Hash::Sha256,
            CKD_SHA384_KDF => Hash::Sha384,
            CKD_SHA512_KDF => Hash::Sha512,
            _ => return None,
        })
    }
}

/// The aws-lc-rs signing algorithm for a curve and hash, when the safe API has one.
fn safe_signing(curve: Curve, hash: Hash) -> Option<&'static EcdsaSigningAlgorithm> {
    Some(match (curve, hash) {
        (Curve::P256, Hash::Sha256) => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
        (Curve::P384, Hash::Sha384) => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
        (Curve::P521, Hash::Sha224) => &sig::ECDSA_P521_SHA224_FIXED_SIGNING,
        (Curve::P521, Hash::Sha256) => &sig::ECDSA_P521_SHA256_FIXED_SIGNING,
        (Curve::P521, Hash::Sha384) => &sig::ECDSA_P521_SHA384_FIXED_SIGNING,
        (Curve::P521, Hash::Sha512) => &sig::ECDSA_P521_SHA512_FIXED_SIGNING,
        _ => return None,
    })
}

/// The aws-lc-rs verification algorithm for a curve and hash, when the safe API has one.
fn safe_verification(curve: Curve, hash: Hash) -> Option<&'static EcdsaVerificationAlgorithm> {
    Some(match (curve, hash) {
        (Curve::P256, Hash::Sha256) => &sig::ECDSA_P256_SHA256_FIXED,
        (Curve::P384, Hash::Sha384) => &sig::ECDSA_P384_SHA384_FIXED,
        (Curve::P521, Hash::Sha1) => &sig::ECDSA_P521_SHA1_FIXED,
        (Curve::P521, Hash::Sha224) => &sig::ECDSA_P521_SHA224_FIXED,
        (Curve::P521, Hash::Sha256) => &sig::ECDSA_P521_SHA256_FIXED,
        (Curve::P521, Hash::Sha384) => &sig::ECDSA_P521_SHA384_FIXED,
        (Curve::P521, Hash::Sha512) => &sig::ECDSA_P521_SHA512_FIXED,
        _ => return None,
    })
}

/// The content of a DER OCTET STRING (short or one-byte long form: enough for a point of at most
/// 133 bytes), or `None` when `der` is not exactly one such OCTET STRING.
fn unwrap_octet_string(der: &[u8]) -> Option<&[u8]> {
    match der {
        [0x04, len, rest @ ..] if *len < 0x80 && rest.len() == usize::from(*len) => Some(rest),
        [0x04, 0x81, len, rest @ ..] if *len >= 0x80 && rest.len() == usize::from(*len) => {
            Some(rest)
        }
        _ => None,
    }
}

/// `bytes` (at most 255 of them) as a DER OCTET STRING.
pub(crate) fn wrap_octet_string(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 3);
    out.push(0x04);
    if bytes.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
    out
}

/// A point given either bare or wrapped in a DER OCTET STRING. A bare uncompressed point is
/// recognised first (its leading 04 would otherwise look like an OCTET STRING tag).
fn unwrap_point(curve: Curve, bytes: &[u8]) -> &[u8] {
    if bytes.len() == curve.point_len() && bytes.first() == Some(&0x04) {
        return bytes;
    }
    unwrap_octet_string(bytes).unwrap_or(bytes)
}

/// The private part of an EC key.
struct EcPrivate {
    ecdh: agreement::PrivateKey,
    /// One aws-lc-rs key pair per hash the safe API can sign with on this curve (by `Hash::index`).
    signers: [Option<EcdsaKeyPair>; 5],
}

/// A parsed EC key (public, or private with its public point).
pub struct EcKey {
    curve: Curve,
    /// The uncompressed public point.
    point: Vec<u8>,
    private: Option<Box<EcPrivate>>,
    /// One parsed public key per hash the safe API can verify with on this curve.
    verifiers: Box<[Option<ParsedPublicKey>; 5]>,
    /// The aws-lc `EC_KEY` for the other hash/curve pairs and `CKM_ECDSA` digests of other lengths.
    raw: sys::EcKeyHandle,
}

fn bad_value(what: &'static str) -> Error {
    err(CKR_ATTRIBUTE_VALUE_INVALID, what)
}

impl EcKey {
    pub fn from_attributes(class: CK_OBJECT_CLASS, attrs: &Attributes) -> Result<Self> {
        let curve = Curve::from_params(attrs.require_bytes(CKA_EC_PARAMS)?)?;
        match class {
            CKO_PUBLIC_KEY => {
                let point = unwrap_point(curve, attrs.require_bytes(CKA_EC_POINT)?);
                Self::from_public_point(curve, point)
            }
            CKO_PRIVATE_KEY => {
                let value = attrs.require_bytes(CKA_VALUE)?;
                let start = value.iter().position(|b| *b != 0).unwrap_or(value.len());
                let value = &value[start..];
                let n = curve.field_len();
                if value.len() > n {
                    return Err(bad_value(
                        "the EC private value is longer than the curve's order",
                    ));
                }
                let mut scalar = Zeroizing::new(vec![0u8; n]);
                scalar[n - value.len()..].copy_from_slice(value);
                Self::from_scalar(curve, scalar)
            }
            _ => Err(err(
                CKR_KEY_TYPE_INCONSISTENT,
                "not an EC public or private key",
            )),
        }
    }

    /// A public key from its uncompressed point.
    pub fn from_public_point(curve: Curve, point: &[u8]) -> Result<Self> {
        if point.len() != curve.point_len() || point[0] != 0x04 {
            return Err(bad_value(
                "CKA_EC_POINT is not an uncompressed point of the curve",
            ));
        }
        let raw = sys::EcKeyHandle::new(curve.nid(), curve.field_len(), point, None)
            .ok_or_else(|| bad_value("CKA_EC_POINT is not a point of the curve"))?;
        Ok(EcKey {
            curve,
            point: point.to_vec(),
            private: None,
            verifiers: Self::verifiers(curve, point)?,
            raw,
        })
    }

    /// A private key from its scalar (exactly the field length).
    fn from_scalar(curve: Curve, scalar: Zeroizing<Vec<u8>>) -> Result<Self> {
        let ecdh = agreement::PrivateKey::from_private_key(curve.ecdh(), &scalar)
            .map_err(|_| bad_value("the EC private value is not a valid scalar for the curve"))?;
        let public = ecdh
            .compute_public_key()
            .map_err(|_| err(CKR_FUNCTION_FAILED, "cannot compute the EC public point"))?;
        let point = public.as_ref().to_vec();
        let mut signers: [Option<EcdsaKeyPair>; 5] = Default::default();
        for hash in HASHES {
            if let Some(alg) = safe_signing(curve, hash) {
                let pair = EcdsaKeyPair::from_private_key_and_public_key(alg, &scalar, &point)
                    .map_err(|_| bad_value("the EC private value is not usable"))?;
                signers[hash.index()] = Some(pair);
            }
        }
        let raw = sys::EcKeyHandle::new(curve.nid(), curve.field_len(), &point, Some(&scalar))
            .ok_or_else(|| bad_value("the EC private value is not usable"))?;
        Ok(EcKey {
            curve,
            verifiers: Self::verifiers(curve, &point)?,
            point,
            private: Some(Box::new(EcPrivate { ecdh, signers })),
            raw,
        })
    }

    fn verifiers(curve: Curve, point: &[u8]) -> Result<Box<[Option<ParsedPublicKey>; 5]>> {
        let mut out: [Option<ParsedPublicKey>; 5] = Default::default();
        for hash in HASHES {
            if let Some(alg) = safe_verification(curve, hash) {
                let key = ParsedPublicKey::new(alg, point)
                    .map_err(|_| bad_value("CKA_EC_POINT is not a point of the curve"))?;
                out[hash.index()] = Some(key);
            }
        }
        Ok(Box::new(out))
    }

    pub fn curve(&self) -> Curve {
        self.curve
    }
    /// The uncompressed public point (04 || X || Y).
    pub fn public_point(&self) -> &[u8] {
        &self.point
    }
    pub fn is_private(&self) -> bool {
        self.private.is_some()
    }
    /// Signature length: r || s.
    pub fn signature_len(&self) -> usize {
        2 * self.curve.field_len()
    }

    fn private(&self) -> Result<&EcPrivate> {
        self.private.as_deref().ok_or_else(|| {
            err(
                CKR_KEY_TYPE_INCONSISTENT,
                "this operation needs an EC private key",
            )
        })
    }

    /// The private key as PKCS#8 `PrivateKeyInfo` (RFC 5208 v1, RFC 5915 `ECPrivateKey` inside).
    pub fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>> {
        let private = self.private()?;
        let pair = match private.signers.iter().flatten().next() {
            Some(pair) => pair,
            None => return Err(err(CKR_FUNCTION_FAILED, "no key pair to encode")),
        };
        let doc = pair
            .to_pkcs8v1()
            .map_err(|_| err(CKR_FUNCTION_FAILED, "cannot encode the EC key as PKCS#8"))?;
        Ok(Zeroizing::new(doc.as_ref().to_vec()))
    }

    /// Signs a digest of `hash` computed over the data.
    fn sign_hashed(&self, hash: Hash, digest: &Digest) -> Result<Vec<u8>> {
        let private = self.private()?;
        match &private.signers[hash.index()] {
            Some(pair) => pair
                .sign_digest(digest)
                .map(|s| s.as_ref().to_vec())
                .map_err(sign_failed),
            None => self
                .raw
                .sign(digest.as_ref())
                .ok_or_else(|| sign_failed(())),
        }
    }

    /// Signs a caller-computed hash of any length (`CKM_ECDSA`).
    fn sign_raw(&self, hash_value: &[u8]) -> Result<Vec<u8>> {
        let private = self.private()?;
        for hash in HASHES {
            if hash.len() == hash_value.len()
                && let Some(pair) = &private.signers[hash.index()]
                && let Ok(digest) = Digest::import_less_safe(hash_value, hash.algorithm())
            {
                return pair
                    .sign_digest(&digest)
                    .map(|s| s.as_ref().to_vec())
                    .map_err(sign_failed);
            }
        }
        self.raw.sign(hash_value).ok_or_else(|| sign_failed(()))
    }

    fn check_signature_len(&self, signature: &[u8]) -> Result<()> {
        if signature.len() != self.signature_len() {
            return Err(err(
                CKR_SIGNATURE_LEN_RANGE,
                format!(
                    "an ECDSA signature on this curve is {} bytes",
                    self.signature_len()
                ),
            ));
        }
        Ok(())
    }

    fn verify_hashed(&self, hash: Hash, digest: &Digest, signature: &[u8]) -> Result<()> {
        self.check_signature_len(signature)?;
        let ok = match &self.verifiers[hash.index()] {
            Some(key) => key.verify_digest_sig(digest, signature).is_ok(),
            None => self.raw.verify(digest.as_ref(), signature),
        };
        if ok { Ok(()) } else { Err(invalid_signature()) }
    }

    fn verify_raw(&self, hash_value: &[u8], signature: &[u8]) -> Result<()> {
        self.check_signature_len(signature)?;
        for hash in HASHES {
            if hash.len() == hash_value.len()
                && let Some(key) = &self.verifiers[hash.index()]
                && let Ok(digest) = Digest::import_less_safe(hash_value, hash.algorithm())
            {
                return match key.verify_digest_sig(&digest, signature) {
                    Ok(()) => Ok(()),
                    Err(_) => Err(invalid_signature()),
                };
            }
        }
        if self.raw.verify(hash_value, signature) {
            Ok(())
        } else {
            Err(invalid_signature())
        }
    }
}

fn sign_failed<E>(_: E) -> Error {
    err(CKR_FUNCTION_FAILED, "ECDSA signing failed")
}

fn invalid_signature() -> Error {
    err(CKR_SIGNATURE_INVALID, "the ECDSA signature does not verify")
}

fn ec_key(key: &Arc<KeyMaterial>) -> Result<&EcKey> {
    match key.as_ref() {
        KeyMaterial::Ec(k) => Ok(k),
        _ => Err(err(CKR_KEY_TYPE_INCONSISTENT, "an EC key is required")),
    }
}

/// `CKM_ECDSA`: buffers the caller's hash, signs it at the end.
struct RawSigner {
    key: Arc<KeyMaterial>,
    data: Vec<u8>,
}

impl SignOperation for RawSigner {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.data.extend_from_slice(data);
        Ok(())
    }
    fn finish(&mut self) -> Result<Vec<u8>> {
        let data = std::mem::take(&mut self.data);
        ec_key(&self.key)?.sign_raw(&data)
    }
    fn one_shot(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        if self.data.is_empty() {
            return ec_key(&self.key)?.sign_raw(data);
        }
        self.update(data)?;
        self.finish()
    }
}

/// `CKM_ECDSA_SHA*`: hashes as data arrives.
struct HashSigner {
    key: Arc<KeyMaterial>,
    hash: Hash,
    ctx: digest::Context,
}

impl SignOperation for HashSigner {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.ctx.update(data);
        Ok(())
    }
    fn finish(&mut self) -> Result<Vec<u8>> {
        let ctx = std::mem::replace(&mut self.ctx, digest::Context::new(self.hash.algorithm()));
        ec_key(&self.key)?.sign_hashed(self.hash, &ctx.finish())
    }
    fn one_shot(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        self.ctx.update(data);
        self.finish()
    }
}

struct RawVerifier {
    key: Arc<KeyMaterial>,
    data: Vec<u8>,
}

impl VerifyOperation for RawVerifier {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.data.extend_from_slice(data);
        Ok(())
    }
    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let data = std::mem::take(&mut self.data);
        ec_key(&self.key)?.verify_raw(&data, signature)
    }
}

struct HashVerifier {
    key: Arc<KeyMaterial>,
    hash: Hash,
    ctx: digest::Context,
}

impl VerifyOperation for HashVerifier {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.ctx.update(data);
        Ok(())
    }
    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let ctx = std::mem::replace(&mut self.ctx, digest::Context::new(self.hash.algorithm()));
        ec_key(&self.key)?.verify_hashed(self.hash, &ctx.finish(), signature)
    }
}

/// Starts an ECDSA signature. The key must be private (`CKR_KEY_TYPE_INCONSISTENT` otherwise).
pub fn signer(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn SignOperation>> {
    mech.expect_no_params()?;
    ec_key(key)?.private()?;
    let key = Arc::clone(key);
    if mech.mechanism_type == CKM_ECDSA {
        return Ok(Box::new(RawSigner {
            key,
            data: Vec::new(),
        }));
    }
    let hash = Hash::of_mechanism(mech.mechanism_type)
        .ok_or_else(|| err(CKR_MECHANISM_INVALID, "not an ECDSA mechanism"))?;
    Ok(Box::new(HashSigner {
        key,
        hash,
        ctx: digest::Context::new(hash.algorithm()),
    }))
}

/// Starts an ECDSA verification. A private key verifies too, with its public point
/// (simulator-defined; the engine's `CKA_VERIFY` check normally keeps private keys out).
pub fn verifier(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn VerifyOperation>> {
    mech.expect_no_params()?;
    ec_key(key)?;
    let key = Arc::clone(key);
    if mech.mechanism_type == CKM_ECDSA {
        return Ok(Box::new(RawVerifier {
            key,
            data: Vec::new(),
        }));
    }
    let hash = Hash::of_mechanism(mech.mechanism_type)
        .ok_or_else(|| err(CKR_MECHANISM_INVALID, "not an ECDSA mechanism"))?;
    Ok(Box::new(HashVerifier {
        key,
        hash,
        ctx: digest::Context::new(hash.algorithm()),
    }))
}

/// ANSI X9.63 KDF: Hash(Z || counter (big-endian, from 1) || shared_data) blocks, concatenated and
/// cut to `len` bytes.
fn x963_kdf(hash: Hash, z: &[u8], shared_data: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + hash.len()));
    let mut counter: u32 = 1;
    while out.len() < len {
        let mut ctx = digest::Context::new(hash.algorithm());
        ctx.update(z);
        ctx.update(&counter.to_be_bytes());
        ctx.update(shared_data);
        out.extend_from_slice(ctx.finish().as_ref());
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// `CKM_ECDH1_DERIVE`: the shared secret Z with the peer's point, through the KDF.
///
/// Lengths: `len` when given; with `CKD_NULL`, more than |Z| is `CKR_TEMPLATE_INCONSISTENT` and
/// fewer returns the leading `len` bytes of Z (simulator-defined); without `len`, `CKD_NULL` gives
/// all of Z and a KDF one hash length. `len == 0` or above 64 KiB is `CKR_TEMPLATE_INCONSISTENT`
/// (simulator-defined).
pub fn derive(
    mech: &Mechanism,
    key: &Arc<KeyMaterial>,
    len: Option<usize>,
) -> Result<Zeroizing<Vec<u8>>> {
    let MechParams::Ecdh {
        kdf,
        shared_data,
        public_data,
    } = &mech.params
    else {
        return Err(err(
            CKR_MECHANISM_PARAM_INVALID,
            "CKM_ECDH1_DERIVE needs CK_ECDH1_DERIVE_PARAMS",
        ));
    };
    let kdf_hash = match *kdf {
        CKD_NULL => {
            if !shared_data.is_empty() {
                return Err(err(
                    CKR_MECHANISM_PARAM_INVALID,
                    "CKD_NULL takes no shared data",
                ));
            }
            None
        }
        other => Some(Hash::of_kdf(other).ok_or_else(|| {
            err(
                CKR_MECHANISM_PARAM_INVALID,
                format!("KDF 0x{other:X} is not supported"),
            )
        })?),
    };
    if let Some(l) = len
        && (l == 0 || l > MAX_DERIVED_LEN)
    {
        return Err(err(
            CKR_TEMPLATE_INCONSISTENT,
            "the derived key length is out of range",
        ));
    }
    let ec = ec_key(key)?;
    let private = ec.private()?;
    let peer = unwrap_point(ec.curve, public_data);
    let peer = agreement::UnparsedPublicKey::new(ec.curve.ecdh(), peer);
    let z = agreement::agree(
        &private.ecdh,
        peer,
        err(
            CKR_MECHANISM_PARAM_INVALID,
            "the peer's public point is not a point of the curve",
        ),
        |z| Ok(Zeroizing::new(z.to_vec())),
    )?;
    match kdf_hash {
        None => match len {
            None => Ok(z),
            Some(l) if l > z.len() => Err(err(
                CKR_TEMPLATE_INCONSISTENT,
                "CKD_NULL cannot derive more bytes than the shared secret has",
            )),
            Some(l) => Ok(Zeroizing::new(z[..l].to_vec())),
        },
        Some(hash) => Ok(x963_kdf(hash, &z, shared_data, len.unwrap_or(hash.len()))),
    }
}

/// `CKM_EC_KEY_PAIR_GEN`: `CKA_EC_PARAMS` comes from the public template (required). A private
/// template naming a different curve is `CKR_TEMPLATE_INCONSISTENT` (simulator-defined).
pub fn generate_key_pair(
    public_template: &Attributes,
    private_template: &Attributes,
) -> Result<(Attributes, Attributes)> {
    let params = public_template.require_bytes(CKA_EC_PARAMS)?;
    let curve = Curve::from_params(params)?;
    if let Some(p) = private_template.bytes(CKA_EC_PARAMS)
        && p != params
    {
        return Err(err(
            CKR_TEMPLATE_INCONSISTENT,
            "the templates name different curves",
        ));
    }
    let pair = EcdsaKeyPair::generate(curve.native())
        .map_err(|_| err(CKR_FUNCTION_FAILED, "EC key generation failed"))?;
    let scalar = pair
        .private_key()
        .as_be_bytes()
        .map_err(|_| err(CKR_FUNCTION_FAILED, "cannot export the EC private value"))?;
    let point = pair.public_key().as_ref();

    let mut public = Attributes::new();
    public.set_ulong(CKA_KEY_TYPE, CKK_EC);
    public.set_bytes(CKA_EC_PARAMS, curve.params());
    public.set_bytes(CKA_EC_POINT, wrap_octet_string(point));
    let mut private = Attributes::new();
    private.set_ulong(CKA_KEY_TYPE, CKK_EC);
    private.set_bytes(CKA_EC_PARAMS, curve.params());
    private.set_bytes(CKA_VALUE, scalar.as_ref());
    Ok((public, private))
}

/// The attributes of an EC private key in PKCS#8 (`CKA_KEY_TYPE`, `CKA_EC_PARAMS`, `CKA_VALUE`).
pub fn attributes_from_pkcs8(der: &[u8]) -> Result<Attributes> {
    for curve in [Curve::P256, Curve::P384, Curve::P521] {
        let Ok(pair) = EcdsaKeyPair::from_pkcs8(curve.native(), der) else {
            continue;
        };
        let scalar = pair
            .private_key()
            .as_be_bytes()
            .map_err(|_| err(CKR_FUNCTION_FAILED, "cannot export the EC private value"))?;
        let mut attrs = Attributes::new();
        attrs.set_ulong(CKA_KEY_TYPE, CKK_EC);
        attrs.set_bytes(CKA_EC_PARAMS, curve.params());
        attrs.set_bytes(CKA_VALUE, scalar.as_ref());
        return Ok(attrs);
    }
    Err(err(
        CKR_WRAPPED_KEY_INVALID,
        "not a PKCS#8 EC private key on a supported curve",
    ))
}
