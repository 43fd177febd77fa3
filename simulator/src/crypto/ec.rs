//! EC family: `CKM_EC_KEY_PAIR_GEN`, `CKM_ECDSA` (over a caller-computed hash),
//! `CKM_ECDSA_SHA1/224/256/384/512` and `CKM_ECDH1_DERIVE`, on secp192r1 (P-192), secp224r1
//! (P-224), prime256v1 (P-256), secp384r1 (P-384), secp521r1 (P-521), secp256k1,
//! brainpoolP256r1, brainpoolP384r1 and brainpoolP512r1 ([`Curve`]). Which of them a token offers
//! is its vendor model's choice (`TokenModel::ec_curves`).
//!
//! Encodings (PKCS#11 3.0 §2.3):
//! - `CKA_EC_PARAMS`: the DER OID of a curve, a DER PrintableString with one of its names
//!   ("prime256v1", "secp256k1", "brainpoolP256r1", ...: [`Curve::names`]), or explicit parameters
//!   equal to a curve aws-lc names (not secp192r1); the value is kept as given, also on generation.
//!   Anything else is `CKR_CURVE_NOT_SUPPORTED`;
//! - `CKA_EC_POINT`: a DER OCTET STRING wrapping the uncompressed point 04 || X || Y. On import the
//!   bare point is accepted too (lenient, simulator-defined); generation always writes the DER form;
//! - private `CKA_VALUE`: the scalar, big-endian. On import shorter values are left-padded with
//!   zeros (lenient); generation writes exactly the field length;
//! - signatures: raw r || s, each the field length (48 to 132 bytes in all), never DER;
//! - PKCS#8 (wrap/unwrap): `PrivateKeyInfo` of id-ecPublicKey with the curve's OID.
//!
//! A key is parsed once into an [`EcKey`] holding ready-to-use aws-lc objects; an operation holds an
//! `Arc` of it and never re-parses. On P-256/384/521, hash/curve pairs that aws-lc-rs's safe API
//! covers go through it (`EcdsaKeyPair::sign_digest`, `ParsedPublicKey::verify_digest_sig`,
//! `agreement`); everything else goes through aws-lc's `EC_KEY` in the [`sys`] submodule, the C
//! ABI boundary: the named groups aws-lc has (P-224, secp256k1, brainpool) and secp192r1's group
//! built from its SEC 2 parameters with aws-lc's custom-curve support.
use super::*;
use crate::base::error::Error;
use aws_lc_rs::agreement;
use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, KeyPair,
    ParsedPublicKey,
};

use super::ffi::ec as sys;

const OID_P192: &[u8] = &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x01];
const OID_P224: &[u8] = &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x21];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x23];
const OID_SECP256K1: &[u8] = &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x0A];
const OID_BRAINPOOL_P256R1: &[u8] = &[
    0x06, 0x09, 0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07,
];
const OID_BRAINPOOL_P384R1: &[u8] = &[
    0x06, 0x09, 0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0B,
];
const OID_BRAINPOOL_P512R1: &[u8] = &[
    0x06, 0x09, 0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0D,
];

/// secp192r1 (NIST P-192, X9.62 prime192v1), SEC 2 v2 §2.2.2: aws-lc does not name it, so its
/// group is built from these parameters (`sys::Group::custom`).
const P192_DOMAIN: sys::DomainParams = sys::DomainParams {
    p: "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFF",
    a: "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFC",
    b: "64210519E59C80E70FA7E9AB72243049FEB8DEECC146B9B1",
    gx: "188DA80EB03090F67CBF20EB43A18800F4FF0AFD82FF1012",
    gy: "07192B95FFC8DA78631011ED6B24CDD573F977A11E794811",
    n: "FFFFFFFFFFFFFFFFFFFFFFFF99DEF836146BC9B1B4D22831",
};

/// Largest `CKA_VALUE_LEN` a KDF may be asked for (simulator-defined bound, 64 KiB).
const MAX_DERIVED_LEN: usize = 1 << 16;

/// A supported curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P192,
    P224,
    P256,
    P384,
    P521,
    Secp256k1,
    BrainpoolP256r1,
    BrainpoolP384r1,
    BrainpoolP512r1,
}

impl Curve {
    /// Every supported curve, the fast ones first.
    pub const ALL: [Curve; 9] = [
        Curve::P256,
        Curve::P384,
        Curve::P521,
        Curve::P192,
        Curve::P224,
        Curve::Secp256k1,
        Curve::BrainpoolP256r1,
        Curve::BrainpoolP384r1,
        Curve::BrainpoolP512r1,
    ];

    /// The curve named by a `CKA_EC_PARAMS` value: the DER OID of the curve, a DER
    /// PrintableString with one of its names (PKCS#11 3.0 §2.3.3 allows `curveName`; the names
    /// accepted, case-sensitive, are [`Curve::names`], simulator-defined), or explicit
    /// (specifiedCurve) parameters equal to a curve aws-lc names.
    pub fn from_params(params: &[u8]) -> Result<Curve> {
        let named = |c: &Curve| {
            c.params() == params
                || c.names().iter().any(|n| {
                    matches!(params, [0x13, len, name @ ..]
                        if usize::from(*len) == name.len() && name == n.as_bytes())
                })
        };
        if let Some(curve) = Curve::ALL.iter().find(|c| named(c)) {
            return Ok(*curve);
        }
        let nid = sys::curve_nid_of_parameters(params);
        Curve::ALL
            .into_iter()
            .find(|c| nid.is_some() && c.nid() == nid)
            .ok_or_else(|| {
                err(
                    CKR_CURVE_NOT_SUPPORTED,
                    "CKA_EC_PARAMS must name secp192r1, secp224r1, prime256v1, secp384r1, \
                     secp521r1, secp256k1, brainpoolP256r1, brainpoolP384r1 or brainpoolP512r1",
                )
            })
    }
    /// The DER OID of the curve (`CKA_EC_PARAMS`).
    pub fn params(self) -> &'static [u8] {
        match self {
            Curve::P192 => OID_P192,
            Curve::P224 => OID_P224,
            Curve::P256 => OID_P256,
            Curve::P384 => OID_P384,
            Curve::P521 => OID_P521,
            Curve::Secp256k1 => OID_SECP256K1,
            Curve::BrainpoolP256r1 => OID_BRAINPOOL_P256R1,
            Curve::BrainpoolP384r1 => OID_BRAINPOOL_P384R1,
            Curve::BrainpoolP512r1 => OID_BRAINPOOL_P512R1,
        }
    }
    /// The names a DER PrintableString in `CKA_EC_PARAMS` may give (simulator-defined: the SEC 2
    /// / RFC 5639 name, the X9.62 name where there is one, and the NIST name).
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Curve::P192 => &["secp192r1", "prime192v1", "P-192"],
            Curve::P224 => &["secp224r1", "P-224"],
            Curve::P256 => &["prime256v1", "secp256r1", "P-256"],
            Curve::P384 => &["secp384r1", "P-384"],
            Curve::P521 => &["secp521r1", "P-521"],
            Curve::Secp256k1 => &["secp256k1"],
            Curve::BrainpoolP256r1 => &["brainpoolP256r1"],
            Curve::BrainpoolP384r1 => &["brainpoolP384r1"],
            Curve::BrainpoolP512r1 => &["brainpoolP512r1"],
        }
    }
    /// Bytes of a field element / scalar.
    pub fn field_len(self) -> usize {
        match self {
            Curve::P192 => 24,
            Curve::P224 => 28,
            Curve::P256 | Curve::Secp256k1 | Curve::BrainpoolP256r1 => 32,
            Curve::P384 | Curve::BrainpoolP384r1 => 48,
            Curve::P521 => 66,
            Curve::BrainpoolP512r1 => 64,
        }
    }
    /// Bytes of an uncompressed point.
    fn point_len(self) -> usize {
        2 * self.field_len() + 1
    }
    /// aws-lc's NID of the curve; `None` for secp192r1, which aws-lc does not name.
    fn nid(self) -> Option<i32> {
        Some(match self {
            Curve::P192 => return None,
            Curve::P224 => sys::NID_P224,
            Curve::P256 => sys::NID_P256,
            Curve::P384 => sys::NID_P384,
            Curve::P521 => sys::NID_P521,
            Curve::Secp256k1 => sys::NID_SECP256K1,
            Curve::BrainpoolP256r1 => sys::NID_BRAINPOOL_P256R1,
            Curve::BrainpoolP384r1 => sys::NID_BRAINPOOL_P384R1,
            Curve::BrainpoolP512r1 => sys::NID_BRAINPOOL_P512R1,
        })
    }
    /// The aws-lc group of the curve: built in, or secp192r1's built once per process.
    fn group(self) -> Result<sys::Group> {
        static P192: std::sync::OnceLock<Option<sys::Group>> = std::sync::OnceLock::new();
        let group = match self.nid() {
            Some(nid) => sys::Group::named(nid),
            None => *P192.get_or_init(|| sys::Group::custom(&P192_DOMAIN)),
        };
        group.ok_or_else(|| err(CKR_FUNCTION_FAILED, "aws-lc has no group for the curve"))
    }
    /// aws-lc-rs's ECDH algorithm on this curve: P-256/384/521 only (the others agree through
    /// [`sys`]).
    fn ecdh(self) -> Option<&'static agreement::Algorithm> {
        match self {
            Curve::P256 => Some(&agreement::ECDH_P256),
            Curve::P384 => Some(&agreement::ECDH_P384),
            Curve::P521 => Some(&agreement::ECDH_P521),
            _ => None,
        }
    }
    /// An aws-lc-rs signing algorithm on this curve (any: used for generation and PKCS#8), for
    /// P-256/384/521 only (the others go through [`sys`]).
    fn native(self) -> Option<&'static EcdsaSigningAlgorithm> {
        match self {
            Curve::P256 => Some(&sig::ECDSA_P256_SHA256_FIXED_SIGNING),
            Curve::P384 => Some(&sig::ECDSA_P384_SHA384_FIXED_SIGNING),
            Curve::P521 => Some(&sig::ECDSA_P521_SHA512_FIXED_SIGNING),
            _ => None,
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
    /// aws-lc-rs's ECDH key on P-256/384/521; the other curves agree through `EcKey::raw`.
    ecdh: Option<agreement::PrivateKey>,
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
    /// The aws-lc `EC_KEY` for the other hash/curve pairs, `CKM_ECDSA` digests of other lengths,
    /// and everything on the curves aws-lc-rs has no algorithms for.
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
        let raw = sys::EcKeyHandle::new(curve.group()?, curve.field_len(), point, None)
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
        let Some(algorithm) = curve.ecdh() else {
            let raw = sys::EcKeyHandle::from_scalar(curve.group()?, curve.field_len(), &scalar)
                .ok_or_else(|| {
                    bad_value("the EC private value is not a valid scalar for the curve")
                })?;
            return Self::from_raw_private(curve, raw);
        };
        let ecdh = agreement::PrivateKey::from_private_key(algorithm, &scalar)
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
        let raw = sys::EcKeyHandle::new(curve.group()?, curve.field_len(), &point, Some(&scalar))
            .ok_or_else(|| bad_value("the EC private value is not usable"))?;
        Ok(EcKey {
            curve,
            verifiers: Self::verifiers(curve, &point)?,
            point,
            private: Some(Box::new(EcPrivate {
                ecdh: Some(ecdh),
                signers,
            })),
            raw,
        })
    }

    /// A private key on a curve aws-lc-rs has no algorithms for: everything goes through `raw`.
    fn from_raw_private(curve: Curve, raw: sys::EcKeyHandle) -> Result<Self> {
        let point = raw
            .public_point()
            .ok_or_else(|| err(CKR_FUNCTION_FAILED, "cannot compute the EC public point"))?;
        Ok(EcKey {
            curve,
            verifiers: Self::verifiers(curve, &point)?,
            point,
            private: Some(Box::new(EcPrivate {
                ecdh: None,
                signers: Default::default(),
            })),
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
        let Some(pair) = private.signers.iter().flatten().next() else {
            return self
                .raw
                .to_pkcs8(self.curve.params())
                .ok_or_else(|| err(CKR_FUNCTION_FAILED, "cannot encode the EC key as PKCS#8"));
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

/// How the shared secret Z becomes key material.
#[derive(Debug, Clone, Copy)]
enum Kdf {
    Null,
    /// ANSI X9.63: Hash(Z || counter || shared_data) blocks (`CKD_SHA*_KDF`).
    X963(Hash),
    /// NIST SP 800-56C one-step: Hash(counter || Z || shared_data) blocks
    /// (`CKD_SHA*_KDF_SP800`).
    Sp800(Hash),
}

impl Kdf {
    fn of(kdf: CK_EC_KDF_TYPE) -> Option<Kdf> {
        let sp800 = match kdf {
            CKD_NULL => return Some(Kdf::Null),
            CKD_SHA1_KDF_SP800 => Hash::Sha1,
            CKD_SHA224_KDF_SP800 => Hash::Sha224,
            CKD_SHA256_KDF_SP800 => Hash::Sha256,
            CKD_SHA384_KDF_SP800 => Hash::Sha384,
            CKD_SHA512_KDF_SP800 => Hash::Sha512,
            other => return Hash::of_kdf(other).map(Kdf::X963),
        };
        Some(Kdf::Sp800(sp800))
    }
}

/// Hash-counter KDF blocks, concatenated and cut to `len` bytes; `counter_first` puts the
/// 32-bit big-endian counter (from 1) before Z (SP 800-56C) instead of after it (X9.63).
fn counter_kdf(
    hash: Hash,
    counter_first: bool,
    z: &[u8],
    shared_data: &[u8],
    len: usize,
) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + hash.len()));
    let mut counter: u32 = 1;
    while out.len() < len {
        let mut ctx = digest::Context::new(hash.algorithm());
        if counter_first {
            ctx.update(&counter.to_be_bytes());
            ctx.update(z);
        } else {
            ctx.update(z);
            ctx.update(&counter.to_be_bytes());
        }
        ctx.update(shared_data);
        out.extend_from_slice(ctx.finish().as_ref());
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// A checked `CKM_ECDH1_DERIVE` request: the peer's public data and how to turn Z into the
/// key. Shared by the Weierstrass curves here and X25519 (`montgomery.rs`).
pub(crate) struct EcdhRequest<'a> {
    kdf: Kdf,
    shared_data: &'a [u8],
    pub(crate) public_data: &'a [u8],
    len: Option<usize>,
}

/// Checks the mechanism parameters and the wanted length of a `CKM_ECDH1_DERIVE`.
///
/// Lengths: `len` when given; with `CKD_NULL`, more than |Z| is `CKR_TEMPLATE_INCONSISTENT` and
/// fewer returns the leading `len` bytes of Z (simulator-defined); without `len`, `CKD_NULL` gives
/// all of Z and a KDF one hash length. `len == 0` or above 64 KiB is `CKR_TEMPLATE_INCONSISTENT`
/// (simulator-defined).
pub(crate) fn ecdh_request(mech: &Mechanism, len: Option<usize>) -> Result<EcdhRequest<'_>> {
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
    let kdf = Kdf::of(*kdf).ok_or_else(|| {
        err(
            CKR_MECHANISM_PARAM_INVALID,
            format!("KDF 0x{kdf:X} is not supported"),
        )
    })?;
    if matches!(kdf, Kdf::Null) && !shared_data.is_empty() {
        return Err(err(
            CKR_MECHANISM_PARAM_INVALID,
            "CKD_NULL takes no shared data",
        ));
    }
    if let Some(l) = len
        && (l == 0 || l > MAX_DERIVED_LEN)
    {
        return Err(err(
            CKR_TEMPLATE_INCONSISTENT,
            "the derived key length is out of range",
        ));
    }
    Ok(EcdhRequest {
        kdf,
        shared_data,
        public_data,
        len,
    })
}

impl EcdhRequest<'_> {
    /// Turns the shared secret Z into the derived key's value.
    pub(crate) fn finish(&self, z: Zeroizing<Vec<u8>>) -> Result<Zeroizing<Vec<u8>>> {
        match self.kdf {
            Kdf::Null => match self.len {
                None => Ok(z),
                Some(l) if l > z.len() => Err(err(
                    CKR_TEMPLATE_INCONSISTENT,
                    "CKD_NULL cannot derive more bytes than the shared secret has",
                )),
                Some(l) => Ok(Zeroizing::new(z[..l].to_vec())),
            },
            Kdf::X963(hash) | Kdf::Sp800(hash) => Ok(counter_kdf(
                hash,
                matches!(self.kdf, Kdf::Sp800(_)),
                &z,
                self.shared_data,
                self.len.unwrap_or(hash.len()),
            )),
        }
    }
}

/// `CKM_ECDH1_DERIVE` on P-256/384/521: the shared secret Z with the peer's point, through the
/// KDF (see [`ecdh_request`]).
pub fn derive(
    mech: &Mechanism,
    key: &Arc<KeyMaterial>,
    len: Option<usize>,
) -> Result<Zeroizing<Vec<u8>>> {
    let request = ecdh_request(mech, len)?;
    let ec = ec_key(key)?;
    let private = ec.private()?;
    let peer = unwrap_point(ec.curve, request.public_data);
    let not_on_curve = || {
        err(
            CKR_MECHANISM_PARAM_INVALID,
            "the peer's public point is not a point of the curve",
        )
    };
    let z = match &private.ecdh {
        Some(ecdh) => agreement::agree(
            ecdh,
            agreement::UnparsedPublicKey::new(ecdh.algorithm(), peer),
            not_on_curve(),
            |z| Ok(Zeroizing::new(z.to_vec())),
        )?,
        // Uncompressed points only, as for CKA_EC_POINT.
        None if peer.len() == ec.curve.point_len() && peer[0] == 0x04 => {
            ec.raw.ecdh(peer).ok_or_else(not_on_curve)?
        }
        None => return Err(not_on_curve()),
    };
    request.finish(z)
}

/// `CKM_EC_KEY_PAIR_GEN`: `CKA_EC_PARAMS` comes from the public template (required) and is kept
/// on both keys in the caller's form (OID, name or explicit parameters). A private template
/// giving a different value is `CKR_TEMPLATE_INCONSISTENT` (simulator-defined).
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
    let failed = || err(CKR_FUNCTION_FAILED, "EC key generation failed");
    let (scalar, point) = match curve.native() {
        Some(algorithm) => {
            let pair = EcdsaKeyPair::generate(algorithm).map_err(|_| failed())?;
            let scalar = pair.private_key().as_be_bytes().map_err(|_| failed())?;
            let scalar = Zeroizing::new(scalar.as_ref().to_vec());
            (scalar, pair.public_key().as_ref().to_vec())
        }
        None => {
            let raw =
                sys::EcKeyHandle::generate(curve.group()?, curve.field_len()).ok_or_else(failed)?;
            (
                raw.private_scalar().ok_or_else(failed)?,
                raw.public_point().ok_or_else(failed)?,
            )
        }
    };

    let mut public = Attributes::new();
    public.set_ulong(CKA_KEY_TYPE, CKK_EC);
    public.set_bytes(CKA_EC_PARAMS, params);
    public.set_bytes(CKA_EC_POINT, wrap_octet_string(&point));
    let mut private = Attributes::new();
    private.set_ulong(CKA_KEY_TYPE, CKK_EC);
    private.set_bytes(CKA_EC_PARAMS, params);
    private.set_bytes(CKA_VALUE, scalar.to_vec());
    Ok((public, private))
}

/// The attributes of an EC private key in PKCS#8 (`CKA_KEY_TYPE`, `CKA_EC_PARAMS` as the curve's
/// OID, `CKA_VALUE`). P-256/384/521 are read by aws-lc-rs; the other curves by aws-lc
/// (`sys::split_ec_pkcs8`, then `EC_KEY_parse_private_key`, which checks a public key given with
/// the scalar). A key on a curve this module does not offer is `CKR_CURVE_NOT_SUPPORTED`.
pub fn attributes_from_pkcs8(der: &[u8]) -> Result<Attributes> {
    let attributes = |curve: Curve, scalar: &[u8]| {
        let mut attrs = Attributes::new();
        attrs.set_ulong(CKA_KEY_TYPE, CKK_EC);
        attrs.set_bytes(CKA_EC_PARAMS, curve.params());
        attrs.set_bytes(CKA_VALUE, scalar);
        attrs
    };
    let cannot_export = || err(CKR_FUNCTION_FAILED, "cannot export the EC private value");
    for curve in Curve::ALL {
        let Some(algorithm) = curve.native() else {
            continue;
        };
        let Ok(pair) = EcdsaKeyPair::from_pkcs8(algorithm, der) else {
            continue;
        };
        let scalar = pair
            .private_key()
            .as_be_bytes()
            .map_err(|_| cannot_export())?;
        return Ok(attributes(curve, scalar.as_ref()));
    }
    let invalid = || {
        err(
            CKR_WRAPPED_KEY_INVALID,
            "not a PKCS#8 EC private key on a supported curve",
        )
    };
    let (params, ec_private_key) = sys::split_ec_pkcs8(der).ok_or_else(invalid)?;
    let curve = Curve::from_params(params)?;
    let raw =
        sys::EcKeyHandle::from_ec_private_key(curve.group()?, curve.field_len(), ec_private_key)
            .ok_or_else(invalid)?;
    let scalar = raw.private_scalar().ok_or_else(cannot_export)?;
    Ok(attributes(curve, &scalar))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::UnparsedPublicKey;

    const CURVES: [Curve; 9] = Curve::ALL;
    const HASH_MECHS: [CK_MECHANISM_TYPE; 5] = [
        CKM_ECDSA_SHA1,
        CKM_ECDSA_SHA224,
        CKM_ECDSA_SHA256,
        CKM_ECDSA_SHA384,
        CKM_ECDSA_SHA512,
    ];

    struct Pair {
        public: Arc<KeyMaterial>,
        private: Arc<KeyMaterial>,
        public_attrs: Attributes,
        private_attrs: Attributes,
    }

    fn params_template(params: &[u8]) -> Attributes {
        let mut t = Attributes::new();
        t.set_bytes(CKA_EC_PARAMS, params);
        t
    }

    fn generate(curve: Curve) -> Pair {
        let (public_attrs, private_attrs) =
            generate_key_pair(&params_template(curve.params()), &Attributes::new()).unwrap();
        let public = KeyMaterial::from_attributes(CKO_PUBLIC_KEY, CKK_EC, &public_attrs).unwrap();
        let private =
            KeyMaterial::from_attributes(CKO_PRIVATE_KEY, CKK_EC, &private_attrs).unwrap();
        Pair {
            public: Arc::new(public),
            private: Arc::new(private),
            public_attrs,
            private_attrs,
        }
    }

    fn sign(mech: CK_MECHANISM_TYPE, key: &Arc<KeyMaterial>, data: &[u8]) -> Result<Vec<u8>> {
        signer(&Mechanism::new(mech), key)?.one_shot(data)
    }

    fn verify(
        mech: CK_MECHANISM_TYPE,
        key: &Arc<KeyMaterial>,
        data: &[u8],
        sig: &[u8],
    ) -> Result<()> {
        verifier(&Mechanism::new(mech), key)?.one_shot(data, sig)
    }

    fn point_of(pair: &Pair) -> Vec<u8> {
        ec_key(&pair.public).unwrap().public_point().to_vec()
    }

    fn hash(alg: &'static digest::Algorithm, data: &[u8]) -> Vec<u8> {
        digest::digest(alg, data).as_ref().to_vec()
    }

    fn ecdh(kdf: CK_EC_KDF_TYPE, shared_data: &[u8], public_data: Vec<u8>) -> Mechanism {
        Mechanism::with(
            CKM_ECDH1_DERIVE,
            MechParams::Ecdh {
                kdf,
                shared_data: shared_data.to_vec(),
                public_data,
            },
        )
    }

    #[test]
    fn keys_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<EcKey>();
        check::<KeyMaterial>();
    }

    #[test]
    fn generated_attributes_have_the_pkcs11_encodings() {
        for curve in CURVES {
            let pair = generate(curve);
            let n = curve.field_len();
            assert_eq!(pair.public_attrs.ulong(CKA_KEY_TYPE), Some(CKK_EC));
            assert_eq!(pair.private_attrs.ulong(CKA_KEY_TYPE), Some(CKK_EC));
            assert_eq!(pair.public_attrs.bytes(CKA_EC_PARAMS), Some(curve.params()));
            assert_eq!(
                pair.private_attrs.bytes(CKA_EC_PARAMS),
                Some(curve.params())
            );
            let der = pair.public_attrs.bytes(CKA_EC_POINT).unwrap();
            let point = unwrap_octet_string(der).unwrap();
            assert_eq!(point.len(), 2 * n + 1);
            assert_eq!(point[0], 0x04);
            let long_form = 2 * n + 1 >= 0x80;
            assert_eq!(der.len(), 2 * n + if long_form { 4 } else { 3 });
            assert_eq!(pair.private_attrs.bytes(CKA_VALUE).unwrap().len(), n);
            // The private key's computed point is the generated one.
            assert_eq!(ec_key(&pair.private).unwrap().public_point(), point);
        }
    }

    #[test]
    fn every_hash_mechanism_round_trips_on_every_curve() {
        let msg = b"the quick brown fox jumps over the lazy dog";
        for curve in CURVES {
            let pair = generate(curve);
            for mech in HASH_MECHS {
                let mut op = signer(&Mechanism::new(mech), &pair.private).unwrap();
                op.update(&msg[..10]).unwrap();
                op.update(&msg[10..]).unwrap();
                let sig = op.finish().unwrap();
                assert_eq!(sig.len(), 2 * curve.field_len(), "{curve:?} {mech:#x}");
                // Multi-part signature verifies one-shot, and multi-part.
                verify(mech, &pair.public, msg, &sig).unwrap();
                let mut v = verifier(&Mechanism::new(mech), &pair.public).unwrap();
                v.update(&msg[..3]).unwrap();
                v.update(&msg[3..]).unwrap();
                v.finish(&sig).unwrap();
                // A private key verifies too (simulator-defined).
                verify(mech, &pair.private, msg, &sig).unwrap();
                // Wrong data, wrong signature, wrong length.
                assert_eq!(
                    verify(mech, &pair.public, b"other", &sig).unwrap_err().rv,
                    CKR_SIGNATURE_INVALID
                );
                let mut bad = sig.clone();
                bad[5] ^= 1;
                assert_eq!(
                    verify(mech, &pair.public, msg, &bad).unwrap_err().rv,
                    CKR_SIGNATURE_INVALID
                );
                assert_eq!(
                    verify(mech, &pair.public, msg, &sig[1..]).unwrap_err().rv,
                    CKR_SIGNATURE_LEN_RANGE
                );
                assert_eq!(
                    verify(mech, &pair.public, msg, &[0u8; 200]).unwrap_err().rv,
                    CKR_SIGNATURE_LEN_RANGE
                );
                // r = s = 0 is not a signature.
                let zeros = vec![0u8; sig.len()];
                assert_eq!(
                    verify(mech, &pair.public, msg, &zeros).unwrap_err().rv,
                    CKR_SIGNATURE_INVALID
                );
                // A second signature is randomized but also valid.
                let sig2 = sign(mech, &pair.private, msg).unwrap();
                assert_ne!(sig, sig2);
                verify(mech, &pair.public, msg, &sig2).unwrap();
            }
        }
    }

    #[test]
    fn the_operation_can_be_reused_after_finish() {
        let pair = generate(Curve::P256);
        let mut op = signer(&Mechanism::new(CKM_ECDSA_SHA256), &pair.private).unwrap();
        op.update(b"junk").unwrap();
        let _ = op.finish().unwrap();
        let sig = op.one_shot(b"fresh").unwrap();
        verify(CKM_ECDSA_SHA256, &pair.public, b"fresh", &sig).unwrap();
    }

    #[test]
    fn hashed_and_raw_ecdsa_agree() {
        let msg = b"message to hash";
        let algs = [
            (CKM_ECDSA_SHA1, &digest::SHA1_FOR_LEGACY_USE_ONLY),
            (CKM_ECDSA_SHA224, &digest::SHA224),
            (CKM_ECDSA_SHA256, &digest::SHA256),
            (CKM_ECDSA_SHA384, &digest::SHA384),
            (CKM_ECDSA_SHA512, &digest::SHA512),
        ];
        for curve in CURVES {
            let pair = generate(curve);
            for (mech, alg) in algs {
                let h = hash(alg, msg);
                // CKM_ECDSA over H(m) verifies as CKM_ECDSA_SHAx over m, and back.
                let raw = sign(CKM_ECDSA, &pair.private, &h).unwrap();
                verify(mech, &pair.public, msg, &raw).unwrap();
                let hashed = sign(mech, &pair.private, msg).unwrap();
                verify(CKM_ECDSA, &pair.public, &h, &hashed).unwrap();
            }
        }
    }

    #[test]
    fn raw_ecdsa_accepts_digests_of_any_length() {
        for curve in CURVES {
            let pair = generate(curve);
            for len in [20usize, 28, 32, 48, 64, 1, 100] {
                let h: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut op = signer(&Mechanism::new(CKM_ECDSA), &pair.private).unwrap();
                op.update(&h[..len / 2]).unwrap();
                op.update(&h[len / 2..]).unwrap();
                let sig = op.finish().unwrap();
                assert_eq!(sig.len(), 2 * curve.field_len());
                verify(CKM_ECDSA, &pair.public, &h, &sig).unwrap();
                let mut other = h.clone();
                other[0] ^= 0x80;
                assert_eq!(
                    verify(CKM_ECDSA, &pair.public, &other, &sig)
                        .unwrap_err()
                        .rv,
                    CKR_SIGNATURE_INVALID
                );
            }
        }
    }

    #[test]
    fn raw_ecdsa_truncates_long_digests_and_pads_short_ones() {
        let pair = generate(Curve::P256);
        // A 64-byte digest is cut to its leading 32 bytes on P-256 (X9.62 bits2int).
        let long: Vec<u8> = (0..64u8).collect();
        let sig = sign(CKM_ECDSA, &pair.private, &long).unwrap();
        verify(CKM_ECDSA, &pair.public, &long[..32], &sig).unwrap();
        // A 20-byte digest is the same integer as itself with 12 leading zero bytes.
        let short = [0xA5u8; 20];
        let sig = sign(CKM_ECDSA, &pair.private, &short).unwrap();
        let mut padded = vec![0u8; 12];
        padded.extend_from_slice(&short);
        verify(CKM_ECDSA, &pair.public, &padded, &sig).unwrap();
        // And on P-521 a 64-byte digest (512 bits < 521) is used whole: its 20-byte prefix is not it.
        let p521 = generate(Curve::P521);
        let sig = sign(CKM_ECDSA, &p521.private, &long).unwrap();
        verify(CKM_ECDSA, &p521.public, &long, &sig).unwrap();
        assert_eq!(
            verify(CKM_ECDSA, &p521.public, &long[..32], &sig)
                .unwrap_err()
                .rv,
            CKR_SIGNATURE_INVALID
        );
    }

    #[test]
    fn signatures_cross_check_with_aws_lc_rs() {
        let msg = b"interoperability";
        let cases: [(
            Curve,
            CK_MECHANISM_TYPE,
            &'static EcdsaVerificationAlgorithm,
        ); 4] = [
            (Curve::P256, CKM_ECDSA_SHA256, &sig::ECDSA_P256_SHA256_FIXED),
            (Curve::P384, CKM_ECDSA_SHA384, &sig::ECDSA_P384_SHA384_FIXED),
            (Curve::P521, CKM_ECDSA_SHA512, &sig::ECDSA_P521_SHA512_FIXED),
            // SHA-1 on P-521: signed through aws-lc-sys, checked by aws-lc-rs.
            (Curve::P521, CKM_ECDSA_SHA1, &sig::ECDSA_P521_SHA1_FIXED),
        ];
        for (curve, mech, alg) in cases {
            let pair = generate(curve);
            let ours = sign(mech, &pair.private, msg).unwrap();
            UnparsedPublicKey::new(alg, point_of(&pair))
                .verify(msg, &ours)
                .unwrap();
        }
        // And aws-lc-rs's signature verifies with ours.
        let pair = EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let theirs = pair
            .sign(&aws_lc_rs::rand::SystemRandom::new(), msg)
            .unwrap();
        let mut attrs = params_template(OID_P256);
        attrs.set_bytes(CKA_EC_POINT, pair.public_key().as_ref());
        let public =
            Arc::new(KeyMaterial::from_attributes(CKO_PUBLIC_KEY, CKK_EC, &attrs).unwrap());
        verify(CKM_ECDSA_SHA256, &public, msg, theirs.as_ref()).unwrap();
        let h = hash(&digest::SHA256, msg);
        verify(CKM_ECDSA, &public, &h, theirs.as_ref()).unwrap();
    }

    #[test]
    fn signing_needs_a_private_key_and_no_parameters() {
        let pair = generate(Curve::P256);
        for mech in [CKM_ECDSA, CKM_ECDSA_SHA256] {
            assert_eq!(
                signer(&Mechanism::new(mech), &pair.public)
                    .err()
                    .unwrap()
                    .rv,
                CKR_KEY_TYPE_INCONSISTENT
            );
            let with = Mechanism::with(mech, MechParams::Bytes(vec![1]));
            assert_eq!(
                signer(&with, &pair.private).err().unwrap().rv,
                CKR_MECHANISM_PARAM_INVALID
            );
            assert_eq!(
                verifier(&with, &pair.public).err().unwrap().rv,
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        assert_eq!(
            pair.public.as_ref().secret().err().unwrap().rv,
            CKR_KEY_TYPE_INCONSISTENT
        );
        let secret = Arc::new(KeyMaterial::Secret(SecretKey {
            key_type: CKK_AES,
            value: Zeroizing::new(vec![0; 16]),
        }));
        assert_eq!(
            signer(&Mechanism::new(CKM_ECDSA), &secret)
                .err()
                .unwrap()
                .rv,
            CKR_KEY_TYPE_INCONSISTENT
        );
    }

    #[test]
    fn the_registry_dispatches_to_this_family() {
        let pair = generate(Curve::P384);
        let mech = Mechanism::new(CKM_ECDSA_SHA384);
        let sig = sign_init(&mech, &pair.private)
            .unwrap()
            .one_shot(b"abc")
            .unwrap();
        verify_init(&mech, &pair.public)
            .unwrap()
            .one_shot(b"abc", &sig)
            .unwrap();
        let keygen = Mechanism::new(CKM_EC_KEY_PAIR_GEN);
        let (public, _) = super::super::generate_key_pair(
            &keygen,
            &params_template(OID_P384),
            &Attributes::new(),
        )
        .unwrap();
        assert_eq!(public.bytes(CKA_EC_PARAMS), Some(OID_P384));
    }

    #[test]
    fn concurrent_signing_shares_one_key() {
        let pair = generate(Curve::P256);
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let private = Arc::clone(&pair.private);
                let public = Arc::clone(&pair.public);
                std::thread::spawn(move || {
                    for j in 0..25 {
                        let msg = format!("thread {i} message {j}");
                        let sig = sign(CKM_ECDSA_SHA256, &private, msg.as_bytes()).unwrap();
                        verify(CKM_ECDSA_SHA256, &public, msg.as_bytes(), &sig).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }

    #[test]
    fn unsupported_or_missing_curves_are_rejected() {
        let secp192k1 = [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x1F];
        for params in [&secp192k1[..], b"", &[0x30, 0x00], &OID_P256[..9]] {
            assert_eq!(
                generate_key_pair(&params_template(params), &Attributes::new())
                    .unwrap_err()
                    .rv,
                CKR_CURVE_NOT_SUPPORTED
            );
            let mut attrs = params_template(params);
            attrs.set_bytes(CKA_VALUE, vec![1u8; 32]);
            assert_eq!(
                EcKey::from_attributes(CKO_PRIVATE_KEY, &attrs)
                    .err()
                    .unwrap()
                    .rv,
                CKR_CURVE_NOT_SUPPORTED
            );
        }
        assert_eq!(
            generate_key_pair(&Attributes::new(), &params_template(OID_P256))
                .unwrap_err()
                .rv,
            CKR_TEMPLATE_INCOMPLETE
        );
        assert_eq!(
            generate_key_pair(&params_template(OID_P256), &params_template(OID_P384))
                .unwrap_err()
                .rv,
            CKR_TEMPLATE_INCONSISTENT
        );
        let mut attrs = Attributes::new();
        attrs.set_bytes(CKA_VALUE, vec![1u8; 32]);
        assert_eq!(
            EcKey::from_attributes(CKO_PRIVATE_KEY, &attrs)
                .err()
                .unwrap()
                .rv,
            CKR_TEMPLATE_INCOMPLETE
        );
        assert_eq!(
            EcKey::from_attributes(CKO_PUBLIC_KEY, &params_template(OID_P256))
                .err()
                .unwrap()
                .rv,
            CKR_TEMPLATE_INCOMPLETE
        );
    }

    #[test]
    fn imported_values_are_checked() {
        // Scalar 1 given without leading zeros: its point is the generator of P-256.
        let mut attrs = params_template(OID_P256);
        attrs.set_bytes(CKA_VALUE, vec![1u8]);
        let key = EcKey::from_attributes(CKO_PRIVATE_KEY, &attrs).unwrap();
        let gx = [
            0x6B, 0x17, 0xD1, 0xF2, 0xE1, 0x2C, 0x42, 0x47, 0xF8, 0xBC, 0xE6, 0xE5, 0x63, 0xA4,
            0x40, 0xF2, 0x77, 0x03, 0x7D, 0x81, 0x2D, 0xEB, 0x33, 0xA0, 0xF4, 0xA1, 0x39, 0x45,
            0xD8, 0x98, 0xC2, 0x96,
        ];
        assert_eq!(&key.public_point()[1..33], &gx);
        // Zero, the all-ones value (>= n) and a too-long value are not scalars.
        for value in [vec![0u8; 32], vec![0xFF; 32], vec![1u8; 33], vec![]] {
            attrs.set_bytes(CKA_VALUE, value);
            assert_eq!(
                EcKey::from_attributes(CKO_PRIVATE_KEY, &attrs)
                    .err()
                    .unwrap()
                    .rv,
                CKR_ATTRIBUTE_VALUE_INVALID
            );
        }
        // A public point: DER and raw forms give the same key; off-curve or compressed ones fail.
        let pair = generate(Curve::P256);
        let point = point_of(&pair);
        let mut attrs = params_template(OID_P256);
        attrs.set_bytes(CKA_EC_POINT, point.clone());
        let raw = EcKey::from_attributes(CKO_PUBLIC_KEY, &attrs).unwrap();
        assert_eq!(raw.public_point(), &point[..]);
        let mut off = point.clone();
        off[64] ^= 1;
        let mut compressed = vec![2 + (point[64] & 1)];
        compressed.extend_from_slice(&point[1..33]);
        for bad in [
            off.clone(),
            wrap_octet_string(&off),
            compressed.clone(),
            wrap_octet_string(&compressed),
            vec![],
            vec![0x04],
            vec![0x04, 0x41],
            point[..64].to_vec(),
        ] {
            attrs.set_bytes(CKA_EC_POINT, bad);
            assert_eq!(
                EcKey::from_attributes(CKO_PUBLIC_KEY, &attrs)
                    .err()
                    .unwrap()
                    .rv,
                CKR_ATTRIBUTE_VALUE_INVALID
            );
        }
        // A P-256 point on a P-384 key.
        let mut attrs = params_template(OID_P384);
        attrs.set_bytes(CKA_EC_POINT, wrap_octet_string(&point));
        assert_eq!(
            EcKey::from_attributes(CKO_PUBLIC_KEY, &attrs)
                .err()
                .unwrap()
                .rv,
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        assert_eq!(
            EcKey::from_attributes(CKO_SECRET_KEY, &pair.public_attrs)
                .err()
                .unwrap()
                .rv,
            CKR_KEY_TYPE_INCONSISTENT
        );
    }

    #[test]
    fn octet_string_wrapping() {
        assert_eq!(wrap_octet_string(&[1, 2]), vec![4, 2, 1, 2]);
        let long = vec![7u8; 133];
        let der = wrap_octet_string(&long);
        assert_eq!(&der[..3], &[0x04, 0x81, 133]);
        assert_eq!(unwrap_octet_string(&der), Some(&long[..]));
        assert_eq!(unwrap_octet_string(&[0x04, 0x81, 0x10]), None);
        assert_eq!(unwrap_octet_string(&[0x04, 3, 1, 2]), None);
        assert_eq!(unwrap_octet_string(&[0x03, 1, 1]), None);
        assert_eq!(unwrap_octet_string(&[]), None);
    }

    #[test]
    fn ecdh_between_two_generated_keys() {
        for curve in CURVES {
            let a = generate(curve);
            let b = generate(curve);
            let n = curve.field_len();
            // CKD_NULL, raw and DER peer points: the whole Z, the same on both sides.
            let za = derive(&ecdh(CKD_NULL, &[], point_of(&b)), &a.private, None).unwrap();
            let zb = derive(
                &ecdh(CKD_NULL, &[], wrap_octet_string(&point_of(&a))),
                &b.private,
                None,
            )
            .unwrap();
            assert_eq!(za.len(), n);
            assert_eq!(*za, *zb);
            // A shorter length keeps the leading bytes (simulator-defined); a longer one fails.
            let short = derive(&ecdh(CKD_NULL, &[], point_of(&b)), &a.private, Some(16)).unwrap();
            assert_eq!(&short[..], &za[..16]);
            assert_eq!(
                derive(&ecdh(CKD_NULL, &[], point_of(&b)), &a.private, Some(n + 1))
                    .unwrap_err()
                    .rv,
                CKR_TEMPLATE_INCONSISTENT
            );
            // X9.63 KDF with SHA-256, shared data, 40 bytes (two blocks).
            let shared = b"shared info";
            let ka = derive(
                &ecdh(CKD_SHA256_KDF, shared, point_of(&b)),
                &a.private,
                Some(40),
            )
            .unwrap();
            let kb = derive(
                &ecdh(CKD_SHA256_KDF, shared, point_of(&a)),
                &b.private,
                Some(40),
            )
            .unwrap();
            assert_eq!(*ka, *kb);
            let mut expected = Vec::new();
            for counter in [1u32, 2] {
                let mut ctx = digest::Context::new(&digest::SHA256);
                ctx.update(&za);
                ctx.update(&counter.to_be_bytes());
                ctx.update(shared);
                expected.extend_from_slice(ctx.finish().as_ref());
            }
            assert_eq!(&ka[..], &expected[..40]);
            // Without a length, a KDF gives one hash.
            let kdf_lens = [
                (CKD_SHA1_KDF, 20),
                (CKD_SHA224_KDF, 28),
                (CKD_SHA256_KDF, 32),
                (CKD_SHA384_KDF, 48),
                (CKD_SHA512_KDF, 64),
            ];
            for (kdf, len) in kdf_lens {
                let ka = derive(&ecdh(kdf, &[], point_of(&b)), &a.private, None).unwrap();
                let kb = derive(&ecdh(kdf, &[], point_of(&a)), &b.private, None).unwrap();
                assert_eq!(ka.len(), len);
                assert_eq!(*ka, *kb);
                assert_ne!(&ka[..], &za[..len.min(n)]);
            }
        }
    }

    #[test]
    fn ecdh_rejects_bad_parameters_and_keys() {
        let a = generate(Curve::P256);
        let b = generate(Curve::P256);
        let c = generate(Curve::P384);
        let rv =
            |mech: &Mechanism, key: &Arc<KeyMaterial>, len| derive(mech, key, len).unwrap_err().rv;
        assert_eq!(
            rv(&ecdh(CKD_NULL, b"x", point_of(&b)), &a.private, None),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            rv(&ecdh(0x99, &[], point_of(&b)), &a.private, None),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            rv(
                &ecdh(CKD_SHA1_KDF_ASN1, &[], point_of(&b)),
                &a.private,
                None
            ),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            rv(&Mechanism::new(CKM_ECDH1_DERIVE), &a.private, None),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            rv(
                &Mechanism::with(CKM_ECDH1_DERIVE, MechParams::Bytes(point_of(&b))),
                &a.private,
                None
            ),
            CKR_MECHANISM_PARAM_INVALID
        );
        let mut off = point_of(&b);
        off[10] ^= 1;
        for peer in [
            off,
            point_of(&c),
            vec![],
            vec![4],
            vec![0u8; 65],
            b"garbage".to_vec(),
        ] {
            assert_eq!(
                rv(&ecdh(CKD_NULL, &[], peer), &a.private, None),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        assert_eq!(
            rv(&ecdh(CKD_NULL, &[], point_of(&b)), &a.public, None),
            CKR_KEY_TYPE_INCONSISTENT
        );
        assert_eq!(
            rv(
                &ecdh(CKD_SHA256_KDF, &[], point_of(&b)),
                &a.private,
                Some(0)
            ),
            CKR_TEMPLATE_INCONSISTENT
        );
        assert_eq!(
            rv(
                &ecdh(CKD_SHA256_KDF, &[], point_of(&b)),
                &a.private,
                Some(usize::MAX)
            ),
            CKR_TEMPLATE_INCONSISTENT
        );
    }

    #[test]
    fn pkcs8_round_trips() {
        for curve in CURVES {
            let pair = generate(curve);
            let der = ec_key(&pair.private).unwrap().to_pkcs8().unwrap();
            let attrs = attributes_from_pkcs8(&der).unwrap();
            assert_eq!(attrs.ulong(CKA_KEY_TYPE), Some(CKK_EC));
            assert_eq!(attrs.bytes(CKA_EC_PARAMS), Some(curve.params()));
            assert_eq!(attrs.bytes(CKA_VALUE), pair.private_attrs.bytes(CKA_VALUE));
            // The restored key signs for the original public key.
            let restored =
                Arc::new(KeyMaterial::from_attributes(CKO_PRIVATE_KEY, CKK_EC, &attrs).unwrap());
            let sig = sign(CKM_ECDSA_SHA256, &restored, b"m").unwrap();
            verify(CKM_ECDSA_SHA256, &pair.public, b"m", &sig).unwrap();
            // And through the registry's helpers.
            let der2 = private_key_to_pkcs8(&restored).unwrap();
            assert_eq!(
                private_key_from_pkcs8(&der2).unwrap().bytes(CKA_VALUE),
                attrs.bytes(CKA_VALUE)
            );
            assert_eq!(
                ec_key(&pair.public).unwrap().to_pkcs8().unwrap_err().rv,
                CKR_KEY_TYPE_INCONSISTENT
            );
        }
        let ed = aws_lc_rs::signature::Ed25519KeyPair::generate()
            .unwrap()
            .to_pkcs8v1()
            .unwrap();
        assert!(attributes_from_pkcs8(ed.as_ref()).is_err());
        assert!(attributes_from_pkcs8(b"").is_err());
        assert!(attributes_from_pkcs8(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let pair = generate(Curve::P521);
        let mut seed = 0x1234_5678u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for _ in 0..200 {
            let len = (next() % 200) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = verify(CKM_ECDSA, &pair.public, &bytes, &bytes);
            let _ = verify(CKM_ECDSA_SHA1, &pair.public, &bytes, &bytes[..len.min(132)]);
            let _ = derive(
                &ecdh(CKD_SHA512_KDF, &bytes, bytes.clone()),
                &pair.private,
                Some(len),
            );
            let _ = attributes_from_pkcs8(&bytes);
            let mut attrs = params_template(OID_P521);
            attrs.set_bytes(CKA_EC_POINT, bytes.clone());
            attrs.set_bytes(CKA_VALUE, bytes.clone());
            let _ = EcKey::from_attributes(CKO_PUBLIC_KEY, &attrs);
            let _ = EcKey::from_attributes(CKO_PRIVATE_KEY, &attrs);
            let _ = sign(CKM_ECDSA, &pair.private, &bytes).unwrap();
        }
    }
    #[test]
    fn explicit_parameters_of_a_named_curve_are_accepted() {
        // `openssl ecparam -name prime256v1 -param_enc explicit -outform DER`
        let explicit: Vec<u8> = (0..250)
            .map(|i| u8::from_str_radix(&"3081f7020101302c06072a8648ce3d0101022100ffffffff00000001000000000000000000000000ffffffffffffffffffffffff305b0420ffffffff00000001000000000000000000000000fffffffffffffffffffffffc04205ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b031500c49d360886e704936a6678e1139d26b7819f7e900441046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5022100ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551020101"[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        assert_eq!(Curve::from_params(&explicit).unwrap(), Curve::P256);
        // prime192v2 is not a curve this module offers.
        let prime192v2 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x02];
        assert_eq!(
            Curve::from_params(&prime192v2).unwrap_err().rv,
            CKR_CURVE_NOT_SUPPORTED
        );
        // Trailing bytes after valid parameters are refused.
        let mut trailing = OID_P256.to_vec();
        trailing.push(0);
        assert_eq!(
            Curve::from_params(&trailing).unwrap_err().rv,
            CKR_CURVE_NOT_SUPPORTED
        );
    }

    #[test]
    fn oids_and_printable_names_map_to_their_curves() {
        let printable = |name: &str| {
            let mut der = vec![0x13, name.len() as u8];
            der.extend_from_slice(name.as_bytes());
            der
        };
        for curve in Curve::ALL {
            assert_eq!(Curve::from_params(curve.params()).unwrap(), curve);
            for name in curve.names() {
                assert_eq!(Curve::from_params(&printable(name)).unwrap(), curve);
                // Not a prefix, not another case, not another string type.
                let mut longer = printable(name);
                longer[1] += 1;
                longer.push(b'x');
                let mut utf8 = printable(name);
                utf8[0] = 0x0C;
                let swapped: String = name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_lowercase() {
                            c.to_ascii_uppercase()
                        } else {
                            c.to_ascii_lowercase()
                        }
                    })
                    .collect();
                for bad in [longer, printable(&swapped), utf8] {
                    assert_eq!(
                        Curve::from_params(&bad).unwrap_err().rv,
                        CKR_CURVE_NOT_SUPPORTED,
                        "{bad:02x?}"
                    );
                }
            }
            // A key generated by name keeps the name; its PKCS#8 names the curve by OID.
            let by_name = printable(curve.names()[0]);
            let (public, private) =
                generate_key_pair(&params_template(&by_name), &Attributes::new()).unwrap();
            assert_eq!(public.bytes(CKA_EC_PARAMS), Some(&by_name[..]));
            assert_eq!(private.bytes(CKA_EC_PARAMS), Some(&by_name[..]));
            let key = KeyMaterial::from_attributes(CKO_PRIVATE_KEY, CKK_EC, &private).unwrap();
            let der = private_key_to_pkcs8(&key).unwrap();
            let back = attributes_from_pkcs8(&der).unwrap();
            assert_eq!(back.bytes(CKA_EC_PARAMS), Some(curve.params()));
            assert_eq!(back.bytes(CKA_VALUE), private.bytes(CKA_VALUE));
        }
    }

    #[test]
    fn the_custom_p192_group_is_built_once_and_shared() {
        let a = Curve::P192.group().unwrap();
        let b = Curve::P192.group().unwrap();
        assert_eq!(a, b);
        // Its generator: the scalar 1 gives G (SEC 2 v2 §2.2.2).
        let mut attrs = params_template(OID_P192);
        attrs.set_bytes(CKA_VALUE, vec![1u8]);
        let key = EcKey::from_attributes(CKO_PRIVATE_KEY, &attrs).unwrap();
        let g = "04188DA80EB03090F67CBF20EB43A18800F4FF0AFD82FF1012\
                 07192B95FFC8DA78631011ED6B24CDD573F977A11E794811";
        let g: Vec<u8> = (0..g.len() / 2)
            .map(|i| u8::from_str_radix(&g[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        assert_eq!(key.public_point(), &g[..]);
        // n - 1 is the largest scalar; n is not one.
        let n = P192_DOMAIN.n;
        let mut n_bytes: Vec<u8> = (0..n.len() / 2)
            .map(|i| u8::from_str_radix(&n[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        attrs.set_bytes(CKA_VALUE, n_bytes.clone());
        assert_eq!(
            EcKey::from_attributes(CKO_PRIVATE_KEY, &attrs)
                .err()
                .unwrap()
                .rv,
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        *n_bytes.last_mut().unwrap() -= 1;
        attrs.set_bytes(CKA_VALUE, n_bytes);
        let minus_one = EcKey::from_attributes(CKO_PRIVATE_KEY, &attrs).unwrap();
        // (n - 1)·G = -G: same x, y negated.
        assert_eq!(minus_one.public_point()[..25], g[..25]);
        assert_ne!(minus_one.public_point()[25..], g[25..]);
    }

    #[test]
    fn damaged_pkcs8_and_points_on_the_new_curves_never_panic() {
        for curve in [Curve::P192, Curve::BrainpoolP512r1] {
            let pair = generate(curve);
            let der = ec_key(&pair.private).unwrap().to_pkcs8().unwrap();
            assert_eq!(
                attributes_from_pkcs8(&der).unwrap().bytes(CKA_VALUE),
                pair.private_attrs.bytes(CKA_VALUE)
            );
            for cut in 0..der.len() {
                assert!(
                    attributes_from_pkcs8(&der[..cut]).is_err(),
                    "{curve:?} {cut}"
                );
            }
            let mut extra = der.to_vec();
            extra.push(0x01);
            assert!(attributes_from_pkcs8(&extra).is_err());
            for at in 0..der.len() {
                for bit in [0x01u8, 0x80] {
                    let mut bad = der.to_vec();
                    bad[at] ^= bit;
                    // Either refused, or still a valid key of a supported curve.
                    if let Ok(attrs) = attributes_from_pkcs8(&bad) {
                        KeyMaterial::from_attributes(CKO_PRIVATE_KEY, CKK_EC, &attrs).unwrap();
                    }
                }
            }
            let point = point_of(&pair);
            for at in 0..point.len() {
                let mut bad = point.clone();
                bad[at] ^= 0x40;
                let mut attrs = params_template(curve.params());
                attrs.set_bytes(CKA_EC_POINT, bad.clone());
                assert!(EcKey::from_attributes(CKO_PUBLIC_KEY, &attrs).is_err());
                assert!(derive(&ecdh(CKD_NULL, &[], bad), &pair.private, None).is_err());
            }
        }
    }
}
