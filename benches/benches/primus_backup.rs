//! Primus partition backup speed (issue 15, item 7): writing the backup file of a partition
//! of mixed token objects (RSA and EC private keys, AES keys, in turn) and restoring it into
//! a blank CloudHSM partition, against creating the same objects with `C_CreateObject` in the
//! same run.
//!
//! `cargo bench -p hsmsim-benches --bench primus_backup` makes a lab (an on-premises Primus
//! meeting every precondition of the migration, a CloudHSM with a blank partition), creates N
//! objects on the source through libhsmsim.so's C ABI (`hsmsim_benches::create_objects`), makes
//! the partition's P-Backup card (not timed), then times
//! `hsmsim::estate::primus::create_partition_backup` (the Decanus `BACKUP > CREATE`: the
//! partition login, every object read and opened, the file encrypted and written) and
//! `restore_partition_backup` (the operator's `hsmsim cloudhsm restore`: the file read and
//! checked, the card PIN, every object re-sealed, one store transaction), and checks that every
//! object went. N is 10,000 (`HSMSIM_BENCH_QUICK=1` changes nothing: one size). Goal: each
//! under 2 s (reported, not enforced). The PIN seals have their default cost, so the backup
//! pays one PIN key derivation (the partition login) and the restore one (the restored
//! token's new seal). Under `cargo test` it runs 30 objects at the suites' cost and writes
//! nothing; it skips if the module is not built. The summary goes to
//! `target/hsmsim-bench-primus-backup.json`.
use hsmsim::estate::primus::{self, BackupRequest, RestoreRequest};
use hsmsim::estate::{self, Choice};
use hsmsim::models::primus::CardKind;
use hsmsim_benches::{RunMode, lab_with_objects, module_for, write_summary};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

const USER_PIN: &[u8] = b"Pkcs11-Bench-01";
const CARD_PIN: &str = "34567890";
const GOAL_S: f64 = 2.0;
const GOAL_OBJECTS: usize = 10_000;

const LAB: &str = r#"
[lab]
name = "primus-backup-bench"

[[device]]
name = "onprem"
kind = "primus"
  [device.primus]
  firmware = "2.11"
  licences = ["partition-administration", "device-backup"]
  decanus = { version = "2.1.3", device_administration = true }
  [[device.partition]]
  name = "BENCH"
  label = "BENCH"
  user_pin = "Pkcs11-Bench-01"
    [device.partition.primus]
    management = true
    partition_administration = true

[[device]]
name = "cloud"
kind = "primus-cloudhsm"
  [[device.partition]]
  name = "restore"

[[host]]
name = "client"
slot = [
  { id = 0, partition = "onprem/BENCH" },
  { id = 1, partition = "cloud/restore" },
]
"#;

struct Row {
    objects: usize,
    create_s: f64,
    backup_s: f64,
    restore_s: f64,
    file_bytes: u64,
}

fn measure(module: &Path, count: usize, test: bool) -> Result<Row, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let create_s = lab_with_objects(module, dir.path(), LAB, test, USER_PIN, count)?;

    let selection = estate::select(&Choice::default()).map_err(|e| e.to_string())?;
    let sel = &selection;
    let e = |e: hsmsim::base::error::Error| e.to_string();
    primus::create_card(sel, "onprem", CardKind::So, "so-1", "12345678", None).map_err(e)?;
    primus::create_card(sel, "onprem", CardKind::So, "so-2", "23456789", None).map_err(e)?;
    primus::create_empty_card(sel, "onprem", CardKind::PartitionBackup, "yellow").map_err(e)?;
    let so = vec![
        ("so-1".to_string(), "12345678".to_string()),
        ("so-2".to_string(), "23456789".to_string()),
    ];
    primus::create_partition_backup_card(
        sel,
        "onprem/BENCH",
        &so,
        "yellow",
        None,
        CARD_PIN,
        CARD_PIN,
    )
    .map_err(e)?;
    let usb = dir.path().join("usb");
    std::fs::create_dir(&usb).map_err(|e| e.to_string())?;
    let password = String::from_utf8_lossy(USER_PIN).into_owned();

    let started = Instant::now();
    let made = primus::create_partition_backup(
        sel,
        &BackupRequest {
            partition: "onprem/BENCH",
            partition_password: &password,
            usb: &usb,
        },
    )
    .map_err(e)?;
    let backup_s = started.elapsed().as_secs_f64();
    let file_bytes = std::fs::metadata(&made.file)
        .map_err(|e| e.to_string())?
        .len();
    let started = Instant::now();
    let restored = primus::restore_partition_backup(
        sel,
        &RestoreRequest {
            target: "cloud/restore",
            file: &made.file,
            card_device: "onprem",
            card: "yellow",
            card_pin: CARD_PIN,
            password: &made.password,
        },
    )
    .map_err(e)?;
    let restore_s = started.elapsed().as_secs_f64();
    if made.header.objects != count || restored.objects != count {
        return Err(format!(
            "{count} objects created, {} backed up, {} restored",
            made.header.objects, restored.objects
        ));
    }
    Ok(Row {
        objects: count,
        create_s,
        backup_s,
        restore_s,
        file_bytes,
    })
}

fn main() -> ExitCode {
    let mode = RunMode::from_env();
    let module = match module_for("primus_backup", &mode) {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    let count = if mode.bench { GOAL_OBJECTS } else { 30 };
    let r = match measure(&module, count, !mode.bench) {
        Ok(row) => row,
        Err(e) => {
            println!("primus_backup bench FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !mode.bench {
        println!(
            "primus_backup bench: test-mode check passed (every object backed up and restored)"
        );
        return ExitCode::SUCCESS;
    }
    println!(
        "{:>8}  {:>10}  {:>9}  {:>10}  {:>9}  {:>10}  {:>10}",
        "objects", "create s", "backup s", "backup/cr", "restore s", "restore/cr", "file MiB"
    );
    println!(
        "{:>8}  {:>10.3}  {:>9.3}  {:>10.2}  {:>9.3}  {:>10.2}  {:>10.1}",
        r.objects,
        r.create_s,
        r.backup_s,
        r.backup_s / r.create_s,
        r.restore_s,
        r.restore_s / r.create_s,
        r.file_bytes as f64 / (1 << 20) as f64
    );
    for (what, s) in [("backup", r.backup_s), ("restore", r.restore_s)] {
        let verdict = if s < GOAL_S { "PASS" } else { "MISS" };
        println!("goal: {what} of {GOAL_OBJECTS} objects under {GOAL_S} s: {s:.3} s {verdict}");
    }
    write_summary(
        "hsmsim-bench-primus-backup.json",
        serde_json::to_string_pretty(&json!({
            "rows": [{
                "objects": r.objects,
                "create_s": r.create_s,
                "backup_s": r.backup_s,
                "restore_s": r.restore_s,
                "backup_over_create": r.backup_s / r.create_s,
                "restore_over_create": r.restore_s / r.create_s,
                "file_bytes": r.file_bytes,
            }],
            "goal_s": GOAL_S,
        }))
        .unwrap_or_default(),
    );
    ExitCode::SUCCESS
}
