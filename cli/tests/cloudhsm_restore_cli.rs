//! `hsmsim cloudhsm restore` and `show-backup` as the Securosys operator runs them on the
//! `primus` fixture: a backup of ACME-PKI (made by calling the estate, as the Decanus terminal
//! does) restored into the blank CloudHSM partition, the customer's slot then showing the
//! token ACME-PKI with its key; the refusals print `hsmsim: CKR_X (0x...): <sentence>` and exit
//! 2 (wrong backup password, wrong card PIN: a refused PIN is 2 in every command) or 1 (a
//! target no longer blank, a truncated file); a secret neither given nor asked for exits 2.
mod common;

use common::{json, refused, stderr, succeeded};
use hsmsim::estate::primus::{self, BackupCreated, BackupRequest};
use hsmsim::estate::{Choice, LabSelection, select};
use hsmsim::models::primus::CardKind;
use std::path::Path;
use std::process::{Command, Output};

const P: &str = "primus-onprem/ACME-PKI";
const YELLOW_PIN: &str = "34567890";

fn command(lab: &Path, args: &[&str]) -> Command {
    let mut c = common::command();
    c.current_dir(lab)
        .env("HSMSIM_CONF", lab.join("lab.toml"))
        .args(args);
    c
}

fn hsmsim(lab: &Path, args: &[&str]) -> Output {
    common::output(&mut command(lab, args))
}

/// The lab as the estate sees it, with two SO cards on primus-onprem; the cards as
/// (name, PIN).
fn with_so_cards(lab: &Path) -> (LabSelection, Vec<(String, String)>) {
    let sel = select(&Choice {
        lab_file: Some(lab.join("lab.toml")),
        host: None,
        state_dir: None,
    })
    .unwrap();
    let so = vec![
        ("so-1".to_string(), "12345678".to_string()),
        ("so-2".to_string(), "23456789".to_string()),
    ];
    for (name, pin) in &so {
        primus::create_card(&sel, "primus-onprem", CardKind::So, name, pin, None).unwrap();
    }
    (sel, so)
}

/// The estate steps of seed 000 before the restore (what `hsmsim decanus` runs): SO cards, an
/// empty Yellow card made ACME-PKI's P-Backup card, the backup written to `usb`.
fn backup(lab: &Path) -> BackupCreated {
    let (sel, so) = with_so_cards(lab);
    primus::create_empty_card(&sel, "primus-onprem", CardKind::PartitionBackup, "yellow").unwrap();
    primus::create_partition_backup_card(&sel, P, &so, "yellow", None, YELLOW_PIN, YELLOW_PIN)
        .unwrap();
    let usb = lab.join("usb");
    std::fs::create_dir_all(&usb).unwrap();
    primus::create_partition_backup(
        &sel,
        &BackupRequest {
            partition: P,
            partition_password: "Pkcs11-AcmePki-01",
            usb: &usb,
        },
    )
    .unwrap()
}

#[test]
fn empty_cards_are_made_and_preconditions_follow_the_stored_state() {
    let dir = common::init_lab("primus");
    let d = dir.path();
    let card = json(&hsmsim(
        d,
        &[
            "primus",
            "card",
            "create",
            "--device",
            "primus-onprem",
            "--kind",
            "partition-so",
            "--name",
            "pso",
            "--empty",
            "--json",
        ],
    ));
    assert_eq!(card["empty"], true);
    assert_eq!(card["partition"], serde_json::Value::Null);
    let out = hsmsim(
        d,
        &[
            "primus",
            "card",
            "create",
            "--device",
            "primus-onprem",
            "--kind",
            "so",
            "--name",
            "so-9",
            "--empty",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let listed = succeeded(&hsmsim(d, &["primus", "card", "list"]));
    assert!(listed.contains("empty"), "{listed}");
    succeeded(&hsmsim(d, &["primus", "preconditions", P]));
    let (sel, so) = with_so_cards(d);
    primus::set_management_access(&sel, P, &so, false).unwrap();
    let out = hsmsim(d, &["primus", "preconditions", P]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("unmet: management-access"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_operator_restores_acme_pki_into_cloudhsm_and_refusals_exit_1_or_2() {
    let dir = common::init_lab("primus");
    let d = dir.path();
    succeeded(&hsmsim(
        d,
        &[
            "primus-tools",
            "-hsm",
            "sim:token=ACME-PKI",
            "CreateKey",
            "-keyname",
            "mig",
            "-type",
            "AES",
            "-size",
            "256",
        ],
    ));
    let made = backup(d);
    let file = made.file.display().to_string();

    let shown = json(&hsmsim(d, &["cloudhsm", "show-backup", &file, "--json"]));
    assert_eq!(shown["partition"], "ACME-PKI");
    assert_eq!(shown["source_device"], "primus-onprem");
    assert_eq!(shown["source_firmware"], "3.2");
    assert_eq!(shown["card"], "yellow");
    assert_eq!(shown["objects"], 1);
    let text = succeeded(&hsmsim(d, &["cloudhsm", "show-backup", &file]));
    assert!(text.contains("partition       ACME-PKI"), "{text}");

    let restore = |pin: &str, password: &str| {
        hsmsim(
            d,
            &[
                "cloudhsm",
                "restore",
                "--partition",
                "cloudhsm/restore",
                "--backup",
                &file,
                "--card",
                "yellow",
                "--card-pin",
                pin,
                "--password",
                password,
            ],
        )
    };
    refused(
        &restore(YELLOW_PIN, "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"),
        2,
        "hsmsim: CKR_PIN_INCORRECT (0x000000A0): the backup password is wrong",
    );
    refused(
        &restore("11111111", &made.password),
        2,
        "hsmsim: CKR_PIN_INCORRECT (0x000000A0): ",
    );
    let out = restore(YELLOW_PIN, "x");
    assert!(stderr(&out).starts_with("hsmsim: "), "{}", stderr(&out));

    // The secrets from the environment; the card found on the one device that has it.
    let out = common::output(
        command(
            d,
            &[
                "cloudhsm",
                "restore",
                "--partition",
                "cloudhsm/restore",
                "--backup",
                &file,
                "--card",
                "yellow",
            ],
        )
        .env("HSMSIM_CARD_PIN", YELLOW_PIN)
        .env("HSMSIM_BACKUP_PASSWORD", &made.password),
    );
    assert_eq!(
        succeeded(&out).trim(),
        "restored partition ACME-PKI (1 object) into cloudhsm/restore"
    );
    refused(
        &restore(YELLOW_PIN, &made.password),
        1,
        "is not blank (it is initialised or holds objects): a backup is restored into a blank partition",
    );
    let slots = json(&hsmsim(d, &["slots", "--json"]));
    let slot3 = slots
        .as_object()
        .and_then(|o| o.values().find_map(|v| v.as_array()))
        .and_then(|rows| rows.iter().find(|r| r["slot"] == 3))
        .cloned()
        .unwrap_or_default();
    assert_eq!(slot3["label"], "ACME-PKI", "{slots}");
    assert_eq!(slot3["initialized"], true, "{slots}");

    // Without a password and no terminal: cannot run.
    let out = hsmsim(
        d,
        &[
            "cloudhsm",
            "restore",
            "--partition",
            "cloudhsm-dedicated/restore",
            "--backup",
            &file,
            "--card",
            "yellow",
            "--card-device",
            "primus-onprem",
            "--card-pin",
            YELLOW_PIN,
        ],
    );
    refused(&out, 2, "--password is needed");

    let truncated = d.join("truncated.pbackup");
    let bytes = std::fs::read(&made.file).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let out = hsmsim(
        d,
        &["cloudhsm", "show-backup", &truncated.display().to_string()],
    );
    refused(&out, 1, "hsmsim: CKR_DATA_INVALID (0x00000020): ");
    assert!(
        stderr(&out)
            .trim_end()
            .ends_with("truncated.pbackup is truncated")
    );
    let help = succeeded(&hsmsim(d, &["cloudhsm", "restore", "--help"]));
    assert!(help.contains("--card-device") && help.contains("HSMSIM_BACKUP_PASSWORD"));
}
