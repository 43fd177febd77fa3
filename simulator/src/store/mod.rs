//! The persistent store: one SQLite database per lab (WAL mode, busy timeout) holding token
//! records and token objects, every multi-step change in one transaction. Tokens are keyed by
//! their partition ("device/partition"), not by slot: slot ids are a host's view.
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
pub mod connection;
pub mod records;

use crate::base::attribute::{AttrValue, Attributes};
use crate::base::error::{Result, err};
use crate::base::secrets::seal::{PIN_SEAL_FORMAT, TokenKey, is_sealed, object_binding};
use crate::store::records::{Incarnation, LegacyPinVerifier, TokenRecord};
use cryptoki_sys::*;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The schema version this build writes. 3: token records may hold format-1 PIN seals (bound
/// to the token generation, with their KDF parameters), which a schema-2 build would take for
/// wrong PINs; the tables are schema 2's.
pub const SCHEMA_VERSION: i64 = 3;
/// The database file inside a lab's state directory.
pub const DB_FILE: &str = "hsmsim.sqlite";
/// How many change rows are kept; a process that falls further behind reloads its tokens.
const CHANGES_KEPT: i64 = 50_000;

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

/// What changed since a point in the change log, other writers' changes only.
#[derive(Debug, Default)]
pub struct Changes {
    /// The newest change sequence number seen.
    pub last: i64,
    /// Some changes were pruned before they were read: reload everything.
    pub truncated: bool,
    /// (token, object unique id; `None` for the token record itself).
    pub items: Vec<(String, Option<Vec<u8>>)>,
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

/// What a write answers when the disk (or the store's size limit) is full: the transaction
/// rolled back, so nothing of it was written and every earlier commit stands.
pub(crate) const DISK_FULL_SENTENCE: &str = "the disk holding the lab's state is full: \
    nothing of this change was written (earlier changes are kept); free some space and retry";

/// What a write to a read-only store answers.
const READ_ONLY_SENTENCE: &str = "the lab's state is read-only (its state directory or store \
    file is not writable, or HSMSIM_READ_ONLY=1): nothing was changed";

/// The environment variable that opens every store read-only (simulator-defined; "1").
pub const READ_ONLY_VARIABLE: &str = "HSMSIM_READ_ONLY";

/// How the store in `dir` (the database `path`) must be opened: read-only when
/// `HSMSIM_READ_ONLY=1`, when the file exists and cannot be opened for writing, or when the
/// directory does not take a new file (then also immutable: SQLite cannot make its `-shm`
/// file there). Probed by trying (opening the file for writing without changing it; creating
/// and removing a probe file), so it holds for root and for read-only mounts alike.
fn open_mode(dir: &Path, path: &Path) -> crate::store::connection::Mode {
    use crate::store::connection::Mode;
    let refused = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
        )
    };
    let probe = dir.join(format!(".hsmsim-write-probe-{}", std::process::id()));
    let dir_writable = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            true
        }
        Err(e) => !refused(&e),
    };
    if !dir_writable {
        return Mode::ReadOnly { immutable: true };
    }
    let file_writable = match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(_) => true,
        Err(e) => !refused(&e),
    };
    let forced = std::env::var(READ_ONLY_VARIABLE).is_ok_and(|v| v == "1");
    if forced || !file_writable {
        Mode::ReadOnly { immutable: false }
    } else {
        Mode::ReadWrite
    }
}

fn damaged(what: impl std::fmt::Display) -> crate::base::error::Error {
    err(
        CKR_DEVICE_ERROR,
        format!("the hsmsim store holds a damaged record: {what}"),
    )
}

fn encode(attrs: &Attributes) -> Result<Vec<u8>> {
    postcard::to_stdvec(attrs).map_err(damaged)
}

fn decode(bytes: &[u8]) -> Result<Attributes> {
    postcard::from_bytes(bytes).map_err(damaged)
}

/// "partition P, object U (label "L")": how problems and logs name a stored object.
pub fn object_name(token: &str, uid: &str, public: Option<&Attributes>) -> String {
    let label = public
        .and_then(|p| p.bytes(CKA_LABEL))
        .map(|l| format!(" (label \"{}\")", String::from_utf8_lossy(l)))
        .unwrap_or_default();
    format!("partition {token}, object {uid}{label}")
}

/// An object record's public attributes, or `None` (logged) when they do not decode, or
/// decode without a `CKA_CLASS` or with another `CKA_UNIQUE_ID` than their row's.
fn decoded_or_logged(token: &str, uid: &str, public: &[u8]) -> Option<Attributes> {
    match decode(public) {
        Ok(attrs)
            if attrs.ulong(CKA_CLASS).is_some()
                && attrs.bytes(CKA_UNIQUE_ID) == Some(uid.as_bytes()) =>
        {
            Some(attrs)
        }
        Ok(_) => {
            tracing::error!(
                target: "hsmsim::store",
                "{} is damaged and left out (run `hsmsim lab check`): no CKA_CLASS, or another \
                 CKA_UNIQUE_ID than its row's",
                object_name(token, uid, None),
            );
            None
        }
        Err(e) => {
            tracing::error!(
                target: "hsmsim::store",
                "{} is damaged and left out (run `hsmsim lab check`): {}",
                object_name(token, uid, None),
                e.detail
            );
            None
        }
    }
}

/// An object row's `public` and `sealed` columns, or why they are not blobs (a damaged row).
#[allow(clippy::type_complexity)]
fn blobs(
    public: rusqlite::types::ValueRef,
    sealed: rusqlite::types::ValueRef,
) -> std::result::Result<(Vec<u8>, Option<Vec<u8>>), String> {
    use rusqlite::types::ValueRef;
    let public = match public {
        ValueRef::Blob(b) => b.to_vec(),
        other => {
            return Err(format!(
                "its public attributes are {:?}, not a blob",
                other.data_type()
            ));
        }
    };
    let sealed = match sealed {
        ValueRef::Null => None,
        ValueRef::Blob(b) => Some(b.to_vec()),
        other => {
            return Err(format!(
                "its sealed value is {:?}, not a blob",
                other.data_type()
            ));
        }
    };
    Ok((public, sealed))
}

fn uid_text(uid: &[u8]) -> String {
    String::from_utf8_lossy(uid).into_owned()
}

fn log_change(tx: &Transaction, token: &str, uid: Option<&[u8]>, writer: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO changes (token, unique_id, writer) VALUES (?1, ?2, ?3)",
        params![token, uid.map(uid_text), writer],
    )
    .map_err(db_err)?;
    let seq = tx.last_insert_rowid();
    if seq % 1_000 == 0 {
        tx.execute("DELETE FROM changes WHERE seq <= ?1", [seq - CHANGES_KEPT])
            .map_err(db_err)?;
    }
    Ok(())
}

/// Splits an object's attributes into its public part and its sealed part (sealed under
/// `key`, bound to the object). `CKR_USER_NOT_LOGGED_IN` when it has secrets and the token key
/// is not unlocked.
pub fn seal_object(
    token: &str,
    attrs: &Attributes,
    key: Option<&TokenKey>,
) -> Result<(Attributes, Option<Vec<u8>>)> {
    let class = attrs.ulong(CKA_CLASS).unwrap_or(CKO_DATA);
    let mut public = attrs.clone();
    let secrets = public.split_off_where(|t| is_sealed(class, t));
    if secrets.is_empty() {
        return Ok((public, None));
    }
    let key = key.ok_or_else(|| {
        err(
            CKR_USER_NOT_LOGGED_IN,
            "log in once in this process to unlock the token's key before storing key values \
             (simulator-defined: values are encrypted at rest under a PIN-sealed token key)",
        )
    })?;
    let uid = attrs.bytes(CKA_UNIQUE_ID).unwrap_or_default();
    let sealed = key.seal_secrets(&object_binding(token, uid), &secrets)?;
    Ok((public, Some(sealed)))
}

impl Store {
    /// Opens (creating or migrating if needed) the store in `dir`. A file there that is not
    /// an hsmsim store this build can use (empty, not SQLite, another program's database, a
    /// newer schema, damaged) is refused with `CKR_DEVICE_ERROR`, a sentence naming the file,
    /// what is wrong and the fix (`Refusal`), and is never changed.
    pub fn open(dir: &Path) -> Result<Store> {
        Store::open_or_refusal(dir)?.map_err(|r| err(CKR_DEVICE_ERROR, r.to_string()))
    }

    /// As `open`, but a store file that cannot be used is an `Ok(Err(refusal))` (other
    /// failures, such as an unwritable directory, are errors).
    pub fn open_or_refusal(dir: &Path) -> Result<std::result::Result<Store, Refusal>> {
        crate::base::files::create_private_dir_all(dir).map_err(|e| {
            err(
                CKR_DEVICE_ERROR,
                format!("cannot create the state directory {}: {e}", dir.display()),
            )
        })?;
        let path = dir.join(DB_FILE);
        let refusal = |reason: String| Refusal {
            path: path.clone(),
            reason,
        };
        let mode = open_mode(dir, &path);
        let read_only = mode != crate::store::connection::Mode::ReadWrite;
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && read_only => {
                return Err(err(
                    CKR_TOKEN_WRITE_PROTECTED,
                    format!(
                        "the lab has no state yet ({} does not exist) and its state directory \
                         is read-only (or HSMSIM_READ_ONLY=1): use the lab once from a \
                         writable directory, or run `hsmsim lab init` there",
                        path.display()
                    ),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_fresh(dir, &path)?,
            Err(e) => {
                return Err(err(
                    CKR_DEVICE_ERROR,
                    format!("cannot read the store {}: {e}", path.display()),
                ));
            }
            Ok(_) => {}
        }
        // Anything else than a regular file is refused here.
        crate::base::files::create_private_file(&path).map_err(|e| {
            err(
                CKR_DEVICE_ERROR,
                format!("cannot open the store {}: {e}", path.display()),
            )
        })?;
        let immutable = mode == crate::store::connection::Mode::ReadOnly { immutable: true };
        if let Some(reason) = unusable_file(&path, immutable) {
            return Ok(Err(refusal(reason)));
        }
        let mut refused = None;
        let opened = crate::store::connection::Shared::open(&path, mode, |conn| {
            if read_only {
                return current_schema(conn, &path);
            }
            migrate(conn, &path, false).map_err(|e| {
                if let Some(reason) = e.refusal {
                    refused = Some(reason);
                }
                e.error
            })
        });
        let conn = match opened {
            Ok(conn) => conn,
            Err(_) if refused.is_some() => return Ok(Err(refusal(refused.unwrap_or_default()))),
            Err(e) => match damage_reason(&e) {
                Some(reason) => return Ok(Err(refusal(reason))),
                None => return Err(e),
            },
        };
        let mut writer = [0u8; 8];
        crate::base::random::random_fill(&mut writer)?;
        if read_only {
            tracing::info!(target: "hsmsim::store", "{} opened read-only", path.display());
        }
        Ok(Ok(Store {
            conn,
            path,
            writer: i64::from_ne_bytes(writer) & i64::MAX,
            read_only,
        }))
    }

    /// The fix a refusal names: when the store in `dir` cannot be used, moves it (with its
    /// `-wal` and `-shm` files) aside to `hsmsim.sqlite.damaged-<unix time>` and returns where
    /// it went; `None` when the store is usable or absent. The next `open` creates a fresh one.
    pub fn move_aside_unusable(dir: &Path) -> Result<Option<PathBuf>> {
        if !dir.join(DB_FILE).exists() {
            return Ok(None);
        }
        let refusal = match Store::open_or_refusal(dir)? {
            Ok(_) => return Ok(None),
            Err(refusal) => refusal,
        };
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut aside = dir.join(format!("{DB_FILE}.damaged-{secs}"));
        let mut n = 1;
        while aside.exists() {
            aside = dir.join(format!("{DB_FILE}.damaged-{secs}-{n}"));
            n += 1;
        }
        let moved = |from: &Path, to: &Path| {
            std::fs::rename(from, to).map_err(|e| {
                err(
                    CKR_DEVICE_ERROR,
                    format!("cannot move {} to {}: {e}", from.display(), to.display()),
                )
            })
        };
        for suffix in ["-wal", "-shm"] {
            let side = sibling(&refusal.path, suffix);
            if side.exists() {
                moved(&side, &sibling(&aside, suffix))?;
            }
        }
        moved(&refusal.path, &aside)?;
        tracing::warn!(target: "hsmsim::store", "{} ({}) moved aside to {}", refusal.path.display(), refusal.reason, aside.display());
        Ok(Some(aside))
    }

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
    /// events). The snapshot must be of this build's schema. Its token records get a restart
    /// count above both the snapshot's and the live one's (their incarnation is new to every
    /// process), and its change log gets one change per token and device, numbered after the
    /// live log's newest, so that every process reloads them.
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
            if version != Some(SCHEMA_VERSION) {
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

    /// `PRAGMA data_version`: changes when another connection commits. The connection's
    /// counter starts afresh when it is reopened (after a fork), so the reopen count is
    /// added in: a reopened store always looks changed once.
    pub fn data_version(&self) -> Result<i64> {
        let conn = self.conn.lock()?;
        let version: i64 = conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(db_err)?;
        Ok(version.wrapping_add((self.conn.reopened() as i64) << 32))
    }

    /// The newest change sequence number.
    pub fn last_change(&self) -> Result<i64> {
        self.conn
            .lock()?
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| {
                r.get(0)
            })
            .map_err(db_err)
    }

    /// Other writers' changes after `since`.
    pub fn changes_since(&self, since: i64) -> Result<Changes> {
        let mut conn = self.conn.lock()?;
        let tx = conn.transaction().map_err(db_err)?;
        let oldest: Option<i64> = tx
            .query_row("SELECT MIN(seq) FROM changes", [], |r| r.get(0))
            .map_err(db_err)?;
        let mut out = Changes {
            last: since,
            truncated: oldest.is_some_and(|o| o > since + 1),
            items: Vec::new(),
        };
        {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT seq, token, unique_id, writer FROM changes WHERE seq > ?1 ORDER BY seq",
                )
                .map_err(db_err)?;
            let mut rows = stmt.query([since]).map_err(db_err)?;
            while let Some(row) = rows.next().map_err(db_err)? {
                out.last = row.get(0).map_err(db_err)?;
                let writer: i64 = row.get(3).map_err(db_err)?;
                if writer != self.writer {
                    let uid: Option<String> = row.get(2).map_err(db_err)?;
                    out.items
                        .push((row.get(1).map_err(db_err)?, uid.map(String::into_bytes)));
                }
            }
        }
        tx.commit().map_err(db_err)?;
        Ok(out)
    }

    /// The stored token of a partition, if it was ever created.
    pub fn token(&self, token: &str) -> Result<Option<TokenRow>> {
        read_token(&*self.conn.lock()?, token)
    }

    /// The token of a partition, created with `fresh` if it never existed (atomic across
    /// processes: the first creator wins).
    pub fn ensure_token(
        &self,
        token: &str,
        fresh: impl FnOnce() -> Result<TokenRecord>,
    ) -> Result<TokenRow> {
        if let Some(row) = self.token(token)? {
            return Ok(row);
        }
        let record = fresh()?;
        let text = serde_json::to_string(&record).map_err(damaged)?;
        self.write(|tx| {
            let inserted = tx
                .execute(
                    "INSERT OR IGNORE INTO tokens (token, record, present) VALUES (?1, ?2, 1)",
                    params![token, text],
                )
                .map_err(db_err)?;
            if inserted == 1 {
                log_change(tx, token, None, self.writer)?;
            }
            let row = read_token(tx, token)?.ok_or_else(|| damaged("token vanished"))?;
            Ok(row)
        })
    }

    /// Reads, changes and writes a token record in one write transaction, so concurrent
    /// processes never lose each other's updates (failure counters, PINs). `change` sees the
    /// current record and returns whether to write it.
    pub fn update_token<T>(
        &self,
        token: &str,
        change: impl FnOnce(&mut TokenRecord) -> Result<(T, bool)>,
    ) -> Result<(T, TokenRecord)> {
        self.update_token_erasing(token, |r| {
            let (value, write) = change(r)?;
            Ok((value, write, false))
        })
    }

    /// As `update_token`; `change` also says whether every object of the token goes in the same
    /// transaction (a destructive policy change).
    pub fn update_token_erasing<T>(
        &self,
        token: &str,
        change: impl FnOnce(&mut TokenRecord) -> Result<(T, bool, bool)>,
    ) -> Result<(T, TokenRecord)> {
        self.write(|tx| {
            let mut row = read_token(tx, token)?
                .filter(|r| r.present)
                .ok_or_else(|| err(CKR_TOKEN_NOT_PRESENT, format!("{token} has no token")))?;
            let (value, write, erase) = change(&mut row.record)?;
            if erase {
                erase_objects(tx, "token = ?1", token, self.writer)?;
            }
            if write || erase {
                write_record(tx, token, &row.record)?;
                log_change(tx, token, None, self.writer)?;
            }
            Ok((value, row.record))
        })
    }

    /// Re-initialises a token: every object goes and the new record is written, in one
    /// transaction, after `check` accepted the current record (e.g. the SO PIN).
    pub fn reinitialize_token(
        &self,
        token: &str,
        check: impl FnOnce(&TokenRecord) -> Result<()>,
        record: &TokenRecord,
    ) -> Result<()> {
        self.write(|tx| {
            let current = read_token(tx, token)?
                .filter(|r| r.present)
                .ok_or_else(|| err(CKR_TOKEN_NOT_PRESENT, format!("{token} has no token")))?;
            check(&current.record)?;
            tx.execute("DELETE FROM objects WHERE token = ?1", [token])
                .map_err(db_err)?;
            write_record(tx, token, record)?;
            log_change(tx, token, None, self.writer)?;
            Ok(())
        })
    }

    /// Changes every present token whose name starts with `prefix` (a device's partitions)
    /// with `change`, in one transaction; with `erase` their objects go too (Luna's HSM
    /// zeroisation). Returns the tokens changed.
    pub fn update_tokens(
        &self,
        prefix: &str,
        erase: bool,
        mut change: impl FnMut(&str, &mut TokenRecord) -> Result<()>,
    ) -> Result<Vec<String>> {
        self.write(|tx| {
            let tokens: Vec<String> = tx
                .prepare(
                    "SELECT token FROM tokens WHERE present AND substr(token, 1, length(?1)) = ?1",
                )
                .and_then(|mut s| {
                    s.query_map([prefix], |r| r.get(0))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(db_err)?;
            for token in &tokens {
                let Some(mut row) = read_token(tx, token)? else {
                    continue;
                };
                change(token, &mut row.record)?;
                if erase {
                    tx.execute("DELETE FROM objects WHERE token = ?1", [token])
                        .map_err(db_err)?;
                }
                write_record(tx, token, &row.record)?;
                log_change(tx, token, None, self.writer)?;
            }
            Ok(tokens)
        })
    }

    /// Removes a partition (its token and objects; slots showing it become empty) or adds it
    /// back as a blank token. `CKR_FUNCTION_FAILED` when it already is in that state.
    pub fn set_partition_present(&self, token: &str, present: bool) -> Result<()> {
        self.write(|tx| {
            if read_token(tx, token)?.is_some_and(|r| r.present == present) {
                return Err(err(
                    CKR_FUNCTION_FAILED,
                    format!(
                        "partition {token} is already {}",
                        if present { "present" } else { "removed" }
                    ),
                ));
            }
            tx.execute("DELETE FROM objects WHERE token = ?1", [token])
                .map_err(db_err)?;
            let mut record = TokenRecord::uninitialized(token);
            record.generation = random_generation()?;
            let text = serde_json::to_string(&record).map_err(damaged)?;
            tx.execute(
                "INSERT INTO tokens (token, record, present) VALUES (?1, ?2, ?3)
             ON CONFLICT(token) DO UPDATE SET record = excluded.record, present = excluded.present",
                params![token, text, present],
            )
            .map_err(db_err)?;
            log_change(tx, token, None, self.writer)?;
            Ok(())
        })
    }

    /// Replaces every token with `records` (objects gone) and forgets devices' changed HSM
    /// policies, in one transaction.
    pub fn reset(&self, records: &[(String, TokenRecord)]) -> Result<()> {
        self.write(|tx| {
            let old: Vec<String> = tx
                .prepare("SELECT token FROM tokens")
                .and_then(|mut s| {
                    s.query_map([], |r| r.get(0))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(db_err)?;
            let devices: Vec<String> = tx
                .prepare("SELECT device FROM devices")
                .and_then(|mut s| {
                    s.query_map([], |r| r.get(0))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(db_err)?;
            tx.execute_batch("DELETE FROM objects; DELETE FROM tokens; DELETE FROM devices;")
                .map_err(db_err)?;
            for device in &devices {
                log_change(tx, &device_change_key(device), None, self.writer)?;
            }
            for (token, record) in records {
                write_record(tx, token, record)?;
            }
            for token in old.iter().chain(records.iter().map(|(t, _)| t)) {
                log_change(tx, token, None, self.writer)?;
            }
            Ok(())
        })
    }

    /// HSM policies changed on a device (`CA_SetHSMPolicy`), by id.
    pub fn device_policies(&self, device: &str) -> Result<BTreeMap<u64, u64>> {
        read_device_policies(&*self.conn.lock()?, device)
    }

    /// Changes a device's HSM policies with `change` (which sees the current ones and says
    /// whether the change zeroises the device's partitions), in one transaction: with
    /// `erase`, every object of every partition of the device goes too.
    pub fn update_device_policies(
        &self,
        device: &str,
        change: impl FnOnce(&mut BTreeMap<u64, u64>) -> Result<bool>,
    ) -> Result<(BTreeMap<u64, u64>, bool)> {
        self.write(|tx| {
            let mut policies = read_device_policies(tx, device)?;
            let erase = change(&mut policies)?;
            if erase {
                let prefix = format!("{device}/");
                erase_objects(
                    tx,
                    "substr(token, 1, length(?1)) = ?1",
                    &prefix,
                    self.writer,
                )?;
            }
            let text = serde_json::to_string(&policies).map_err(damaged)?;
            tx.execute(
                "INSERT INTO devices (device, policies) VALUES (?1, ?2)
             ON CONFLICT(device) DO UPDATE SET policies = excluded.policies",
                params![device, text],
            )
            .map_err(db_err)?;
            log_change(tx, &device_change_key(device), None, self.writer)?;
            Ok((policies, erase))
        })
    }

    /// Every token object of a partition, in creation order. A record whose public attributes
    /// do not decode is skipped and logged (simulator-defined: a damaged object is left out,
    /// so it has no handle and using it answers `CKR_OBJECT_HANDLE_INVALID`; the partition's
    /// other objects stay usable; `hsmsim lab check` names it).
    pub fn objects(&self, token: &str) -> Result<Vec<StoredObject>> {
        let conn = self.conn.lock()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT unique_id, public, sealed FROM objects WHERE token = ?1 ORDER BY rowid",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map([token], |r| {
                Ok((r.get::<_, String>(0)?, blobs(r.get_ref(1)?, r.get_ref(2)?)))
            })
            .map_err(db_err)?;
        let mut out = Vec::new();
        for row in rows {
            let (uid, blobs) = row.map_err(db_err)?;
            let (public, sealed) = match blobs {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(target: "hsmsim::store", "{} is damaged and left out (run `hsmsim lab check`): {e}", object_name(token, &uid, None));
                    continue;
                }
            };
            if let Some(public) = decoded_or_logged(token, &uid, &public) {
                out.push(StoredObject {
                    unique_id: uid.into_bytes(),
                    public,
                    sealed,
                });
            }
        }
        Ok(out)
    }

    /// One token object, if it still exists on `token` (a damaged record is logged and
    /// answered as absent, as `objects` leaves it out).
    pub fn object(&self, token: &str, unique_id: &[u8]) -> Result<Option<StoredObject>> {
        let conn = self.conn.lock()?;
        let row: Option<(Vec<u8>, Option<Vec<u8>>)> = conn
            .prepare_cached(
                "SELECT public, sealed FROM objects WHERE unique_id = ?1 AND token = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![uid_text(unique_id), token], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
            })
            .map_err(db_err)?;
        Ok(row.and_then(|(public, sealed)| {
            Some(StoredObject {
                unique_id: unique_id.to_vec(),
                public: decoded_or_logged(token, &uid_text(unique_id), &public)?,
                sealed,
            })
        }))
    }

    /// The sealed values of `token`'s objects that `key` (the token key) does not
    /// authenticate, one sentence each naming the partition, the object's unique id and label.
    pub fn check_sealed(&self, token: &str, key: &TokenKey) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        for o in self.objects(token)? {
            let Some(sealed) = &o.sealed else { continue };
            if let Err(e) = key.open_secrets(&object_binding(token, &o.unique_id), sealed) {
                problems.push(format!(
                    "{}: its sealed key value does not authenticate under the token key \
                     (damaged): {}",
                    object_name(token, &uid_text(&o.unique_id), Some(&o.public)),
                    e.detail
                ));
            }
        }
        Ok(problems)
    }

    /// Writes new token objects, all or none, into the incarnation of the token their secrets
    /// were sealed for: when another process re-initialised (or zeroised, or restarted) the
    /// token meanwhile, nothing is written (`records::replaced_error`).
    pub fn insert_objects(
        &self,
        token: &str,
        incarnation: Incarnation,
        objects: &[StoredObject],
    ) -> Result<()> {
        self.write(|tx| {
            if !read_token(tx, token)?
                .is_some_and(|row| row.present && row.record.incarnation() == incarnation)
            {
                return Err(crate::store::records::replaced_error());
            }
            for o in objects {
                tx.execute(
                "INSERT INTO objects (unique_id, token, public, sealed) VALUES (?1, ?2, ?3, ?4)",
                params![uid_text(&o.unique_id), token, encode(&o.public)?, o.sealed],
            )
            .map_err(db_err)?;
                log_change(tx, token, Some(&o.unique_id), self.writer)?;
            }
            Ok(())
        })
    }

    /// Replaces an object's public attributes (its sealed secrets never change).
    /// `CKR_OBJECT_HANDLE_INVALID` when another process destroyed it meanwhile.
    pub fn update_public(&self, token: &str, unique_id: &[u8], public: &Attributes) -> Result<()> {
        self.write(|tx| {
            let n = tx
                .execute(
                    "UPDATE objects SET public = ?1 WHERE unique_id = ?2 AND token = ?3",
                    params![encode(public)?, uid_text(unique_id), token],
                )
                .map_err(db_err)?;
            if n == 0 {
                return Err(err(
                    CKR_OBJECT_HANDLE_INVALID,
                    "the object was destroyed by another process",
                ));
            }
            log_change(tx, token, Some(unique_id), self.writer)?;
            Ok(())
        })
    }

    /// Deletes token objects, all or none; `CKR_OBJECT_HANDLE_INVALID` when one of them was
    /// already destroyed by another process.
    pub fn delete_objects(&self, token: &str, unique_ids: &[&[u8]]) -> Result<()> {
        self.write(|tx| {
            for uid in unique_ids {
                let n = tx
                    .execute(
                        "DELETE FROM objects WHERE unique_id = ?1 AND token = ?2",
                        params![uid_text(uid), token],
                    )
                    .map_err(db_err)?;
                if n == 0 {
                    return Err(err(
                        CKR_OBJECT_HANDLE_INVALID,
                        "the object was destroyed by another process",
                    ));
                }
                log_change(tx, token, Some(uid), self.writer)?;
            }
            Ok(())
        })
    }

    /// Object counts per token.
    pub fn object_counts(&self) -> Result<BTreeMap<String, u64>> {
        let conn = self.conn.lock()?;
        let mut stmt = conn
            .prepare("SELECT token, COUNT(*) FROM objects GROUP BY token")
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(db_err)?;
        rows.map(|r| r.map(|(t, n)| (t, n.max(0) as u64)))
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)
    }

    /// Every stored token.
    pub fn tokens(&self) -> Result<BTreeMap<String, TokenRow>> {
        let conn = self.conn.lock()?;
        let mut stmt = conn
            .prepare("SELECT token FROM tokens ORDER BY token")
            .map_err(db_err)?;
        let names: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        let mut out = BTreeMap::new();
        for name in names {
            if let Some(row) = read_token(&conn, &name)? {
                out.insert(name, row);
            }
        }
        Ok(out)
    }

    /// Soundness problems: SQLite's integrity check, then every record and object decoding,
    /// PIN seals that belong to another generation of their token (or are of an unknown
    /// format), objects of unknown tokens, and objects without their class. Empty when sound.
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
        Ok(problems)
    }
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

/// hsmsim's SQLite application id (simulator-defined: "HSMS"), set in every store this build
/// writes. Stores of earlier builds have 0 and are recognised by their tables; they get the id
/// at their next open.
pub const APPLICATION_ID: i32 = 0x4853_4D53;

/// A store file that cannot be used: which file and what is wrong. Its text names the fix.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub path: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the store {} cannot be used: {}. It was left unchanged. To start again from the \
             lab's definition, run `hsmsim lab reset --yes` (or `hsmsim lab init --force --dir <its \
             directory>`), which moves it aside to {}.damaged-<time> and creates a fresh store; or point \
             HSMSIM_STATE_DIR at another directory",
            self.path.display(),
            self.reason,
            self.path.display()
        )
    }
}

/// `path` with `suffix` appended to its file name (`-wal`, `-shm`).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.to_path_buf().into_os_string();
    p.push(suffix);
    PathBuf::from(p)
}

/// Whether an SQLite failure says the file is damaged or not a database (rather than busy, or
/// not reachable): SQLITE_NOTADB, SQLITE_CORRUPT. The store's errors carry SQLite's text.
fn damage_reason(e: &crate::base::error::Error) -> Option<String> {
    let text = e.detail.as_ref();
    ["file is not a database", "malformed", "database corrupt"]
        .iter()
        .any(|m| text.contains(m))
        .then(|| format!("it is damaged ({text})"))
}

fn sqlite_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

/// Why the existing file at `path` is not an hsmsim store this build can use, looked at
/// without changing it (a read-only connection): empty (0 bytes, no write-ahead log), not an
/// SQLite database, another program's database (another application id, or id 0 without
/// hsmsim's tables), no schema version, a newer schema, or damaged. `None` when it looks
/// usable, or when it cannot be looked at (the real open then says why).
fn unusable_file(path: &Path, immutable: bool) -> Option<String> {
    use std::io::Read;
    let len = std::fs::metadata(path).ok()?.len();
    if len == 0 {
        let wal = std::fs::metadata(sibling(path, "-wal")).map_or(0, |m| m.len());
        if wal == 0 {
            return Some("it is empty (0 bytes), not an hsmsim store".into());
        }
    } else {
        let mut header = [0u8; 16];
        let read = std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut header))
            .is_ok();
        if !read || &header != b"SQLite format 3\0" {
            return Some(format!(
                "it is not an SQLite database ({len} bytes without SQLite's header)"
            ));
        }
    }
    let conn = match crate::store::connection::open_read_only(path, immutable) {
        Ok(c) => c,
        Err(e) if sqlite_damage(&e) => return Some(format!("it is damaged ({e})")),
        Err(_) => return None,
    };
    let looked = (|| -> rusqlite::Result<Option<String>> {
        let app_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
        let tables: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if app_id != 0 && app_id != APPLICATION_ID {
            return Ok(Some(format!(
                "it is another program's SQLite database (application_id 0x{app_id:08X}; \
                 hsmsim's is 0x{APPLICATION_ID:08X})"
            )));
        }
        let has = |t: &str| tables.iter().any(|x| x == t);
        if !has("meta") || !has("tokens") {
            return Ok(Some(if tables.is_empty() {
                "it is an SQLite database without tables, not an hsmsim store".into()
            } else {
                format!(
                    "it is another program's SQLite database (its tables: {}; not hsmsim's)",
                    tables.join(", ")
                )
            }));
        }
        let version: Option<i64> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(match version {
            None => Some("it has hsmsim's tables but no schema version".into()),
            Some(v) if v > SCHEMA_VERSION => Some(format!(
                "it was written by a newer hsmsim (store schema {v}; this build reads up to \
                 {SCHEMA_VERSION}): use that hsmsim"
            )),
            Some(_) => None,
        })
    })();
    match looked {
        Ok(reason) => reason,
        Err(e) if sqlite_damage(&e) => Some(format!("it is damaged ({e})")),
        Err(_) => None,
    }
}

/// Creates a new store at `path`: built complete under a temporary name in `dir` (schema,
/// application id; its write-ahead log checkpointed by closing it), then linked into place, so
/// that no process ever sees a half-made store (an empty file is refused, not initialised
/// over). When another process linked its store first, that one stays.
fn create_fresh(dir: &Path, path: &Path) -> Result<()> {
    let tmp = dir.join(format!(
        ".{DB_FILE}.new-{}-{:016x}",
        std::process::id(),
        random_generation()?
    ));
    let cleanup = |tmp: &Path| {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(sibling(tmp, suffix));
        }
    };
    let made = (|| {
        crate::base::files::create_private_file(&tmp).map_err(|e| {
            err(
                CKR_DEVICE_ERROR,
                format!("cannot create the store {}: {e}", path.display()),
            )
        })?;
        let conn = crate::store::connection::Shared::open(
            &tmp,
            crate::store::connection::Mode::ReadWrite,
            |conn| migrate(conn, &tmp, true).map_err(|e| e.error),
        )?;
        drop(conn);
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(err(
                CKR_DEVICE_ERROR,
                format!("cannot create the store {}: {e}", path.display()),
            )),
        }
    })();
    cleanup(&tmp);
    made
}

fn random_generation() -> Result<u64> {
    let mut g = [0u8; 8];
    crate::base::random::random_fill(&mut g)?;
    Ok(u64::from_ne_bytes(g))
}

/// Deletes the objects of the tokens `condition` (SQL over `token`, with `?1` = `arg`) selects,
/// logging each one so other processes drop it.
fn erase_objects(tx: &Transaction, condition: &str, arg: &str, writer: i64) -> Result<()> {
    let gone: Vec<(String, String)> = tx
        .prepare(&format!(
            "SELECT token, unique_id FROM objects WHERE {condition}"
        ))
        .and_then(|mut s| {
            s.query_map([arg], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)?;
    tx.execute(&format!("DELETE FROM objects WHERE {condition}"), [arg])
        .map_err(db_err)?;
    for (token, uid) in &gone {
        log_change(tx, token, Some(uid.as_bytes()), writer)?;
    }
    Ok(())
}

fn read_all_tokens(conn: &Connection) -> Result<Vec<(String, TokenRow)>> {
    let names: Vec<String> = conn
        .prepare("SELECT token FROM tokens ORDER BY token")
        .and_then(|mut s| {
            s.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)?;
    let mut out = Vec::new();
    for name in names {
        if let Some(row) = read_token(conn, &name)? {
            out.push((name, row));
        }
    }
    Ok(out)
}

fn read_devices(conn: &Connection) -> Result<Vec<String>> {
    conn.prepare("SELECT device FROM devices")
        .and_then(|mut s| {
            s.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)
}

fn read_device_policies(conn: &Connection, device: &str) -> Result<BTreeMap<u64, u64>> {
    let text: Option<String> = conn
        .query_row(
            "SELECT policies FROM devices WHERE device = ?1",
            [device],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err)?;
    text.map_or(Ok(BTreeMap::new()), |t| {
        serde_json::from_str(&t).map_err(damaged)
    })
}

fn read_token(conn: &Connection, token: &str) -> Result<Option<TokenRow>> {
    let row: Option<(String, bool)> = conn
        .prepare_cached("SELECT record, present FROM tokens WHERE token = ?1")
        .and_then(|mut s| {
            s.query_row([token], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(db_err)?;
    row.map(|(text, present)| {
        Ok(TokenRow {
            record: serde_json::from_str(&text).map_err(damaged)?,
            present,
        })
    })
    .transpose()
}

fn write_record(conn: &Connection, token: &str, record: &TokenRecord) -> Result<()> {
    let text = serde_json::to_string(record).map_err(damaged)?;
    conn.execute(
        "INSERT INTO tokens (token, record, present) VALUES (?1, ?2, 1)
         ON CONFLICT(token) DO UPDATE SET record = excluded.record, present = 1",
        params![token, text],
    )
    .map_err(db_err)?;
    Ok(())
}

/// A read-only store must be of this build's schema (it cannot be migrated).
fn current_schema(conn: &mut Connection, path: &Path) -> Result<()> {
    let version: Option<i64> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err)?;
    if version == Some(SCHEMA_VERSION) {
        return Ok(());
    }
    Err(err(
        CKR_DEVICE_ERROR,
        format!(
            "{} is of schema {}, which this build must migrate to {SCHEMA_VERSION} before using \
             it, and it is open read-only: open it once from a writable directory",
            path.display(),
            version.map_or("?".into(), |v| v.to_string())
        ),
    ))
}

/// A failure of `migrate`, with the reason when the file is not a store this build can use.
struct MigrateError {
    error: crate::base::error::Error,
    refusal: Option<String>,
}

impl From<crate::base::error::Error> for MigrateError {
    fn from(error: crate::base::error::Error) -> Self {
        MigrateError {
            error,
            refusal: None,
        }
    }
}

fn refuse(reason: String) -> MigrateError {
    MigrateError {
        error: err(CKR_DEVICE_ERROR, reason.clone()),
        refusal: Some(reason),
    }
}

/// Brings a store to `SCHEMA_VERSION`, one step per version, all in one transaction; a new
/// database gets the schema and hsmsim's application id. Refuses (without changing anything)
/// another program's database or a newer schema.
fn migrate(
    conn: &mut Connection,
    path: &Path,
    create: bool,
) -> std::result::Result<(), MigrateError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db_err)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);",
    )
    .map_err(db_err)?;
    let version: Option<i64> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err)?;
    let mut version = match version {
        Some(v) if v > SCHEMA_VERSION => {
            return Err(refuse(format!(
                "it was written by a newer hsmsim (store schema {v}; this build reads up to \
                 {SCHEMA_VERSION}): use that hsmsim"
            )));
        }
        Some(v) => v,
        None if create => {
            create_schema(&tx)?;
            SCHEMA_VERSION
        }
        None => return Err(refuse("it has no hsmsim schema version".into())),
    };
    while version < SCHEMA_VERSION {
        match version {
            1 => migrate_1_to_2(&tx)?,
            // Nothing to convert: format-0 seals still open and are rewritten at their PIN's
            // next login or change; the version keeps older builds off the store.
            2 => {}
            v => {
                return Err(refuse(format!("it holds an unknown schema version {v}")));
            }
        }
        version += 1;
        tracing::info!(target: "hsmsim::store", "migrated {} to schema {version}", path.display());
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [version],
    )
    .map_err(db_err)?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .and_then(|_| tx.pragma_update(None, "user_version", version))
        .map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    Ok(())
}

/// Schema 2's object and change-log tables (created fresh, or by the 1 -> 2 migration).
const SCHEMA_2_OBJECTS_AND_CHANGES: &str = "
    CREATE TABLE objects (
        unique_id TEXT PRIMARY KEY,
        token TEXT NOT NULL,
        public BLOB NOT NULL,
        sealed BLOB);
    CREATE INDEX objects_by_token ON objects(token);
    CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        token TEXT NOT NULL,
        unique_id TEXT,
        writer INTEGER NOT NULL);
    CREATE TABLE devices (
        device TEXT PRIMARY KEY,
        policies TEXT NOT NULL);";

/// The change-log key of a device's HSM policies (tokens are "device/partition").
pub fn device_change_key(device: &str) -> String {
    format!("@device:{device}")
}

fn create_schema(tx: &Transaction) -> Result<()> {
    tx.execute_batch(
        "CREATE TABLE tokens (
             token TEXT PRIMARY KEY,
             record TEXT NOT NULL,
             present INTEGER NOT NULL DEFAULT 1);",
    )
    .and_then(|_| tx.execute_batch(SCHEMA_2_OBJECTS_AND_CHANGES))
    .map_err(db_err)
}

/// Schema 1 (hsmsim 0.1): token records with PIN verifiers, objects as JSON in clear.
#[derive(serde::Deserialize)]
struct RecordV1 {
    label: String,
    serial: String,
    initialized: bool,
    so_pin: Option<LegacyPinVerifier>,
    user_pin: Option<LegacyPinVerifier>,
    so_failures: u32,
    user_failures: u32,
}

/// 1 -> 2: objects move to public attributes + sealed secrets, tokens get a token key. The
/// PINs are not known here, so the key is kept in clear in the record (`migration_key`, no
/// worse than schema 1's clear key values) until each PIN's first login seals it.
fn migrate_1_to_2(tx: &Transaction) -> Result<()> {
    let tokens: Vec<(String, String)> = tx
        .prepare("SELECT token, record FROM tokens")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)?;
    tx.execute_batch(
        "ALTER TABLE tokens ADD COLUMN present INTEGER NOT NULL DEFAULT 1;
         ALTER TABLE objects RENAME TO objects_v1;
         DROP INDEX IF EXISTS objects_by_token;",
    )
    .and_then(|_| tx.execute_batch(SCHEMA_2_OBJECTS_AND_CHANGES))
    .map_err(db_err)?;
    let mut keys = BTreeMap::new();
    for (token, text) in tokens {
        let old: RecordV1 = serde_json::from_str(&text).map_err(damaged)?;
        let key = TokenKey::generate()?;
        let mut record = TokenRecord::uninitialized(&token);
        record.label = old.label;
        record.serial = old.serial;
        record.initialized = old.initialized;
        record.generation = random_generation()?;
        for (user, failures, legacy) in [
            (CKU_SO, old.so_failures, old.so_pin),
            (CKU_USER, old.user_failures, old.user_pin),
        ] {
            if failures > 0 || legacy.is_some() {
                let role = record.role_mut(user);
                role.failures = failures;
                role.legacy = legacy;
            }
        }
        record.migration_key = Some(key.to_bytes());
        write_record(tx, &token, &record)?;
        keys.insert(token, key);
    }
    let objects: Vec<(String, String, String)> = tx
        .prepare("SELECT unique_id, token, attributes FROM objects_v1 ORDER BY rowid")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)?;
    for (uid, token, text) in objects {
        let old: BTreeMap<CK_ATTRIBUTE_TYPE, AttrValue> =
            serde_json::from_str(&text).map_err(damaged)?;
        let mut attrs = Attributes::new();
        for (t, v) in old {
            attrs.set(t, v);
        }
        attrs.set_bytes(CKA_UNIQUE_ID, uid.as_bytes().to_vec());
        let (public, sealed) = seal_object(&token, &attrs, keys.get(&token))?;
        tx.execute(
            "INSERT INTO objects (unique_id, token, public, sealed) VALUES (?1, ?2, ?3, ?4)",
            params![uid, token, encode(&public)?, sealed],
        )
        .map_err(db_err)?;
    }
    tx.execute_batch("DROP TABLE objects_v1;").map_err(db_err)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            .ensure_token("hsm/a", || Ok(TokenRecord::uninitialized("hsm/a")))
            .unwrap();
        let key = TokenKey::generate().unwrap();
        let attrs = key_object(b"uid-1", &[0x42; 32]);
        let (public, sealed) = seal_object("hsm/a", &attrs, Some(&key)).unwrap();
        assert!(public.get(CKA_VALUE).is_none());
        store
            .insert_objects(
                "hsm/a",
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
        let objects = store.objects("hsm/a").unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].public, public);
        let secrets = key
            .open_secrets(
                &object_binding("hsm/a", b"uid-1"),
                objects[0].sealed.as_ref().unwrap(),
            )
            .unwrap();
        assert_eq!(secrets.bytes(CKA_VALUE), Some(&[0x42; 32][..]));
        assert!(store.objects("hsm/b").unwrap().is_empty());
        assert!(store.check().unwrap().is_empty());
        let rec = TokenRecord::uninitialized("hsm/a");
        store.reinitialize_token("hsm/a", |_| Ok(()), &rec).unwrap();
        assert!(store.objects("hsm/a").unwrap().is_empty());
    }

    #[test]
    fn objects_go_only_into_the_token_incarnation_they_were_sealed_for() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut record = TokenRecord::uninitialized("hsm/a");
        record.generation = 1;
        store.ensure_token("hsm/a", || Ok(record.clone())).unwrap();
        let sealed_for = record.incarnation();
        // Another process re-initialises the token.
        record.generation = 2;
        store
            .reinitialize_token("hsm/a", |_| Ok(()), &record)
            .unwrap();
        let key = TokenKey::generate().unwrap();
        let (public, sealed) =
            seal_object("hsm/a", &key_object(b"uid-1", &[1; 16]), Some(&key)).unwrap();
        let object = StoredObject {
            unique_id: b"uid-1".to_vec(),
            public,
            sealed,
        };
        let refused = store
            .insert_objects("hsm/a", sealed_for, std::slice::from_ref(&object))
            .unwrap_err();
        assert_eq!(refused.rv, CKR_SESSION_CLOSED);
        assert!(store.objects("hsm/a").unwrap().is_empty());
        // A restart is another incarnation too.
        record.restarts = 1;
        store
            .update_token("hsm/a", |r| {
                r.restarts = 1;
                Ok(((), true))
            })
            .unwrap();
        assert!(
            store
                .insert_objects(
                    "hsm/a",
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
            .insert_objects("hsm/a", record.incarnation(), &[object])
            .unwrap();
        assert_eq!(store.objects("hsm/a").unwrap().len(), 1);
    }

    #[test]
    fn a_key_without_the_token_key_is_refused() {
        let attrs = key_object(b"uid-1", &[1; 16]);
        assert_eq!(
            seal_object("hsm/a", &attrs, None).unwrap_err().rv,
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
        b.ensure_token("hsm/a", || Ok(TokenRecord::uninitialized("hsm/a")))
            .unwrap();
        assert_ne!(a.data_version().unwrap(), version);
        let changes = a.changes_since(start).unwrap();
        assert_eq!(changes.items, vec![("hsm/a".to_string(), None)]);
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
        let row = store.token("hsm/a").unwrap().unwrap();
        assert_eq!(row.record.label, "old");
        assert_eq!(row.record.failures(CKU_USER), 2);
        let key = TokenKey::from_bytes(row.record.migration_key.as_deref().unwrap()).unwrap();
        let objects = store.objects("hsm/a").unwrap();
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
                .objects("hsm/a")
                .unwrap()
                .len(),
            1
        );
    }
}
