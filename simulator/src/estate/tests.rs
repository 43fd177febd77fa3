//! Tests of the estate's operations on built-in labs.
use super::*;

fn selection(dir: &Path) -> LabSelection {
    select(&Choice {
        lab_file: Some(dir.join(LAB_FILE)),
        host: None,
        state_dir: None,
    })
    .unwrap()
}

#[test]
fn zeroising_a_device_blanks_its_partitions_only() {
    let dir = tempfile::tempdir().unwrap();
    init_from_fixture("luna-usb-to-network7", dir.path(), false).unwrap();
    let sel = selection(dir.path());
    let zeroised = zeroise_device(&sel, &DeviceId::new("usb6")).unwrap();
    assert!(!zeroised.is_empty());
    assert!(zeroised.iter().all(|p| p.is_on(&DeviceId::new("usb6"))));
    let report = report(&sel).unwrap();
    for d in &report.devices {
        for p in &d.partitions {
            if d.name == "usb6" {
                assert!(!p.initialized, "{} is blank", p.partition);
            }
        }
    }
    assert!(
        report
            .devices
            .iter()
            .any(|d| d.name != "usb6" && d.partitions.iter().any(|p| p.initialized)),
        "other devices keep their tokens"
    );
    assert_eq!(
        zeroise_device(&sel, &DeviceId::new("nosuch"))
            .unwrap_err()
            .rv,
        CKR_ARGUMENTS_BAD
    );
}

#[test]
fn init_show_check_reset_and_partition_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = init_from_fixture("default", dir.path(), false).unwrap();
    assert_eq!(file, dir.path().join(LAB_FILE));
    assert_eq!(
        init_from_fixture("default", dir.path(), false)
            .unwrap_err()
            .rv,
        CKR_FUNCTION_FAILED
    );
    assert_eq!(
        init_from_fixture("nope", dir.path(), true).unwrap_err().rv,
        CKR_ARGUMENTS_BAD
    );
    let sel = selection(dir.path());
    assert_eq!(sel.state_dir, dir.path());
    let r = report(&sel).unwrap();
    assert_eq!(r.lab, "default");
    let parts = &r.devices[0].partitions;
    assert!(parts[0].initialized && parts[0].user_pin_initialized);
    assert_eq!(parts[0].label, "hsmsim-default");
    assert!(!parts[1].initialized && parts[1].present);
    assert_eq!(r.hosts[0].slots.len(), 3);
    assert!(check(&sel).unwrap().is_empty());

    set_partition_present(&sel, &"hsm1/blank2".parse().unwrap(), false).unwrap();
    let r = report(&sel).unwrap();
    assert!(!r.devices[0].partitions[2].present);
    assert_eq!(
        set_partition_present(&sel, &"hsm1/blank2".parse().unwrap(), false)
            .unwrap_err()
            .rv,
        CKR_FUNCTION_FAILED
    );
    assert_eq!(
        set_partition_present(&sel, &"hsm1/nope".parse().unwrap(), true)
            .unwrap_err()
            .rv,
        CKR_ARGUMENTS_BAD
    );
    reset(&sel).unwrap();
    let r = report(&sel).unwrap();
    assert!(r.devices[0].partitions.iter().all(|p| p.present));
    assert!(check(&sel).unwrap().is_empty());
}

#[test]
fn check_reports_a_lab_without_state_and_a_damaged_store() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(LAB_FILE), built_in_text("default").unwrap()).unwrap();
    let sel = selection(dir.path());
    assert_eq!(check(&sel).unwrap().len(), 1);
    open_store(&sel).unwrap();
    assert!(check(&sel).unwrap().is_empty());
    let conn = rusqlite::Connection::open(dir.path().join(crate::store::DB_FILE)).unwrap();
    conn.execute(
        "INSERT INTO objects (unique_id, token, public, sealed) VALUES ('x', 'hsm9/p', x'00', NULL)",
        [],
    )
    .unwrap();
    drop(conn);
    let problems = check(&sel).unwrap();
    assert!(
        problems.iter().any(|p| p.contains("hsm9/p")),
        "{problems:?}"
    );
}
