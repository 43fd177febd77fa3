//! Luna HA failover and recovery through the C ABI (issue 13 item 3): a member's device fails
//! (`estate::fail_device`, what `hsmsim lab fail` runs) while a thread signs on the HA slot
//! and the signing goes on, served by the live member; new objects reach the live members
//! only and the group needs sync; the failed member's physical slot shows no token
//! (`CKR_TOKEN_NOT_PRESENT`) and its sessions answer `CKR_DEVICE_REMOVED`; after recovery
//! `synchronise` makes the members equal by `CKA_OUID`.
mod common;
#[path = "ha/web_ha.rs"]
mod web_ha;

use common::*;
use cryptoki_sys::*;
use hsmsim::base::ids::PartitionId;
use hsmsim::estate;
use hsmsim::pkcs11::*;
use web_ha::*;

fn partition(name: &str) -> PartitionId {
    PartitionId::parse(name).unwrap()
}

fn slot_ids(token_present: bool) -> Vec<CK_SLOT_ID> {
    let mut n = 0;
    // SAFETY: a valid count pointer; null list asks for the count.
    let rv = unsafe { C_GetSlotList(token_present as CK_BBOOL, std::ptr::null_mut(), &mut n) };
    assert_eq!(rv, CKR_OK);
    let mut ids = vec![0; n as usize];
    // SAFETY: the buffer holds `n` ids.
    let rv = unsafe { C_GetSlotList(token_present as CK_BBOOL, ids.as_mut_ptr(), &mut n) };
    assert_eq!(rv, CKR_OK);
    ids.truncate(n as usize);
    ids
}

#[test]
fn signing_on_the_ha_slot_goes_on_while_a_member_fails() {
    let lab = TextLab::new(&lab_text());
    let selection = lab.selection();
    let s = user_session_on(HA, CO.as_bytes());
    // A token key pair: after the failover its handles stay (kept by CKA_OUID).
    let (public, private) = generate_key_pair(
        s,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        Template::new()
            .ulong(CKA_MODULUS_BITS, 2048)
            .bool(CKA_TOKEN, true)
            .bool(CKA_VERIFY, true),
        Template::new().bool(CKA_TOKEN, true).bool(CKA_SIGN, true),
    )
    .unwrap();
    let web1 = user_session_on(0, CO.as_bytes());
    // A thread signs on the HA slot, each signature a new C_SignInit + C_Sign.
    let signer = Signers::start(&[s], private);
    signer.wait_for(5);
    // The primary's device fails during the signing.
    estate::fail_device(&selection, &device("sa-a")).unwrap();
    let after_failure = signer.signed();
    signer.wait_for(after_failure + 20);
    let failures = signer.stop();
    assert!(
        failures.is_empty(),
        "every signature was made: {failures:x?}"
    );
    // The signatures verify with the public key, on the HA slot served by web2.
    let sig = sign_once(s, private).unwrap();
    let mut m = mech(CKM_SHA256_RSA_PKCS);
    assert_eq!(init(C_VerifyInit, s, &mut m, public), CKR_OK);
    assert_eq!(verify(s, b"payment batch 42", &sig), CKR_OK);
    // The failed member's physical slot: no token; its session answers CKR_DEVICE_REMOVED.
    assert_eq!(slot_ids(true), [1, 2, 3, HA]);
    assert_eq!(
        open_session(0, CKF_SERIAL_SESSION).unwrap_err(),
        CKR_TOKEN_NOT_PRESENT
    );
    assert_eq!(
        find_rv(web1),
        CKR_DEVICE_REMOVED,
        "a session on the failed device"
    );
    // A new object on the HA slot reaches the live member only; the group needs sync.
    let before_web1 = lab.stored_objects("sa-a/web1");
    let made_during = aes_key(s, |t| {
        t.bool(CKA_TOKEN, true)
            .bool(CKA_ENCRYPT, true)
            .bytes(CKA_LABEL, b"after-failure")
    });
    assert_eq!(lab.stored_objects("sa-a/web1"), before_web1);
    assert_eq!(lab.stored_objects("sa-b/web2"), before_web1 + 1);
    let status = estate::ha_groups::group_status(&selection, "web-ha").unwrap();
    assert!(status.needs_sync, "a member missed a write");
    assert!(!status.members[0].alive && status.members[1].alive);
    // Recovery: the physical slot is back (its old sessions are gone), the group still needs
    // sync until synchronised; then the members are equal by CKA_OUID.
    estate::recover_device(&selection, &device("sa-a")).unwrap();
    assert_eq!(slot_ids(true), [0, 1, 2, 3, HA]);
    assert_eq!(find_rv(web1), CKR_SESSION_HANDLE_INVALID);
    // web1 comes back but does not take over (it missed a write): the key made during the
    // failure still works on the HA slot.
    let mut m = mech(CKM_AES_ECB);
    assert_eq!(init(C_EncryptInit, s, &mut m, made_during), CKR_OK);
    assert!(produce(C_Encrypt, s, &[2u8; 16]).is_ok());
    assert!(
        estate::ha_groups::group_status(&selection, "web-ha")
            .unwrap()
            .needs_sync
    );
    let report = estate::ha_groups::synchronise(&selection, "web-ha", CO).unwrap();
    assert_eq!(
        report.copied,
        [("sa-a/web1".into(), 1), ("sa-b/web2".into(), 0)]
    );
    assert!(
        !estate::ha_groups::group_status(&selection, "web-ha")
            .unwrap()
            .needs_sync
    );
    assert_eq!(lab.stored_ouids("sa-a/web1"), lab.stored_ouids("sa-b/web2"));
    // The synchronised copy works on web1's own slot.
    let web1 = user_session_on(0, CO.as_bytes());
    let copy = find(web1, Template::new().bytes(CKA_LABEL, b"after-failure"));
    assert_eq!(copy.len(), 1);
    let mut m = mech(CKM_AES_ECB);
    assert_eq!(init(C_EncryptInit, web1, &mut m, copy[0]), CKR_OK);
    assert!(produce(C_Encrypt, web1, &[0u8; 16]).is_ok());
}

/// `C_FindObjectsInit`'s answer on a session (a call that reaches the session's device).
fn find_rv(s: CK_SESSION_HANDLE) -> CK_RV {
    let mut t = Template::new();
    let mut raw = t.raw();
    // SAFETY: an empty template.
    let rv = unsafe { C_FindObjectsInit(s, raw.as_mut_ptr(), 0) };
    if rv == CKR_OK {
        // SAFETY: no pointers.
        unsafe { C_FindObjectsFinal(s) };
    }
    rv
}

#[test]
fn every_member_down_leaves_the_ha_slot_without_a_token_until_one_recovers() {
    let lab = TextLab::new(&lab_text());
    let selection = lab.selection();
    let s = user_session_on(HA, CO.as_bytes());
    let key = aes_key(s, |t| {
        t.bool(CKA_TOKEN, true)
            .bool(CKA_ENCRYPT, true)
            .bytes(CKA_LABEL, b"k")
    });
    estate::fail_device(&selection, &device("sa-a")).unwrap();
    estate::fail_device(&selection, &device("sa-b")).unwrap();
    assert_eq!(find_rv(s), CKR_DEVICE_REMOVED);
    assert_eq!(slot_ids(true), [2, 3]);
    // Failing twice is refused (the CLI says so).
    assert!(estate::fail_device(&selection, &device("sa-b")).is_err());
    // web2 comes back: the HA slot is served by it; the session, login and handle stay.
    estate::recover_device(&selection, &device("sa-b")).unwrap();
    let mut m = mech(CKM_AES_ECB);
    assert_eq!(init(C_EncryptInit, s, &mut m, key), CKR_OK);
    assert!(produce(C_Encrypt, s, &[1u8; 16]).is_ok());
    drop(lab);
}

#[test]
fn a_standby_member_serves_only_when_no_active_member_is_up() {
    let lab = TextLab::new(&lab_text());
    let selection = lab.selection();
    // web3 joins as standby and is synchronised.
    estate::ha_groups::add_member(&selection, "web-ha", &partition("sa-c/web3"), CO, true).unwrap();
    estate::ha_groups::synchronise(&selection, "web-ha", CO).unwrap();
    lab.reload(&lab_text());
    let s = user_session_on(HA, CO.as_bytes());
    let key = aes_key(s, |t| {
        t.bool(CKA_TOKEN, true)
            .bool(CKA_ENCRYPT, true)
            .bytes(CKA_LABEL, b"k")
    });
    // Writes reach every member, the standby one too.
    assert_eq!(lab.stored_objects("sa-c/web3"), 1);
    estate::fail_device(&selection, &device("sa-a")).unwrap();
    estate::fail_device(&selection, &device("sa-b")).unwrap();
    let mut m = mech(CKM_AES_ECB);
    assert_eq!(
        init(C_EncryptInit, s, &mut m, key),
        CKR_OK,
        "served by the standby"
    );
    assert!(produce(C_Encrypt, s, &[1u8; 16]).is_ok());
    let status = estate::ha_groups::group_status(&selection, "web-ha").unwrap();
    let standby: Vec<bool> = status.members.iter().map(|m| m.standby).collect();
    assert_eq!(standby, [false, false, true]);
}
