//! The Luna Backup HSM (`estate::archive_*`, LunaCM's `partition archive`) with the objects made
//! and checked through the C ABI: RSA, EC and AES keys backed up from a partition and restored
//! into another keep `CKA_OUID` and every attribute, get new handles and work across; a domain
//! mismatch fails per object from a pre-7.7 source and stops at the first from a V0 source,
//! leaving the empty backup partition behind; source policy 0 off fails the private keys; a
//! Backup HSM too small cancels before anything is created; a Backup HSM too old for a 7.7+
//! source, another authentication method and a V0/V1 backup into a pre-7.7 partition are
//! refused; a V1 backup needs its SMK on the target (`-smkonly`); every credential is checked;
//! append, replace, subsets by handle and OUID; the Backup HSM is attached to one host at a
//! time and moves between hosts (persisted; its slot has a token only there); three wrong HSM
//! SO passwords zeroise it, backups included.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::base::error::Error;
use hsmsim::base::ids::{DeviceId, PartitionId};
use hsmsim::estate::{self, BackupMode, BackupRequest, Choice, LabSelection, ObjectSelector};
use hsmsim::estate::{ArchiveRun, RestoreRequest};
use hsmsim::pkcs11::*;

const CKA_OUID: CK_ATTRIBUTE_TYPE = 0x8000_0005;
const CKR_CERTIFICATE_INVALID: CK_RV = 0x8000_000C;
const CKR_OPERATION_NOT_ALLOWED: CK_RV = 0x8000_0030;
const CKR_FAILED_TO_CLONE_AN_OBJECT: CK_RV = 0x8000_0106;
const CKR_CLONE_NOT_ATTEMPTED: CK_RV = 0x8000_0107;
const CO: &[u8] = b"co-pin-0001";
const BK_SO: &[u8] = b"bk-so-pin-01";
const BK_PW: &[u8] = b"backup-pw-01";

/// Host "old" (the first): slots 0 g6/src (6.21.2), 1 g6/nopriv (policy 0 off), 2 g6/other
/// (domain dom-2), 3 n77/v0 (7.7.1), 4 n77/v1 (V1), 5 n77/v0other (dom-2), 6 sa7/dst
/// (7.4.2), 7 n77/v0dst, 8 n77/v1dst (V1, its own SMK), 9 sa7/small (size 1000), 10 bk/hsm
/// (Backup HSM G5 6.28.0), 11 bkold/hsm (G5 6.10.0), 12 bk7/hsm (Backup HSM 7 7.4.0), 13
/// bksmall/hsm (memory 2000), 14 bkped/hsm (PED), 15 nc/p (HSM policy 7 off), 16 gped/src and 17 gped/dst (PED, 6.21.2; the
/// red key of bkped). Host "new": 1 sa7/dst, 2 bk/hsm. Every
/// partition and Backup HSM is in domain dom-1 unless said otherwise.
const LAB: &str = r#"
[lab]
name = "luna-backup"

[[device]]
name = "g6"
kind = "luna-usb"
firmware = "6.21.2"
  [[device.partition]]
  name = "src"
  label = "src"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"
  [[device.partition]]
  name = "nopriv"
  label = "nopriv"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"
  policies = { 0 = 0 }
  [[device.partition]]
  name = "other"
  label = "other"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-2"

[[device]]
name = "n77"
kind = "luna-network"
firmware = "7.7.1"
  [[device.partition]]
  name = "v0"
  label = "v0"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"
  [[device.partition]]
  name = "v1"
  label = "v1"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"
  policies = { 41 = 1 }
  [[device.partition]]
  name = "v0other"
  label = "v0other"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-2"
  [[device.partition]]
  name = "v0dst"
  label = "v0dst"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"
  [[device.partition]]
  name = "v1dst"
  label = "v1dst"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"
  policies = { 41 = 1 }

[[device]]
name = "sa7"
kind = "luna-network"
firmware = "7.4.2"
  [[device.partition]]
  name = "dst"
  label = "dst"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"
  [[device.partition]]
  name = "small"
  label = "small"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"
  size = 1000

[[device]]
name = "nc"
kind = "luna-network"
firmware = "7.4.2"
hsm_policies = { 7 = 0 }
  [[device.partition]]
  name = "p"
  label = "noclone"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"

[[device]]
name = "bk"
kind = "luna-backup"
  [device.luna]
  firmware = "6.28.0"
  attached_to = "old"
  [[device.partition]]
  name = "hsm"
  label = "bk"
  so_pin = "bk-so-pin-01"
  domain = "dom-1"

[[device]]
name = "bkold"
kind = "luna-backup"
firmware = "6.10.0"
  [[device.partition]]
  name = "hsm"
  label = "bkold"
  so_pin = "bk-so-pin-01"
  domain = "dom-1"

[[device]]
name = "bk7"
kind = "luna-backup"
firmware = "7.4.0"
  [[device.partition]]
  name = "hsm"
  label = "bk7"
  so_pin = "bk-so-pin-01"
  domain = "dom-1"

[[device]]
name = "bksmall"
kind = "luna-backup"
  [device.luna]
  firmware = "6.28.0"
  memory = 2000
  [[device.partition]]
  name = "hsm"
  label = "bksmall"
  so_pin = "bk-so-pin-01"
  domain = "dom-1"

[[device]]
name = "bkped"
kind = "luna-backup"
  [device.luna]
  firmware = "6.28.0"
  auth = "ped"
  [[device.partition]]
  name = "hsm"
  label = "bkped"
    [device.partition.luna]
    so_ped_key = "ped/bk-blue.key"
    domain_ped_key = "ped/red.key"

[[device]]
name = "gped"
kind = "luna-usb"
  [device.luna]
  firmware = "6.21.2"
  auth = "ped"
  [[device.partition]]
  name = "src"
  label = "pedsrc"
    [device.partition.luna]
    so_ped_key = "ped/src-blue.key"
    user_ped_key = "ped/src-black.key"
    domain_ped_key = "ped/red.key"
  [[device.partition]]
  name = "dst"
  label = "peddst"
    [device.partition.luna]
    so_ped_key = "ped/dst-blue.key"
    user_ped_key = "ped/dst-black.key"
    domain_ped_key = "ped/red.key"

[[host]]
name = "old"
slot = [
  { id = 0, partition = "g6/src" },
  { id = 1, partition = "g6/nopriv" },
  { id = 2, partition = "g6/other" },
  { id = 3, partition = "n77/v0" },
  { id = 4, partition = "n77/v1" },
  { id = 5, partition = "n77/v0other" },
  { id = 6, partition = "sa7/dst" },
  { id = 7, partition = "n77/v0dst" },
  { id = 8, partition = "n77/v1dst" },
  { id = 9, partition = "sa7/small" },
  { id = 10, partition = "bk/hsm" },
  { id = 11, partition = "bkold/hsm" },
  { id = 12, partition = "bk7/hsm" },
  { id = 13, partition = "bksmall/hsm" },
  { id = 14, partition = "bkped/hsm" },
  { id = 15, partition = "nc/p" },
  { id = 16, partition = "gped/src" },
  { id = 17, partition = "gped/dst" },
]

[[host]]
name = "new"
slot = [
  { id = 1, partition = "sa7/dst" },
  { id = 2, partition = "bk/hsm" },
]
"#;

fn selection(host: Option<&str>) -> LabSelection {
    estate::select(&Choice {
        host: host.map(str::to_string),
        ..Choice::default()
    })
    .unwrap()
}

fn pid(text: &str) -> PartitionId {
    PartitionId::parse(text).unwrap()
}

fn rv(e: Error) -> CK_RV {
    e.rv
}

fn co_session(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    let s = open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(login(s, CKU_USER, CO), CKR_OK, "CO login on slot {slot}");
    s
}

/// An AES key, an RSA and an EC key pair on the session's partition, labelled with `tag`:
/// the five handles (AES, RSA public, RSA private, EC public, EC private).
fn mixed_keys(s: CK_SESSION_HANDLE, tag: &str) -> Vec<CK_OBJECT_HANDLE> {
    let label = |what: &str| format!("{tag}-{what}").into_bytes();
    let aes = aes_key(s, |t| {
        t.bool(CKA_TOKEN, true)
            .bool(CKA_ENCRYPT, true)
            .bool(CKA_DECRYPT, true)
            .bool(CKA_SENSITIVE, true)
            .bool(CKA_EXTRACTABLE, false)
            .bytes(CKA_LABEL, &label("aes"))
    });
    let pair = |m, public: Template, what: &str| {
        generate_key_pair(
            s,
            m,
            public
                .bool(CKA_TOKEN, true)
                .bool(CKA_VERIFY, true)
                .bytes(CKA_LABEL, &label(what)),
            Template::new()
                .bool(CKA_TOKEN, true)
                .bool(CKA_SIGN, true)
                .bool(CKA_PRIVATE, true)
                .bool(CKA_SENSITIVE, true)
                .bool(CKA_EXTRACTABLE, false)
                .bytes(CKA_LABEL, &label(what)),
        )
        .expect("key pair generation")
    };
    let rsa = pair(
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        Template::new().ulong(CKA_MODULUS_BITS, 2048),
        "rsa",
    );
    let ec = pair(
        CKM_EC_KEY_PAIR_GEN,
        Template::new().bytes(CKA_EC_PARAMS, P256),
        "ec",
    );
    vec![aes, rsa.0, rsa.1, ec.0, ec.1]
}

fn backup<'a>(source: &'a PartitionId, device: &'a DeviceId, name: &'a str) -> BackupRequest<'a> {
    BackupRequest {
        source,
        co_pin: CO,
        backup_hsm: device,
        so_password: BK_SO,
        partition: name,
        password: BK_PW,
        domain: None,
        mode: BackupMode::New,
    }
}

fn restore<'a>(device: &'a DeviceId, name: &'a str, target: &'a PartitionId) -> RestoreRequest<'a> {
    RestoreRequest {
        backup_hsm: device,
        partition: name,
        password: BK_PW,
        target,
        co_pin: CO,
        objects: None,
        smk_only: false,
    }
}

fn codes(run: &ArchiveRun) -> Vec<CK_RV> {
    run.objects
        .iter()
        .map(|o| o.result.as_ref().map_or_else(|e| e.rv, |()| CKR_OK))
        .collect()
}

fn listed(device: &DeviceId) -> Vec<(String, u64)> {
    estate::archive_list(&selection(None), device)
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.objects))
        .collect()
}

/// `C_GetSlotList(CK_TRUE)`: the slots with a token.
fn present_slots() -> Vec<CK_SLOT_ID> {
    let mut slots = [0 as CK_SLOT_ID; 32];
    let mut count = slots.len() as CK_ULONG;
    assert_eq!(
        // SAFETY: the buffer holds `count` slot ids.
        unsafe { C_GetSlotList(CK_TRUE, slots.as_mut_ptr(), &mut count) },
        CKR_OK
    );
    slots[..count as usize].to_vec()
}

fn labelled(s: CK_SESSION_HANDLE, label: &str) -> Vec<CK_OBJECT_HANDLE> {
    find(s, Template::new().bytes(CKA_LABEL, label.as_bytes()))
}

#[test]
fn backup_and_restore_keep_ouid_and_attributes_and_the_keys_work_across() {
    let _lab = TextLab::new(LAB);
    let src = co_session(0);
    let originals = mixed_keys(src, "k");
    let bk = DeviceId::new("bk");
    let run =
        estate::archive_backup(&selection(None), &backup(&pid("g6/src"), &bk, "g6-bak")).unwrap();
    assert!(run.created);
    assert_eq!(codes(&run), vec![CKR_OK; 5]);
    assert_eq!(listed(&bk), vec![("g6-bak".to_string(), 5)]);
    let contents = estate::archive_contents(&selection(None), &bk, "g6-bak", BK_PW).unwrap();
    assert_eq!(
        contents.iter().map(|o| o.handle).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert!(
        contents
            .iter()
            .any(|o| o.label == "k-rsa" && o.class == CKO_PRIVATE_KEY)
    );

    let run = estate::archive_restore(&selection(None), &restore(&bk, "g6-bak", &pid("sa7/dst")))
        .unwrap();
    assert_eq!(codes(&run), vec![CKR_OK; 5]);
    run.outcome().unwrap();
    let dst = co_session(6);
    for (original, what) in originals.iter().zip(["aes", "rsa", "rsa", "ec", "ec"]) {
        let class = get_attr(src, *original, CKA_CLASS);
        let restored: Vec<_> = labelled(dst, &format!("k-{what}"))
            .into_iter()
            .filter(|h| get_attr(dst, *h, CKA_CLASS) == class)
            .collect();
        assert_eq!(restored.len(), 1, "{what}");
        assert_ne!(restored[0], *original, "{what}: a new handle");
        for attr in [
            CKA_OUID,
            CKA_LABEL,
            CKA_KEY_TYPE,
            CKA_SENSITIVE,
            CKA_PRIVATE,
            CKA_SIGN,
        ] {
            assert_eq!(
                get_attr(dst, restored[0], attr),
                get_attr(src, *original, attr),
                "{what}: attribute 0x{attr:X} kept"
            );
        }
    }
    // The restored private keys sign what the source's public keys verify.
    for (what, m, public) in [
        ("k-rsa", CKM_SHA256_RSA_PKCS, originals[1]),
        ("k-ec", CKM_ECDSA_SHA256, originals[3]),
    ] {
        let private = find(
            dst,
            Template::new()
                .bytes(CKA_LABEL, what.as_bytes())
                .ulong(CKA_CLASS, CKO_PRIVATE_KEY),
        )[0];
        assert_eq!(init(C_SignInit, dst, &mut mech(m), private), CKR_OK);
        let signature = produce(C_Sign, dst, b"migrated").unwrap();
        assert_eq!(init(C_VerifyInit, src, &mut mech(m), public), CKR_OK);
        assert_eq!(verify(src, b"migrated", &signature), CKR_OK, "{what}");
    }
    // Restore adds: a second restore keeps the first's objects.
    estate::archive_restore(&selection(None), &restore(&bk, "g6-bak", &pid("sa7/dst"))).unwrap();
    assert_eq!(labelled(dst, "k-aes").len(), 2);
}

#[test]
fn a_domain_mismatch_fails_per_object_before_7_7_and_stops_at_the_first_from_v0() {
    let _lab = TextLab::new(LAB);
    mixed_keys(co_session(2), "x");
    mixed_keys(co_session(5), "y");
    let bk = DeviceId::new("bk");
    let run =
        estate::archive_backup(&selection(None), &backup(&pid("g6/other"), &bk, "legacy")).unwrap();
    assert_eq!(codes(&run), vec![CKR_CERTIFICATE_INVALID; 5]);
    assert_eq!(
        rv(run.outcome().unwrap_err()),
        CKR_FAILED_TO_CLONE_AN_OBJECT
    );
    let run =
        estate::archive_backup(&selection(None), &backup(&pid("n77/v0other"), &bk, "v0")).unwrap();
    assert_eq!(
        codes(&run),
        [
            vec![CKR_CERTIFICATE_INVALID],
            vec![CKR_CLONE_NOT_ATTEMPTED; 4]
        ]
        .concat()
    );
    // Both failed backups leave their (empty) backup partitions behind, to delete by hand.
    assert_eq!(
        listed(&bk),
        vec![("legacy".to_string(), 0), ("v0".to_string(), 0)]
    );
    assert_eq!(
        rv(estate::archive_delete(&selection(None), &bk, b"wrong-so-pin", "v0").unwrap_err()),
        CKR_PIN_INCORRECT
    );
    estate::archive_delete(&selection(None), &bk, BK_SO, "v0").unwrap();
    estate::archive_delete(&selection(None), &bk, BK_SO, "legacy").unwrap();
    assert!(listed(&bk).is_empty());
    // The backup names the source's domain for the new partition: it matches now.
    let other = pid("g6/other");
    let mut request = backup(&other, &bk, "dom2");
    request.domain = Some(b"dom-2");
    let run = estate::archive_backup(&selection(None), &request).unwrap();
    assert_eq!(codes(&run), vec![CKR_OK; 5]);
}

#[test]
fn source_policy_0_off_fails_the_private_keys_only() {
    let _lab = TextLab::new(LAB);
    mixed_keys(co_session(1), "p");
    let bk = DeviceId::new("bk");
    let run =
        estate::archive_backup(&selection(None), &backup(&pid("g6/nopriv"), &bk, "np")).unwrap();
    assert_eq!(
        codes(&run),
        vec![
            CKR_OK,
            CKR_OK,
            CKR_OPERATION_NOT_ALLOWED,
            CKR_OK,
            CKR_OPERATION_NOT_ALLOWED
        ]
    );
    assert_eq!(listed(&bk), vec![("np".to_string(), 3)]);
}

#[test]
fn a_backup_hsm_too_small_cancels_before_anything_is_created() {
    let _lab = TextLab::new(LAB);
    let s = co_session(0);
    mixed_keys(s, "s");
    let small = DeviceId::new("bksmall");
    let e = estate::archive_backup(&selection(None), &backup(&pid("g6/src"), &small, "big"))
        .unwrap_err();
    assert_eq!(e.rv, CKR_DEVICE_MEMORY, "{e}");
    assert!(listed(&small).is_empty(), "nothing created");
    // A partition whose objects fit is backed up there.
    for h in labelled(s, "s-rsa").into_iter().chain(labelled(s, "s-ec")) {
        // SAFETY: plain handles.
        assert_eq!(unsafe { C_DestroyObject(s, h) }, CKR_OK);
    }
    let run =
        estate::archive_backup(&selection(None), &backup(&pid("g6/src"), &small, "fits")).unwrap();
    assert_eq!(codes(&run), vec![CKR_OK]);
}

#[test]
fn backup_hsm_firmware_minimums_hold_for_7_7_sources_only() {
    let _lab = TextLab::new(LAB);
    mixed_keys(co_session(3), "v");
    mixed_keys(co_session(0), "l");
    for (device, refused) in [("bkold", true), ("bk7", true), ("bk", false)] {
        let device = DeviceId::new(device);
        let result =
            estate::archive_backup(&selection(None), &backup(&pid("n77/v0"), &device, "v0"));
        if refused {
            let e = result.unwrap_err();
            assert_eq!(e.rv, CKR_OPERATION_NOT_ALLOWED, "{device}: {e}");
            assert!(listed(&device).is_empty());
        } else {
            assert_eq!(codes(&result.unwrap()), vec![CKR_OK; 5]);
        }
    }
    // An older Backup HSM still takes a pre-7.7 source.
    let old = DeviceId::new("bkold");
    let run =
        estate::archive_backup(&selection(None), &backup(&pid("g6/src"), &old, "legacy")).unwrap();
    assert_eq!(codes(&run), vec![CKR_OK; 5]);
}

#[test]
fn hsm_policy_7_off_on_the_source_or_target_device_is_refused() {
    let _lab = TextLab::new(LAB);
    mixed_keys(co_session(15), "n");
    mixed_keys(co_session(0), "o");
    let bk = DeviceId::new("bk");
    let e = estate::archive_backup(&selection(None), &backup(&pid("nc/p"), &bk, "nc")).unwrap_err();
    assert_eq!(e.rv, CKR_OPERATION_NOT_ALLOWED, "{e}");
    assert!(listed(&bk).is_empty());
    estate::archive_backup(&selection(None), &backup(&pid("g6/src"), &bk, "ok")).unwrap();
    let e =
        estate::archive_restore(&selection(None), &restore(&bk, "ok", &pid("nc/p"))).unwrap_err();
    assert_eq!(e.rv, CKR_OPERATION_NOT_ALLOWED, "{e}");
}

#[test]
fn a_restore_into_another_domain_fails_per_object() {
    let _lab = TextLab::new(LAB);
    mixed_keys(co_session(0), "d");
    let bk = DeviceId::new("bk");
    estate::archive_backup(&selection(None), &backup(&pid("g6/src"), &bk, "d")).unwrap();
    // g6/other is in dom-2: each object of the pre-7.7 backup fails on its own.
    let run =
        estate::archive_restore(&selection(None), &restore(&bk, "d", &pid("g6/other"))).unwrap();
    assert_eq!(codes(&run), vec![CKR_CERTIFICATE_INVALID; 5]);
    assert!(
        labelled(co_session(2), "d-aes").is_empty(),
        "nothing written"
    );
}

#[test]
fn another_authentication_method_is_refused() {
    let _lab = TextLab::new(LAB);
    mixed_keys(co_session(0), "a");
    let ped = DeviceId::new("bkped");
    let e =
        estate::archive_backup(&selection(None), &backup(&pid("g6/src"), &ped, "pw")).unwrap_err();
    assert_eq!(e.rv, CKR_OPERATION_NOT_ALLOWED, "{e}");
    assert!(listed(&ped).is_empty());
}

#[test]
fn a_v0_backup_never_restores_into_a_pre_7_7_partition() {
    let _lab = TextLab::new(LAB);
    mixed_keys(co_session(3), "v");
    let bk = DeviceId::new("bk");
    estate::archive_backup(&selection(None), &backup(&pid("n77/v0"), &bk, "v0")).unwrap();
    let e = estate::archive_restore(&selection(None), &restore(&bk, "v0", &pid("sa7/dst")))
        .unwrap_err();
    assert_eq!(e.rv, CKR_OPERATION_NOT_ALLOWED, "{e}");
    assert!(
        labelled(co_session(6), "v-aes").is_empty(),
        "nothing written"
    );
    let run =
        estate::archive_restore(&selection(None), &restore(&bk, "v0", &pid("n77/v0dst"))).unwrap();
    assert_eq!(codes(&run), vec![CKR_OK; 5]);
    assert_eq!(labelled(co_session(7), "v-aes").len(), 1);
}

#[test]
fn a_v1_backup_stays_under_its_smk_and_restores_once_the_smk_is_restored() {
    let _lab = TextLab::new(LAB);
    let src = co_session(4);
    let originals = mixed_keys(src, "w");
    let bk = DeviceId::new("bk");
    estate::archive_backup(&selection(None), &backup(&pid("n77/v1"), &bk, "v1")).unwrap();
    // The target has its own SMK: refused, nothing written.
    let e = estate::archive_restore(&selection(None), &restore(&bk, "v1", &pid("n77/v1dst")))
        .unwrap_err();
    assert_eq!(e.rv, CKR_OPERATION_NOT_ALLOWED, "{e}");
    // -smkonly is for V1 targets only.
    let v0dst = pid("n77/v0dst");
    let mut smk = restore(&bk, "v1", &v0dst);
    smk.smk_only = true;
    assert_eq!(
        rv(estate::archive_restore(&selection(None), &smk).unwrap_err()),
        CKR_OPERATION_NOT_ALLOWED
    );
    let target = pid("n77/v1dst");
    smk.target = &target;
    assert!(
        estate::archive_restore(&selection(None), &smk)
            .unwrap()
            .objects
            .is_empty()
    );
    let dst = co_session(8);
    assert!(
        labelled(dst, "w-aes").is_empty(),
        "-smkonly restores no object"
    );
    let run = estate::archive_restore(&selection(None), &restore(&bk, "v1", &target)).unwrap();
    assert_eq!(codes(&run), vec![CKR_OK; 5]);
    let aes = labelled(dst, "w-aes");
    assert_eq!(aes.len(), 1);
    assert_eq!(
        get_attr(dst, aes[0], CKA_OUID),
        get_attr(src, originals[0], CKA_OUID)
    );
    // The key is the same key: what one encrypts the other decrypts.
    let mut iv = [7u8; 16];
    let mut m = mech_with(CKM_AES_CBC_PAD, &mut iv);
    assert_eq!(init(C_EncryptInit, src, &mut m, originals[0]), CKR_OK);
    let sealed = produce(C_Encrypt, src, b"v1 restored").unwrap();
    let mut m = mech_with(CKM_AES_CBC_PAD, &mut iv);
    assert_eq!(init(C_DecryptInit, dst, &mut m, aes[0]), CKR_OK);
    assert_eq!(produce(C_Decrypt, dst, &sealed).unwrap(), b"v1 restored");
}

#[test]
fn every_credential_is_checked() {
    let _lab = TextLab::new(LAB);
    mixed_keys(co_session(0), "c");
    let bk = DeviceId::new("bk");
    let source = pid("g6/src");
    let mut request = backup(&source, &bk, "cred");
    request.co_pin = b"wrong-co-pin";
    assert_eq!(
        rv(estate::archive_backup(&selection(None), &request).unwrap_err()),
        CKR_PIN_INCORRECT
    );
    request.co_pin = CO;
    request.so_password = b"wrong-so-pin";
    assert_eq!(
        rv(estate::archive_backup(&selection(None), &request).unwrap_err()),
        CKR_PIN_INCORRECT
    );
    request.so_password = BK_SO;
    request.password = b"short";
    assert_eq!(
        rv(estate::archive_backup(&selection(None), &request).unwrap_err()),
        CKR_PIN_LEN_RANGE
    );
    assert!(listed(&bk).is_empty());
    request.password = BK_PW;
    estate::archive_backup(&selection(None), &request).unwrap();
    let target = pid("sa7/dst");
    let mut wrong = restore(&bk, "cred", &target);
    wrong.password = b"wrong-backup-pw";
    assert_eq!(
        rv(estate::archive_restore(&selection(None), &wrong).unwrap_err()),
        CKR_PIN_INCORRECT
    );
    assert_eq!(
        rv(
            estate::archive_contents(&selection(None), &bk, "cred", b"wrong-backup-pw")
                .unwrap_err()
        ),
        CKR_PIN_INCORRECT
    );
    let mut wrong = restore(&bk, "cred", &target);
    wrong.co_pin = b"wrong-co-pin";
    assert_eq!(
        rv(estate::archive_restore(&selection(None), &wrong).unwrap_err()),
        CKR_PIN_INCORRECT
    );
    assert_eq!(
        rv(estate::archive_restore(&selection(None), &restore(&bk, "none", &target)).unwrap_err()),
        0x8000_0005, // CKR_CONTAINER_HANDLE_INVALID
    );
}

#[test]
fn append_adds_and_replace_starts_over_and_restore_takes_a_subset() {
    let _lab = TextLab::new(LAB);
    let src = co_session(0);
    let first = mixed_keys(src, "a");
    let bk = DeviceId::new("bk");
    let source = pid("g6/src");
    estate::archive_backup(&selection(None), &backup(&source, &bk, "set")).unwrap();
    let e = estate::archive_backup(&selection(None), &backup(&source, &bk, "set")).unwrap_err();
    assert_eq!(
        e.rv, CKR_ARGUMENTS_BAD,
        "an existing partition needs a mode: {e}"
    );
    mixed_keys(src, "b");
    let mut request = backup(&source, &bk, "set");
    request.mode = BackupMode::Append;
    estate::archive_backup(&selection(None), &request).unwrap();
    // The five objects already there are replaced, not duplicated.
    assert_eq!(listed(&bk), vec![("set".to_string(), 10)]);
    for h in &first {
        // SAFETY: plain handles.
        assert_eq!(unsafe { C_DestroyObject(src, *h) }, CKR_OK);
    }
    request.mode = BackupMode::Replace;
    estate::archive_backup(&selection(None), &request).unwrap();
    assert_eq!(listed(&bk), vec![("set".to_string(), 5)]);
    // A 7.7+ (V0) partition does not append to this pre-7.7 backup; it replaces it.
    mixed_keys(co_session(3), "v");
    let v0 = pid("n77/v0");
    let mut other = backup(&v0, &bk, "set");
    other.mode = BackupMode::Append;
    assert_eq!(
        rv(estate::archive_backup(&selection(None), &other).unwrap_err()),
        CKR_OPERATION_NOT_ALLOWED
    );
    other.mode = BackupMode::Replace;
    estate::archive_backup(&selection(None), &other).unwrap();
    let listed_v0 = estate::archive_list(&selection(None), &bk).unwrap();
    assert_eq!(
        listed_v0[0].origin.version,
        hsmsim::models::luna::SourceVersion::V0
    );
    request.mode = BackupMode::Replace;
    estate::archive_backup(&selection(None), &request).unwrap();

    let contents = estate::archive_contents(&selection(None), &bk, "set", BK_PW).unwrap();
    let aes = contents.iter().find(|o| o.label == "b-aes").unwrap();
    let ec = contents
        .iter()
        .find(|o| o.label == "b-ec" && o.class == CKO_PRIVATE_KEY)
        .unwrap();
    let target = pid("sa7/dst");
    let subset = [
        ObjectSelector::Handle(aes.handle),
        ObjectSelector::Ouid(ec.ouid.clone()),
    ];
    let mut request = restore(&bk, "set", &target);
    request.objects = Some(&subset);
    let run = estate::archive_restore(&selection(None), &request).unwrap();
    assert_eq!(codes(&run), vec![CKR_OK; 2]);
    let dst = co_session(6);
    assert_eq!(labelled(dst, "b-aes").len(), 1);
    assert_eq!(labelled(dst, "b-ec").len(), 1);
    assert!(labelled(dst, "b-rsa").is_empty());
    let missing = [ObjectSelector::Handle(999)];
    request.objects = Some(&missing);
    assert_eq!(
        rv(estate::archive_restore(&selection(None), &request).unwrap_err()),
        CKR_OBJECT_HANDLE_INVALID
    );
}

#[test]
fn a_restore_that_does_not_fit_the_target_writes_nothing() {
    let _lab = TextLab::new(LAB);
    mixed_keys(co_session(0), "f");
    let bk = DeviceId::new("bk");
    estate::archive_backup(&selection(None), &backup(&pid("g6/src"), &bk, "f")).unwrap();
    let e = estate::archive_restore(&selection(None), &restore(&bk, "f", &pid("sa7/small")))
        .unwrap_err();
    assert_eq!(e.rv, 0x8000_002C, "CKR_CONTAINER_OBJECT_STORAGE_FULL: {e}");
    assert!(labelled(co_session(9), "f-aes").is_empty());
}

#[test]
fn the_backup_hsm_is_attached_to_one_host_at_a_time_and_moves() {
    let lab = TextLab::new(LAB);
    mixed_keys(co_session(0), "m");
    let bk = DeviceId::new("bk");
    // Its slot on the host it is attached to, as a client sees it (the model cut to the
    // 16 bytes of CK_TOKEN_INFO.model).
    let info = token_info(10);
    assert_eq!(&info.model, b"Luna Backup HSM ");
    assert!(present_slots().contains(&10));
    estate::archive_backup(&selection(None), &backup(&pid("g6/src"), &bk, "mv")).unwrap();
    let new = selection(Some("new"));
    let e = estate::archive_restore(&new, &restore(&bk, "mv", &pid("sa7/dst"))).unwrap_err();
    assert_eq!(e.rv, CKR_TOKEN_NOT_PRESENT, "{e}");
    assert_eq!(
        rv(estate::attach_backup_hsm(&new, &DeviceId::new("bkold"), "new").unwrap_err()),
        CKR_SLOT_ID_INVALID,
        "new shows no slot of bkold"
    );
    estate::attach_backup_hsm(&new, &bk, "new").unwrap();
    assert_eq!(
        estate::backup_hsm_host(&selection(None), &bk)
            .unwrap()
            .as_deref(),
        Some("new")
    );
    // Moved: this process (host "old") sees its slot without a token; the old host no longer
    // reaches it; the new one restores.
    assert!(!present_slots().contains(&10));
    let mut info = std::mem::MaybeUninit::<CK_TOKEN_INFO>::zeroed();
    assert_eq!(
        // SAFETY: a valid out-pointer.
        unsafe { C_GetTokenInfo(10, info.as_mut_ptr()) },
        CKR_TOKEN_NOT_PRESENT
    );
    let e = estate::archive_backup(&selection(None), &backup(&pid("g6/src"), &bk, "again"))
        .unwrap_err();
    assert_eq!(e.rv, CKR_TOKEN_NOT_PRESENT, "{e}");
    let run = estate::archive_restore(&new, &restore(&bk, "mv", &pid("sa7/dst"))).unwrap();
    assert_eq!(codes(&run), vec![CKR_OK; 5]);
    // Persisted across a restart of the module; the lab file is unchanged.
    lab.reload(LAB);
    assert_eq!(
        estate::backup_hsm_host(&selection(None), &bk)
            .unwrap()
            .as_deref(),
        Some("new")
    );
    assert_eq!(labelled(co_session(6), "m-aes").len(), 1);
    assert!(
        !present_slots().contains(&10),
        "still on host new after a restart"
    );
}

#[test]
fn three_wrong_hsm_so_passwords_zeroise_the_backup_hsm_and_its_backups() {
    let _lab = TextLab::new(LAB);
    mixed_keys(co_session(0), "z");
    let bk = DeviceId::new("bk");
    estate::archive_backup(&selection(None), &backup(&pid("g6/src"), &bk, "z")).unwrap();
    for expected in [CKR_PIN_INCORRECT, CKR_PIN_INCORRECT, CKR_PIN_LOCKED] {
        let e = estate::archive_delete(&selection(None), &bk, b"wrong-so-pin", "z").unwrap_err();
        assert_eq!(e.rv, expected, "{e}");
    }
    assert!(
        listed(&bk).is_empty(),
        "the zeroised Backup HSM holds no backup"
    );
    assert_eq!(
        token_info(10).flags & CKF_TOKEN_INITIALIZED,
        0,
        "its slot is blank"
    );
}

#[test]
fn ped_partitions_back_up_to_a_ped_backup_hsm_with_the_keys_the_lab_gives() {
    let _lab = TextLab::new(LAB);
    let s = open_session(16, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(login(s, CKU_USER, b""), CKR_OK, "the black key");
    mixed_keys(s, "ped");
    let (source, target) = (pid("gped/src"), pid("gped/dst"));
    let ped = DeviceId::new("bkped");
    let mut request = backup(&source, &ped, "ped");
    // The PED presents the lab's black key (source) and blue key (Backup HSM).
    request.co_pin = b"";
    request.so_password = b"";
    let run = estate::archive_backup(&selection(None), &request).unwrap();
    assert_eq!(codes(&run), vec![CKR_OK; 5]);
    let mut request = restore(&ped, "ped", &target);
    request.co_pin = b"";
    let run = estate::archive_restore(&selection(None), &request).unwrap();
    assert_eq!(codes(&run), vec![CKR_OK; 5]);
    let d = open_session(17, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(login(d, CKU_USER, b""), CKR_OK);
    assert_eq!(labelled(d, "ped-aes").len(), 1);
    // A password partition never goes to the PED Backup HSM (the auth test above), nor a PED
    // one to a password Backup HSM.
    let bk = DeviceId::new("bk");
    let mut request = backup(&source, &bk, "mixed");
    request.co_pin = b"";
    assert_eq!(
        rv(estate::archive_backup(&selection(None), &request).unwrap_err()),
        CKR_OPERATION_NOT_ALLOWED
    );
}
