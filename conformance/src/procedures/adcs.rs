//! `primus.adcs-key-import` (seed 002): the AD CS CA's backup (a PFX with its password, or the
//! PKCS#8 key and the certificate, from the built-in PKI fixtures) is opened, the key paired with
//! its certificate and imported into the token (`pfx::import`), and the pair is tested: one
//! CKA_ID and label, the private key sensitive and not extractable, the key's own certificate,
//! a signature from the token verified with the certificate's public key. The steps that happen
//! outside PKCS#11 (deleting the key from the Windows store, the AD CS registry) are recorded,
//! not replayed. Negative cases: a wrong PFX password and a PFX without its key refused when the
//! backup is opened, a key and certificate that do not match refused at the import; nothing
//! reaches the token.
use super::PlannedObject;
use crate::pfx::{self, PfxError, fixtures};
use crate::runner::{Case, Parties, Run, Stop};
use crate::target::Role;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki_sys::*;
use hsmsim_consoles::backend::calls::Token;
use hsmsim_consoles::backend::objects;

/// The backup files of a case, opened: (PKCS#8 key, certificates).
fn open_backup(case: &str) -> Result<(Vec<u8>, Vec<Vec<u8>>), PfxError> {
    let pw = fixtures::PASSWORD;
    match case {
        "rsa-2048-pfx" => pfx::read_pfx(fixtures::ADCS_CA_PFX, pw),
        "rsa-2048-legacy-pfx" => pfx::read_pfx(fixtures::ADCS_CA_LEGACY_PFX, pw),
        "rsa-2048-chain-pfx" => pfx::read_pfx(fixtures::ADCS_CA_CHAIN_PFX, pw),
        "ec-p256-pfx" => pfx::read_pfx(fixtures::ADCS_EC_CA_PFX, pw),
        "rsa-2048-pkcs8" => {
            pfx::read_pkcs8_and_certificate(fixtures::ADCS_CA_KEY_P8, fixtures::ADCS_CA_CRT_DER)
        }
        "negative:wrong-password" => pfx::read_pfx(fixtures::ADCS_CA_PFX, "Not-The-Password"),
        "negative:non-exportable" => pfx::read_pfx(fixtures::ADCS_CA_NOKEY_PFX, pw),
        "negative:mismatch" => {
            pfx::read_pkcs8_and_certificate(fixtures::ADCS_CA_KEY_P8, fixtures::OTHER_CRT_PEM)
        }
        other => Err(PfxError::Unsupported(format!("unknown case {other}"))),
    }
}

fn refusal(e: PfxError) -> Stop {
    Stop::fail(e.to_string())
}

/// The objects a scenario creates (labelled `ACME Issuing CA-<run tag>`, destroyed when it
/// ends): the imported key pair and certificate on the target; none for the negative cases,
/// which are refused before anything reaches the token.
pub fn planned_objects(case: &Case) -> Vec<PlannedObject> {
    match case {
        Case::Negative(_) => Vec::new(),
        Case::Positive(_) => vec![PlannedObject {
            tagged: true,
            party: Role::Target,
            name: "ACME Issuing CA".into(),
            what: "the CA's private key, public key and certificate".into(),
            made_by: "step 3".into(),
        }],
    }
}

/// Carries out one scenario of the AD CS import.
pub fn run(run: &mut Run<'_>, parties: &Parties) -> Result<(), Stop> {
    let target = parties.get(Role::Target)?;
    let case = run.case.id();
    let ec = case.starts_with("ec-");
    let needs: &[(CK_MECHANISM_TYPE, &str)] = if ec {
        &[(CKM_ECDSA, "CKM_ECDSA")]
    } else {
        &[(CKM_SHA256_RSA_PKCS, "CKM_SHA256_RSA_PKCS")]
    };
    for (m, name) in needs {
        if !target.caps.has(*m) {
            return Err(Stop::NotApplicable(format!(
                "the target token {:?} does not list {name}",
                target.token_label
            )));
        }
    }
    let session = target.session()?;
    let tok = Token::new(&session, &target.module.raw, Some(Role::Target.name()));
    let label = run.name("ACME Issuing CA");
    let outcome = scenario(run, &tok, &case, &label);
    run.cleanup("the scenario's objects on the target", outcome, || {
        crate::evidence::destroy_labelled(&tok, std::slice::from_ref(&label))
    })
}

fn scenario(run: &mut Run<'_>, tok: &Token<'_>, case: &str, label: &str) -> Result<(), Stop> {
    let nothing_on_the_token = |run: &mut Run<'_>| {
        run.check("nothing reached the token", || {
            let found = objects::find(tok, label, None)?;
            if found.is_empty() {
                Ok(format!("objects counted: 0 labelled {label}"))
            } else {
                Err(Stop::fail(format!(
                    "{} objects named {label:?}",
                    found.len()
                )))
            }
        })
    };
    let expected_refusal = match case {
        "negative:wrong-password" => Some((1, "wrong password or damaged file")),
        "negative:non-exportable" => Some((1, "holds no private key")),
        "negative:mismatch" => Some((3, "do not match")),
        _ => None,
    };
    if let Some((1, expected)) = expected_refusal {
        // Refused before anything is sent to the token.
        return run.refused_step_with(1, expected, || {
            open_backup(case).map(|_| ()).map_err(refusal)
        });
    }
    let (key, certs) = run.step(1, || open_backup(case).map_err(refusal))?;
    run.outside_step(
        2,
        "the old key store is the Windows CSP or CNG/KSP, not a PKCS#11 token",
    );
    if let Some((3, expected)) = expected_refusal {
        run.refused_step_with(3, expected, || {
            let kc = pfx::pair(&key, certs.clone()).map_err(refusal)?;
            pfx::import(tok, &kc, label, false).map(|_| ())
        })?;
        return nothing_on_the_token(run);
    }
    let (kc, imported) = run.step(3, || {
        let kc = pfx::pair(&key, certs.clone()).map_err(refusal)?;
        let imported = pfx::import(tok, &kc, label, false)?;
        Ok((kc, imported))
    })?;
    run.outside_step(4, "the AD CS registry is not a PKCS#11 token");
    run.step_noted(5, || {
        // Parallel scenarios import the same fixture key: find this one's by id and label.
        let by_id = tok.find_objects(&[
            Attribute::Id(kc.id.clone()),
            Attribute::Label(label.as_bytes().to_vec()),
        ])?;
        if by_id.len() < 3 {
            return Err(Stop::fail(format!(
                "{} objects have the CKA_ID, expected the private key, public key and certificate",
                by_id.len()
            )));
        }
        pfx::prove_pair(tok, &imported, &kc).map(|proof| ((), proof))
    })?;
    run.check(
        "private key, public key and certificate share CKA_ID and label",
        || {
            for class in [
                ObjectClass::PRIVATE_KEY,
                ObjectClass::PUBLIC_KEY,
                ObjectClass::CERTIFICATE,
            ] {
                let o = objects::find_one(tok, label, class)?;
                let attrs = tok.get_attributes(o, &[AttributeType::Id])?;
                if !attrs
                    .iter()
                    .any(|a| matches!(a, Attribute::Id(v) if *v == kc.id))
                {
                    return Err(Stop::fail(format!("the {class} has another CKA_ID")));
                }
            }
            Ok(format!(
                "objects counted: one each of CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_CERTIFICATE labelled {label}, each with CKA_ID {}",
                objects::hex(&kc.id)
            ))
        },
    )?;
    run.check("the private key is sensitive and not extractable", || {
        let attrs = tok.get_attributes(
            imported.private,
            &[AttributeType::Sensitive, AttributeType::Extractable],
        )?;
        let flag = |want: fn(&Attribute) -> Option<bool>| attrs.iter().find_map(want);
        match (
            flag(|a| match a {
                Attribute::Sensitive(b) => Some(*b),
                _ => None,
            }),
            flag(|a| match a {
                Attribute::Extractable(b) => Some(*b),
                _ => None,
            }),
        ) {
            (Some(true), Some(false)) => {
                Ok("CKA_SENSITIVE true, CKA_EXTRACTABLE false, as read back".into())
            }
            other => Err(Stop::fail(format!(
                "CKA_SENSITIVE / CKA_EXTRACTABLE are {other:?}"
            ))),
        }
    })?;
    run.check("the certificate on the token is the key's own", || {
        let attrs = tok.get_attributes(imported.certificate, &[AttributeType::Value])?;
        let value = attrs.iter().find_map(|a| match a {
            Attribute::Value(v) => Some(v.clone()),
            _ => None,
        });
        if value.as_deref() != Some(kc.certificate.as_slice()) {
            return Err(Stop::fail("the token's certificate is not the key's"));
        }
        let certificates = objects::find(tok, label, Some(ObjectClass::CERTIFICATE))?;
        if certificates.len() != 1 {
            return Err(Stop::fail(format!(
                "{} certificates were imported (the chain's others stay out)",
                certificates.len()
            )));
        }
        Ok(format!(
            "the token's CKA_VALUE equals the backup's certificate ({} bytes); 1 certificate labelled {label} ({} chain certificate(s) of the file left out)",
            kc.certificate.len(),
            kc.others.len()
        ))
    })
}
