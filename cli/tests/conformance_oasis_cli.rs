//! The OASIS profile test cases (`oasis.*`) through `hsmsim conformance run` on the simulator:
//! each file's scenario passes, every call of the file a step of the report with its return
//! code, or, on a simulator reporting a Cryptoki version below the file's, is "not applicable"
//! saying so before any call or fixture (the replay itself is checked call by call on the
//! simulator in conformance/tests/oasis_sim.rs whatever its version).
mod common;

use common::*;
use serde_json::Value;

/// "v3.2" -> (3, 2).
fn variant_version(variant: &str) -> (u32, u32) {
    let (a, b) = variant
        .trim_start_matches('v')
        .split_once('.')
        .expect("vM.m");
    (a.parse().unwrap(), b.parse().unwrap())
}

/// The version in "... reports Cryptoki 3.0 (...".
fn reported_version(detail: &str) -> (u32, u32) {
    let rest = detail
        .split("reports Cryptoki ")
        .nth(1)
        .unwrap_or_else(|| panic!("no version in {detail:?}"));
    let v: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    variant_version(&v)
}

#[test]
fn the_oasis_procedures_run_on_the_simulator() {
    let out = output(command().args([
        "conformance",
        "run",
        "--procedure",
        "oasis.*",
        "--format",
        "json",
    ]));
    let v = json(&out);
    assert!(out.status.success(), "{}\n{v:#}", stderr(&out));
    let all = v["results"].as_array().expect("results");
    assert_eq!(all.len(), 8, "four profiles x two file versions: {v:#}");
    for r in all {
        let variant = r["variant"].as_str().unwrap();
        let steps = r["steps"].as_array().unwrap();
        match r["status"].as_str().unwrap() {
            "pass" => {
                let numbered: Vec<&Value> = steps.iter().filter(|s| s["n"] != 0).collect();
                assert!(numbered.len() >= 13, "{r:#}");
                for s in &numbered {
                    let title = s["title"].as_str().unwrap();
                    if title.starts_with("Finalise the library") {
                        assert_eq!(s["status"], "not-applicable", "{s:#}");
                    } else {
                        assert_eq!(s["status"], "pass", "{s:#}");
                        let calls = s["calls"].as_array().unwrap();
                        assert!(!calls.is_empty(), "{s:#}");
                        assert!(calls.iter().all(|c| c["rv"].is_string()), "{s:#}");
                    }
                }
            }
            "not-applicable" => {
                let detail = r["detail"].as_str().unwrap();
                assert!(
                    reported_version(detail) < variant_version(variant),
                    "{detail}"
                );
                assert!(steps.iter().all(|s| s["n"] == 0), "{r:#}");
            }
            other => panic!("{other}: {r:#}"),
        }
    }
}

#[test]
fn the_dry_run_lists_the_oasis_calls_and_fixtures() {
    let out = output(command().args([
        "conformance",
        "run",
        "--dry-run",
        "--procedure",
        "oasis.authentication-token",
        "--variant",
        "v3.2",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("oasis.authentication-token [v3.2]"), "{text}");
    assert!(text.contains("<C_Sign>"), "{text}");
    assert!(
        text.contains("every object labelled testrsa-pub, testrsa-pri"),
        "{text}"
    );
}
