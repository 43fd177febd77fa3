//! `hsmsim lab ...` with a state file that is not an hsmsim store this build can use (empty,
//! another program's SQLite database, a newer schema): every command that opens the lab refuses
//! with exit 2, naming the file, what is wrong and the fix, and leaves the file unchanged;
//! `lab check` reports it (exit 1); `lab reset --yes` and `lab init --force` are the fix: they
//! move it aside intact and start a fresh store.
mod common;

use common::*;
use std::path::{Path, PathBuf};

fn db(dir: &Path) -> PathBuf {
    dir.join("hsmsim.sqlite")
}

/// Replaces the lab's store with `bytes` (its -wal and -shm removed).
fn replace_store(dir: &Path, bytes: &[u8]) {
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("hsmsim.sqlite{suffix}")));
    }
    std::fs::write(db(dir), bytes).unwrap();
}

fn lab(dir: &Path, args: &[&str]) -> std::process::Output {
    output(command().arg("--lab").arg(lab_file(dir)).args(args))
}

/// The files `dir` holds whose names start with "hsmsim.sqlite.damaged-" (not their -wal
/// and -shm, moved with them).
fn moved_aside(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .is_some_and(|n| {
                    n.starts_with("hsmsim.sqlite.damaged-")
                        && !n.ends_with("-wal")
                        && !n.ends_with("-shm")
                })
        })
        .collect()
}

fn assert_refused(dir: &Path, out: &std::process::Output, reason: &str) {
    let file = db(dir).display().to_string();
    for wanted in [file.as_str(), reason, "hsmsim lab reset --yes"] {
        refused(out, 2, wanted);
    }
}

#[test]
fn a_zero_byte_store_is_refused_reported_and_reset() {
    let dir = init_lab("default");
    replace_store(dir.path(), b"");
    for args in [
        &["lab", "show"][..],
        &["slots"],
        &["lab", "partition", "remove", "hsm1/blank2"],
    ] {
        assert_refused(dir.path(), &lab(dir.path(), args), "it is empty (0 bytes)");
    }
    assert_eq!(
        std::fs::metadata(db(dir.path())).unwrap().len(),
        0,
        "left unchanged"
    );
    let out = lab(dir.path(), &["lab", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("it is empty (0 bytes)"));
    let checked = json(&lab(dir.path(), &["lab", "check", "--json"]));
    assert_eq!(checked["sound"], false);

    let out = succeeded(&lab(dir.path(), &["lab", "reset", "--yes"]));
    assert!(out.contains("moved aside"), "{out}");
    let aside = moved_aside(dir.path());
    assert_eq!(aside.len(), 1);
    assert_eq!(std::fs::metadata(&aside[0]).unwrap().len(), 0);
    assert!(succeeded(&lab(dir.path(), &["lab", "check"])).contains("sound"));
    assert!(succeeded(&lab(dir.path(), &["lab", "show"])).contains("hsmsim-default"));
}

#[test]
fn another_programs_database_is_refused_and_init_force_replaces_it() {
    let dir = init_lab("default");
    let other = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&other).unwrap();
    conn.execute_batch("CREATE TABLE invoices (id INTEGER); INSERT INTO invoices VALUES (7);")
        .unwrap();
    drop(conn);
    let bytes = std::fs::read(&other).unwrap();
    replace_store(dir.path(), &bytes);
    assert_refused(
        dir.path(),
        &lab(dir.path(), &["lab", "show"]),
        "another program's SQLite database (its tables: invoices",
    );
    assert_eq!(
        std::fs::read(db(dir.path())).unwrap(),
        bytes,
        "left unchanged"
    );

    let out = succeeded(&output(
        command()
            .args(["lab", "init", "--force", "--dir"])
            .arg(dir.path()),
    ));
    assert!(out.contains("moved aside"), "{out}");
    let aside = moved_aside(dir.path());
    assert_eq!(aside.len(), 1);
    assert_eq!(std::fs::read(&aside[0]).unwrap(), bytes, "kept intact");
    assert!(succeeded(&lab(dir.path(), &["lab", "check"])).contains("sound"));
}

#[test]
fn a_store_of_a_newer_schema_is_refused() {
    let dir = init_lab("default");
    let conn = rusqlite::Connection::open(db(dir.path())).unwrap();
    conn.execute(
        "UPDATE meta SET value = 42 WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    drop(conn);
    let before = std::fs::read(db(dir.path())).unwrap();
    assert_refused(
        dir.path(),
        &lab(dir.path(), &["slots"]),
        "written by a newer hsmsim (store schema 42",
    );
    assert_eq!(
        std::fs::read(db(dir.path())).unwrap(),
        before,
        "left unchanged"
    );
    // Without --yes, reset still refuses to run.
    assert_eq!(lab(dir.path(), &["lab", "reset"]).status.code(), Some(2));
    succeeded(&lab(dir.path(), &["lab", "reset", "--yes"]));
    assert_eq!(moved_aside(dir.path()).len(), 1);
    succeeded(&lab(dir.path(), &["slots"]));
}
