//! CCC's devices: a lab Luna Network HSM added to CCC, authorised (CCC logs in as its HSM SO,
//! as LunaSH's `hsm login` does: the attempt counted, the third wrong password zeroising the
//! HSM), listed and removed.
//!
//! Simulator-defined: a PED device is authorised with an empty password (its HSM SO presents
//! the blue PED key the lab names); an empty password for a password device is refused before
//! any login, so it does not count towards the zeroising third wrong password.
use super::*;
use crate::models::luna;

/// The devices added to CCC, in the order they were added.
pub fn ccc_devices(selection: &LabSelection) -> Result<Vec<CccDevice>> {
    Ok(ccc_state(selection)?.devices)
}

/// Adds `device` to CCC, not authorised. Refused unless the lab defines it as a Luna Network
/// HSM ("CCC manages Luna Network HSMs only", documented (seed 004)), and when it is already
/// added (simulator-defined).
pub fn add_ccc_device(selection: &LabSelection, device: &DeviceId) -> Result<()> {
    match selection.device_model(device)? {
        TokenModel::Luna(d) if d.kind == luna::DeviceKind::Network => {}
        _ => {
            return Err(refused(format!(
                "CCC manages Luna Network HSMs only; device \"{device}\" is not one"
            )));
        }
    }
    update_ccc(selection, |state| {
        if state.devices.iter().any(|d| &d.device == device) {
            return Err(refused(format!(
                "device \"{device}\" is already added to CCC"
            )));
        }
        state.devices.push(CccDevice {
            device: device.clone(),
            authorised: false,
            offline: false,
        });
        Ok(())
    })
}

/// Authorises an added device: CCC logs in as its HSM SO with `password` ("the device must be
/// authorized to allow CCC to log in as the HSM SO", documented (seed 004)), checked and
/// counted as LunaSH's `hsm login` checks it (`hsm_so_login`: `CKR_PIN_INCORRECT`, the third
/// wrong one zeroising the HSM and answering `CKR_PIN_LOCKED`); an empty `password` presents
/// a PED device's blue PED key and is refused, uncounted, for a password device. Refused
/// (`CKR_ARGUMENTS_BAD`) when the device is not added.
pub fn authorise_ccc_device(
    selection: &LabSelection,
    device: &DeviceId,
    password: &[u8],
) -> Result<()> {
    let added = |state: &CccState| state.devices.iter().position(|d| &d.device == device);
    let not_added = || {
        unknown(format!(
            "device \"{device}\" is not added to CCC: add it first"
        ))
    };
    added(&ccc_state(selection)?).ok_or_else(not_added)?;
    if password.is_empty() && !selection.device_model(device)?.uses_ped() {
        return Err(refused(format!(
            "device \"{device}\" authenticates with passwords: enter its HSM SO password (leave it empty for a PED device only, whose HSM SO presents the blue PED key)"
        )));
    }
    hsm_so_login(selection, device, password)?;
    update_ccc(selection, |state| {
        let at = added(state).ok_or_else(not_added)?;
        state.devices[at].authorised = true;
        Ok(())
    })
}

/// Removes `device` from CCC. Refused while a service has a partition on it
/// (simulator-defined: detach or delete the service first).
pub fn remove_ccc_device(selection: &LabSelection, device: &DeviceId) -> Result<()> {
    update_ccc(selection, |state| {
        let at = state
            .devices
            .iter()
            .position(|d| &d.device == device)
            .ok_or_else(|| unknown(format!("device \"{device}\" is not added to CCC")))?;
        if let Some(service) = state
            .ccc
            .services
            .iter()
            .find(|s| s.partitions.iter().any(|p| p.is_on(device)))
        {
            return Err(refused(format!(
                "device \"{device}\" hosts a partition of service \"{}\": detach or delete the service first",
                service.name
            )));
        }
        state.devices.remove(at);
        Ok(())
    })
}
