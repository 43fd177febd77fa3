//! Tests of the migration to CloudHSM (seed 000): the Decanus state and its refusals, the
//! Partition-Backup card, the backup file and the restore, with every refusal leaving both
//! sides unchanged, and a full round trip proven by use through the engine.
use super::*;
use crate::base::attribute::Attributes;
use crate::estate::{Choice, LAB_FILE, init_from_fixture, select};
use crate::models::primus::{CARD_ATTEMPTS, CardKind, Licence};

const D: &str = "primus-onprem";
const P: &str = "primus-onprem/ACME-PKI";
const USER_PIN: &str = "Pkcs11-AcmePki-01";
const YELLOW_PIN: &str = "34567890";

/// The `primus` lab, with a blank partition "spare" added to primus-onprem and a CloudHSM
/// device "old-cloud" of firmware 2.8 with a blank partition.
fn selection(dir: &Path) -> LabSelection {
    init_from_fixture("primus", dir, false).unwrap();
    let file = dir.join(LAB_FILE);
    let text = std::fs::read_to_string(&file).unwrap().replacen(
        "  [[device.partition]]\n  name = \"ACME-ADCS\"",
        "  [[device.partition]]\n  name = \"spare\"\n\n  [[device.partition]]\n  name = \"ACME-ADCS\"",
        1,
    ) + "\n[[device]]\nname = \"old-cloud\"\nkind = \"primus-cloudhsm\"\n  [device.primus]\n  firmware = \"2.8\"\n  [[device.partition]]\n  name = \"blank\"\n";
    std::fs::write(&file, text).unwrap();
    select(&Choice {
        lab_file: Some(file),
        host: None,
        state_dir: None,
    })
    .unwrap()
}

fn so() -> Vec<(String, String)> {
    vec![
        ("so-1".into(), "12345678".into()),
        ("so-2".into(), "23456789".into()),
    ]
}

/// The two SO cards `so()` presents.
fn with_so_cards(sel: &LabSelection) {
    for (name, pin) in so() {
        create_card(sel, D, CardKind::So, &name, &pin, None).unwrap();
    }
}

/// SO cards and an empty Yellow card made ACME-PKI's P-Backup card.
fn with_cards(sel: &LabSelection) {
    with_so_cards(sel);
    create_empty_card(sel, D, CardKind::PartitionBackup, "yellow").unwrap();
    create_partition_backup_card(sel, P, &so(), "yellow", None, YELLOW_PIN, YELLOW_PIN).unwrap();
}

fn backup(sel: &LabSelection, usb: &Path) -> BackupCreated {
    create_partition_backup(
        sel,
        &BackupRequest {
            partition: P,
            partition_password: USER_PIN,
            usb,
        },
    )
    .unwrap()
}

fn restore_request<'a>(
    target: &'a str,
    file: &'a Path,
    card: &'a str,
    card_pin: &'a str,
    password: &'a str,
) -> RestoreRequest<'a> {
    RestoreRequest {
        target,
        file,
        card_device: D,
        card,
        card_pin,
        password,
    }
}

/// What a restore may not change: every token record and object of the store, every card
/// but its counter.
fn snapshot(sel: &LabSelection) -> String {
    let store = open_store(sel).unwrap();
    let mut out = String::new();
    for (id, row) in store.tokens().unwrap() {
        out += &format!("{id} {:?} {:?}\n", row.record.label, row.record.initialized);
        for o in store.objects(&id).unwrap() {
            out += &format!("  {:?}\n", o.public);
        }
    }
    out
}

#[test]
fn the_decanus_state_persists_and_each_step_refuses_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let sel = selection(dir.path());
    with_so_cards(&sel);
    create_empty_card(&sel, D, CardKind::PartitionSo, "pso").unwrap();
    create_empty_card(&sel, D, CardKind::PartitionSo, "pso-2").unwrap();
    assert_eq!(
        create_empty_card(&sel, D, CardKind::So, "so-3")
            .unwrap_err()
            .rv,
        CKR_ARGUMENTS_BAD
    );
    assert!(load_card(&sel, D, "pso").unwrap().is_empty());

    // The lab's start state; no Decanus on primus-dr.
    let state = decanus_state(&sel, D).unwrap().unwrap();
    assert_eq!(state.version, (2, 1, 3));
    assert!(decanus_state(&sel, "primus-dr").unwrap().is_none());
    assert_eq!(
        pair_device_administration(&sel, "primus-dr", &so())
            .unwrap_err()
            .rv,
        CKR_FUNCTION_FAILED
    );
    assert!(
        pair_device_administration(&sel, D, &so())
            .unwrap()
            .device_administration
    );
    let licences = licence_items(&sel, "primus-dr").unwrap();
    assert_eq!(licences.len(), 3);
    assert!(
        licences
            .iter()
            .any(|(l, on)| *l == Licence::DeviceBackup && *on)
    );
    assert!(check_remote_terminal(&sel, D).is_ok());
    assert_eq!(
        check_remote_terminal(&sel, "primus-dr").unwrap_err().rv,
        CKR_FUNCTION_FAILED
    );

    // Management access off: persisted, seen by the preconditions; no password issued.
    let spare = "primus-onprem/spare";
    let admin = partition_administration(&sel, spare).unwrap();
    assert!(!admin.management && !admin.partition_administration);
    let off = set_management_access(&sel, P, &so(), false).unwrap();
    assert!(!off.management);
    let unmet = partition_backup_preconditions(&sel, P).unwrap();
    assert_eq!(
        unmet.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        ["management-access"]
    );
    // `lab show` reports the stored state, not the lab file's.
    let shown = crate::estate::report(&sel).unwrap();
    let device = shown.devices.iter().find(|d| d.name == D).unwrap();
    let row = device.primus.as_ref().unwrap().partitions.iter();
    let row = row.clone().find(|r| r.partition == P).unwrap();
    assert!(!row.management && row.partition_administration);
    assert_eq!(row.unmet.len(), 1, "{:?}", row.unmet);
    let e = issue_management_password(&sel, spare, &so()).unwrap_err();
    assert_eq!(e.rv, CKR_FUNCTION_FAILED);
    assert!(e.detail.contains("Management access"), "{e}");
    set_management_access(&sel, P, &so(), true).unwrap();
    assert!(partition_backup_preconditions(&sel, P).unwrap().is_empty());

    // Onboarding spare: management on, a password, an empty PSO card, equal PINs.
    set_management_access(&sel, spare, &so(), true).unwrap();
    let onboarding = |card: &'static str, password: &'static str, pin2: &'static str| Onboarding {
        device: D,
        url: "10.0.0.5",
        port: JCE_PORT,
        user: "spare",
        management_password: password,
        pso_card: card,
        new_pso_pin: "45678901",
        new_pso_pin_again: pin2,
    };
    let e =
        onboard_partition_administration(&sel, &onboarding("pso", "X", "45678901")).unwrap_err();
    assert!(e.detail.contains("no management password"), "{e}");
    let mgmt = issue_management_password(&sel, spare, &so()).unwrap();
    assert_eq!(mgmt.len(), 29);
    assert!(
        !open_store(&sel)
            .unwrap()
            .device_item(&DeviceId::new(D), PARTITION_ADMIN_ITEM, "spare")
            .unwrap()
            .unwrap()
            .to_string()
            .contains(&mgmt),
        "only the verifier is kept"
    );
    let mut wrong_port = onboarding("pso", "x", "45678901");
    wrong_port.port = 2301;
    assert_eq!(
        onboard_partition_administration(&sel, &wrong_port)
            .unwrap_err()
            .rv,
        CKR_FUNCTION_FAILED
    );
    let mgmt: &'static str = Box::leak(mgmt.into_boxed_str());
    assert_eq!(
        onboard_partition_administration(
            &sel,
            &onboarding("pso", "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA", "45678901")
        )
        .unwrap_err()
        .rv,
        CKR_PIN_INCORRECT
    );
    assert_eq!(
        onboard_partition_administration(&sel, &onboarding("pso", mgmt, "45678902"))
            .unwrap_err()
            .rv,
        CKR_PIN_INVALID
    );
    assert_eq!(
        onboard_partition_administration(&sel, &onboarding("so-1", mgmt, "45678901"))
            .unwrap_err()
            .rv,
        CKR_FUNCTION_FAILED
    );
    assert_eq!(
        enter_partition_administration(&sel, spare, None)
            .unwrap_err()
            .rv,
        CKR_FUNCTION_FAILED,
        "not onboarded"
    );
    let admin =
        onboard_partition_administration(&sel, &onboarding("pso", mgmt, "45678901")).unwrap();
    assert!(admin.partition_administration);
    assert_eq!(admin.pso_card.as_deref(), Some("pso"));
    let card = load_card(&sel, D, "pso").unwrap();
    assert_eq!(card.partition.as_deref(), Some("spare"));
    assert!(!card.is_empty());
    // A used PSO card is refused.
    let e =
        onboard_partition_administration(&sel, &onboarding("pso", mgmt, "45678901")).unwrap_err();
    assert!(e.detail.contains("not empty"), "{e}");

    // Partition Administration mode: the bound card and its PIN (counted).
    assert_eq!(
        enter_partition_administration(&sel, spare, None)
            .unwrap_err()
            .rv,
        CKR_FUNCTION_FAILED
    );
    assert_eq!(
        enter_partition_administration(&sel, spare, Some(("pso-2", "45678901")))
            .unwrap_err()
            .rv,
        CKR_FUNCTION_FAILED
    );
    assert_eq!(
        enter_partition_administration(&sel, spare, Some(("pso", "11111111")))
            .unwrap_err()
            .rv,
        CKR_PIN_INCORRECT
    );
    assert_eq!(
        load_card(&sel, D, "pso").unwrap().attempts_left,
        CARD_ATTEMPTS - 1
    );
    enter_partition_administration(&sel, spare, Some(("pso", "45678901"))).unwrap();
    // ACME-PKI starts onboarded without a PSO card.
    enter_partition_administration(&sel, P, None).unwrap();
    // Another Primus device without a Decanus.
    assert_eq!(
        enter_partition_administration(&sel, "primus-dr/ACME-DR", None)
            .unwrap_err()
            .rv,
        CKR_FUNCTION_FAILED
    );
}

#[test]
fn the_p_backup_card_binds_an_empty_card_and_keeps_its_key_on_a_new_pin() {
    let dir = tempfile::tempdir().unwrap();
    let sel = selection(dir.path());
    with_cards(&sel);
    let card = load_card(&sel, D, "yellow").unwrap();
    assert_eq!(card.partition.as_deref(), Some("ACME-PKI"));
    let key = card.backup_key.clone().unwrap();
    let stored = open_store(&sel)
        .unwrap()
        .device_item(&DeviceId::new(D), BACKUP_KEY_ITEM, "ACME-PKI")
        .unwrap()
        .unwrap();
    let record: BackupKeyRecord = serde_json::from_value(stored.clone()).unwrap();
    assert_eq!(record.public, key.public);
    assert!(
        stored.get("sealed_private").is_none(),
        "the device keeps the public key only"
    );

    // Same card again: its current PIN, same key, new PIN.
    assert_eq!(
        create_partition_backup_card(&sel, P, &so(), "yellow", None, "45678901", "45678901")
            .unwrap_err()
            .rv,
        CKR_PIN_INCORRECT
    );
    assert_eq!(
        create_partition_backup_card(
            &sel,
            P,
            &so(),
            "yellow",
            Some("99999999"),
            "45678901",
            "45678901"
        )
        .unwrap_err()
        .rv,
        CKR_PIN_INCORRECT
    );
    assert_eq!(
        load_card(&sel, D, "yellow").unwrap().attempts_left,
        CARD_ATTEMPTS - 1,
        "counted"
    );
    let again = create_partition_backup_card(
        &sel,
        P,
        &so(),
        "yellow",
        Some(YELLOW_PIN),
        "45678901",
        "45678901",
    )
    .unwrap();
    assert_eq!(again.backup_key.as_ref().unwrap().public, key.public);
    again
        .backup_key
        .as_ref()
        .unwrap()
        .open("yellow", "45678901")
        .unwrap();
    verify_card(&sel, D, "yellow", "45678901").unwrap();

    // Refusals: PINs differ, another partition's card, not a Yellow card, too few SO cards.
    create_empty_card(&sel, D, CardKind::PartitionBackup, "yellow-2").unwrap();
    assert_eq!(
        create_partition_backup_card(&sel, P, &so(), "yellow-2", None, "45678901", "45678902")
            .unwrap_err()
            .rv,
        CKR_PIN_INVALID
    );
    assert!(load_card(&sel, D, "yellow-2").unwrap().is_empty());
    let e = create_partition_backup_card(
        &sel,
        "primus-onprem/ACME-ADCS",
        &so(),
        "yellow",
        Some("45678901"),
        "45678901",
        "45678901",
    )
    .unwrap_err();
    assert!(e.detail.contains("belongs to partition ACME-PKI"), "{e}");
    assert_eq!(
        create_partition_backup_card(&sel, P, &so(), "so-1", None, "45678901", "45678901")
            .unwrap_err()
            .rv,
        CKR_FUNCTION_FAILED
    );
    assert_eq!(
        create_partition_backup_card(
            &sel,
            P,
            &so()[..1],
            "yellow-2",
            None,
            "45678901",
            "45678901"
        )
        .unwrap_err()
        .rv,
        CKR_USER_NOT_LOGGED_IN
    );
    // No Device Backup licence on primus-dr (and no Decanus).
    assert_eq!(
        create_partition_backup_card(
            &sel,
            "primus-dr/ACME-DR",
            &so(),
            "yellow-2",
            None,
            "45678901",
            "45678901"
        )
        .unwrap_err()
        .rv,
        CKR_FUNCTION_FAILED
    );
}

#[test]
fn a_backup_needs_its_card_the_partition_password_and_a_usb_drive() {
    let dir = tempfile::tempdir().unwrap();
    let sel = selection(dir.path());
    with_so_cards(&sel);
    let usb = dir.path().join("usb");
    std::fs::create_dir(&usb).unwrap();
    let request = |password| BackupRequest {
        partition: P,
        partition_password: password,
        usb: &usb,
    };
    let e = create_partition_backup(&sel, &request(USER_PIN)).unwrap_err();
    assert!(e.detail.contains("no Partition-Backup card"), "{e}");
    create_empty_card(&sel, D, CardKind::PartitionBackup, "yellow").unwrap();
    create_partition_backup_card(&sel, P, &so(), "yellow", None, YELLOW_PIN, YELLOW_PIN).unwrap();
    assert_eq!(
        create_partition_backup(&sel, &request("wrong"))
            .unwrap_err()
            .rv,
        CKR_PIN_INCORRECT
    );
    assert_eq!(
        partition_login(&sel, P, "wrong").unwrap_err().rv,
        CKR_PIN_INCORRECT
    );
    partition_login(&sel, P, USER_PIN).unwrap();
    let missing = BackupRequest {
        usb: &dir.path().join("no-usb"),
        ..request(USER_PIN)
    };
    assert_eq!(
        create_partition_backup(&sel, &missing).unwrap_err().rv,
        CKR_ARGUMENTS_BAD
    );
    set_management_access(&sel, P, &so(), false).unwrap();
    let e = create_partition_backup(&sel, &request(USER_PIN)).unwrap_err();
    assert!(e.detail.contains("Management access"), "{e}");
    assert_eq!(
        std::fs::read_dir(&usb).unwrap().count(),
        0,
        "nothing written"
    );
    set_management_access(&sel, P, &so(), true).unwrap();
    let first = create_partition_backup(&sel, &request(USER_PIN)).unwrap();
    let second = create_partition_backup(&sel, &request(USER_PIN)).unwrap();
    assert_ne!(first.file, second.file, "never overwritten");
    let name = first
        .file
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("ACME-PKI-2") && name.ends_with(".pbackup"),
        "{name}"
    );
    assert_eq!(first.password.len(), 29);
    assert_eq!(read_backup_header(&first.file).unwrap(), first.header);
    assert_eq!(first.header.source_firmware, (3, 2));
    assert_eq!(first.header.card, "yellow");
    let bytes = std::fs::read(&first.file).unwrap();
    assert!(
        !bytes
            .windows(USER_PIN.len())
            .any(|w| w == USER_PIN.as_bytes())
    );
}

#[test]
fn a_restore_refuses_a_bad_file_card_pin_password_or_target_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sel = selection(dir.path());
    with_cards(&sel);
    create_empty_card(&sel, D, CardKind::PartitionBackup, "other").unwrap();
    create_partition_backup_card(
        &sel,
        "primus-onprem/ACME-ADCS",
        &so(),
        "other",
        None,
        YELLOW_PIN,
        YELLOW_PIN,
    )
    .unwrap();
    let usb = dir.path().join("usb");
    std::fs::create_dir(&usb).unwrap();
    let made = backup(&sel, &usb);
    let file = made.file.as_path();
    let pw = made.password.as_str();
    let before = snapshot(&sel);
    let refused =
        |request: RestoreRequest<'_>| restore_partition_backup(&sel, &request).unwrap_err();
    let target = "cloudhsm/restore";

    // The file: not a backup, truncated, changed (naively, and with its digest recomputed).
    let bad = dir.path().join("bad.pbackup");
    let write_bad = |bytes: &[u8]| std::fs::write(&bad, bytes).unwrap();
    let bytes = std::fs::read(file).unwrap();
    write_bad(b"PK\x03\x04 not a backup");
    let e = refused(restore_request(target, &bad, "yellow", YELLOW_PIN, pw));
    assert_eq!(e.rv, CKR_DATA_INVALID);
    assert!(e.detail.contains("is not a partition backup"), "{e}");
    for cut in [10, 40, bytes.len() / 2, bytes.len() - 1] {
        write_bad(&bytes[..cut]);
        let e = refused(restore_request(target, &bad, "yellow", YELLOW_PIN, pw));
        assert_eq!(e.rv, CKR_DATA_INVALID);
        assert!(e.detail.contains("is truncated"), "{cut}: {e}");
        assert_eq!(read_backup_header(&bad).unwrap_err().rv, CKR_DATA_INVALID);
    }
    // A letter of the partition's name in the header (the JSON stays valid), a byte of the body.
    let header_at = bytes.windows(8).position(|w| w == b"ACME-PKI").unwrap() + 7;
    let body_at = bytes.len() - 32 - 20;
    for at in [header_at, body_at] {
        let mut changed = bytes.clone();
        changed[at] ^= 1;
        write_bad(&changed);
        let e = refused(restore_request(target, &bad, "yellow", YELLOW_PIN, pw));
        assert_eq!(e.rv, CKR_DATA_INVALID);
        assert!(e.detail.contains("was changed after it was written"), "{e}");
        // Changed with the digest recomputed: the card's keys find it.
        let n = changed.len() - 32;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &changed[..n]);
        changed[n..].copy_from_slice(digest.as_ref());
        write_bad(&changed);
        let e = refused(restore_request(target, &bad, "yellow", YELLOW_PIN, pw));
        assert_eq!(e.rv, CKR_DATA_INVALID, "{e}");
        assert!(e.detail.contains("was changed after it was written"), "{e}");
    }
    // The header names the partition, readable; a changed header with a new digest reads but
    // does not restore.
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("\"partition\":\"ACME-PKI\""));

    // The card: another partition's, an SO card, one that does not exist.
    let e = refused(restore_request(target, file, "other", YELLOW_PIN, pw));
    assert_eq!(e.rv, CKR_KEY_HANDLE_INVALID);
    assert!(
        e.detail
            .contains("card other is not the Partition-Backup card"),
        "{e}"
    );
    assert_eq!(
        refused(restore_request(target, file, "so-1", "12345678", pw)).rv,
        CKR_KEY_HANDLE_INVALID
    );
    assert_eq!(
        refused(restore_request(target, file, "nope", YELLOW_PIN, pw)).rv,
        CKR_ARGUMENTS_BAD
    );
    // The backup password.
    let e = refused(restore_request(
        target,
        file,
        "yellow",
        YELLOW_PIN,
        "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA",
    ));
    assert_eq!(e.rv, CKR_PIN_INCORRECT);
    assert!(e.detail.contains("backup password is wrong"), "{e}");
    // The target: not blank, a name the device has, older firmware.
    let e = refused(restore_request(
        "cloudhsm/ACME-CLOUD",
        file,
        "yellow",
        YELLOW_PIN,
        pw,
    ));
    assert_eq!(e.rv, CKR_FUNCTION_FAILED);
    assert!(e.detail.contains("not blank"), "{e}");
    let e = refused(restore_request(
        "primus-onprem/spare",
        file,
        "yellow",
        YELLOW_PIN,
        pw,
    ));
    assert_eq!(e.rv, CKR_FUNCTION_FAILED);
    assert!(
        e.detail.contains("already has a partition named ACME-PKI"),
        "{e}"
    );
    let e = refused(restore_request(
        "old-cloud/blank",
        file,
        "yellow",
        YELLOW_PIN,
        pw,
    ));
    assert_eq!(e.rv, CKR_FUNCTION_FAILED);
    assert!(
        e.detail
            .contains("firmware 3.2 is newer than the target's 2.8"),
        "{e}"
    );
    assert_eq!(
        load_card(&sel, D, "yellow").unwrap().attempts_left,
        CARD_ATTEMPTS
    );

    // The card PIN: counted down, then blocked; blocked for good.
    for left in (1..CARD_ATTEMPTS).rev() {
        let e = refused(restore_request(target, file, "yellow", "11111111", pw));
        assert_eq!(e.rv, CKR_PIN_INCORRECT);
        assert_eq!(load_card(&sel, D, "yellow").unwrap().attempts_left, left);
    }
    assert_eq!(
        refused(restore_request(target, file, "yellow", "11111111", pw)).rv,
        CKR_PIN_LOCKED
    );
    assert_eq!(
        refused(restore_request(target, file, "yellow", YELLOW_PIN, pw)).rv,
        CKR_PIN_LOCKED
    );
    assert_eq!(snapshot(&sel), before, "nothing changed on either side");
}

/// Every object of a partition with its secrets opened, by label and class, without
/// `CKA_UNIQUE_ID`.
fn contents(sel: &LabSelection, partition: &str, pin: &str) -> Vec<Attributes> {
    let store = open_store(sel).unwrap();
    let (device, p) = super::partition(sel, partition).unwrap();
    let (id, key) = super::partition_backup::logged_in(sel, &store, device, &p, pin).unwrap();
    let mut objects: Vec<Attributes> = crate::estate::backup_hsm::opened_objects(&store, &id, &key)
        .unwrap()
        .into_iter()
        .map(|o| {
            let mut a = o.attrs;
            a.split_off_where(|t| t == CKA_UNIQUE_ID);
            a
        })
        .collect();
    objects.sort_by_key(|a| (a.bytes(CKA_LABEL).map(<[u8]>::to_vec), a.ulong(CKA_CLASS)));
    objects
}

/// Token objects written into ACME-PKI's store as the engine keeps them (a secret key, a data
/// object, a certificate-like public object), sealed under its token key.
fn with_objects(sel: &LabSelection) {
    with_objects_on(sel, P, USER_PIN);
}

/// `with_objects` on `partition`, whose PKCS#11 password is `pin`.
fn with_objects_on(sel: &LabSelection, partition: &str, pin: &str) {
    let store = open_store(sel).unwrap();
    let (device, p) = super::partition(sel, partition).unwrap();
    let (id, key) = super::partition_backup::logged_in(sel, &store, device, &p, pin).unwrap();
    let seen = store.token(&id).unwrap().unwrap().record.incarnation();
    let objects: Vec<crate::store::StoredObject> = [
        (
            CKO_SECRET_KEY,
            "aes",
            b"0123456789abcdef0123456789abcdef".to_vec(),
        ),
        (CKO_DATA, "data", b"some data".to_vec()),
        (CKO_PUBLIC_KEY, "pub", b"public value".to_vec()),
    ]
    .into_iter()
    .map(|(class, label, value)| {
        let uid = crate::base::random::new_unique_id().unwrap();
        let mut a = Attributes::new();
        a.set_ulong(CKA_CLASS, class);
        a.set_bool(CKA_TOKEN, true);
        a.set_bytes(CKA_LABEL, label.as_bytes().to_vec());
        a.set_bytes(CKA_ID, label.as_bytes().to_vec());
        a.set_bytes(CKA_VALUE, value);
        a.set_bytes(CKA_UNIQUE_ID, uid.as_bytes().to_vec());
        let (public, sealed) = crate::store::seal_object(&id, &a, Some(&key)).unwrap();
        crate::store::StoredObject {
            unique_id: uid.into_bytes(),
            public,
            sealed,
        }
    })
    .collect();
    store.insert_objects(&id, seen, &objects).unwrap();
}

#[test]
fn a_restored_partition_has_the_source_objects_label_pin_and_policy() {
    let dir = tempfile::tempdir().unwrap();
    let sel = selection(dir.path());
    with_cards(&sel);
    with_objects(&sel);
    let change = PolicyChange {
        allow_extract: Some(false),
        ..PolicyChange::default()
    };
    set_security_policy(&sel, P, &so(), change).unwrap();
    let source = contents(&sel, P, USER_PIN);
    assert_eq!(source.len(), 3);
    assert!(
        source
            .iter()
            .any(|a| a.bytes(CKA_VALUE) == Some(b"some data"))
    );

    let usb = dir.path().join("usb");
    std::fs::create_dir(&usb).unwrap();
    let made = backup(&sel, &usb);
    assert_eq!(made.header.objects, 3);
    // The password as typed in lower case is the same password.
    let outcome = restore_partition_backup(
        &sel,
        &restore_request(
            "cloudhsm-dedicated/restore",
            &made.file,
            "yellow",
            YELLOW_PIN,
            &made.password.to_lowercase(),
        ),
    )
    .unwrap();
    assert_eq!(
        (outcome.partition.as_str(), outcome.objects),
        ("ACME-PKI", 3)
    );
    // Every attribute and key value (but the lab-wide unique id); the source unchanged.
    assert_eq!(
        contents(&sel, "cloudhsm-dedicated/restore", USER_PIN),
        source
    );
    assert_eq!(contents(&sel, P, USER_PIN), source);
    let policy = security_policy(&sel, "cloudhsm-dedicated/restore").unwrap();
    assert!(!policy.allow_extract);
    assert_eq!(policy, security_policy(&sel, P).unwrap());
    let store = open_store(&sel).unwrap();
    let row = store
        .token(&"cloudhsm-dedicated/restore".parse().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(row.record.label, "ACME-PKI");
    assert!(row.record.initialized);
    assert_eq!(
        partition_login(&sel, "cloudhsm-dedicated/restore", "wrong")
            .unwrap_err()
            .rv,
        CKR_PIN_INCORRECT
    );
    // Restored twice: the target is no longer blank.
    let e = restore_partition_backup(
        &sel,
        &restore_request(
            "cloudhsm-dedicated/restore",
            &made.file,
            "yellow",
            YELLOW_PIN,
            &made.password,
        ),
    )
    .unwrap_err();
    assert!(e.detail.contains("not blank"), "{e}");
}

#[test]
fn cards_stored_before_empty_cards_and_backup_keys_still_read() {
    let old = r#"{"kind":"partition-backup","name":"yellow","partition":"ACME-PKI","pin":{"salt":[1,2],"hash":[3,4]},"attempts_left":4}"#;
    let card: Card = serde_json::from_str(old).unwrap();
    assert!(!card.is_empty() && card.backup_key.is_none());
    assert_eq!(card.attempts_left, 4);
    assert_eq!(
        serde_json::to_string(&card).unwrap(),
        old,
        "written back unchanged"
    );
    let mut empty = Card::empty(CardKind::PartitionSo, "pso").unwrap();
    assert_eq!(
        empty.present("12345678").unwrap_err().rv,
        CKR_USER_PIN_NOT_INITIALIZED
    );
    let json = serde_json::to_string(&empty).unwrap();
    assert!(!json.contains("pin"), "{json}");
    empty.bind("P", "12345678").unwrap();
    empty.present("12345678").unwrap();
    let key = crate::models::primus::CardBackupKey::generate("yellow", "12345678").unwrap();
    assert!(key.open("yellow", "12345679").is_err());
    assert!(key.open("other", "12345678").is_err(), "bound to the card");
    let moved = key.resealed("yellow", "12345678", "87654321").unwrap();
    assert_eq!(moved.public, key.public);
    moved.open("yellow", "87654321").unwrap();
}

#[test]
fn backup_file_names_carry_the_utc_time() {
    assert_eq!(super::partition_backup::timestamp(0), "19700101T000000");
    assert_eq!(
        super::partition_backup::timestamp(1_796_481_308),
        "20261205T143508"
    );
}

/// The reverse direction (CloudHSM to on premises, which seed 000 says is possible): a
/// CloudHSM whose lab gives it a Decanus and the licence items onboards ACME-CLOUD's
/// Partition Administration on port 2380 (not 2300), makes its Yellow card, backs it up, and
/// the backup restores into a blank on-premises partition.
#[test]
fn the_reverse_direction_restores_a_cloudhsm_partition_on_premises() {
    const CLOUD: &str = "cloudhsm";
    const ACME_CLOUD: &str = "cloudhsm/ACME-CLOUD";
    const CLOUD_PIN: &str = "Pkcs11-AcmeCloud-01";
    let dir = tempfile::tempdir().unwrap();
    let sel = selection(dir.path());
    let file = sel.lab_file.clone().unwrap();
    let text = std::fs::read_to_string(&file).unwrap().replacen(
        "  service = \"shared\"\n",
        "  service = \"shared\"\n  licences = [\"partition-administration\", \"device-backup\"]\n  decanus = { version = \"2.1.3\", device_administration = true }\n",
        1,
    );
    std::fs::write(&file, text).unwrap();
    let sel = select(&Choice {
        lab_file: Some(file),
        host: None,
        state_dir: None,
    })
    .unwrap();
    for (name, pin) in so() {
        create_card(&sel, CLOUD, CardKind::So, &name, &pin, None).unwrap();
    }
    create_empty_card(&sel, CLOUD, CardKind::PartitionSo, "pso-cloud").unwrap();
    create_empty_card(&sel, CLOUD, CardKind::PartitionBackup, "yellow-cloud").unwrap();
    with_objects_on(&sel, ACME_CLOUD, CLOUD_PIN);
    let source = contents(&sel, ACME_CLOUD, CLOUD_PIN);

    set_management_access(&sel, ACME_CLOUD, &so(), true).unwrap();
    let mgmt = issue_management_password(&sel, ACME_CLOUD, &so()).unwrap();
    let form = |port| Onboarding {
        device: CLOUD,
        url: "partition-admin.cloudshsm.example",
        port,
        user: "ACME-CLOUD",
        management_password: &mgmt,
        pso_card: "pso-cloud",
        new_pso_pin: "45678901",
        new_pso_pin_again: "45678901",
    };
    let e = onboard_partition_administration(&sel, &form(JCE_PORT)).unwrap_err();
    assert!(
        e.detail.contains("Partition Administration port is 2380"),
        "{e}"
    );
    onboard_partition_administration(&sel, &form(CLOUDHSM_PARTITION_ADMINISTRATION_PORT)).unwrap();
    create_partition_backup_card(
        &sel,
        ACME_CLOUD,
        &so(),
        "yellow-cloud",
        None,
        YELLOW_PIN,
        YELLOW_PIN,
    )
    .unwrap();
    let usb = dir.path().join("usb");
    std::fs::create_dir(&usb).unwrap();
    let made = create_partition_backup(
        &sel,
        &BackupRequest {
            partition: ACME_CLOUD,
            partition_password: CLOUD_PIN,
            usb: &usb,
        },
    )
    .unwrap();
    assert_eq!(made.header.source_device, CLOUD);
    let mut request = restore_request(
        "primus-onprem/spare",
        &made.file,
        "yellow-cloud",
        YELLOW_PIN,
        &made.password,
    );
    request.card_device = CLOUD;
    let outcome = restore_partition_backup(&sel, &request).unwrap();
    assert_eq!(
        (outcome.partition.as_str(), outcome.objects),
        ("ACME-CLOUD", 3)
    );
    assert_eq!(contents(&sel, "primus-onprem/spare", CLOUD_PIN), source);
    assert_eq!(contents(&sel, ACME_CLOUD, CLOUD_PIN), source);
}
