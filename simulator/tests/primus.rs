//! The Primus model through the C ABI: the token as the Primus provider presents it, no
//! PKCS#11 SO, the login throttle (failures within a window, then locked for a while), key
//! defaults (not extractable unless asked, usage flags false once any is given, indestructible
//! keys), and the partition security policy on import, export and extract.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::ptr::null_mut;

const PIN: &[u8] = b"Pkcs11-Pin-01";

/// Slots: 0 an open partition, 1 a closed one (no import, export or extract), on a device whose
/// throttle locks after 3 wrong PINs for 1 second.
const LAB: &str = r#"
[lab]
name = "primus-test"

[[device]]
name = "primus1"
kind = "primus"
firmware = "2.11"
login_attempt_threshold = 3
attempt_reset_time = 300
login_lockout_time = 1
  [[device.partition]]
  name = "OPEN"
  user_pin = "Pkcs11-Pin-01"
  [[device.partition]]
  name = "CLOSED"
  user_pin = "Pkcs11-Pin-01"
  allow_import = false
  allow_export = false
  allow_extract = false

[[host]]
name = "client"
slot = [
  { id = 0, partition = "primus1/OPEN" },
  { id = 1, partition = "primus1/CLOSED" },
]
"#;

fn rw_session(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap()
}

fn user_session(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    let s = rw_session(slot);
    assert_eq!(login(s, CKU_USER, PIN), CKR_OK);
    s
}

fn aes_key(s: CK_SESSION_HANDLE, extra: Template) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut mech = mech(CKM_AES_KEY_GEN);
    let mut t = extra.bool(CKA_TOKEN, true).ulong(CKA_VALUE_LEN, 32);
    let mut raw = t.raw();
    let mut h = 0;
    // SAFETY: valid mechanism, template and out-pointer.
    let rv = unsafe {
        C_GenerateKey(
            s,
            &mut mech,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            &mut h,
        )
    };
    if rv == CKR_OK { Ok(h) } else { Err(rv) }
}

fn wrap(s: CK_SESSION_HANDLE, wrapping: CK_OBJECT_HANDLE, key: CK_OBJECT_HANDLE) -> CK_RV {
    let mut m = mech(CKM_AES_KEY_WRAP);
    let mut len = 0;
    // SAFETY: a null output asks for the length.
    unsafe { C_WrapKey(s, &mut m, wrapping, key, null_mut(), &mut len) }
}

#[test]
fn the_token_is_presented_as_the_primus_provider_does() {
    let _lab = TextLab::new(LAB);
    let mut info = std::mem::MaybeUninit::<CK_TOKEN_INFO>::zeroed();
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { C_GetTokenInfo(0, info.as_mut_ptr()) }, CKR_OK);
    // SAFETY: filled by C_GetTokenInfo.
    let info = unsafe { info.assume_init() };
    assert!(info.label.starts_with(b"OPEN "), "label = partition name");
    assert!(info.manufacturerID.starts_with(b"Securosys SA"));
    assert!(info.model.starts_with(b"PRIMUS HSM"));
    assert_eq!(
        (info.hardwareVersion.major, info.hardwareVersion.minor),
        (2, 11)
    );
    assert_eq!((info.ulMinPinLen, info.ulMaxPinLen), (0, 32));
    assert_eq!(
        info.serialNumber
            .iter()
            .filter(|b| b.is_ascii_hexdigit())
            .count(),
        16
    );
    // No PKCS#11 SO workflow.
    let s = rw_session(0);
    assert_eq!(login(s, CKU_SO, PIN), CKR_USER_TYPE_INVALID);
    assert_eq!(logout(s), CKR_USER_NOT_LOGGED_IN);
    // SAFETY: closes this test's session.
    assert_eq!(unsafe { C_CloseSession(s) }, CKR_OK);
    let label = [b' '; 32];
    // SAFETY: valid buffers.
    let rv = unsafe {
        C_InitToken(
            0,
            PIN.as_ptr() as *mut _,
            PIN.len() as CK_ULONG,
            label.as_ptr() as *mut _,
        )
    };
    assert_eq!(rv, CKR_FUNCTION_NOT_SUPPORTED);
}

#[test]
fn keys_default_to_unextractable_with_only_the_usages_asked_for() {
    let _lab = TextLab::new(LAB);
    let s = user_session(0);
    let k = aes_key(s, Template::new().bool(CKA_ENCRYPT, true)).unwrap();
    assert_eq!(get_attr(s, k, CKA_ENCRYPT).unwrap(), [1]);
    assert_eq!(
        get_attr(s, k, CKA_DECRYPT).unwrap(),
        [0],
        "false once any usage is given"
    );
    assert_eq!(get_attr(s, k, CKA_WRAP).unwrap(), [0]);
    assert_eq!(get_attr(s, k, CKA_EXTRACTABLE).unwrap(), [0]);
    // Without usage flags, the HSM defaults: every usage the key type has.
    let plain = aes_key(s, Template::new()).unwrap();
    assert_eq!(get_attr(s, plain, CKA_DECRYPT).unwrap(), [1]);
    // Exporting a key that is not extractable is refused with the standard code.
    let kek = aes_key(s, Template::new().bool(CKA_WRAP, true)).unwrap();
    assert_eq!(wrap(s, kek, plain), CKR_KEY_UNEXTRACTABLE);
    let exportable = aes_key(s, Template::new().bool(CKA_EXTRACTABLE, true)).unwrap();
    assert_eq!(wrap(s, kek, exportable), CKR_OK);
    // An indestructible key (CKA_DESTROYABLE false) stays.
    let kept = aes_key(s, Template::new().bool(CKA_DESTROYABLE, false)).unwrap();
    // SAFETY: a handle of this session's token.
    assert_eq!(unsafe { C_DestroyObject(s, kept) }, CKR_ACTION_PROHIBITED);
    // An imported key is not extractable either unless asked.
    let imported = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
            .bool(CKA_TOKEN, true)
            .bytes(CKA_VALUE, &[5u8; 16]),
    )
    .unwrap();
    assert_eq!(get_attr(s, imported, CKA_EXTRACTABLE).unwrap(), [0]);
}

#[test]
fn the_partition_policy_refuses_import_export_and_extract() {
    let _lab = TextLab::new(LAB);
    let s = user_session(1);
    let refused = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
            .bytes(CKA_VALUE, &[5u8; 16]),
    );
    assert_eq!(refused.unwrap_err(), 0x8000_002A, "key import not allowed");
    let kek = aes_key(s, Template::new().bool(CKA_WRAP, true)).unwrap();
    let key = aes_key(
        s,
        Template::new()
            .bool(CKA_EXTRACTABLE, true)
            .bool(CKA_SENSITIVE, false),
    )
    .unwrap();
    assert_eq!(
        wrap(s, kek, key),
        CKR_KEY_NOT_WRAPPABLE,
        "export not allowed"
    );
    assert_eq!(
        get_attr(s, key, CKA_VALUE).unwrap_err().0,
        CKR_ATTRIBUTE_SENSITIVE,
        "extract not allowed"
    );
    // The open partition allows all three.
    let o = user_session(0);
    let key = aes_key(
        o,
        Template::new()
            .bool(CKA_EXTRACTABLE, true)
            .bool(CKA_SENSITIVE, false),
    )
    .unwrap();
    assert_eq!(get_attr(o, key, CKA_VALUE).unwrap().len(), 32);
}

#[test]
fn the_throttle_locks_after_the_threshold_and_unlocks_after_the_lock_time() {
    let _lab = TextLab::new(LAB);
    let s = rw_session(0);
    assert_eq!(login(s, CKU_USER, b"wrong-1"), CKR_PIN_INCORRECT);
    assert_eq!(login(s, CKU_USER, b"wrong-2"), CKR_PIN_INCORRECT);
    assert_eq!(login(s, CKU_USER, b"wrong-3"), CKR_PIN_LOCKED);
    assert_eq!(
        login(s, CKU_USER, PIN),
        CKR_PIN_LOCKED,
        "locked: even the right PIN"
    );
    // The lab's lock time is 1 second.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(login(s, CKU_USER, PIN), CKR_OK);
}
