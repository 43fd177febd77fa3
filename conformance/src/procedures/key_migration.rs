//! `primus.key-migration.symmetric` and `.asymmetric` (seed 001): the key to migrate is made
//! on the origin (the seed assumes it exists), then the six documented steps, each the
//! catalogue's vendor command run through the Primus Tools console (the one `hsmsim
//! primus-tools` types) on the step's party: its key names the scenario's own (`zmk` becomes
//! `zmk-<tag>`), its files (`> zmk.der`, `-outfile WrappedKey`) in the scenario's memory, and a
//! private key moved by the transport both parties share. The steps: an RSA-2048 transport
//! key `zmk` on the target, its public key exported as DER and imported into the origin, the
//! key wrapped there into a wrapped-key file and unwrapped on the target under the same name,
//! and listed. Outcome: the copy has the original's attributes, is proven the same
//! key by use, and the original is unchanged. Negative case: a non-extractable key is refused at
//! step 4 and nothing changes on either side. The asymmetric procedure's ML-DSA and ML-KEM
//! variants (PKCS#11 3.2) move the key as the RSA and EC ones do; a side that does not list their
//! mechanisms makes them not applicable, and their proof by use is an ML-DSA signature, or an
//! ML-KEM shared secret encapsulated on the origin and decapsulated by the copy (session keys,
//! destroyed by the proof itself).
use super::PlannedObject;
use crate::evidence;
use crate::runner::{Case, Parties, Run, Stop};
use crate::target::{Party, Role};
use cryptoki::error::RvError;
use cryptoki::object::ObjectClass;
use cryptoki_sys::*;
use hsmsim_consoles::backend::calls::Token;
use hsmsim_consoles::backend::objects::{self, KeySpec};
use hsmsim_consoles::files::MemoryFiles;
use hsmsim_consoles::primus_tools::operations::{self as primus_tools, Transport};
use hsmsim_consoles::primus_tools::{ConsoleError, Invocation, Session, parse_documented};

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
        tagged: true,
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
    let spec = evidence::key_spec_of_variant(&variant)
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
    let o_tok = Token::new(&o, &origin.module.raw, Some(Role::Origin.name()));
    let t_tok = Token::new(&t, &target.module.raw, Some(Role::Target.name()));
    let (zmk_doc, mig_doc) = documented_names(&run.procedure.id);
    let (zmk, mig) = (run.name(zmk_doc), run.name(mig_doc));
    let sides = Sides {
        origin: (&o_tok, &origin.token_label),
        target: (&t_tok, &target.token_label),
        files: MemoryFiles::default(),
        transport,
    };
    let outcome = scenario(run, spec, negative.is_some(), sides, (&zmk, &mig));
    // Clean up the scenario's own objects on both sides, whatever happened.
    let labels = [zmk, mig];
    run.cleanup("the scenario's objects on both sides", outcome, || {
        let on_origin = evidence::destroy_labelled(&o_tok, &labels);
        let on_target = evidence::destroy_labelled(&t_tok, &labels);
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
        let classes = evidence::classes_labelled(tok, label)?;
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

/// The two tokens a scenario's console commands run on (each with its label), the files they
/// pass between them, and the transport of a private key both parties share.
struct Sides<'a> {
    origin: (&'a Token<'a>, &'a str),
    target: (&'a Token<'a>, &'a str),
    files: MemoryFiles,
    transport: Transport,
}

/// Documented step `n`'s vendor command, parsed by the Primus Tools console, its key names the
/// scenario's own.
fn documented_command(run: &Run<'_>, n: u32) -> Result<(Role, Invocation), Stop> {
    let step = run
        .procedure
        .step(n)
        .ok_or_else(|| Stop::fail(format!("the catalogue has no step {n}")))?;
    let mut invocation = parse_documented(&step.vendor)
        .map_err(|e| Stop::fail(format!("the Primus Tools console cannot read it: {e}")))?;
    invocation
        .command
        .rename_keys(|documented| run.name(documented));
    Ok((step.party, invocation))
}

impl Sides<'_> {
    /// Runs a documented command on its party's token through the console; its output (a
    /// redirected one included) stays in the scenario's files.
    fn replay(&mut self, command: Result<(Role, Invocation), Stop>) -> Result<(), Stop> {
        let (party, invocation) = command?;
        let (tok, label) = match party {
            Role::Origin => self.origin,
            Role::Target => self.target,
        };
        Session::new(tok, label, &mut self.files)
            .with_private_key_transport(self.transport)
            .run_invocation(&invocation)
            .map(drop)
            .map_err(|e| match e {
                ConsoleError::Refused { stop, .. } => stop,
                ConsoleError::Usage(message) => Stop::fail(message),
            })
    }
}

fn scenario(
    run: &mut Run<'_>,
    spec: KeySpec,
    negative: bool,
    mut sides: Sides<'_>,
    (zmk, mig): (&str, &str),
) -> Result<(), Stop> {
    let (o, t) = (sides.origin.0, sides.target.0);
    let (original, before) = run.precondition("the key to migrate exists on the origin", || {
        let original = primus_tools::create_key(o, mig, spec, !negative)?;
        Ok((original, objects::snapshot(o, original.key)?))
    })?;

    for n in 1..=3 {
        let command = documented_command(run, n);
        run.step(n, || sides.replay(command))?;
    }
    let export = documented_command(run, 4);
    if negative {
        run.refused_step(4, RvError::KeyUnextractable, || sides.replay(export))?;
        run.check("the origin's key is unchanged", || {
            unchanged(o, original.key, &before)
        })?;
        return run.check("nothing reached the target", || {
            objects_counted((o, t), (zmk, mig), spec, true)
        });
    }
    // The wrapped-key file travels as the seed's `-outfile WrappedKey` would.
    run.step(4, || sides.replay(export))?;
    let import = documented_command(run, 5);
    run.step(5, || sides.replay(import))?;
    let list = documented_command(run, 6);
    let copy = run.step(6, || {
        sides.replay(list)?;
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
            let (differences, evidence) = evidence::compare_copy(&before, &after);
            if differences.is_empty() {
                Ok(evidence.join("; "))
            } else {
                Err(Stop::fail(differences.join("; ")))
            }
        },
    )?;
    run.check("the copy is the same key, proven by use", || {
        evidence::prove_same_key(spec, o, original, t, copy)
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
    let differences = evidence::differences(before, &now);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_step_is_a_command_the_primus_tools_console_reads() {
        let procedures = crate::catalogue::procedures();
        let migrations: Vec<_> = procedures
            .iter()
            .filter(|p| p.id.starts_with("primus.key-migration."))
            .collect();
        assert_eq!(migrations.len(), 2);
        for p in migrations {
            for step in &p.steps {
                let parsed = parse_documented(&step.vendor);
                assert!(parsed.is_ok(), "{} step {}: {parsed:?}", p.id, step.n);
            }
        }
    }
}
