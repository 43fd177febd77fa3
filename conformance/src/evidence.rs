//! What a scenario's outcome checks and cleanup do with objects: the key type a variant names,
//! a copy compared with its original, the objects of a side counted by label, a scenario's
//! objects destroyed (and looked for again), and two keys proven one by using them (an ML-KEM
//! pair by a shared secret encapsulated on one side and decapsulated on the other).
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::dsa::{HedgeType, SignAdditionalContext};
use cryptoki::object::{
    Attribute, AttributeType, KeyType, MlDsaParameterSetType, MlKemParameterSetType, ObjectClass,
    ObjectHandle,
};
use hsmsim_consoles::backend::calls::Token;
use hsmsim_consoles::backend::objects::{KeySpec, Made, Snapshot, find};
use hsmsim_consoles::backend::outcome::{Stop, describe_error};
use std::collections::BTreeMap;

/// The key type a variant id names by its leading part: `aes-128`, `generic-secret`,
/// `rsa-2048`, `ec-p256`, `ml-dsa-65`, `ml-kem-768`.
pub fn key_spec_of_variant(id: &str) -> Option<KeySpec> {
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
        x if x.starts_with("ml-dsa-44") => KeySpec::MlDsa(MlDsaParameterSetType::ML_DSA_44),
        x if x.starts_with("ml-dsa-65") => KeySpec::MlDsa(MlDsaParameterSetType::ML_DSA_65),
        x if x.starts_with("ml-dsa-87") => KeySpec::MlDsa(MlDsaParameterSetType::ML_DSA_87),
        x if x.starts_with("ml-kem-512") => KeySpec::MlKem(MlKemParameterSetType::ML_KEM_512),
        x if x.starts_with("ml-kem-768") => KeySpec::MlKem(MlKemParameterSetType::ML_KEM_768),
        x if x.starts_with("ml-kem-1024") => KeySpec::MlKem(MlKemParameterSetType::ML_KEM_1024),
        _ => return None,
    };
    Some(spec)
}

/// The attributes by type name, their values as text.
fn by_type(snapshot: &Snapshot) -> BTreeMap<String, String> {
    snapshot
        .attributes
        .iter()
        .map(|a| (attribute_name(a.attribute_type()), format!("{a:?}")))
        .collect()
}

/// The `CKA_*` name of an attribute type; cryptoki 0.12.1 prints the PKCS#11 3.2 attributes
/// `CKA_ENCAPSULATE` and `CKA_DECAPSULATE` as "unknown", so they are named here.
fn attribute_name(t: cryptoki::object::AttributeType) -> String {
    match cryptoki_sys::CK_ATTRIBUTE_TYPE::from(t) {
        cryptoki_sys::CKA_ENCAPSULATE => "CKA_ENCAPSULATE".into(),
        cryptoki_sys::CKA_DECAPSULATE => "CKA_DECAPSULATE".into(),
        _ => t.to_string(),
    }
}

/// The differences of `after` from `before`, one line each (empty when equal).
pub fn differences(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let (a, b) = (by_type(before), by_type(after));
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
    let differences = differences(original, copy)
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
    let (a, b) = (by_type(original), by_type(copy));
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

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    let _ = aws_lc_rs::rand::fill(&mut v);
    v
}

/// Proves that `original` (on the origin; with its public key for pairs) and `copy` (on the
/// target) are the same key by using them: encrypt on one side and decrypt on the other (both
/// ways), MAC and verify, sign on the target and verify with the origin's public key, or (ML-KEM)
/// encapsulate with the origin's public key and decapsulate with the copy, then encrypt with
/// each shared secret and decrypt with the other. The evidence says what was done and what came
/// out.
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
            let sizes = round_trips(&data, (origin, original.key), (target, copy))?;
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
        KeySpec::MlDsa(_) => {
            let public = original.public.ok_or_else(|| Stop::fail("no public key"))?;
            // Pure ML-DSA, no context, hedged or not as the token prefers.
            let mechanism =
                Mechanism::MlDsa(SignAdditionalContext::new(HedgeType::Preferred, None));
            let sig = target.sign(&mechanism, copy, &data)?;
            origin
                .verify(&mechanism, public, &data, &sig)
                .map_err(|_| {
                    mismatch(
                        "the target's ML-DSA signature does not verify with the origin's public key",
                    )
                })?;
            Ok(format!(
                "CKM_ML_DSA: the copy's {}-byte signature of {} random bytes verified with the original's public key",
                sig.len(),
                data.len()
            ))
        }
        KeySpec::MlKem(_) => {
            let public = original.public.ok_or_else(|| Stop::fail("no public key"))?;
            prove_same_kem_key((origin, public), (target, copy), &data)
        }
    }
}

/// The template of a shared secret `C_EncapsulateKey` / `C_DecapsulateKey` makes: an AES-256
/// session key that encrypts and decrypts (a session object: never left on a token, and
/// destroyed as soon as the proof is done).
fn shared_secret_template() -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::ValueLen(32.into()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
    ]
}

/// ML-KEM: encapsulates a shared secret with the origin's public key, decapsulates the
/// ciphertext with the copy on the target, and proves the two secrets equal by use (encrypted
/// with each, decrypted with the other; never by reading them). The two session keys are
/// destroyed whatever happened.
fn prove_same_kem_key(
    (origin, public): (&Token<'_>, ObjectHandle),
    (target, copy): (&Token<'_>, ObjectHandle),
    data: &[u8],
) -> Result<String, Stop> {
    let template = shared_secret_template();
    let (ciphertext, sender) = origin.encapsulate_key(&Mechanism::MlKem, public, &template)?;
    let receiver = target.decapsulate_key(&Mechanism::MlKem, copy, &template, &ciphertext);
    let outcome = receiver.map_err(Stop::from).and_then(|receiver| {
        let sizes = round_trips(data, (origin, sender), (target, receiver));
        let _ = target.destroy_object(receiver);
        sizes
    });
    let _ = origin.destroy_object(sender);
    let sizes = outcome?;
    Ok(format!(
        "CKM_ML_KEM: a shared secret encapsulated with the original's public key ({}-byte ciphertext) and decapsulated by the copy, both as AES-256 session keys; CKM_AES_CBC_PAD: {} random bytes encrypted with the origin's secret and decrypted with the target's ({}-byte ciphertext), and the reverse ({}-byte ciphertext): both round-trips equal, so the copy decapsulates as the original does",
        ciphertext.len(),
        data.len(),
        sizes[0],
        sizes[1]
    ))
}

/// Encrypts `data` (AES-CBC-PAD) with each key and decrypts with the other: the ciphertext
/// sizes, or which way did not round-trip.
fn round_trips(
    data: &[u8],
    (origin, origin_key): (&Token<'_>, ObjectHandle),
    (target, target_key): (&Token<'_>, ObjectHandle),
) -> Result<Vec<usize>, Stop> {
    let mut sizes = Vec::new();
    for (from, from_key, to, to_key, way) in [
        (origin, origin_key, target, target_key, "origin -> target"),
        (target, target_key, origin, origin_key, "target -> origin"),
    ] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&random(16));
        let ct = from.encrypt(&Mechanism::AesCbcPad(iv), from_key, data)?;
        let pt = to.decrypt(&Mechanism::AesCbcPad(iv), to_key, &ct)?;
        if pt != data {
            return Err(Stop::fail(format!(
                "the keys differ: AES-CBC-PAD {way} did not round-trip"
            )));
        }
        sizes.push(ct.len());
    }
    Ok(sizes)
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
    fn every_key_migration_variant_names_a_key_spec() {
        let procedures = crate::catalogue::procedures();
        for p in procedures
            .iter()
            .filter(|p| p.id.starts_with("primus.key-migration."))
        {
            for v in &p.variants {
                assert!(key_spec_of_variant(&v.id).is_some(), "{} {}", p.id, v.id);
            }
        }
        assert_eq!(
            key_spec_of_variant("ml-dsa-87-two-step"),
            Some(KeySpec::MlDsa(MlDsaParameterSetType::ML_DSA_87))
        );
        let kem = key_spec_of_variant("ml-kem-512-two-step").unwrap();
        assert_eq!(kem, KeySpec::MlKem(MlKemParameterSetType::ML_KEM_512));
        // A module without ML-KEM is told so by the first mechanism it lacks.
        assert_eq!(kem.mechanisms()[0].1, "CKM_ML_KEM_KEY_PAIR_GEN");
        assert_eq!(kem.parameter_set(), Some(cryptoki_sys::CKP_ML_KEM_512));
        assert_eq!(key_spec_of_variant("ml-dsa-99-two-step"), None);
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
