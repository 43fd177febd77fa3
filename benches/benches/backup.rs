//! Luna Backup HSM speed (issue 13, item 6): backing up and restoring mixed token objects (RSA
//! and EC private keys, AES keys, in turn), against creating the same objects with
//! `C_CreateObject` in the same run.
//!
//! `cargo bench -p hsmsim-benches --bench backup` makes a lab (a 7.4.2 Network HSM source and
//! target partition, a Backup HSM G5 attached to the one host, one cloning domain), creates N
//! objects on the source through libhsmsim.so's C ABI (the key values taken once from keys the
//! module generated), then times `hsmsim::estate::archive_backup` (a new backup partition)
//! and `archive_restore` (into the empty target) as `hsmsim lab`-side operations run them,
//! each a whole LunaCM command (credential checks included), and checks that every object
//! went. N is 10,000 and 100,000 (linearity); `HSMSIM_BENCH_QUICK=1` runs 10,000 only. Goal:
//! each under 2 s for 10,000 objects (reported, not enforced). The PIN seals have their
//! default cost, so each command pays its credential checks (the source's or target's Crypto
//! Officer, the Backup HSM's HSM SO: one PIN key derivation each, the login bench's subject).
//! Under `cargo test` it runs 30 objects at the suites' cost (`HSMSIM_PIN_KDF_ITERATIONS=10000`)
//! and writes nothing; it skips if the module is not built. The summary goes to `target/hsmsim-bench-backup.json`.
use hsmsim::base::ids::{DeviceId, PartitionId};
use hsmsim::estate::{self, BackupMode, BackupRequest, Choice, RestoreRequest};
use hsmsim_benches::{RunMode, lab_with_objects, module_for, write_summary};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

const CO: &[u8] = b"co-pin-0001";
const BK_SO: &[u8] = b"bk-so-pin-01";
const BK_PW: &[u8] = b"backup-pw-01";
const GOAL_S: f64 = 2.0;
const GOAL_OBJECTS: usize = 10_000;

const LAB: &str = r#"
[lab]
name = "backup-bench"

[[device]]
name = "src"
kind = "luna-network"
firmware = "7.4.2"
  [[device.partition]]
  name = "p"
  label = "src"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "bench-domain"

[[device]]
name = "dst"
kind = "luna-network"
firmware = "7.4.2"
  [[device.partition]]
  name = "p"
  label = "dst"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "bench-domain"

[[device]]
name = "bk"
kind = "luna-backup"
  [device.luna]
  firmware = "6.28.0"
  attached_to = "client"
  [[device.partition]]
  name = "hsm"
  label = "bk"
  so_pin = "bk-so-pin-01"
  domain = "bench-domain"

[[host]]
name = "client"
slot = [
  { id = 0, partition = "src/p" },
  { id = 1, partition = "dst/p" },
  { id = 2, partition = "bk/hsm" },
]
"#;

/// One row: N objects created, backed up and restored in a fresh lab.
struct Row {
    objects: usize,
    create_s: f64,
    backup_s: f64,
    restore_s: f64,
}

fn measure(module: &Path, count: usize, test: bool) -> Result<Row, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let create_s = lab_with_objects(module, dir.path(), LAB, test, CO, count)?;

    let selection = estate::select(&Choice::default()).map_err(|e| e.to_string())?;
    let (source, target) = (PartitionId::parse("src/p"), PartitionId::parse("dst/p"));
    let (source, target) = (source.unwrap(), target.unwrap());
    let bk = DeviceId::new("bk");
    let started = Instant::now();
    let backup = estate::archive_backup(
        &selection,
        &BackupRequest {
            source: &source,
            co_pin: CO,
            backup_hsm: &bk,
            so_password: BK_SO,
            partition: "bench",
            password: BK_PW,
            domain: None,
            mode: BackupMode::New,
        },
    )
    .map_err(|e| e.to_string())?;
    let backup_s = started.elapsed().as_secs_f64();
    backup.outcome().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let restore = estate::archive_restore(
        &selection,
        &RestoreRequest {
            backup_hsm: &bk,
            partition: "bench",
            password: BK_PW,
            target: &target,
            co_pin: CO,
            objects: None,
            smk_only: false,
        },
    )
    .map_err(|e| e.to_string())?;
    let restore_s = started.elapsed().as_secs_f64();
    restore.outcome().map_err(|e| e.to_string())?;
    if backup.objects.len() != count || restore.objects.len() != count {
        return Err(format!(
            "{count} objects created, {} backed up, {} restored",
            backup.objects.len(),
            restore.objects.len()
        ));
    }
    Ok(Row {
        objects: count,
        create_s,
        backup_s,
        restore_s,
    })
}

fn main() -> ExitCode {
    let mode = RunMode::from_env();
    let module = match module_for("backup", &mode) {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    let counts: &[usize] = match (mode.bench, mode.quick) {
        (false, _) => &[30],
        (true, true) => &[GOAL_OBJECTS],
        (true, false) => &[GOAL_OBJECTS, 10 * GOAL_OBJECTS],
    };
    let mut rows = Vec::new();
    for &count in counts {
        match measure(&module, count, !mode.bench) {
            Ok(row) => rows.push(row),
            Err(e) => {
                println!("backup bench FAILED: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if !mode.bench {
        println!("backup bench: test-mode check passed (every object backed up and restored)");
        return ExitCode::SUCCESS;
    }
    println!(
        "{:>8}  {:>10}  {:>9}  {:>10}  {:>9}  {:>10}  {:>12}",
        "objects", "create s", "backup s", "backup/cr", "restore s", "restore/cr", "us/obj b, r"
    );
    let mut json_rows = Vec::new();
    for r in &rows {
        let per = |s: f64| s * 1e6 / r.objects as f64;
        println!(
            "{:>8}  {:>10.3}  {:>9.3}  {:>10.2}  {:>9.3}  {:>10.2}  {:>5.1}, {:>5.1}",
            r.objects,
            r.create_s,
            r.backup_s,
            r.backup_s / r.create_s,
            r.restore_s,
            r.restore_s / r.create_s,
            per(r.backup_s),
            per(r.restore_s)
        );
        json_rows.push(json!({
            "objects": r.objects,
            "create_s": r.create_s,
            "backup_s": r.backup_s,
            "restore_s": r.restore_s,
            "backup_over_create": r.backup_s / r.create_s,
            "restore_over_create": r.restore_s / r.create_s,
        }));
    }
    if let Some(r) = rows.iter().find(|r| r.objects == GOAL_OBJECTS) {
        for (what, s) in [("backup", r.backup_s), ("restore", r.restore_s)] {
            let verdict = if s < GOAL_S { "PASS" } else { "MISS" };
            println!("goal: {what} of {GOAL_OBJECTS} objects under {GOAL_S} s: {s:.3} s {verdict}");
        }
    }
    write_summary(
        "hsmsim-bench-backup.json",
        serde_json::to_string_pretty(&json!({ "rows": json_rows, "goal_s": GOAL_S }))
            .unwrap_or_default(),
    );
    ExitCode::SUCCESS
}
