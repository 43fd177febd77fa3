//! Luna's policy and capability sets (`CA_GetContainerPolicySet`, `CA_GetHSMPolicySet` and
//! their capability and one-setting forms) and their changes (`CA_SetContainerPolicy`,
//! `CA_SetContainerPolicies`, `CA_SetHSMPolicies`, `CA_SetDestructiveHSMPolicies`), over the
//! policies the Luna model keeps (`models::luna_ca`). Containers: a partition is its own
//! container (`CA_GetUserContainerNumber`); another number answers
//! `CKR_CONTAINER_HANDLE_INVALID`.
use super::super::{args, engine, guard};
use super::{id_value_pairs, put_pairs};
use crate::models::luna_ca;
use cryptoki_sys::*;

export!(CA_GetContainerPolicySet(slot: CK_SLOT_ID, container: CK_ULONG, ids: *mut CK_ULONG,
        id_count: *mut CK_ULONG, values: *mut CK_ULONG, value_count: *mut CK_ULONG) {
    let pairs = engine()?.partition_view(slot, |p| luna_ca::container_elements(p, container, false))?;
    // SAFETY: the caller's arrays and counts.
    unsafe { put_pairs(ids, id_count, values, value_count, &pairs) }
});

export!(CA_GetContainerCapabilitySet(slot: CK_SLOT_ID, container: CK_ULONG, ids: *mut CK_ULONG,
        id_count: *mut CK_ULONG, values: *mut CK_ULONG, value_count: *mut CK_ULONG) {
    let pairs = engine()?.partition_view(slot, |p| luna_ca::container_elements(p, container, true))?;
    // SAFETY: the caller's arrays and counts.
    unsafe { put_pairs(ids, id_count, values, value_count, &pairs) }
});

export!(CA_GetContainerPolicySetting(slot: CK_SLOT_ID, container: CK_ULONG, id: CK_ULONG,
        value: *mut CK_ULONG) {
    let v = engine()?.partition_view(slot, |p| luna_ca::container_element(p, container, false, id))?;
    // SAFETY: the caller's out-pointer.
    unsafe { args::write(value, v) }?;
    Ok(CKR_OK)
});

export!(CA_GetContainerCapabilitySetting(slot: CK_SLOT_ID, container: CK_ULONG, id: CK_ULONG,
        value: *mut CK_ULONG) {
    let v = engine()?.partition_view(slot, |p| luna_ca::container_element(p, container, true, id))?;
    // SAFETY: the caller's out-pointer.
    unsafe { args::write(value, v) }?;
    Ok(CKR_OK)
});

export!(CA_SetContainerPolicy(session: CK_SESSION_HANDLE, container: CK_ULONG, id: CK_ULONG,
        value: CK_ULONG) {
    engine()?.set_partition_policies(session, None, Some(container), &[(id, value)])?;
    Ok(CKR_OK)
});

export!(CA_SetContainerPolicies(session: CK_SESSION_HANDLE, container: CK_ULONG, count: CK_ULONG,
        ids: *mut CK_ULONG, values: *mut CK_ULONG) {
    let e = engine()?;
    // SAFETY: the caller's two arrays of `count` elements.
    let changes = unsafe { id_value_pairs(count, ids, values) }?;
    e.set_partition_policies(session, None, Some(container), &changes)?;
    Ok(CKR_OK)
});

export!(CA_GetHSMPolicySet(slot: CK_SLOT_ID, ids: *mut CK_ULONG, id_count: *mut CK_ULONG,
        values: *mut CK_ULONG, value_count: *mut CK_ULONG) {
    let pairs = engine()?.partition_view(slot, luna_ca::hsm_policies)?;
    // SAFETY: the caller's arrays and counts.
    unsafe { put_pairs(ids, id_count, values, value_count, &pairs) }
});

export!(CA_GetHSMCapabilitySet(slot: CK_SLOT_ID, ids: *mut CK_ULONG, id_count: *mut CK_ULONG,
        values: *mut CK_ULONG, value_count: *mut CK_ULONG) {
    // One value per element, as `CA_GetHSMCapabilitySetting` (simulator-defined).
    let pairs = engine()?.partition_view(slot, luna_ca::hsm_policies)?;
    // SAFETY: the caller's arrays and counts.
    unsafe { put_pairs(ids, id_count, values, value_count, &pairs) }
});

export!(CA_SetHSMPolicies(session: CK_SESSION_HANDLE, count: CK_ULONG, ids: *mut CK_ULONG,
        values: *mut CK_ULONG) {
    let e = engine()?;
    // SAFETY: the caller's two arrays of `count` elements.
    let changes = unsafe { id_value_pairs(count, ids, values) }?;
    e.set_hsm_policies(session, &changes, false)?;
    Ok(CKR_OK)
});

export!(CA_SetDestructiveHSMPolicies(session: CK_SESSION_HANDLE, count: CK_ULONG,
        ids: *mut CK_ULONG, values: *mut CK_ULONG) {
    let e = engine()?;
    // SAFETY: the caller's two arrays of `count` elements.
    let changes = unsafe { id_value_pairs(count, ids, values) }?;
    e.set_hsm_policies(session, &changes, true)?;
    Ok(CKR_OK)
});
