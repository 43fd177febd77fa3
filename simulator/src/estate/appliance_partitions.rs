//! LunaSH `partition list` and `partition show -partition L`: a Luna Network HSM's application
//! partitions as the appliance reports them (name, label, serial, objects, version), read in
//! one store transaction; and finding the partition a LunaSH `-partition` option names.
use super::*;
use crate::models::luna;

/// One application partition of an appliance, as `partition list` / `partition show` report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliancePartition {
    /// The partition's name in the lab ("device/partition" without the device).
    pub name: String,
    /// The token label (empty while uninitialised).
    pub label: String,
    pub serial: String,
    pub initialized: bool,
    /// False while the partition is removed (`hsmsim lab partition remove`).
    pub present: bool,
    /// Token objects stored on it.
    pub objects: u64,
    /// V0 / V1 from firmware 7.7, `Legacy` before.
    pub version: luna::PartitionVersion,
}

/// LunaSH `partition list`: the appliance's application partitions (its admin partition left
/// out), in lab order. Needs no HSM SO login.
pub fn appliance_partitions(
    selection: &LabSelection,
    device: &DeviceId,
) -> Result<Vec<AppliancePartition>> {
    let store = open_store(selection)?;
    let appliance = appliance(selection, &store, device)?;
    let tokens = store.tokens()?;
    let counts = store.object_counts()?;
    Ok(application_partitions(selection, &appliance)
        .into_iter()
        .filter_map(|p| {
            let row = tokens.get(&p)?;
            let state = luna::ca::state_of(&row.record);
            Some(AppliancePartition {
                name: p.name().to_string(),
                label: row.record.label.clone(),
                serial: row.record.serial.clone(),
                initialized: row.record.initialized,
                present: row.present,
                objects: counts.get(&p).copied().unwrap_or(0),
                version: state.version(appliance.luna()),
            })
        })
        .collect())
}

/// LunaSH `partition show -partition L`: one application partition (by name, or else by
/// label); `CKR_CONTAINER_HANDLE_INVALID` naming the partitions there are when none matches.
pub fn appliance_partition(
    selection: &LabSelection,
    device: &DeviceId,
    partition: &str,
) -> Result<AppliancePartition> {
    let store = open_store(selection)?;
    let appliance = appliance(selection, &store, device)?;
    let id = named_partition(selection, &store, &appliance, partition)?;
    appliance_partitions(selection, device)?
        .into_iter()
        .find(|p| p.name == id.name())
        .ok_or_else(|| unknown_partition(selection, &appliance, partition))
}

/// The application partitions of an appliance, in lab order.
fn application_partitions(selection: &LabSelection, appliance: &Appliance) -> Vec<PartitionId> {
    selection
        .lab
        .partitions()
        .into_iter()
        .map(|(p, _, _)| p)
        .filter(|p| p.is_on(&appliance.device) && *p != appliance.admin)
        .collect()
}

/// The application partition a LunaSH `-partition` option names: its name in the lab, or else
/// the label of its token.
pub(super) fn named_partition(
    selection: &LabSelection,
    store: &Store,
    appliance: &Appliance,
    name: &str,
) -> Result<PartitionId> {
    let partitions = application_partitions(selection, appliance);
    if let Some(p) = partitions.iter().find(|p| p.name() == name) {
        return Ok(p.clone());
    }
    let tokens = store.tokens()?;
    partitions
        .into_iter()
        .find(|p| tokens.get(p).is_some_and(|row| row.record.label == name))
        .ok_or_else(|| unknown_partition(selection, appliance, name))
}

/// `CKR_CONTAINER_HANDLE_INVALID` (Luna's code for a partition that is not there), naming the
/// appliance's partitions.
fn unknown_partition(
    selection: &LabSelection,
    appliance: &Appliance,
    name: &str,
) -> crate::base::error::Error {
    err(
        luna::CKR_CONTAINER_HANDLE_INVALID,
        format!(
            "the appliance \"{}\" has no partition \"{name}\"; partitions: {}",
            appliance.device,
            application_partitions(selection, appliance)
                .iter()
                .map(|p| p.name().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}
