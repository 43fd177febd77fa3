//! ML-KEM family (FIPS 203; PKCS#11 3.2): `CKM_ML_KEM_KEY_PAIR_GEN` and `CKM_ML_KEM`
//! (`C_EncapsulateKey` / `C_DecapsulateKey`, no parameter) on `CKK_ML_KEM` keys of
//! ML-KEM-512/768/1024.
//!
//! Keys: `CKA_PARAMETER_SET` (`CKP_ML_KEM_512/768/1024`), public `CKA_VALUE` = the
//! encapsulation key ek, private `CKA_SEED` = d || z (64 bytes) and `CKA_VALUE` = the
//! decapsulation key dk; generation gives both, `C_CreateObject` needs at least one (the seed
//! wins and must agree with a given value; a dk must pass FIPS 203's hash check, H(ek) inside
//! it). Key generation from the seed is aws-lc's (`ffi::pqc`); encapsulation and
//! decapsulation use aws-lc-rs's `kem` module. The shared secret is 32 bytes.
//!
//! `CKA_PUBLIC_KEY_INFO` (the DER SubjectPublicKeyInfo, RFC 9935) is computed for both keys
//! of a generated pair and for an unwrapped private key (ek is inside dk); one given to
//! `C_CreateObject` must be the key's.
//!
//! Wrapping: a private key is PKCS#8 (RFC 9935, written and read by aws-lc's EVP through
//! `ffi::pqc`), in the seed form `[0]` d || z when the key has `CKA_SEED`, else in the
//! expanded form (the dk OCTET STRING). Unwrapping reads the seed, expanded and both forms
//! (both: the seed's key must equal the expanded key); a key with its seed gets `CKA_SEED` as
//! well as `CKA_VALUE`, so it can be wrapped again in the seed form.
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

/// A parsed ML-KEM key: an encapsulation key, or a decapsulation key (with its bytes dk and
/// the seed when known, for wrapping).
pub struct MlKemKey {
    set: u16,
    encapsulation: Option<EncapsulationKey>,
    decapsulation: Option<DecapsulationKey>,
    dk: Option<Zeroizing<Vec<u8>>>,
    seed: Option<Zeroizing<[u8; 64]>>,
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
                super::check_public_key_info(attrs, || public_key_info(set, ek))?;
                Ok(MlKemKey {
                    set,
                    encapsulation: Some(key),
                    decapsulation: None,
                    dk: None,
                    seed: None,
                })
            }
            CKO_PRIVATE_KEY => {
                let (dk, seed) = match (attrs.bytes(CKA_SEED), attrs.bytes(CKA_VALUE)) {
                    (Some(seed), value) => {
                        let (_, dk) = keypair_from_seed(set, seed)?;
                        if value.is_some_and(|v| v != dk.as_slice()) {
                            return Err(err(
                                CKR_TEMPLATE_INCONSISTENT,
                                "CKA_VALUE is not the decapsulation key of CKA_SEED",
                            ));
                        }
                        let mut kept = Zeroizing::new([0u8; 64]);
                        kept.copy_from_slice(seed);
                        (dk, Some(kept))
                    }
                    (None, Some(value)) => (Zeroizing::new(value.to_vec()), None),
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
                let ek = encapsulation_key_of(set, &dk)?;
                super::check_public_key_info(attrs, || public_key_info(set, &ek))?;
                let key = DecapsulationKey::new(algorithm(set), &dk)
                    .map_err(|_| bad_value("CKA_VALUE is not an ML-KEM decapsulation key"))?;
                Ok(MlKemKey {
                    set,
                    encapsulation: None,
                    decapsulation: Some(key),
                    dk: Some(dk),
                    seed,
                })
            }
            _ => Err(err(
                CKR_KEY_TYPE_INCONSISTENT,
                "not an ML-KEM public or private key",
            )),
        }
    }

    /// The private key as PKCS#8 (RFC 9935): the seed form when the seed is known, else the
    /// expanded form.
    pub fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>> {
        let dk = self.dk.as_ref().ok_or_else(|| {
            err(
                CKR_KEY_NOT_WRAPPABLE,
                "only an ML-KEM private key can be wrapped",
            )
        })?;
        pqc::ml_kem_to_pkcs8(self.set, self.seed.as_deref(), dk).ok_or_else(|| {
            err(
                CKR_FUNCTION_FAILED,
                "cannot encode the ML-KEM key as PKCS#8",
            )
        })
    }
}

/// The encapsulation key inside a decapsulation key (FIPS 203: dk = dk_PKE || ek || H(ek) ||
/// z, dk_PKE 384k bytes), after FIPS 203's hash check (§7.3: H(ek) = SHA3-256(ek) as stored).
fn encapsulation_key_of(set: u16, dk: &[u8]) -> Result<Vec<u8>> {
    let (ek_len, dk_len, _) = sizes(set);
    if dk.len() != dk_len {
        return Err(bad_value(
            "CKA_VALUE is not a decapsulation key of the parameter set",
        ));
    }
    let pke_len = ek_len - 32;
    let ek = &dk[pke_len..pke_len + ek_len];
    let hash = &dk[pke_len + ek_len..pke_len + ek_len + 32];
    let computed = pqc::sha3(256, ek).ok_or_else(|| err(CKR_FUNCTION_FAILED, "SHA3-256 failed"))?;
    if computed != hash {
        return Err(bad_value(
            "the ML-KEM decapsulation key fails FIPS 203's hash check",
        ));
    }
    Ok(ek.to_vec())
}

/// The parameter-set value of a set number (512, 768, 1024).
fn parameter_value(set: u16) -> CK_ULONG {
    match set {
        512 => CKP_ML_KEM_512,
        768 => CKP_ML_KEM_768,
        _ => CKP_ML_KEM_1024,
    }
}

/// The DER SubjectPublicKeyInfo of an encapsulation key (`CKA_PUBLIC_KEY_INFO`).
fn public_key_info(set: u16, ek: &[u8]) -> Result<Vec<u8>> {
    pqc::public_key_info(set, ek).ok_or_else(|| {
        err(
            CKR_FUNCTION_FAILED,
            "cannot encode the ML-KEM public key info",
        )
    })
}

/// The attributes of an ML-KEM private key in PKCS#8 (seed, expanded or both forms):
/// `CKA_KEY_TYPE`, `CKA_PARAMETER_SET`, `CKA_VALUE` (dk), `CKA_SEED` (when the PKCS#8 has it) and
/// `CKA_PUBLIC_KEY_INFO`.
pub fn attributes_from_pkcs8(der: &[u8]) -> Result<Attributes> {
    let not_ml_kem = || err(CKR_WRAPPED_KEY_INVALID, "not a PKCS#8 ML-KEM private key");
    let key = pqc::parse_pqc_pkcs8(der).ok_or_else(not_ml_kem)?;
    if !matches!(key.set, 512 | 768 | 1024) {
        return Err(not_ml_kem());
    }
    let ek = encapsulation_key_of(key.set, &key.private).map_err(|_| {
        err(
            CKR_WRAPPED_KEY_INVALID,
            "the ML-KEM key fails FIPS 203's hash check",
        )
    })?;
    if key.public.as_ref().is_some_and(|p| *p != ek) {
        return Err(err(
            CKR_WRAPPED_KEY_INVALID,
            "the ML-KEM key's parts disagree",
        ));
    }
    let mut out = Attributes::new();
    out.set_ulong(CKA_KEY_TYPE, CKK_ML_KEM);
    out.set_ulong(CKA_PARAMETER_SET, parameter_value(key.set));
    out.set_bytes(CKA_VALUE, key.private.to_vec());
    if let Some(seed) = &key.seed {
        out.set_bytes(CKA_SEED, seed.to_vec());
    }
    out.set_bytes(CKA_PUBLIC_KEY_INFO, public_key_info(key.set, &ek)?);
    Ok(out)
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
    let (mut public, mut private) = super::seeded_key_pair::<64>(
        public_template,
        private_template,
        CKK_ML_KEM,
        |param, seed| keypair_from_seed(parameter_set(param)?, seed),
    )?;
    let set = parameter_set(public.require_ulong(CKA_PARAMETER_SET)?)?;
    let info = public_key_info(set, public.require_bytes(CKA_VALUE)?)?;
    public.set_bytes(CKA_PUBLIC_KEY_INFO, info.clone());
    private.set_bytes(CKA_PUBLIC_KEY_INFO, info);
    Ok((public, private))
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

    use crate::crypto::ml_dsa::tests::kat;

    /// FIPS 203 known answers from an independent implementation (kyber-py 1.2.0; see
    /// tests/data/pqc_kat.py, which regenerates tests/data/pqc_kat.txt): for one fixed seed
    /// d || z per parameter set, ek and dk, and the shared secret of a ciphertext kyber-py
    /// encapsulated deterministically to ek (PKCS#11 cannot encapsulate deterministically, so
    /// the module decapsulates it).
    #[test]
    fn known_answers_agree_with_kyber_py() {
        let sha256 = |d: &[u8]| {
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, d)
                .as_ref()
                .to_vec()
        };
        for (set, param) in [
            (512, CKP_ML_KEM_512),
            (768, CKP_ML_KEM_768),
            (1024, CKP_ML_KEM_1024),
        ] {
            let seed = kat(&format!("ml_kem_{set}_seed"));
            let (ek, dk) = keypair_from_seed(set, &seed).unwrap();
            assert_eq!(
                sha256(&ek),
                kat(&format!("ml_kem_{set}_ek_sha256")),
                "ek {set}"
            );
            assert_eq!(
                sha256(&dk),
                kat(&format!("ml_kem_{set}_dk_sha256")),
                "dk {set}"
            );
            let mut attrs = Attributes::new();
            attrs.set_ulong(CKA_PARAMETER_SET, param);
            attrs.set_bytes(CKA_SEED, seed);
            let key =
                KeyMaterial::MlKem(MlKemKey::from_attributes(CKO_PRIVATE_KEY, &attrs).unwrap());
            let ss = decapsulate(
                &Mechanism::new(CKM_ML_KEM),
                &key,
                &kat(&format!("ml_kem_{set}_ct")),
            )
            .unwrap();
            assert_eq!(
                ss.to_vec(),
                kat(&format!("ml_kem_{set}_ss")),
                "shared secret {set}"
            );
        }
    }

    /// PKCS#8 in the seed form when the seed is known (and it comes back with the seed), else
    /// in the expanded form (and it comes back without); both give the same dk and the
    /// SubjectPublicKeyInfo of ek.
    #[test]
    fn private_keys_round_trip_through_both_pkcs8_forms() {
        for (param, last_arc) in [
            (CKP_ML_KEM_512, 1),
            (CKP_ML_KEM_768, 2),
            (CKP_ML_KEM_1024, 3),
        ] {
            let (public, private) = pair(param);
            let info = public.bytes(CKA_PUBLIC_KEY_INFO).unwrap();
            assert_eq!(private.bytes(CKA_PUBLIC_KEY_INFO), Some(info));
            let oid = [
                0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, last_arc,
            ];
            assert!(info.windows(oid.len()).any(|w| w == oid));
            assert!(info.ends_with(public.bytes(CKA_VALUE).unwrap()));

            let seeded = MlKemKey::from_attributes(CKO_PRIVATE_KEY, &private).unwrap();
            let der = seeded.to_pkcs8().unwrap();
            let seed = private.bytes(CKA_SEED).unwrap();
            let mut seed_field = vec![0x80, 0x40];
            seed_field.extend_from_slice(seed);
            assert!(der.ends_with(&seed_field), "seed form [0] d || z");
            let back = attributes_from_pkcs8(&der).unwrap();
            assert_eq!(back.ulong(CKA_PARAMETER_SET), Some(param));
            assert_eq!(back.bytes(CKA_SEED), Some(seed));
            assert_eq!(back.bytes(CKA_VALUE), private.bytes(CKA_VALUE));
            assert_eq!(back.bytes(CKA_PUBLIC_KEY_INFO), Some(info));

            let mut value_only = private.clone();
            value_only.remove(CKA_SEED);
            let expanded = MlKemKey::from_attributes(CKO_PRIVATE_KEY, &value_only)
                .unwrap()
                .to_pkcs8()
                .unwrap();
            assert!(expanded.ends_with(private.bytes(CKA_VALUE).unwrap()));
            let back = attributes_from_pkcs8(&expanded).unwrap();
            assert_eq!(back.bytes(CKA_SEED), None);
            assert_eq!(back.bytes(CKA_VALUE), private.bytes(CKA_VALUE));
            assert_eq!(back.bytes(CKA_PUBLIC_KEY_INFO), Some(info));

            // An ML-DSA reader does not take it, nor does a public key wrap.
            assert!(crate::crypto::ml_dsa::attributes_from_pkcs8(&der).is_err());
            let ek = MlKemKey::from_attributes(CKO_PUBLIC_KEY, &public).unwrap();
            assert_eq!(
                ek.to_pkcs8().err().map(|e| e.rv),
                Some(CKR_KEY_NOT_WRAPPABLE)
            );
        }
    }

    /// A dk whose stored H(ek) is wrong fails FIPS 203's hash check, as a key value and as
    /// an expanded PKCS#8.
    #[test]
    fn a_decapsulation_key_must_pass_the_hash_check() {
        let (_, private) = pair(CKP_ML_KEM_512);
        let mut dk = private.bytes(CKA_VALUE).unwrap().to_vec();
        let good = MlKemKey::from_attributes(CKO_PRIVATE_KEY, &{
            let mut a = private.clone();
            a.remove(CKA_SEED);
            a
        })
        .unwrap();
        let der = good.to_pkcs8().unwrap();
        dk[768 + 800] ^= 1; // the first byte of H(ek)
        let mut bad = private.clone();
        bad.remove(CKA_SEED);
        bad.set_bytes(CKA_VALUE, dk);
        assert_eq!(
            MlKemKey::from_attributes(CKO_PRIVATE_KEY, &bad)
                .err()
                .map(|e| e.rv),
            Some(CKR_ATTRIBUTE_VALUE_INVALID)
        );
        let mut bad_der = der.to_vec();
        let at = bad_der.len() - 1632 + 768 + 800;
        bad_der[at] ^= 1;
        assert_eq!(
            attributes_from_pkcs8(&bad_der).err().map(|e| e.rv),
            Some(CKR_WRAPPED_KEY_INVALID)
        );
        assert!(attributes_from_pkcs8(&der).is_ok());
    }

    /// PKCS#8 written by kyber-py's `pkcs` module in the three forms of RFC 9935 (seed,
    /// expanded, both) reads as the same key, with the seed when the form has it; the
    /// SubjectPublicKeyInfo agrees with kyber-py's for every parameter set.
    #[test]
    fn pkcs8_and_spki_of_kyber_py_agree() {
        let sha256 = |d: &[u8]| {
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, d)
                .as_ref()
                .to_vec()
        };
        for set in [512, 768, 1024] {
            let (ek, _) = keypair_from_seed(set, &kat(&format!("ml_kem_{set}_seed"))).unwrap();
            assert_eq!(
                sha256(&public_key_info(set, &ek).unwrap()),
                kat(&format!("ml_kem_{set}_spki_sha256")),
                "SubjectPublicKeyInfo {set}"
            );
        }
        let seed = kat("ml_kem_768_seed");
        for (form, has_seed) in [("seed", true), ("expanded", false), ("both", true)] {
            let der = kat(&format!("ml_kem_768_pkcs8_{form}"));
            let attrs = attributes_from_pkcs8(&der).unwrap_or_else(|e| panic!("{form}: {e:?}"));
            assert_eq!(attrs.ulong(CKA_PARAMETER_SET), Some(CKP_ML_KEM_768));
            assert_eq!(
                sha256(attrs.bytes(CKA_VALUE).unwrap()),
                kat("ml_kem_768_dk_sha256"),
                "{form}"
            );
            assert_eq!(
                attrs.bytes(CKA_SEED),
                has_seed.then_some(seed.as_slice()),
                "{form}"
            );
            assert_eq!(
                sha256(attrs.bytes(CKA_PUBLIC_KEY_INFO).unwrap()),
                kat("ml_kem_768_spki_sha256"),
                "{form}"
            );
            // The seed and expanded forms are what this module writes.
            if form != "both" {
                let key = MlKemKey::from_attributes(CKO_PRIVATE_KEY, &attrs).unwrap();
                assert_eq!(key.to_pkcs8().unwrap().as_slice(), der.as_slice(), "{form}");
            }
        }
        // "both" with an expanded key of another seed is refused.
        let mut both = kat("ml_kem_768_pkcs8_both");
        let last = both.len() - 1;
        both[last] ^= 1;
        assert!(attributes_from_pkcs8(&both).is_err());
    }
}
