//! The executors: for each catalogue procedure, the code that carries out its documented steps
//! (by number, through `Run::step`) and checks its outcome. A procedure without an executor is
//! reported "not applicable". Each executor also says, for `--dry-run`, which objects a
//! scenario would create on each party (all of them are destroyed when the scenario ends).
pub mod adcs;
pub mod ccc;
pub mod cloudhsm;
pub mod key_migration;
pub mod luna;
pub mod oasis;

use crate::runner::{Case, Parties, Run, Stop};
use crate::target::Role;

/// Carries out one scenario.
pub type Executor = fn(&mut Run<'_>, &Parties) -> Result<(), Stop>;

/// The executor of a catalogue procedure.
pub fn executor(procedure: &str) -> Option<Executor> {
    match procedure {
        "primus.key-migration.symmetric" | "primus.key-migration.asymmetric" => {
            Some(key_migration::run)
        }
        "primus.adcs-key-import" => Some(adcs::run),
        "primus.partition-to-cloudhsm" => Some(cloudhsm::run),
        luna if luna.starts_with("luna.") => Some(luna::run),
        ccc if ccc.starts_with("ccc.") => Some(ccc::run),
        oasis if oasis.starts_with("oasis.") => Some(oasis::run),
        _ => None,
    }
}

/// "Not applicable" with `why` (after the party's description) when a party is not the
/// simulator's `sim`: for procedures whose steps no PKCS#11 module reaches.
pub(crate) fn simulator_only(parties: &Parties, why: &str) -> Result<(), Stop> {
    match [&parties.origin, &parties.target]
        .into_iter()
        .flatten()
        .find(|p| !p.module.simulator || p.name != "sim")
    {
        Some(real) => Err(Stop::NotApplicable(format!("{}: {why}", real.describe()))),
        None => Ok(()),
    }
}

/// An object a scenario creates on a party and destroys when it ends (what `--dry-run` prints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedObject {
    pub party: Role,
    /// The documented name; the scenario labels it `NAME-<run tag>` when `tagged`.
    pub name: String,
    /// Labelled with the run tag; `false` for objects a profile names (the OASIS fixtures:
    /// their test cases find them by these labels).
    pub tagged: bool,
    /// What the object is ("RSA-2048 key pair").
    pub what: String,
    /// The step (or precondition) that creates it.
    pub made_by: String,
}

/// The objects a scenario of `procedure` with `case` would create (none for a procedure
/// without an executor).
pub fn planned_objects(procedure: &str, case: &Case) -> Vec<PlannedObject> {
    match procedure {
        "primus.key-migration.symmetric" | "primus.key-migration.asymmetric" => {
            key_migration::planned_objects(procedure, case)
        }
        "primus.adcs-key-import" => adcs::planned_objects(case),
        "primus.partition-to-cloudhsm" => cloudhsm::planned_objects(case),
        luna if luna.starts_with("luna.") => luna::planned_objects(),
        ccc if ccc.starts_with("ccc.") => ccc::planned_objects(ccc),
        oasis if oasis.starts_with("oasis.") => oasis::planned_objects(oasis),
        _ => Vec::new(),
    }
}
