//! ML-KEM family (FIPS 203; PKCS#11 3.2): `CKM_ML_KEM_KEY_PAIR_GEN` and `CKM_ML_KEM`
//! (`C_EncapsulateKey` / `C_DecapsulateKey`, no parameter) on `CKK_ML_KEM` keys of
//! ML-KEM-512/768/1024.
//!
//! Keys: `CKA_PARAMETER_SET` (`CKP_ML_KEM_512/768/1024`), public `CKA_VALUE` = the
//! encapsulation key ek, private `CKA_SEED` = d || z (64 bytes) and `CKA_VALUE` = the
//! decapsulation key dk; generation gives both, `C_CreateObject` needs at least one (the seed
//! wins and must agree with a given value). Key generation from the seed is aws-lc's
//! (`ffi::pqc`); encapsulation and decapsulation use aws-lc-rs's `kem` module. The shared
//! secret is 32 bytes. Wrapping ML-KEM private keys is not offered (simulator-defined: aws-lc
//! encodes ML-KEM PKCS#8 only through EVP calls this module does not make yet).
use super::ffi::pqc;
use super::*;
use aws_lc_rs::kem::{
    Ciphertext, DecapsulationKey, EncapsulationKey, ML_KEM_512, ML_KEM_768, ML_KEM_1024,
};

type Algorithm = aws_lc_rs::kem::Algorithm<aws_lc_rs::kem::AlgorithmId>;

/// The parameter set of `CKA_PARAMETER_SET`: 512, 768 or 1024.
fn parameter_set(value: CK_ULONG) -> Result<u16> {
    match value {
        CKP_ML_KEM_512 => Ok(512),
        CKP_ML_KEM_768 => Ok(768),
        CKP_ML_KEM_1024 => Ok(1024),
        _ => Err(err(
            CKR_PARAMETER_SET_NOT_SUPPORTED,
            "CKA_PARAMETER_SET must be CKP_ML_KEM_512, CKP_ML_KEM_768 or CKP_ML_KEM_1024",
        )),
    }
}

fn algorithm(set: u16) -> &'static Algorithm {
    match set {
        512 => &ML_KEM_512,
        768 => &ML_KEM_768,
        _ => &ML_KEM_1024,
    }
}

/// Lengths of ek, dk and the ciphertext (FIPS 203 Table 3).
fn sizes(set: u16) -> (usize, usize, usize) {
    match set {
        512 => (800, 1632, 768),
        768 => (1184, 2400, 1088),
        _ => (1568, 3168, 1568),
    }
}

fn bad_value(what: &'static str) -> crate::base::error::Error {
    err(CKR_ATTRIBUTE_VALUE_INVALID, what)
}

/// A parsed ML-KEM key: an encapsulation key, or a decapsulation key.
pub struct MlKemKey {
    set: u16,
    encapsulation: Option<EncapsulationKey>,
    decapsulation: Option<DecapsulationKey>,
}

impl MlKemKey {
    pub fn from_attributes(class: CK_OBJECT_CLASS, attrs: &Attributes) -> Result<Self> {
        let set = parameter_set(attrs.require_ulong(CKA_PARAMETER_SET)?)?;
        let (ek_len, dk_len, _) = sizes(set);
        match class {
            CKO_PUBLIC_KEY => {
                let ek = attrs.require_bytes(CKA_VALUE)?;
                if ek.len() != ek_len {
                    return Err(bad_value(
                        "CKA_VALUE is not an encapsulation key of the parameter set",
                    ));
                }
                let key = EncapsulationKey::new(algorithm(set), ek)
                    .map_err(|_| bad_value("CKA_VALUE is not an ML-KEM encapsulation key"))?;
                Ok(MlKemKey {
                    set,
                    encapsulation: Some(key),
                    decapsulation: None,
                })
            }
            CKO_PRIVATE_KEY => {
                let dk = match (attrs.bytes(CKA_SEED), attrs.bytes(CKA_VALUE)) {
                    (Some(seed), value) => {
                        let (_, dk) = keypair_from_seed(set, seed)?;
                        if value.is_some_and(|v| v != dk.as_slice()) {
                            return Err(err(
                                CKR_TEMPLATE_INCONSISTENT,
                                "CKA_VALUE is not the decapsulation key of CKA_SEED",
                            ));
                        }
                        dk
                    }
                    (None, Some(value)) => Zeroizing::new(value.to_vec()),
                    (None, None) => {
                        return Err(err(
                            CKR_TEMPLATE_INCOMPLETE,
                            "an ML-KEM private key needs CKA_SEED or CKA_VALUE",
                        ));
                    }
                };
                if dk.len() != dk_len {
                    return Err(bad_value(
                        "CKA_VALUE is not a decapsulation key of the parameter set",
                    ));
                }
                let key = DecapsulationKey::new(algorithm(set), &dk)
                    .map_err(|_| bad_value("CKA_VALUE is not an ML-KEM decapsulation key"))?;
                Ok(MlKemKey {
                    set,
                    encapsulation: None,
                    decapsulation: Some(key),
                })
            }
            _ => Err(err(
                CKR_KEY_TYPE_INCONSISTENT,
                "not an ML-KEM public or private key",
            )),
        }
    }
}

/// (ek, dk) of the 64-byte seed d || z.
fn keypair_from_seed(set: u16, seed: &[u8]) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
    let seed: &[u8; 64] = seed
        .try_into()
        .map_err(|_| bad_value("CKA_SEED of an ML-KEM key is 64 bytes (d || z)"))?;
    pqc::ml_kem_keypair_from_seed(set, seed)
        .ok_or_else(|| err(CKR_FUNCTION_FAILED, "ML-KEM key generation failed"))
}

/// `CKM_ML_KEM_KEY_PAIR_GEN`: `CKA_PARAMETER_SET` comes from the public template (required).
pub fn generate_key_pair(
    public_template: &Attributes,
    private_template: &Attributes,
) -> Result<(Attributes, Attributes)> {
    super::seeded_key_pair::<64>(
        public_template,
        private_template,
        CKK_ML_KEM,
        |param, seed| keypair_from_seed(parameter_set(param)?, seed),
    )
}

fn key(material: &KeyMaterial) -> Result<&MlKemKey> {
    match material {
        KeyMaterial::MlKem(k) => Ok(k),
        _ => Err(err(CKR_KEY_TYPE_INCONSISTENT, "an ML-KEM key is required")),
    }
}

/// The ciphertext length of the key's parameter set.
pub fn ciphertext_len(mech: &Mechanism, material: &KeyMaterial) -> Result<usize> {
    mech.expect_no_params()?;
    Ok(sizes(key(material)?.set).2)
}

/// ML-KEM.Encaps with an encapsulation key: (ciphertext, 32-byte shared secret).
pub fn encapsulate(
    mech: &Mechanism,
    material: &KeyMaterial,
) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
    mech.expect_no_params()?;
    let ek = key(material)?.encapsulation.as_ref().ok_or_else(|| {
        err(
            CKR_KEY_TYPE_INCONSISTENT,
            "encapsulation needs an ML-KEM public key",
        )
    })?;
    let (ct, ss) = ek
        .encapsulate()
        .map_err(|_| err(CKR_FUNCTION_FAILED, "ML-KEM encapsulation failed"))?;
    Ok((ct.as_ref().to_vec(), Zeroizing::new(ss.as_ref().to_vec())))
}

/// ML-KEM.Decaps with a decapsulation key. A ciphertext of the wrong length is
/// `CKR_ENCRYPTED_DATA_LEN_RANGE`; a wrong ciphertext of the right length gives another secret
/// (implicit rejection, FIPS 203).
pub fn decapsulate(
    mech: &Mechanism,
    material: &KeyMaterial,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    mech.expect_no_params()?;
    let k = key(material)?;
    let dk = k.decapsulation.as_ref().ok_or_else(|| {
        err(
            CKR_KEY_TYPE_INCONSISTENT,
            "decapsulation needs an ML-KEM private key",
        )
    })?;
    if ciphertext.len() != sizes(k.set).2 {
        return Err(err(
            CKR_ENCRYPTED_DATA_LEN_RANGE,
            "the ciphertext has the wrong length for the parameter set",
        ));
    }
    let ss = dk
        .decapsulate(Ciphertext::from(ciphertext))
        .map_err(|_| err(CKR_FUNCTION_FAILED, "ML-KEM decapsulation failed"))?;
    Ok(Zeroizing::new(ss.as_ref().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(param: CK_ULONG) -> (Attributes, Attributes) {
        let mut t = Attributes::new();
        t.set_ulong(CKA_PARAMETER_SET, param);
        generate_key_pair(&t, &Attributes::new()).unwrap()
    }

    #[test]
    fn encapsulated_secrets_agree_for_every_parameter_set() {
        for param in [CKP_ML_KEM_512, CKP_ML_KEM_768, CKP_ML_KEM_1024] {
            let (public, private) = pair(param);
            let ek =
                KeyMaterial::MlKem(MlKemKey::from_attributes(CKO_PUBLIC_KEY, &public).unwrap());
            let dk =
                KeyMaterial::MlKem(MlKemKey::from_attributes(CKO_PRIVATE_KEY, &private).unwrap());
            let m = Mechanism::new(CKM_ML_KEM);
            let (ct, ss) = encapsulate(&m, &ek).unwrap();
            assert_eq!(ct.len(), ciphertext_len(&m, &ek).unwrap());
            assert_eq!(ss.len(), 32);
            assert_eq!(decapsulate(&m, &dk, &ct).unwrap(), ss);
            let mut bad = ct.clone();
            bad[0] ^= 1;
            assert_ne!(decapsulate(&m, &dk, &bad).unwrap(), ss);
            assert_eq!(
                decapsulate(&m, &dk, &ct[1..]).unwrap_err().rv,
                CKR_ENCRYPTED_DATA_LEN_RANGE
            );
        }
    }

    #[test]
    fn the_seed_determines_the_key_and_must_agree_with_the_value() {
        let (public, private) = pair(CKP_ML_KEM_768);
        let seed = private.bytes(CKA_SEED).unwrap();
        assert_eq!(seed.len(), 64);
        let (ek, dk) = keypair_from_seed(768, seed).unwrap();
        assert_eq!(Some(ek.as_slice()), public.bytes(CKA_VALUE));
        assert_eq!(Some(dk.as_slice()), private.bytes(CKA_VALUE));
        // FIPS 203: dk = dk_PKE || ek || H(ek) || z.
        assert_eq!(&dk[1152..1152 + 1184], ek.as_slice());
        let mut only_seed = private.clone();
        only_seed.remove(CKA_VALUE);
        assert!(MlKemKey::from_attributes(CKO_PRIVATE_KEY, &only_seed).is_ok());
        let mut wrong = private.clone();
        wrong.set_bytes(CKA_SEED, vec![1; 64]);
        assert_eq!(
            MlKemKey::from_attributes(CKO_PRIVATE_KEY, &wrong)
                .err()
                .map(|e| e.rv),
            Some(CKR_TEMPLATE_INCONSISTENT)
        );
    }
}
