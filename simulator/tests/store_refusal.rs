//! Process tests: a state file that is not an hsmsim store this build can use — empty (0
//! bytes), not SQLite, another program's SQLite database (its own tables, or another
//! application id), a store of a newer schema — is refused by `C_Initialize` with
//! `CKR_DEVICE_ERROR` and the reason logged (naming the file, what is wrong and the fix), and
//! is left byte for byte unchanged; `estate::reset` (what `hsmsim lab reset --yes` runs)
//! moves it aside and the module then starts.
use cryptoki_sys::*;
use hsmsim::estate;
use hsmsim::estate::Choice;
use std::path::{Path, PathBuf};
use std::process::Command;

const WORKER: &str = "HSMSIM_TEST_REFUSAL_WORKER";

/// In a child: `C_Initialize` once, its return value printed as `@@rv <n>`.
#[test]
fn worker() {
    if std::env::var_os(WORKER).is_none() {
        return;
    }
    // SAFETY: a null argument is allowed.
    let rv = unsafe { hsmsim::pkcs11::C_Initialize(std::ptr::null_mut()) };
    println!("\n@@rv {rv}");
    if rv == CKR_OK {
        // SAFETY: initialised just above.
        unsafe { hsmsim::pkcs11::C_Finalize(std::ptr::null_mut()) };
    }
}

/// `C_Initialize` in a child process on the lab `conf`: its return value and stderr (the
/// module's log at level error).
fn initialize(conf: &Path) -> (CK_RV, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "worker", "--nocapture", "--test-threads=1"])
        .env(WORKER, "1")
        .env("HSMSIM_CONF", conf)
        .env("HSMSIM_LOG", "error")
        .env("HSMSIM_PIN_KDF_ITERATIONS", "10000")
        .env_remove("HSMSIM_STATE_DIR")
        .env_remove("HSMSIM_LAB")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rv = stdout
        .lines()
        .find_map(|l| l.split_once("@@rv ").map(|(_, rv)| rv.trim()))
        .unwrap_or_else(|| panic!("no return value: {stdout}"))
        .parse()
        .unwrap();
    (rv, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn db(dir: &Path) -> PathBuf {
    dir.join(hsmsim::store::DB_FILE)
}

/// Replaces the lab's store with `bytes` (its -wal and -shm removed).
fn replace_store(dir: &Path, bytes: &[u8]) {
    for suffix in ["-wal", "-shm"] {
        let mut p = db(dir).into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    std::fs::write(db(dir), bytes).unwrap();
}

/// An SQLite database made by `sql`, as bytes.
fn sqlite_bytes(sql: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(sql).unwrap();
    drop(conn);
    std::fs::read(path).unwrap()
}

/// A real store of this build with its schema version raised to 99.
fn newer_store_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    estate::init_from_fixture("default", dir.path(), false).unwrap();
    let conn = rusqlite::Connection::open(db(dir.path())).unwrap();
    conn.execute(
        "UPDATE meta SET value = 99 WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    drop(conn);
    std::fs::read(db(dir.path())).unwrap()
}

#[test]
fn unusable_stores_are_refused_unchanged_and_reset_moves_them_aside() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("zero bytes", Vec::new(), "it is empty (0 bytes)"),
        (
            "not SQLite",
            b"hello, this is not a database at all, not even close".to_vec(),
            "not an SQLite database",
        ),
        (
            "another program's tables",
            sqlite_bytes("CREATE TABLE invoices (id INTEGER, total REAL);"),
            "another program's SQLite database (its tables: invoices",
        ),
        (
            "another application id",
            sqlite_bytes(
                "PRAGMA application_id = 1234; CREATE TABLE meta (k, v); CREATE TABLE tokens (t);",
            ),
            "application_id 0x000004D2",
        ),
        (
            "an empty SQLite database",
            sqlite_bytes("PRAGMA user_version = 0;"),
            "without tables",
        ),
        (
            "a newer schema",
            newer_store_bytes(),
            "written by a newer hsmsim (store schema 99",
        ),
    ];
    for (case, bytes, reason) in cases {
        let dir = tempfile::tempdir().unwrap();
        let conf = estate::init_from_fixture("default", dir.path(), false).unwrap();
        assert_eq!(initialize(&conf).0, CKR_OK, "{case}: the fresh lab starts");
        replace_store(dir.path(), &bytes);

        let (rv, log) = initialize(&conf);
        assert_eq!(rv, CKR_DEVICE_ERROR, "{case}: {log}");
        let file = db(dir.path()).display().to_string();
        for wanted in [
            file.as_str(),
            reason,
            "hsmsim lab reset --yes",
            "left unchanged",
        ] {
            assert!(log.contains(wanted), "{case}: {wanted:?} not in {log}");
        }
        assert_eq!(
            std::fs::read(db(dir.path())).unwrap(),
            bytes,
            "{case}: the file is unchanged"
        );

        // `lab check` reports it; `lab reset` moves it aside, intact, and starts afresh.
        let selection = estate::select(&Choice {
            lab_file: Some(conf.clone()),
            host: None,
            state_dir: None,
        })
        .unwrap();
        let problems = estate::check(&selection).unwrap();
        assert!(
            problems.len() == 1 && problems[0].contains(reason),
            "{case}: {problems:?}"
        );
        let moved = estate::reset(&selection)
            .unwrap()
            .unwrap_or_else(|| panic!("{case}: nothing moved aside"));
        assert!(moved.starts_with(dir.path()), "{case}: {}", moved.display());
        assert_eq!(std::fs::read(&moved).unwrap(), bytes, "{case}: kept aside");
        assert!(estate::check(&selection).unwrap().is_empty(), "{case}");
        assert_eq!(initialize(&conf).0, CKR_OK, "{case}: the reset lab starts");
        // A sound store is not moved by a reset.
        assert_eq!(estate::reset(&selection).unwrap(), None, "{case}");
    }
}

/// Many processes opening a lab whose store does not exist yet all succeed: a new store is
/// made complete under another name and linked into place, so none sees a half-made (empty)
/// file and refuses it.
#[test]
fn concurrent_first_opens_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let conf = estate::init_from_fixture("default", dir.path(), false).unwrap();
    for _ in 0..3 {
        std::fs::remove_file(db(dir.path())).unwrap();
        let children: Vec<_> = (0..6)
            .map(|_| {
                let conf = conf.clone();
                std::thread::spawn(move || initialize(&conf))
            })
            .collect();
        for c in children {
            let (rv, log) = c.join().unwrap();
            assert_eq!(rv, CKR_OK, "{log}");
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".new-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
