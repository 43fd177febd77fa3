//! `hsmsim lab reset`: every partition back to what the lab defines.
use super::*;

/// `hsmsim lab reset`: every partition back to what the lab defines (objects gone, presets
/// re-applied), in one transaction; processes using the lab see their tokens replaced. A store
/// file that cannot be used (empty, another program's, a newer schema, damaged) is first moved
/// aside (`Store::move_aside_unusable`): returns where it went.
pub fn reset(selection: &LabSelection) -> Result<Option<PathBuf>> {
    let moved = Store::move_aside_unusable(&selection.state_dir)?;
    let store = Store::open(&selection.state_dir)?;
    let mut records = Vec::new();
    for (partition, model, preset) in selection.lab.partitions() {
        let record = fresh_record(&partition, &model, preset.as_ref(), &selection.state_dir)?;
        records.push((partition, record));
    }
    store.reset(&records)?;
    ha_groups::forget(selection, &store)?;
    Ok(moved)
}
