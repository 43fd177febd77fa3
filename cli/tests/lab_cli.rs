//! The `hsmsim lab` commands as a user runs them: exit codes, JSON output, and errors on
//! stderr, from `lab init` to `lab reset`, plus the global --lab/--host flags on `slots`.
mod common;

use common::{lab_file, refused};
use serde_json::Value;
use std::process::Output;

fn hsmsim(args: &[&str]) -> Output {
    common::output(common::command().args(args))
}

/// JSON output of a command that must succeed.
fn json(out: &Output) -> Value {
    common::succeeded(out);
    common::json(out)
}

#[test]
fn init_show_check_partition_and_reset() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let out = hsmsim(&[
        "lab",
        "init",
        "--fixture",
        "luna-usb-to-network7",
        "--dir",
        &d,
    ]);
    assert!(out.status.success());
    // A second init without --force is refused with exit 2 and a reason.
    let again = hsmsim(&["lab", "init", "--fixture", "default", "--dir", &d]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let lab = lab_file(dir.path());
    let show = json(&hsmsim(&["--lab", &lab, "lab", "show", "--json"]));
    assert_eq!(show["lab"], "luna-usb-to-network7");
    let hosts: Vec<&str> = show["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["old-host", "new-host", "clone-host"]);

    let slots = json(&hsmsim(&[
        "--lab", &lab, "--host", "new-host", "slots", "--json",
    ]));
    let ids: Vec<u64> = slots["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slot"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2]);

    let check = hsmsim(&["--lab", &lab, "lab", "check", "--json"]);
    assert_eq!(json(&check)["sound"], true);

    assert!(
        hsmsim(&["--lab", &lab, "lab", "partition", "remove", "sa7/app"])
            .status
            .success()
    );
    let slots = json(&hsmsim(&[
        "--lab", &lab, "--host", "new-host", "slots", "--json",
    ]));
    assert_eq!(slots["slots"][0]["present"], false);
    let twice = hsmsim(&["--lab", &lab, "lab", "partition", "remove", "sa7/app"]);
    assert_eq!(twice.status.code(), Some(2));

    let refused = hsmsim(&["--lab", &lab, "lab", "reset"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    assert!(
        hsmsim(&["--lab", &lab, "lab", "reset", "--yes"])
            .status
            .success()
    );
    let slots = json(&hsmsim(&[
        "--lab", &lab, "--host", "new-host", "slots", "--json",
    ]));
    assert_eq!(slots["slots"][0]["present"], true);
}

#[test]
fn check_exits_1_on_a_damaged_store_and_2_on_a_broken_lab() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    assert!(hsmsim(&["lab", "init", "--dir", &d]).status.success());
    let lab = lab_file(dir.path());
    // An object whose token does not exist and whose attributes do not decode.
    let conn = rusqlite::Connection::open(dir.path().join("hsmsim.sqlite")).unwrap();
    conn.execute(
        "INSERT INTO objects (unique_id, token, public, sealed) VALUES ('bad', 'x/y', x'FF', NULL)",
        [],
    )
    .unwrap();
    drop(conn);
    let out = hsmsim(&["--lab", &lab, "lab", "check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("x/y"));

    std::fs::write(dir.path().join("broken.toml"), "[lab]\nname = 3\n").unwrap();
    let broken = dir.path().join("broken.toml").display().to_string();
    let out = hsmsim(&["--lab", &broken, "lab", "show"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.toml:2:"), "{err}");
}

#[test]
fn fixtures_lists_every_built_in_lab() {
    let out = hsmsim(&["lab", "fixtures"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["default", "generic", "luna-ccc", "primus"] {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "{name} missing: {text}"
        );
    }
}

#[test]
fn restart_reports_each_partition_and_refuses_an_unknown_device() {
    let dir = common::init_lab("luna-usb-to-network7");
    let lab = lab_file(dir.path());
    let out = hsmsim(&[
        "--lab", &lab, "lab", "restart", "sa7", "--outage", "3h", "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["device"], "sa7");
    assert_eq!(v["outage_secs"], 3 * 3600);
    let partitions: Vec<&str> = v["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["partition"].as_str().unwrap())
        .collect();
    assert!(partitions.contains(&"sa7/app"), "{v}");
    assert!(partitions.iter().all(|p| p.starts_with("sa7/")), "{v}");

    let out = hsmsim(&["--lab", &lab, "lab", "restart", "nosuch"]);
    refused(&out, 2, "no device \"nosuch\"");
    let out = hsmsim(&["--lab", &lab, "lab", "restart", "sa7", "--outage", "soon"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad duration is a usage error"
    );
}

#[test]
fn slots_lunacm_lists_luna_partitions_with_their_configuration() {
    let dir = common::init_lab("luna-usb-to-network7");
    let lab = lab_file(dir.path());
    let text = common::succeeded(&hsmsim(&["--lab", &lab, "slots", "--lunacm"]));
    assert!(text.contains("Firmware Version ->     6.21.2"), "{text}");
    assert!(
        text.contains("Configuration ->        Luna User Partition (PW) Signing With Cloning Mode"),
        "{text}"
    );
    assert!(text.contains("Current Slot Id: 0"), "{text}");
    let out = hsmsim(&["--lab", &lab, "slots", "--lunacm", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--json and --lunacm exclude each other"
    );
}

#[test]
fn conformance_run_reports_json_junit_and_refuses_bad_selections() {
    let dir = tempfile::tempdir().unwrap();
    let out = hsmsim(&[
        "conformance",
        "run",
        "--procedure",
        "primus.key-migration.sym*",
        "--variant",
        "aes-128",
        "--format",
        "json",
    ]);
    let v = json(&out);
    assert_eq!(v["summary"]["pass"], 1, "{v}");
    assert_eq!(
        v["results"][0]["procedure"],
        "primus.key-migration.symmetric"
    );
    assert_eq!(v["results"][0]["variant"], "aes-128");
    assert_eq!(v["results"][0]["status"], "pass");
    let steps = v["results"][0]["steps"].as_array().unwrap();
    let step4 = steps
        .iter()
        .find(|s| s["n"] == 4)
        .expect("step 4 is reported");
    assert!(
        step4["vendor"]
            .as_str()
            .unwrap()
            .contains("ExportKeyWrapped")
    );
    assert!(
        steps[0]["title"]
            .as_str()
            .unwrap()
            .starts_with("precondition:"),
        "the key the seed assumes is made first"
    );
    let xml = dir.path().join("report.xml");
    let out = hsmsim(&[
        "conformance",
        "run",
        "--procedure",
        "primus.key-migration.asym*",
        "--variant",
        "negative:*",
        "--format",
        "junit",
        "--out",
        &xml.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&xml).unwrap();
    assert!(text.contains("negative:non-extractable"), "{text}");
    for (args, why) in [
        (
            vec!["conformance", "run", "--shard", "3/2"],
            "K must be 1 to N",
        ),
        (
            vec!["conformance", "run", "--procedure", "no-such-vendor.*"],
            "no scenario matches",
        ),
        (
            vec!["conformance", "run", "--target", "softhsm"],
            "neither `sim` nor a PKCS#11 URI",
        ),
    ] {
        refused(&hsmsim(&args), 2, why);
    }
    let list = hsmsim(&["conformance", "list", "--json"]);
    let v = json(&list);
    assert!(v["procedures"].as_array().unwrap().len() >= 2);
}
