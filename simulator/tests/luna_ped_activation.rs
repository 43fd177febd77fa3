//! A pre-PPSO PED partition's challenge secret and activation (LunaSH `partition
//! createchallenge|activate` as estate operations of the HSM SO): the owner's black key at the
//! PED, the challenge's length, partition policy 22 for activation, PPSO partitions refused;
//! afterwards the challenge alone logs the Crypto Officer in through the module and opens the
//! partition for `hagroup creategroup`, as HA members on PED need.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::base::ids::{DeviceId, PartitionId};
use hsmsim::base::vendor_codes::CKR_USER_NOT_AUTHORIZED;
use hsmsim::estate::{self, ha_groups};

const CHALLENGE: &[u8] = b"CHAL-co-2024";

/// Slot 0: the partition of a 6.21.2 (pre-PPSO) PED appliance; slot 1: a 7.4.2 (PPSO) PED
/// appliance's partition.
const LAB: &str = r#"
[lab]
name = "ped-activation"

[[device]]
name = "sa6"
kind = "luna-network"
firmware = "6.21.2"
auth = "ped"
  [[device.partition]]
  name = "admin"
  label = "admin"
  so_ped_key = "ped/sa6-blue.key"
  admin = true
  [[device.partition]]
  name = "app"
  label = "sa6-app"
  so_ped_key = "ped/sa6-blue.key"
  user_ped_key = "ped/sa6-black.key"
  domain_ped_key = "ped/red.key"

[[device]]
name = "sa7"
kind = "luna-network"
firmware = "7.4.2"
auth = "ped"
  [[device.partition]]
  name = "admin"
  label = "admin"
  so_ped_key = "ped/sa7-blue.key"
  admin = true
  [[device.partition]]
  name = "app"
  label = "sa7-app"
  so_ped_key = "ped/sa7-po.key"
  user_ped_key = "ped/sa7-black.key"
  domain_ped_key = "ped/red.key"

[[host]]
name = "client"
slot = [
  { id = 0, partition = "sa6/app" },
  { id = 1, partition = "sa7/app" },
]
"#;

#[test]
fn the_hsm_so_gives_a_pre_ppso_owner_its_challenge_and_activates_it() {
    let lab = TextLab::new(LAB);
    let selection = lab.selection();
    let source = PartitionId::parse("sa6/app").unwrap();
    let challenge = std::str::from_utf8(CHALLENGE).unwrap();
    let hso = estate::hsm_so_login(&selection, &DeviceId::new("sa6"), b"").unwrap();
    let s = open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();

    // Activation needs policy 22; a challenge secret is 7 to 16 characters.
    let e = estate::partition_activate(&selection, &hso, "sa6-app").unwrap_err();
    assert_eq!(e.rv, CKR_USER_NOT_AUTHORIZED, "{}", e.detail);
    assert!(e.detail.contains("policy 22"), "{}", e.detail);
    let e = estate::partition_create_challenge(&selection, &hso, "sa6-app", "short").unwrap_err();
    assert_eq!(e.rv, CKR_PIN_LEN_RANGE);
    estate::partition_create_challenge(&selection, &hso, "sa6-app", challenge).unwrap();

    // Set but not activated: the challenge neither logs in nor opens the partition for HA.
    assert_ne!(login(s, CKU_USER, CHALLENGE), CKR_OK);
    assert!(ha_groups::create_group(&selection, "g", &source, challenge, None).is_err());

    estate::partition_change_policy(&selection, &hso, "sa6-app", &[(22, 1)], false).unwrap();
    // Another black key at the PED is the wrong owner.
    let other = lab.dir.path().join("ped/sa7-black.key");
    lab.present_ped_keys(Some(&format!("black={}", other.display())));
    let e = estate::partition_activate(&selection, &hso, "sa6-app").unwrap_err();
    assert_eq!(e.rv, CKR_PIN_INCORRECT, "{}", e.detail);
    lab.present_ped_keys(None);
    estate::partition_activate(&selection, &hso, "sa6-app").unwrap();

    // Activated: the challenge alone logs the Crypto Officer in; a wrong one does not.
    assert_eq!(login(s, CKU_USER, b"not-the-challenge"), CKR_PIN_INCORRECT);
    assert_eq!(login(s, CKU_USER, CHALLENGE), CKR_OK);
    assert_eq!(logout(s), CKR_OK);
    ha_groups::create_group(&selection, "g", &source, challenge, None).unwrap();
}

#[test]
fn ppso_partitions_are_refused_their_partition_so_sets_the_challenge() {
    let lab = TextLab::new(LAB);
    let selection = lab.selection();
    let hso = estate::hsm_so_login(&selection, &DeviceId::new("sa7"), b"").unwrap();
    for e in [
        estate::partition_create_challenge(&selection, &hso, "sa7-app", "CHAL-co-2024")
            .unwrap_err(),
        estate::partition_activate(&selection, &hso, "sa7-app").unwrap_err(),
    ] {
        assert_eq!(e.rv, CKR_USER_NOT_AUTHORIZED, "{}", e.detail);
        assert!(e.detail.contains("role createchallenge"), "{}", e.detail);
    }
}
