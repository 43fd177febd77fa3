//! Cards and credentials earlier builds kept as JSON files in the state directory
//! (`primus/<device>/cards/<card>.json`, `primus/<device>/users/<partition>.json`), imported
//! into the store once, in one transaction, then removed.
use super::*;

/// Where earlier builds kept cards and credentials, inside the state directory.
const LEGACY_DIR: &str = "primus";

/// Earlier builds' card and credential files of the state directory, moved into the store
/// `store` in one transaction (an item the store already has is kept: it is the newer, the
/// file being left by an import interrupted before its removal). The files are then removed,
/// with their directories once empty: the store is their only home, and no copy of a PIN
/// verifier stays behind (an older build cannot use the migrated store anyway). Called by
/// `open_store`; nothing to do when there is no `primus/` directory. A read-only store
/// imports nothing (its files stay for the next writable open).
pub(crate) fn import_legacy_files(selection: &LabSelection, store: &Store) -> Result<()> {
    let root = selection.state_dir.join(LEGACY_DIR);
    if !root.is_dir() {
        return Ok(());
    }
    if store.read_only() {
        tracing::warn!(target: "hsmsim::estate",
            "{} holds Primus cards or credentials of an earlier hsmsim; the store is read-only, \
             so they are imported at its next writable open", root.display());
        return Ok(());
    }
    // (device, kind, name, value, file)
    let mut found: Vec<(String, &str, String, Value, PathBuf)> = Vec::new();
    let mut dirs = Vec::new();
    for device in std::fs::read_dir(&root).map_err(|e| io(&root, "read", e))? {
        let device = device.map_err(|e| io(&root, "read", e))?;
        let device_dir = device.path();
        if !device_dir.is_dir() {
            continue;
        }
        let device_name = device.file_name().to_string_lossy().into_owned();
        for (sub, kind) in [("cards", CARD_ITEM), ("users", USER_ITEM)] {
            let dir = device_dir.join(sub);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.map_err(|e| io(&dir, "list", e))?.path();
                let Some(name) = path
                    .file_stem()
                    .filter(|_| path.extension().is_some_and(|e| e == "json"))
                    .map(|s| s.to_string_lossy().into_owned())
                else {
                    continue;
                };
                let text =
                    crate::base::files::read_to_string(&path).map_err(|e| io(&path, "read", e))?;
                let parsed = if kind == CARD_ITEM {
                    serde_json::from_str::<Card>(&text).map(|c| encode(&c))
                } else {
                    serde_json::from_str::<UserCredentials>(&text).map(|c| encode(&c))
                };
                let value = parsed.map_err(|e| {
                    io(
                        &path,
                        "import (a file of an earlier hsmsim; repair or remove it)",
                        e,
                    )
                })??;
                found.push((device_name.clone(), kind, name, value, path));
            }
            dirs.push(dir);
        }
        dirs.push(device_dir);
    }
    store.update_device_items(|items| {
        for (device, kind, name, value, _) in &found {
            if items.get(&DeviceId::new(device), kind, name)?.is_none() {
                items.put(&DeviceId::new(device), kind, name, value)?;
            }
        }
        Ok(())
    })?;
    for (.., file) in &found {
        std::fs::remove_file(file).map_err(|e| io(file, "remove", e))?;
    }
    // Directories holding anything else (a crashed writer's temporary file) stay.
    for dir in dirs.iter().chain([&root]) {
        let _ = std::fs::remove_dir(dir);
    }
    if !found.is_empty() {
        tracing::info!(target: "hsmsim::estate",
            "imported {} Primus card and credential files of {} into the store", found.len(),
            root.display());
    }
    Ok(())
}
