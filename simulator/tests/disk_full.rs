//! Through the C ABI: a write the disk cannot take answers `CKR_DEVICE_MEMORY` and loses
//! nothing already acknowledged. A full disk is simulated with SQLite's `PRAGMA
//! max_page_count` (`HSMSIM_STORE_MAX_PAGES`, a simulator-defined test hook: mounting a tiny
//! tmpfs needs root), which makes SQLite answer SQLITE_FULL exactly as on a full disk.
mod common;

use common::*;
use cryptoki_sys::*;

fn data_object(s: CK_SESSION_HANDLE, label: &str) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, true)
            .bytes(CKA_LABEL, label.as_bytes())
            .bytes(CKA_VALUE, &[0x5A; 3000]),
    )
}

fn count(s: CK_SESSION_HANDLE, label: &str) -> usize {
    find(s, Template::new().bytes(CKA_LABEL, label.as_bytes())).len()
}

#[test]
fn a_full_disk_answers_device_memory_and_keeps_what_was_acknowledged() {
    let lab = Lab::new();
    let s = lab.user_session();
    data_object(s, "first").unwrap();
    let db = lab.dir.path().join(hsmsim::store::DB_FILE);
    let pages: u32 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    lab.set_env(
        hsmsim::store::connection::MAX_PAGES_VARIABLE,
        &(pages + 6).to_string(),
    );
    lab.restart();
    let s = lab.user_session();
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for i in 0..200 {
        let label = format!("obj-{i}");
        match data_object(s, &label) {
            Ok(_) => acknowledged.push(label),
            Err(rv) => {
                refused = Some((label, rv));
                break;
            }
        }
    }
    let (failed, rv) = refused.expect("the size limit is reached");
    assert_eq!(rv, CKR_DEVICE_MEMORY);
    assert!(!acknowledged.is_empty(), "some writes fit before the limit");
    assert_eq!(count(s, &failed), 0, "the refused object is not there");
    // Reads still work; another write still fails cleanly.
    assert_eq!(count(s, "first"), 1);
    assert_eq!(data_object(s, "again").unwrap_err(), CKR_DEVICE_MEMORY);

    // Space again (the limit lifted), as a new process: everything acknowledged is there.
    // SAFETY: this test holds the lab's lock on the environment.
    unsafe { std::env::remove_var(hsmsim::store::connection::MAX_PAGES_VARIABLE) };
    lab.restart();
    let s = lab.user_session();
    assert_eq!(count(s, "first"), 1);
    for label in &acknowledged {
        assert_eq!(count(s, label), 1, "{label} was acknowledged");
    }
    assert_eq!(count(s, &failed), 0);
    assert_eq!(count(s, "again"), 0);
    let store = hsmsim::store::Store::open(lab.dir.path()).unwrap();
    assert!(store.check().unwrap().is_empty());
    drop(store);
    data_object(s, "after").unwrap();
    assert_eq!(count(s, "after"), 1);
}
