//! The Primus procedures replayed over PKCS#11 with the simulator on both sides (a scratch
//! lab): every variant passes, the negative cases pass by being refused as documented, and the
//! reports say so.
use hsmsim_conformance::runner::{self, Parties, Selection, Status};
use hsmsim_conformance::target::{Environment, Role};
use hsmsim_conformance::{catalogue, report};
use hsmsim_consoles::backend::module::find_sim_module;
use hsmsim_consoles::backend::uri;

#[test]
fn primus_procedures_pass_with_the_simulator_on_both_sides() {
    let module = find_sim_module().expect("libhsmsim.so is built beside the test");
    let env = Environment::new(Some(module));
    let sim = uri::parse("sim").unwrap();
    let parties = Parties {
        origin: Some(env.party(&sim, "sim", Role::Origin, "ACME-PKI").unwrap()),
        target: Some(env.party(&sim, "sim", Role::Target, "ACME-DR").unwrap()),
    };
    // The Primus procedures replayed over PKCS#11 in this process (primus.partition-to-cloudhsm
    // runs hsmsim's Decanus terminal and restore as processes on labs of its own: checked in
    // cli/tests/conformance_cloudhsm_cli.rs).
    let selection = Selection {
        procedures: ["primus.key-migration.*", "primus.adcs-key-import"]
            .map(|g| glob::Pattern::new(g).unwrap())
            .to_vec(),
        ..Selection::default()
    };
    let scenarios = runner::plan(&catalogue::procedures(), &selection);
    assert!(scenarios.len() >= 21, "{} scenarios", scenarios.len());
    let results = runner::run_all(
        &scenarios,
        &parties,
        2,
        &std::sync::atomic::AtomicBool::new(false),
        &|_| {},
    );
    assert_eq!(
        results.len(),
        scenarios.len(),
        "every scenario has a result"
    );
    let info = report::RunInfo::default();
    let table = report::table(&results, &info);
    for r in &results {
        assert_eq!(r.status, Status::Pass, "{}", table);
        // Every documented step ran, then the outcome checks.
        let steps: Vec<u32> = r.steps.iter().filter(|s| s.n > 0).map(|s| s.n).collect();
        let checks = r
            .steps
            .iter()
            .filter(|s| s.title.starts_with("outcome: "))
            .count();
        // The scenario ends with its cleanup, which counted what it destroyed and left nothing.
        let cleanup = r.steps.last().expect("entries");
        assert!(cleanup.title.starts_with("cleanup: "), "{}", cleanup.title);
        assert_eq!(cleanup.status, Status::Pass, "{}", cleanup.detail);
        assert!(cleanup.detail.contains(", 0 left"), "{}", cleanup.detail);
        // Every entry that reached a token recorded its calls, each with a return code.
        // (The AD CS import's step 1 opens the backup file, outside any token, and its
        // negative cases are refused in software before anything reaches the token.)
        for s in &r.steps {
            let opens_the_file = r.procedure == "primus.adcs-key-import"
                && (s.n == 1 || r.variant.starts_with("negative:"));
            let reaches_a_token = s.status == Status::Pass && s.n > 0 && !opens_the_file
                || s.title.starts_with("outcome: ");
            if reaches_a_token {
                assert!(!s.calls.is_empty(), "{}: {}", r.variant, s.title);
            }
            for c in &s.calls {
                assert!(c.function.starts_with("C_"), "{c:?}");
                assert!(c.rv.starts_with("CKR_"), "{c:?}");
            }
        }
        match (r.procedure.as_str(), r.variant.as_str()) {
            ("primus.adcs-key-import", "negative:mismatch") => assert_eq!(steps, [1, 2, 3]),
            ("primus.adcs-key-import", v) if v.starts_with("negative:") => {
                assert_eq!(steps, [1], "{v}")
            }
            ("primus.adcs-key-import", v) => {
                assert_eq!(steps, [1, 2, 3, 4, 5], "{v}");
                assert_eq!(checks, 3, "{v}");
                // Steps 2 and 4 happen outside PKCS#11: recorded, not replayed.
                for s in r.steps.iter().filter(|s| s.n == 2 || s.n == 4) {
                    assert_eq!(s.status, Status::NotApplicable, "{v}: step {}", s.n);
                }
            }
            (_, v) if v.starts_with("negative:") => assert_eq!(steps, [1, 2, 3, 4], "{v}"),
            (_, v) => {
                assert_eq!(steps, [1, 2, 3, 4, 5, 6], "{v}");
                assert!(checks >= 3, "{v}");
            }
        }
    }
    let json: serde_json::Value = serde_json::from_str(&report::json(&results, &info)).unwrap();
    assert_eq!(json["summary"]["fail"], 0);
    assert_eq!(
        json["results"][0]["procedure"],
        "primus.key-migration.symmetric"
    );
    let xml = report::junit(&results, &info).unwrap();
    assert!(
        xml.contains("<testsuite name=\"primus.key-migration.asymmetric\""),
        "{xml}"
    );
    drop(parties);
    unreachable_modules_and_tokens_are_clear_errors();
    hsmsim_conformance::target::finish();
}

/// Unreachable modules and tokens are clear errors (run after the scenarios: one test owns the
/// process's modules, and finishes them).
fn unreachable_modules_and_tokens_are_clear_errors() {
    let env = Environment::new(find_sim_module());
    let missing = uri::parse("pkcs11:token=x?module-path=/nonexistent/libnothing.so").unwrap();
    let e = env
        .party(&missing, "missing", Role::Target, "x")
        .unwrap_err();
    assert!(e.0.contains("/nonexistent/libnothing.so"), "{e}");
    let sim = uri::parse("sim:token=NO-SUCH-TOKEN").unwrap();
    let e = env.party(&sim, "sim", Role::Target, "ACME-DR").unwrap_err();
    assert!(e.0.contains("no initialised token"), "{e}");
}
