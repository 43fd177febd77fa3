//! `hsmsim lab snapshot save|list|restore|delete NAME`: the lab goes back to a saved state;
//! names are checked; `restore`, `lab reset` and `lab init --force` warn when other processes
//! (here: this test process, holding the store open) have the lab open.
mod common;

use common::*;
use std::path::Path;

fn lab(dir: &Path, args: &[&str]) -> std::process::Output {
    output(command().arg("--lab").arg(lab_file(dir)).args(args))
}

fn blank2_state(dir: &Path) -> String {
    let shown = json(&lab(dir, &["lab", "show", "--json"]));
    let p = shown["devices"][0]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["partition"] == "hsm1/blank2")
        .unwrap()
        .clone();
    p["present"].to_string()
}

#[test]
fn save_list_restore_delete() {
    let dir = init_lab("default");
    let d = dir.path();
    assert!(succeeded(&lab(d, &["lab", "snapshot", "list"])).contains("no snapshots"));
    assert!(succeeded(&lab(d, &["lab", "snapshot", "save", "clean"])).contains("saved"));
    let listed = json(&lab(d, &["lab", "snapshot", "list", "--json"]));
    assert_eq!(listed["snapshots"][0]["name"], "clean", "{listed}");

    succeeded(&lab(d, &["lab", "partition", "remove", "hsm1/blank2"]));
    assert_eq!(blank2_state(d), "false");
    let out = lab(d, &["lab", "snapshot", "restore", "clean"]);
    succeeded(&out);
    assert!(
        !stderr(&out).contains("warning"),
        "nobody else: {}",
        stderr(&out)
    );
    assert_eq!(blank2_state(d), "true", "back to the snapshot");
    assert!(succeeded(&lab(d, &["lab", "check"])).contains("sound"));

    refused(
        &lab(d, &["lab", "snapshot", "save", "clean"]),
        2,
        "already exists",
    );
    refused(
        &lab(d, &["lab", "snapshot", "save", "../up"]),
        2,
        "not a snapshot name",
    );
    refused(
        &lab(d, &["lab", "snapshot", "restore", "nope"]),
        2,
        "no snapshot \"nope\"",
    );
    succeeded(&lab(d, &["lab", "snapshot", "delete", "clean"]));
    refused(
        &lab(d, &["lab", "snapshot", "delete", "clean"]),
        2,
        "no snapshot",
    );
    assert!(succeeded(&lab(d, &["lab", "snapshot", "list"])).contains("no snapshots"));
}

#[test]
fn restore_reset_and_init_force_warn_about_other_processes() {
    let dir = init_lab("default");
    let d = dir.path();
    succeeded(&lab(d, &["lab", "snapshot", "save", "s"]));
    // This process keeps the store open, as a running application would.
    let conn = rusqlite::Connection::open(d.join("hsmsim.sqlite")).unwrap();
    conn.query_row("SELECT COUNT(*) FROM tokens", [], |r| r.get::<_, i64>(0))
        .unwrap();
    let me = format!("pid {}", std::process::id());
    for args in [
        &["lab", "snapshot", "restore", "s"][..],
        &["lab", "reset", "--yes"],
    ] {
        let out = lab(d, args);
        succeeded(&out);
        let err = stderr(&out);
        // This process is named; another test's child caught between fork and exec can hold
        // a copy of the same descriptor for a moment, so the count may be higher.
        assert!(
            err.contains("warning: ") && err.contains("has this lab open") && err.contains(&me),
            "{args:?}: {err}"
        );
        assert!(err.contains("sessions end"), "{err}");
    }
    let out = output(command().args(["lab", "init", "--force", "--dir"]).arg(d));
    succeeded(&out);
    assert!(stderr(&out).contains(&me), "{}", stderr(&out));
    drop(conn);
    let out = lab(d, &["lab", "reset", "--yes"]);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}
