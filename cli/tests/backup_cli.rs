//! `hsmsim lab attach`: a Luna Backup HSM shown where it is attached, moved to another host
//! that lists its slot (persisted: a later run sees it there), refused for a host without its
//! slot and for a device that is not a Backup HSM.
mod common;

use common::{init_lab, lab_file, output, refused, succeeded};

fn hsmsim(lab: &str, args: &[&str]) -> std::process::Output {
    output(common::command().args(["--lab", lab]).args(args))
}

#[test]
fn attach_moves_the_backup_hsm_between_hosts_and_persists() {
    let dir = init_lab("luna-usb-to-network7");
    let lab = lab_file(dir.path());
    let shown = succeeded(&hsmsim(&lab, &["lab", "attach", "backup"]));
    assert!(shown.contains("attached to host old-host"), "{shown}");
    let moved = succeeded(&hsmsim(
        &lab,
        &["lab", "attach", "backup", "--host", "new-host"],
    ));
    assert!(moved.contains("attached to host new-host"), "{moved}");
    let again = succeeded(&hsmsim(&lab, &["lab", "attach", "backup"]));
    assert!(again.contains("attached to host new-host"), "{again}");
    // The lab file is the start state and stays as it was.
    let text = std::fs::read_to_string(dir.path().join("lab.toml")).unwrap();
    assert!(text.contains("attached_to = \"old-host\""));
    refused(
        &hsmsim(&lab, &["lab", "attach", "backup", "--host", "clone-host"]),
        2,
        "has no slot showing backup/hsm",
    );
    refused(
        &hsmsim(&lab, &["lab", "attach", "usb6", "--host", "new-host"]),
        2,
        "is not a Luna Backup HSM",
    );
}
