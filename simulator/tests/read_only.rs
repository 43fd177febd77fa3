//! Through the C ABI: a lab whose state is read-only opens read-only. Token info says
//! `CKF_WRITE_PROTECTED`; read-only sessions, a login, finds, attribute reads and operations
//! with the stored keys work (and session objects); a R/W session and every write to the
//! store (C_InitToken, a failed login's counter) answer `CKR_TOKEN_WRITE_PROTECTED`; the store
//! file is not changed. Read-only comes from `HSMSIM_READ_ONLY=1` (simulator-defined), or from
//! a state directory the process cannot write: that case is tested with chmod when the tests
//! do not run as root (root writes through chmod; the test then says so and relies on the
//! forced open, which takes the same path).
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::ptr::null_mut;

fn initialize(conf: &Path, read_only: bool) -> CK_RV {
    // SAFETY: this binary's only test sets the environment, before any C_Initialize.
    unsafe {
        std::env::set_var("HSMSIM_CONF", conf);
        std::env::set_var("HSMSIM_PIN_KDF_ITERATIONS", TEST_PIN_KDF_ITERATIONS);
        std::env::remove_var("HSMSIM_STATE_DIR");
        std::env::remove_var("HSMSIM_LAB");
        std::env::remove_var("HSMSIM_HOST");
        if read_only {
            std::env::set_var(hsmsim::store::READ_ONLY_VARIABLE, "1");
        } else {
            std::env::remove_var(hsmsim::store::READ_ONLY_VARIABLE);
        }
    }
    // SAFETY: null requests default locking.
    unsafe { C_Initialize(null_mut()) }
}

fn finalize() {
    // SAFETY: null is the valid argument.
    assert_eq!(unsafe { C_Finalize(null_mut()) }, CKR_OK);
}

fn encrypt(s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> CK_RV {
    let mut m = mech(CKM_AES_ECB);
    let rv = init(C_EncryptInit, s, &mut m, key);
    if rv != CKR_OK {
        return rv;
    }
    produce(C_Encrypt, s, &[7u8; 16]).err().unwrap_or(CKR_OK)
}

/// The read-only module: what works and what is refused.
fn reads_work_and_writes_are_refused(db: &Path) {
    let before = std::fs::read(db).unwrap();
    assert_ne!(token_info(0).flags & CKF_WRITE_PROTECTED, 0);
    assert_eq!(
        open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap_err(),
        CKR_TOKEN_WRITE_PROTECTED
    );
    let s = open_session(0, CKF_SERIAL_SESSION).unwrap();
    assert_eq!(login(s, CKU_USER, USER_PIN), CKR_OK);
    let keys = find(s, Template::new().bytes(CKA_LABEL, b"stored-key"));
    assert_eq!(keys.len(), 1);
    assert_eq!(get_attr(s, keys[0], CKA_LABEL).unwrap(), b"stored-key");
    assert_eq!(encrypt(s, keys[0]), CKR_OK);
    // Session objects live in the process: allowed.
    create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bytes(CKA_LABEL, b"scratch"),
    )
    .unwrap();
    assert_eq!(logout(s), CKR_OK);
    // Writes to the store.
    assert_eq!(
        login(s, CKU_USER, b"wrong-pin-0"),
        CKR_TOKEN_WRITE_PROTECTED
    );
    assert_eq!(
        login(s, CKU_USER, USER_PIN),
        CKR_OK,
        "no failure was counted"
    );
    let mut label = [b' '; 32];
    label[..3].copy_from_slice(b"new");
    // SAFETY: the PIN and the 32-byte label are valid for the call.
    let rv = unsafe {
        C_InitToken(
            0,
            SO_PIN.as_ptr() as *mut u8,
            SO_PIN.len() as CK_ULONG,
            label.as_mut_ptr(),
        )
    };
    assert!(
        rv == CKR_TOKEN_WRITE_PROTECTED || rv == CKR_SESSION_EXISTS,
        "C_InitToken: {rv:#x}"
    );
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_CloseAllSessions(0) }, CKR_OK);
    // SAFETY: as above.
    let rv = unsafe {
        C_InitToken(
            0,
            SO_PIN.as_ptr() as *mut u8,
            SO_PIN.len() as CK_ULONG,
            label.as_mut_ptr(),
        )
    };
    assert_eq!(rv, CKR_TOKEN_WRITE_PROTECTED);
    assert_eq!(std::fs::read(db).unwrap(), before, "the store is unchanged");
}

#[test]
fn a_read_only_lab_answers_reads_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let conf = hsmsim::estate::init_from_fixture("default", dir.path(), false).unwrap();
    let db = dir.path().join(hsmsim::store::DB_FILE);

    assert_eq!(initialize(&conf, false), CKR_OK);
    assert_eq!(token_info(0).flags & CKF_WRITE_PROTECTED, 0);
    let s = open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(login(s, CKU_USER, USER_PIN), CKR_OK);
    generate_key(
        s,
        CKM_AES_KEY_GEN,
        Template::new()
            .bool(CKA_TOKEN, true)
            .bool(CKA_ENCRYPT, true)
            .ulong(CKA_VALUE_LEN, 32)
            .bytes(CKA_LABEL, b"stored-key"),
    )
    .unwrap();
    finalize();

    // Forced read-only (HSMSIM_READ_ONLY=1).
    assert_eq!(initialize(&conf, true), CKR_OK);
    reads_work_and_writes_are_refused(&db);
    finalize();

    // A state directory this process cannot write.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let probe = dir.path().join("probe");
    let privileged = std::fs::write(&probe, b"").is_ok();
    if privileged {
        let _ = std::fs::remove_file(&probe);
        eprintln!(
            "running with privileges that write through chmod (root): the unwritable-directory \
             case is covered by the forced read-only open above"
        );
    } else {
        assert_eq!(initialize(&conf, false), CKR_OK);
        reads_work_and_writes_are_refused(&db);
        finalize();
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();

    // Writable again: the writes go through.
    assert_eq!(initialize(&conf, false), CKR_OK);
    assert_eq!(token_info(0).flags & CKF_WRITE_PROTECTED, 0);
    let s = open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(login(s, CKU_USER, USER_PIN), CKR_OK);
    assert_eq!(
        find(s, Template::new().bytes(CKA_LABEL, b"stored-key")).len(),
        1
    );
    finalize();
}
