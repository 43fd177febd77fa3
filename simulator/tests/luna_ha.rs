//! Luna HA groups through the C ABI: a group a host has configured shows as an "HA Virtual
//! Card Slot" after the host's physical slots, with the group's label and serial; a login there
//! opens every member with the same Crypto Officer PIN (a member with another PIN refuses it);
//! token objects made, changed or destroyed there are replicated to every member (same
//! `CKA_OUID`, each copy usable on its member), a key's usage count too (Luna's
//! `CKA_USAGE_COUNT`); partition management is refused there.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::ptr::null_mut;

const CKA_OUID: CK_ATTRIBUTE_TYPE = 0x8000_0005;
const CO: &[u8] = b"co-pin-0001";

/// Host "app": slot 0 sa-a/web1, slot 1 sa-b/web2, slot 3 sa-b/other (another CO PIN);
/// groups "web-ha" (web1, web2) and "odd-ha" (web1, other; serial 1777) configured on it, so
/// slots 4 and 5; host "plain" configures none.
const LAB: &str = r#"
[lab]
name = "luna-ha"

[[device]]
name = "sa-a"
kind = "luna-network"
  [[device.partition]]
  name = "web1"
  label = "web1"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "ha-domain"

[[device]]
name = "sa-b"
kind = "luna-network"
  [[device.partition]]
  name = "web2"
  label = "web2"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "ha-domain"
  [[device.partition]]
  name = "other"
  label = "other"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0002"
  domain = "ha-domain"

[[host]]
name = "app"
slot = [{ id = 0, partition = "sa-a/web1" }, { id = 1, partition = "sa-b/web2" }, { id = 3, partition = "sa-b/other" }]

[[host]]
name = "plain"
slot = [{ id = 0, partition = "sa-a/web1" }, { id = 1, partition = "sa-b/web2" }]

[[ha_group]]
label = "web-ha"
members = ["sa-a/web1", "sa-b/web2"]
hosts = ["app"]

[[ha_group]]
label = "odd-ha"
members = ["sa-a/web1", "sa-b/other"]
hosts = ["app"]
serial = "1777"
"#;

const HA: CK_SLOT_ID = 4;
const ODD_HA: CK_SLOT_ID = 5;

fn slot_ids() -> Vec<CK_SLOT_ID> {
    let mut n = 0;
    // SAFETY: a valid count pointer; null list asks for the count.
    assert_eq!(unsafe { C_GetSlotList(0, null_mut(), &mut n) }, CKR_OK);
    let mut ids = vec![0; n as usize];
    // SAFETY: the buffer holds `n` ids.
    let rv = unsafe { C_GetSlotList(0, ids.as_mut_ptr(), &mut n) };
    assert_eq!(rv, CKR_OK);
    ids.truncate(n as usize);
    ids
}

fn slot_description(slot: CK_SLOT_ID) -> String {
    let mut info = std::mem::MaybeUninit::<CK_SLOT_INFO>::zeroed();
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { C_GetSlotInfo(slot, info.as_mut_ptr()) }, CKR_OK);
    // SAFETY: filled by C_GetSlotInfo.
    let info = unsafe { info.assume_init() };
    text(&info.slotDescription)
}

fn text(padded: &[u8]) -> String {
    String::from_utf8_lossy(padded).trim_end().to_string()
}

fn co_session(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    let s = open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(login(s, CKU_USER, CO), CKR_OK, "CO login on slot {slot}");
    s
}

fn by_label(s: CK_SESSION_HANDLE, label: &str) -> Vec<CK_OBJECT_HANDLE> {
    find(s, Template::new().bytes(CKA_LABEL, label.as_bytes()))
}

fn the_one(s: CK_SESSION_HANDLE, label: &str) -> CK_OBJECT_HANDLE {
    let found = by_label(s, label);
    assert_eq!(found.len(), 1, "one object labelled {label}");
    found[0]
}

fn set_label(s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, label: &str) -> CK_RV {
    let mut t = Template::new().bytes(CKA_LABEL, label.as_bytes());
    let mut raw = t.raw();
    // SAFETY: a valid template.
    unsafe { C_SetAttributeValue(s, o, raw.as_mut_ptr(), raw.len() as CK_ULONG) }
}

fn destroy(s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE) -> CK_RV {
    // SAFETY: no pointers.
    unsafe { C_DestroyObject(s, o) }
}

#[test]
fn a_configured_group_shows_as_an_ha_virtual_slot_after_the_physical_ones() {
    let lab = TextLab::new(LAB);
    assert_eq!(slot_ids(), [0, 1, 3, HA, ODD_HA]);
    assert_eq!(slot_description(HA), "HA Virtual Card Slot");
    assert_eq!(slot_description(0), "Net Token Slot");
    let ha = token_info(HA);
    let primary = token_info(0);
    assert_eq!(text(&ha.label), "web-ha");
    let expected: String = format!("1{}", text(&primary.serialNumber))
        .chars()
        .take(16)
        .collect();
    assert_eq!(
        text(&ha.serialNumber),
        expected,
        "\"1\" + the first member's serial"
    );
    assert_eq!(ha.model, primary.model, "the primary member's model");
    assert_eq!(
        text(&token_info(ODD_HA).serialNumber),
        "1777",
        "the lab's serial"
    );
    // `hsmsim lab show` lists the host's view as the module builds it, HA slots included.
    let selection = hsmsim::estate::select(&hsmsim::estate::Choice {
        lab_file: Some(lab.dir.path().join("lab.toml")),
        host: None,
        state_dir: None,
    })
    .unwrap();
    let report = hsmsim::estate::report(&selection).unwrap();
    let app = report.hosts.iter().find(|h| h.name == "app").unwrap();
    let shown: Vec<(u64, Option<String>)> = app
        .slots
        .iter()
        .map(|s| (s.slot, s.ha_group.as_ref().map(|g| g.label.clone())))
        .collect();
    assert_eq!(
        shown,
        [
            (0, None),
            (1, None),
            (3, None),
            (HA, Some("web-ha".into())),
            (ODD_HA, Some("odd-ha".into()))
        ]
    );
    let web = app.slots[3].ha_group.as_ref().unwrap();
    assert_eq!(web.members, ["sa-a/web1", "sa-b/web2"]);
    assert_eq!(app.slots[3].partition, "sa-a/web1", "the primary member");
    // Without `hosts`, no host shows the group: the slots are as before.
    lab.reload(
        &LAB.replace("hosts = [\"app\"]\n", "")
            .replace("serial = \"1777\"\n", ""),
    );
    assert_eq!(slot_ids(), [0, 1, 3]);
    // A host that does not configure the group.
    lab.reload(&LAB.replace("name = \"app\"", "name = \"first\"").replace(
        "[[host]]\nname = \"first\"",
        "[[host]]\nname = \"plain-first\"\nslot = [{ id = 0, partition = \"sa-a/web1\" }]\n[[host]]\nname = \"first\"",
    ).replace("hosts = [\"app\"]", "hosts = [\"first\"]"));
    assert_eq!(slot_ids(), [0]);
}

#[test]
fn objects_made_on_the_ha_slot_are_on_every_member_with_one_ouid() {
    let lab = TextLab::new(LAB);
    let ha = co_session(HA);
    let (web1, web2) = (co_session(0), co_session(1));
    // A secret key generated on the HA slot: on both members, same CKA_OUID, own unique ids.
    let key = aes_key(ha, |t| {
        t.bool(CKA_TOKEN, true)
            .bytes(CKA_LABEL, b"ha-aes")
            .bool(CKA_ENCRYPT, true)
            .bool(CKA_DECRYPT, true)
    });
    let (k1, k2) = (the_one(web1, "ha-aes"), the_one(web2, "ha-aes"));
    let ouid = get_attr(ha, key, CKA_OUID).unwrap();
    assert_eq!(ouid.len(), 12);
    assert_eq!(get_attr(web1, k1, CKA_OUID).unwrap(), ouid);
    assert_eq!(get_attr(web2, k2, CKA_OUID).unwrap(), ouid);
    let uids = [
        get_attr(web1, k1, CKA_UNIQUE_ID).unwrap(),
        get_attr(web2, k2, CKA_UNIQUE_ID).unwrap(),
    ];
    assert_ne!(uids[0], uids[1], "each member's copy has its own unique id");
    // Each copy is usable on its member: encrypt on one, decrypt on the other.
    let plain = [7u8; 32];
    assert_eq!(
        init(C_EncryptInit, web1, &mut mech(CKM_AES_ECB), k1),
        CKR_OK
    );
    let sealed = produce(C_Encrypt, web1, &plain).unwrap();
    assert_eq!(
        init(C_DecryptInit, web2, &mut mech(CKM_AES_ECB), k2),
        CKR_OK
    );
    assert_eq!(produce(C_Decrypt, web2, &sealed).unwrap(), plain);
    // A key pair: signed with member 2's private key, verified with member 1's public key.
    let (_, _) = generate_key_pair(
        ha,
        CKM_EC_KEY_PAIR_GEN,
        Template::new()
            .bytes(CKA_EC_PARAMS, P256)
            .bool(CKA_TOKEN, true)
            .bool(CKA_VERIFY, true)
            .bytes(CKA_LABEL, b"ha-ec"),
        Template::new()
            .bool(CKA_TOKEN, true)
            .bool(CKA_SIGN, true)
            .bool(CKA_PRIVATE, true)
            .bytes(CKA_LABEL, b"ha-ec"),
    )
    .unwrap();
    let class = |s, class| {
        find(
            s,
            Template::new()
                .bytes(CKA_LABEL, b"ha-ec")
                .ulong(CKA_CLASS, class),
        )
    };
    assert_eq!(class(web1, CKO_PRIVATE_KEY).len(), 1);
    let private2 = class(web2, CKO_PRIVATE_KEY)[0];
    let public1 = class(web1, CKO_PUBLIC_KEY)[0];
    let digest = [0x42u8; 32];
    assert_eq!(
        init(C_SignInit, web2, &mut mech(CKM_ECDSA), private2),
        CKR_OK
    );
    let signature = produce(C_Sign, web2, &digest).unwrap();
    assert_eq!(
        init(C_VerifyInit, web1, &mut mech(CKM_ECDSA), public1),
        CKR_OK
    );
    assert_eq!(verify(web1, &digest, &signature), CKR_OK);
    // A created data object, then a copy: both on both members.
    create(
        ha,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, true)
            .bytes(CKA_LABEL, b"ha-data")
            .bytes(CKA_VALUE, b"replicated"),
    )
    .unwrap();
    let data = the_one(ha, "ha-data");
    let mut copy_template = Template::new().bytes(CKA_LABEL, b"ha-copy");
    let mut raw = copy_template.raw();
    let mut copied = 0;
    // SAFETY: a valid template and out-pointer.
    let rv = unsafe {
        C_CopyObject(
            ha,
            data,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            &mut copied,
        )
    };
    assert_eq!(rv, CKR_OK);
    for s in [web1, web2] {
        assert_eq!(
            get_attr(s, the_one(s, "ha-data"), CKA_VALUE).unwrap(),
            b"replicated"
        );
        the_one(s, "ha-copy");
    }
    // A new label set on the HA slot reaches both members.
    assert_eq!(set_label(ha, key, "ha-aes-renamed"), CKR_OK);
    for s in [web1, web2] {
        assert!(by_label(s, "ha-aes").is_empty());
        the_one(s, "ha-aes-renamed");
    }
    // Another process sees the replicated objects on the member's physical slot.
    let other = lab.other_process();
    let s = other.open_session(1, CKF_SERIAL_SESSION).unwrap();
    let mut t = hsmsim::base::attribute::Attributes::new();
    t.set_bytes(CKA_LABEL, b"ha-data".to_vec());
    other.find_init(s, &t).unwrap();
    assert_eq!(
        other.find_next(s, 10).unwrap().len(),
        1,
        "web2's copy, seen elsewhere"
    );
    other.find_final(s).unwrap();
    // Destroyed on the HA slot: gone from both members (here and in the other process).
    assert_eq!(destroy(ha, data), CKR_OK);
    for s in [web1, web2, ha] {
        assert!(by_label(s, "ha-data").is_empty());
    }
    other.find_init(s, &t).unwrap();
    assert!(other.find_next(s, 10).unwrap().is_empty());
    assert_eq!(
        lab.stored_objects("sa-a/web1"),
        lab.stored_objects("sa-b/web2")
    );
    // Made on a member's physical slot: not replicated (the member's own object).
    create(
        web2,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, true)
            .bytes(CKA_LABEL, b"web2-only"),
    )
    .unwrap();
    assert!(by_label(web1, "web2-only").is_empty());
    assert!(by_label(ha, "web2-only").is_empty());
    // Made on the primary's physical slot: the HA slot (served by the primary) shows it.
    create(
        web1,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, true)
            .bytes(CKA_LABEL, b"web1-only"),
    )
    .unwrap();
    the_one(ha, "web1-only");
}

#[test]
fn a_member_with_another_co_pin_refuses_the_ha_login() {
    let lab = TextLab::new(LAB);
    let before = lab.stored_objects("sa-a/web1");
    let s = open_session(ODD_HA, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(login(s, CKU_USER, CO), CKR_PIN_INCORRECT);
    // The HA slot stays logged out: no private object may be made there.
    let rv = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, true)
            .bool(CKA_PRIVATE, true),
    );
    assert_eq!(rv, Err(CKR_USER_NOT_LOGGED_IN));
    assert_eq!(lab.stored_objects("sa-a/web1"), before);
    // The refusing member counted the failure; the primary did not.
    assert_ne!(token_info(3).flags & CKF_USER_PIN_COUNT_LOW, 0);
    assert_eq!(token_info(0).flags & CKF_USER_PIN_COUNT_LOW, 0);
    // The answer names the member.
    let other = lab.other_process();
    let h = other.open_session(ODD_HA, CKF_SERIAL_SESSION).unwrap();
    let e = other.login(h, CKU_USER, CO).unwrap_err();
    assert_eq!(e.rv, CKR_PIN_INCORRECT);
    assert!(e.detail.contains("sa-b/other"), "{}", e.detail);
}

#[test]
fn partition_management_is_refused_on_the_ha_slot() {
    let lab = TextLab::new(LAB);
    let s = open_session(HA, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(login(s, CKU_SO, b"po-pin-0001"), CKR_FUNCTION_NOT_SUPPORTED);
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    let new = b"co-pin-0009";
    // SAFETY: both PIN buffers are valid for their lengths.
    let rv = unsafe {
        C_SetPIN(
            s,
            CO.as_ptr() as *mut u8,
            CO.len() as CK_ULONG,
            new.as_ptr() as *mut u8,
            new.len() as CK_ULONG,
        )
    };
    assert_eq!(rv, CKR_FUNCTION_NOT_SUPPORTED);
    // SAFETY: the PIN buffer is valid for its length.
    let rv = unsafe { C_InitPIN(s, new.as_ptr() as *mut u8, new.len() as CK_ULONG) };
    assert_eq!(rv, CKR_FUNCTION_NOT_SUPPORTED);
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_CloseAllSessions(HA) }, CKR_OK);
    let mut label = [b' '; 32];
    label[..3].copy_from_slice(b"new");
    let so = b"po-pin-0001";
    // SAFETY: the PIN and the 32-byte label are valid.
    let rv = unsafe {
        C_InitToken(
            HA,
            so.as_ptr() as *mut u8,
            so.len() as CK_ULONG,
            label.as_mut_ptr(),
        )
    };
    assert_eq!(rv, CKR_FUNCTION_NOT_SUPPORTED);
    // The members' PINs are unchanged.
    co_session(1);
    // Luna's role calls too (CA_InitRolePIN, CA_Deactivate), with a sentence saying where.
    let other = lab.other_process();
    let h = other
        .open_session(HA, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    other.login(h, CKU_USER, CO).unwrap();
    let e = other
        .init_role_pin(h, 0x8000_0001, b"cu-pin-0001")
        .unwrap_err();
    assert_eq!(e.rv, CKR_FUNCTION_NOT_SUPPORTED);
    assert!(
        e.detail.contains("HA group \"web-ha\"") && e.detail.contains("physical slot"),
        "{}",
        e.detail
    );
    let e = other.deactivate(HA, CKU_USER).unwrap_err();
    assert_eq!(e.rv, CKR_FUNCTION_NOT_SUPPORTED);
    // And the CA_* calls that change a partition or its device.
    let refusals = [
        other
            .set_partition_policies(h, Some(HA), None, &[(22, 1)])
            .map(drop),
        other.set_hsm_policies(h, &[(7, 1)], false).map(drop),
        other.factory_reset(HA, 0),
    ];
    for refused in refusals {
        let e = refused.unwrap_err();
        assert_eq!(e.rv, CKR_FUNCTION_NOT_SUPPORTED, "{}", e.detail);
        assert!(e.detail.contains("HA group \"web-ha\""), "{}", e.detail);
    }
}

#[test]
fn a_use_on_the_ha_slot_is_counted_on_every_member() {
    const CKA_USAGE_COUNT: CK_ATTRIBUTE_TYPE = 0x8000_0101;
    const CKA_USAGE_LIMIT: CK_ATTRIBUTE_TYPE = 0x8000_0200;
    const CKR_KEY_NOT_ACTIVE: CK_RV = 0x8000_0136;
    let _lab = TextLab::new(LAB);
    let ha = co_session(HA);
    let key = aes_key(ha, |t| {
        t.bool(CKA_TOKEN, true)
            .bytes(CKA_LABEL, b"ha-limited")
            .ulong(CKA_USAGE_LIMIT, 2)
    });
    let members = [co_session(0), co_session(1)];
    let copies = members.map(|s| the_one(s, "ha-limited"));
    let count = |s, o| {
        let bytes = get_attr(s, o, CKA_USAGE_COUNT).unwrap();
        CK_ULONG::from_ne_bytes(bytes.try_into().unwrap())
    };
    let encrypt = |s, o| {
        let rv = init(C_EncryptInit, s, &mut mech(CKM_AES_ECB), o);
        if rv != CKR_OK {
            return rv;
        }
        produce(C_Encrypt, s, &[7u8; 32]).err().unwrap_or(CKR_OK)
    };
    for n in 1..=2 {
        assert_eq!(encrypt(ha, key), CKR_OK, "use {n}");
        assert_eq!(count(ha, key), n);
        for (s, copy) in members.iter().zip(&copies) {
            assert_eq!(count(*s, *copy), n, "a member's copy");
        }
    }
    assert_eq!(encrypt(ha, key), CKR_KEY_NOT_ACTIVE);
    for (s, copy) in members.iter().zip(&copies) {
        assert_eq!(encrypt(*s, *copy), CKR_KEY_NOT_ACTIVE, "a member's copy");
    }
}
