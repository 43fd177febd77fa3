//! Through the C ABI (and the library calls the `hsmsim` CLI makes): the lab's state is created
//! private to the user (directories 0700; the SQLite store with its -wal and -shm, PED key
//! files and `lab init`'s lab file 0600; an existing directory keeps its
//! mode), and a lab or PED key file that is not a regular file of a sane size (a FIFO,
//! /dev/zero, a directory, a huge sparse file) is refused promptly with
//! `CKR_DEVICE_ERROR` and a reason, never a hang or an unbounded read.
mod common;

use common::{Template, USER_PIN, create, login, open_session};
use cryptoki_sys::*;
use hsmsim::estate::Choice;
use hsmsim::pkcs11::*;
use parking_lot::{Mutex, MutexGuard};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::ptr::null_mut;
use std::time::Duration;

/// The module and the environment are process-global: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A soft partition and a PED partition whose key files the lab creates on first use.
const LAB: &str = r#"
[lab]
name = "state-files"

[[device]]
name = "soft"
kind = "soft"
  [[device.partition]]
  name = "t"
  label = "soft"
  so_pin = "87654321"
  user_pin = "12345678"

[[device]]
name = "ped7"
kind = "luna-usb"
firmware = "7.4.2"
auth = "ped"
  [[device.partition]]
  name = "p"
  label = "ped"
  so_ped_key = "ped/blue.key"
  user_ped_key = "ped/black.key"

[[host]]
name = "h"
slot = [{ id = 0, partition = "soft/t" }, { id = 1, partition = "ped7/p" }]
"#;

/// Holds SERIAL and points the module at `conf` (state in `state`, if given).
fn environment(conf: &Path, state: Option<&Path>) -> MutexGuard<'static, ()> {
    let serial = SERIAL.lock();
    // SAFETY: every test of this binary touches the environment only while holding SERIAL.
    unsafe {
        std::env::set_var("HSMSIM_CONF", conf);
        match state {
            Some(s) => std::env::set_var("HSMSIM_STATE_DIR", s),
            None => std::env::remove_var("HSMSIM_STATE_DIR"),
        }
        std::env::remove_var("HSMSIM_HOST");
        std::env::remove_var("HSMSIM_LAB");
        std::env::remove_var("HSMSIM_PED_KEYS");
    }
    // SAFETY: null is the valid argument (a previous failed test may have left it open).
    let _ = unsafe { C_Finalize(null_mut()) };
    serial
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn assert_mode(path: &Path, expected: u32) {
    assert_eq!(
        mode(path),
        expected,
        "{} is {:o}, expected {expected:o}",
        path.display(),
        mode(path)
    );
}

#[test]
fn the_state_is_created_private_to_the_user() {
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = root.path().join("lab.toml");
    std::fs::write(&conf, LAB).unwrap();
    let state = root.path().join("state/deeper");
    let _serial = environment(&conf, Some(&state));

    // SAFETY: null requests default locking.
    assert_eq!(unsafe { C_Initialize(null_mut()) }, CKR_OK);
    let s = open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(login(s, CKU_USER, USER_PIN), CKR_OK);
    let object = Template::new()
        .ulong(CKA_CLASS, CKO_DATA)
        .bool(CKA_TOKEN, true)
        .bytes(CKA_VALUE, b"kept at rest");
    create(s, object).unwrap();
    // The WAL and its index exist while the module has the store open.
    for name in ["hsmsim.sqlite", "hsmsim.sqlite-wal", "hsmsim.sqlite-shm"] {
        assert_mode(&state.join(name), 0o600);
    }
    assert_mode(&root.path().join("state"), 0o700);
    assert_mode(&state, 0o700);
    assert_mode(&state.join("ped"), 0o700);
    assert_mode(&state.join("ped/blue.key"), 0o600);
    assert_mode(&state.join("ped/black.key"), 0o600);
    // The directory the user made (here: the temporary one) is left as it was.
    assert_mode(root.path(), 0o755);
    // SAFETY: null is the valid argument.
    assert_eq!(unsafe { C_Finalize(null_mut()) }, CKR_OK);

    // `hsmsim lab init` into a new directory, and a Primus card (`hsmsim primus card`).
    let lab_dir = root.path().join("primus-lab");
    let file = hsmsim::estate::init_from_fixture("primus", &lab_dir, false).unwrap();
    assert_mode(&lab_dir, 0o700);
    assert_mode(&file, 0o600);
    assert_mode(&lab_dir.join("hsmsim.sqlite"), 0o600);
    let selection = hsmsim::estate::select(&Choice {
        lab_file: Some(file),
        host: None,
        state_dir: Some(lab_dir.clone()),
    })
    .unwrap();
    hsmsim::estate::primus::create_card(
        &selection,
        "primus-onprem",
        hsmsim::models::primus::CardKind::So,
        "yellow",
        "12345678",
        None,
    )
    .unwrap();
    // The card is kept in the store (earlier builds: `primus/<device>/cards/<card>.json`).
    assert_mode(&lab_dir.join("hsmsim.sqlite"), 0o600);
}

/// Bad lab files: made in `dir`, each with what its refusal must say.
fn bad_files(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let directory = dir.join("a-directory");
    std::fs::create_dir(&directory).unwrap();
    let sparse = dir.join("huge.toml");
    let f = std::fs::File::create(&sparse).unwrap();
    f.set_len(64 << 30).unwrap();
    vec![
        (PathBuf::from("/dev/zero"), "character device"),
        (directory, "directory"),
        (sparse, "MiB"),
        (fifo(dir, "lab.fifo"), "FIFO"),
    ]
}

fn fifo(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let status = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

/// Runs `call` on a thread and waits for it at most 30 s. If it hangs (a reader blocked on
/// `fifo`), a writer opens the FIFO so the reader sees end-of-file, and the test fails.
fn bounded(fifo: &Path, what: &str, call: impl FnOnce() -> CK_RV + Send + 'static) -> CK_RV {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(call());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(rv) => rv,
        Err(_) => {
            drop(std::fs::OpenOptions::new().write(true).open(fifo));
            panic!("{what} hung");
        }
    }
}

#[test]
fn a_lab_file_that_is_not_a_regular_file_is_refused_promptly() {
    let root = tempfile::tempdir().unwrap();
    let files = bad_files(root.path());
    let fifo = files.last().unwrap().0.clone();
    let _serial = environment(Path::new("/nonexistent"), Some(&root.path().join("state")));
    for (file, why) in files {
        // SAFETY: SERIAL is held.
        unsafe { std::env::set_var("HSMSIM_CONF", &file) };
        // SAFETY: null requests default locking.
        let rv = bounded(
            &fifo,
            &format!("C_Initialize on {}", file.display()),
            || unsafe { C_Initialize(null_mut()) },
        );
        assert_eq!(rv, CKR_DEVICE_ERROR, "{}", file.display());
        // The reason (logged by the module; printed by the CLI) says what the file is.
        let e = hsmsim::estate::resolve_config(&Choice {
            lab_file: Some(file.clone()),
            host: None,
            state_dir: None,
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains(why), "{}: {e}", file.display());
        assert!(e.contains("not a regular file") || e.contains("MiB"), "{e}");
    }
    // SAFETY: null is the valid argument.
    let rv = unsafe { C_Finalize(null_mut()) };
    assert_eq!(rv, CKR_CRYPTOKI_NOT_INITIALIZED);
}

#[test]
fn a_ped_key_file_that_is_not_a_regular_file_is_refused_promptly() {
    let root = tempfile::tempdir().unwrap();
    let conf = root.path().join("lab.toml");
    std::fs::write(&conf, LAB).unwrap();
    let files = bad_files(root.path());
    let fifo = files.last().unwrap().0.clone();
    let _serial = environment(&conf, None);
    // SAFETY: null requests default locking.
    assert_eq!(unsafe { C_Initialize(null_mut()) }, CKR_OK);
    let s = open_session(1, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    for (file, _) in files {
        // SAFETY: SERIAL is held.
        unsafe { std::env::set_var("HSMSIM_PED_KEYS", format!("black={}", file.display())) };
        let rv = bounded(
            &fifo,
            &format!("C_Login with {}", file.display()),
            move || login(s, CKU_USER, b""),
        );
        assert_eq!(rv, CKR_DEVICE_ERROR, "{}", file.display());
    }
    // The lab's own key still logs in.
    // SAFETY: SERIAL is held.
    unsafe { std::env::remove_var("HSMSIM_PED_KEYS") };
    assert_eq!(login(s, CKU_USER, b""), CKR_OK);
    // SAFETY: null is the valid argument.
    assert_eq!(unsafe { C_Finalize(null_mut()) }, CKR_OK);
}
