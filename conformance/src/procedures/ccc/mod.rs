//! The seven Thales Crypto Command Center procedures of seed 004 (`ccc.*`), replayed through
//! CCC's REST API: each scenario makes its own lab from the built-in `luna-ccc` fixture
//! (`lab`), starts the simulated CCC in this process on 127.0.0.1:0 (`hsmsim_ccc_web::start`),
//! sets the Administrator's password, logs in and performs the documented steps as HTTP calls
//! (`steps`), the report showing each request (method, path, body with secrets masked), its
//! status and CCC's answer. Outcome checks look at the partitions and objects themselves
//! through PKCS#11 (a console worker on the lab's `ccc-server` host): the Crypto Officer's
//! login, objects synchronised or migrated proven by use, the source unchanged. Every negative
//! case must be refused with CCC's sentence and leave CCC's view as it was. CCC is an
//! appliance web service, not a PKCS#11 call: against a real module the procedures are "not
//! applicable", with that reason.
pub mod lab;
mod steps;

use super::PlannedObject;
use crate::runner::{Case, Parties, Run, Stop};
use crate::target::Role;

/// Carries out one scenario of a CCC procedure.
pub fn run(run: &mut Run<'_>, parties: &Parties) -> Result<(), Stop> {
    super::simulator_only(
        parties,
        "Crypto Command Center is an appliance web service that manages Luna Network HSMs through their HSM SO and NTLS, not a PKCS#11 call; its procedures run against the simulated CCC only (--origin sim --target sim)",
    )?;
    // The worker program is needed for the PKCS#11 checks: fail early with the reason.
    crate::procedures::luna::worker_program()?;
    let (variant, negative) = match run.case {
        Case::Positive(v) => (v.id.clone(), None),
        Case::Negative(n) => (
            n.variant.clone().unwrap_or_else(|| {
                run.procedure
                    .variants
                    .first()
                    .map(|v| v.id.clone())
                    .unwrap_or_default()
            }),
            Some(n.id.clone()),
        ),
    };
    let edits = steps::edits(&run.procedure.id, &variant, negative.as_deref());
    let ccc = run.precondition_noted(
        "the scenario's own copy of the luna-ccc lab, the Administrator's password set, CCC serving it on 127.0.0.1",
        || lab::CccLab::start(&edits),
    )?;
    let procedure = run.procedure.id.clone();
    let mut scenario = steps::Scenario {
        run,
        ccc,
        negative,
        variant,
    };
    let outcome = match procedure.as_str() {
        "ccc.service.create" => steps::create(&mut scenario),
        "ccc.service.import" => steps::import(&mut scenario),
        "ccc.service.add-partition" => steps::add_partition(&mut scenario),
        "ccc.service.remove-partition" => steps::remove_partition(&mut scenario),
        "ccc.service.resize" => steps::resize(&mut scenario),
        "ccc.service.detach-delete" => steps::detach_delete(&mut scenario),
        "ccc.migrate-service" => steps::migrate(&mut scenario),
        other => Err(Stop::fail(format!("no CCC executor for {other}"))),
    };
    let steps::Scenario { run, mut ccc, .. } = scenario;
    run.cleanup("CCC stopped, the scenario's lab removed", outcome, || {
        ccc.stop()?;
        let dir = ccc.lab.dir.path().display().to_string();
        drop(ccc);
        Ok(format!(
            "the server stopped; {dir} removed with everything in it"
        ))
    })
}

/// The objects a scenario makes: the realistic mix on a partition of the scenario's own lab
/// (removed with it), for the procedures that check objects.
pub fn planned_objects(procedure: &str) -> Vec<PlannedObject> {
    let on = match procedure {
        "ccc.migrate-service" => "the source service's partition",
        "ccc.service.import" => "sa6-ppso/payments",
        "ccc.service.add-partition" => "the service's first partition",
        "ccc.service.detach-delete" | "ccc.service.create" => "the service's first partition",
        _ => return Vec::new(),
    };
    super::luna::worker::MIX
        .iter()
        .map(|kind| PlannedObject {
            tagged: true,
            party: if procedure == "ccc.migrate-service" {
                Role::Origin
            } else {
                Role::Target
            },
            name: kind.to_string(),
            what: format!(
                "the mix's {kind} object on {on}, in the scenario's own lab (removed with it)"
            ),
            made_by: "precondition".into(),
        })
        .collect()
}
