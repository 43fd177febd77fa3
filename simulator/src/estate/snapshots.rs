//! `hsmsim lab snapshot`: saving the whole lab state under a name, listing, restoring and
//! deleting snapshots.
use super::*;

/// The directory a lab's snapshots live in: `<state dir>/snapshots/<NAME>/` holds the store
/// (`hsmsim.sqlite`, Primus cards and credentials included); snapshots of earlier builds also
/// hold the Primus card and credential files (`primus/`).
pub const SNAPSHOTS_DIR: &str = "snapshots";

/// A snapshot name: 1 to 64 letters, digits, `.`, `_` or `-`, not starting with `.`.
fn snapshot_dir(selection: &LabSelection, name: &str) -> Result<PathBuf> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!(
                "\"{name}\" is not a snapshot name: use 1 to 64 letters, digits, '.', '_' or '-', \
                 not starting with '.'"
            ),
        ));
    }
    Ok(selection.state_dir.join(SNAPSHOTS_DIR).join(name))
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> crate::base::error::Error {
    err(
        CKR_DEVICE_ERROR,
        format!("cannot {what} {}: {e}", path.display()),
    )
}

/// Copies the regular files of the tree `from` into `to` (created private).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    crate::base::files::create_private_dir_all(to).map_err(|e| io_err("create", to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| io_err("read", from, e))? {
        let entry = entry.map_err(|e| io_err("read", from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(|e| io_err("read", &src, e))?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_file() {
            let data = std::fs::read(&src).map_err(|e| io_err("read", &src, e))?;
            crate::base::files::write_private(&dst, &data).map_err(|e| io_err("write", &dst, e))?;
        }
    }
    Ok(())
}

/// `hsmsim lab snapshot save NAME`: the whole lab state (the store, by SQLite's online backup,
/// Primus cards and credentials included) into `snapshots/NAME`, built under a temporary
/// name and renamed into place. Safe while other processes use the lab. Refuses an existing
/// name.
pub fn snapshot_save(selection: &LabSelection, name: &str) -> Result<PathBuf> {
    let target = snapshot_dir(selection, name)?;
    if target.exists() {
        return Err(err(
            CKR_FUNCTION_FAILED,
            format!(
                "snapshot \"{name}\" already exists ({}): delete it first or choose another name",
                target.display()
            ),
        ));
    }
    let store = open_store(selection)?;
    let parent = selection.state_dir.join(SNAPSHOTS_DIR);
    crate::base::files::create_private_dir_all(&parent)
        .map_err(|e| io_err("create", &parent, e))?;
    let tmp = parent.join(format!(".{name}.saving-{}", std::process::id()));
    let made = (|| {
        crate::base::files::create_private_dir_all(&tmp).map_err(|e| io_err("create", &tmp, e))?;
        let db = tmp.join(crate::store::DB_FILE);
        crate::base::files::create_private_file(&db).map_err(|e| io_err("create", &db, e))?;
        store.save_to(&db)?;
        std::fs::rename(&tmp, &target).map_err(|e| io_err("create", &target, e))
    })();
    if made.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    made.map(|()| target)
}

/// One saved snapshot.
#[derive(Debug, Serialize)]
pub struct SnapshotInfo {
    pub name: String,
    /// When it was saved (seconds since the Unix epoch).
    pub saved: u64,
    /// The size of its store, in bytes.
    pub bytes: u64,
}

/// `hsmsim lab snapshot list`, by name.
pub fn snapshot_list(selection: &LabSelection) -> Result<Vec<SnapshotInfo>> {
    let parent = selection.state_dir.join(SNAPSHOTS_DIR);
    let entries = match std::fs::read_dir(&parent) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read", &parent, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_err("read", &parent, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let db = entry.path().join(crate::store::DB_FILE);
        if name.starts_with('.') || !db.is_file() {
            continue;
        }
        let meta = std::fs::metadata(&db).map_err(|e| io_err("read", &db, e))?;
        out.push(SnapshotInfo {
            name,
            saved: meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs()),
            bytes: meta.len(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn existing_snapshot(selection: &LabSelection, name: &str) -> Result<PathBuf> {
    let dir = snapshot_dir(selection, name)?;
    if !dir.join(crate::store::DB_FILE).is_file() {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!("there is no snapshot \"{name}\" (see `hsmsim lab snapshot list`)"),
        ));
    }
    Ok(dir)
}

/// `hsmsim lab snapshot restore NAME`: the lab state goes back to the snapshot. The store is
/// replaced in one write (`Store::restore_from`): processes using the lab see their tokens
/// replaced (sessions end, slot events). A snapshot of an earlier build (an older store
/// schema, migrated in the copy, and Primus card and credential files) has its files
/// imported into the restored store; files left in the state directory go.
pub fn snapshot_restore(selection: &LabSelection, name: &str) -> Result<()> {
    let dir = existing_snapshot(selection, name)?;
    let store = Store::open(&selection.state_dir)?;
    store.restore_from(&dir.join(crate::store::DB_FILE))?;
    let live = selection.state_dir.join("primus");
    if live.is_dir() {
        std::fs::remove_dir_all(&live).map_err(|e| io_err("replace", &live, e))?;
    }
    let saved = dir.join("primus");
    if saved.is_dir() {
        copy_tree(&saved, &live)?;
        primus::import_legacy_files(selection, &store)?;
    }
    Ok(())
}

/// `hsmsim lab snapshot delete NAME`.
pub fn snapshot_delete(selection: &LabSelection, name: &str) -> Result<()> {
    let dir = existing_snapshot(selection, name)?;
    std::fs::remove_dir_all(&dir).map_err(|e| io_err("delete", &dir, e))
}
