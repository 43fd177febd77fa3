//! PIN seals at rest (issue 10, items 4 and 6): the KDF and cost a fresh lab writes by default
//! (PBKDF2-HMAC-SHA256, 600,000 iterations, recorded with each seal), the lower cost a lab may
//! choose with `HSMSIM_PIN_KDF_ITERATIONS` (and a bad value refused), a lab written before
//! seals recorded their format (10,000-iteration seals bound to the partition only) opening
//! and being upgraded at the next login and PIN change, `hsmsim lab check` finding a seal of
//! another token generation, and a device restart ending sessions without invalidating PINs.
//!
//! The module runs in worker processes (`procs::Proc`, `rpc` role) so each gets exactly the
//! environment the test means; the parent reads the store's records as stored (JSON).
mod common;
mod procs;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use cryptoki_sys::*;
use procs::*;
use serde_json::Value;
use std::path::Path;

#[test]
fn worker() {
    let Some(role) = role() else { return };
    match role.as_str() {
        "rpc" => serve_rpc(),
        other => panic!("unknown worker role {other}"),
    }
}

const KDF_VAR: &str = "HSMSIM_PIN_KDF_ITERATIONS";
const PARTITION: &str = "hsm1/default";

/// A worker on the default lab in `dir` with `HSMSIM_PIN_KDF_ITERATIONS` set to `cost` (empty:
/// unset, the module's default).
fn worker_with_cost(name: &str, dir: &Path, cost: &str) -> Proc {
    Proc::spawn(name, "rpc", dir, "default", &[(KDF_VAR, cost.to_string())])
}

/// A token's record as the store holds it.
fn stored_record(dir: &Path, token: &str) -> Value {
    let conn = rusqlite::Connection::open(dir.join("hsmsim.sqlite")).unwrap();
    let text: String = conn
        .query_row("SELECT record FROM tokens WHERE token = ?1", [token], |r| {
            r.get(0)
        })
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The seal of a role (`CKU_SO`, `CKU_USER`) in a stored record.
fn seal_of(record: &Value, user: CK_USER_TYPE) -> &Value {
    &record["roles"][user.to_string()]["seal"]
}

fn assert_seal(record: &Value, user: CK_USER_TYPE, iterations: u64, what: &str) {
    let seal = seal_of(record, user);
    assert_eq!(seal["format"], 1, "{what}: {seal}");
    assert_eq!(seal["kdf"], "pbkdf2-hmac-sha256", "{what}: {seal}");
    assert_eq!(seal["iterations"], iterations, "{what}: {seal}");
    assert_eq!(seal["salt"].as_array().unwrap().len(), 16, "{what}: {seal}");
    assert_eq!(seal["generation"], record["generation"], "{what}: {seal}");
}

#[test]
fn a_fresh_lab_seals_pins_with_pbkdf2_at_600000_iterations_by_default() {
    let _g = scenario();
    let dir = tempfile::tempdir().unwrap();
    let mut w = worker_with_cost("fresh", dir.path(), "");
    let s = w.start_user(0);
    let record = stored_record(dir.path(), PARTITION);
    // OWASP's 2023 figure for PBKDF2-HMAC-SHA256, written out rather than read from the crate.
    assert_seal(&record, CKU_SO, 600_000, "the lab's SO PIN");
    assert_seal(&record, CKU_USER, 600_000, "the lab's user PIN");
    assert_eq!(w.set_pin(s, USER_PIN, b"changed-pin"), CKR_OK);
    assert_eq!(w.close(s), CKR_OK);
    assert_eq!(w.init_token(1, SO_PIN, b"initialised"), CKR_OK);
    let changed = stored_record(dir.path(), PARTITION);
    assert_seal(&changed, CKU_USER, 600_000, "a PIN set by C_SetPIN");
    assert_ne!(seal_of(&changed, CKU_USER), seal_of(&record, CKU_USER));
    assert_seal(
        &stored_record(dir.path(), "hsm1/blank1"),
        CKU_SO,
        600_000,
        "the SO PIN of C_InitToken",
    );
}

#[test]
fn a_lab_may_choose_a_lower_cost_and_a_bad_cost_is_refused() {
    let _g = scenario();
    let dir = tempfile::tempdir().unwrap();
    let mut w = worker_with_cost("cheap", dir.path(), "2000");
    let s = w.start_user(0);
    let record = stored_record(dir.path(), PARTITION);
    assert_seal(&record, CKU_SO, 2_000, "SO PIN at the chosen cost");
    assert_seal(&record, CKU_USER, 2_000, "user PIN at the chosen cost");
    assert_eq!(w.logout(s), CKR_OK);
    drop(w);

    // Seals keep the cost they were written with: the default-cost process opens them, and
    // writes its own at the default.
    let mut w = worker_with_cost("default", dir.path(), "");
    let s = w.start_user(0);
    assert_eq!(w.set_pin(s, USER_PIN, b"changed-pin"), CKR_OK);
    let record = stored_record(dir.path(), PARTITION);
    assert_seal(&record, CKU_SO, 2_000, "SO PIN untouched");
    assert_seal(
        &record,
        CKU_USER,
        600_000,
        "user PIN changed at the default",
    );
    drop(w);

    for bad in ["999", "0", "many", "10000001"] {
        let mut w = worker_with_cost("bad", dir.path(), bad);
        let rv = w.init();
        assert_eq!(
            rv,
            CKR_DEVICE_ERROR,
            "C_Initialize with {KDF_VAR}={bad} answered {}",
            rv_name(rv)
        );
    }
}

/// A PIN seal as hsmsim wrote it before seals had a format: PBKDF2-HMAC-SHA256 at 10,000
/// iterations, the token key under AES-256-GCM with the partition name as associated data.
fn old_seal(pin: &[u8], token_key: &[u8; 32], partition: &str, salt: [u8; 16]) -> Value {
    let mut kek = [0u8; 32];
    aws_lc_rs::pbkdf2::derive(
        aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
        std::num::NonZeroU32::new(10_000).unwrap(),
        &salt,
        pin,
        &mut kek,
    );
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &kek).unwrap());
    let nonce = [0x4e; NONCE_LEN];
    let mut body = token_key.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(partition.as_bytes()),
        &mut body,
    )
    .unwrap();
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&body);
    serde_json::json!({ "salt": salt, "iterations": 10_000, "sealed_key": sealed })
}

/// Turns the lab in `dir` into what the code before issue 10 left: schema 2, the default
/// token's PINs in format-0 seals over `token_key`, and one secret key sealed under it.
fn make_old_lab(dir: &Path, token_key: &[u8; 32], key_value: &[u8]) {
    let store = hsmsim::store::Store::open(dir).unwrap();
    let mut attrs = hsmsim::base::attribute::Attributes::new();
    attrs.set_ulong(CKA_CLASS, CKO_SECRET_KEY);
    attrs.set_ulong(CKA_KEY_TYPE, CKK_AES);
    attrs.set_bool(CKA_TOKEN, true);
    attrs.set_bool(CKA_PRIVATE, true);
    attrs.set_bool(CKA_SENSITIVE, false);
    attrs.set_bool(CKA_EXTRACTABLE, true);
    attrs.set_bytes(CKA_LABEL, b"from-the-old-lab".to_vec());
    attrs.set_bytes(CKA_UNIQUE_ID, b"00000000000000aa".to_vec());
    attrs.set_bytes(CKA_VALUE, key_value.to_vec());
    let key = hsmsim::base::secrets::seal::TokenKey::from_bytes(token_key).unwrap();
    let (public, sealed) =
        hsmsim::store::seal_object(&PARTITION.parse().unwrap(), &attrs, Some(&key)).unwrap();
    let incarnation = store
        .token(&PARTITION.parse().unwrap())
        .unwrap()
        .unwrap()
        .record
        .incarnation();
    store
        .insert_objects(
            &PARTITION.parse().unwrap(),
            incarnation,
            &[hsmsim::store::StoredObject {
                unique_id: b"00000000000000aa".to_vec(),
                public,
                sealed,
            }],
        )
        .unwrap();
    drop(store);
    let mut record = stored_record(dir, PARTITION);
    record["roles"]["0"]["seal"] = old_seal(SO_PIN, token_key, PARTITION, [1; 16]);
    record["roles"]["1"]["seal"] = old_seal(USER_PIN, token_key, PARTITION, [2; 16]);
    let conn = rusqlite::Connection::open(dir.join("hsmsim.sqlite")).unwrap();
    conn.execute(
        "UPDATE tokens SET record = ?1 WHERE token = ?2",
        rusqlite::params![record.to_string(), PARTITION],
    )
    .unwrap();
    conn.execute("UPDATE meta SET value = 2 WHERE key = 'schema_version'", [])
        .unwrap();
}

fn schema_version(dir: &Path) -> i64 {
    rusqlite::Connection::open(dir.join("hsmsim.sqlite"))
        .unwrap()
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn a_lab_with_old_10000_iteration_seals_opens_and_is_upgraded_at_login_and_pin_change() {
    let _g = scenario();
    let dir = tempfile::tempdir().unwrap();
    // A lab's files, then rewritten as the old code left them.
    let mut w = worker_with_cost("maker", dir.path(), "");
    assert_eq!(w.init(), CKR_OK);
    assert_eq!(w.finalize(), CKR_OK);
    drop(w);
    let token_key = [0x5a; 32];
    let key_value = expand(b"old lab key", 32);
    make_old_lab(dir.path(), &token_key, &key_value);
    let before = stored_record(dir.path(), PARTITION);
    assert!(seal_of(&before, CKU_USER).get("format").is_none());

    let mut w = worker_with_cost("user", dir.path(), "");
    assert_eq!(w.init(), CKR_OK, "a schema-2 lab opens");
    assert_eq!(
        schema_version(dir.path()),
        hsmsim::store::SCHEMA_VERSION,
        "and is migrated"
    );
    let s = w.open(0, true).unwrap();
    assert_eq!(w.login(s, CKU_USER, b"not-the-pin"), CKR_PIN_INCORRECT);
    assert_eq!(w.login(s, CKU_USER, USER_PIN), CKR_OK, "the old seal opens");
    let found = w.find(s, &Tpl::new().bytes(CKA_LABEL, b"from-the-old-lab"));
    let found = found.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        w.get(s, found[0], CKA_VALUE).unwrap(),
        key_value,
        "the key sealed under the old lab's token key opens"
    );
    let after_login = stored_record(dir.path(), PARTITION);
    assert_seal(
        &after_login,
        CKU_USER,
        600_000,
        "the user's seal after its first login",
    );
    let so_seal = seal_of(&after_login, CKU_SO);
    assert!(
        so_seal["format"].as_u64().unwrap_or(0) == 0 && so_seal["iterations"] == 10_000,
        "the SO's seal waits for the SO's PIN: {so_seal}"
    );
    assert_eq!(w.set_pin(s, USER_PIN, b"new-user-pin"), CKR_OK);
    assert_seal(
        &stored_record(dir.path(), PARTITION),
        CKU_USER,
        600_000,
        "the user's seal after C_SetPIN",
    );
    assert_eq!(w.logout(s), CKR_OK);
    // C_SetPIN changes the PIN of whoever is logged in: the SO's, once the SO logged in.
    assert_eq!(w.login(s, CKU_SO, SO_PIN), CKR_OK);
    assert_eq!(w.set_pin(s, SO_PIN, b"new-so-pin"), CKR_OK);
    let last = stored_record(dir.path(), PARTITION);
    assert_seal(&last, CKU_SO, 600_000, "the SO's seal after C_SetPIN");
    assert_eq!(w.logout(s), CKR_OK);
    assert_eq!(w.login(s, CKU_USER, b"new-user-pin"), CKR_OK);
    assert_eq!(w.get(s, found[0], CKA_VALUE).unwrap(), key_value);
    drop(w);
    let store = hsmsim::store::Store::open(dir.path()).unwrap();
    assert_eq!(store.check().unwrap(), Vec::<String>::new());
}

#[test]
fn lab_check_finds_a_pin_seal_of_another_token_generation() {
    let _g = scenario();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lab.toml"),
        hsmsim::lab::built_in_text("default").unwrap(),
    )
    .unwrap();
    let selection = hsmsim::estate::select(&hsmsim::estate::Choice {
        lab_file: Some(dir.path().join("lab.toml")),
        host: None,
        state_dir: None,
    })
    .unwrap();
    let mut w = worker_with_cost("w", dir.path(), common::TEST_PIN_KDF_ITERATIONS);
    assert_eq!(w.init(), CKR_OK);
    assert_eq!(w.finalize(), CKR_OK);
    assert!(hsmsim::estate::check(&selection).unwrap().is_empty());
    let old = stored_record(dir.path(), PARTITION);
    assert_eq!(w.init(), CKR_OK);
    assert_eq!(w.init_token(0, SO_PIN, b"re-initialised"), CKR_OK);
    assert_eq!(w.finalize(), CKR_OK);
    assert!(
        hsmsim::estate::check(&selection).unwrap().is_empty(),
        "a re-initialised token is sound"
    );
    // What the race of issue 10 left: the old generation's user seal on the new token.
    let mut new = stored_record(dir.path(), PARTITION);
    assert_ne!(new["generation"], old["generation"]);
    new["roles"]["1"] = old["roles"]["1"].clone();
    let conn = rusqlite::Connection::open(dir.path().join("hsmsim.sqlite")).unwrap();
    conn.execute(
        "UPDATE tokens SET record = ?1 WHERE token = ?2",
        rusqlite::params![new.to_string(), PARTITION],
    )
    .unwrap();
    drop(conn);
    let problems = hsmsim::estate::check(&selection).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains(PARTITION)
            && problems[0].contains("user type 0x1")
            && problems[0].contains("generation"),
        "{problems:?}"
    );
    // Nor does such a seal open: the user PIN does not log in to the new token.
    assert_eq!(w.init(), CKR_OK);
    let s = w.open(0, true).unwrap();
    assert_eq!(w.login(s, CKU_USER, USER_PIN), CKR_PIN_INCORRECT);
}

#[test]
fn a_device_restart_ends_sessions_and_keeps_the_pins() {
    let _g = scenario();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lab.toml"),
        hsmsim::lab::built_in_text("default").unwrap(),
    )
    .unwrap();
    let selection = hsmsim::estate::select(&hsmsim::estate::Choice {
        lab_file: Some(dir.path().join("lab.toml")),
        host: None,
        state_dir: None,
    })
    .unwrap();
    let mut w = worker_with_cost("w", dir.path(), common::TEST_PIN_KDF_ITERATIONS);
    let s = w.start_user(0);
    let before = stored_record(dir.path(), PARTITION);
    hsmsim::estate::restart_device(&selection, &"hsm1".parse().unwrap(), 0).unwrap();
    let after = stored_record(dir.path(), PARTITION);
    assert_eq!(after["generation"], before["generation"]);
    assert_eq!(after["restarts"], 1);
    assert_eq!(
        w.logout(s),
        CKR_SESSION_HANDLE_INVALID,
        "the restart ended the session"
    );
    let s = w.user_session(0);
    assert_eq!(w.close(s), CKR_OK);
    assert!(hsmsim::estate::check(&selection).unwrap().is_empty());
}
