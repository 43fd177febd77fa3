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
    let info = token_info(0);
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

/// A Master and two Clones: `ha-clone` without clone_modify, `manual-clone` with it.
const CLUSTER: &str = r#"
[lab]
name = "primus-cluster"

[[device]]
name = "ha-clone"
kind = "primus"
role = "ROLE"
  [[device.partition]]
  name = "P"
  user_pin = "Pkcs11-Pin-01"

[[device]]
name = "manual-clone"
kind = "primus"
role = "clone"
clone = "manual"
clone_modify = true
  [[device.partition]]
  name = "P"
  user_pin = "Pkcs11-Pin-01"

[[host]]
name = "client"
slot = [
  { id = 0, partition = "ha-clone/P" },
  { id = 1, partition = "manual-clone/P" },
]
"#;

fn set_label(s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, label: &[u8]) -> CK_RV {
    let mut t = Template::new().bytes(CKA_LABEL, label);
    let mut raw = t.raw();
    // SAFETY: a valid template.
    unsafe { C_SetAttributeValue(s, o, raw.as_mut_ptr(), raw.len() as CK_ULONG) }
}

#[test]
fn a_clone_without_clone_modify_refuses_token_object_changes() {
    // First the device is a Master: it gets a key (as replication would bring it).
    let lab = TextLab::new(&CLUSTER.replace("ROLE", "master"));
    let s = user_session(0);
    aes_key(s, Template::new().bytes(CKA_LABEL, b"replicated")).unwrap();
    // Then the same device is a Clone (HA by default) without clone_modify.
    lab.reload(&CLUSTER.replace("ROLE", "clone"));
    let s = user_session(0);
    let key = find(s, Template::new().bytes(CKA_LABEL, b"replicated"));
    assert_eq!(key.len(), 1, "the clone holds the Master's key");
    assert_eq!(
        aes_key(s, Template::new()).unwrap_err(),
        CKR_TOKEN_WRITE_PROTECTED,
        "creating a token key needs the Master"
    );
    let data = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, true)
            .bytes(CKA_VALUE, b"x"),
    );
    assert_eq!(data.unwrap_err(), CKR_TOKEN_WRITE_PROTECTED);
    assert_eq!(set_label(s, key[0], b"renamed"), CKR_TOKEN_WRITE_PROTECTED);
    // SAFETY: a handle of this session's token.
    assert_eq!(
        // SAFETY: as above.
        unsafe { C_DestroyObject(s, key[0]) },
        CKR_TOKEN_WRITE_PROTECTED
    );
    // The key is still usable, and session objects are allowed.
    let mut m = mech(CKM_AES_ECB);
    assert_eq!(init(C_EncryptInit, s, &mut m, key[0]), CKR_OK);
    assert_eq!(produce(C_Encrypt, s, &[0u8; 16]).unwrap().len(), 16);
    let mut gen_mech = mech(CKM_AES_KEY_GEN);
    let mut t = Template::new().ulong(CKA_VALUE_LEN, 16);
    let mut raw = t.raw();
    let mut h = 0;
    // SAFETY: valid mechanism, template and out-pointer.
    let rv = unsafe {
        C_GenerateKey(
            s,
            &mut gen_mech,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            &mut h,
        )
    };
    assert_eq!(rv, CKR_OK, "a session key on a clone");

    // A manual clone with clone_modify allows object creation and deletion.
    let c = user_session(1);
    let k = aes_key(c, Template::new()).unwrap();
    // SAFETY: a handle of this session's token.
    assert_eq!(unsafe { C_DestroyObject(c, k) }, CKR_OK);
}

#[test]
fn keys_get_an_hsm_name_with_a_hidden_differentiator_when_the_label_is_taken() {
    use hsmsim::models::primus::{CKA_HSMSIM_PRIMUS_NAME, CKR_PRIMUS_KEY_NOT_FOUND};
    let lab = TextLab::new(LAB);
    let s = user_session(0);
    let labelled = || Template::new().bytes(CKA_LABEL, b"mig");
    let first = aes_key(s, labelled()).unwrap();
    let second = aes_key(s, labelled()).unwrap();
    let third = aes_key(s, labelled()).unwrap();
    // CKA_LABEL shows the label the application gave, for every key.
    for k in [first, second, third] {
        assert_eq!(get_attr(s, k, CKA_LABEL).unwrap(), b"mig");
    }
    assert_eq!(find(s, labelled()).len(), 3);
    // The HSM name: the label for the first, label@?!<unique id> for the others.
    assert_eq!(get_attr(s, first, CKA_HSMSIM_PRIMUS_NAME).unwrap(), b"mig");
    let uid = get_attr(s, second, CKA_UNIQUE_ID).unwrap();
    let mut expected = b"mig@?!".to_vec();
    expected.extend_from_slice(&uid);
    assert_eq!(
        get_attr(s, second, CKA_HSMSIM_PRIMUS_NAME).unwrap(),
        expected
    );
    // The name is the HSM's: an application cannot set it.
    assert_eq!(
        aes_key(s, labelled().bytes(CKA_HSMSIM_PRIMUS_NAME, b"x")).unwrap_err(),
        CKR_ATTRIBUTE_TYPE_INVALID
    );
    // Another class may share the name (a key pair and its certificate, simulator-defined).
    let data = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, true)
            .bytes(CKA_LABEL, b"mig"),
    )
    .unwrap();
    assert_eq!(get_attr(s, data, CKA_HSMSIM_PRIMUS_NAME).unwrap(), b"mig");
    // Renaming gives the new label as name.
    assert_eq!(set_label(s, third, b"solo"), CKR_OK);
    assert_eq!(get_attr(s, third, CKA_HSMSIM_PRIMUS_NAME).unwrap(), b"solo");

    // The Rust API addresses keys by name, as Primus Tools does (here from another process).
    let other = lab.other_process();
    let os = other
        .open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    other.login(os, CKU_USER, PIN).unwrap();
    let secret = Some(CKO_SECRET_KEY);
    let by_name = |name: &str| other.find_by_hsm_name(os, name, secret);
    let h = by_name("mig").unwrap();
    assert_eq!(other.hsm_name_of(os, h).unwrap(), "mig");
    let second_name = String::from_utf8(expected).unwrap();
    let h2 = by_name(&second_name).unwrap();
    assert_eq!(other.hsm_name_of(os, h2).unwrap(), second_name);
    assert_eq!(by_name("nope").unwrap_err().rv, CKR_PRIMUS_KEY_NOT_FOUND);
    // Without a class, the key and the data object share "mig": ambiguous.
    let e = other.find_by_hsm_name(os, "mig", None).unwrap_err();
    assert_eq!(e.rv, CKR_ARGUMENTS_BAD);
    // With the first "mig" gone, the label alone is ambiguous between the two others.
    aes_key(s, labelled()).unwrap();
    // SAFETY: a handle of this session's token.
    assert_eq!(unsafe { C_DestroyObject(s, first) }, CKR_OK);
    other.sync().unwrap();
    let e = by_name("mig").unwrap_err();
    assert_eq!(e.rv, CKR_ARGUMENTS_BAD);
    assert!(e.detail.contains(&second_name), "{e}");
}

#[test]
fn a_policy_change_authorised_by_two_so_cards_reaches_the_module() {
    use hsmsim::estate::primus::{PolicyChange, create_card, set_security_policy};
    use hsmsim::models::primus::CardKind;
    let lab = TextLab::new(LAB);
    let s = user_session(0);
    let import = |s| {
        create(
            s,
            Template::new()
                .ulong(CKA_CLASS, CKO_SECRET_KEY)
                .ulong(CKA_KEY_TYPE, CKK_AES)
                .bytes(CKA_VALUE, &[7u8; 16]),
        )
    };
    assert!(import(s).is_ok(), "import allowed at first");
    // The operator's tools (another process, as `hsmsim primus policy set`) close import.
    let selection = hsmsim::estate::select(&hsmsim::estate::Choice {
        lab_file: Some(lab.dir.path().join("lab.toml")),
        host: None,
        state_dir: None,
    })
    .unwrap();
    create_card(
        &selection,
        "primus1",
        CardKind::So,
        "so-a",
        "12345678",
        None,
    )
    .unwrap();
    create_card(
        &selection,
        "primus1",
        CardKind::So,
        "so-b",
        "23456789",
        None,
    )
    .unwrap();
    let cards = [
        ("so-a".to_string(), "12345678".to_string()),
        ("so-b".to_string(), "23456789".to_string()),
    ];
    let change = PolicyChange {
        allow_import: Some(false),
        ..PolicyChange::default()
    };
    set_security_policy(&selection, "primus1/OPEN", &cards, change).unwrap();
    assert_eq!(
        import(s).unwrap_err(),
        0x8000_002A,
        "the module sees the new policy on its next call"
    );
}
