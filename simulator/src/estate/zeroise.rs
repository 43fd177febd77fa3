//! Zeroising a device: every partition blank in one transaction (LunaSH `hsm zeroize`, the HSM
//! SO's failed-login consequence, a Primus factory reset).
use super::*;

/// LunaSH `hsm zeroize` (and what a Primus factory reset does to its partitions): every
/// partition of the device becomes blank (objects and roles gone, serial kept) in one
/// transaction; processes using them see their tokens replaced. HSM policies stay. Returns
/// the partitions zeroised.
pub fn zeroise_device(selection: &LabSelection, device: &DeviceId) -> Result<Vec<PartitionId>> {
    selection.device_model(device)?;
    zeroise_device_in(&open_store(selection)?, device)
}

/// Zeroises `device` in an open store: the one operation behind LunaSH `hsm zeroize` (above)
/// and the HSM SO's failed-login consequence (the engine, which then replaces its slots). A
/// Backup HSM loses its backup partitions too.
pub fn zeroise_device_in(store: &Store, device: &DeviceId) -> Result<Vec<PartitionId>> {
    let zeroised = store.update_tokens(
        device,
        true,
        crate::store::records::blank_record_keeping_serial,
    )?;
    super::backup_hsm::erase_backup_partitions(store, device)?;
    Ok(zeroised)
}
