//! Opening a lab's store: read-write or read-only (`HSMSIM_READ_ONLY`, an unwritable
//! directory), refusing a file it cannot use (empty, not SQLite, another program's database, a
//! newer schema, damaged) with a `Refusal` naming the fix, building a new store under a
//! temporary name, and moving an unusable one aside.
use super::*;

/// What a write to a read-only store answers.
pub(super) const READ_ONLY_SENTENCE: &str = "the lab's state is read-only (its state directory or store \
    file is not writable, or HSMSIM_READ_ONLY=1): nothing was changed";

/// The environment variable that opens every store read-only (simulator-defined; "1").
pub const READ_ONLY_VARIABLE: &str = "HSMSIM_READ_ONLY";

/// What a write answers when the disk (or the store's size limit) is full: the transaction
/// rolled back, so nothing of it was written and every earlier commit stands.
pub(crate) const DISK_FULL_SENTENCE: &str = "the disk holding the lab's state is full: \
    nothing of this change was written (earlier changes are kept); free some space and retry";

/// How the store in `dir` (the database `path`) must be opened: read-only when
/// `HSMSIM_READ_ONLY=1`, when the file exists and cannot be opened for writing, or when the
/// directory does not take a new file (then also immutable: SQLite cannot make its `-shm`
/// file there). Probed by trying (opening the file for writing without changing it; creating
/// and removing a probe file), so it holds for root and for read-only mounts alike.
pub(super) fn open_mode(dir: &Path, path: &Path) -> crate::store::connection::Mode {
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
pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.to_path_buf().into_os_string();
    p.push(suffix);
    PathBuf::from(p)
}

/// Whether an SQLite failure says the file is damaged or not a database (rather than busy, or
/// not reachable): SQLITE_NOTADB, SQLITE_CORRUPT. The store's errors carry SQLite's text.
pub(super) fn damage_reason(e: &crate::base::error::Error) -> Option<String> {
    let text = e.detail.as_ref();
    ["file is not a database", "malformed", "database corrupt"]
        .iter()
        .any(|m| text.contains(m))
        .then(|| format!("it is damaged ({text})"))
}

pub(super) fn sqlite_damage(e: &rusqlite::Error) -> bool {
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
pub(super) fn unusable_file(path: &Path, immutable: bool) -> Option<String> {
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
pub(super) fn create_fresh(dir: &Path, path: &Path) -> Result<()> {
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

pub(super) fn random_generation() -> Result<u64> {
    let mut g = [0u8; 8];
    crate::base::random::random_fill(&mut g)?;
    Ok(u64::from_ne_bytes(g))
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
}
