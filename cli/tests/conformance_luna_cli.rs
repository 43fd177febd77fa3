//! The Luna procedures of seed 003 through `hsmsim conformance run`: a clone, a backup and
//! restore across two hosts, an HA group, the guide's as-printed step 1 and negative cases,
//! each typed into LunaCM consoles (worker processes of `hsmsim`); the report shows each
//! step's LunaCM transcript, the outcome checks their evidence. (CI runs the whole matrix
//! in release: `.ci/conformance.sh`.)
mod common;
use common::*;
use serde_json::Value;

fn run(args: &[&str]) -> Value {
    let out = output(
        command()
            .args(["conformance", "run", "--format", "json"])
            .args(args),
    );
    let v = json(&out);
    assert!(out.status.success(), "{}\n{v:#}", stderr(&out));
    v
}

fn step<'a>(result: &'a Value, title_start: &str) -> &'a Value {
    result["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"].as_str().unwrap().starts_with(title_start))
        .unwrap_or_else(|| panic!("no step {title_start:?} in {result:#}"))
}

#[test]
fn the_listing_shows_the_ten_procedures_with_the_guides_matrix_and_negatives() {
    let out = output(command().args(["conformance", "list", "--json"]));
    let v = json(&out);
    let luna: Vec<&Value> = v["procedures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["id"].as_str().unwrap().starts_with("luna."))
        .collect();
    assert_eq!(luna.len(), 10, "{luna:#?}");
    for p in &luna {
        let variants: Vec<&str> = p["variants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect();
        for v in ["5.x-password-7.4", "6.21.2-ped-7.7", "6.22.0-password-7.7"] {
            assert!(variants.contains(&v), "{}: {variants:?}", p["id"]);
        }
        let negatives = p["negatives"].as_array().unwrap();
        assert!(
            negatives
                .iter()
                .any(|n| n["id"] == "negative:domain-mismatch"),
            "{p}"
        );
    }
}

#[test]
fn a_clone_is_typed_into_lunacm_and_the_copy_proven() {
    let v = run(&[
        "--procedure",
        "luna.network-to-network7.clone",
        "--variant",
        "6.22.0-password-7.7",
    ]);
    let r = &v["results"][0];
    assert_eq!(r["status"], "pass", "{r:#}");
    // The guide's commands as typed, with LunaCM's answers.
    let login = step(r, "Set the current slot to the source");
    let detail = login["detail"].as_str().unwrap();
    assert!(
        detail.contains("lunacm:> role login -name Crypto Officer"),
        "{detail}"
    );
    let clone = step(r, "Clone every object");
    let detail = clone["detail"].as_str().unwrap();
    assert!(
        detail.contains("lunacm:> partition clone -objects 0 -slot 1"),
        "{detail}"
    );
    assert!(detail.contains("8 of 8 object(s) cloned"), "{detail}");
    assert!(detail.contains("Command Result : No Error"), "{detail}");
    let roles = step(r, "Log in as the Partition SO");
    assert!(
        roles["detail"]
            .as_str()
            .unwrap()
            .contains("not in the guide's step"),
        "the guide's missing password change is reported: {roles}"
    );
    let copy = step(r, "outcome: the destination holds");
    assert!(
        copy["detail"]
            .as_str()
            .unwrap()
            .starts_with("8 objects on each side"),
        "{copy}"
    );
    let used = step(r, "outcome: every key proven");
    for kind in ["rsa", "ec", "aes", "des3"] {
        assert!(used["detail"].as_str().unwrap().contains(kind), "{used}");
    }
}

#[test]
fn chapter_3_backs_up_on_the_old_host_and_restores_on_the_new_one() {
    let v = run(&[
        "--procedure",
        "luna.usb-to-network7.backup-restore",
        "--variant",
        "5.x-ped-7.4",
    ]);
    let r = &v["results"][0];
    assert_eq!(r["status"], "pass", "{r:#}");
    let backup = step(r, "Back up the source");
    let detail = backup["detail"].as_str().unwrap();
    assert!(detail.contains("[old-host] lunacm:>"), "{detail}");
    assert!(detail.contains("Please attend to the PED."), "{detail}");
    let moved = step(r, "Move the Backup HSM");
    assert!(
        moved["detail"]
            .as_str()
            .unwrap()
            .contains("hsmsim lab attach backup --host new-host"),
        "{moved}"
    );
    let restore = step(
        r,
        "Log in as the Crypto Officer on the 7.x partition and restore",
    );
    assert!(
        restore["detail"]
            .as_str()
            .unwrap()
            .contains("[new-host] lunacm:> partition archive restore -slot 2"),
        "{restore}"
    );
}

#[test]
fn the_guides_as_printed_step_1_is_caught_and_negatives_are_refused_as_documented() {
    let v = run(&[
        "--procedure",
        "luna.network-to-network7.*",
        "--variant",
        "as-printed",
        "--variant",
        "negative:domain-mismatch",
        "--variant",
        "negative:co-on-ppso6",
    ]);
    let results = v["results"].as_array().unwrap();
    // as-printed (backup-restore only), and two negatives for each of the three procedures.
    assert_eq!(results.len(), 1 + 3 * 2, "{v:#}");
    for r in results {
        assert_eq!(r["status"], "pass", "{r:#}");
    }
    let printed = results
        .iter()
        .find(|r| r["variant"] == "as-printed")
        .unwrap();
    let first = step(printed, "Set the current slot to the 7.x partition");
    let detail = first["detail"].as_str().unwrap();
    assert!(detail.contains("HAZARD caught"), "{detail}");
    assert!(detail.contains("lunacm:> slot set -slot 0"), "{detail}");
    assert!(detail.contains("8 objects"), "{detail}");
    // The source is unchanged after the rehearsal answered 'quit'.
    let unchanged = step(printed, "outcome: the source is unchanged");
    assert_eq!(unchanged["status"], "pass");
    let mismatch = results
        .iter()
        .find(|r| {
            r["procedure"] == "luna.network-to-network7.clone"
                && r["variant"] == "negative:domain-mismatch"
        })
        .unwrap();
    let refused = step(mismatch, "Clone every object");
    let detail = refused["detail"].as_str().unwrap();
    assert!(detail.starts_with("refused as documented"), "{detail}");
    let per_object = detail
        .lines()
        .filter(|l| l.contains("not cloned: 0x8000000c (CKR_CERTIFICATE_INVALID)."))
        .count();
    assert_eq!(
        per_object, 8,
        "one error per object from a pre-7.7 source: {detail}"
    );
}

#[test]
fn the_ha_procedure_sets_policy_22_in_lunash_and_synchronises() {
    let v = run(&[
        "--procedure",
        "luna.network-to-network7.ha",
        "--variant",
        "6.21.2-password-7.4",
    ]);
    let r = &v["results"][0];
    assert_eq!(r["status"], "pass", "{r:#}");
    let lunash = step(r, "In LunaSH");
    let detail = lunash["detail"].as_str().unwrap();
    assert!(
        detail
            .contains("lunash:> partition changepolicy -partition sa6-app-par -policy 22 -value 1"),
        "{detail}"
    );
    assert!(detail.contains("Command Result : 0 (Success)"), "{detail}");
    let listed = step(r, "Check the group");
    assert!(
        listed["detail"].as_str().unwrap().contains("Needs sync"),
        "{listed}"
    );
}
