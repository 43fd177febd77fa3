//! What commands do with objects: the key types (RSA, EC, AES, generic secret, and the PKCS#11
//! 3.2 ML-DSA and ML-KEM parameter sets) and how to make them, finding objects by label, snapshots of the public and policy-relevant attributes, RSA
//! public keys as DER SubjectPublicKeyInfo files (what Primus Tools' `GetPublicKey` writes and
//! `ImportPublicKey` reads), and hex for ids.
use super::calls::Token;
use super::outcome::Stop;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{
    Attribute, AttributeType, KeyType, MlDsaParameterSetType, MlKemParameterSetType, ObjectClass,
    ObjectHandle,
};
use der::{Decode, Encode};

/// DER `ECParameters` (named curve OIDs).
pub const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
pub const P384_PARAMS: &[u8] = &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22];
/// secp521r1 (P-521), as a DER OID.
pub const P521_PARAMS: &[u8] = &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x23];

/// A key type and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    Aes {
        bytes: u64,
    },
    GenericSecret {
        bytes: u64,
    },
    Rsa {
        bits: u64,
    },
    EcP256,
    EcP384,
    EcP521,
    /// An ML-DSA key pair of a parameter set (PKCS#11 3.2 `CKK_ML_DSA`, `CKA_PARAMETER_SET`).
    MlDsa(MlDsaParameterSetType),
    /// An ML-KEM key pair of a parameter set (`CKK_ML_KEM`).
    MlKem(MlKemParameterSetType),
}

/// The FIPS name of a parameter set (`ML-DSA-65`, `ML-KEM-768`) by key type and
/// `CKA_PARAMETER_SET` value (the values of the two families overlap: the key type decides).
pub fn parameter_set_name(key_type: KeyType, value: u64) -> Option<&'static str> {
    use cryptoki_sys::*;
    let value = value as CK_ULONG;
    Some(match (key_type, value) {
        (KeyType::ML_DSA, CKP_ML_DSA_44) => "ML-DSA-44",
        (KeyType::ML_DSA, CKP_ML_DSA_65) => "ML-DSA-65",
        (KeyType::ML_DSA, CKP_ML_DSA_87) => "ML-DSA-87",
        (KeyType::ML_KEM, CKP_ML_KEM_512) => "ML-KEM-512",
        (KeyType::ML_KEM, CKP_ML_KEM_768) => "ML-KEM-768",
        (KeyType::ML_KEM, CKP_ML_KEM_1024) => "ML-KEM-1024",
        _ => return None,
    })
}

impl KeySpec {
    pub fn is_secret(self) -> bool {
        matches!(self, KeySpec::Aes { .. } | KeySpec::GenericSecret { .. })
    }

    /// The mechanisms making and using the key need (generation, then use).
    pub fn mechanisms(self) -> &'static [(cryptoki_sys::CK_MECHANISM_TYPE, &'static str)] {
        use cryptoki_sys::*;
        match self {
            KeySpec::Aes { .. } => &[
                (CKM_AES_KEY_GEN, "CKM_AES_KEY_GEN"),
                (CKM_AES_CBC_PAD, "CKM_AES_CBC_PAD"),
            ],
            KeySpec::GenericSecret { .. } => &[
                (CKM_GENERIC_SECRET_KEY_GEN, "CKM_GENERIC_SECRET_KEY_GEN"),
                (CKM_SHA256_HMAC, "CKM_SHA256_HMAC"),
            ],
            KeySpec::Rsa { .. } => &[
                (CKM_RSA_PKCS_KEY_PAIR_GEN, "CKM_RSA_PKCS_KEY_PAIR_GEN"),
                (CKM_SHA256_RSA_PKCS, "CKM_SHA256_RSA_PKCS"),
            ],
            KeySpec::EcP256 | KeySpec::EcP384 | KeySpec::EcP521 => &[
                (CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN"),
                (CKM_ECDSA, "CKM_ECDSA"),
            ],
            KeySpec::MlDsa(_) => &[
                (CKM_ML_DSA_KEY_PAIR_GEN, "CKM_ML_DSA_KEY_PAIR_GEN"),
                (CKM_ML_DSA, "CKM_ML_DSA"),
            ],
            // The shared secret a use makes is an AES key, used with AES-CBC-PAD.
            KeySpec::MlKem(_) => &[
                (CKM_ML_KEM_KEY_PAIR_GEN, "CKM_ML_KEM_KEY_PAIR_GEN"),
                (CKM_ML_KEM, "CKM_ML_KEM"),
                (CKM_AES_CBC_PAD, "CKM_AES_CBC_PAD"),
            ],
        }
    }

    /// The key's `CKA_KEY_TYPE`.
    pub fn key_type(self) -> KeyType {
        match self {
            KeySpec::Aes { .. } => KeyType::AES,
            KeySpec::GenericSecret { .. } => KeyType::GENERIC_SECRET,
            KeySpec::Rsa { .. } => KeyType::RSA,
            KeySpec::EcP256 | KeySpec::EcP384 | KeySpec::EcP521 => KeyType::EC,
            KeySpec::MlDsa(_) => KeyType::ML_DSA,
            KeySpec::MlKem(_) => KeyType::ML_KEM,
        }
    }

    /// The `CKA_PARAMETER_SET` of an ML-DSA or ML-KEM key (none for the others).
    pub fn parameter_set(self) -> Option<cryptoki_sys::CK_ULONG> {
        match self {
            KeySpec::MlDsa(set) => Some(set.into()),
            KeySpec::MlKem(set) => Some(set.into()),
            _ => None,
        }
    }
}

/// The objects a key spec makes: a secret key, or a key pair.
#[derive(Debug, Clone, Copy)]
pub struct Made {
    /// The secret key, or the private key of a pair.
    pub key: ObjectHandle,
    pub public: Option<ObjectHandle>,
}

/// Makes a token key of `spec` named `label` with `id`, extractable or not.
pub fn make_key(
    tok: &Token<'_>,
    spec: KeySpec,
    label: &str,
    id: &[u8],
    extractable: bool,
) -> Result<Made, Stop> {
    let common = |private: bool| {
        vec![
            Attribute::Token(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
            Attribute::Private(private),
        ]
    };
    let secret_flags = |mut v: Vec<Attribute>| {
        v.extend([
            Attribute::Sensitive(true),
            Attribute::Extractable(extractable),
        ]);
        v
    };
    Ok(match spec {
        KeySpec::Aes { bytes } => {
            let mut t = secret_flags(common(true));
            t.extend([
                Attribute::ValueLen(bytes.into()),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
            ]);
            Made {
                key: tok.generate_key(&Mechanism::AesKeyGen, &t)?,
                public: None,
            }
        }
        KeySpec::GenericSecret { bytes } => {
            let mut t = secret_flags(common(true));
            t.extend([
                Attribute::ValueLen(bytes.into()),
                Attribute::Sign(true),
                Attribute::Verify(true),
            ]);
            Made {
                key: tok.generate_key(&Mechanism::GenericSecretKeyGen, &t)?,
                public: None,
            }
        }
        // An RSA pair serves every purpose (sign, encrypt, wrap), as the seed's transport key
        // `zmk` must.
        KeySpec::Rsa { bits } => {
            let mut public = common(false);
            public.extend([
                Attribute::ModulusBits(bits.into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
                Attribute::Encrypt(true),
                Attribute::Wrap(true),
                Attribute::Verify(true),
            ]);
            let mut private = secret_flags(common(true));
            private.extend([
                Attribute::Decrypt(true),
                Attribute::Unwrap(true),
                Attribute::Sign(true),
            ]);
            let (public, key) =
                tok.generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)?;
            Made {
                key,
                public: Some(public),
            }
        }
        KeySpec::EcP256 | KeySpec::EcP384 | KeySpec::EcP521 => {
            let params = match spec {
                KeySpec::EcP256 => P256_PARAMS,
                KeySpec::EcP384 => P384_PARAMS,
                _ => P521_PARAMS,
            };
            let mut public = common(false);
            public.extend([
                Attribute::EcParams(params.to_vec()),
                Attribute::Verify(true),
            ]);
            let mut private = secret_flags(common(true));
            private.push(Attribute::Sign(true));
            let (public, key) =
                tok.generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)?;
            Made {
                key,
                public: Some(public),
            }
        }
        // The parameter set goes on the public template, as PKCS#11 3.2 asks.
        KeySpec::MlDsa(set) => {
            let mut public = common(false);
            public.extend([Attribute::ParameterSet(set.into()), Attribute::Verify(true)]);
            let mut private = secret_flags(common(true));
            private.push(Attribute::Sign(true));
            let (public, key) =
                tok.generate_key_pair(&Mechanism::MlDsaKeyPairGen, &public, &private)?;
            Made {
                key,
                public: Some(public),
            }
        }
        KeySpec::MlKem(set) => {
            let mut public = common(false);
            public.extend([
                Attribute::ParameterSet(set.into()),
                Attribute::Encapsulate(true),
            ]);
            let mut private = secret_flags(common(true));
            private.push(Attribute::Decapsulate(true));
            let (public, key) =
                tok.generate_key_pair(&Mechanism::MlKemKeyPairGen, &public, &private)?;
            Made {
                key,
                public: Some(public),
            }
        }
    })
}

/// The attributes compared between an original and its migrated copy: identity, size (modulus,
/// curve, ML-DSA / ML-KEM parameter set) and the policy-relevant flags; never a secret value
/// (not `CKA_VALUE`, not `CKA_SEED`). A token without an attribute (PKCS#11 before 3.2 has no
/// `CKA_PARAMETER_SET`) leaves it out of the snapshot.
const COMPARED: &[AttributeType] = &[
    AttributeType::Class,
    AttributeType::KeyType,
    AttributeType::Label,
    AttributeType::Id,
    AttributeType::ValueLen,
    AttributeType::Modulus,
    AttributeType::PublicExponent,
    AttributeType::EcParams,
    AttributeType::ParameterSet,
    AttributeType::Sensitive,
    AttributeType::Extractable,
    AttributeType::Encrypt,
    AttributeType::Decrypt,
    AttributeType::Sign,
    AttributeType::Verify,
    AttributeType::Encapsulate,
    AttributeType::Decapsulate,
];

/// An object's compared attributes.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub attributes: Vec<Attribute>,
}

/// Reads an object's compared attributes (those it has).
pub fn snapshot(tok: &Token<'_>, object: ObjectHandle) -> Result<Snapshot, Stop> {
    Ok(Snapshot {
        attributes: tok.get_attributes(object, COMPARED)?,
    })
}

/// Every object labelled `label` (of `class`, when given).
pub fn find(
    tok: &Token<'_>,
    label: &str,
    class: Option<ObjectClass>,
) -> Result<Vec<ObjectHandle>, Stop> {
    let mut t = vec![Attribute::Label(label.as_bytes().to_vec())];
    if let Some(c) = class {
        t.push(Attribute::Class(c));
    }
    Ok(tok.find_objects(&t)?)
}

/// The one object of `class` labelled (named) `label`, as Primus Tools addresses keys; none or
/// several (an ambiguous name) is a failure saying which.
pub fn find_one(tok: &Token<'_>, label: &str, class: ObjectClass) -> Result<ObjectHandle, Stop> {
    match find(tok, label, Some(class))?.as_slice() {
        [one] => Ok(*one),
        [] => Err(Stop::fail(format!("no {class} named {label:?}"))),
        many => Err(Stop::fail(format!(
            "{} objects of class {class} are named {label:?}: the name is ambiguous",
            many.len()
        ))),
    }
}

/// An RSA public key object as DER SubjectPublicKeyInfo (what `GetPublicKey` writes).
pub fn rsa_public_key_der(tok: &Token<'_>, public: ObjectHandle) -> Result<Vec<u8>, Stop> {
    let attrs = tok.get_attributes(
        public,
        &[AttributeType::Modulus, AttributeType::PublicExponent],
    )?;
    let (mut n, mut e) = (None, None);
    for a in attrs {
        match a {
            Attribute::Modulus(v) => n = Some(v),
            Attribute::PublicExponent(v) => e = Some(v),
            _ => {}
        }
    }
    let (Some(n), Some(e)) = (n, e) else {
        return Err(Stop::fail(
            "the public key has no CKA_MODULUS / CKA_PUBLIC_EXPONENT",
        ));
    };
    let der_error = |e: der::Error| Stop::fail(format!("DER encoding failed: {e}"));
    let key = pkcs1::RsaPublicKey {
        modulus: pkcs1::UintRef::new(&n).map_err(der_error)?,
        public_exponent: pkcs1::UintRef::new(&e).map_err(der_error)?,
    };
    let spki = spki::SubjectPublicKeyInfoOwned {
        algorithm: spki::AlgorithmIdentifierOwned {
            oid: pkcs1::ALGORITHM_OID,
            parameters: Some(der::asn1::Null.into()),
        },
        subject_public_key: der::asn1::BitString::from_bytes(&key.to_der().map_err(der_error)?)
            .map_err(der_error)?,
    };
    spki.to_der().map_err(der_error)
}

/// Imports an RSA public key from DER SubjectPublicKeyInfo as a token object that can wrap
/// (what `ImportPublicKey` does).
pub fn import_rsa_public_key(
    tok: &Token<'_>,
    der_bytes: &[u8],
    label: &str,
) -> Result<ObjectHandle, Stop> {
    let bad =
        |e: der::Error| Stop::fail(format!("the file is not an RSA SubjectPublicKeyInfo: {e}"));
    let spki = spki::SubjectPublicKeyInfoRef::from_der(der_bytes).map_err(bad)?;
    if spki.algorithm.oid != pkcs1::ALGORITHM_OID {
        return Err(Stop::fail(format!(
            "the file holds a {} key, not RSA",
            spki.algorithm.oid
        )));
    }
    let key: pkcs1::RsaPublicKey<pkcs1::UintRef<'_>> =
        pkcs1::RsaPublicKey::from_der(spki.subject_public_key.raw_bytes()).map_err(bad)?;
    Ok(tok.create_object(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Token(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Modulus(key.modulus.as_bytes().to_vec()),
        Attribute::PublicExponent(key.public_exponent.as_bytes().to_vec()),
        Attribute::Wrap(true),
        Attribute::Encrypt(true),
        Attribute::Verify(true),
    ])?)
}

/// Lower-case hex of `bytes` (CKA_ID and the like, in reports and files).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
