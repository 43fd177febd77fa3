//! The seven CCC procedures (seed 004, `ccc.*`) through `hsmsim conformance run`: every
//! variant and negative case passes; each documented step's report entry holds the REST calls
//! made (method, path, status, CCC's answer) with no password in clear; every negative case
//! is refused with HTTP 409 (404 for an unknown service) and CCC's sentence and checked to
//! have changed nothing; the outcome checks read the partitions through PKCS#11 (Migrate
//! Service proven by use). Against a real module the procedures are not applicable, with the
//! reason.
mod common;

use common::*;
use serde_json::Value;

fn results(v: &Value) -> &Vec<Value> {
    v["results"].as_array().expect("results")
}

fn scenario<'a>(v: &'a Value, procedure: &str, variant: &str) -> &'a Value {
    results(v)
        .iter()
        .find(|r| r["procedure"] == procedure && r["variant"] == variant)
        .unwrap_or_else(|| panic!("no scenario {procedure} {variant}"))
}

/// The detail of step `n` (or of the check whose title starts with `title`).
fn detail<'a>(r: &'a Value, n: u64, title: &str) -> &'a str {
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["n"] == n && s["title"].as_str().unwrap().starts_with(title))
        .unwrap_or_else(|| panic!("no step {n} {title:?} in {r:#}"))["detail"]
        .as_str()
        .unwrap()
}

#[test]
fn every_ccc_scenario_replays_through_the_rest_api_and_negatives_change_nothing() {
    let out = output(command().args([
        "conformance",
        "run",
        "--procedure",
        "ccc.*",
        "--format",
        "json",
    ]));
    let v = json(&out);
    assert!(out.status.success(), "{}\n{v:#}", stderr(&out));
    let all = results(&v);
    let procedures: std::collections::BTreeSet<&str> = all
        .iter()
        .map(|r| r["procedure"].as_str().unwrap())
        .collect();
    assert_eq!(procedures.len(), 7, "{procedures:?}");
    assert_eq!(all.len(), 46);
    for r in all {
        assert_eq!(r["status"], "pass", "{r:#}");
        let text = r.to_string();
        for secret in ["ccc-admin-pass-2026", "CO-ccc-new-2026", "CO-payments-2021"] {
            assert!(!text.contains(secret), "{secret} in {r:#}");
        }
        if r["variant"] == "negative:copy-failed" {
            // A failed run, not a refused request: CCC's message, then the documented repair
            // (the registration refused without the credential, then synchronised).
            let failed = detail(r, 6, "");
            assert!(
                failed.contains("the migration ended \"failed\": We ran into an error while migrating the key material to the following device(s): sa7-c (sa7-c/svc1)"),
                "{failed}"
            );
            let repair = detail(r, 0, "outcome: the repair");
            assert!(
                repair.contains(
                    "POST /api/v1/services/payments-7/clients {\"host\":\"app-client\"} -> 409: "
                ) && repair.contains("sa7-b/svc1: ")
                    && repair.contains(" objects, the same labels, classes and OUIDs"),
                "{repair}"
            );
        } else if r["variant"].as_str().unwrap().starts_with("negative:") {
            let refused = r["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| {
                    s["detail"]
                        .as_str()
                        .unwrap()
                        .starts_with("refused as documented")
                })
                .unwrap_or_else(|| panic!("no refusal in {r:#}"));
            let line = refused["detail"].as_str().unwrap();
            assert!(
                line.contains(" -> 409: ") || line.contains(" -> 404: "),
                "{line}"
            );
            assert!(
                detail(r, 0, "outcome: nothing changed").starts_with("the same "),
                "{r:#}"
            );
        }
    }
    let create = scenario(&v, "ccc.service.create", "ha-password-7");
    let made = detail(create, 3, "");
    assert!(
        made.starts_with("POST /api/v1/services {") && made.contains(" -> 201: "),
        "{made}"
    );
    let init = detail(create, 4, "");
    assert!(
        init.contains("\"crypto_officer_password\":\"********\""),
        "{init}"
    );
    let shared = detail(create, 0, "outcome: the members share the cloning domain");
    assert!(shared.contains("signed on each side"), "{shared}");
    let migrated = scenario(&v, "ccc.migrate-service", "6x-ppso-password-to-7x-password");
    assert!(detail(migrated, 6, "").contains("the migration ended \"succeeded\""));
    let proof = detail(migrated, 0, "outcome: each target partition");
    for target in ["sa7-a/svc1", "sa7-b/svc1"] {
        assert!(proof.contains(target), "{proof}");
    }
    assert!(
        proof.contains("encrypted on each side, decrypted on the other"),
        "{proof}"
    );
    // A PED row: the source activated in LunaCM, the challenge given to the wizard (masked).
    let ped = scenario(&v, "ccc.migrate-service", "6x-ppso-ped-to-7x-ped");
    let activated = detail(
        ped,
        0,
        "precondition: the Crypto Officer of sa6-ppso/payments activated",
    );
    assert!(
        activated.contains("role createchallenge -name Crypto Officer -challengesecret"),
        "{activated}"
    );
    let check = detail(ped, 4, "");
    assert!(
        !check.contains("cloning_domain")
            && check.contains("\"crypto_officer_challenge\":\"********\""),
        "{check}"
    );
    let too_old = scenario(&v, "ccc.migrate-service", "negative:77-source-to-74-target");
    assert!(detail(too_old, 4, "").contains("7.7.x"), "{too_old:#}");
    let deleted = scenario(&v, "ccc.service.detach-delete", "delete");
    assert!(
        detail(
            deleted,
            0,
            "outcome: the Crypto Officer can no longer log in"
        )
        .contains("sa7-b/svc1"),
        "{deleted:#}"
    );
}

#[test]
fn against_a_real_module_the_procedures_are_not_applicable_with_the_reason() {
    let results = run_against_a_real_module(&["--procedure", "ccc.*"]);
    assert_eq!(results.len(), 46);
    for r in &results {
        assert_eq!(r["status"], "not-applicable", "{r:#}");
        assert!(
            r["detail"]
                .as_str()
                .unwrap()
                .contains("appliance web service"),
            "{r:#}"
        );
    }
}
