//! Luna HA groups as estate operations through the C ABI (issue 13 item 3; seed 003's
//! "Cloning Using an HA Group"): create a group from a member with its objects kept, add a
//! member, synchronise ("Needs sync" until then; objects equal by `CKA_OUID` and usable on the
//! new member), remove the creating member (the group serial changes), delete the group (the
//! objects stay), HA-only mode hiding the physical slots, and every prerequisite refused with
//! its code.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::base::ids::PartitionId;
use hsmsim::base::vendor_codes::{CKR_CERTIFICATE_INVALID, CKR_OPERATION_NOT_ALLOWED};
use hsmsim::estate::ha_groups;
use hsmsim::estate::{self, Choice, LabSelection};
use hsmsim::pkcs11::*;
use std::collections::BTreeSet;

const CKA_OUID: CK_ATTRIBUTE_TYPE = 0x8000_0005;
const CO: &str = "co-pin-0001";

/// Host "app": slot 0 old/p (6.21.2), 1 new7/p (7.7.1), 2 net74/p (7.4.2), 3 pcie74/p (PCIe
/// 7.4.2), 4 nopol/p (HSM policy 16 off), 5 otherdom/p (another domain), 6 wrongco/p (another
/// CO password), 7 ped/p (PED, no activation policy).
const LAB: &str = r#"[lab]
name = "luna-ha-groups"

[[device]]
name = "old"
kind = "luna-network"
serial = "156908040"
  [device.luna]
  firmware = "6.21.2"
  auth = "password"
  [[device.partition]]
  name = "p"
  label = "old"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
    [device.partition.luna]
    domain = "dom-d"
    policies = { 0 = 1, 4 = 1 }

[[device]]
name = "new7"
kind = "luna-network"
serial = "700179008"
  [device.luna]
  firmware = "7.7.1"
  auth = "password"
  [[device.partition]]
  name = "p"
  label = "new7"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
    [device.partition.luna]
    domain = "dom-d"

[[device]]
name = "net74"
kind = "luna-network"
serial = "700179011"
  [device.luna]
  firmware = "7.4.2"
  auth = "password"
  [[device.partition]]
  name = "p"
  label = "net74"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
    [device.partition.luna]
    domain = "dom-d"
    policies = { 0 = 1, 4 = 1 }

[[device]]
name = "pcie74"
kind = "luna-pcie"
serial = "700179012"
  [device.luna]
  firmware = "7.4.2"
  auth = "password"
  [[device.partition]]
  name = "p"
  label = "pcie74"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
    [device.partition.luna]
    domain = "dom-d"

[[device]]
name = "nopol"
kind = "luna-network"
serial = "700179013"
  [device.luna]
  firmware = "7.4.2"
  auth = "password"
  hsm_policies = { 16 = 0 }
  [[device.partition]]
  name = "p"
  label = "nopol"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
    [device.partition.luna]
    domain = "dom-d"

[[device]]
name = "otherdom"
kind = "luna-network"
serial = "700179014"
  [device.luna]
  firmware = "7.4.2"
  auth = "password"
  [[device.partition]]
  name = "p"
  label = "otherdom"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
    [device.partition.luna]
    domain = "dom-e"

[[device]]
name = "wrongco"
kind = "luna-network"
serial = "700179015"
  [device.luna]
  firmware = "7.4.2"
  auth = "password"
  [[device.partition]]
  name = "p"
  label = "wrongco"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0002"
    [device.partition.luna]
    domain = "dom-d"

[[device]]
name = "ped"
kind = "luna-network"
serial = "700179016"
  [device.luna]
  firmware = "7.4.2"
  auth = "ped"
  [[device.partition]]
  name = "p"
  label = "ped"
    [device.partition.luna]
    so_ped_key = "ped/blue.key"
    user_ped_key = "ped/black.key"
    domain_ped_key = "ped/red.key"

[[host]]
name = "app"
slot = [{ id = 0, partition = "old/p" }, { id = 1, partition = "new7/p" }, { id = 2, partition = "net74/p" }, { id = 3, partition = "pcie74/p" }, { id = 4, partition = "nopol/p" }, { id = 5, partition = "otherdom/p" }, { id = 6, partition = "wrongco/p" }, { id = 7, partition = "ped/p" }]
"#;

/// The slot of the first HA group once the module restarts (after the 8 physical slots).
const HA: CK_SLOT_ID = 8;

fn selection(lab: &TextLab) -> LabSelection {
    estate::select(&Choice {
        lab_file: Some(lab.dir.path().join("lab.toml")),
        host: None,
        state_dir: None,
    })
    .unwrap()
}

fn p(name: &str) -> PartitionId {
    PartitionId::parse(&format!("{name}/p")).unwrap()
}

fn co_session(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    let s = open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(
        login(s, CKU_USER, CO.as_bytes()),
        CKR_OK,
        "CO login on slot {slot}"
    );
    s
}

fn text(padded: &[u8]) -> String {
    String::from_utf8_lossy(padded).trim_end().to_string()
}

/// "1" + the member's serial, cut to the 16 characters of `CK_TOKEN_INFO.serialNumber`.
fn group_serial(member: &str) -> String {
    format!("1{member}").chars().take(16).collect()
}

fn slot_ids() -> Vec<CK_SLOT_ID> {
    let mut n = 0;
    // SAFETY: a valid count pointer; null list asks for the count.
    let rv = unsafe { C_GetSlotList(0, std::ptr::null_mut(), &mut n) };
    assert_eq!(rv, CKR_OK);
    let mut ids = vec![0; n as usize];
    // SAFETY: the buffer holds `n` ids.
    let rv = unsafe { C_GetSlotList(0, ids.as_mut_ptr(), &mut n) };
    assert_eq!(rv, CKR_OK);
    ids.truncate(n as usize);
    ids
}

fn stored_ouids(lab: &TextLab, partition: &PartitionId) -> BTreeSet<Vec<u8>> {
    let config = estate::resolve_config(&Choice {
        lab_file: Some(lab.dir.path().join("lab.toml")),
        host: None,
        state_dir: None,
    })
    .unwrap();
    let store = hsmsim::store::Store::open(&config.state_dir).unwrap();
    store
        .objects(partition)
        .unwrap()
        .iter()
        .filter_map(|o| o.public.bytes(CKA_OUID).map(<[u8]>::to_vec))
        .collect()
}

/// The old partition's objects: an AES key, an RSA pair and an EC pair, all token objects.
fn old_objects() {
    let s = co_session(0);
    aes_key(s, |t| {
        t.bool(CKA_TOKEN, true)
            .bool(CKA_ENCRYPT, true)
            .bytes(CKA_LABEL, b"aes")
    });
    generate_key_pair(
        s,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        Template::new()
            .ulong(CKA_MODULUS_BITS, 2048)
            .bool(CKA_TOKEN, true)
            .bytes(CKA_LABEL, b"rsa"),
        Template::new()
            .bool(CKA_TOKEN, true)
            .bool(CKA_SIGN, true)
            .bytes(CKA_LABEL, b"rsa"),
    )
    .unwrap();
    // SAFETY: no pointers.
    unsafe { C_CloseSession(s) };
}

#[test]
fn a_temporary_group_copies_the_old_partition_to_the_new_one() {
    let lab = TextLab::new(LAB);
    let selection = selection(&lab);
    old_objects();
    let old_serial = text(&token_info(0).serialNumber);
    // hagroup creategroup -label tmpMig -slot 0 -password <co>: the objects are kept.
    let created = ha_groups::create_group(&selection, "tmpMig", &p("old"), CO, None).unwrap();
    assert_eq!(created.serial, group_serial(&old_serial));
    assert!(!created.needs_sync);
    // hagroup addmember -group tmpMig -slot 2: needs sync until synchronised.
    let added = ha_groups::add_member(&selection, "tmpMig", &p("net74"), CO, false).unwrap();
    assert!(added.needs_sync);
    assert_eq!(added.members.len(), 2);
    let report = ha_groups::synchronise(&selection, "tmpMig", CO).unwrap();
    assert_eq!(report.copied, [("old/p".into(), 0), ("net74/p".into(), 3)]);
    let listed = ha_groups::list_groups(&selection).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].needs_sync, "Needs sync: no");
    assert_eq!(
        stored_ouids(&lab, &p("old")),
        stored_ouids(&lab, &p("net74"))
    );
    // The copies work on the new partition (the CO logs in there and signs).
    let s = co_session(2);
    let key = find(
        s,
        Template::new()
            .bytes(CKA_LABEL, b"rsa")
            .ulong(CKA_CLASS, CKO_PRIVATE_KEY as CK_ULONG),
    );
    assert_eq!(key.len(), 1);
    let mut m = mech(CKM_SHA256_RSA_PKCS);
    assert_eq!(init(C_SignInit, s, &mut m, key[0]), CKR_OK);
    assert!(produce(C_Sign, s, b"migrated").is_ok());
    // After a restart the host lists the group's virtual slot after the physical ones.
    lab.reload(LAB);
    assert_eq!(slot_ids(), [0, 1, 2, 3, 4, 5, 6, 7, HA]);
    assert_eq!(text(&token_info(HA).label), "tmpMig");
    assert_eq!(
        text(&token_info(HA).serialNumber),
        group_serial(&old_serial)
    );
    // An object made directly on one member makes the group need sync again.
    let s = co_session(2);
    aes_key(s, |t| t.bool(CKA_TOKEN, true).bytes(CKA_LABEL, b"direct"));
    assert!(
        ha_groups::group_status(&selection, "tmpMig")
            .unwrap()
            .needs_sync
    );
    // Removing the creating member changes the group serial.
    let net74_serial = text(&token_info(2).serialNumber);
    let removed = ha_groups::remove_member(&selection, "tmpMig", &p("old")).unwrap();
    assert_eq!(removed.serial, group_serial(&net74_serial));
    assert_ne!(removed.serial, created.serial);
    // The last member is not removed: the group is deleted instead; the objects stay.
    assert!(ha_groups::remove_member(&selection, "tmpMig", &p("net74")).is_err());
    let before = lab.stored_objects("net74/p");
    ha_groups::delete_group(&selection, "tmpMig").unwrap();
    assert_eq!(lab.stored_objects("net74/p"), before);
    assert_eq!(lab.stored_objects("old/p"), 3);
    assert!(ha_groups::list_groups(&selection).unwrap().is_empty());
    lab.reload(LAB);
    assert_eq!(slot_ids(), [0, 1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn ha_only_mode_hides_the_physical_slots() {
    let lab = TextLab::new(LAB);
    let selection = selection(&lab);
    ha_groups::create_group(&selection, "g", &p("old"), CO, Some("4242".into())).unwrap();
    ha_groups::add_member(&selection, "g", &p("net74"), CO, false).unwrap();
    assert_eq!(
        ha_groups::set_ha_only(&selection, None, true).unwrap(),
        "app"
    );
    lab.reload(LAB);
    assert_eq!(slot_ids(), [HA]);
    assert_eq!(text(&token_info(HA).serialNumber), "4242");
    let mut info = std::mem::MaybeUninit::<CK_SLOT_INFO>::zeroed();
    // SAFETY: a valid out-pointer.
    let rv = unsafe { C_GetSlotInfo(0, info.as_mut_ptr()) };
    assert_eq!(rv, CKR_SLOT_ID_INVALID, "a hidden physical slot");
    // The HA slot still logs in through the members' (hidden) physical slots.
    let s = co_session(HA);
    aes_key(s, |t| t.bool(CKA_TOKEN, true).bytes(CKA_LABEL, b"k"));
    assert_eq!(lab.stored_objects("old/p"), 1);
    assert_eq!(lab.stored_objects("net74/p"), 1);
    ha_groups::set_ha_only(&selection, None, false).unwrap();
    lab.reload(LAB);
    assert_eq!(slot_ids(), [0, 1, 2, 3, 4, 5, 6, 7, HA]);
    // `lab reset` brings back the lab's groups (none here) and leaves HA-only mode.
    estate::reset(&selection).unwrap();
    lab.reload(LAB);
    assert_eq!(slot_ids(), [0, 1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn each_prerequisite_is_refused_with_its_code() {
    let lab = TextLab::new(LAB);
    let selection = selection(&lab);
    // The answer's code, with the reason checked to name the rule.
    let refused = |r: Result<ha_groups::HaGroupStatus, hsmsim::base::error::Error>, says: &str| {
        let e = r.unwrap_err();
        assert!(
            e.detail.contains(says),
            "{:?} does not say {says:?}",
            e.detail
        );
        e.rv
    };
    // A 7.7+ partition is never primary over an older secondary...
    ha_groups::create_group(&selection, "newer", &p("new7"), CO, None).unwrap();
    assert_eq!(
        refused(
            ha_groups::add_member(&selection, "newer", &p("old"), CO, false),
            "never primary"
        ),
        CKR_OPERATION_NOT_ALLOWED
    );
    // ... but an older primary takes a 7.7+ member.
    ha_groups::create_group(&selection, "older", &p("old"), CO, None).unwrap();
    ha_groups::add_member(&selection, "older", &p("new7"), CO, false).unwrap();
    // No PCIe 7 and Network 7 mix.
    ha_groups::create_group(&selection, "mix", &p("net74"), CO, None).unwrap();
    assert_eq!(
        refused(
            ha_groups::add_member(&selection, "mix", &p("pcie74"), CO, false),
            "PCIe"
        ),
        CKR_OPERATION_NOT_ALLOWED
    );
    // HSM policy 16 off.
    assert_eq!(
        refused(
            ha_groups::add_member(&selection, "mix", &p("nopol"), CO, false),
            "policy 16"
        ),
        CKR_OPERATION_NOT_ALLOWED
    );
    assert_eq!(
        refused(
            ha_groups::create_group(&selection, "nopol", &p("nopol"), CO, None),
            "policy 16"
        ),
        CKR_OPERATION_NOT_ALLOWED
    );
    // Another cloning domain.
    assert_eq!(
        refused(
            ha_groups::add_member(&selection, "mix", &p("otherdom"), CO, false),
            "cloning domain"
        ),
        CKR_CERTIFICATE_INVALID
    );
    // Another Crypto Officer credential.
    assert_eq!(
        refused(
            ha_groups::add_member(&selection, "mix", &p("wrongco"), CO, false),
            "Crypto Officer"
        ),
        CKR_PIN_INCORRECT
    );
    assert_eq!(
        refused(
            ha_groups::create_group(&selection, "bad", &p("old"), "wrong-co-pin", None),
            "Crypto Officer"
        ),
        CKR_PIN_INCORRECT
    );
    // Another authentication method; a PED partition without activation (policy 22).
    assert_eq!(
        refused(
            ha_groups::add_member(&selection, "mix", &p("ped"), CO, false),
            "authentication method"
        ),
        CKR_OPERATION_NOT_ALLOWED
    );
    assert_eq!(
        refused(
            ha_groups::create_group(&selection, "ped", &p("ped"), CO, None),
            "policy 22"
        ),
        CKR_OPERATION_NOT_ALLOWED
    );
    // A member twice, a label twice, a member down.
    assert_eq!(
        refused(
            ha_groups::add_member(&selection, "mix", &p("net74"), CO, false),
            "already"
        ),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        refused(
            ha_groups::create_group(&selection, "mix", &p("old"), CO, None),
            "exists already"
        ),
        CKR_ARGUMENTS_BAD
    );
    estate::fail_device(&selection, &hsmsim::base::ids::DeviceId::new("new7")).unwrap();
    assert_eq!(
        ha_groups::synchronise(&selection, "older", CO)
            .unwrap_err()
            .rv,
        CKR_DEVICE_REMOVED
    );
    // Refused operations changed nothing.
    let groups: Vec<(String, usize)> = ha_groups::list_groups(&selection)
        .unwrap()
        .into_iter()
        .map(|g| (g.label, g.members.len()))
        .collect();
    assert_eq!(
        groups,
        [("mix".into(), 1), ("newer".into(), 1), ("older".into(), 2)]
    );
}
