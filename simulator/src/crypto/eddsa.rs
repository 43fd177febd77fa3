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
use super::ffi::ec as sys;
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

fn bad_value(what: &'static str) -> crate::base::error::Error {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn template(params: &[u8]) -> Attributes {
        let mut t = Attributes::new();
        t.set_bytes(CKA_EC_PARAMS, params);
        t
    }

    fn private_key(seed: &[u8], params: &[u8]) -> Arc<KeyMaterial> {
        let mut attrs = template(params);
        attrs.set_bytes(CKA_VALUE, seed);
        Arc::new(KeyMaterial::from_attributes(CKO_PRIVATE_KEY, CKK_EC_EDWARDS, &attrs).unwrap())
    }

    fn public_key(point: &[u8]) -> Arc<KeyMaterial> {
        let mut attrs = template(OID_ED25519);
        attrs.set_bytes(CKA_EC_POINT, point);
        Arc::new(KeyMaterial::from_attributes(CKO_PUBLIC_KEY, CKK_EC_EDWARDS, &attrs).unwrap())
    }

    fn mech(params: MechParams) -> Mechanism {
        Mechanism::with(CKM_EDDSA, params)
    }

    fn eddsa_params(prehash: bool, context: &[u8]) -> Mechanism {
        mech(MechParams::Eddsa {
            prehash,
            context: context.to_vec(),
        })
    }

    fn generate(params: &[u8]) -> (Attributes, Attributes, Arc<KeyMaterial>, Arc<KeyMaterial>) {
        let (pa, va) = generate_key_pair(&template(params), &Attributes::new()).unwrap();
        let public =
            Arc::new(KeyMaterial::from_attributes(CKO_PUBLIC_KEY, CKK_EC_EDWARDS, &pa).unwrap());
        let private =
            Arc::new(KeyMaterial::from_attributes(CKO_PRIVATE_KEY, CKK_EC_EDWARDS, &va).unwrap());
        (pa, va, public, private)
    }

    #[test]
    fn keys_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<EdKey>();
    }

    #[test]
    fn rfc8032_test_1() {
        let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let public = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        let expected = hex(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac\
             c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        );
        let key = private_key(&seed, OID_ED25519);
        let KeyMaterial::Ed25519(k) = key.as_ref() else {
            panic!("not an Ed25519 key")
        };
        assert_eq!(&k.public_key()[..], &public[..]);
        for m in [Mechanism::new(CKM_EDDSA), eddsa_params(false, b"")] {
            let sig = signer(&m, &key).unwrap().one_shot(b"").unwrap();
            assert_eq!(sig, expected);
            // The DER and the raw forms of the public key both verify it.
            let mut der = vec![0x04, 0x20];
            der.extend_from_slice(&public);
            for point in [der, public.clone()] {
                verifier(&m, &public_key(&point))
                    .unwrap()
                    .one_shot(b"", &sig)
                    .unwrap();
            }
        }
    }

    #[test]
    fn rfc8032_ed25519ctx_and_ph_vectors() {
        // RFC 8032 §7.2, first Ed25519ctx vector (context "foo").
        let seed = hex("0305334e381af78f141cb666f6199f57bc3495335a256a95bd2a55bf546663f6");
        let public = hex("dfc9425e4f968f7f0c29f0259cf5f9aed6851c2bb4ad8bfb860cfee0ab248292");
        let msg = hex("f726936d19c800494e3fdaff20b276a8");
        let expected = hex(
            "55a4cc2f70a54e04288c5f4cd1e45a7bb520b36292911876cada7323198dd87a8b36950b95130022\
             907a7fb7c4e9b2d5f6cca685a587b4b21f4b888e4e7edb0d",
        );
        let m = eddsa_params(false, b"foo");
        let key = private_key(&seed, NAME_ED25519);
        let mut op = signer(&m, &key).unwrap();
        op.update(&msg[..5]).unwrap();
        op.update(&msg[5..]).unwrap();
        assert_eq!(op.finish().unwrap(), expected);
        let pk = public_key(&public);
        verifier(&m, &pk)
            .unwrap()
            .one_shot(&msg, &expected)
            .unwrap();
        // Another context, or pure Ed25519, does not accept it.
        for other in [
            eddsa_params(false, b"bar"),
            Mechanism::new(CKM_EDDSA),
            eddsa_params(true, b"foo"),
        ] {
            assert_eq!(
                verifier(&other, &pk)
                    .unwrap()
                    .one_shot(&msg, &expected)
                    .unwrap_err()
                    .rv,
                CKR_SIGNATURE_INVALID
            );
        }

        // RFC 8032 §7.3, Ed25519ph ("abc", empty context).
        let seed = hex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42");
        let public = hex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf");
        let expected = hex(
            "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a35\
             5a2003d062adf5aaa10b8c61e636062aaad11c2a26083406",
        );
        let m = eddsa_params(true, b"");
        let key = private_key(&seed, OID_ED25519);
        let mut op = signer(&m, &key).unwrap();
        op.update(b"a").unwrap();
        op.update(b"bc").unwrap();
        assert_eq!(op.finish().unwrap(), expected);
        let pk = public_key(&public);
        let mut v = verifier(&m, &pk).unwrap();
        v.update(b"ab").unwrap();
        v.update(b"c").unwrap();
        v.finish(&expected).unwrap();
        assert_eq!(
            verifier(&m, &pk)
                .unwrap()
                .one_shot(b"abd", &expected)
                .unwrap_err()
                .rv,
            CKR_SIGNATURE_INVALID
        );
    }

    #[test]
    fn generated_keys_round_trip_in_every_variant() {
        for params in [OID_ED25519, NAME_ED25519] {
            let (pa, va, public, private) = generate(params);
            assert_eq!(pa.ulong(CKA_KEY_TYPE), Some(CKK_EC_EDWARDS));
            assert_eq!(va.ulong(CKA_KEY_TYPE), Some(CKK_EC_EDWARDS));
            assert_eq!(pa.bytes(CKA_EC_PARAMS), Some(params));
            assert_eq!(va.bytes(CKA_EC_PARAMS), Some(params));
            let point = pa.bytes(CKA_EC_POINT).unwrap();
            assert_eq!(point.len(), 34);
            assert_eq!(&point[..2], &[0x04, 0x20]);
            assert_eq!(va.bytes(CKA_VALUE).unwrap().len(), 32);
            let KeyMaterial::Ed25519(k) = public.as_ref() else {
                panic!("not an Ed25519 key")
            };
            assert_eq!(k.params(), params);
            assert!(!k.is_private());

            let msg = b"a message long enough to be split";
            for m in [
                Mechanism::new(CKM_EDDSA),
                eddsa_params(false, b""),
                eddsa_params(false, b"ctx"),
                eddsa_params(true, b""),
                eddsa_params(true, &[7u8; 255]),
            ] {
                let mut op = signer(&m, &private).unwrap();
                op.update(&msg[..7]).unwrap();
                op.update(&msg[7..]).unwrap();
                let sig = op.finish().unwrap();
                assert_eq!(sig.len(), 64);
                // Deterministic: one-shot gives the same bytes.
                assert_eq!(signer(&m, &private).unwrap().one_shot(msg).unwrap(), sig);
                verifier(&m, &public).unwrap().one_shot(msg, &sig).unwrap();
                verifier(&m, &private).unwrap().one_shot(msg, &sig).unwrap();
                let mut bad = sig.clone();
                bad[0] ^= 1;
                assert_eq!(
                    verifier(&m, &public)
                        .unwrap()
                        .one_shot(msg, &bad)
                        .unwrap_err()
                        .rv,
                    CKR_SIGNATURE_INVALID
                );
                assert_eq!(
                    verifier(&m, &public)
                        .unwrap()
                        .one_shot(b"other", &sig)
                        .unwrap_err()
                        .rv,
                    CKR_SIGNATURE_INVALID
                );
                for len in [0, 63, 65, 128] {
                    assert_eq!(
                        verifier(&m, &public)
                            .unwrap()
                            .one_shot(msg, &vec![0u8; len])
                            .unwrap_err()
                            .rv,
                        CKR_SIGNATURE_LEN_RANGE
                    );
                }
            }
        }
    }

    #[test]
    fn pure_signatures_cross_check_with_aws_lc_rs() {
        let (pa, _, _, private) = generate(OID_ED25519);
        let sig = signer(&Mechanism::new(CKM_EDDSA), &private)
            .unwrap()
            .one_shot(b"x")
            .unwrap();
        let point = &pa.bytes(CKA_EC_POINT).unwrap()[2..];
        sig::UnparsedPublicKey::new(&sig::ED25519, point)
            .verify(b"x", &sig)
            .unwrap();
    }

    #[test]
    fn bad_parameters_and_keys_are_rejected() {
        let (_, _, public, private) = generate(OID_ED25519);
        for params in [
            MechParams::Bytes(vec![]),
            MechParams::MacLength(64),
            MechParams::Eddsa {
                prehash: false,
                context: vec![0; 256],
            },
            MechParams::Eddsa {
                prehash: true,
                context: vec![0; 300],
            },
        ] {
            let m = mech(params);
            assert_eq!(
                signer(&m, &private).err().unwrap().rv,
                CKR_MECHANISM_PARAM_INVALID
            );
            assert_eq!(
                verifier(&m, &public).err().unwrap().rv,
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        assert_eq!(
            signer(&Mechanism::new(CKM_EDDSA), &public)
                .err()
                .unwrap()
                .rv,
            CKR_KEY_TYPE_INCONSISTENT
        );
        let KeyMaterial::Ed25519(k) = public.as_ref() else {
            panic!("not an Ed25519 key")
        };
        assert_eq!(k.to_pkcs8().unwrap_err().rv, CKR_KEY_TYPE_INCONSISTENT);

        // Curves: Ed448 (OID and name), P-256 and junk are not supported; absent is incomplete.
        let ed448_oid = [0x06, 0x03, 0x2B, 0x65, 0x71];
        let mut ed448_name = vec![0x13, 0x0A];
        ed448_name.extend_from_slice(b"edwards448");
        let p256 = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
        for params in [&ed448_oid[..], &ed448_name, &p256, b"", b"edwards25519"] {
            assert_eq!(
                generate_key_pair(&template(params), &Attributes::new())
                    .unwrap_err()
                    .rv,
                CKR_CURVE_NOT_SUPPORTED
            );
            let mut attrs = template(params);
            attrs.set_bytes(CKA_VALUE, vec![1u8; 32]);
            assert_eq!(
                EdKey::from_attributes(CKO_PRIVATE_KEY, &attrs)
                    .err()
                    .unwrap()
                    .rv,
                CKR_CURVE_NOT_SUPPORTED
            );
        }
        assert_eq!(
            generate_key_pair(&Attributes::new(), &template(OID_ED25519))
                .unwrap_err()
                .rv,
            CKR_TEMPLATE_INCOMPLETE
        );
        assert_eq!(
            generate_key_pair(&template(OID_ED25519), &template(NAME_ED25519))
                .unwrap_err()
                .rv,
            CKR_TEMPLATE_INCONSISTENT
        );
        // Malformed values.
        for seed in [vec![], vec![1u8; 31], vec![1u8; 33], vec![1u8; 64]] {
            let mut attrs = template(OID_ED25519);
            attrs.set_bytes(CKA_VALUE, seed);
            assert_eq!(
                EdKey::from_attributes(CKO_PRIVATE_KEY, &attrs)
                    .err()
                    .unwrap()
                    .rv,
                CKR_ATTRIBUTE_VALUE_INVALID
            );
        }
        for point in [
            vec![],
            vec![0x04, 0x20],
            vec![0x04, 0x21, 0],
            vec![9u8; 33],
            vec![1u8; 31],
        ] {
            let mut attrs = template(OID_ED25519);
            attrs.set_bytes(CKA_EC_POINT, point);
            assert_eq!(
                EdKey::from_attributes(CKO_PUBLIC_KEY, &attrs)
                    .err()
                    .unwrap()
                    .rv,
                CKR_ATTRIBUTE_VALUE_INVALID
            );
        }
        assert_eq!(
            EdKey::from_attributes(CKO_PUBLIC_KEY, &template(OID_ED25519))
                .err()
                .unwrap()
                .rv,
            CKR_TEMPLATE_INCOMPLETE
        );
        assert_eq!(
            EdKey::from_attributes(CKO_SECRET_KEY, &template(OID_ED25519))
                .err()
                .unwrap()
                .rv,
            CKR_KEY_TYPE_INCONSISTENT
        );
    }

    #[test]
    fn pkcs8_round_trips() {
        let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let key = private_key(&seed, NAME_ED25519);
        let KeyMaterial::Ed25519(k) = key.as_ref() else {
            panic!("not an Ed25519 key")
        };
        let der = k.to_pkcs8().unwrap();
        let attrs = attributes_from_pkcs8(&der).unwrap();
        assert_eq!(attrs.ulong(CKA_KEY_TYPE), Some(CKK_EC_EDWARDS));
        assert_eq!(attrs.bytes(CKA_EC_PARAMS), Some(OID_ED25519));
        assert_eq!(attrs.bytes(CKA_VALUE), Some(&seed[..]));
        // Through the registry helpers, and from aws-lc-rs's v2 documents.
        assert_eq!(
            private_key_from_pkcs8(&private_key_to_pkcs8(&key).unwrap()).unwrap(),
            attrs
        );
        let v2 = Ed25519KeyPair::from_seed_unchecked(&seed)
            .unwrap()
            .to_pkcs8()
            .unwrap();
        assert_eq!(attributes_from_pkcs8(v2.as_ref()).unwrap(), attrs);
        // Not Ed25519.
        let ec =
            aws_lc_rs::signature::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING)
                .unwrap()
                .to_pkcs8v1()
                .unwrap();
        assert_eq!(
            attributes_from_pkcs8(ec.as_ref()).unwrap_err().rv,
            CKR_WRAPPED_KEY_INVALID
        );
        assert!(attributes_from_pkcs8(b"").is_err());
        assert!(attributes_from_pkcs8(&seed).is_err());
    }
}
