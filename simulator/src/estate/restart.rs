//! `hsmsim lab restart`: a device restarts after an outage; its vendor model says what that
//! does to its partitions.
use super::*;

/// What `restart_device` did to one partition.
#[derive(Debug, Clone, Serialize)]
pub struct RestartedPartition {
    pub partition: String,
    /// Roles whose activation was dropped (Luna PED partitions), by user type.
    pub deactivated: Vec<CK_USER_TYPE>,
}

/// `hsmsim lab restart`: the device restarts after an outage of `outage_secs` (0: a reboot).
/// Every session on its partitions ends (simulator-defined: processes see their tokens
/// replaced, as after a power cycle); each vendor model says what else the restart does
/// (`TokenModel::restart`). One transaction.
pub fn restart_device(
    selection: &LabSelection,
    device: &DeviceId,
    outage_secs: u64,
) -> Result<Vec<RestartedPartition>> {
    let model = selection.device_model(device)?;
    let store = open_store(selection)?;
    let mut report = Vec::new();
    store.update_tokens(device, false, |token, record| {
        let deactivated = model.restart(record, outage_secs);
        // Every process sees the token replaced (sessions end); the token and its PIN seals,
        // bound to its generation, stay.
        record.restarts = record.restarts.wrapping_add(1);
        report.push(RestartedPartition {
            partition: token.to_string(),
            deactivated,
        });
        Ok(())
    })?;
    if model.primus().is_some() {
        crate::estate::primus::clear_api_lockouts(&store, device)?;
    }
    Ok(report)
}
