//! A Luna device's HSM policies changed (`CA_SetHSMPolicy`, `CA_SetHSMPolicies`): checked against its firmware,
//! destructive changes zeroising its partitions in the same transaction; and LunaSH's `hsm
//! showpolicies` and `hsm changepolicy` (the HSM SO, logged in with `hsm_so_login`) built on it.
use super::*;

/// `CA_SetHSMPolicy` on a Luna device in an open store: policy `id` becomes `value` (checked
/// against the device's firmware). A destructive change (the element's off-to-on or on-to-off
/// is) is refused with `CKR_CONFIG_CHANGE_ILLEGAL` unless `destructive_ok`, and then zeroises
/// every partition of the device in the same transaction. Returns the device's changed
/// policies and whether it zeroised.
pub fn set_hsm_policy(
    store: &Store,
    device: &crate::models::luna::Device,
    id: u64,
    value: u64,
    destructive_ok: bool,
) -> Result<(std::collections::BTreeMap<u64, u64>, bool)> {
    set_hsm_policies(store, device, &[(id, value)], destructive_ok)
}

/// Several HSM policies of a Luna device at once (`CA_SetHSMPolicies`): all or none, in one
/// transaction; destructive when any change is (see `set_hsm_policy`).
pub fn set_hsm_policies(
    store: &Store,
    device: &crate::models::luna::Device,
    changes: &[(u64, u64)],
    destructive_ok: bool,
) -> Result<(std::collections::BTreeMap<u64, u64>, bool)> {
    use crate::models::luna;
    let elements = changes
        .iter()
        .map(|&(id, value)| luna::check_hsm_policy(device.firmware, id, value))
        .collect::<Result<Vec<_>>>()?;
    store.update_device_policies(&DeviceId::new(device.name.as_str()), |changed| {
        let mut any_destructive = false;
        for (&(id, value), element) in changes.iter().zip(elements) {
            let lab_value = device.hsm_policies.get(&id).copied();
            let old = changed
                .get(&id)
                .copied()
                .or(lab_value)
                .unwrap_or(element.default);
            let destructive = (old == 0 && value != 0 && element.off_to_on_destructive)
                || (old != 0 && value == 0 && element.on_to_off_destructive);
            if destructive && !destructive_ok {
                return Err(err(
                    luna::CKR_CONFIG_CHANGE_ILLEGAL,
                    format!(
                        "HSM policy {id} ({}) is destructive: it zeroises the partitions; use CA_SetDestructiveHSMPolicy",
                        element.description
                    ),
                ));
            }
            changed.insert(id, value);
            any_destructive |= destructive;
        }
        Ok(any_destructive)
    })
}

/// What LunaSH `hsm changepolicy` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HsmPolicyChange {
    /// The change was destructive: every partition of the HSM lost its objects.
    pub zeroised: bool,
    /// The HSM's policies afterwards, as `hsm showpolicies` lists them.
    pub policies: Vec<PolicyRow>,
}

/// LunaSH `hsm showpolicies` on a Luna Network HSM: every HSM policy its firmware has, with
/// its value and capability (one value here, as `CA_GetHSMCapabilitySet` answers) and
/// destructiveness. Needs no HSM SO login.
pub fn hsm_show_policies(selection: &LabSelection, device: &DeviceId) -> Result<Vec<PolicyRow>> {
    let store = open_store(selection)?;
    let appliance = appliance(selection, &store, device)?;
    with_view(&store, &appliance, &appliance.admin, true, hsm_rows)
}

fn hsm_rows(p: &crate::models::luna_ca::PartitionView<'_>) -> Result<Vec<PolicyRow>> {
    let values = crate::models::luna_ca::hsm_policies(p)?;
    policy_rows(p, false, values.clone(), &values)
}

/// LunaSH `hsm changepolicy -policy N -value V`: the HSM SO (`login`) changes an HSM policy
/// (`set_hsm_policies`: checked against the firmware; a destructive change needs
/// `confirm_destructive`, LunaSH's "proceed", else `CKR_CONFIG_CHANGE_ILLEGAL`, and zeroises the
/// HSM's partitions in the same transaction).
pub fn hsm_change_policy(
    selection: &LabSelection,
    login: &HsmSoLogin,
    changes: &[(u64, u64)],
    confirm_destructive: bool,
) -> Result<HsmPolicyChange> {
    let (store, appliance) = login.open(selection)?;
    let (policies, zeroised) =
        set_hsm_policies(&store, appliance.luna(), changes, confirm_destructive)?;
    appliance.luna().changed.set(policies);
    Ok(HsmPolicyChange {
        zeroised,
        policies: with_view(&store, &appliance, &appliance.admin, true, hsm_rows)?,
    })
}
