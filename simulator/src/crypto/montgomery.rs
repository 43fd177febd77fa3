//! Montgomery-curve keys (`CKK_EC_MONTGOMERY`, PKCS#11 3.0 §2.3.7): X25519 only, on aws-lc-rs's
//! `agreement::X25519`. `CKM_EC_MONTGOMERY_KEY_PAIR_GEN` makes key pairs; `CKM_ECDH1_DERIVE`
//! agrees with a peer's public value and applies the same KDFs as the Weierstrass curves.
//!
//! Encodings: `CKA_EC_PARAMS` is the OID 1.3.101.110 or the PrintableString "curve25519" (kept as
//! given); `CKA_EC_POINT` is the 32-byte public value in a DER OCTET STRING (the bare value is
//! accepted on import, simulator-defined); the private `CKA_VALUE` is the 32-byte scalar. The
//! peer's public data in `CK_ECDH1_DERIVE_PARAMS` may be bare or in an OCTET STRING. X448 is
//! `CKR_CURVE_NOT_SUPPORTED` (aws-lc has none).
use super::*;
use crate::base::error::{Result, err};
use aws_lc_rs::agreement::{self, X25519};
use aws_lc_rs::encoding::{AsBigEndian, Curve25519SeedBin};

const OID_X25519: &[u8] = &[0x06, 0x03, 0x2B, 0x65, 0x6E];
const NAME_X25519: &[u8] = b"\x13\x0acurve25519";
const LEN: usize = 32;

/// An X25519 key: the public value, and the private key when it is one.
pub struct X25519Key {
    public: [u8; LEN],
    private: Option<agreement::PrivateKey>,
}

fn check_params(params: &[u8]) -> Result<()> {
    if params == OID_X25519 || params == NAME_X25519 {
        Ok(())
    } else {
        Err(err(
            CKR_CURVE_NOT_SUPPORTED,
            "CKA_EC_PARAMS of a Montgomery key must name curve25519",
        ))
    }
}

/// The 32-byte value, bare or in a DER OCTET STRING (04 20 ...).
fn unwrap_value(bytes: &[u8]) -> Option<[u8; LEN]> {
    let inner = match bytes {
        [0x04, 0x20, rest @ ..] if rest.len() == LEN => rest,
        _ => bytes,
    };
    inner.try_into().ok()
}

fn octet_string(value: &[u8; LEN]) -> Vec<u8> {
    let mut out = vec![0x04, LEN as u8];
    out.extend_from_slice(value);
    out
}

fn public_of(private: &agreement::PrivateKey) -> Result<[u8; LEN]> {
    let public = private
        .compute_public_key()
        .map_err(|_| err(CKR_FUNCTION_FAILED, "X25519 public key computation failed"))?;
    public
        .as_ref()
        .try_into()
        .map_err(|_| err(CKR_FUNCTION_FAILED, "X25519 public value of the wrong size"))
}

impl X25519Key {
    pub fn from_attributes(class: CK_OBJECT_CLASS, attrs: &Attributes) -> Result<Self> {
        check_params(attrs.require_bytes(CKA_EC_PARAMS)?)?;
        let invalid = |what: &'static str| err(CKR_ATTRIBUTE_VALUE_INVALID, what);
        match class {
            CKO_PUBLIC_KEY => Ok(X25519Key {
                public: unwrap_value(attrs.require_bytes(CKA_EC_POINT)?)
                    .ok_or_else(|| invalid("an X25519 CKA_EC_POINT is 32 bytes"))?,
                private: None,
            }),
            _ => {
                let value = attrs.require_bytes(CKA_VALUE)?;
                let private = agreement::PrivateKey::from_private_key(&X25519, value)
                    .map_err(|_| invalid("an X25519 CKA_VALUE is 32 bytes"))?;
                Ok(X25519Key {
                    public: public_of(&private)?,
                    private: Some(private),
                })
            }
        }
    }

    /// The 32-byte public value (computed from the private scalar for private keys).
    pub fn public_value(&self) -> &[u8; LEN] {
        &self.public
    }

    fn private(&self) -> Result<&agreement::PrivateKey> {
        self.private.as_ref().ok_or_else(|| {
            err(
                CKR_KEY_TYPE_INCONSISTENT,
                "an X25519 private key is required",
            )
        })
    }

    /// PKCS#8 `PrivateKeyInfo` (RFC 8410), the form `C_WrapKey` wraps.
    pub fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>> {
        let seed: Curve25519SeedBin = self
            .private()?
            .as_be_bytes()
            .map_err(|_| err(CKR_FUNCTION_FAILED, "X25519 key export failed"))?;
        let mut der = Zeroizing::new(PKCS8_HEADER.to_vec());
        der.extend_from_slice(seed.as_ref());
        Ok(der)
    }
}

/// RFC 8410 §7: an X25519 `PrivateKeyInfo` is this fixed header and the 32-byte scalar
/// (aws-lc-rs encodes PKCS#8 for the NIST curves only, so the one fixed form is written here).
const PKCS8_HEADER: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
];

fn material(key: &KeyMaterial) -> Result<&X25519Key> {
    match key {
        KeyMaterial::X25519(k) => Ok(k),
        _ => Err(err(CKR_KEY_TYPE_INCONSISTENT, "an X25519 key is required")),
    }
}

/// The attributes of both halves of an X25519 key (`CKA_KEY_TYPE`, `CKA_EC_PARAMS` as given,
/// `CKA_EC_POINT` / `CKA_VALUE`).
fn pair_attributes(
    params: &[u8],
    private: &agreement::PrivateKey,
) -> Result<(Attributes, Attributes)> {
    let seed: Curve25519SeedBin = private
        .as_be_bytes()
        .map_err(|_| err(CKR_FUNCTION_FAILED, "X25519 key export failed"))?;
    let mut public = Attributes::new();
    public.set_ulong(CKA_KEY_TYPE, CKK_EC_MONTGOMERY);
    public.set_bytes(CKA_EC_PARAMS, params.to_vec());
    public.set_bytes(CKA_EC_POINT, octet_string(&public_of(private)?));
    let mut secret = Attributes::new();
    secret.set_ulong(CKA_KEY_TYPE, CKK_EC_MONTGOMERY);
    secret.set_bytes(CKA_EC_PARAMS, params.to_vec());
    secret.set_bytes(CKA_VALUE, seed.as_ref().to_vec());
    Ok((public, secret))
}

/// `CKM_EC_MONTGOMERY_KEY_PAIR_GEN`: `CKA_EC_PARAMS` from the public template (required).
pub fn generate_key_pair(
    public_template: &Attributes,
    _private_template: &Attributes,
) -> Result<(Attributes, Attributes)> {
    let params = public_template.require_bytes(CKA_EC_PARAMS)?;
    check_params(params)?;
    let private = agreement::PrivateKey::generate(&X25519)
        .map_err(|_| err(CKR_FUNCTION_FAILED, "X25519 key generation failed"))?;
    pair_attributes(params, &private)
}

/// `CKM_ECDH1_DERIVE` with an X25519 private key.
pub fn derive(
    mech: &Mechanism,
    key: &KeyMaterial,
    len: Option<usize>,
) -> Result<Zeroizing<Vec<u8>>> {
    let request = super::ec::ecdh_request(mech, len)?;
    let private = material(key)?.private()?;
    let peer = unwrap_value(request.public_data).ok_or_else(|| {
        err(
            CKR_MECHANISM_PARAM_INVALID,
            "the peer's X25519 public value is 32 bytes",
        )
    })?;
    let z = agreement::agree(
        private,
        agreement::UnparsedPublicKey::new(&X25519, peer),
        err(CKR_MECHANISM_PARAM_INVALID, "X25519 agreement failed"),
        |z| Ok(Zeroizing::new(z.to_vec())),
    )?;
    request.finish(z)
}

/// The attributes of an X25519 private key unwrapped from PKCS#8, or an error for other keys.
pub fn attributes_from_pkcs8(der: &[u8]) -> Result<Attributes> {
    let not_x25519 = || err(CKR_WRAPPED_KEY_INVALID, "not an X25519 PKCS#8 key");
    let seed = der.strip_prefix(&PKCS8_HEADER[..]).ok_or_else(not_x25519)?;
    let private =
        agreement::PrivateKey::from_private_key(&X25519, seed).map_err(|_| not_x25519())?;
    Ok(pair_attributes(OID_X25519, &private)?.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    fn private_key(value: &[u8]) -> Arc<KeyMaterial> {
        let mut a = Attributes::new();
        a.set_bytes(CKA_EC_PARAMS, NAME_X25519.to_vec());
        a.set_bytes(CKA_VALUE, value.to_vec());
        Arc::new(KeyMaterial::X25519(
            X25519Key::from_attributes(CKO_PRIVATE_KEY, &a).unwrap(),
        ))
    }

    fn ecdh(kdf: CK_EC_KDF_TYPE, shared: &[u8], public: &[u8]) -> Mechanism {
        Mechanism::with(
            CKM_ECDH1_DERIVE,
            MechParams::Ecdh {
                kdf,
                shared_data: shared.to_vec(),
                public_data: public.to_vec(),
            },
        )
    }

    #[test]
    fn rfc7748_agreement() {
        // RFC 7748 §6.1: Alice's private key and Bob's public key give this shared secret.
        let alice = private_key(&hex(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ));
        let bob_public = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let z = derive(&ecdh(CKD_NULL, &[], &bob_public), &alice, None).unwrap();
        assert_eq!(
            *z,
            hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
        );
        assert_eq!(
            material(&alice).unwrap().public_value().to_vec(),
            hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        );
    }

    #[test]
    fn sp800_kdf_matches_its_definition() {
        let alice = private_key(&[0x11; 32]);
        let peer = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let z = derive(&ecdh(CKD_NULL, &[], &peer), &alice, None).unwrap();
        let other = b"other info";
        let key = derive(&ecdh(CKD_SHA256_KDF_SP800, other, &peer), &alice, Some(16)).unwrap();
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(&1u32.to_be_bytes());
        ctx.update(&z);
        ctx.update(other);
        assert_eq!(*key, ctx.finish().as_ref()[..16]);
    }

    #[test]
    fn generation_pkcs8_and_bad_inputs() {
        let mut t = Attributes::new();
        t.set_bytes(CKA_EC_PARAMS, OID_X25519.to_vec());
        let (public, private) = generate_key_pair(&t, &Attributes::new()).unwrap();
        let key = X25519Key::from_attributes(CKO_PRIVATE_KEY, &private).unwrap();
        let pub_key = X25519Key::from_attributes(CKO_PUBLIC_KEY, &public).unwrap();
        assert_eq!(key.public_value(), pub_key.public_value());
        let back = attributes_from_pkcs8(&key.to_pkcs8().unwrap()).unwrap();
        assert_eq!(back.bytes(CKA_VALUE), private.bytes(CKA_VALUE));
        t.set_bytes(CKA_EC_PARAMS, b"\x13\x08curve448".to_vec());
        assert_eq!(
            generate_key_pair(&t, &Attributes::new()).unwrap_err().rv,
            CKR_CURVE_NOT_SUPPORTED
        );
        let alice = private_key(&[0x22; 32]);
        assert_eq!(
            derive(&ecdh(CKD_NULL, &[], &[1, 2, 3]), &alice, None)
                .unwrap_err()
                .rv,
            CKR_MECHANISM_PARAM_INVALID
        );
    }
}
