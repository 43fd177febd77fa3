//! What the consoles and the conformance scenarios do with objects: the key types of the
//! variant matrix and how to make them, finding objects by label, snapshots of the public and
//! policy-relevant attributes for comparisons, RSA public keys as DER SubjectPublicKeyInfo
//! files (what Primus Tools' `GetPublicKey` writes), proving two keys are one by using them,
//! and cleaning up.
use super::calls::Token;
use super::outcome::{Stop, describe_error};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use der::{Decode, Encode};
use std::collections::BTreeMap;

/// DER `ECParameters` (named curve OIDs).
pub const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
pub const P384_PARAMS: &[u8] = &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22];
/// secp521r1 (P-521), as a DER OID.
pub const P521_PARAMS: &[u8] = &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x23];

/// A key type of the variant matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    Aes { bytes: u64 },
    GenericSecret { bytes: u64 },
    Rsa { bits: u64 },
    EcP256,
    EcP384,
    EcP521,
}

impl KeySpec {
    /// From a variant id's leading part: `aes-128`, `generic-secret`, `rsa-2048`, `ec-p256`.
    pub fn from_variant(id: &str) -> Option<KeySpec> {
        let spec = match id {
            x if x.starts_with("aes-128") => KeySpec::Aes { bytes: 16 },
            x if x.starts_with("aes-192") => KeySpec::Aes { bytes: 24 },
            x if x.starts_with("aes-256") => KeySpec::Aes { bytes: 32 },
            x if x.starts_with("generic-secret") => KeySpec::GenericSecret { bytes: 32 },
            x if x.starts_with("rsa-2048") => KeySpec::Rsa { bits: 2048 },
            x if x.starts_with("rsa-3072") => KeySpec::Rsa { bits: 3072 },
            x if x.starts_with("rsa-4096") => KeySpec::Rsa { bits: 4096 },
            x if x.starts_with("ec-p256") => KeySpec::EcP256,
            x if x.starts_with("ec-p384") => KeySpec::EcP384,
            _ => return None,
        };
        Some(spec)
    }

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
    })
}

/// The attributes compared between an original and its migrated copy: identity, size and
/// the policy-relevant flags; never a secret value.
const COMPARED: &[AttributeType] = &[
    AttributeType::Class,
    AttributeType::KeyType,
    AttributeType::Label,
    AttributeType::Id,
    AttributeType::ValueLen,
    AttributeType::Modulus,
    AttributeType::PublicExponent,
    AttributeType::EcParams,
    AttributeType::Sensitive,
    AttributeType::Extractable,
    AttributeType::Encrypt,
    AttributeType::Decrypt,
    AttributeType::Sign,
    AttributeType::Verify,
];

/// An object's compared attributes.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub attributes: Vec<Attribute>,
}

impl Snapshot {
    fn by_type(&self) -> BTreeMap<String, String> {
        self.attributes
            .iter()
            .map(|a| (a.attribute_type().to_string(), format!("{a:?}")))
            .collect()
    }

    /// The differences from `other`, one line each (empty when equal).
    pub fn differences(&self, other: &Snapshot) -> Vec<String> {
        let (a, b) = (self.by_type(), other.by_type());
        let mut out = Vec::new();
        for key in a
            .keys()
            .chain(b.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            match (a.get(key), b.get(key)) {
                (Some(x), Some(y)) if x == y => {}
                (x, y) => out.push(format!(
                    "{key}: {} vs {}",
                    x.map_or("absent", String::as_str),
                    y.map_or("absent", String::as_str)
                )),
            }
        }
        out
    }
}

/// Compares a migrated copy with its original: the differences, and the evidence (the
/// attributes compared and found equal, and notes on what could not be compared). A copy whose `CKA_VALUE_LEN` reads 0 (SoftHSMv2 2.6.1 does not record the length
/// of an unwrapped key, and refuses it in the unwrap template) is noted, not failed: the length
/// is proven by use.
pub fn compare_copy(original: &Snapshot, copy: &Snapshot) -> (Vec<String>, Vec<String>) {
    let unrecorded_len = copy
        .attributes
        .iter()
        .any(|a| matches!(a, Attribute::ValueLen(v) if u64::from(*v) == 0));
    let mut notes = Vec::new();
    let differences = original
        .differences(copy)
        .into_iter()
        .filter(|d| {
            // The difference lines start with the attribute's name as `by_type` writes it.
            let skip =
                unrecorded_len && d.starts_with(&format!("{}:", AttributeType::ValueLen));
            if skip {
                notes.push(format!(
                    "the copy's token reports CKA_VALUE_LEN 0 (the length is not recorded on unwrap; it is proven by use): {d}"
                ));
            }
            !skip
        })
        .collect::<Vec<_>>();
    let (a, b) = (original.by_type(), copy.by_type());
    let equal: Vec<&str> = a
        .iter()
        .filter(|(k, v)| b.get(*k) == Some(*v))
        .map(|(k, _)| k.as_str())
        .collect();
    let mut evidence = vec![format!(
        "{} attributes read on both, equal: {}",
        equal.len(),
        equal.join(" ")
    )];
    evidence.extend(notes);
    (differences, evidence)
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

/// The classes of the objects labelled `label` ("CKO_SECRET_KEY"), sorted: what a count of
/// the objects on a side reports.
pub fn classes_labelled(tok: &Token<'_>, label: &str) -> Result<Vec<String>, Stop> {
    let mut classes = Vec::new();
    for o in find(tok, label, None)? {
        let class = tok
            .get_attributes(o, &[AttributeType::Class])?
            .into_iter()
            .find_map(|a| match a {
                Attribute::Class(c) => Some(c.to_string()),
                _ => None,
            })
            .unwrap_or_else(|| "no CKA_CLASS".into());
        classes.push(class);
    }
    classes.sort();
    Ok(classes)
}

/// Destroys every object labelled with one of `labels` (the scenario's own names), then looks
/// again: the evidence is how many were destroyed; any left (a refused destroy, a failed find)
/// is a failure naming them, since a scenario must never litter a token.
pub fn destroy_labelled(tok: &Token<'_>, labels: &[String]) -> Result<String, Stop> {
    let mut destroyed = 0;
    let mut problems = Vec::new();
    for label in labels {
        match find(tok, label, None) {
            Ok(found) => {
                for o in found {
                    match tok.destroy_object(o) {
                        Ok(()) => destroyed += 1,
                        Err(e) => {
                            problems.push(format!("{label:?} (object {o}): {}", describe_error(&e)))
                        }
                    }
                }
            }
            Err(Stop::Fail { detail, .. } | Stop::NotApplicable(detail)) => {
                problems.push(format!("{label:?}: {detail}"))
            }
        }
    }
    let mut left = 0;
    for label in labels {
        left += find(tok, label, None).map(|f| f.len()).unwrap_or(0);
    }
    if problems.is_empty() && left == 0 {
        Ok(format!(
            "{destroyed} objects destroyed, 0 left labelled {}",
            labels.join(", ")
        ))
    } else {
        Err(Stop::fail(format!(
            "{destroyed} objects destroyed, {left} left: {}",
            problems.join("; ")
        )))
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

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    let _ = aws_lc_rs::rand::fill(&mut v);
    v
}

/// Proves that `original` (on the origin; with its public key for pairs) and `copy` (on the
/// target) are the same key by using them: encrypt on one side and decrypt on the other (both
/// ways), MAC and verify, or sign on the target and verify with the origin's public key. The
/// evidence says what was done and what came out.
pub fn prove_same_key(
    spec: KeySpec,
    origin: &Token<'_>,
    original: Made,
    target: &Token<'_>,
    copy: ObjectHandle,
) -> Result<String, Stop> {
    let data = random(48);
    let mismatch = |what: &str| Stop::fail(format!("the keys differ: {what}"));
    match spec {
        KeySpec::Aes { .. } => {
            let mut sizes = Vec::new();
            for (from, from_key, to, to_key, way) in [
                (origin, original.key, target, copy, "origin -> target"),
                (target, copy, origin, original.key, "target -> origin"),
            ] {
                let mut iv = [0u8; 16];
                iv.copy_from_slice(&random(16));
                let ct = from.encrypt(&Mechanism::AesCbcPad(iv), from_key, &data)?;
                let pt = to.decrypt(&Mechanism::AesCbcPad(iv), to_key, &ct)?;
                if pt != data {
                    return Err(mismatch(&format!("AES-CBC-PAD {way} did not round-trip")));
                }
                sizes.push(ct.len());
            }
            Ok(format!(
                "CKM_AES_CBC_PAD: {} random bytes encrypted by the original and decrypted by the copy ({}-byte ciphertext), and the reverse ({}-byte ciphertext): both round-trips equal",
                data.len(),
                sizes[0],
                sizes[1]
            ))
        }
        KeySpec::GenericSecret { .. } => {
            let mac = origin.sign(&Mechanism::Sha256Hmac, original.key, &data)?;
            target
                .verify(&Mechanism::Sha256Hmac, copy, &data, &mac)
                .map_err(|_| mismatch("the origin's HMAC-SHA-256 does not verify on the target"))?;
            Ok(format!(
                "CKM_SHA256_HMAC: the original's {}-byte MAC of {} random bytes verified by the copy",
                mac.len(),
                data.len()
            ))
        }
        KeySpec::Rsa { .. } => {
            let public = original.public.ok_or_else(|| Stop::fail("no public key"))?;
            let sig = target.sign(&Mechanism::Sha256RsaPkcs, copy, &data)?;
            origin
                .verify(&Mechanism::Sha256RsaPkcs, public, &data, &sig)
                .map_err(|_| {
                    mismatch("the target's signature does not verify with the origin's public key")
                })?;
            Ok(format!(
                "CKM_SHA256_RSA_PKCS: the copy's {}-byte signature of {} random bytes verified with the original's public key",
                sig.len(),
                data.len()
            ))
        }
        KeySpec::EcP256 | KeySpec::EcP384 | KeySpec::EcP521 => {
            let public = original.public.ok_or_else(|| Stop::fail("no public key"))?;
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &data);
            let sig = target.sign(&Mechanism::Ecdsa, copy, digest.as_ref())?;
            origin
                .verify(&Mechanism::Ecdsa, public, digest.as_ref(), &sig)
                .map_err(|_| {
                    mismatch(
                        "the target's ECDSA signature does not verify with the origin's public key",
                    )
                })?;
            Ok(format!(
                "CKM_ECDSA: the copy's {}-byte signature of a SHA-256 digest of {} random bytes verified with the original's public key",
                sig.len(),
                data.len()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(value_len: u64, label: &str) -> Snapshot {
        Snapshot {
            attributes: vec![
                Attribute::ValueLen(value_len.into()),
                Attribute::Label(label.as_bytes().to_vec()),
            ],
        }
    }

    #[test]
    fn a_copy_without_a_recorded_length_is_noted_not_failed() {
        let (differences, evidence) = compare_copy(&snapshot(16, "k"), &snapshot(0, "k"));
        assert!(differences.is_empty(), "{differences:?}");
        assert_eq!(evidence.len(), 2, "{evidence:?}");
        assert_eq!(evidence[0], "1 attributes read on both, equal: CKA_LABEL");
        assert!(evidence[1].contains("CKA_VALUE_LEN 0"), "{evidence:?}");
        // Any other difference still fails, and a wrong recorded length too.
        let (differences, _) = compare_copy(&snapshot(16, "k"), &snapshot(0, "other"));
        assert_eq!(differences.len(), 1, "{differences:?}");
        let (differences, evidence) = compare_copy(&snapshot(16, "k"), &snapshot(24, "k"));
        assert_eq!(
            (differences.len(), evidence.len()),
            (1, 1),
            "{differences:?}"
        );
    }
}
