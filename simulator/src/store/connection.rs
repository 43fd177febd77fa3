//! The store's SQLite connection, shared by the threads of a process, and what `fork()` needs
//! of it. SQLite forbids carrying a connection across `fork()`; worse, a child that opens the
//! database again shares SQLite's per-process table of open files with the connections its
//! parent had at that moment, their locks included (held there for threads the child does
//! not have): it waits on them for ever. So just before a fork (`before_fork`, from the
//! `pthread_atfork` prepare handler) new operations wait, those in flight end, and every
//! connection of the process is closed; after it (`after_fork`, in the parent and in the
//! child) operations run again and each connection reopens on its next use. A connection is
//! read-write (WAL mode) or read-only (`Mode`). No thread is inside SQLite when the process
//! forks, and SQLite's table of open files holds none of ours.
//!
//! The store also reads the WAL-index file (`-shm`) itself, through one handle per file
//! shared by every connection of the process (`open_shm`): POSIX record locks belong to the
//! process and the file, so closing any handle of the file drops every lock the process holds
//! on it, SQLite's included; another process would then take the file for its own and
//! truncate it under this one's mapping (SIGBUS). The shared handle closes only with the
//! process's last connection to that file, after the connection itself.
use crate::base::error::{Error, Result, err};
use cryptoki_sys::{CKR_DEVICE_ERROR, CKR_DEVICE_MEMORY};
use parking_lot::{MappedMutexGuard, Mutex, MutexGuard, RwLock};
use rusqlite::Connection;
use std::fs::File;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Operations on connections (and connection opens and closes) in flight in this process.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// Forks being prepared (`before_fork` until `after_fork`): new operations wait meanwhile.
static FORKING: AtomicUsize = AtomicUsize::new(0);
/// Every connection of the process (dead entries are pruned when one is added).
static LIVE: Mutex<Vec<Weak<Inner>>> = Mutex::new(Vec::new());
/// The connections `before_fork` closed, kept alive until `after_fork` (so that none is
/// dropped, which needs a ticket, by the forking thread meanwhile).
static HELD: Mutex<Vec<Arc<Inner>>> = Mutex::new(Vec::new());

/// One operation in flight: taken before any SQLite call, given back after.
struct Ticket(());

impl Ticket {
    fn enter() -> Ticket {
        loop {
            while FORKING.load(Ordering::SeqCst) != 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
            IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
            // Either this sees the fork starting, or the fork sees this operation.
            if FORKING.load(Ordering::SeqCst) == 0 {
                return Ticket(());
            }
            IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How a store's database is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read and write, in WAL mode.
    ReadWrite,
    /// Read only (SQLite `mode=ro`): every write answers SQLITE_READONLY. `immutable`: the
    /// directory cannot hold the `-shm` file either, so SQLite is told nobody changes the
    /// file (`immutable=1`; a write-ahead log left beside it is not read).
    ReadOnly { immutable: bool },
}

struct Inner {
    path: PathBuf,
    mode: Mode,
    conn: Mutex<Option<Connection>>,
    /// How many times the connection was reopened (after a fork closed it).
    reopened: AtomicU64,
    /// The WAL-index file (`-shm`), looked up again when the connection reopens (closing
    /// the last connection of the database may delete it; SQLite then makes a new one).
    shm: RwLock<Option<Arc<File>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ticket = Ticket::enter();
        drop(self.conn.get_mut().take());
        // After the connection: the handle closes here if no other connection uses the file.
        drop(self.shm.get_mut().take());
    }
}

/// A file's identity: (device, inode).
type FileId = (u64, u64);

/// The process's handles on WAL-index files, by file: one per file.
static SHM_FILES: Mutex<Vec<(FileId, Weak<File>)>> = Mutex::new(Vec::new());

/// A database connection that survives `fork()` (closed before it, reopened on next use).
pub struct Shared {
    inner: Arc<Inner>,
}

/// The connection, locked for one operation.
pub struct Guard<'a> {
    conn: MappedMutexGuard<'a, Connection>,
    _ticket: Ticket,
}

impl Deref for Guard<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl DerefMut for Guard<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

fn db_err(e: rusqlite::Error) -> Error {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
        return err(CKR_DEVICE_MEMORY, crate::store::DISK_FULL_SENTENCE);
    }
    err(CKR_DEVICE_ERROR, format!("store: {e}"))
}

/// Limits the store's size to this many pages (simulator-defined test hook: SQLite's
/// `PRAGMA max_page_count` on every read-write connection, so that a write past it fails as on
/// a full disk, SQLITE_FULL). Unset: no limit.
pub const MAX_PAGES_VARIABLE: &str = "HSMSIM_STORE_MAX_PAGES";

/// `path` as an SQLite URI filename (`file:` with `%`, `?` and `#` escaped) and `query`.
fn uri(path: &Path, query: &str) -> String {
    let mut out = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out.push('?');
    out.push_str(query);
    out
}

/// Opens the database read-only (`Mode::ReadOnly`), with a busy timeout.
pub fn open_read_only(path: &Path, immutable: bool) -> rusqlite::Result<Connection> {
    use rusqlite::OpenFlags;
    let conn = Connection::open_with_flags(
        uri(
            path,
            if immutable {
                "mode=ro&immutable=1"
            } else {
                "mode=ro"
            },
        ),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(30))?;
    Ok(conn)
}

/// Opens the database in WAL mode with a busy timeout (or read-only, as `mode` says).
fn open_connection(path: &Path, mode: Mode) -> Result<Connection> {
    if let Mode::ReadOnly { immutable } = mode {
        return open_read_only(path, immutable).map_err(db_err);
    }
    let conn = Connection::open(path).map_err(db_err)?;
    conn.busy_timeout(Duration::from_secs(30)).map_err(db_err)?;
    // Switching a new database to WAL needs an exclusive lock and may answer SQLITE_BUSY
    // without waiting when other processes open it at the same moment: retry for a while.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Ok(()) => break,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(db_err(e)),
        }
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(db_err)?;
    if let Some(pages) = std::env::var(MAX_PAGES_VARIABLE)
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
    {
        conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
            .map_err(db_err)?;
    }
    Ok(conn)
}

/// The process's one handle on `path`'s WAL-index file, if the file is there: the handle
/// other connections of the process already hold on that very file (same device and inode),
/// else a new one.
fn open_shm(path: &Path) -> Option<Arc<File>> {
    use std::os::unix::fs::MetadataExt;
    let mut shm = path.to_path_buf().into_os_string();
    shm.push("-shm");
    let id = |m: std::fs::Metadata| -> FileId { (m.dev(), m.ino()) };
    let mut files = SHM_FILES.lock();
    files.retain(|(_, f)| f.strong_count() > 0);
    let wanted = id(std::fs::metadata(&shm).ok()?);
    if let Some(file) = files
        .iter()
        .find(|(key, _)| *key == wanted)
        .and_then(|(_, f)| f.upgrade())
    {
        return Some(file);
    }
    let file = File::open(&shm).ok()?;
    // The file may have been replaced between the two looks: key the handle by what it opened.
    let key = id(file.metadata().ok()?);
    if let Some(held) = files
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, f)| f.upgrade())
    {
        // Closing `file` here would drop the process's locks on it: keep it with the other.
        std::mem::forget(file);
        return Some(held);
    }
    let file = Arc::new(file);
    files.push((key, Arc::downgrade(&file)));
    Some(file)
}

impl Shared {
    /// Opens the database at `path` and runs `setup` on the new connection (schema
    /// migration) before anyone else uses it.
    pub fn open(
        path: &Path,
        mode: Mode,
        setup: impl FnOnce(&mut Connection) -> Result<()>,
    ) -> Result<Shared> {
        let _ticket = Ticket::enter();
        let mut conn = open_connection(path, mode)?;
        setup(&mut conn)?;
        let inner = Arc::new(Inner {
            path: path.to_path_buf(),
            mode,
            conn: Mutex::new(Some(conn)),
            reopened: AtomicU64::new(0),
            shm: RwLock::new(open_shm(path)),
        });
        let mut live = LIVE.lock();
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(&inner));
        Ok(Shared { inner })
    }

    /// The connection for one operation (reopened if a fork closed it).
    pub fn lock(&self) -> Result<Guard<'_>> {
        let ticket = Ticket::enter();
        let mut slot = self.inner.conn.lock();
        if slot.is_none() {
            *slot = Some(open_connection(&self.inner.path, self.inner.mode)?);
            *self.inner.shm.write() = open_shm(&self.inner.path);
            self.inner.reopened.fetch_add(1, Ordering::AcqRel);
        }
        let conn = MutexGuard::try_map(slot, Option::as_mut)
            .map_err(|_| err(CKR_DEVICE_ERROR, "store: the connection is closed"))?;
        Ok(Guard {
            conn,
            _ticket: ticket,
        })
    }

    /// How many times the connection was reopened: per-connection counters (`PRAGMA
    /// data_version`) start afresh each time.
    pub fn reopened(&self) -> u64 {
        self.inner.reopened.load(Ordering::Acquire)
    }

    /// Reads the start of the WAL-index file into `buf`, if it is there.
    pub fn read_shm(&self, buf: &mut [u8]) -> Option<()> {
        use std::os::unix::fs::FileExt;
        self.inner.shm.read().as_ref()?.read_exact_at(buf, 0).ok()
    }
}

/// The `pthread_atfork` prepare handler's work: new operations wait, those in flight end
/// (this waits for them, up to a busy timeout), then every connection is closed.
pub fn before_fork() {
    FORKING.fetch_add(1, Ordering::SeqCst);
    while IN_FLIGHT.load(Ordering::SeqCst) != 0 {
        std::thread::sleep(Duration::from_micros(50));
    }
    let live: Vec<Arc<Inner>> = LIVE.lock().iter().filter_map(Weak::upgrade).collect();
    for inner in &live {
        drop(inner.conn.lock().take());
    }
    HELD.lock().extend(live);
}

/// The `pthread_atfork` parent handler's work: operations run again.
pub fn after_fork_in_parent() {
    let held = std::mem::take(&mut *HELD.lock());
    FORKING.fetch_sub(1, Ordering::SeqCst);
    drop(held);
}

/// The `pthread_atfork` child handler's work: the child has one thread, the forking one, so
/// no other fork is being prepared and no operation is in flight; operations run again.
pub fn after_fork_in_child() {
    let held = std::mem::take(&mut *HELD.lock());
    IN_FLIGHT.store(0, Ordering::SeqCst);
    FORKING.store(0, Ordering::SeqCst);
    drop(held);
}
