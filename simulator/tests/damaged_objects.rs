//! Through the C ABI: one damaged object record never makes the rest of its partition
//! unusable. A record whose public attributes do not decode is left out (logged): finds
//! return the partition's other objects and the damaged one has no handle (using an old
//! handle of it answers `CKR_OBJECT_HANDLE_INVALID`); a key whose sealed value does not
//! authenticate is found, and only operations that need its value answer `CKR_DEVICE_ERROR`
//! (simulator-defined), while the partition's other keys work. Records are damaged with
//! rusqlite in the lab's store.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;

fn data_object(s: CK_SESSION_HANDLE, label: &str) -> CK_OBJECT_HANDLE {
    create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, true)
            .bytes(CKA_LABEL, label.as_bytes())
            .bytes(CKA_VALUE, b"payload"),
    )
    .unwrap()
}

fn aes_key(s: CK_SESSION_HANDLE, label: &str) -> CK_OBJECT_HANDLE {
    generate_key(
        s,
        CKM_AES_KEY_GEN,
        Template::new()
            .bool(CKA_TOKEN, true)
            .bool(CKA_ENCRYPT, true)
            .ulong(CKA_VALUE_LEN, 32)
            .bytes(CKA_LABEL, label.as_bytes()),
    )
    .unwrap()
}

fn encrypt(s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> CK_RV {
    let mut m = mech(CKM_AES_ECB);
    let rv = init(C_EncryptInit, s, &mut m, key);
    if rv != CKR_OK {
        return rv;
    }
    produce(C_Encrypt, s, &[7u8; 16]).err().unwrap_or(CKR_OK)
}

fn labels(s: CK_SESSION_HANDLE) -> Vec<String> {
    let mut out: Vec<String> = find(s, Template::new().bool(CKA_TOKEN, true))
        .into_iter()
        .map(|h| String::from_utf8(get_attr(s, h, CKA_LABEL).unwrap()).unwrap())
        // The token's profile objects have no label.
        .filter(|l| !l.is_empty())
        .collect();
    out.sort();
    out
}

#[test]
fn a_damaged_record_is_left_out_and_the_partition_stays_usable() {
    let lab = Lab::new();
    let s = lab.user_session();
    data_object(s, "a");
    let b = data_object(s, "b");
    data_object(s, "c");
    let k1 = aes_key(s, "k1");
    let k2 = aes_key(s, "k2");
    let uid = |h| String::from_utf8(get_attr(s, h, CKA_UNIQUE_ID).unwrap()).unwrap();
    let (b_uid, k2_uid) = (uid(b), uid(k2));
    assert_eq!(labels(s), ["a", "b", "c", "k1", "k2"]);

    let conn = rusqlite::Connection::open(lab.dir.path().join(hsmsim::store::DB_FILE)).unwrap();
    conn.execute(
        "UPDATE objects SET public = x'FFFFFFFFFF' WHERE unique_id = ?1",
        [&b_uid],
    )
    .unwrap();
    let mut sealed: Vec<u8> = conn
        .query_row(
            "SELECT sealed FROM objects WHERE unique_id = ?1",
            [&k2_uid],
            |r| r.get(0),
        )
        .unwrap();
    sealed[20] ^= 1;
    conn.execute(
        "UPDATE objects SET sealed = ?1 WHERE unique_id = ?2",
        rusqlite::params![sealed, k2_uid],
    )
    .unwrap();
    drop(conn);

    // A new process (the module re-initialised) reads the damaged store.
    lab.restart();
    let s = lab.user_session();
    assert_eq!(
        labels(s),
        ["a", "c", "k1", "k2"],
        "b is left out, the rest found"
    );
    assert!(find(s, Template::new().bytes(CKA_LABEL, b"b")).is_empty());
    let by_label = |l: &[u8]| find(s, Template::new().bytes(CKA_LABEL, l))[0];
    assert_eq!(encrypt(s, by_label(b"k1")), CKR_OK, "the other key works");
    assert_eq!(
        encrypt(s, by_label(b"k2")),
        CKR_DEVICE_ERROR,
        "the damaged key fails"
    );
    assert_eq!(
        encrypt(s, by_label(b"k1")),
        CKR_OK,
        "and the other still works"
    );
    // New objects still go in.
    data_object(s, "d");
    assert_eq!(labels(s), ["a", "c", "d", "k1", "k2"]);
    let _ = k1;
}

#[test]
fn a_record_damaged_while_loaded_disappears_without_breaking_finds() {
    let lab = Lab::new();
    let s = lab.user_session();
    data_object(s, "a");
    let b = data_object(s, "b");
    assert_eq!(labels(s), ["a", "b"]);
    let b_uid = String::from_utf8(get_attr(s, b, CKA_UNIQUE_ID).unwrap()).unwrap();
    // "Another process" damages b and logs a change (as every writer does).
    let conn = rusqlite::Connection::open(lab.dir.path().join(hsmsim::store::DB_FILE)).unwrap();
    conn.execute(
        "UPDATE objects SET public = x'00' WHERE unique_id = ?1",
        [&b_uid],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO changes (token, unique_id, writer) VALUES ('hsm1/default', ?1, 1)",
        [&b_uid],
    )
    .unwrap();
    drop(conn);
    assert_eq!(labels(s), ["a"]);
    assert_eq!(
        get_attr(s, b, CKA_LABEL).unwrap_err().0,
        CKR_OBJECT_HANDLE_INVALID
    );
}
