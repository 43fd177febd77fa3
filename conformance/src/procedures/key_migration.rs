//! `primus.key-migration.symmetric` and `.asymmetric` (seed 001): the key to migrate is made
//! on the origin (the seed assumes it exists), then the six documented steps through the
//! Primus Tools operations of `primus_tools` (the ones `hsmsim primus-tools` types): an RSA-2048
//! transport key `zmk` on the target, its public key exported as DER and imported into the
//! origin, the key wrapped there into a wrapped-key file and unwrapped on the target under the
//! same name, and listed. Outcome: the copy has the original's attributes, is proven the same
//! key by use, and the original is unchanged. Negative case: a non-extractable key is refused at
//! step 4 and nothing changes on either side.
use super::PlannedObject;
use crate::calls::Token;
use crate::objects::{self, KeySpec};
use crate::primus_tools::{self, Transport, WrappedKeyFile};
use crate::runner::{Case, Parties, Run, Stop};
use crate::target::{Party, Role};
use cryptoki::error::RvError;
use cryptoki::object::ObjectClass;
use cryptoki_sys::*;

fn require(party: &Party, mechanism: CK_MECHANISM_TYPE, name: &str) -> Result<(), Stop> {
    if party.caps.has(mechanism) {
        Ok(())
    } else {
        Err(Stop::NotApplicable(format!(
            "the {} token {:?} does not list {name}",
            party.role, party.token_label
        )))
    }
}

/// The documented names of the procedure: transport key and key to migrate.
fn documented_names(procedure: &str) -> (&'static str, &'static str) {
    if procedure.ends_with("asymmetric") {
        ("zmk2", "RSAmig")
    } else {
        ("zmk", "mig")
    }
}

/// The transport of a private key the variant names, after checking both sides have it.
fn private_transport(variant: &str, origin: &Party, target: &Party) -> Result<Transport, Stop> {
    if variant.ends_with("rsa-aes") {
        for p in [origin, target] {
            require(
                p,
                CKM_RSA_AES_KEY_WRAP,
                "CKM_RSA_AES_KEY_WRAP (the -two-step variants do without)",
            )?;
        }
        return Ok(Transport::RsaAesKeyWrap);
    }
    for p in [origin, target] {
        require(p, CKM_AES_KEY_GEN, "CKM_AES_KEY_GEN")?;
    }
    let both = |m| origin.caps.has(m) && target.caps.has(m);
    if both(CKM_AES_KEY_WRAP_KWP) {
        Ok(Transport::RsaOaepAesKeyWrapKwp)
    } else if both(CKM_AES_KEY_WRAP_PAD) {
        Ok(Transport::RsaOaepAesKeyWrapPad)
    } else {
        Err(Stop::NotApplicable(
            "origin and target share neither CKM_AES_KEY_WRAP_KWP nor CKM_AES_KEY_WRAP_PAD".into(),
        ))
    }
}

/// The objects a scenario creates (all labelled `NAME-<run tag>`, destroyed on both sides when
/// it ends): the key to migrate and the transport key's public part on the origin, the
/// transport key pair and (unless the export is refused) the copy on the target.
pub fn planned_objects(procedure: &str, case: &Case) -> Vec<PlannedObject> {
    let (zmk, mig) = documented_names(procedure);
    let negative = matches!(case, Case::Negative(_));
    let key = if procedure.ends_with("asymmetric") {
        "the private key to migrate (a key pair)"
    } else {
        "the secret key to migrate"
    };
    let object = |party, name: &str, what: &str, made_by: &str| PlannedObject {
        party,
        name: name.to_string(),
        what: what.to_string(),
        made_by: made_by.to_string(),
    };
    let mut planned = vec![
        object(Role::Origin, mig, key, "precondition"),
        object(Role::Target, zmk, "RSA-2048 transport key pair", "step 1"),
        object(
            Role::Origin,
            zmk,
            "the transport key's public key",
            "step 3",
        ),
    ];
    if !negative {
        planned.push(object(Role::Target, mig, "the migrated copy", "step 5"));
    }
    planned
}

/// Carries out one scenario of either key-migration procedure.
pub fn run(run: &mut Run<'_>, parties: &Parties) -> Result<(), Stop> {
    let origin = parties.get(Role::Origin)?;
    let target = parties.get(Role::Target)?;
    let negative = run.negative().cloned();
    // Negative cases use the variant they name, else the first.
    let variant = match &negative {
        Some(n) => n
            .variant
            .clone()
            .unwrap_or_else(|| run.procedure.variants[0].id.clone()),
        None => run.case.id(),
    };
    let spec = KeySpec::from_variant(&variant)
        .ok_or_else(|| Stop::fail(format!("unknown variant {variant}")))?;
    // Preconditions: what each side must be able to do.
    require(
        target,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        "CKM_RSA_PKCS_KEY_PAIR_GEN",
    )?;
    for p in [origin, target] {
        require(p, CKM_RSA_PKCS_OAEP, "CKM_RSA_PKCS_OAEP")?;
        for (m, name) in spec.mechanisms() {
            require(p, *m, name)?;
        }
    }
    let transport = if spec.is_secret() {
        Transport::RsaOaep
    } else {
        private_transport(&variant, origin, target)?
    };
    let (o, t) = (origin.session()?, target.session()?);
    let o_tok = Token::new(&o, &origin.module.raw, Some(Role::Origin));
    let t_tok = Token::new(&t, &target.module.raw, Some(Role::Target));
    let (zmk_doc, mig_doc) = documented_names(&run.procedure.id);
    let (zmk, mig) = (run.name(zmk_doc), run.name(mig_doc));
    let outcome = scenario(
        run,
        spec,
        transport,
        negative.is_some(),
        (&o_tok, &t_tok),
        (&zmk, &mig),
    );
    // Clean up the scenario's own objects on both sides, whatever happened.
    let labels = [zmk, mig];
    run.cleanup("the scenario's objects on both sides", outcome, || {
        let on_origin = objects::destroy_labelled(&o_tok, &labels);
        let on_target = objects::destroy_labelled(&t_tok, &labels);
        match (on_origin, on_target) {
            (Ok(a), Ok(b)) => Ok(format!("origin: {a}; target: {b}")),
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    })
}

/// Counts the scenario's objects on each side by name and class: the documented ones and no
/// more (the key and, for a pair, its public key on the origin; the transport key's public
/// key there; the transport pair and the copy, unless refused, on the target).
fn objects_counted(
    (o, t): (&Token<'_>, &Token<'_>),
    (zmk, mig): (&str, &str),
    spec: KeySpec,
    negative: bool,
) -> Result<String, Stop> {
    let expected = [
        ("origin", o, mig, if spec.is_secret() { 1 } else { 2 }),
        ("origin", o, zmk, 1),
        ("target", t, zmk, 2),
        ("target", t, mig, usize::from(!negative)),
    ];
    let (mut seen, mut wrong) = (Vec::new(), Vec::new());
    for (side, tok, label, want) in expected {
        let classes = objects::classes_labelled(tok, label)?;
        let line = format!(
            "{side} {label}: {} ({})",
            classes.len(),
            if classes.is_empty() {
                "none".to_string()
            } else {
                classes.join(", ")
            }
        );
        if classes.len() == want {
            seen.push(line);
        } else {
            wrong.push(format!("{line}, expected {want}"));
        }
    }
    if wrong.is_empty() {
        Ok(format!("objects counted: {}", seen.join("; ")))
    } else {
        Err(Stop::fail(format!(
            "objects counted: {}",
            wrong.into_iter().chain(seen).collect::<Vec<_>>().join("; ")
        )))
    }
}

fn scenario(
    run: &mut Run<'_>,
    spec: KeySpec,
    transport: Transport,
    negative: bool,
    (o, t): (&Token<'_>, &Token<'_>),
    (zmk, mig): (&str, &str),
) -> Result<(), Stop> {
    let (original, before) = run.precondition("the key to migrate exists on the origin", || {
        let original = primus_tools::create_key(o, mig, spec, !negative)?;
        Ok((original, objects::snapshot(o, original.key)?))
    })?;

    run.step(1, || {
        primus_tools::create_key(t, zmk, KeySpec::Rsa { bits: 2048 }, false)
    })?;
    let zmk_der = run.step(2, || primus_tools::get_public_key(t, zmk))?;
    run.step(3, || {
        primus_tools::import_public_key(o, zmk, "RSA", &zmk_der)
    })?;
    let export = || primus_tools::export_key_wrapped(o, zmk, mig, transport);
    if negative {
        run.refused_step(4, RvError::KeyUnextractable, || export().map(|_| ()))?;
        run.check("the origin's key is unchanged", || {
            unchanged(o, original.key, &before)
        })?;
        return run.check("nothing reached the target", || {
            objects_counted((o, t), (zmk, mig), spec, true)
        });
    }
    // The wrapped-key file travels as the seed's `-outfile WrappedKey` would.
    let file = run.step(4, || export().map(|f| f.to_json()))?;
    run.step(5, || {
        let file = WrappedKeyFile::from_json(&file)?;
        primus_tools::import_key_wrapped(t, zmk, &file, mig)
    })?;
    let copy = run.step(6, || {
        primus_tools::list_key_entry(t, mig)?;
        let class = if spec.is_secret() {
            ObjectClass::SECRET_KEY
        } else {
            ObjectClass::PRIVATE_KEY
        };
        objects::find_one(t, mig, class)
    })?;
    run.check(
        "the copy has the original's class, key type, size, label, id and flags",
        || {
            let after = objects::snapshot(t, copy)?;
            let (differences, evidence) = objects::compare_copy(&before, &after);
            if differences.is_empty() {
                Ok(evidence.join("; "))
            } else {
                Err(Stop::fail(differences.join("; ")))
            }
        },
    )?;
    run.check("the copy is the same key, proven by use", || {
        objects::prove_same_key(spec, o, original, t, copy)
    })?;
    run.check("the origin's key is unchanged", || {
        unchanged(o, original.key, &before)
    })?;
    run.check("each side holds the documented objects, no more", || {
        objects_counted((o, t), (zmk, mig), spec, false)
    })
}

fn unchanged(
    o: &Token<'_>,
    original: cryptoki::object::ObjectHandle,
    before: &objects::Snapshot,
) -> Result<String, Stop> {
    let now = objects::snapshot(o, original)?;
    let differences = before.differences(&now);
    if differences.is_empty() {
        Ok(format!(
            "{} attributes read again, all as before",
            now.attributes.len()
        ))
    } else {
        Err(Stop::fail(format!(
            "the origin's key changed: {}",
            differences.join("; ")
        )))
    }
}
