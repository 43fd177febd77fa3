//! Two engines on one lab directory, as two processes sharing a lab (each engine has its own
//! store connection, so SQLite's data_version and the change log work exactly as between
//! processes): each sees the other's committed changes on its next call, destroyed objects
//! answer the spec's codes, token re-initialisation, PIN changes and removed partitions are seen
//! without re-opening, slot events are queued, and key values stay sealed until a login.
use cryptoki_sys::*;
use hsmsim::base::attribute::Attributes;
use hsmsim::base::error::Result;
use hsmsim::crypto::Mechanism;
use hsmsim::engine::{Call, Engine, Output};
use hsmsim::estate;
use hsmsim::estate::Choice;
use std::path::Path;

const USER_PIN: &[u8] = b"12345678";
const SO_PIN: &[u8] = b"87654321";

fn open(dir: &Path, fixture: &str) -> Engine {
    let file = dir.join(estate::LAB_FILE);
    if !file.exists() {
        estate::init_from_fixture(fixture, dir, false).unwrap();
    }
    let config = hsmsim::estate::resolve_config(&Choice {
        lab_file: Some(file),
        host: None,
        state_dir: None,
    })
    .unwrap();
    Engine::open(&config).unwrap()
}

fn user_session(e: &Engine, slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    let s = e
        .open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    e.login(s, CKU_USER, USER_PIN).unwrap();
    s
}

fn aes_key(label: &str) -> Attributes {
    let mut t = Attributes::new();
    t.set_ulong(CKA_CLASS, CKO_SECRET_KEY);
    t.set_ulong(CKA_KEY_TYPE, CKK_AES);
    t.set_bool(CKA_TOKEN, true);
    t.set_bool(CKA_PRIVATE, false);
    t.set_bytes(CKA_LABEL, label.as_bytes().to_vec());
    t.set_bytes(CKA_VALUE, vec![0x3C; 32]);
    t
}

fn find(e: &Engine, s: CK_SESSION_HANDLE, label: &str) -> Vec<CK_OBJECT_HANDLE> {
    let mut t = Attributes::new();
    t.set_bytes(CKA_LABEL, label.as_bytes().to_vec());
    e.find_init(s, &t).unwrap();
    let found = e.find_next(s, 100).unwrap();
    e.find_final(s).unwrap();
    found
}

fn encrypt(e: &Engine, s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> Result<Vec<u8>> {
    e.encrypt_init(s, &Mechanism::new(CKM_AES_ECB), key)?;
    match e.encrypt(s, &[7u8; 16], Call::OneShot, Some(64))? {
        Output::Data(d) => Ok(d),
        other => panic!("unexpected output {other:?}"),
    }
}

#[test]
fn objects_created_and_destroyed_elsewhere_are_seen_on_the_next_call() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "default");
    let b = open(dir.path(), "default");
    let sa = user_session(&a, 0);
    let sb = user_session(&b, 0);
    assert!(find(&b, sb, "shared").is_empty());
    let ka = a.create_object(sa, &aes_key("shared")).unwrap();
    let found = find(&b, sb, "shared");
    assert_eq!(found.len(), 1);
    let kb = found[0];
    // Same key on both sides: B decrypts... by encrypting the same block identically.
    assert_eq!(encrypt(&a, sa, ka).unwrap(), encrypt(&b, sb, kb).unwrap());
    // A relabels it; B sees the new label.
    let mut relabel = Attributes::new();
    relabel.set_bytes(CKA_LABEL, b"renamed".to_vec());
    a.set_attributes(sa, ka, &relabel).unwrap();
    assert!(find(&b, sb, "shared").is_empty());
    assert_eq!(find(&b, sb, "renamed"), vec![kb]);
    // A destroys it; B's handle is invalid for every use.
    a.destroy_object(sa, ka).unwrap();
    assert_eq!(
        b.get_attributes(sb, kb, &[CKA_LABEL]).unwrap_err().rv,
        CKR_OBJECT_HANDLE_INVALID
    );
    assert_eq!(encrypt(&b, sb, kb).unwrap_err().rv, CKR_KEY_HANDLE_INVALID);
    assert_eq!(
        b.destroy_object(sb, kb).unwrap_err().rv,
        CKR_OBJECT_HANDLE_INVALID
    );
    assert!(find(&b, sb, "renamed").is_empty());
}

#[test]
fn destroying_an_object_another_process_destroyed_first_is_handle_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "default");
    let b = open(dir.path(), "default");
    let sa = user_session(&a, 0);
    let sb = user_session(&b, 0);
    let ka = a.create_object(sa, &aes_key("race")).unwrap();
    let kb = find(&b, sb, "race")[0];
    // B has not looked since A's destroy reaches the store through B's own delete attempt.
    a.destroy_object(sa, ka).unwrap();
    assert_eq!(
        b.destroy_object(sb, kb).unwrap_err().rv,
        CKR_OBJECT_HANDLE_INVALID
    );
}

#[test]
fn a_token_initialised_elsewhere_is_seen_and_reported_as_a_slot_event() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "generic");
    let b = open(dir.path(), "generic");
    assert_eq!(b.take_slot_event().unwrap(), None);
    let before = b.token_info(1).unwrap();
    assert_eq!(before.flags & CKF_TOKEN_INITIALIZED, 0);
    a.init_token(1, SO_PIN, b"fresh token").unwrap();
    let after = b.token_info(1).unwrap();
    assert_ne!(after.flags & CKF_TOKEN_INITIALIZED, 0);
    assert!(String::from_utf8_lossy(&after.label).starts_with("fresh token"));
    assert_eq!(after.serial, before.serial);
    assert_eq!(b.slot_ids(false).unwrap(), vec![0, 1]);
    assert_eq!(b.take_slot_event().unwrap(), Some(1));
    assert_eq!(b.take_slot_event().unwrap(), None);
    // A's own change is not an event for A.
    assert_eq!(a.take_slot_event().unwrap(), None);
    // B can use it: SO login with the PIN A set.
    let s = b
        .open_session(1, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    b.login(s, CKU_SO, SO_PIN).unwrap();
    b.init_pin(s, USER_PIN).unwrap();
    // ... and A sees B's user PIN.
    assert_ne!(a.token_info(1).unwrap().flags & CKF_USER_PIN_INITIALIZED, 0);
}

#[test]
fn re_initialisation_elsewhere_closes_this_process_sessions_on_that_token() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "default");
    let b = open(dir.path(), "default");
    let sb = user_session(&b, 0);
    a.init_token(0, SO_PIN, b"replaced").unwrap();
    assert_eq!(
        b.session_info(sb).unwrap_err().rv,
        CKR_SESSION_HANDLE_INVALID
    );
    assert_eq!(b.take_slot_event().unwrap(), Some(0));
}

#[test]
fn a_pin_changed_elsewhere_applies_here_and_failure_counters_are_shared() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "default");
    let b = open(dir.path(), "default");
    let sa = user_session(&a, 0);
    a.set_pin(sa, USER_PIN, b"new-pin-1").unwrap();
    let sb = b
        .open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    assert_eq!(
        b.login(sb, CKU_USER, USER_PIN).unwrap_err().rv,
        CKR_PIN_INCORRECT
    );
    assert_ne!(
        a.token_info(0).unwrap().flags & CKF_USER_PIN_COUNT_LOW,
        0,
        "B's failed login is counted for A too"
    );
    b.login(sb, CKU_USER, b"new-pin-1").unwrap();
    assert_eq!(a.token_info(0).unwrap().flags & CKF_USER_PIN_COUNT_LOW, 0);
}

#[test]
fn key_values_stay_sealed_until_a_login_in_this_process() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "default");
    let sa = user_session(&a, 0);
    let ka = a
        .create_object(sa, &aes_key("public key, sealed value"))
        .unwrap();
    let expected = encrypt(&a, sa, ka).unwrap();
    let b = open(dir.path(), "default");
    let sb = b
        .open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    // Found (public attributes) but not usable before a login.
    let kb = find(&b, sb, "public key, sealed value")[0];
    assert_eq!(encrypt(&b, sb, kb).unwrap_err().rv, CKR_USER_NOT_LOGGED_IN);
    assert_eq!(
        b.create_object(sb, &aes_key("needs the key"))
            .unwrap_err()
            .rv,
        CKR_USER_NOT_LOGGED_IN
    );
    b.login(sb, CKU_USER, USER_PIN).unwrap();
    assert_eq!(encrypt(&b, sb, kb).unwrap(), expected);
    // The token key stays unlocked after logout (simulator-defined).
    b.logout(sb).unwrap();
    assert_eq!(encrypt(&b, sb, kb).unwrap(), expected);
}

#[test]
fn a_partition_removed_and_added_elsewhere_changes_the_slot_not_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path(), "default");
    let selection = estate::select(&Choice {
        lab_file: Some(dir.path().join(estate::LAB_FILE)),
        host: None,
        state_dir: None,
    })
    .unwrap();
    estate::set_partition_present(&selection, &"hsm1/blank2".parse().unwrap(), false).unwrap();
    assert_eq!(b.slot_ids(true).unwrap(), vec![0, 1]);
    assert_eq!(b.slot_ids(false).unwrap(), vec![0, 1, 2]);
    assert_eq!(b.token_info(2).unwrap_err().rv, CKR_TOKEN_NOT_PRESENT);
    assert_eq!(
        b.open_session(2, CKF_SERIAL_SESSION).unwrap_err().rv,
        CKR_TOKEN_NOT_PRESENT
    );
    assert_eq!(b.take_slot_event().unwrap(), Some(2));
    estate::set_partition_present(&selection, &"hsm1/blank2".parse().unwrap(), true).unwrap();
    assert_eq!(b.slot_ids(true).unwrap(), vec![0, 1, 2]);
    assert_eq!(b.token_info(2).unwrap().flags & CKF_TOKEN_INITIALIZED, 0);
    assert_eq!(b.take_slot_event().unwrap(), Some(2));
}

#[test]
fn a_lab_reset_elsewhere_replaces_every_token() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path(), "default");
    let sb = user_session(&b, 0);
    b.create_object(sb, &aes_key("gone after reset")).unwrap();
    let selection = estate::select(&Choice {
        lab_file: Some(dir.path().join(estate::LAB_FILE)),
        host: None,
        state_dir: None,
    })
    .unwrap();
    estate::reset(&selection).unwrap();
    let mut events = Vec::new();
    while let Some(e) = b.take_slot_event().unwrap() {
        events.push(e);
    }
    events.sort_unstable();
    assert_eq!(events, vec![0, 1, 2]);
    let s = user_session(&b, 0);
    assert!(find(&b, s, "gone after reset").is_empty());
}
