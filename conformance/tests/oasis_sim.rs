//! The OASIS profile test cases replayed on the simulator (a scratch lab, token ACME-DR):
//! through the runner as `hsmsim conformance run --procedure 'oasis.*'` runs them, and through
//! the executor with the version compared by major version only, so that every call of every
//! file is replayed and compared whatever Cryptoki version the simulator reports.
use hsmsim_conformance::oasis::replay::Table;
use hsmsim_conformance::procedures::oasis::{VersionRule, run_with};
use hsmsim_conformance::runner::{self, Case, Parties, Run, Selection, Status};
use hsmsim_conformance::target::{Environment, Role};
use hsmsim_conformance::{catalogue, oasis, report};
use hsmsim_consoles::backend::module::find_sim_module;
use hsmsim_consoles::backend::uri;

/// The tests of this file share the simulator's token (one process): one at a time, as the
/// runner runs `exclusive` scenarios.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn parties() -> Parties {
    let module = find_sim_module().expect("libhsmsim.so is built beside the test");
    let env = Environment::new(Some(module));
    let sim = uri::parse("sim").unwrap();
    Parties {
        origin: None,
        target: Some(env.party(&sim, "sim", Role::Target, "ACME-DR").unwrap()),
    }
}

#[test]
fn the_oasis_test_cases_pass_on_the_simulator() {
    let _alone = ALONE.lock().unwrap_or_else(|p| p.into_inner());
    let parties = parties();
    let target = parties.target.as_ref().unwrap();
    let version = Table::open(&target.module)
        .and_then(|t| t.cryptoki_version())
        .expect("the simulator's version");
    let selection = Selection {
        procedures: vec![glob::Pattern::new("oasis.*").unwrap()],
        ..Selection::default()
    };
    let scenarios = runner::plan(&catalogue::procedures(), &selection);
    assert_eq!(scenarios.len(), 8, "four profiles, two file versions");
    // Two jobs: the scenarios are `exclusive` and must still run one at a time.
    let results = runner::run_all(
        &scenarios,
        &parties,
        2,
        &std::sync::atomic::AtomicBool::new(false),
        &|_| {},
    );
    let table = report::table(&results, &report::RunInfo::default());
    for r in &results {
        let file = oasis::file(&r.procedure, &r.variant).expect("vendored");
        let want = oasis::file_version(&oasis::xml::parse(file.text).unwrap()).unwrap();
        if (version.major, version.minor) < want {
            // A simulator below the file's version: not applicable, saying why, before any
            // call of the file or any fixture.
            assert_eq!(r.status, Status::NotApplicable, "{table}");
            assert!(r.detail.contains("reports Cryptoki"), "{}", r.detail);
            assert!(r.steps.iter().all(|s| s.n == 0), "{table}");
        } else {
            assert_eq!(r.status, Status::Pass, "{table}");
        }
    }
}

#[test]
fn every_call_of_every_file_replays_on_the_simulator() {
    let _alone = ALONE.lock().unwrap_or_else(|p| p.into_inner());
    let parties = parties();
    let catalogue = catalogue::procedures();
    for file in oasis::FILES {
        let procedure = catalogue
            .iter()
            .find(|p| p.id == file.procedure)
            .expect("catalogued");
        let case = Case::Positive(
            procedure
                .variants
                .iter()
                .find(|v| v.id == file.variant)
                .cloned()
                .expect("variant"),
        );
        let mut run = Run {
            procedure,
            case: &case,
            tag: "test".into(),
            steps: Vec::new(),
        };
        let outcome = run_with(&mut run, &parties, VersionRule::SameMajor);
        let steps: Vec<String> = run
            .steps
            .iter()
            .map(|s| format!("{} {:?} {}: {}", s.n, s.status, s.title, s.detail))
            .collect();
        assert!(
            outcome.is_ok(),
            "{}: {outcome:?}\n{}",
            file.path,
            steps.join("\n")
        );
        let calls = oasis::xml::parse(file.text).unwrap().calls;
        for (i, call) in calls.iter().enumerate() {
            let step = run
                .steps
                .iter()
                .find(|s| s.n == i as u32 + 1)
                .unwrap_or_else(|| panic!("{}: step {} recorded", file.path, i + 1));
            if call.function == "C_Finalize" {
                // A clean-up call the profile lets a test omit: recorded, not replayed.
                assert_eq!(step.status, Status::NotApplicable);
                assert!(step.calls.is_empty());
                continue;
            }
            assert_eq!(step.status, Status::Pass, "{}: {}", file.path, step.detail);
            // The call was made, with its return code recorded.
            assert!(
                step.calls.iter().any(|c| c.function == call.function),
                "{}: step {} made {}: {:?}",
                file.path,
                step.n,
                call.function,
                step.calls
            );
        }
        let cleanup = run.steps.last().expect("entries");
        assert!(cleanup.title.starts_with("cleanup: "), "{}", cleanup.title);
        assert_eq!(cleanup.status, Status::Pass, "{}", cleanup.detail);
        let detail = |f: &str| {
            run.steps
                .iter()
                .filter(|s| s.calls.iter().any(|c| c.function == f))
                .map(|s| s.detail.clone())
                .collect::<Vec<_>>()
                .join("\n")
        };
        match file.procedure {
            "oasis.authentication-token" => {
                let sign = detail("C_Sign");
                assert!(
                    sign.contains("verifies over the Data with the public key read back"),
                    "{sign}"
                );
                assert!(
                    cleanup.detail.contains("destroyed the 2 fixture"),
                    "{}",
                    cleanup.detail
                );
            }
            "oasis.public-certificates-token" => {
                let attrs = detail("C_GetAttributeValue");
                assert!(
                    attrs.contains("LABEL \"Mozilla Builtin Roots\" as the file"),
                    "{attrs}"
                );
                assert!(attrs.contains("VALUE 889 bytes as the file"), "{attrs}");
                assert!(
                    cleanup.detail.contains("destroyed the 5 fixture"),
                    "{}",
                    cleanup.detail
                );
            }
            "oasis.extended" => {
                let mechs = detail("C_GetMechanismList");
                assert!(mechs.contains("Type SHA512 listed"), "{mechs}");
                assert!(detail("C_Login").contains("logged in"));
            }
            _ => {}
        }
    }
}
