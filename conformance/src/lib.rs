//! hsmsim-conformance: replays the vendors' documented procedures against simulated or real
//! PKCS#11 modules. `catalogue` holds the procedures as data, `uri` and `target` name and reach
//! the tokens (`sim` or PKCS#11 URIs), `runner` plans and runs scenarios step by step,
//! `procedures` carries the steps out, `report` writes tables, JSON and JUnit XML, and `raw`
//! makes the few calls cryptoki cannot.
pub mod calls;
pub mod catalogue;
pub mod objects;
pub mod pfx;
pub mod primus_tools;
pub mod procedures;
pub mod raw;
pub mod report;
pub mod runner;
pub mod target;
pub mod uri;

/// The `CKM_*` names the simulator implements, in registry order.
pub fn simulator_mechanism_names() -> Vec<&'static str> {
    hsmsim::crypto::MECHANISMS.iter().map(|m| m.name).collect()
}
