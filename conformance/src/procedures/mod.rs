//! The executors: for each catalogue procedure, the code that carries out its documented steps
//! (by number, through `Run::step`) and checks its outcome. A procedure without an executor is
//! reported "not applicable".
pub mod adcs;
pub mod key_migration;

use crate::runner::{Parties, Run, Stop};

/// Carries out one scenario.
pub type Executor = fn(&mut Run<'_>, &Parties) -> Result<(), Stop>;

/// The executor of a catalogue procedure.
pub fn executor(procedure: &str) -> Option<Executor> {
    match procedure {
        "primus.key-migration.symmetric" | "primus.key-migration.asymmetric" => {
            Some(key_migration::run)
        }
        "primus.adcs-key-import" => Some(adcs::run),
        _ => None,
    }
}
