//! Lab snapshots (`estate::snapshot_*`, what `hsmsim lab snapshot` runs) against a module
//! using the lab: a snapshot saved while the module writes is a sound copy; restoring it puts
//! the tokens back, and the module sees each token replaced — its sessions end
//! (`CKR_SESSION_HANDLE_INVALID`), a slot event is reported, and new sessions see the restored
//! objects — rather than odd errors. A reset does the same.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::estate;
use hsmsim::estate::Choice;
use hsmsim::pkcs11::*;
use std::ptr::null_mut;

fn data_object(s: CK_SESSION_HANDLE, label: &str) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, true)
            .bytes(CKA_LABEL, label.as_bytes()),
    )
}

fn count(s: CK_SESSION_HANDLE, label: &str) -> usize {
    find(s, Template::new().bytes(CKA_LABEL, label.as_bytes())).len()
}

fn slot_event() -> Option<CK_SLOT_ID> {
    let mut slot = 0;
    // SAFETY: a valid out-pointer; CKF_DONT_BLOCK.
    let rv = unsafe { C_WaitForSlotEvent(CKF_DONT_BLOCK, &mut slot, null_mut()) };
    (rv == CKR_OK).then_some(slot)
}

#[test]
fn restore_and_reset_replace_the_tokens_of_a_module_using_the_lab() {
    let lab = TextLab::new(hsmsim::lab::built_in_text("default").unwrap());
    let selection = estate::select(&Choice {
        lab_file: Some(lab.dir.path().join("lab.toml")),
        host: None,
        state_dir: None,
    })
    .unwrap();
    let s = open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(login(s, CKU_USER, USER_PIN), CKR_OK);
    data_object(s, "before").unwrap();

    // Saved while a thread keeps writing token objects through the module.
    let writer = std::thread::spawn(move || {
        for i in 0..40 {
            data_object(s, &format!("during-{i}")).unwrap();
        }
    });
    let saved = estate::snapshot_save(&selection, "s0").unwrap();
    writer.join().unwrap();
    assert!(saved.join(hsmsim::store::DB_FILE).is_file());
    let copy = hsmsim::store::Store::open(&saved).unwrap();
    assert!(copy.check().unwrap().is_empty(), "the snapshot is sound");
    let in_copy = copy
        .objects(&"hsm1/default".parse().unwrap())
        .unwrap()
        .len();
    assert!(in_copy >= 1, "at least the object made before the save");
    drop(copy);
    assert_eq!(estate::snapshot_list(&selection).unwrap()[0].name, "s0");

    data_object(s, "after").unwrap();
    while slot_event().is_some() {}
    estate::snapshot_restore(&selection, "s0").unwrap();
    // The session ended; the slot reports an event; a new session sees the snapshot.
    assert_eq!(count_rv(s), CKR_SESSION_HANDLE_INVALID);
    assert_eq!(slot_event(), Some(0));
    let s = open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(
        login(s, CKU_USER, USER_PIN),
        CKR_OK,
        "the PINs of the snapshot"
    );
    assert_eq!(count(s, "before"), 1);
    assert_eq!(count(s, "after"), 0, "made after the save: gone");
    assert_eq!(
        lab.stored_objects("hsm1/default"),
        in_copy,
        "the store holds what the snapshot held"
    );
    // The restored token takes writes again.
    data_object(s, "after-restore").unwrap();
    assert_eq!(count(s, "after-restore"), 1);

    // A reset: the same replacement.
    while slot_event().is_some() {}
    estate::reset(&selection).unwrap();
    assert_eq!(count_rv(s), CKR_SESSION_HANDLE_INVALID);
    assert_eq!(slot_event(), Some(0));

    // Bad names and missing snapshots are refused; delete removes one.
    assert_eq!(
        estate::snapshot_save(&selection, "../escape")
            .unwrap_err()
            .rv,
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        estate::snapshot_save(&selection, "s0").unwrap_err().rv,
        CKR_FUNCTION_FAILED
    );
    assert_eq!(
        estate::snapshot_restore(&selection, "nope").unwrap_err().rv,
        CKR_ARGUMENTS_BAD
    );
    estate::snapshot_delete(&selection, "s0").unwrap();
    assert!(estate::snapshot_list(&selection).unwrap().is_empty());
}

/// `C_FindObjectsInit` on a session: its return value.
fn count_rv(s: CK_SESSION_HANDLE) -> CK_RV {
    let mut t = Template::new().bytes(CKA_LABEL, b"before");
    let mut raw = t.raw();
    // SAFETY: the template is valid.
    let rv = unsafe { C_FindObjectsInit(s, raw.as_mut_ptr(), raw.len() as CK_ULONG) };
    if rv == CKR_OK {
        // SAFETY: no pointers.
        unsafe { C_FindObjectsFinal(s) };
    }
    rv
}
