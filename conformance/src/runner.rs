//! Running scenarios: the plan (procedures chosen by id glob, tag and variant glob, negative
//! cases included, split into shards), one scenario per (procedure, variant), each step timed
//! and recorded with the vendor's command and the PKCS#11 calls it made (`calls`), outcome
//! checks with their evidence after the steps, a recorded cleanup, scenarios in parallel where
//! the parties allow it (a procedure tagged `exclusive` runs alone). A scenario passes, fails
//! naming the documented step and why, or is "not applicable" with the reason (a capability
//! the token lacks): never silently passed.
use crate::catalogue::{Negative, Procedure, Variant};
use crate::procedures;
use crate::target::{Party, Role};
pub use hsmsim_consoles::backend::outcome::{Stop, ckr_name, describe_error};
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// Which scenarios to run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Procedure id globs (`primus.*`); none: every procedure.
    pub procedures: Vec<glob::Pattern>,
    /// Tags a procedure must all have.
    pub tags: Vec<String>,
    /// Variant id globs (`aes-*`, `negative:*`); none: every variant and negative case.
    pub variants: Vec<glob::Pattern>,
    /// Run only shard `k` of `n` (1-based), for splitting a run across machines.
    pub shard: Option<(usize, usize)>,
}

/// A scenario's variant: an entry of the variant matrix or a negative case.
#[derive(Debug, Clone)]
pub enum Case {
    Positive(Variant),
    Negative(Negative),
}

impl Case {
    /// `aes-128`, or `negative:non-extractable`.
    pub fn id(&self) -> String {
        match self {
            Case::Positive(v) => v.id.clone(),
            Case::Negative(n) => format!("negative:{}", n.id),
        }
    }
}

/// One scenario: a procedure and one of its cases.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub procedure: Procedure,
    pub case: Case,
}

/// The scenarios `selection` picks, in catalogue order.
pub fn plan(catalogue: &[Procedure], selection: &Selection) -> Vec<Scenario> {
    let mut all = Vec::new();
    for p in catalogue {
        if !selection.procedures.is_empty()
            && !selection.procedures.iter().any(|g| g.matches(&p.id))
        {
            continue;
        }
        if !selection.tags.iter().all(|t| p.tags.contains(t)) {
            continue;
        }
        let cases = p
            .variants
            .iter()
            .cloned()
            .map(Case::Positive)
            .chain(p.negatives.iter().cloned().map(Case::Negative));
        for case in cases {
            let id = case.id();
            if selection.variants.is_empty() || selection.variants.iter().any(|g| g.matches(&id)) {
                all.push(Scenario {
                    procedure: p.clone(),
                    case,
                });
            }
        }
    }
    match selection.shard {
        Some((k, n)) => all
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % n == k - 1)
            .map(|(_, s)| s)
            .collect(),
        None => all,
    }
}

/// How a scenario or a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    Fail,
    NotApplicable,
}

/// One recorded step (or outcome check, `n` 0).
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub n: u32,
    pub title: String,
    pub party: Option<Role>,
    /// The vendor's command as the seed writes it (empty for outcome checks).
    pub vendor: String,
    pub status: Status,
    /// What happened: the refusal observed, an outcome check's evidence, why it failed.
    pub detail: String,
    pub duration_ms: u64,
    /// Every PKCS#11 call the step or check made, in order, with its return code.
    pub calls: Vec<hsmsim_consoles::backend::calls::Call>,
}

/// One scenario's result (the JSON report's `results` entries).
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub procedure: String,
    pub variant: String,
    pub status: Status,
    /// "step 4: Wrap and export ...", "precondition: ..." or "outcome: ...", when it failed.
    pub failed_step: Option<String>,
    pub detail: String,
    pub duration_ms: u64,
    pub steps: Vec<StepResult>,
}

/// The parties of a run (a one-party procedure uses `target`).
pub struct Parties {
    pub origin: Option<Party>,
    pub target: Option<Party>,
}

impl Parties {
    pub fn get(&self, role: Role) -> Result<&Party, Stop> {
        match role {
            Role::Origin => self.origin.as_ref(),
            Role::Target => self.target.as_ref(),
        }
        .ok_or_else(|| Stop::NotApplicable(format!("the procedure needs an {role} (--{role} URI)")))
    }
}

/// A scenario in progress: records steps and checks.
pub struct Run<'a> {
    pub procedure: &'a Procedure,
    pub case: &'a Case,
    /// Appended to the documented object names, so scenarios never touch each other's or
    /// the user's objects ("mig" becomes "mig-3f9a1c-aes-128").
    pub tag: String,
    pub steps: Vec<StepResult>,
}

impl Run<'_> {
    /// The name the scenario uses for a documented object name.
    pub fn name(&self, documented: &str) -> String {
        format!("{documented}-{}", self.tag)
    }

    /// The negative case, if this scenario is one.
    pub fn negative(&self) -> Option<&Negative> {
        match self.case {
            Case::Negative(n) => Some(n),
            Case::Positive(_) => None,
        }
    }

    /// Runs `f` and records it as one entry of the report: `title` names it (a failure names
    /// it too, as `failed_as`); a passing `f` may return a note for the entry's detail.
    fn record<T>(
        &mut self,
        entry: StepResult,
        failed_as: String,
        f: impl FnOnce() -> Result<(T, String), Stop>,
    ) -> Result<T, Stop> {
        let started = Instant::now();
        let (outcome, calls) = hsmsim_consoles::backend::calls::recording(f);
        let (status, detail) = match &outcome {
            Ok((_, note)) => (Status::Pass, note.clone()),
            Err(Stop::Fail { detail, .. }) => (Status::Fail, detail.clone()),
            Err(Stop::NotApplicable(why)) => (Status::NotApplicable, why.clone()),
        };
        self.steps.push(StepResult {
            status,
            detail,
            duration_ms: started.elapsed().as_millis() as u64,
            calls,
            ..entry
        });
        outcome.map(|(v, _)| v).map_err(|e| match e {
            Stop::Fail { detail, .. } => Stop::Fail {
                step: Some(failed_as),
                detail,
            },
            other => other,
        })
    }

    /// The report entry of documented step `n` (or of a check, `n` 0, titled `title`).
    fn entry(&self, n: u32, title: Option<String>) -> StepResult {
        let step = self.procedure.step(n).filter(|_| n > 0);
        StepResult {
            n,
            title: title
                .or_else(|| step.map(|s| s.title.clone()))
                .unwrap_or_else(|| format!("step {n}")),
            party: step.map(|s| s.party),
            vendor: step.map(|s| s.vendor.clone()).unwrap_or_default(),
            status: Status::Pass,
            detail: String::new(),
            duration_ms: 0,
            calls: Vec::new(),
        }
    }

    /// Runs documented step `n` and records it; a failure names the step.
    pub fn step<T>(&mut self, n: u32, f: impl FnOnce() -> Result<T, Stop>) -> Result<T, Stop> {
        let entry = self.entry(n, None);
        let failed_as = format!("step {n}: {}", entry.title);
        self.record(entry, failed_as, || f().map(|v| (v, String::new())))
    }

    /// `step`, whose passing closure also returns what the step observed, for its detail (a
    /// documented test step's evidence).
    pub fn step_noted<T>(
        &mut self,
        n: u32,
        f: impl FnOnce() -> Result<(T, String), Stop>,
    ) -> Result<T, Stop> {
        let entry = self.entry(n, None);
        let failed_as = format!("step {n}: {}", entry.title);
        self.record(entry, failed_as, f)
    }

    /// Runs step `n`, which the negative case says must be refused with `expected`: passes
    /// when it is, fails when the step succeeds or fails otherwise.
    pub fn refused_step(
        &mut self,
        n: u32,
        expected: cryptoki::error::RvError,
        f: impl FnOnce() -> Result<(), Stop>,
    ) -> Result<(), Stop> {
        let want = ckr_name(&expected);
        // Details end with the call's code: "C_WrapKey: CKR_KEY_UNEXTRACTABLE".
        self.refused_step_if(
            n,
            &want,
            |d| d.rsplit(": ").next() == Some(want.as_str()),
            f,
        )
    }

    /// `refused_step` for refusals that are not PKCS#11 codes: the failure's detail must
    /// contain `expected`.
    pub fn refused_step_with(
        &mut self,
        n: u32,
        expected: &str,
        f: impl FnOnce() -> Result<(), Stop>,
    ) -> Result<(), Stop> {
        self.refused_step_if(n, expected, |d| d.contains(expected), f)
    }

    fn refused_step_if(
        &mut self,
        n: u32,
        expected: &str,
        is_expected: impl Fn(&str) -> bool,
        f: impl FnOnce() -> Result<(), Stop>,
    ) -> Result<(), Stop> {
        // A passing refusal records the refusal observed, as the step's detail.
        let entry = self.entry(n, None);
        let failed_as = format!("step {n}: {}", entry.title);
        self.record(entry, failed_as, || match f() {
            Ok(()) => Err(Stop::fail(format!(
                "the documented refusal did not happen: the step succeeded (expected {expected:?})"
            ))),
            Err(Stop::Fail { detail, .. }) if is_expected(&detail) => {
                Ok(((), format!("refused as documented: {detail}")))
            }
            Err(Stop::Fail { detail, .. }) => Err(Stop::fail(format!(
                "refused, but with {detail:?} instead of {expected:?}"
            ))),
            Err(other) => Err(other),
        })
    }

    /// Records documented step `n` as one that happens outside PKCS#11 (a Windows key store,
    /// the registry): not replayed, reported "not-applicable" with `why`; the scenario goes on.
    pub fn outside_step(&mut self, n: u32, why: &str) {
        let entry = StepResult {
            status: Status::NotApplicable,
            detail: format!("not replayed: {why}"),
            ..self.entry(n, None)
        };
        self.steps.push(entry);
    }

    /// A precondition the scenario establishes before the documented steps (the seed assumes
    /// it), recorded as "precondition: what"; a failure names it.
    pub fn precondition<T>(
        &mut self,
        what: &str,
        f: impl FnOnce() -> Result<T, Stop>,
    ) -> Result<T, Stop> {
        let title = format!("precondition: {what}");
        let entry = self.entry(0, Some(title.clone()));
        self.record(entry, title, || f().map(|v| (v, String::new())))
    }

    /// `precondition`, whose passing closure also returns what it did, for its detail (the
    /// commands that made the cards a procedure starts from, and what they answered).
    pub fn precondition_noted<T>(
        &mut self,
        what: &str,
        f: impl FnOnce() -> Result<(T, String), Stop>,
    ) -> Result<T, Stop> {
        let title = format!("precondition: {what}");
        let entry = self.entry(0, Some(title.clone()));
        self.record(entry, title, f)
    }

    /// An outcome check after the steps, recorded as "outcome: what"; a passing check returns
    /// its evidence (objects counted, attributes compared, what proving by use did and saw).
    pub fn check(
        &mut self,
        what: &str,
        f: impl FnOnce() -> Result<String, Stop>,
    ) -> Result<(), Stop> {
        let title = format!("outcome: {what}");
        let entry = self.entry(0, Some(title.clone()));
        self.record(entry, title, || f().map(|evidence| ((), evidence)))
    }

    /// Removes the scenario's objects when it ends, whatever happened before, recorded as
    /// "cleanup: what" with the objects destroyed as evidence. `outcome` is the scenario's:
    /// it stands when it failed; a cleanup that leaves objects behind fails a scenario that
    /// had passed.
    pub fn cleanup(
        &mut self,
        what: &str,
        outcome: Result<(), Stop>,
        f: impl FnOnce() -> Result<String, Stop>,
    ) -> Result<(), Stop> {
        let title = format!("cleanup: {what}");
        let entry = self.entry(0, Some(title.clone()));
        let cleaned = self.record(entry, title, || f().map(|evidence| ((), evidence)));
        outcome.and(cleaned)
    }
}

/// What a scenario would do, for `--dry-run` (nothing is called on any token): its steps with
/// the party and the vendor's command, and the objects it would create on each party and
/// destroy when it ends, as they would be labelled (`NAME-<run tag>-<variant>`, the run tag six
/// random hex digits).
pub fn describe_plan(scenario: &Scenario, parties: &Parties) -> String {
    use std::fmt::Write;
    let case = scenario.case.id();
    let suffix = case.replace("negative:", "neg-");
    let mut out = format!("{} [{case}]\n", scenario.procedure.id);
    let who = |role: Role| match parties.get(role) {
        Ok(p) => p.describe(),
        Err(_) => format!("{role} (not given)"),
    };
    let _ = writeln!(out, "  steps:");
    for step in &scenario.procedure.steps {
        let _ = writeln!(out, "    {}. [{}] {}", step.n, step.party, step.title);
        let _ = writeln!(out, "       {}", step.vendor);
    }
    let planned = procedures::planned_objects(&scenario.procedure.id, &scenario.case);
    for role in [Role::Origin, Role::Target] {
        let mine: Vec<_> = planned.iter().filter(|o| o.party == role).collect();
        if mine.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  would create on {}:", who(role));
        for o in &mine {
            let _ = writeln!(
                out,
                "    {}: {} ({})",
                label(o, &format!("<run tag>-{suffix}")),
                o.what,
                o.made_by
            );
        }
        let names: Vec<String> = mine
            .iter()
            .map(|o| label(o, &format!("<run tag>-{suffix}")))
            .collect();
        let _ = writeln!(
            out,
            "  would destroy on {} when the scenario ends: every object labelled {}",
            who(role),
            names.join(", ")
        );
    }
    if planned.is_empty() {
        let _ = writeln!(out, "  would create no object");
    }
    out
}

/// The label a planned object has: its documented name with the run tag, unless its
/// procedure labels its objects as a profile names them (`procedures::tagged_labels`).
fn label(o: &procedures::PlannedObject, tag: &str) -> String {
    if o.tagged {
        format!("{}-{tag}", o.name)
    } else {
        o.name.clone()
    }
}

/// The scenarios running now and the objects each may have on its parties (labels with their
/// run tag), for what a second Ctrl-C reports as possibly left behind.
static IN_FLIGHT: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
static IN_FLIGHT_ID: AtomicUsize = AtomicUsize::new(0);

/// What the running scenarios may leave behind if the process ends now: one line per party
/// and scenario ("target token \"peer\" (...): objects labelled zmk-3f9a1c-aes-128, ...").
pub fn in_flight() -> Vec<String> {
    IN_FLIGHT
        .lock()
        .map(|v| v.iter().map(|(_, s)| s.clone()).collect())
        .unwrap_or_default()
}

/// Registers a running scenario's objects in `IN_FLIGHT` until dropped.
struct InFlight(u64);

impl InFlight {
    fn new(scenario: &Scenario, parties: &Parties, tag: &str) -> InFlight {
        let id = IN_FLIGHT_ID.fetch_add(1, Ordering::Relaxed) as u64;
        let planned = procedures::planned_objects(&scenario.procedure.id, &scenario.case);
        let mut lines = Vec::new();
        for role in [Role::Origin, Role::Target] {
            let labels: Vec<String> = planned
                .iter()
                .filter(|o| o.party == role)
                .map(|o| label(o, tag))
                .collect();
            if let (false, Ok(party)) = (labels.is_empty(), parties.get(role)) {
                lines.push(format!(
                    "{} [{}] on {}: objects labelled {}",
                    scenario.procedure.id,
                    scenario.case.id(),
                    party.describe(),
                    labels.join(", ")
                ));
            }
        }
        if let Ok(mut v) = IN_FLIGHT.lock() {
            v.extend(lines.into_iter().map(|l| (id, l)));
        }
        InFlight(id)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut v) = IN_FLIGHT.lock() {
            v.retain(|(id, _)| *id != self.0);
        }
    }
}

/// Scenarios of procedures tagged `exclusive` (calls acting on every session of a token:
/// `C_Logout`, `C_CloseAllSessions`) hold this for writing, every other scenario for reading:
/// an exclusive scenario runs alone.
static EXCLUSIVE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// The tag of procedures whose scenarios run alone.
pub const EXCLUSIVE_TAG: &str = "exclusive";

/// Runs one scenario with its executor (alone when its procedure is tagged `exclusive`).
pub fn run_scenario(scenario: &Scenario, parties: &Parties) -> ScenarioResult {
    let exclusive = scenario.procedure.tags.iter().any(|t| t == EXCLUSIVE_TAG);
    // A poisoned lock only means another scenario's thread panicked: its guard is still good.
    let (_shared, _alone) = if exclusive {
        (
            None,
            Some(EXCLUSIVE.write().unwrap_or_else(|p| p.into_inner())),
        )
    } else {
        (
            Some(EXCLUSIVE.read().unwrap_or_else(|p| p.into_inner())),
            None,
        )
    };
    let started = Instant::now();
    let mut tag_bytes = [0u8; 3];
    let _ = aws_lc_rs::rand::fill(&mut tag_bytes);
    let tag = format!(
        "{}-{}",
        hsmsim_consoles::backend::objects::hex(&tag_bytes),
        scenario.case.id().replace("negative:", "neg-")
    );
    let _in_flight = InFlight::new(scenario, parties, &tag);
    let mut run = Run {
        procedure: &scenario.procedure,
        case: &scenario.case,
        tag,
        steps: Vec::new(),
    };
    let outcome = match procedures::executor(&scenario.procedure.id) {
        Some(executor) => executor(&mut run, parties),
        None => Err(Stop::NotApplicable(format!(
            "no executor for {} in this build",
            scenario.procedure.id
        ))),
    };
    let (status, failed_step, detail) = match outcome {
        Ok(()) => (Status::Pass, None, String::new()),
        Err(Stop::Fail { step, detail }) => (Status::Fail, step, detail),
        Err(Stop::NotApplicable(why)) => (Status::NotApplicable, None, why),
    };
    ScenarioResult {
        procedure: scenario.procedure.id.clone(),
        variant: scenario.case.id(),
        status,
        failed_step,
        detail,
        duration_ms: started.elapsed().as_millis() as u64,
        steps: run.steps,
    }
}

/// Runs the scenarios on `jobs` threads (results in plan order); `on_done` sees each result
/// as it finishes (for a progress display). Once `stop` is set (an interrupt), no further
/// scenario starts; the running ones finish, cleaning up what they made. The results are
/// those of the scenarios that started.
pub fn run_all(
    scenarios: &[Scenario],
    parties: &Parties,
    jobs: usize,
    stop: &AtomicBool,
    on_done: &(dyn Fn(&ScenarioResult) + Sync),
) -> Vec<ScenarioResult> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ScenarioResult>>> =
        Mutex::new((0..scenarios.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, scenarios.len().max(1)) {
            scope.spawn(|| {
                loop {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(scenario) = scenarios.get(i) else {
                        break;
                    };
                    let result = run_scenario(scenario, parties);
                    on_done(&result);
                    let mut r = results.lock().unwrap_or_else(|p| p.into_inner());
                    r[i] = Some(result);
                }
            });
        }
    });
    let started = next.into_inner().min(scenarios.len());
    // A scenario whose thread died has no result: it is reported failed, never dropped.
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .zip(scenarios)
        .take(started)
        .map(|(r, s)| {
            r.unwrap_or_else(|| ScenarioResult {
                procedure: s.procedure.id.clone(),
                variant: s.case.id(),
                status: Status::Fail,
                failed_step: None,
                detail: "the scenario's thread ended without a result".into(),
                duration_ms: 0,
                steps: Vec::new(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_by_glob_tag_variant_and_shard() {
        let catalogue = crate::catalogue::procedures();
        let sel = |p: &[&str], t: &[&str], v: &[&str], shard| Selection {
            procedures: p.iter().map(|g| glob::Pattern::new(g).unwrap()).collect(),
            tags: t.iter().map(|s| s.to_string()).collect(),
            variants: v.iter().map(|g| glob::Pattern::new(g).unwrap()).collect(),
            shard,
        };
        let all = plan(&catalogue, &Selection::default());
        let sym = plan(
            &catalogue,
            &sel(&["primus.key-migration.sym*"], &[], &[], None),
        );
        assert!(
            sym.iter()
                .all(|s| s.procedure.id == "primus.key-migration.symmetric")
        );
        assert_eq!(sym.len(), 5, "4 variants and 1 negative");
        let aes = plan(&catalogue, &sel(&["primus.*"], &["wrap"], &["aes-*"], None));
        assert_eq!(aes.len(), 3);
        let neg = plan(&catalogue, &sel(&[], &[], &["negative:*"], None));
        assert!(neg.iter().all(|s| matches!(s.case, Case::Negative(_))));
        assert!(plan(&catalogue, &sel(&[], &["ccc"], &[], None)).is_empty());
        let luna = plan(
            &catalogue,
            &sel(&[], &["luna", "clone"], &["6.22.0-ped-*"], None),
        );
        assert_eq!(
            luna.len(),
            4 * 2,
            "four clone procedures, two destination eras"
        );
        let a = plan(&catalogue, &sel(&[], &[], &[], Some((1, 2))));
        let b = plan(&catalogue, &sel(&[], &[], &[], Some((2, 2))));
        assert_eq!(a.len() + b.len(), all.len());
        let key = |s: &Scenario| (s.procedure.id.clone(), s.case.id());
        assert!(a.iter().all(|x| !b.iter().any(|y| key(x) == key(y))));
    }
}
