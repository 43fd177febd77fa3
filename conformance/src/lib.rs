//! hsmsim-conformance: replays the vendors' documented procedures against simulated or real
//! PKCS#11 modules. `catalogue` holds the procedures as data, `target` reaches the tokens of a
//! run (`sim` or PKCS#11 URIs, through the consoles' backend), `runner` plans and runs
//! scenarios step by step, `procedures` carries the steps out (the documented vendor commands
//! through the consoles of `hsmsim-consoles`), `evidence` is what the outcome checks and
//! cleanups do with objects, `pfx` reads AD CS backups, and `report` writes tables, JSON,
//! JUnit XML, Markdown and HTML; `oasis` reads and replays the OASIS PKCS#11 profile test
//! cases (the `oasis.*` procedures).
pub mod catalogue;
pub mod evidence;
pub mod oasis;
pub mod pfx;
pub mod procedures;
pub mod report;
pub mod runner;
pub mod target;

/// The `CKM_*` names the simulator implements, in registry order.
pub fn simulator_mechanism_names() -> Vec<&'static str> {
    hsmsim::crypto::MECHANISMS.iter().map(|m| m.name).collect()
}
