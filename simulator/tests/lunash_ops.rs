//! LunaSH's appliance operations as estate operations (issue 13 item 5): the HSM SO's `hsm
//! login` against the admin partition's SO credential (3 wrong passwords zeroise the HSM),
//! `partition list|show|showpolicies|changepolicy` and `hsm showpolicies|changepolicy` on a
//! Luna Network HSM, seen by the module (`CA_GetTokenPolicies`, objects) on its next call.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::base::ids::DeviceId;
use hsmsim::estate::{self, Choice, LabSelection};

use hsmsim::models::luna::{
    CKR_CONFIG_CHANGE_ILLEGAL, CKR_CONFIG_ILLEGAL, CKR_CONTAINER_HANDLE_INVALID,
    CKR_POLICY_ID_INVALID,
};

const CO: &[u8] = b"co-pin-0001";
const HSO: &[u8] = b"hso-pin-0001";

/// Slots: 0 the source partition of a 6.21.2 Network HSM (policies 0 and 4 off, as a source
/// before the migration guide's step), 1 a 7.4.2 partition on a Network HSM without cloning
/// (HSM policy 7 off), 2 a partition of a Network HSM without an admin partition. Devices
/// `k7` (a PCIe HSM) and the PED appliances `saped` and `saped2` show in no slot.
const LAB: &str = r#"
[lab]
name = "lunash-test"

[[device]]
name = "sa6"
kind = "luna-network"
firmware = "6.21.2"
  [[device.partition]]
  name = "admin"
  label = "admin"
  so_pin = "hso-pin-0001"
  admin = true
  [[device.partition]]
  name = "source"
  label = "src-label"
  so_pin = "hso-pin-0001"
  user_pin = "co-pin-0001"
  domain = "migration-domain"
  policies = { 0 = 0, 4 = 0 }

[[device]]
name = "sa7"
kind = "luna-network"
firmware = "7.4.2"
hsm_policies = { 7 = 0 }
  [[device.partition]]
  name = "admin"
  label = "admin"
  so_pin = "hso-pin-0001"
  admin = true
  [[device.partition]]
  name = "app"
  label = "app"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"

[[device]]
name = "noadmin"
kind = "luna-network"
firmware = "7.4.2"
  [[device.partition]]
  name = "app"
  label = "app"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"

[[device]]
name = "k7"
kind = "luna-pcie"
firmware = "7.4.2"
  [[device.partition]]
  name = "admin"
  label = "admin"
  so_pin = "hso-pin-0001"
  admin = true

[[device]]
name = "saped"
kind = "luna-network"
firmware = "7.4.2"
auth = "ped"
  [[device.partition]]
  name = "admin"
  label = "admin"
  so_ped_key = "ped/saped-blue.key"
  admin = true

[[device]]
name = "saped2"
kind = "luna-network"
firmware = "7.4.2"
auth = "ped"
  [[device.partition]]
  name = "admin"
  label = "admin"
  so_ped_key = "ped/saped2-blue.key"
  admin = true

[[host]]
name = "client"
slot = [
  { id = 0, partition = "sa6/source" },
  { id = 1, partition = "sa7/app" },
  { id = 2, partition = "noadmin/app" },
]
"#;

fn selection(lab: &TextLab) -> LabSelection {
    estate::select(&Choice {
        lab_file: Some(lab.dir.path().join("lab.toml")),
        host: None,
        state_dir: None,
    })
    .unwrap()
}

fn device(name: &str) -> DeviceId {
    DeviceId::new(name)
}

/// The CO of `slot` stores an AES key there.
fn store_a_key(slot: CK_SLOT_ID) {
    let s = open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    aes_key(s, |t| t.bool(CKA_TOKEN, true));
    assert_eq!(logout(s), CKR_OK);
}

#[test]
fn wrong_hsm_so_passwords_are_counted_and_the_third_zeroises_the_hsm() {
    let lab = TextLab::new(LAB);
    let selection = selection(&lab);
    store_a_key(0);
    assert_eq!(lab.stored_objects("sa6/source"), 1);
    let before = estate::hsm_so_login(&selection, &device("sa6"), HSO).unwrap();
    let wrong = |pin: &[u8]| {
        estate::hsm_so_login(&selection, &device("sa6"), pin)
            .unwrap_err()
            .rv
    };
    // A right password in between starts the count again.
    assert_eq!(wrong(b"wrong-pin-1"), CKR_PIN_INCORRECT);
    assert_eq!(wrong(b"wrong-pin-2"), CKR_PIN_INCORRECT);
    estate::hsm_so_login(&selection, &device("sa6"), HSO).unwrap();
    assert_eq!(wrong(b"wrong-pin-1"), CKR_PIN_INCORRECT);
    assert_eq!(wrong(b"wrong-pin-2"), CKR_PIN_INCORRECT);
    assert_eq!(lab.stored_objects("sa6/source"), 1);
    let third = estate::hsm_so_login(&selection, &device("sa6"), b"wrong-pin-3").unwrap_err();
    assert_eq!(third.rv, CKR_PIN_LOCKED);
    assert!(third.detail.contains("zeroised"), "{}", third.detail);
    // Every partition of the HSM is blank; the module sees it on its next call.
    assert_eq!(lab.stored_objects("sa6/source"), 0);
    let partitions = estate::appliance_partitions(&selection, &device("sa6")).unwrap();
    assert_eq!(partitions.len(), 1);
    assert!(!partitions[0].initialized);
    assert_eq!(token_info(0).flags & CKF_TOKEN_INITIALIZED, 0);
    // The login from before the zeroisation no longer holds.
    let e = estate::partition_change_policy(&selection, &before, "source", &[(20, 3)], true)
        .unwrap_err();
    assert_eq!(e.rv, CKR_USER_NOT_LOGGED_IN);
    // The other HSM is untouched.
    estate::hsm_so_login(&selection, &device("sa7"), HSO).unwrap();
}

#[test]
fn appliances_without_an_admin_partition_or_that_are_not_network_hsms_are_refused() {
    let lab = TextLab::new(LAB);
    let selection = selection(&lab);
    let e = estate::hsm_so_login(&selection, &device("noadmin"), HSO).unwrap_err();
    assert_eq!(e.rv, CKR_ARGUMENTS_BAD);
    assert!(e.detail.contains("no admin partition"), "{}", e.detail);
    let e = estate::hsm_so_login(&selection, &device("k7"), HSO).unwrap_err();
    assert_eq!(e.rv, CKR_FUNCTION_NOT_SUPPORTED);
    assert!(e.detail.contains("not a Luna Network HSM"), "{}", e.detail);
}

#[test]
fn partition_list_and_show_report_labels_serials_and_objects() {
    let lab = TextLab::new(LAB);
    let selection = selection(&lab);
    store_a_key(0);
    let list = estate::appliance_partitions(&selection, &device("sa6")).unwrap();
    assert_eq!(list.len(), 1, "the admin partition is not listed");
    assert_eq!(list[0].name, "source");
    assert_eq!(list[0].label, "src-label");
    assert_eq!(list[0].objects, 1);
    assert!(list[0].initialized && list[0].present);
    assert_eq!(list[0].serial, token_serial(0));
    // `-partition` takes the name or the label.
    let by_label = estate::appliance_partition(&selection, &device("sa6"), "src-label").unwrap();
    assert_eq!(by_label, list[0]);
    let e = estate::appliance_partition(&selection, &device("sa6"), "nope").unwrap_err();
    assert_eq!(e.rv, CKR_CONTAINER_HANDLE_INVALID);
    assert!(e.detail.contains("partitions: source"), "{}", e.detail);
}

fn token_serial(slot: CK_SLOT_ID) -> String {
    let info = token_info(slot);
    String::from_utf8_lossy(&info.serialNumber)
        .trim()
        .to_string()
}

#[test]
fn showpolicies_lists_only_policies_whose_capability_is_not_zero() {
    let lab = TextLab::new(LAB);
    let selection = selection(&lab);
    // HSM policy 7 (cloning) is off on sa7: partition policies 0 and 4 have capability 0.
    let rows = estate::partition_show_policies(&selection, &device("sa7"), "app").unwrap();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r.capability != 0));
    assert!(!rows.iter().any(|r| r.id == 0 || r.id == 4), "{rows:?}");
    assert!(rows.iter().any(|r| r.id == 20 && r.value == 10));
    // On sa6, cloning is allowed: 0 and 4 are listed with their (lab-set) values.
    let rows = estate::partition_show_policies(&selection, &device("sa6"), "source").unwrap();
    let zero = rows.iter().find(|r| r.id == 0).unwrap();
    assert_eq!(
        (zero.value, zero.capability, zero.destructive),
        (0, 1, true)
    );
    assert_eq!(zero.description, "Allow private key cloning");
}

#[test]
fn changepolicy_0_and_4_on_a_source_partition_reaches_the_module() {
    let lab = TextLab::new(LAB);
    let selection = selection(&lab);
    store_a_key(0);
    assert_eq!((policy(0, 0), policy(0, 4)), (0, 0));
    let so = estate::hsm_so_login(&selection, &device("sa6"), HSO).unwrap();
    // Off to on is destructive: refused without the confirmation, nothing changed.
    let e = estate::partition_change_policy(&selection, &so, "source", &[(0, 1), (4, 1)], false)
        .unwrap_err();
    assert_eq!(e.rv, CKR_CONFIG_CHANGE_ILLEGAL);
    assert_eq!((policy(0, 0), policy(0, 4)), (0, 0));
    assert_eq!(lab.stored_objects("sa6/source"), 1);
    // Confirmed ("proceed"): both on, the partition's objects erased in the same transaction.
    let change =
        estate::partition_change_policy(&selection, &so, "source", &[(0, 1), (4, 1)], true)
            .unwrap();
    assert!(change.erased);
    assert!(change.policies.iter().any(|r| r.id == 0 && r.value == 1));
    assert_eq!((policy(0, 0), policy(0, 4)), (1, 1));
    assert_eq!(lab.stored_objects("sa6/source"), 0);
    let s = open_session(0, CKF_SERIAL_SESSION).unwrap();
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    assert!(find(s, Template::new().ulong(CKA_CLASS, CKO_SECRET_KEY)).is_empty());
    assert_eq!(logout(s), CKR_OK);
    // A non-destructive change keeps the objects.
    store_a_key(0);
    let change =
        estate::partition_change_policy(&selection, &so, "source", &[(20, 5)], false).unwrap();
    assert!(!change.erased);
    assert_eq!(policy(0, 20), 5);
    assert_eq!(lab.stored_objects("sa6/source"), 1);
}

#[test]
fn changepolicy_refuses_unknown_partitions_policies_and_values_with_the_models_codes() {
    let lab = TextLab::new(LAB);
    let selection = selection(&lab);
    let so = estate::hsm_so_login(&selection, &device("sa7"), HSO).unwrap();
    let change = |partition: &str, changes: &[(u64, u64)]| {
        estate::partition_change_policy(&selection, &so, partition, changes, true).unwrap_err()
    };
    let e = change("nope", &[(20, 3)]);
    assert_eq!(e.rv, CKR_CONTAINER_HANDLE_INVALID);
    assert!(e.detail.contains("no partition \"nope\""), "{}", e.detail);
    let e = change("app", &[(99, 1)]);
    assert_eq!(e.rv, CKR_POLICY_ID_INVALID);
    assert!(e.detail.contains("policy 99"), "{}", e.detail);
    let e = change("app", &[(22, 2)]);
    assert_eq!(e.rv, CKR_CONFIG_ILLEGAL);
    assert!(e.detail.contains("takes 0 to 1"), "{}", e.detail);
    // Above the capability: HSM policy 7 is off.
    let e = change("app", &[(0, 1)]);
    assert_eq!(e.rv, CKR_CONFIG_ILLEGAL);
    assert!(e.detail.contains("HSM policy 7"), "{}", e.detail);
    // The admin partition is not an application partition.
    assert_eq!(change("admin", &[(20, 3)]).rv, CKR_CONTAINER_HANDLE_INVALID);
}

#[test]
fn hsm_changepolicy_of_a_destructive_policy_zeroises() {
    let lab = TextLab::new(LAB);
    let selection = selection(&lab);
    store_a_key(1);
    let before = estate::hsm_show_policies(&selection, &device("sa7")).unwrap();
    let cloning = before.iter().find(|r| r.id == 7).unwrap();
    assert_eq!((cloning.value, cloning.destructive), (0, true));
    let so = estate::hsm_so_login(&selection, &device("sa7"), HSO).unwrap();
    let e = estate::hsm_change_policy(&selection, &so, &[(7, 1)], false).unwrap_err();
    assert_eq!(e.rv, CKR_CONFIG_CHANGE_ILLEGAL);
    assert_eq!(lab.stored_objects("sa7/app"), 1);
    assert_eq!(
        estate::hsm_change_policy(&selection, &so, &[(99, 1)], true)
            .unwrap_err()
            .rv,
        CKR_POLICY_ID_INVALID
    );
    let change = estate::hsm_change_policy(&selection, &so, &[(7, 1)], true).unwrap();
    assert!(change.zeroised);
    assert!(change.policies.iter().any(|r| r.id == 7 && r.value == 1));
    assert_eq!(lab.stored_objects("sa7/app"), 0);
    // Cloning is allowed now: the partition's policies 0 and 4 show, and the module sees them.
    let rows = estate::partition_show_policies(&selection, &device("sa7"), "app").unwrap();
    assert!(rows.iter().any(|r| r.id == 0) && rows.iter().any(|r| r.id == 4));
    assert_eq!(policy(1, 0), 1);
    // A non-destructive HSM policy change.
    let change = estate::hsm_change_policy(&selection, &so, &[(21, 0)], false).unwrap();
    assert!(!change.zeroised);
}

#[test]
fn a_ped_appliance_s_hsm_so_logs_in_with_the_blue_key_the_ped_presents() {
    let lab = TextLab::new(LAB);
    let selection = selection(&lab);
    // An empty password: the PED presents the lab's blue key of the admin partition.
    estate::hsm_so_login(&selection, &device("saped"), b"").unwrap();
    // Another HSM's blue key is a failed HSM SO login, counted like a wrong password.
    let other = lab.dir.path().join("ped/saped2-blue.key");
    estate::hsm_so_login(&selection, &device("saped2"), b"").unwrap();
    lab.present_ped_keys(Some(&format!("blue={}", other.display())));
    let e = estate::hsm_so_login(&selection, &device("saped"), b"").unwrap_err();
    assert_eq!(e.rv, CKR_PIN_INCORRECT);
    lab.present_ped_keys(None);
    estate::hsm_so_login(&selection, &device("saped"), b"").unwrap();
}
