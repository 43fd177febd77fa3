//! `hsmsim lab ...` on a read-only lab (`HSMSIM_READ_ONLY=1`, or a state directory the user
//! cannot write — tested with chmod unless the tests run with privileges that write through
//! it): show, check and slots work; commands that change the lab refuse with a sentence
//! saying the state is read-only, and the store is left unchanged.
mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn lab(dir: &Path, read_only: bool, args: &[&str]) -> std::process::Output {
    let mut c = command();
    c.arg("--lab").arg(lab_file(dir)).args(args);
    if read_only {
        c.env("HSMSIM_READ_ONLY", "1");
    }
    output(&mut c)
}

fn reads_work_and_changes_are_refused(dir: &Path, forced: bool) {
    let db = dir.join("hsmsim.sqlite");
    let before = std::fs::read(&db).unwrap();
    assert!(succeeded(&lab(dir, forced, &["lab", "show"])).contains("hsmsim-default"));
    assert!(succeeded(&lab(dir, forced, &["lab", "check"])).contains("sound"));
    succeeded(&lab(dir, forced, &["slots"]));
    for args in [
        &["lab", "reset", "--yes"][..],
        &["lab", "partition", "remove", "hsm1/blank2"],
        &["lab", "restart", "hsm1"],
    ] {
        refused(&lab(dir, forced, args), 2, "the lab's state is read-only");
    }
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the store is unchanged"
    );
}

#[test]
fn a_read_only_lab_can_be_shown_and_checked_but_not_changed() {
    let dir = init_lab("default");
    reads_work_and_changes_are_refused(dir.path(), true);

    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let probe = dir.path().join("probe");
    if std::fs::write(&probe, b"").is_ok() {
        let _ = std::fs::remove_file(&probe);
        eprintln!("privileged (root): the unwritable directory is covered by HSMSIM_READ_ONLY=1");
    } else {
        reads_work_and_changes_are_refused(dir.path(), false);
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    succeeded(&lab(
        dir.path(),
        false,
        &["lab", "partition", "remove", "hsm1/blank2"],
    ));
}
