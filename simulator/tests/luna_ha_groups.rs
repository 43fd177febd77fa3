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
use hsmsim::base::vendor_codes::{
    CKR_CERTIFICATE_INVALID, CKR_CONTAINER_OBJECT_STORAGE_FULL, CKR_FAILED_TO_CLONE_AN_OBJECT,
    CKR_OPERATION_NOT_ALLOWED,
};
use hsmsim::estate;
use hsmsim::estate::ha_groups;
use hsmsim::pkcs11::*;

const CO: &str = "co-pin-0001";

/// Host "app": slot 0 old/p (6.21.2), 1 new7/p (7.7.1), 2 net74/p (7.4.2), 3 pcie74/p (PCIe
/// 7.4.2), 4 nopol/p (HSM policy 16 off), 5 otherdom/p (another domain), 6 wrongco/p (another
/// CO password), 7 ped/p (PED, no activation policy).
/// The lab's devices, one a line: name, kind, firmware, HSM policies, cloning domain, Crypto
/// Officer password, partition policies ("-": the defaults).
const DEVICES: &str = "
    old      network 6.21.2 -    dom-d co-pin-0001 0=1,4=1
    new7     network 7.7.1  -    dom-d co-pin-0001 -
    net74    network 7.4.2  -    dom-d co-pin-0001 0=1,4=1
    pcie74   pcie    7.4.2  -    dom-d co-pin-0001 -
    nopol    network 7.4.2  16=0 dom-d co-pin-0001 -
    otherdom network 7.4.2  -    dom-e co-pin-0001 -
    wrongco  network 7.4.2  -    dom-d co-pin-0002 -";

fn lab_text() -> String {
    lab_with(DEVICES, true)
}

/// A lab of `devices` (as `DEVICES` lists them) on host "app", slot i the i-th device's
/// partition "p", and (`ped`) a PED partition "ped/p" without activation after them.
fn lab_with(devices: &str, ped: bool) -> String {
    let table = |v: &str| match v {
        "-" => "{}".to_string(),
        v => format!("{{ {} }}", v.replace(',', ", ")),
    };
    let mut text = String::from("[lab]\nname = \"luna-ha-groups\"\n");
    let mut slots = Vec::new();
    for (id, line) in devices.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [name, kind, firmware, hsm, domain, co, policies] = f[..] else {
            panic!("bad device line {line:?}");
        };
        text.push_str(&format!(
            "[[device]]\nname = \"{name}\"\nkind = \"luna-{kind}\"\nserial = \"70017901{id}\"\n\
             [device.luna]\nfirmware = \"{firmware}\"\nauth = \"password\"\nhsm_policies = {}\n\
             [[device.partition]]\nname = \"p\"\nlabel = \"{name}\"\nso_pin = \"po-pin-0001\"\n\
             user_pin = \"{co}\"\n[device.partition.luna]\ndomain = \"{domain}\"\npolicies = {}\n",
            table(hsm),
            table(policies)
        ));
        slots.push(format!("{{ id = {id}, partition = \"{name}/p\" }}"));
    }
    if ped {
        text.push_str(
            "[[device]]\nname = \"ped\"\nkind = \"luna-network\"\nserial = \"700179016\"\n\
             [device.luna]\nfirmware = \"7.4.2\"\nauth = \"ped\"\n\
             [[device.partition]]\nname = \"p\"\nlabel = \"ped\"\n[device.partition.luna]\n\
             so_ped_key = \"ped/blue.key\"\nuser_ped_key = \"ped/black.key\"\n\
             domain_ped_key = \"ped/red.key\"\n",
        );
        slots.push(format!("{{ id = {}, partition = \"ped/p\" }}", slots.len()));
    }
    text.push_str(&format!(
        "[[host]]\nname = \"app\"\nslot = [{}]\n",
        slots.join(", ")
    ));
    text
}

/// The slot of the first HA group once the module restarts (after the 8 physical slots).
const HA: CK_SLOT_ID = 8;

fn p(name: &str) -> PartitionId {
    PartitionId::parse(&format!("{name}/p")).unwrap()
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

/// The old partition's objects: an AES key, an RSA pair and an EC pair, all token objects.
fn old_objects() {
    let s = user_session_on(0, CO.as_bytes());
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
    let lab = TextLab::new(&lab_text());
    let selection = lab.selection();
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
    assert_eq!(lab.stored_ouids("old/p"), lab.stored_ouids("net74/p"));
    // The copies work on the new partition (the CO logs in there and signs).
    let s = user_session_on(2, CO.as_bytes());
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
    lab.reload(&lab_text());
    assert_eq!(slot_ids(), [0, 1, 2, 3, 4, 5, 6, 7, HA]);
    assert_eq!(text(&token_info(HA).label), "tmpMig");
    assert_eq!(
        text(&token_info(HA).serialNumber),
        group_serial(&old_serial)
    );
    // An object made directly on one member makes the group need sync again.
    let s = user_session_on(2, CO.as_bytes());
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
    lab.reload(&lab_text());
    assert_eq!(slot_ids(), [0, 1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn ha_only_mode_hides_the_physical_slots() {
    let lab = TextLab::new(&lab_text());
    let selection = lab.selection();
    ha_groups::create_group(&selection, "g", &p("old"), CO, Some("4242".into())).unwrap();
    ha_groups::add_member(&selection, "g", &p("net74"), CO, false).unwrap();
    assert_eq!(
        ha_groups::set_ha_only(&selection, None, true).unwrap(),
        "app"
    );
    lab.reload(&lab_text());
    assert_eq!(slot_ids(), [HA]);
    assert_eq!(text(&token_info(HA).serialNumber), "4242");
    let mut info = std::mem::MaybeUninit::<CK_SLOT_INFO>::zeroed();
    // SAFETY: a valid out-pointer.
    let rv = unsafe { C_GetSlotInfo(0, info.as_mut_ptr()) };
    assert_eq!(rv, CKR_SLOT_ID_INVALID, "a hidden physical slot");
    // The HA slot still logs in through the members' (hidden) physical slots.
    let s = user_session_on(HA, CO.as_bytes());
    aes_key(s, |t| t.bool(CKA_TOKEN, true).bytes(CKA_LABEL, b"k"));
    assert_eq!(lab.stored_objects("old/p"), 1);
    assert_eq!(lab.stored_objects("net74/p"), 1);
    ha_groups::set_ha_only(&selection, None, false).unwrap();
    lab.reload(&lab_text());
    assert_eq!(slot_ids(), [0, 1, 2, 3, 4, 5, 6, 7, HA]);
    // `lab reset` brings back the lab's groups (none here) and leaves HA-only mode.
    estate::reset(&selection).unwrap();
    lab.reload(&lab_text());
    assert_eq!(slot_ids(), [0, 1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn each_prerequisite_is_refused_with_its_code() {
    let lab = TextLab::new(&lab_text());
    let selection = lab.selection();
    // A 7.7+ partition is never primary over an older secondary, but an older primary takes
    // a 7.7+ member.
    ha_groups::create_group(&selection, "newer", &p("new7"), CO, None).unwrap();
    ha_groups::create_group(&selection, "older", &p("old"), CO, None).unwrap();
    ha_groups::add_member(&selection, "older", &p("new7"), CO, false).unwrap();
    ha_groups::create_group(&selection, "mix", &p("net74"), CO, None).unwrap();
    // Each refusal: (group, member, credential, its code, what its reason names). A group
    // that does not exist yet is created from the member instead.
    let refusals = [
        (
            "newer",
            "old",
            CO,
            CKR_OPERATION_NOT_ALLOWED,
            "never primary",
        ),
        // No PCIe 7 and Network 7 mix.
        ("mix", "pcie74", CO, CKR_OPERATION_NOT_ALLOWED, "PCIe"),
        // HSM policy 16 off, on a member or the first one.
        ("mix", "nopol", CO, CKR_OPERATION_NOT_ALLOWED, "policy 16"),
        (
            "new-nopol",
            "nopol",
            CO,
            CKR_OPERATION_NOT_ALLOWED,
            "policy 16",
        ),
        (
            "mix",
            "otherdom",
            CO,
            CKR_CERTIFICATE_INVALID,
            "cloning domain",
        ),
        // Another Crypto Officer credential, or a wrong one.
        ("mix", "wrongco", CO, CKR_PIN_INCORRECT, "Crypto Officer"),
        (
            "new-bad",
            "old",
            "wrong-co-pin",
            CKR_PIN_INCORRECT,
            "Crypto Officer",
        ),
        // Another authentication method; a PED partition without activation (policy 22).
        (
            "mix",
            "ped",
            CO,
            CKR_OPERATION_NOT_ALLOWED,
            "authentication method",
        ),
        ("new-ped", "ped", CO, CKR_OPERATION_NOT_ALLOWED, "policy 22"),
        // A member twice, a label twice.
        ("mix", "net74", CO, CKR_ARGUMENTS_BAD, "already"),
    ];
    for (group, member, password, code, says) in refusals {
        let e = match group.strip_prefix("new-") {
            Some(label) => ha_groups::create_group(&selection, label, &p(member), password, None),
            None => ha_groups::add_member(&selection, group, &p(member), password, false),
        }
        .unwrap_err();
        assert_eq!(e.rv, code, "{member} into {group}: {}", e.detail);
        assert!(
            e.detail.contains(says),
            "{:?} does not say {says:?}",
            e.detail
        );
    }
    let e = ha_groups::create_group(&selection, "mix", &p("old"), CO, None).unwrap_err();
    assert_eq!(e.rv, CKR_ARGUMENTS_BAD);
    assert!(e.detail.contains("exists already"));
    // A member down.
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

#[test]
fn objects_that_do_not_clone_fail_per_object_by_the_sources_era() {
    // Sources without partition policy 4 (secret keys do not clone): a 6.x one, a V0 one.
    let lab = TextLab::new(&lab_with(
        "
        legacy network 6.21.2 - dom-d co-pin-0001 0=1,4=0
        v0     network 7.7.1  - dom-d co-pin-0001 0=1,4=0
        v0b    network 7.7.1  - dom-d co-pin-0001 -
        net74  network 7.4.2  - dom-d co-pin-0001 -",
        false,
    ));
    let selection = lab.selection();
    // On each source: an AES key first, then an RSA key pair.
    for slot in [0, 1] {
        let s = user_session_on(slot, CO.as_bytes());
        aes_key(s, |t| t.bool(CKA_TOKEN, true).bytes(CKA_LABEL, b"aes"));
        generate_key_pair(
            s,
            CKM_RSA_PKCS_KEY_PAIR_GEN,
            Template::new()
                .ulong(CKA_MODULUS_BITS, 2048)
                .bool(CKA_TOKEN, true),
            Template::new().bool(CKA_TOKEN, true).bool(CKA_SIGN, true),
        )
        .unwrap();
    }
    // Before 7.7 the synchronisation goes on after the AES key: the pair is cloned.
    ha_groups::create_group(&selection, "legacy", &p("legacy"), CO, None).unwrap();
    ha_groups::add_member(&selection, "legacy", &p("net74"), CO, false).unwrap();
    let e = ha_groups::synchronise(&selection, "legacy", CO).unwrap_err();
    assert_eq!(e.rv, CKR_FAILED_TO_CLONE_AN_OBJECT, "{}", e.detail);
    assert!(
        e.detail.contains("policy 4") || e.detail.contains("secret"),
        "{}",
        e.detail
    );
    assert_eq!(lab.stored_objects("net74/p"), 2);
    assert!(
        ha_groups::group_status(&selection, "legacy")
            .unwrap()
            .needs_sync
    );
    // A V0 source stops at the AES key: nothing is cloned.
    ha_groups::create_group(&selection, "v0", &p("v0"), CO, None).unwrap();
    ha_groups::add_member(&selection, "v0", &p("v0b"), CO, false).unwrap();
    let e = ha_groups::synchronise(&selection, "v0", CO).unwrap_err();
    assert_eq!(e.rv, CKR_FAILED_TO_CLONE_AN_OBJECT, "{}", e.detail);
    assert_eq!(lab.stored_objects("v0b/p"), 0);
    assert!(
        ha_groups::group_status(&selection, "v0")
            .unwrap()
            .needs_sync
    );
}

#[test]
fn removing_a_member_never_leaves_a_7_7_primary_over_an_older_secondary() {
    let lab = TextLab::new(&lab_text());
    let selection = lab.selection();
    // old (6.21.2) primary over new7 (7.7.1) and net74 (7.4.2): allowed.
    ha_groups::create_group(&selection, "mixed", &p("old"), CO, None).unwrap();
    ha_groups::add_member(&selection, "mixed", &p("new7"), CO, false).unwrap();
    ha_groups::add_member(&selection, "mixed", &p("net74"), CO, false).unwrap();
    // Removing old would make new7 primary over net74: refused, nothing changed.
    let e = ha_groups::remove_member(&selection, "mixed", &p("old")).unwrap_err();
    assert_eq!(e.rv, CKR_OPERATION_NOT_ALLOWED, "{}", e.detail);
    assert!(e.detail.contains("never primary"), "{}", e.detail);
    assert!(e.detail.contains("old/p"), "{}", e.detail);
    let members: Vec<String> = ha_groups::group_status(&selection, "mixed")
        .unwrap()
        .members
        .into_iter()
        .map(|m| m.partition)
        .collect();
    assert_eq!(members, ["old/p", "new7/p", "net74/p"]);
    // Without the older secondary the rule holds: net74 goes, then old may go.
    ha_groups::remove_member(&selection, "mixed", &p("net74")).unwrap();
    let left = ha_groups::remove_member(&selection, "mixed", &p("old")).unwrap();
    assert_eq!(left.members.len(), 1);
    assert_eq!(left.members[0].partition, "new7/p");
}

#[test]
fn synchronise_checks_every_members_capacity_before_copying() {
    // net74's partition is too small for the old partition's three objects.
    let text = lab_text().replacen(
        "label = \"net74\"\nso_pin = \"po-pin-0001\"\nuser_pin = \"co-pin-0001\"\n[device.partition.luna]\n",
        "label = \"net74\"\nso_pin = \"po-pin-0001\"\nuser_pin = \"co-pin-0001\"\n[device.partition.luna]\nsize = 1500\n",
        1,
    );
    assert_ne!(text, lab_text(), "the size went in");
    let lab = TextLab::new(&text);
    let selection = lab.selection();
    old_objects();
    ha_groups::create_group(&selection, "small", &p("old"), CO, None).unwrap();
    ha_groups::add_member(&selection, "small", &p("net74"), CO, false).unwrap();
    let before = (lab.stored_objects("old/p"), lab.stored_objects("net74/p"));
    let e = ha_groups::synchronise(&selection, "small", CO).unwrap_err();
    assert_eq!(e.rv, CKR_CONTAINER_OBJECT_STORAGE_FULL, "{}", e.detail);
    assert!(e.detail.contains("net74/p"), "{}", e.detail);
    assert_eq!(
        (lab.stored_objects("old/p"), lab.stored_objects("net74/p")),
        before
    );
    assert_eq!(before.1, 0);
    assert!(
        ha_groups::group_status(&selection, "small")
            .unwrap()
            .needs_sync
    );
}
