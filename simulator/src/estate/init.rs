//! `hsmsim lab init`: a lab file from a built-in lab and its state.
use super::*;

/// `hsmsim lab init`: writes `dir/lab.toml` from a built-in lab and creates its state. Refuses
/// to overwrite an existing lab unless `force` (then the old state is reset).
pub fn init_from_fixture(fixture: &str, dir: &Path, force: bool) -> Result<PathBuf> {
    init(fixture, dir, force).map(|(file, _)| file)
}

/// As `init_from_fixture`; with `force`, a store that cannot be used is moved aside first:
/// the second value says where.
pub fn init(fixture: &str, dir: &Path, force: bool) -> Result<(PathBuf, Option<PathBuf>)> {
    let text = built_in_text(fixture).map_err(|e| err(CKR_ARGUMENTS_BAD, e.to_string()))?;
    let file = dir.join(LAB_FILE);
    if file.exists() && !force {
        return Err(err(
            CKR_FUNCTION_FAILED,
            format!(
                "{} already exists (use --force to replace it and reset its state)",
                file.display()
            ),
        ));
    }
    crate::base::files::create_private_dir_all(dir).map_err(|e| {
        err(
            CKR_DEVICE_ERROR,
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    crate::base::files::write_private(&file, text.as_bytes()).map_err(|e| {
        err(
            CKR_DEVICE_ERROR,
            format!("cannot write {}: {e}", file.display()),
        )
    })?;
    let selection = select(&Choice {
        lab_file: Some(file.clone()),
        host: None,
        state_dir: Some(dir.to_path_buf()),
    })
    .map_err(|e| err(CKR_GENERAL_ERROR, e.to_string()))?;
    let moved = if force {
        reset(&selection)?
    } else {
        open_store(&selection)?;
        None
    };
    Ok((file, moved))
}
