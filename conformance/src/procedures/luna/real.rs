//! The Luna procedures against a real Luna client library: `--origin` and `--target` are
//! PKCS#11 URIs naming two tokens of one library that exports the `CA_*` functions (the source
//! 5.x/6.x partition and an initialised 7.x partition of the same cloning domain). The clone
//! procedures type the guide's LunaCM commands into console workers on that library
//! (`Host::spawn_module`), with the source's login command of its firmware era
//! (`CA_GetFirmwareVersion`, shown by `slot list`) and the tokens' real slot ids. What a real
//! token must never suffer is not replayed: no `partition init`, no `role init` (the destination
//! must be initialised already), no `-objects 0` (it would copy the user's other objects too:
//! the scenario clones its own objects by handle). The scenario's mix is destroyed on both
//! tokens at cleanup, which checks nothing labelled with the run's tag is left. Backup/restore
//! and HA (`partition archive`, `hagroup` have no `CA_*` call), variants the tokens are not, and
//! negative cases that need a changed token are "not applicable" with the reason.
use super::objects;
use super::variants::{LunaVariant, Source};
use super::worker::{ObjectInfo, Request, Response};
use super::{Host, negative_id};
use crate::runner::{Case, Parties, Run, Stop};
use crate::target::Party;
use std::path::PathBuf;

const LUNACM: &str = "lunacm:>";
/// HSM policy 41: per-partition SO (PPSO) on 6.22+ firmware.
const HSM_POLICY_PER_PARTITION_SO: u64 = 41;

/// What a step that would initialise something on the destination says instead.
const NO_PARTITION_INIT: &str = "hsmsim never initialises a partition of a real HSM; the destination must be initialised already";
const NO_ROLE_INIT: &str = "hsmsim never initialises a role of a real HSM (`role init`); the destination's Crypto Officer must exist already";

/// One of the two tokens, as the run found it.
struct Token {
    slot: u64,
    label: String,
    pin: Option<String>,
    firmware: (u64, u64, u64),
    ped: bool,
}

impl Token {
    fn of(party: &Party) -> Result<Token, Stop> {
        let slot = party.slot.id();
        let firmware = party.module.raw.firmware(slot).map_err(|rv| {
            Stop::NotApplicable(format!(
                "{}: CA_GetFirmwareVersion answers {}: the procedures choose their commands by the partition's firmware",
                party.describe(),
                hsmsim_consoles::backend::outcome::rv_name(rv)
            ))
        })?;
        Ok(Token {
            slot,
            label: party.token_label.clone(),
            pin: party.pin_for_worker().map_err(Stop::fail)?,
            firmware,
            ped: party.caps.protected_auth_path,
        })
    }

    fn firmware_text(&self) -> String {
        let (major, minor, sub) = self.firmware;
        format!("{major}.{minor}.{sub}")
    }

    fn describe(&self) -> String {
        format!(
            "slot {} {:?}, firmware {}, {}",
            self.slot,
            self.label,
            self.firmware_text(),
            if self.ped { "PED" } else { "password" }
        )
    }

    fn secrets(&self) -> Vec<&str> {
        self.pin.iter().map(String::as_str).collect()
    }
}

/// The two tokens of one Luna client library.
struct Pair {
    module: PathBuf,
    source: Token,
    target: Token,
    /// The source's firmware era (`None`: not a source the guide or a negative case knows).
    era: Option<Source>,
}

impl Pair {
    fn of(parties: &Parties) -> Result<Pair, Stop> {
        let (Some(origin), Some(target)) = (&parties.origin, &parties.target) else {
            return Err(Stop::NotApplicable(
                "the Luna procedures need an origin and a target: two tokens of one Luna client library".into(),
            ));
        };
        for party in [origin, target] {
            if !party.caps.ca_extensions {
                return Err(Stop::NotApplicable(format!(
                    "{}: the library {} exports no CA_* extensions (no CA_GetFunctionList): LunaCM drives a Luna client library",
                    party.describe(),
                    party.module.path.display()
                )));
            }
        }
        if origin.module.path != target.module.path {
            return Err(Stop::NotApplicable(format!(
                "the origin ({}) and the target ({}) are tokens of two libraries: LunaCM clones between two slots of one Luna client library",
                origin.module.path.display(),
                target.module.path.display()
            )));
        }
        if origin.slot.id() == target.slot.id() {
            return Err(Stop::NotApplicable(format!(
                "the origin and the target are the same token (slot {}): the procedures copy a partition onto another",
                origin.slot.id()
            )));
        }
        let source = Token::of(origin)?;
        let era = match source.firmware {
            (5, _, _) => Some(Source::Luna5),
            (6, minor, _) if minor >= 22 => {
                match origin
                    .module
                    .raw
                    .hsm_policy(source.slot, HSM_POLICY_PER_PARTITION_SO)
                {
                    Ok(0) => Some(Source::PrePpso6),
                    _ => Some(Source::Ppso6),
                }
            }
            (6, _, _) => Some(Source::PrePpso6),
            (major, minor, _) if (major, minor) >= (7, 7) => Some(Source::Luna77),
            _ => None,
        };
        Ok(Pair {
            module: origin.module.path.clone(),
            source,
            target: Token::of(target)?,
            era,
        })
    }

    /// The source is one of the guide's (5.x, 6.x) and the destination a 7.x partition.
    fn guide_pair(&self) -> bool {
        matches!(
            self.era,
            Some(Source::Luna5 | Source::PrePpso6 | Source::Ppso6)
        ) && self.target.firmware.0 >= 7
    }

    fn target_77(&self) -> bool {
        (self.target.firmware.0, self.target.firmware.1) >= (7, 7)
    }

    fn describe(&self) -> String {
        format!(
            "the origin is {}, the target {}",
            self.source.describe(),
            self.target.describe()
        )
    }

    /// The source's Crypto Officer login as its firmware era types it.
    fn source_login(&self) -> &'static str {
        self.era.unwrap_or(Source::Luna77).login_command()
    }
}

/// How a case runs on the real tokens.
#[derive(Debug, Clone, Copy, Default)]
struct Plan {
    /// The source login is skipped (`co-not-logged-in`).
    skip_login: bool,
    /// `role login -name co` is typed first and refused by LunaCM (`co-on-ppso6`).
    abbreviation_first: bool,
    /// The clone (step 5) must be refused with this.
    refused: Option<&'static str>,
}

/// The plan of `case` on `pair`, or why it cannot run there.
fn plan(case: &Case, pair: &Pair) -> Result<Plan, Stop> {
    let na = |why: String| Err(Stop::NotApplicable(format!("{why} ({})", pair.describe())));
    let same_auth = pair.source.ped == pair.target.ped;
    let Some(negative) = negative_id(case) else {
        let Case::Positive(v) = case else {
            return Err(Stop::fail("not a positive case"));
        };
        let Some(wanted) = LunaVariant::parse(&v.id) else {
            return na(format!(
                "variant {}: not a variant of the Luna matrix",
                v.id
            ));
        };
        if !pair.guide_pair() {
            return na("the guide migrates a 5.x/6.x partition to a 7.x partition".into());
        }
        if !same_auth {
            return na("the guide's variants use one authentication method on both HSMs (the auth-differs negative case runs on these tokens)".into());
        }
        let these = LunaVariant {
            source: pair.era.unwrap_or(Source::Luna77),
            ped: pair.source.ped,
            target_77: pair.target_77(),
        };
        if these != wanted {
            return na(format!(
                "this variant is {}; these tokens are variant {}",
                wanted.describe(),
                these.id()
            ));
        }
        return Ok(Plan::default());
    };
    match negative {
        "co-not-logged-in" if pair.guide_pair() && same_auth => Ok(Plan {
            skip_login: true,
            refused: Some("CKR_USER_NOT_LOGGED_IN"),
            ..Plan::default()
        }),
        "co-on-ppso6" if pair.guide_pair() && same_auth && pair.era == Some(Source::Ppso6) => {
            Ok(Plan {
                abbreviation_first: true,
                ..Plan::default()
            })
        }
        "auth-differs" if pair.guide_pair() && !same_auth => Ok(Plan {
            refused: Some("CKR_"),
            ..Plan::default()
        }),
        "v0-to-pre77" if pair.era == Some(Source::Luna77) && pair.target.firmware.0 == 7 && !pair.target_77() => {
            Ok(Plan {
                refused: Some("CKR_"),
                ..Plan::default()
            })
        }
        "co-not-logged-in" => na("the case needs the guide's pair: a 5.x/6.x source and a 7.x destination of one authentication method".into()),
        "co-on-ppso6" => na("the case needs a 6.22+ PPSO source (before 7.x)".into()),
        "auth-differs" => na("the case needs a destination whose authentication method differs from the source's; hsmsim never re-initialises a real HSM".into()),
        "v0-to-pre77" => na("the case needs a 7.7+ (V0) source and a 7.0-7.6 destination".into()),
        "v1-to-pre77" => na("the case needs a 7.7+ V1 source (partition policy 41) and a 7.0-7.6 destination; hsmsim never changes a real partition's policies".into()),
        "reinit-with-objects" => na("hsmsim never types `partition init` on a real HSM's partition, not even to answer 'quit' at LunaCM's prompt".into()),
        "domain-mismatch" | "domain-mismatch-red-key" | "domain-mismatch-77-source" => na("the case needs a destination initialised with another cloning domain; hsmsim never initialises a partition of a real HSM".into()),
        "policy-0-off" | "policy-4-off" => na(format!(
            "the case needs source partition policy {} off; hsmsim never changes a real partition's policies",
            if negative == "policy-0-off" { 0 } else { 4 }
        )),
        other => na(format!(
            "the {other} case needs a changed lab; hsmsim never changes a real HSM to make one"
        )),
    }
}

/// Carries out one scenario of a Luna procedure on the tokens the URIs name.
pub(super) fn run(run: &mut Run<'_>, parties: &Parties) -> Result<(), Stop> {
    let pair = Pair::of(parties)?;
    let id = run.procedure.id.clone();
    match id.rsplit('.').next() {
        Some("clone") => {}
        Some("backup-restore") => {
            return Err(Stop::NotApplicable(
                "`partition archive backup` and `restore` have no CA_* call (the Backup HSM is driven by LunaCM itself): LunaCM's version of them runs on the simulator's Luna lab only (`--origin sim --target sim`)".into(),
            ));
        }
        Some("ha") => {
            return Err(Stop::NotApplicable(
                "`hagroup` has no CA_* call (the HA group lives in the client's configuration): LunaCM's version of it runs on the simulator's Luna lab only (`--origin sim --target sim`)".into(),
            ));
        }
        _ => return Err(Stop::fail(format!("{id}: unknown Luna method"))),
    }
    let plan = plan(run.case, &pair)?;
    let tag = run.tag.clone();
    let mut evidence = run.precondition(
        "the evidence worker (its own process on the Luna client library)",
        || Host::spawn_module(&pair.module, "origin"),
    )?;
    let outcome = clone(run, &pair, plan, &tag, &mut evidence);
    let cleaned = run.cleanup(
        "the scenario's objects destroyed on both tokens",
        outcome,
        || remove_mix(&mut evidence, &pair, &tag),
    );
    // A PIN a worker saw refused is never tried again, by this scenario's cleanup (the
    // evidence worker logged in to both tokens before any step) or by a later scenario.
    if run.steps.iter().any(|s| refuses_pin(&s.detail)) {
        for party in [&parties.origin, &parties.target].into_iter().flatten() {
            party.note_pin_refused();
        }
    }
    cleaned
}

/// Whether a worker's detail says a login was refused for its PIN (the codes the pre-flight
/// treats so).
fn refuses_pin(detail: &str) -> bool {
    [
        "CKR_PIN_INCORRECT",
        "CKR_PIN_LOCKED",
        "CKR_PIN_EXPIRED",
        "CKR_PIN_INVALID",
        "CKR_PIN_LEN_RANGE",
    ]
    .iter()
    .any(|code| detail.contains(code))
}

/// The scenario's objects on `token` (labels containing the run's tag).
fn tagged(host: &mut Host, token: &Token, tag: &str) -> Result<Vec<ObjectInfo>, Stop> {
    objects(
        host,
        &Request::Inventory {
            slot: token.slot,
            pin: token.pin.clone(),
            filter: Some(tag.to_string()),
        },
    )
}

/// Types `lines` (command, proceed answer, password answers) on `host`; the transcript, or a
/// failure whose detail is the transcript ending with the refusal.
fn typed(host: &mut Host, lines: &[(&str, Vec<&str>)]) -> Result<String, Stop> {
    let mut transcript = Vec::new();
    for (line, secrets) in lines {
        let t = host.lunacm(line, Some("proceed"), secrets)?;
        transcript.push(t.transcript(&format!("[{}] {LUNACM}", host.name)));
        if t.status != "done" {
            let why = t.code.unwrap_or(t.status);
            return Err(Stop::fail(format!(
                "{}\n`{line}` ended: {why}",
                transcript.join("\n")
            )));
        }
    }
    Ok(transcript.join("\n"))
}

fn clone(
    run: &mut Run<'_>,
    pair: &Pair,
    plan: Plan,
    tag: &str,
    evidence: &mut Host,
) -> Result<(), Stop> {
    let (source, target) = (&pair.source, &pair.target);
    let before = run.precondition(
        "the realistic mix on the source: RSA-2048 and EC P-256 pairs, AES-256 and 3DES keys, a certificate, a data object, labelled with the run's tag (the evidence worker logs in to both tokens, once each)",
        || {
            let made = objects(
                evidence,
                &Request::Provision {
                    slot: source.slot,
                    pin: source.pin.clone(),
                    tag: tag.to_string(),
                },
            )?;
            if made.len() != 8 {
                return Err(Stop::fail(format!("{} objects made, 8 expected", made.len())));
            }
            // The evidence worker's one login to the destination, before any step: the
            // checks and the cleanup reuse it.
            let there = tagged(evidence, target, tag)?;
            if !there.is_empty() {
                return Err(Stop::fail(format!(
                    "the destination already holds {} object(s) labelled with the run's tag",
                    there.len()
                )));
            }
            Ok(made)
        },
    )?;
    let mut host = run.precondition("LunaCM on the Luna client library", || {
        Host::spawn_module(&pair.module, "target")
    })?;
    run.outside_step(
        1,
        &format!(
            "{NO_PARTITION_INIT} (slot {}, {:?})",
            target.slot, target.label
        ),
    );
    run.outside_step(2, NO_ROLE_INIT);
    let slot_set = format!("slot set -slot {}", source.slot);
    run.step_noted(3, || {
        let mut t = typed(&mut host, &[("slot list", Vec::new())])?;
        if !t.contains(&source.firmware_text()) {
            return Err(Stop::fail(format!(
                "{t}\n`slot list` does not show the source's firmware {}",
                source.firmware_text()
            )));
        }
        t.push('\n');
        t.push_str(&typed(&mut host, &[(&slot_set, Vec::new())])?);
        if plan.skip_login {
            t.push_str("\nthe Crypto Officer login is skipped (negative case)");
            return Ok(((), t));
        }
        if plan.abbreviation_first {
            // LunaCM refuses the abbreviation itself: the token sees no login.
            match typed(&mut host, &[("role login -name co", Vec::new())]) {
                Err(Stop::Fail { detail, .. }) => {
                    t.push_str(&format!("\n{detail}\nrefused by LunaCM as the guide warns (no login reached the token); typed as the guide says for PPSO firmware:"));
                }
                Ok(_) => {
                    return Err(Stop::fail(format!(
                        "{t}\n`role login -name co` was accepted on a 6.22+ PPSO source"
                    )));
                }
                Err(other) => return Err(other),
            }
        }
        t.push('\n');
        t.push_str(&typed(&mut host, &[(pair.source_login(), source.secrets())])?);
        Ok((
            (),
            format!(
                "{t}\nthe login command of the source's firmware {} (CA_GetFirmwareVersion, as `slot list` shows)",
                source.firmware_text()
            ),
        ))
    })?;
    run.step_noted(4, || {
        typed(&mut host, &[("partition contents", Vec::new())]).map(|t| ((), t))
    })?;
    let handles: Vec<String> = before.iter().map(|o| o.handle.to_string()).collect();
    let clone_line = format!(
        "partition clone -objects {} -slot {}",
        handles.join(","),
        target.slot
    );
    let note = format!(
        "the clone names the scenario's own {} objects by handle: `-objects 0` would copy the token's other objects too",
        before.len()
    );
    let clone_it = |host: &mut Host| typed(host, &[(&clone_line, target.secrets())]);
    match plan.refused {
        Some(expected) => run.refused_step_with(5, expected, || match clone_it(&mut host) {
            Err(Stop::Fail { detail, .. }) => Err(Stop::fail(format!("{note}\n{detail}"))),
            other => other.map(|_| ()),
        })?,
        None => run.step_noted(5, || {
            clone_it(&mut host).map(|t| ((), format!("{note}\n{t}")))
        })?,
    }
    run.step_noted(6, || {
        let set = format!("slot set -slot {}", target.slot);
        typed(
            &mut host,
            &[
                (&set, Vec::new()),
                ("role login -name co", target.secrets()),
                ("partition contents", Vec::new()),
            ],
        )
        .map(|t| ((), t))
    })?;
    drop(host);
    check(run, pair, evidence, tag, &before, plan.refused.is_none())
}

/// The outcome checks: the source's objects of the scenario unchanged; the destination holds
/// them all (or none after a refusal), attribute for attribute, and every key is the same key.
fn check(
    run: &mut Run<'_>,
    pair: &Pair,
    evidence: &mut Host,
    tag: &str,
    before: &[ObjectInfo],
    copied: bool,
) -> Result<(), Stop> {
    run.check("the source is unchanged (the scenario's objects)", || {
        let after = tagged(evidence, &pair.source, tag)?;
        if after != before {
            return Err(Stop::fail(format!(
                "the source's objects changed: before {before:?}, after {after:?}"
            )));
        }
        Ok(format!(
            "{} objects, every attribute and OUID as before",
            after.len()
        ))
    })?;
    run.check(
        "the destination holds the source's objects (none after a refusal): labels, classes, key types, policy attributes, CKA_OUIDs",
        || {
            let have = tagged(evidence, &pair.target, tag)?;
            let want: &[ObjectInfo] = if copied { before } else { &[] };
            let same = |a: &ObjectInfo, b: &ObjectInfo| {
                (&a.label, &a.class, &a.key_type, &a.ouid, &a.attributes)
                    == (&b.label, &b.class, &b.key_type, &b.ouid, &b.attributes)
            };
            if have.len() != want.len() || have.iter().zip(want).any(|(h, w)| !same(h, w)) {
                return Err(Stop::fail(format!(
                    "the destination holds {have:?}, expected {want:?}"
                )));
            }
            if have.is_empty() {
                return Ok("no object of the scenario on the destination (the clone was refused)".into());
            }
            Ok(format!(
                "{} objects of the scenario on the destination, each equal to its source in label, class, key type, CKA_OUID and {} compared attributes",
                have.len(),
                have.iter().map(|o| o.attributes.len()).sum::<usize>()
            ))
        },
    )?;
    if !copied {
        return Ok(());
    }
    run.check("every key proven the same by use", || {
        super::prove_by_use(
            evidence,
            &(pair.source.slot, pair.source.pin.clone()),
            &(pair.target.slot, pair.target.pin.clone()),
            tag,
            |_| false,
        )
    })
}

/// Destroys the scenario's objects on both tokens and checks none is left.
fn remove_mix(evidence: &mut Host, pair: &Pair, tag: &str) -> Result<String, Stop> {
    let mut notes = Vec::new();
    for (side, token) in [("source", &pair.source), ("destination", &pair.target)] {
        let detail = match evidence.ask(&Request::Destroy {
            slot: token.slot,
            pin: token.pin.clone(),
            filter: tag.to_string(),
        })? {
            Response::Done { detail, .. } => detail,
            Response::Failed { detail, .. } => {
                return Err(Stop::fail(format!(
                    "the {side} (slot {}): {detail}; objects labelled *{tag} may be left",
                    token.slot
                )));
            }
            other => return Err(Stop::fail(format!("unexpected answer {other:?}"))),
        };
        let left = tagged(evidence, token, tag)?;
        if !left.is_empty() {
            return Err(Stop::fail(format!(
                "the {side} (slot {}) still holds {} object(s) of the scenario: {:?}",
                token.slot,
                left.len(),
                left.iter().map(|o| &o.label).collect::<Vec<_>>()
            )));
        }
        notes.push(format!("{side} (slot {}): {detail}", token.slot));
    }
    Ok(format!(
        "{}; no object labelled with the run's tag {tag} is left on either token",
        notes.join("; ")
    ))
}
