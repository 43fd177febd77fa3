//! EdDSA family: `CKM_EC_EDWARDS_KEY_PAIR_GEN` and `CKM_EDDSA` on Ed25519 (`CKK_EC_EDWARDS`).
//!
//! Encodings (PKCS#11 3.0 §2.3.5, 3.1):
//! - `CKA_EC_PARAMS`: the OID id-Ed25519 1.3.101.112 (06 03 2B 65 70) or the PrintableString
//!   "edwards25519"; the caller's form is kept. Ed448 and anything else is
//!   `CKR_CURVE_NOT_SUPPORTED`;
//! - `CKA_EC_POINT`: a DER OCTET STRING (04 20 || 32 bytes) of the public key; the bare 32 bytes are
//!   accepted on import (lenient, simulator-defined);
//! - private `CKA_VALUE`: the 32-byte seed.
//!
//! `CKM_EDDSA` without parameters, or with `CK_EDDSA_PARAMS { phFlag = false, empty context }`, is
//! pure Ed25519 (aws-lc-rs). With a non-empty context it is Ed25519ctx, with `phFlag = true`
//! Ed25519ph (SHA-512 of the message, computed incrementally), both RFC 8032 through aws-lc's C API
//! (`ec::sys`). Pure Ed25519 and Ed25519ctx buffer the data and sign at the end.
use super::ec::sys;
use super::*;
use aws_lc_rs::digest;
use aws_lc_rs::signature::{self as sig, Ed25519KeyPair, KeyPair, ParsedPublicKey};

const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2B, 0x65, 0x70];
const NAME_ED25519: &[u8] = b"\x13\x0cedwards25519";

/// Largest context of Ed25519ctx / Ed25519ph (RFC 8032 §5.1).
const MAX_CONTEXT_LEN: usize = 255;

fn check_params(params: &[u8]) -> Result<()> {
    if params == OID_ED25519 || params == NAME_ED25519 {
        Ok(())
    } else {
        Err(err(
            CKR_CURVE_NOT_SUPPORTED,
            "only Ed25519 (edwards25519) is supported",
        ))
    }
}

fn bad_value(what: &'static str) -> crate::error::Error {
    err(CKR_ATTRIBUTE_VALUE_INVALID, what)
}

/// The private part of an Ed25519 key.
struct EdPrivate {
    pair: Ed25519KeyPair,
    /// aws-lc's 64-byte private key form (seed || public key), for Ed25519ctx / Ed25519ph.
    expanded: Zeroizing<[u8; 64]>,
}

/// A parsed Ed25519 key (public, or private with its public key).
pub struct EdKey {
    params: Vec<u8>,
    public: [u8; 32],
    verifier: Box<ParsedPublicKey>,
    private: Option<Box<EdPrivate>>,
}

impl EdKey {
    pub fn from_attributes(class: CK_OBJECT_CLASS, attrs: &Attributes) -> Result<Self> {
        let params = attrs.require_bytes(CKA_EC_PARAMS)?;
        check_params(params)?;
        match class {
            CKO_PUBLIC_KEY => {
                let point = attrs.require_bytes(CKA_EC_POINT)?;
                let public: [u8; 32] = match point {
                    [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest.try_into(),
                    _ => point.try_into(),
                }
                .map_err(|_| bad_value("CKA_EC_POINT is not a 32-byte Ed25519 public key"))?;
                Self::from_public(params, public)
            }
            CKO_PRIVATE_KEY => {
                let seed = attrs.require_bytes(CKA_VALUE)?;
                Self::from_seed(params, seed)
            }
            _ => Err(err(
                CKR_KEY_TYPE_INCONSISTENT,
                "not an Ed25519 public or private key",
            )),
        }
    }

    fn from_public(params: &[u8], public: [u8; 32]) -> Result<Self> {
        let verifier = ParsedPublicKey::new(&sig::ED25519, public)
            .map_err(|_| bad_value("CKA_EC_POINT is not an Ed25519 public key"))?;
        Ok(EdKey {
            params: params.to_vec(),
            public,
            verifier: Box::new(verifier),
            private: None,
        })
    }

    fn from_seed(params: &[u8], seed: &[u8]) -> Result<Self> {
        if seed.len() != 32 {
            return Err(bad_value("an Ed25519 private value is a 32-byte seed"));
        }
        let pair = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|_| bad_value("the Ed25519 seed is not usable"))?;
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| err(CKR_FUNCTION_FAILED, "unexpected Ed25519 public key length"))?;
        let mut expanded = Zeroizing::new([0u8; 64]);
        expanded[..32].copy_from_slice(seed);
        expanded[32..].copy_from_slice(&public);
        let mut key = Self::from_public(params, public)?;
        key.private = Some(Box::new(EdPrivate { pair, expanded }));
        Ok(key)
    }

    /// `CKA_EC_PARAMS` as the key was created with.
    pub fn params(&self) -> &[u8] {
        &self.params
    }
    /// The 32-byte public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public
    }
    pub fn is_private(&self) -> bool {
        self.private.is_some()
    }

    fn private(&self) -> Result<&EdPrivate> {
        self.private.as_deref().ok_or_else(|| {
            err(
                CKR_KEY_TYPE_INCONSISTENT,
                "this operation needs an Ed25519 private key",
            )
        })
    }

    /// The private key as PKCS#8 v1 (RFC 8410 `OneAsymmetricKey` without the public key).
    pub fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>> {
        let doc = self.private()?.pair.to_pkcs8v1().map_err(|_| {
            err(
                CKR_FUNCTION_FAILED,
                "cannot encode the Ed25519 key as PKCS#8",
            )
        })?;
        Ok(Zeroizing::new(doc.as_ref().to_vec()))
    }
}

fn ed_key(key: &Arc<KeyMaterial>) -> Result<&EdKey> {
    match key.as_ref() {
        KeyMaterial::Ed25519(k) => Ok(k),
        _ => Err(err(CKR_KEY_TYPE_INCONSISTENT, "an Ed25519 key is required")),
    }
}

/// The EdDSA variant a mechanism asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Variant {
    Pure,
    Ctx(Vec<u8>),
    Ph(Vec<u8>),
}

fn variant(mech: &Mechanism) -> Result<Variant> {
    match &mech.params {
        MechParams::None => Ok(Variant::Pure),
        MechParams::Eddsa { context, .. } if context.len() > MAX_CONTEXT_LEN => Err(err(
            CKR_MECHANISM_PARAM_INVALID,
            "an EdDSA context is at most 255 bytes",
        )),
        MechParams::Eddsa {
            prehash: false,
            context,
        } if context.is_empty() => Ok(Variant::Pure),
        MechParams::Eddsa {
            prehash: false,
            context,
        } => Ok(Variant::Ctx(context.clone())),
        MechParams::Eddsa {
            prehash: true,
            context,
        } => Ok(Variant::Ph(context.clone())),
        _ => Err(err(
            CKR_MECHANISM_PARAM_INVALID,
            "CKM_EDDSA takes CK_EDDSA_PARAMS or nothing",
        )),
    }
}

/// The data of an EdDSA operation: the message (pure, ctx) or its running SHA-512 (ph).
enum Input {
    Buffer(Vec<u8>),
    Prehash(digest::Context),
}

impl Input {
    fn new(variant: &Variant) -> Input {
        match variant {
            Variant::Ph(_) => Input::Prehash(digest::Context::new(&digest::SHA512)),
            _ => Input::Buffer(Vec::new()),
        }
    }
    fn update(&mut self, data: &[u8]) {
        match self {
            Input::Buffer(b) => b.extend_from_slice(data),
            Input::Prehash(c) => c.update(data),
        }
    }
    /// The message (pure, ctx) or its SHA-512 (ph); resets for a further operation.
    fn take(&mut self) -> Vec<u8> {
        match self {
            Input::Buffer(b) => std::mem::take(b),
            Input::Prehash(c) => std::mem::replace(c, digest::Context::new(&digest::SHA512))
                .finish()
                .as_ref()
                .to_vec(),
        }
    }
}

struct EdSigner {
    key: Arc<KeyMaterial>,
    variant: Variant,
    input: Input,
}

impl SignOperation for EdSigner {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data);
        Ok(())
    }
    fn finish(&mut self) -> Result<Vec<u8>> {
        let data = self.input.take();
        let private = ed_key(&self.key)?.private()?;
        let failed = || err(CKR_FUNCTION_FAILED, "Ed25519 signing failed");
        match &self.variant {
            Variant::Pure => Ok(private.pair.sign(&data).as_ref().to_vec()),
            Variant::Ctx(ctx) => sys::ed25519_sign(&private.expanded, &data, ctx, false)
                .map(|s| s.to_vec())
                .ok_or_else(failed),
            Variant::Ph(ctx) => sys::ed25519_sign(&private.expanded, &data, ctx, true)
                .map(|s| s.to_vec())
                .ok_or_else(failed),
        }
    }
}

struct EdVerifier {
    key: Arc<KeyMaterial>,
    variant: Variant,
    input: Input,
}

impl VerifyOperation for EdVerifier {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data);
        Ok(())
    }
    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let data = self.input.take();
        let key = ed_key(&self.key)?;
        let signature: &[u8; 64] = signature
            .try_into()
            .map_err(|_| err(CKR_SIGNATURE_LEN_RANGE, "an Ed25519 signature is 64 bytes"))?;
        let ok = match &self.variant {
            Variant::Pure => key.verifier.verify_sig(&data, signature).is_ok(),
            Variant::Ctx(ctx) => sys::ed25519_verify(&key.public, &data, signature, ctx, false),
            Variant::Ph(ctx) => sys::ed25519_verify(&key.public, &data, signature, ctx, true),
        };
        if ok {
            Ok(())
        } else {
            Err(err(
                CKR_SIGNATURE_INVALID,
                "the Ed25519 signature does not verify",
            ))
        }
    }
}

/// Starts an EdDSA signature (private key required: `CKR_KEY_TYPE_INCONSISTENT` otherwise).
pub fn signer(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn SignOperation>> {
    let variant = variant(mech)?;
    ed_key(key)?.private()?;
    let input = Input::new(&variant);
    Ok(Box::new(EdSigner {
        key: Arc::clone(key),
        variant,
        input,
    }))
}

/// Starts an EdDSA verification. A private key verifies too, with its public key
/// (simulator-defined).
pub fn verifier(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn VerifyOperation>> {
    let variant = variant(mech)?;
    ed_key(key)?;
    let input = Input::new(&variant);
    Ok(Box::new(EdVerifier {
        key: Arc::clone(key),
        variant,
        input,
    }))
}

/// `CKM_EC_EDWARDS_KEY_PAIR_GEN`: `CKA_EC_PARAMS` from the public template (required), copied as
/// given to both keys. A private template naming a different value is `CKR_TEMPLATE_INCONSISTENT`
/// (simulator-defined).
pub fn generate_key_pair(
    public_template: &Attributes,
    private_template: &Attributes,
) -> Result<(Attributes, Attributes)> {
    let params = public_template.require_bytes(CKA_EC_PARAMS)?;
    check_params(params)?;
    if let Some(p) = private_template.bytes(CKA_EC_PARAMS)
        && p != params
    {
        return Err(err(
            CKR_TEMPLATE_INCONSISTENT,
            "the templates give different CKA_EC_PARAMS",
        ));
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    random_fill(seed.as_mut())?;
    let key = EdKey::from_seed(params, seed.as_ref())?;

    let mut point = vec![0x04, 0x20];
    point.extend_from_slice(&key.public);
    let mut public = Attributes::new();
    public.set_ulong(CKA_KEY_TYPE, CKK_EC_EDWARDS);
    public.set_bytes(CKA_EC_PARAMS, params);
    public.set_bytes(CKA_EC_POINT, point);
    let mut private = Attributes::new();
    private.set_ulong(CKA_KEY_TYPE, CKK_EC_EDWARDS);
    private.set_bytes(CKA_EC_PARAMS, params);
    private.set_bytes(CKA_VALUE, seed.to_vec());
    Ok((public, private))
}

/// The attributes of an Ed25519 private key in PKCS#8 v1 or v2: `CKA_KEY_TYPE`, `CKA_EC_PARAMS`
/// (the OID form, simulator-defined choice) and `CKA_VALUE` (the seed).
pub fn attributes_from_pkcs8(der: &[u8]) -> Result<Attributes> {
    use aws_lc_rs::encoding::AsBigEndian;
    let invalid = |_| err(CKR_WRAPPED_KEY_INVALID, "not a PKCS#8 Ed25519 private key");
    let pair = Ed25519KeyPair::from_pkcs8(der).map_err(invalid)?;
    let seed = pair
        .seed()
        .and_then(|s| s.as_be_bytes())
        .map_err(|_| err(CKR_FUNCTION_FAILED, "cannot export the Ed25519 seed"))?;
    let mut attrs = Attributes::new();
    attrs.set_ulong(CKA_KEY_TYPE, CKK_EC_EDWARDS);
    attrs.set_bytes(CKA_EC_PARAMS, OID_ED25519);
    attrs.set_bytes(CKA_VALUE, seed.as_ref());
    Ok(attrs)
}
