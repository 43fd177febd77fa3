//! A Luna device's HSM policies changed (`CA_SetHSMPolicy`, `CA_SetHSMPolicies`): checked against its firmware,
//! destructive changes zeroising its partitions in the same transaction.
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
