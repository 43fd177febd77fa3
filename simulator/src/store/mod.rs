//! The persistent store: one SQLite database per lab (WAL mode, busy timeout) holding token
//! records, token objects and the items devices hold besides their tokens (`device_items`:
//! vendor JSON such as a Primus device's cards), every multi-step change in one transaction.
//! Tokens are keyed by their partition ("device/partition"), not by slot: slot ids are a
//! host's view.
//!
//! Objects are stored as their public attributes (postcard) plus their sealed secrets (see
//! `seal`). Every change also appends a row to `changes` naming the token and object it touched
//! and the writer (one id per open store): other processes notice new commits through
//! `PRAGMA data_version` and read only the changes since the last one they saw.
//!
//! The schema is versioned (`meta.schema_version`); `open` migrates older stores in one
//! transaction and refuses newer ones. A file that is not a store this build can use (empty,
//! not SQLite, another program's database — hsmsim's stores carry SQLite application id
//! `APPLICATION_ID` — a newer schema, damaged) is refused unchanged with a `Refusal` naming the
//! fix (`lab reset --yes`, which moves it aside); a new store is built under a temporary name
//! and linked into place, so no process ever sees a half-made one. A damaged object record is
//! left out (logged), never failing its partition. A store whose directory or file is not
//! writable (or `HSMSIM_READ_ONLY=1`) opens read-only: writes answer
//! `CKR_TOKEN_WRITE_PROTECTED`. A full disk answers `CKR_DEVICE_MEMORY` (the transaction rolls
//! back). Snapshots: `save_to` (SQLite's online backup) and `restore_from` (one write; other
//! processes see their tokens replaced).
//!
//! By topic: `opening` (modes, refusals, new stores), `schema` (versions, migrations),
//! `tokens` (token records, device policies), `objects`, `device_items` (cards, credentials:
//! JSON the store does not interpret), `changes` (the change log),
//! `records` (what a token record holds), `connection` (the SQLite connection and `fork`).
mod changes;
pub mod connection;
mod device_items;
mod objects;
mod opening;
pub mod records;
mod schema;
mod tokens;

use crate::base::attribute::{AttrValue, Attributes};
use crate::base::error::{Result, err};
pub use crate::base::ids::{DeviceId, PartitionId};
use crate::base::secrets::seal::{PIN_SEAL_FORMAT, TokenKey, is_sealed, object_binding};
use crate::store::records::{Incarnation, LegacyPinVerifier, TokenRecord};
use changes::*;
pub use changes::{Changed, Changes};
use cryptoki_sys::*;
pub use device_items::DeviceItems;
use device_items::device_item_problems;
use objects::*;
pub use objects::{object_name, seal_object};
use opening::*;
pub use opening::{READ_ONLY_VARIABLE, Refusal};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use schema::*;
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokens::*;

/// The database file inside a lab's state directory.
pub const DB_FILE: &str = "hsmsim.sqlite";

pub struct Store {
    /// The connection (closed before a fork, reopened on next use: see `connection`).
    conn: crate::store::connection::Shared,
    path: PathBuf,
    /// This store handle's id in the change log.
    writer: i64,
    /// Opened read-only (`read_only_reason`): every write answers `CKR_TOKEN_WRITE_PROTECTED`.
    read_only: bool,
}

/// The WAL-index header: the first 48 bytes of the `-shm` file, which SQLite rewrites on every
/// commit (its `iChange` counter, frame count, salts and checksums; sqlite.org/walformat.html).
pub type WalHeader = [u8; 48];

/// A token as stored: its record and whether its partition exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub record: TokenRecord,
    /// False once the partition was removed; the slots that show it have no token.
    pub present: bool,
}

/// A token object as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub unique_id: Vec<u8>,
    pub public: Attributes,
    pub sealed: Option<Vec<u8>>,
}

fn db_err(e: rusqlite::Error) -> crate::base::error::Error {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly) {
        return err(CKR_TOKEN_WRITE_PROTECTED, READ_ONLY_SENTENCE);
    }
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
        return err(CKR_DEVICE_MEMORY, DISK_FULL_SENTENCE);
    }
    err(CKR_DEVICE_ERROR, format!("the hsmsim store failed: {e}"))
}

fn damaged(what: impl std::fmt::Display) -> crate::base::error::Error {
    err(
        CKR_DEVICE_ERROR,
        format!("the hsmsim store holds a damaged record: {what}"),
    )
}

/// The PIN seals of a token record that cannot belong to it: written for another generation
/// of the token (a PIN set across a re-initialisation), or in a format this build does not
/// know. Format-0 seals do not say their generation and pass.
fn seal_problems(token: &str, record: &TokenRecord) -> Vec<String> {
    let mut problems = Vec::new();
    for (user, role) in &record.roles {
        for (what, seal) in [
            ("PIN seal", &role.seal),
            ("challenge seal", &role.challenge),
        ] {
            let Some(seal) = seal else { continue };
            if seal.format > PIN_SEAL_FORMAT {
                problems.push(format!(
                    "token {token}: the {what} of user type 0x{user:X} has unknown format {}",
                    seal.format
                ));
            } else if seal.belongs_to(record.generation) == Some(false) {
                problems.push(format!(
                    "token {token}: the {what} of user type 0x{user:X} belongs to token generation \
                     {:016x}, not to the token's generation {:016x} (a PIN written across a \
                     re-initialisation: re-initialise the token or set that PIN again)",
                    seal.generation.unwrap_or_default(),
                    record.generation
                ));
            }
        }
    }
    problems
}

impl Store {
    /// The current WAL-index header, or `None` when it cannot be read (then callers must ask
    /// `data_version`). A header equal to an earlier one means nobody committed in between; a
    /// different one (or a torn read) means someone may have.
    pub fn wal_header(&self) -> Option<WalHeader> {
        let mut header = [0u8; 48];
        self.conn.read_shm(&mut header)?;
        Some(header)
    }

    /// Runs `work` in one write transaction and commits it when `work` succeeds. `BEGIN
    /// IMMEDIATE` takes the write lock up front (waiting for other writers, up to the busy
    /// timeout), so a read-modify-write never fails half-way on a lock upgrade.
    ///
    /// A read-only store runs `work` in a read transaction: reads (and changes that find
    /// nothing to write, such as a login that changes no counter) work; the first write
    /// answers `CKR_TOKEN_WRITE_PROTECTED`.
    fn write<T>(&self, work: impl FnOnce(&Transaction) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.lock()?;
        let tx = conn
            .transaction_with_behavior(if self.read_only {
                rusqlite::TransactionBehavior::Deferred
            } else {
                rusqlite::TransactionBehavior::Immediate
            })
            .map_err(db_err)?;
        let value = work(&tx)?;
        tx.commit().map_err(db_err)?;
        Ok(value)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Copies the whole store into a new database at `dest` (SQLite's online backup: a
    /// consistent copy while other processes keep reading and writing).
    pub fn save_to(&self, dest: &Path) -> Result<()> {
        let conn = self.conn.lock()?;
        conn.backup(
            rusqlite::MAIN_DB,
            dest,
            None::<fn(rusqlite::backup::Progress)>,
        )
        .map_err(db_err)
    }

    /// Replaces the whole store with the snapshot at `snapshot` (a copy `save_to` made), as
    /// one write: processes using the lab see every token replaced (sessions end, slot
    /// events). The snapshot must be of this build's schema or an older one (migrated in the
    /// copy that replaces the store). Its token records get a restart count above both the
    /// snapshot's and the live one's (their incarnation is new to every process), and its
    /// change log gets one change per token and device, numbered after the live log's
    /// newest, so that every process reloads them.
    pub fn restore_from(&self, snapshot: &Path) -> Result<()> {
        if self.read_only {
            return Err(err(CKR_TOKEN_WRITE_PROTECTED, READ_ONLY_SENTENCE));
        }
        if let Some(reason) = unusable_file(snapshot, false) {
            return Err(err(
                CKR_DEVICE_ERROR,
                format!(
                    "the snapshot {} cannot be used: {reason}",
                    snapshot.display()
                ),
            ));
        }
        let (live_restarts, live_devices, last) = {
            let conn = self.conn.lock()?;
            let tokens = read_all_tokens(&conn)?;
            let devices = read_devices(&conn)?;
            let last: i64 = conn
                .query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| {
                    r.get(0)
                })
                .map_err(db_err)?;
            (
                tokens
                    .into_iter()
                    .map(|(t, r)| (t, r.record.restarts))
                    .collect::<BTreeMap<_, _>>(),
                devices,
                last,
            )
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(format!(
            ".{DB_FILE}.restore-{}-{:016x}",
            std::process::id(),
            random_generation()?
        ));
        let done = (|| {
            crate::store::connection::open_read_only(snapshot, false)
                .and_then(|c| {
                    c.backup(
                        rusqlite::MAIN_DB,
                        &tmp,
                        None::<fn(rusqlite::backup::Progress)>,
                    )
                })
                .map_err(db_err)?;
            let mut prepared = Connection::open(&tmp).map_err(db_err)?;
            let version: Option<i64> = prepared
                .query_row(
                    "SELECT value FROM meta WHERE key = 'schema_version'",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            // An older snapshot is migrated in the copy (the snapshot stays as it was).
            if version.is_some_and(|v| v < SCHEMA_VERSION) {
                migrate(&mut prepared, &tmp, false).map_err(|e| e.error)?;
            } else if version != Some(SCHEMA_VERSION) {
                return Err(err(
                    CKR_DEVICE_ERROR,
                    format!(
                        "the snapshot {} is of store schema {}, not this build's {SCHEMA_VERSION}",
                        snapshot.display(),
                        version.map_or("?".into(), |v| v.to_string())
                    ),
                ));
            }
            let tx = prepared.transaction().map_err(db_err)?;
            let tokens = read_all_tokens(&tx)?;
            let mut keys: std::collections::BTreeSet<String> =
                live_restarts.keys().cloned().collect();
            for (token, mut row) in tokens {
                let live = live_restarts.get(&token).copied().unwrap_or(0);
                row.record.restarts = live.max(row.record.restarts).wrapping_add(1);
                write_record(&tx, &token, &row.record)?;
                tx.execute(
                    "UPDATE tokens SET present = ?2 WHERE token = ?1",
                    params![token, row.present],
                )
                .map_err(db_err)?;
                keys.insert(token);
            }
            for device in live_devices.iter().chain(read_devices(&tx)?.iter()) {
                keys.insert(device_change_key(device));
            }
            // Numbered well after the live log's newest (processes may have seen a few more
            // changes since it was read); writer -1 is no store's.
            for (seq, key) in (last + 1 + CHANGES_KEPT..).zip(keys) {
                tx.execute(
                    "INSERT INTO changes (seq, token, unique_id, writer) VALUES (?1, ?2, NULL, -1)",
                    params![seq, key],
                )
                .map_err(db_err)?;
            }
            tx.commit().map_err(db_err)?;
            prepared
                .pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(db_err)?;
            let mut live = self.conn.lock()?;
            let backup = rusqlite::backup::Backup::new(&prepared, &mut live).map_err(db_err)?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                // All pages in one step: one write of the live store.
                match backup.step(-1).map_err(db_err)? {
                    rusqlite::backup::StepResult::Done => break,
                    _ if std::time::Instant::now() < deadline => {
                        std::thread::sleep(std::time::Duration::from_millis(20))
                    }
                    _ => {
                        return Err(err(
                            CKR_DEVICE_ERROR,
                            "the store stayed busy for 30 s: the snapshot was not restored",
                        ));
                    }
                }
            }
            Ok(())
        })();
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(sibling(&tmp, suffix));
        }
        done
    }

    /// Opened read-only: writes answer `CKR_TOKEN_WRITE_PROTECTED`.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Soundness problems: SQLite's integrity check, then every record and object decoding,
    /// PIN seals that belong to another generation of their token (or are of an unknown
    /// format), objects of unknown tokens, objects without their class, and device items
    /// that are not JSON. Empty when sound.
    pub fn check(&self) -> Result<Vec<String>> {
        let conn = self.conn.lock()?;
        let mut problems: Vec<String> = conn
            .prepare("PRAGMA integrity_check")
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(db_err)?
            .into_iter()
            .filter(|line| line != "ok")
            .collect();
        let mut tokens = conn
            .prepare("SELECT token, record FROM tokens")
            .map_err(db_err)?;
        let mut known = std::collections::BTreeSet::new();
        for row in tokens
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(db_err)?
        {
            let (token, record) = row.map_err(db_err)?;
            match serde_json::from_str::<TokenRecord>(&record) {
                Err(e) => problems.push(format!("token {token}: record does not decode: {e}")),
                Ok(record) => problems.extend(seal_problems(&token, &record)),
            }
            known.insert(token);
        }
        let mut objects = conn
            .prepare("SELECT unique_id, token, public, sealed FROM objects")
            .map_err(db_err)?;
        for row in objects
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    blobs(r.get_ref(2)?, r.get_ref(3)?),
                ))
            })
            .map_err(db_err)?
        {
            let (uid, token, blobs) = row.map_err(db_err)?;
            let (public, sealed) = match blobs {
                Ok(b) => b,
                Err(e) => {
                    problems.push(format!(
                        "{} is damaged: {e}",
                        object_name(&token, &uid, None)
                    ));
                    continue;
                }
            };
            if !known.contains(&token) {
                problems.push(format!(
                    "{}: its token does not exist",
                    object_name(&token, &uid, None)
                ));
            }
            match decode(&public) {
                Err(e) => problems.push(format!(
                    "{}: its public attributes do not decode (damaged): {}",
                    object_name(&token, &uid, None),
                    e.detail
                )),
                Ok(attrs) => {
                    let name = object_name(&token, &uid, Some(&attrs));
                    let Some(class) = attrs.ulong(CKA_CLASS) else {
                        problems.push(format!("{name}: no CKA_CLASS"));
                        continue;
                    };
                    if attrs.bytes(CKA_UNIQUE_ID) != Some(uid.as_bytes()) {
                        problems.push(format!("{name}: CKA_UNIQUE_ID differs from its row"));
                    }
                    let has_secrets = matches!(class, CKO_SECRET_KEY | CKO_PRIVATE_KEY);
                    if has_secrets && sealed.as_ref().is_none_or(|s| s.len() < 28) {
                        problems.push(format!("{name}: key without its sealed value"));
                    }
                }
            }
        }
        problems.extend(device_item_problems(&conn)?);
        Ok(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hsm_a() -> PartitionId {
        DeviceId::new("hsm").partition("a")
    }

    fn key_object(uid: &[u8], value: &[u8]) -> Attributes {
        let mut a = Attributes::new();
        a.set_ulong(CKA_CLASS, CKO_SECRET_KEY);
        a.set_bytes(CKA_LABEL, b"k1".to_vec());
        a.set_bytes(CKA_UNIQUE_ID, uid.to_vec());
        a.set_bytes(CKA_VALUE, value.to_vec());
        a
    }

    #[test]
    fn objects_survive_reopen_sealed_and_reinit_clears_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let row = store
            .ensure_token(&hsm_a(), || Ok(TokenRecord::uninitialized(&hsm_a())))
            .unwrap();
        let key = TokenKey::generate().unwrap();
        let attrs = key_object(b"uid-1", &[0x42; 32]);
        let (public, sealed) = seal_object(&hsm_a(), &attrs, Some(&key)).unwrap();
        assert!(public.get(CKA_VALUE).is_none());
        store
            .insert_objects(
                &hsm_a(),
                row.record.incarnation(),
                &[StoredObject {
                    unique_id: b"uid-1".to_vec(),
                    public: public.clone(),
                    sealed: sealed.clone(),
                }],
            )
            .unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let objects = store.objects(&hsm_a()).unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].public, public);
        let secrets = key
            .open_secrets(
                &object_binding("hsm/a", b"uid-1"),
                objects[0].sealed.as_ref().unwrap(),
            )
            .unwrap();
        assert_eq!(secrets.bytes(CKA_VALUE), Some(&[0x42; 32][..]));
        assert!(store.objects(&"hsm/b".parse().unwrap()).unwrap().is_empty());
        assert!(store.check().unwrap().is_empty());
        let rec = TokenRecord::uninitialized(&hsm_a());
        store
            .reinitialize_token(&hsm_a(), |_| Ok(()), &rec)
            .unwrap();
        assert!(store.objects(&hsm_a()).unwrap().is_empty());
    }

    #[test]
    fn objects_go_only_into_the_token_incarnation_they_were_sealed_for() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut record = TokenRecord::uninitialized(&hsm_a());
        record.generation = 1;
        store.ensure_token(&hsm_a(), || Ok(record.clone())).unwrap();
        let sealed_for = record.incarnation();
        // Another process re-initialises the token.
        record.generation = 2;
        store
            .reinitialize_token(&hsm_a(), |_| Ok(()), &record)
            .unwrap();
        let key = TokenKey::generate().unwrap();
        let (public, sealed) =
            seal_object(&hsm_a(), &key_object(b"uid-1", &[1; 16]), Some(&key)).unwrap();
        let object = StoredObject {
            unique_id: b"uid-1".to_vec(),
            public,
            sealed,
        };
        let refused = store
            .insert_objects(&hsm_a(), sealed_for, std::slice::from_ref(&object))
            .unwrap_err();
        assert_eq!(refused.rv, CKR_SESSION_CLOSED);
        assert!(store.objects(&hsm_a()).unwrap().is_empty());
        // A restart is another incarnation too.
        record.restarts = 1;
        store
            .update_token(&hsm_a(), |r| {
                r.restarts = 1;
                Ok(((), true))
            })
            .unwrap();
        assert!(
            store
                .insert_objects(
                    &hsm_a(),
                    TokenRecord {
                        restarts: 0,
                        ..record.clone()
                    }
                    .incarnation(),
                    std::slice::from_ref(&object)
                )
                .is_err()
        );
        store
            .insert_objects(&hsm_a(), record.incarnation(), &[object])
            .unwrap();
        assert_eq!(store.objects(&hsm_a()).unwrap().len(), 1);
    }

    #[test]
    fn a_key_without_the_token_key_is_refused() {
        let attrs = key_object(b"uid-1", &[1; 16]);
        assert_eq!(
            seal_object(&hsm_a(), &attrs, None).unwrap_err().rv,
            CKR_USER_NOT_LOGGED_IN
        );
    }

    #[test]
    fn other_writers_changes_are_listed_and_own_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(dir.path()).unwrap();
        let b = Store::open(dir.path()).unwrap();
        let start = a.last_change().unwrap();
        let version = a.data_version().unwrap();
        b.ensure_token(&hsm_a(), || Ok(TokenRecord::uninitialized(&hsm_a())))
            .unwrap();
        assert_ne!(a.data_version().unwrap(), version);
        let changes = a.changes_since(start).unwrap();
        assert_eq!(changes.items, vec![Changed::Token(hsm_a())]);
        assert!(b.changes_since(start).unwrap().items.is_empty());
        assert!(!changes.truncated);
    }

    #[test]
    fn a_schema_1_store_migrates_with_its_objects_sealed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.execute_batch(
                r#"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                   INSERT INTO meta VALUES ('schema_version', 1);
                   CREATE TABLE tokens (token TEXT PRIMARY KEY, record TEXT NOT NULL);
                   CREATE TABLE objects (unique_id TEXT PRIMARY KEY, token TEXT NOT NULL,
                                         attributes TEXT NOT NULL);
                   CREATE INDEX objects_by_token ON objects(token);
                   INSERT INTO tokens VALUES ('hsm/a', '{"label":"old","serial":"0000000000000001",
                     "initialized":true,"so_pin":null,"user_pin":null,"so_failures":0,
                     "user_failures":2,"next_object":7}');
                   INSERT INTO objects VALUES ('u1', 'hsm/a',
                     '{"0":{"Bytes":[4,0,0,0,0,0,0,0]},"17":{"Bytes":[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9]}}');"#,
            )
            .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let app_id: i32 = store
            .conn
            .lock()
            .unwrap()
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .unwrap();
        assert_eq!(app_id, APPLICATION_ID, "an old store gets hsmsim's id");
        let row = store.token(&hsm_a()).unwrap().unwrap();
        assert_eq!(row.record.label, "old");
        assert_eq!(row.record.failures(CKU_USER), 2);
        let key = TokenKey::from_bytes(row.record.migration_key.as_deref().unwrap()).unwrap();
        let objects = store.objects(&hsm_a()).unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].public.ulong(CKA_CLASS), Some(CKO_SECRET_KEY));
        assert!(objects[0].public.get(CKA_VALUE).is_none());
        let secrets = key
            .open_secrets(
                &object_binding("hsm/a", b"u1"),
                objects[0].sealed.as_ref().unwrap(),
            )
            .unwrap();
        assert_eq!(secrets.bytes(CKA_VALUE), Some(&[9u8; 16][..]));
        drop(store);
        // Opening again does not migrate twice.
        assert_eq!(
            Store::open(dir.path())
                .unwrap()
                .objects(&hsm_a())
                .unwrap()
                .len(),
            1
        );
    }
}
