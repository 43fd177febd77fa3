//! `hsmsim lab check` authenticates every sealed key value under its token key (opened with
//! the lab file's documented PINs, or `--pin`) and names each damaged object: its partition,
//! unique id and label. The records are damaged with rusqlite in the lab's store.
mod common;

use common::*;
use std::path::Path;

fn fixture(name: &str) -> String {
    format!("{}/../fixtures/pki/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn lab(dir: &Path, args: &[&str]) -> std::process::Output {
    output(
        command()
            .arg("--lab")
            .arg(lab_file(dir))
            .args(args)
            .env("HSMSIM_HOST", "ca-server"),
    )
}

/// A primus lab with the AD CS CA key (sealed) and certificate (public) on ACME-ADCS.
fn lab_with_ca_key() -> tempfile::TempDir {
    let dir = init_lab("primus");
    succeeded(&lab(
        dir.path(),
        &[
            "import-pfx",
            "--target",
            "sim:token=ACME-ADCS",
            "--pfx",
            &fixture("adcs-ca.pfx"),
            "--password",
            "Pfx-Pass-01",
        ],
    ));
    dir
}

/// The unique id of the object on ACME-ADCS with a sealed value (the key) or without (the
/// certificate).
fn unique_id(conn: &rusqlite::Connection, sealed: bool) -> String {
    conn.query_row(
        &format!(
            "SELECT unique_id FROM objects WHERE token = 'primus-onprem/ACME-ADCS' AND sealed IS {} NULL",
            if sealed { "NOT" } else { "" }
        ),
        [],
        |r| r.get(0),
    )
    .unwrap()
}

fn store(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("hsmsim.sqlite")).unwrap()
}

#[test]
fn a_damaged_sealed_value_is_named_with_the_documented_pin_or_with_pin() {
    let dir = lab_with_ca_key();
    let json_check = |args: &[&str]| {
        json(&lab(
            dir.path(),
            &[&["lab", "check", "--json"], args].concat(),
        ))
    };
    let sound = json_check(&[]);
    assert_eq!(sound["sound"], true, "{sound}");
    assert!(
        sound["sealed_checked"]
            .as_array()
            .unwrap()
            .contains(&"primus-onprem/ACME-ADCS".into()),
        "{sound}"
    );

    // Flip one byte of the key's sealed value.
    let conn = store(dir.path());
    let uid = unique_id(&conn, true);
    let mut sealed: Vec<u8> = conn
        .query_row(
            "SELECT sealed FROM objects WHERE unique_id = ?1",
            [&uid],
            |r| r.get(0),
        )
        .unwrap();
    sealed[20] ^= 0x01;
    conn.execute(
        "UPDATE objects SET sealed = ?1 WHERE unique_id = ?2",
        rusqlite::params![sealed, uid],
    )
    .unwrap();
    drop(conn);
    let out = lab(dir.path(), &["lab", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let problem = text
        .lines()
        .find(|l| l.contains("does not authenticate"))
        .unwrap_or_else(|| panic!("no sealed-value problem in: {text}"));
    for wanted in [
        "partition primus-onprem/ACME-ADCS",
        &format!("object {uid}"),
        "label \"ACME Issuing CA\"",
    ] {
        assert!(problem.contains(wanted), "{wanted:?} not in {problem}");
    }

    // Without the documented PIN, the key cannot be checked (and says so), until --pin.
    let text = std::fs::read_to_string(dir.path().join("lab.toml")).unwrap();
    let undocumented = text.replace("user_pin = \"Pkcs11-AcmeAdcs-01\"", "");
    assert_ne!(text, undocumented);
    std::fs::write(dir.path().join("lab.toml"), undocumented).unwrap();
    let unchecked = json_check(&[]);
    assert_eq!(unchecked["sound"], true, "{unchecked}");
    assert!(
        unchecked["sealed_unchecked"]
            .as_array()
            .unwrap()
            .contains(&"primus-onprem/ACME-ADCS".into()),
        "{unchecked}"
    );
    let out = lab(dir.path(), &["lab", "check"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("give --pin"));
    let wrong = json_check(&["--pin", "not-the-pin-00"]);
    assert_eq!(wrong["sound"], true, "{wrong}");
    let given = json_check(&["--pin", "not-the-pin-00", "--pin", "Pkcs11-AcmeAdcs-01"]);
    assert_eq!(given["sound"], false, "{given}");
    assert!(given["problems"].to_string().contains(&uid), "{given}");
}

#[test]
fn a_damaged_public_record_is_named() {
    let dir = lab_with_ca_key();
    let conn = store(dir.path());
    let cert = unique_id(&conn, false);
    conn.execute(
        "UPDATE objects SET public = x'FFFFFFFF' WHERE unique_id = ?1",
        [&cert],
    )
    .unwrap();
    drop(conn);
    let out = lab(dir.path(), &["lab", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("partition primus-onprem/ACME-ADCS")
                && l.contains(&format!("object {cert}"))
                && l.contains("do not decode")),
        "{text}"
    );
}
