//! The steps of the Luna procedures as the guide types them, for the three methods (backup and
//! restore through a Backup HSM, on one host or across two; `partition clone`; a temporary HA
//! group), with the login command of the source's firmware era, PED or password credentials,
//! the guide's as-printed step 1 and the negative cases, then the outcome checks.
use super::lab::{self, Changes, Layout, ScenarioLab};
use super::variants::{LunaVariant, Source};
use super::worker::{ObjectInfo, Request, Response};
use super::{Host, Typed, negative_id, objects};
use crate::runner::{Case, Parties, Run, Stop};
use std::collections::BTreeMap;

/// The fixtures' shared cloning domain and Backup HSM SO password.
const DOMAIN: &str = "acme-migration-domain";
const OTHER_DOMAIN: &str = "another-cloning-domain";
const BACKUP_SO: &str = "SO-backup-2020";
/// What the scenarios set on the destination (the fixtures' suggestions).
const TARGET_LABEL: &str = "mig-7x-par";
const TARGET_PO: &str = "PO-dst7-2024";
const TARGET_CO: &str = "CO-dst7-2024";
/// The Crypto Officer's initial password, changed in its first session (HSM policy 21).
const TARGET_CO_INITIAL: &str = "CO-dst7-initial";
const BACKUP_LABEL: &str = "mig-bak";
const BACKUP_PASSWORD: &str = "BAK-mig-2024";
const GROUP_LABEL: &str = "mig-ha";
const CHALLENGE: &str = "CHAL-co-2024";
const LUNACM: &str = "lunacm:>";

/// The procedure's method: the last part of its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    BackupRestore,
    Clone,
    Ha,
}

/// A scenario's credentials and hosts.
struct Scenario {
    variant: LunaVariant,
    layout: Layout,
    negative: Option<String>,
    lab: ScenarioLab,
    source_label: String,
    /// The source Crypto Officer's (partition owner's) password; none on a PED.
    source_co: Option<String>,
    source_so: Option<String>,
    /// The destination's; the HA method gives its CO the source's (members share it).
    target_po: Option<String>,
    target_co: Option<String>,
    /// The destination is PED-authenticated.
    target_ped: bool,
    /// What the destination's PED is presented (another red key for a domain mismatch).
    target_ped_keys: Option<String>,
    tag: String,
}

fn pw(p: &Option<String>) -> Vec<&str> {
    p.iter().map(String::as_str).collect()
}

impl Scenario {
    fn negative(&self, id: &str) -> bool {
        self.negative.as_deref() == Some(id)
    }

    fn source_ped(&self) -> bool {
        self.variant.ped
    }
}

/// Types `lines` in order on `host`; the transcript of what ran, or a failure whose detail
/// is the transcript and ends with the refusal (`: CKR_...`, `: aborted`).
pub fn type_lines(host: &mut Host, lines: &[Line<'_>]) -> Result<(String, Vec<Typed>), Stop> {
    let mut transcript = String::new();
    let mut typed = Vec::new();
    for (line, proceed, secrets) in lines {
        let t = host.lunacm(line, *proceed, secrets)?;
        if !transcript.is_empty() {
            transcript.push('\n');
        }
        transcript.push_str(&t.transcript(&format!("[{}] {LUNACM}", host.name)));
        if t.status != "done" {
            let why = t.code.clone().unwrap_or_else(|| t.status.clone());
            return Err(Stop::fail(format!("{transcript}\n`{line}` ended: {why}")));
        }
        typed.push(t);
    }
    Ok((transcript, typed))
}

/// A command line to type, the answer to its proceed prompt and its password answers.
pub type Line<'a> = (String, Option<&'a str>, Vec<&'a str>);

/// A line to type, answered "proceed" where it asks, with no password.
pub fn line(text: impl Into<String>) -> Line<'static> {
    (text.into(), Some("proceed"), Vec::new())
}

fn with<'a>(text: impl Into<String>, secrets: Vec<&'a str>) -> Line<'a> {
    (text.into(), Some("proceed"), secrets)
}

/// The variant a case runs: its own, or the one its negative needs.
fn variant_of(case: &Case) -> Result<LunaVariant, Stop> {
    match case {
        Case::Positive(v) if v.id == "as-printed" => Ok(LunaVariant::BASE),
        Case::Positive(v) => LunaVariant::parse(&v.id)
            .ok_or_else(|| Stop::fail(format!("unknown Luna variant {}", v.id))),
        Case::Negative(n) => Ok(match n.id.as_str() {
            "co-on-ppso6" => LunaVariant {
                source: Source::Ppso6,
                ..LunaVariant::BASE
            },
            "old-backup-hsm-for-77-source"
            | "v0-to-pre77"
            | "v1-to-pre77"
            | "ha-77-primary-over-older" => LunaVariant {
                source: Source::Luna77,
                ..LunaVariant::BASE
            },
            "ha-ped-no-policy-22" | "domain-mismatch-red-key" => LunaVariant {
                ped: true,
                ..LunaVariant::BASE
            },
            "domain-mismatch-77-source" => LunaVariant {
                source: Source::Luna77,
                target_77: true,
                ..LunaVariant::BASE
            },
            _ => LunaVariant::BASE,
        }),
    }
}

pub fn run(run: &mut Run<'_>, parties: &Parties) -> Result<(), Stop> {
    // A run against PKCS#11 URIs replays on the module those name (`real`).
    if [&parties.origin, &parties.target]
        .into_iter()
        .flatten()
        .any(|p| !p.module.simulator || p.name != "sim")
    {
        return super::real::run(run, parties);
    }
    let id = run.procedure.id.clone();
    let method = match id.rsplit('.').next() {
        Some("backup-restore") => Method::BackupRestore,
        Some("clone") => Method::Clone,
        Some("ha") => Method::Ha,
        _ => return Err(Stop::fail(format!("{id}: unknown Luna method"))),
    };
    let layout = lab::layout(&id).ok_or_else(|| Stop::fail(format!("{id}: no lab layout")))?;
    let variant = variant_of(run.case)?;
    let negative = negative_id(run.case).map(str::to_string);
    let neg = |n: &str| negative.as_deref() == Some(n);
    let changes = Changes {
        source_firmware: variant.source.firmware().to_string(),
        target_firmware: variant.target_firmware().to_string(),
        ped: variant.ped,
        target_auth_differs: neg("auth-differs"),
        source_policies: if neg("policy-0-off") {
            vec![(0, 0)]
        } else if neg("v1-to-pre77") {
            // Partition policy 41: a V1 partition (7.7+, Scalable Key Storage).
            vec![(41, 1)]
        } else if neg("policy-4-off") {
            vec![(4, 0)]
        } else {
            Vec::new()
        },
        backup_memory: neg("backup-hsm-too-small").then_some(4000),
        backup_firmware: neg("old-backup-hsm-for-77-source").then(|| "6.27.0".to_string()),
        source_admin: method == Method::Ha && layout.source_is_appliance,
    };
    let tag = run.tag.clone();
    let mut sc = run.precondition(
        "the scenario's lab, from the chapter's built-in lab",
        || {
            let lab = lab::make(&layout, &changes)?;
            let selection = lab.selection(None)?;
            let source_partition = format!("{}/app", layout.source_device);
            let preset = selection
                .lab
                .partitions()
                .into_iter()
                .find(|(p, _, _)| p.to_string() == source_partition)
                .and_then(|(_, _, preset)| preset)
                .ok_or_else(|| Stop::fail(format!("the lab has no {source_partition}")))?;
            let target_ped = variant.ped != changes.target_auth_differs;
            let mismatch = negative
                .as_deref()
                .is_some_and(|n| n.starts_with("domain-mismatch"));
            let target_ped_keys = if mismatch && target_ped {
                Some(lab.ped_keys_with_other_red_key()?)
            } else if target_ped && !variant.ped {
                // Only the destination uses a PED: its keys are made on first use.
                Some(lab.ped_keys_with_other_red_key()?)
            } else {
                lab.ped_keys.clone()
            };
            let source_co = preset.user_pin.clone();
            Ok(Scenario {
                variant,
                layout,
                negative: negative.clone(),
                source_label: preset.label.clone(),
                source_so: preset.so_pin.clone(),
                target_po: (!target_ped).then(|| TARGET_PO.to_string()),
                target_co: if target_ped {
                    None
                } else if method == Method::Ha {
                    source_co.clone()
                } else {
                    Some(TARGET_CO.to_string())
                },
                source_co,
                target_ped,
                target_ped_keys,
                lab,
                tag: tag.clone(),
            })
        },
    )?;
    let mut evidence = run.precondition(
        "the evidence worker (its own process on the host that sees slots 0 and 1)",
        || {
            // The destination's keys when only it uses a PED (the keys are otherwise shared).
            let keys = sc.lab.ped_keys.as_ref().or(sc.target_ped_keys.as_ref());
            Host::spawn(
                &sc.lab,
                sc.layout.clone_host,
                keys.map(String::as_str),
                "origin",
            )
        },
    )?;
    let before = run.precondition(
        "the realistic mix on the source (slot 0): RSA-2048 and EC P-256 pairs, AES-256 and 3DES keys, a certificate, a data object",
        || {
            let made = objects(&mut evidence, &Request::Provision {
                slot: 0,
                pin: sc.source_co.clone(),
                tag: sc.tag.clone(),
            })?;
            if made.len() != 8 {
                return Err(Stop::fail(format!("{} objects made, 8 expected", made.len())));
            }
            objects(&mut evidence, &Request::Inventory {
                slot: 0,
                pin: sc.source_co.clone(),
                filter: None,
            })
        },
    )?;
    let outcome = match method {
        Method::Clone => clone(run, &mut sc),
        Method::BackupRestore => backup_restore(run, &mut sc),
        Method::Ha => ha(run, &mut sc),
    };
    let outcome = outcome.and_then(|expect| check(run, &sc, &mut evidence, &before, expect));
    let dir = sc.lab.state_dir().display().to_string();
    drop(evidence);
    run.cleanup("the scenario's workers and lab", outcome, || {
        drop(sc);
        Ok(format!(
            "the workers ended; the scenario's lab {dir} removed"
        ))
    })
}

/// What the destination must hold afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Everything the source holds.
    Everything,
    /// Nothing (the step was refused as a whole).
    Nothing,
    /// Everything but the private keys (policy 0 off).
    NoPrivateKeys,
    /// Everything but the secret keys (policy 4 off).
    NoSecretKeys,
    /// The destination was never initialised (the rehearsal stopped at step 1).
    Untouched,
}

/// Step "initialise the 7.x partition": `slot set -slot 1`, `partition init -label L`.
fn init_target(
    host: &mut Host,
    sc: &Scenario,
    with_slot_list: bool,
) -> Result<(String, Vec<Typed>), Stop> {
    let domain = if sc
        .negative
        .as_deref()
        .is_some_and(|n| n.starts_with("domain-mismatch"))
    {
        OTHER_DOMAIN
    } else {
        DOMAIN
    };
    let mut lines = Vec::new();
    if with_slot_list {
        lines.push(line("slot list"));
    }
    lines.push(line("slot set -slot 1"));
    let secrets = match &sc.target_po {
        Some(po) => vec![po.as_str(), domain],
        None => Vec::new(),
    };
    lines.push(with(
        format!("partition init -label {TARGET_LABEL}"),
        secrets,
    ));
    type_lines(host, &lines)
}

/// Step "roles": `role login -name po`, `role init -name co`, the challenge on a PED. On a
/// password destination the Crypto Officer then logs in and changes its initial password: the
/// guide omits it, but 7.x HSM policy 21 (on by default) makes the first session change it
/// (`role changepw`), and without it every later operation answers CKR_PIN_EXPIRED.
fn init_roles(
    host: &mut Host,
    sc: &Scenario,
    challenge: bool,
) -> Result<(String, Vec<Typed>), Stop> {
    let initial = sc.target_co.as_ref().map(|_| TARGET_CO_INITIAL);
    let mut lines = vec![
        with("role login -name po", pw(&sc.target_po)),
        with("role init -name co", initial.into_iter().collect()),
    ];
    if challenge {
        lines.push(line(format!(
            "role createchallenge -name co -challengesecret {CHALLENGE}"
        )));
    }
    lines.push(line("role logout"));
    if let (Some(initial), Some(new)) = (initial, sc.target_co.as_deref()) {
        lines.push(with("role login -name co", vec![initial]));
        lines.push(with("role changepw -name co", vec![initial, new]));
        lines.push(line("role logout"));
    }
    let (mut t, typed) = type_lines(host, &lines)?;
    if initial.is_some() {
        t.push_str("\nnote: `role login -name co` and `role changepw -name co` are not in the guide's step; 7.x HSM policy 21 requires the Crypto Officer to change its initial password in its first session (without it the copy fails with CKR_PIN_EXPIRED)");
    }
    Ok((t, typed))
}

/// The source's Crypto Officer login as the firmware era types it.
fn source_login(sc: &Scenario) -> Line<'_> {
    with(sc.variant.source.login_command(), pw(&sc.source_co))
}

/// Steps that log in on the source: a `co-on-ppso6` case first types the abbreviation the
/// guide warns against (refused), then the full name. A `co-not-logged-in` case skips the
/// login (recorded as skipped).
fn login_step(
    run: &mut Run<'_>,
    host: &mut Host,
    sc: &Scenario,
    n: u32,
    before: Vec<Line<'static>>,
) -> Result<(), Stop> {
    if sc.negative("co-not-logged-in") {
        run.step_noted(n, || {
            let (t, _) = type_lines(host, &before)?;
            Ok((
                (),
                format!("{t}\nthe Crypto Officer login is skipped (negative case)"),
            ))
        })?;
        return Ok(());
    }
    if sc.negative("co-on-ppso6") {
        run.refused_step_with(n, "CKR_USER_TYPE_INVALID", || {
            let mut lines = before.clone();
            lines.push(with("role login -name co", pw(&sc.source_co)));
            type_lines(host, &lines).map(|_| ())
        })?;
        return run.step_noted(n, || {
            let (t, _) = type_lines(host, &[source_login(sc)])?;
            Ok((
                (),
                format!("typed as the guide says for PPSO firmware:\n{t}"),
            ))
        });
    }
    run.step_noted(n, || {
        let mut lines = before;
        lines.push(source_login(sc));
        let (t, _) = type_lines(host, &lines)?;
        Ok(((), t))
    })
}

/// A sign of the documented refusal in a step's transcript.
#[derive(Debug, Clone, Copy)]
enum Sign {
    /// The transcript contains this.
    Has(&'static str),
    /// The transcript contains this exactly so many times (one error per object).
    Count(&'static str, usize),
}

impl Sign {
    fn seen(self, transcript: &str) -> bool {
        match self {
            Sign::Has(text) => transcript.contains(text),
            Sign::Count(text, n) => transcript.matches(text).count() == n,
        }
    }

    fn describe(self) -> String {
        match self {
            Sign::Has(text) => format!("{text:?}"),
            Sign::Count(text, n) => format!("{n} x {text:?}"),
        }
    }
}

/// Runs step `n`, refused when the case says so: then the step must fail showing every sign
/// of the documented refusal.
fn maybe_refused(
    run: &mut Run<'_>,
    n: u32,
    refused_here: Option<Vec<Sign>>,
    f: impl FnOnce() -> Result<String, Stop>,
) -> Result<bool, Stop> {
    match refused_here {
        Some(signs) => {
            let wanted: Vec<String> = signs.iter().map(|s| s.describe()).collect();
            let marker = format!("the documented refusal: {}", wanted.join(", "));
            run.refused_step_with(n, &marker, || match f() {
                Ok(_) => Ok(()),
                Err(Stop::Fail { detail, step }) => {
                    let missing: Vec<String> = signs
                        .iter()
                        .filter(|s| !s.seen(&detail))
                        .map(|s| s.describe())
                        .collect();
                    let detail = if missing.is_empty() {
                        format!("{detail}\n{marker}")
                    } else {
                        format!(
                            "{detail}\nnot the documented refusal: missing {}",
                            missing.join(", ")
                        )
                    };
                    Err(Stop::Fail { detail, step })
                }
                Err(other) => Err(other),
            })?;
            Ok(true)
        }
        None => {
            run.step_noted(n, || f().map(|t| ((), t)))?;
            Ok(false)
        }
    }
}

/// The step a negative case is refused at (the catalogue's) and the signs of the documented
/// refusal (the Luna documents: a domain mismatch answers CKR_CERTIFICATE_INVALID, one error per
/// object from a pre-7.7 source, a stop at the first failure from a 7.7+ one).
fn refusal(run: &Run<'_>) -> Option<(u32, Vec<Sign>)> {
    use Sign::{Count, Has};
    let n = run.negative()?;
    let method = run.procedure.id.rsplit('.').next().unwrap_or_default();
    let clone = method == "clone";
    let mut signs = match n.id.as_str() {
        "domain-mismatch" | "domain-mismatch-red-key" => {
            // One line per object: `... (CKR_...).` from `partition clone`, `... (CKR_...):
            // why` from the archive commands.
            let mut v = vec![Has("CKR_CERTIFICATE_INVALID")];
            if clone {
                v.push(Count("(CKR_CERTIFICATE_INVALID).", 8));
            } else if method == "backup-restore" {
                v.push(Count("(CKR_CERTIFICATE_INVALID):", 8));
            }
            v
        }
        "domain-mismatch-77-source" => {
            let mut v = vec![Has("CKR_CERTIFICATE_INVALID")];
            if clone {
                v.extend([
                    Count("(CKR_CERTIFICATE_INVALID).", 1),
                    Has("Stopped at the first failure"),
                ]);
            }
            v
        }
        "policy-0-off" | "policy-4-off" => match method {
            "clone" => vec![
                Has("6 of 8 object(s) cloned"),
                Count("(CKR_OPERATION_NOT_ALLOWED).", 2),
            ],
            "backup-restore" => vec![
                Has("6 of 8 object(s) backed up"),
                Count("(CKR_OPERATION_NOT_ALLOWED):", 2),
            ],
            _ => vec![Has("CKR_FAILED_TO_CLONE_AN_OBJECT")],
        },
        "auth-differs" => vec![Has("CKR_OPERATION_NOT_ALLOWED")],
        "co-not-logged-in" => vec![Has("CKR_USER_NOT_LOGGED_IN")],
        "backup-hsm-too-small" => vec![Has("CKR_DEVICE_MEMORY")],
        "old-backup-hsm-for-77-source" => vec![Has("CKR_OPERATION_NOT_ALLOWED"), Has("6.27.0")],
        "v0-to-pre77" | "v1-to-pre77" => vec![Has("CKR_OPERATION_NOT_ALLOWED")],
        "ha-77-primary-over-older" | "ha-ped-no-policy-22" => {
            vec![Has("CKR_OPERATION_NOT_ALLOWED")]
        }
        _ => return None,
    };
    if clone && n.id.ends_with("-to-pre77") {
        signs.push(Has("Stopped at the first failure"));
    }
    Some((n.step, signs))
}

fn refused_at(run: &Run<'_>, n: u32) -> Option<Vec<Sign>> {
    refusal(run).filter(|(step, _)| *step == n).map(|(_, e)| e)
}

/// Whether the case's refusal is per object: the other objects are copied and the
/// procedure goes on.
fn partial(sc: &Scenario) -> bool {
    sc.negative("policy-0-off") || sc.negative("policy-4-off")
}

/// What the destination holds after a negative case refused at a copying step.
fn after_refusal(sc: &Scenario) -> Expect {
    if sc.negative("policy-0-off") {
        Expect::NoPrivateKeys
    } else if sc.negative("policy-4-off") {
        Expect::NoSecretKeys
    } else {
        Expect::Nothing
    }
}

/// What the destination holds after a copy that went through (per-object refusals aside).
fn copied(sc: &Scenario) -> Expect {
    match after_refusal(sc) {
        Expect::Nothing => Expect::Everything,
        partial => partial,
    }
}

/// The as-printed step 1 (and the re-initialisation negative): `slot set -slot 0`,
/// `partition init` on the source; LunaCM asks 'proceed', the rehearsal answers 'quit'.
fn hazard_step(
    run: &mut Run<'_>,
    host: &mut Host,
    sc: &Scenario,
    n: u32,
    objects: usize,
) -> Result<Expect, Stop> {
    run.step_noted(n, || {
        let lines = [
            line("slot set -slot 0"),
            (format!("partition init -label {TARGET_LABEL}"), Some("quit"), pw(&sc.target_po)),
        ];
        let mut transcript = String::new();
        let mut last = None;
        for (l, proceed, secrets) in &lines {
            let t = host.lunacm(l, *proceed, secrets)?;
            if !transcript.is_empty() {
                transcript.push('\n');
            }
            transcript.push_str(&t.transcript(&format!("[{}] {LUNACM}", host.name)));
            last = Some(t);
        }
        let last = last.ok_or_else(|| Stop::fail("nothing typed"))?;
        let asked = last.prompts.iter().any(|p| p.contains("proceed"));
        if last.status != "aborted" || !asked {
            return Err(Stop::fail(format!(
                "{transcript}\nLunaCM did not stop at a proceed prompt before initialising slot 0 (status {})",
                last.status
            )));
        }
        Ok(((), format!(
            "HAZARD caught: as printed, this step sets slot 0, the 5.x/6.x SOURCE holding {objects} objects, and initialises it. LunaCM asked for confirmation; the rehearsal answered 'quit'. Answering 'proceed' would have destroyed every object of the source. The step means `slot set -slot 1` (the 7.x partition).\n{transcript}"
        )))
    })?;
    Ok(Expect::Untouched)
}

/// LunaCM on `host` (a worker process), its PED presented the destination's keys.
fn lunacm_on(run: &mut Run<'_>, sc: &Scenario, host: &str, what: &str) -> Result<Host, Stop> {
    run.precondition(what, || {
        Host::spawn(&sc.lab, host, sc.target_ped_keys.as_deref(), "target")
    })
}

fn clone(run: &mut Run<'_>, sc: &mut Scenario) -> Result<Expect, Stop> {
    let mut host = lunacm_on(run, sc, sc.layout.clone_host, "LunaCM on the cloning host")?;
    if sc.negative("reinit-with-objects") {
        return hazard_step(run, &mut host, sc, 1, 8);
    }
    run.step_noted(1, || init_target(&mut host, sc, true).map(|(t, _)| ((), t)))?;
    run.step_noted(2, || {
        init_roles(&mut host, sc, sc.target_ped).map(|(t, _)| ((), t))
    })?;
    login_step(run, &mut host, sc, 3, vec![line("slot set -slot 0")])?;
    run.step_noted(4, || {
        type_lines(&mut host, &[line("partition contents")]).map(|(t, _)| ((), t))
    })?;
    let refused = maybe_refused(run, 5, refused_at(run, 5), || {
        type_lines(
            &mut host,
            &[with(
                "partition clone -objects 0 -slot 1",
                pw(&sc.target_co),
            )],
        )
        .map(|(t, _)| t)
    })?;
    run.step_noted(6, || {
        let login = match &sc.target_co {
            Some(co) => format!("role login -name co -password {co}"),
            None => "role login -name co".to_string(),
        };
        type_lines(
            &mut host,
            &[
                line("slot set -slot 1"),
                line(login),
                line("partition contents"),
            ],
        )
        .map(|(t, _)| ((), t))
    })?;
    Ok(if refused {
        after_refusal(sc)
    } else {
        Expect::Everything
    })
}

fn backup_restore(run: &mut Run<'_>, sc: &mut Scenario) -> Result<Expect, Stop> {
    match sc.layout.hosts {
        None => backup_restore_one_host(run, sc),
        Some((old, new)) => backup_restore_two_hosts(run, sc, old, new),
    }
}

fn backup_line() -> String {
    format!("partition archive backup -slot 2 -partition {BACKUP_LABEL}")
}

fn backup_secrets(sc: &Scenario) -> Vec<&'static str> {
    if sc.source_ped() {
        Vec::new()
    } else {
        // The Backup HSM's SO, the new backup partition's password, the cloning domain.
        vec![BACKUP_SO, BACKUP_PASSWORD, DOMAIN]
    }
}

fn restore_secrets(sc: &Scenario) -> Vec<&'static str> {
    if sc.source_ped() {
        Vec::new()
    } else {
        vec![BACKUP_PASSWORD]
    }
}

fn backup_restore_one_host(run: &mut Run<'_>, sc: &mut Scenario) -> Result<Expect, Stop> {
    let mut host = lunacm_on(run, sc, sc.layout.client, "LunaCM on the client host")?;
    let as_printed = matches!(run.case, Case::Positive(v) if v.id == "as-printed");
    if as_printed || sc.negative("reinit-with-objects") {
        return hazard_step(run, &mut host, sc, 1, 8);
    }
    run.step_noted(1, || {
        init_target(&mut host, sc, false).map(|(t, _)| ((), t))
    })?;
    run.step_noted(2, || {
        init_roles(&mut host, sc, sc.target_ped).map(|(t, _)| ((), t))
    })?;
    run.step_noted(3, || {
        type_lines(&mut host, &[line("slot list"), line("slot set -slot 0")]).map(|(t, _)| ((), t))
    })?;
    login_step(run, &mut host, sc, 4, Vec::new())?;
    run.step_noted(5, || {
        type_lines(&mut host, &[line("partition contents")]).map(|(t, _)| ((), t))
    })?;
    let secrets = backup_secrets(sc);
    if maybe_refused(run, 6, refused_at(run, 6), || {
        type_lines(&mut host, &[with(backup_line(), secrets.clone())]).map(|(t, _)| t)
    })? && !partial(sc)
    {
        return Ok(Expect::Nothing);
    }
    let restore_refused =
        maybe_refused(run, 7, refused_at(run, 7), || restore_lines(&mut host, sc))?;
    Ok(if restore_refused {
        Expect::Nothing
    } else {
        copied(sc)
    })
}

fn restore_lines(host: &mut Host, sc: &Scenario) -> Result<String, Stop> {
    let co_login = with("role login -name co", pw(&sc.target_co));
    type_lines(
        host,
        &[
            line("slot set -slot 1"),
            co_login,
            with(
                format!("partition archive restore -slot 2 -partition {BACKUP_LABEL}"),
                restore_secrets(sc),
            ),
            line("partition contents"),
        ],
    )
    .map(|(t, _)| t)
}

fn backup_restore_two_hosts(
    run: &mut Run<'_>,
    sc: &mut Scenario,
    old: &str,
    new: &str,
) -> Result<Expect, Stop> {
    let mut old_host = run.precondition("LunaCM on the old host (5.x/6.x client)", || {
        Host::spawn(&sc.lab, old, sc.lab.ped_keys.as_deref(), "origin")
    })?;
    if sc.negative("reinit-with-objects") {
        return hazard_step(run, &mut old_host, sc, 1, 8);
    }
    run.step_noted(1, || {
        type_lines(&mut old_host, &[line("slot set -slot 0")]).map(|(t, _)| ((), t))
    })?;
    login_step(run, &mut old_host, sc, 2, Vec::new())?;
    run.step_noted(3, || {
        type_lines(&mut old_host, &[line("partition contents")]).map(|(t, _)| ((), t))
    })?;
    let secrets = backup_secrets(sc);
    if maybe_refused(run, 4, refused_at(run, 4), || {
        type_lines(&mut old_host, &[with(backup_line(), secrets.clone())]).map(|(t, _)| t)
    })? && !partial(sc)
    {
        return Ok(Expect::Untouched);
    }
    drop(old_host);
    run.step_noted(5, || {
        let selection = sc.lab.selection(None)?;
        let device = hsmsim::base::ids::DeviceId::new("backup");
        hsmsim::estate::attach_backup_hsm(&selection, &device, new)
            .map_err(|e| Stop::fail(format!("hsmsim lab attach backup --host {new}: {e}")))?;
        Ok(((), format!("$ hsmsim lab attach backup --host {new}\nthe Backup HSM is attached to {new}; {old}'s slot 2 has no token")))
    })?;
    let mut new_host = lunacm_on(run, sc, new, "LunaCM on the new host (7.x client)")?;
    run.step_noted(6, || {
        let (a, _) = init_target(&mut new_host, sc, false)?;
        let (b, _) = init_roles(&mut new_host, sc, sc.target_ped)?;
        Ok(((), format!("{a}\n{b}")))
    })?;
    let refused = maybe_refused(run, 7, refused_at(run, 7), || {
        restore_lines(&mut new_host, sc)
    })?;
    Ok(if refused { Expect::Nothing } else { copied(sc) })
}

fn ha(run: &mut Run<'_>, sc: &mut Scenario) -> Result<Expect, Stop> {
    let mut host = lunacm_on(run, sc, sc.layout.client, "LunaCM on the client host")?;
    if sc.negative("reinit-with-objects") {
        return hazard_step(run, &mut host, sc, 1, 8);
    }
    run.step_noted(1, || {
        init_target(&mut host, sc, false).map(|(t, _)| ((), t))
    })?;
    // The challenge is required here (the activation policy needs it on a PED).
    run.step_noted(2, || init_roles(&mut host, sc, true).map(|(t, _)| ((), t)))?;
    login_step(run, &mut host, sc, 3, vec![line("slot set -slot 0")])?;
    run.step_noted(4, || {
        type_lines(&mut host, &[line("partition contents")]).map(|(t, _)| ((), t))
    })?;
    let skip_policy = sc.negative("ha-ped-no-policy-22");
    if skip_policy {
        run.outside_step(
            5,
            "skipped: the negative case leaves activation policy 22 unset",
        );
        run.outside_step(
            6,
            "skipped: the negative case leaves activation policy 22 unset",
        );
    } else {
        if sc.layout.source_is_appliance {
            run.step_noted(5, || {
                let t = lunash_policy_22(sc)?;
                Ok(((), source_challenge(&mut host, sc, t)?))
            })?;
        } else {
            run.step_noted(5, || {
                let mut admin = Host::spawn(&sc.lab, sc.layout.client, sc.lab.ped_keys.as_deref(), "origin")?;
                match admin.ask(&Request::SetPolicies {
                    slot: 0,
                    so_pin: sc.source_so.clone(),
                    changes: vec![(22, 1)],
                })? {
                    Response::Done { detail, .. } => {
                        let t = format!(
                            "GUIDE ERROR: the guide says \"Via LunaSH\", but a PCIe or USB HSM has no appliance shell. The HSM SO sets the policy from the host instead (simulator-defined: CA_SetTokenPolicies as the partition's SO side): {detail}"
                        );
                        Ok(((), source_challenge(&mut host, sc, t)?))
                    }
                    Response::Failed { detail, .. } => Err(Stop::fail(detail)),
                    other => Err(Stop::fail(format!("unexpected answer {other:?}"))),
                }
            })?;
        }
        run.step_noted(6, || {
            type_lines(
                &mut host,
                &[
                    line("slot set -slot 1"),
                    with("role login -name po", pw(&sc.target_po)),
                    line("partition changepolicy -policy 22 -value 1"),
                ],
            )
            .and_then(|(t, _)| target_activation(&mut host, sc, t))
            .map(|t| ((), t))
        })?;
    }
    let password = sc
        .source_co
        .clone()
        .unwrap_or_else(|| CHALLENGE.to_string());
    if maybe_refused(run, 7, refused_at(run, 7), || {
        type_lines(
            &mut host,
            &[line(format!(
                "hagroup creategroup -label {GROUP_LABEL} -slot 0 -password {password}"
            ))],
        )
        .map(|(t, _)| t)
    })? {
        return Ok(Expect::Nothing);
    }
    if maybe_refused(run, 8, refused_at(run, 8), || {
        type_lines(
            &mut host,
            &[line(format!(
                "hagroup addmember -group {GROUP_LABEL} -slot 1 -password {password}"
            ))],
        )
        .map(|(t, _)| t)
    })? {
        return Ok(Expect::Nothing);
    }
    let sync_refused = maybe_refused(run, 9, refused_at(run, 9), || {
        type_lines(
            &mut host,
            &[line(format!(
                "hagroup synchronize -group {GROUP_LABEL} -password {password}"
            ))],
        )
        .map(|(t, _)| t)
    })?;
    if !sync_refused {
        run.step_noted(10, || {
            let (t, typed) = type_lines(&mut host, &[line("hagroup listgroups")])?;
            let out = typed.last().map(|t| t.output.clone()).unwrap_or_default();
            if !out.contains("Needs sync") || !out.contains("no") {
                return Err(Stop::fail(format!(
                    "{t}\nno \"Needs sync: no\" in the listing"
                )));
            }
            Ok(((), t))
        })?;
    }
    run.step_noted(11, || {
        type_lines(
            &mut host,
            &[line(format!("hagroup deletegroup -label {GROUP_LABEL}"))],
        )
        .map(|(t, _)| ((), t))
    })?;
    Ok(if sync_refused {
        after_refusal(sc)
    } else {
        Expect::Everything
    })
}

/// After step 5 on a PED source (not in the guide): the source's Crypto Officer gets the
/// challenge secret the HA commands take (`-password`) and is activated. HA members on PED
/// share the activated Crypto Officer's challenge, and the guide creates one only on the 7.x
/// partition (step 2). Pre-PPSO (5.x, 6.21.2): the HSM SO, in LunaSH on an appliance
/// (`partition createchallenge|activate -partition L`), or in LunaCM on a PCIe/USB HSM
/// (`partition createchallenge`, then the owner's `partition activate`); PPSO 6.22: the
/// Partition SO types `role createchallenge -name Crypto Officer` and the Crypto Officer's PED
/// login activates it. `done`: the step's transcript so far.
fn source_challenge(host: &mut Host, sc: &Scenario, done: String) -> Result<String, Stop> {
    if !sc.source_ped() {
        return Ok(done);
    }
    let pre_ppso = matches!(sc.variant.source, Source::Luna5 | Source::PrePpso6);
    let (how, t) = if pre_ppso && sc.layout.source_is_appliance {
        let label = &sc.source_label;
        let commands = [
            format!("partition createchallenge -partition {label} -challengesecret {CHALLENGE}"),
            format!("partition activate -partition {label}"),
        ];
        let t = lunash_as_hso(sc, &commands)?;
        (
            "the HSM SO gives the pre-PPSO partition's owner its challenge secret and activates it in LunaSH (the black key at the PED)",
            t,
        )
    } else if pre_ppso {
        let lines = [
            line("slot set -slot 0"),
            line("partition logout"),
            line(format!(
                "partition createchallenge -challengesecret {CHALLENGE}"
            )),
            line("partition activate"),
        ];
        let (t, _) = type_lines(host, &lines)?;
        (
            "on a PCIe/USB HSM the HSM SO gives the pre-PPSO partition's owner its challenge secret in LunaCM (the blue key at the PED), and the owner activates itself (`partition activate`, the black key)",
            t,
        )
    } else {
        let lines = [
            line("slot set -slot 0"),
            line("role logout"),
            line("role login -name Partition SO"),
            line(format!(
                "role createchallenge -name Crypto Officer -challengesecret {CHALLENGE}"
            )),
            line("role logout"),
            line(sc.variant.source.login_command()),
        ];
        let (t, _) = type_lines(host, &lines)?;
        (
            "on 6.22 (PPSO) the Partition SO creates the Crypto Officer's challenge, and the Crypto Officer's PED login, now that policy 22 is on, activates it",
            t,
        )
    };
    Ok(format!(
        "{done}\n{t}\nnot in the guide: {how}; HA members on PED share the activated Crypto Officer's challenge secret (`-password`), and the guide creates one only on the 7.x partition"
    ))
}

/// After step 6 on a PED destination (not in the guide): the 7.x Crypto Officer's PED login,
/// with policy 22 now on, activates it, so that its challenge opens it for `hagroup`.
fn target_activation(host: &mut Host, sc: &Scenario, done: String) -> Result<String, Stop> {
    if !sc.target_ped {
        return Ok(done);
    }
    let (t, _) = type_lines(host, &[line("role logout"), line("role login -name co")])?;
    Ok(format!(
        "{done}\n{t}\nnot in the guide: the Crypto Officer logs in at the PED once policy 22 is on, which activates it (Luna 7: activation happens at the first PED login under policy 22); HA members on PED need an activated Crypto Officer"
    ))
}

/// Step 5 of the HA procedure on a Network HSM: LunaSH on the source appliance as HSM SO.
fn lunash_policy_22(sc: &Scenario) -> Result<String, Stop> {
    let policy = format!(
        "partition changepolicy -partition {} -policy 22 -value 1",
        sc.source_label
    );
    lunash_as_hso(sc, &[policy])
}

/// LunaSH on the source appliance: `hsm login` as the HSM SO, then `commands`; the
/// transcript, or a failure at the first command that does not succeed.
fn lunash_as_hso(sc: &Scenario, commands: &[String]) -> Result<String, Stop> {
    let password = (!sc.source_ped()).then_some(lab::HSM_SO_PASSWORD);
    lunash_as_hso_on(
        sc.lab.selection(None)?,
        sc.layout.source_device,
        password,
        commands,
    )
}

/// LunaSH on appliance `device` of a scenario's lab, in this process: `hsm login` as the HSM
/// SO (`password`; none on PED, the lab's blue key presented), then `commands`, each answered
/// "proceed" where it asks. The transcript, or a failure ending with the command that failed.
pub fn lunash_as_hso_on(
    selection: hsmsim::estate::LabSelection,
    device: &str,
    password: Option<&str>,
    commands: &[String],
) -> Result<String, Stop> {
    use hsmsim_consoles::lunash::Shell;
    struct Answers(Option<String>);
    impl hsmsim_consoles::command_line::Prompts for Answers {
        fn secret(&mut self, _: &str) -> Option<String> {
            self.0.take()
        }
        fn answer(&mut self, _: &str) -> Option<String> {
            Some("proceed".into())
        }
    }
    let device = hsmsim::base::ids::DeviceId::new(device);
    let mut shell = Shell::new(selection, device).map_err(Stop::fail)?;
    let prompt = shell.prompt();
    let mut transcript = String::new();
    let login = std::iter::once("hsm login".to_string());
    for command in login.chain(commands.iter().cloned()) {
        let mut answers = Answers(password.map(str::to_string));
        let reply = shell
            .run_line(&command, &mut answers)
            .ok_or_else(|| Stop::fail("LunaSH read an empty line"))?;
        let rendered = reply.render();
        transcript.push_str(&format!("{prompt} {command}\n{}\n", rendered.trim_end()));
        if reply.status != hsmsim_consoles::lunash::output::Status::Success {
            return Err(Stop::fail(format!("{transcript}`{command}` failed")));
        }
    }
    Ok(transcript.trim_end().to_string())
}

fn describe(o: &ObjectInfo) -> String {
    format!("{} {}", o.class, o.label)
}

fn check(
    run: &mut Run<'_>,
    sc: &Scenario,
    evidence: &mut Host,
    before: &[ObjectInfo],
    expect: Expect,
) -> Result<(), Stop> {
    run.check("the source is unchanged", || {
        let after = objects(
            evidence,
            &Request::Inventory {
                slot: 0,
                pin: sc.source_co.clone(),
                filter: None,
            },
        )?;
        if after != before {
            return Err(Stop::fail(format!(
                "the source changed: before {:?}, after {:?}",
                before.iter().map(describe).collect::<Vec<_>>(),
                after.iter().map(describe).collect::<Vec<_>>()
            )));
        }
        Ok(format!(
            "{} objects, every attribute and OUID as before",
            after.len()
        ))
    })?;
    if expect == Expect::Untouched {
        return Ok(());
    }
    let wanted: Vec<&ObjectInfo> = before
        .iter()
        .filter(|o| match expect {
            Expect::Everything => true,
            Expect::NoPrivateKeys => o.class != "CKO_PRIVATE_KEY",
            Expect::NoSecretKeys => o.class != "CKO_SECRET_KEY",
            Expect::Nothing | Expect::Untouched => false,
        })
        .collect();
    run.check(
        "the destination holds the source's objects: count, labels, classes, key types, policy attributes, CKA_OUIDs",
        || {
            let target = objects(evidence, &Request::Inventory {
                slot: 1,
                pin: sc.target_co.clone(),
                filter: None,
            })?;
            let by_key = |list: &[&ObjectInfo]| -> BTreeMap<(String, String), ObjectInfo> {
                list.iter().map(|o| ((o.label.clone(), o.class.clone()), (*o).clone())).collect()
            };
            let want = by_key(&wanted);
            let have = by_key(&target.iter().collect::<Vec<_>>());
            if want.len() != have.len() || want.keys().ne(have.keys()) {
                return Err(Stop::fail(format!(
                    "the destination holds {} objects {:?}, expected {} {:?}",
                    have.len(),
                    have.keys().collect::<Vec<_>>(),
                    want.len(),
                    want.keys().collect::<Vec<_>>()
                )));
            }
            let mut compared = 0;
            for (key, original) in &want {
                let copy = &have[key];
                if copy.key_type != original.key_type {
                    return Err(Stop::fail(format!("{key:?}: key type {:?} vs {:?}", original.key_type, copy.key_type)));
                }
                if copy.ouid != original.ouid {
                    return Err(Stop::fail(format!("{key:?}: CKA_OUID {:?} on the source, {:?} on the destination", original.ouid, copy.ouid)));
                }
                for (name, value) in &original.attributes {
                    if copy.attributes.get(name) != Some(value) {
                        return Err(Stop::fail(format!(
                            "{key:?}: {name} is {value} on the source, {:?} on the destination",
                            copy.attributes.get(name)
                        )));
                    }
                    compared += 1;
                }
            }
            Ok(format!(
                "{} objects on each side, same labels and classes; key types, CKA_OUIDs and {compared} attribute values equal",
                want.len()
            ))
        },
    )?;
    if wanted.is_empty() {
        return Ok(());
    }
    run.check("every key proven the same by use", || {
        super::prove_by_use(
            evidence,
            &(0, sc.source_co.clone()),
            &(1, sc.target_co.clone()),
            &sc.tag,
            |class| match expect {
                Expect::NoPrivateKeys => class == "CKO_PRIVATE_KEY",
                Expect::NoSecretKeys => class == "CKO_SECRET_KEY",
                _ => false,
            },
        )
    })
}
