//! Luna's vendor `CA_*` functions, exported by name with the C signatures of the SafeNet SDK
//! as Thales's pycryptoki binds them (`pycryptoki/cryptoki/func_defs.py`): here firmware,
//! token initialisation with a cloning domain and policies, role PINs and states, partition
//! and HSM policy settings, container status, configuration-element descriptions and object
//! unique ids; `policies.rs` the policy and capability sets and their changes, `device.rs`
//! sessions, objects, PIN reset, factory reset, self-test, time and storage, `cloning.rs`
//! `CA_CloneObject` and the three-leg cloning protocol, `ha.rs` `CA_GetHAState` and the HA
//! login calls, `not_modelled.rs`
//! every other function pycryptoki binds (`CKR_FUNCTION_NOT_SUPPORTED` by name), and
//! `function_list.rs` the `CK_SFNT_CA_FUNCTION_LIST` of `CA_GetFunctionList`. Calls on a slot
//! that is not a Luna partition answer `CKR_FUNCTION_NOT_SUPPORTED`. Array outputs follow the
//! SDK's two-call convention: null arrays ask for the counts.
mod cloning;
mod device;
mod function_list;
mod ha;
mod not_modelled;
mod policies;

pub use cloning::*;
pub use device::*;
pub use function_list::*;
pub use ha::*;
pub use not_modelled::*;
pub use policies::*;

use super::{args, engine, guard};
use crate::base::error::{Result, err};
use crate::engine::InitOptions;
use cryptoki_sys::*;

/// `CK_POLICY_INFO` (SafeNet `cryptoki_v2.h`; field names as the C header's).
#[repr(C)]
#[allow(non_snake_case)]
#[derive(Debug, Clone, Copy)]
pub struct CK_POLICY_INFO {
    pub ulId: CK_ULONG,
    pub ulValue: CK_ULONG,
    pub ulOffToOnDestructive: CK_ULONG,
    pub ulOnToOffDestructive: CK_ULONG,
}

/// `CA_ROLE_STATE` (four bytes; field names as the C header's).
#[repr(C)]
#[allow(non_snake_case)]
#[derive(Debug, Clone, Copy)]
pub struct CA_ROLE_STATE {
    pub flags: CK_BYTE,
    pub loginAttemptsLeft: CK_BYTE,
    pub primaryAuthMech: CK_BYTE,
    pub secondaryAuthMech: CK_BYTE,
}

/// Writes id/value pairs into the caller's two arrays: null arrays (or a short capacity, which
/// answers `CKR_BUFFER_TOO_SMALL`) only set the counts.
///
/// # Safety
/// The pointers must be null or valid for the counts they name.
pub(super) unsafe fn put_pairs(
    ids: *mut CK_ULONG,
    id_count: *mut CK_ULONG,
    values: *mut CK_ULONG,
    value_count: *mut CK_ULONG,
    pairs: &[(u64, u64)],
) -> Result<CK_RV> {
    // SAFETY: the caller's in/out counts.
    let (id_room, value_room) = unsafe {
        (
            args::read(id_count as *const CK_ULONG)?,
            args::read(value_count as *const CK_ULONG)?,
        )
    };
    let n = pairs.len() as CK_ULONG;
    // SAFETY: the caller's out-pointers (read above, so non-null).
    unsafe {
        args::write(id_count, n)?;
        args::write(value_count, n)?;
    }
    if ids.is_null() || values.is_null() {
        return Ok(CKR_OK);
    }
    if id_room < n || value_room < n {
        return Ok(CKR_BUFFER_TOO_SMALL);
    }
    for (i, (id, value)) in pairs.iter().enumerate() {
        // SAFETY: both arrays hold at least `n` elements.
        unsafe {
            ids.add(i).write_unaligned(*id);
            values.add(i).write_unaligned(*value);
        }
    }
    Ok(CKR_OK)
}

/// Reads `count` id/value pairs from the caller's two arrays.
///
/// # Safety
/// Both pointers must be null or point to `count` readable elements.
pub(super) unsafe fn id_value_pairs(
    count: CK_ULONG,
    ids: *const CK_ULONG,
    values: *const CK_ULONG,
) -> Result<Vec<(u64, u64)>> {
    if count > 0 && (ids.is_null() || values.is_null()) {
        return Err(err(CKR_ARGUMENTS_BAD, "the id or value array is null"));
    }
    // SAFETY: both arrays hold `count` elements per the caller's contract.
    Ok((0..count as usize)
        .map(|i| unsafe { (ids.add(i).read_unaligned(), values.add(i).read_unaligned()) })
        .collect())
}

/// Reads a `CK_POLICY_INFO` array.
///
/// # Safety
/// `p` must be null or point to `count` readable elements.
unsafe fn policy_infos(p: *const CK_POLICY_INFO, count: CK_ULONG) -> Result<Vec<CK_POLICY_INFO>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if p.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "the policy array is null"));
    }
    // SAFETY: `p` points to `count` elements per the caller's contract.
    Ok((0..count as usize)
        .map(|i| unsafe { p.add(i).read_unaligned() })
        .collect())
}

/// Reads a NUL-terminated label of at most 32 bytes (pycryptoki passes it unpadded).
///
/// # Safety
/// `p` must be null or point to a NUL-terminated string or 32 readable bytes.
unsafe fn short_label(p: *const CK_UTF8CHAR) -> Result<Vec<u8>> {
    if p.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "pLabel is null"));
    }
    let mut label = Vec::with_capacity(32);
    for i in 0..32 {
        // SAFETY: the string is NUL-terminated or at least 32 bytes long.
        let b = unsafe { p.add(i).read() };
        if b == 0 {
            break;
        }
        label.push(b);
    }
    Ok(label)
}

export!(CA_GetFirmwareVersion(slot: CK_SLOT_ID, major: *mut CK_ULONG, minor: *mut CK_ULONG, subminor: *mut CK_ULONG) {
    let (ma, mi, sub) = engine()?.partition_view(slot, crate::models::luna_ca::firmware)?;
    // SAFETY: the caller's out-pointers.
    unsafe {
        args::write(major, CK_ULONG::from(ma))?;
        args::write(minor, CK_ULONG::from(mi))?;
        args::write(subminor, CK_ULONG::from(sub))?;
    }
    Ok(CKR_OK)
});

export!(CA_GetUserContainerNumber(slot: CK_SLOT_ID, container: *mut CK_ULONG) {
    let n = engine()?.partition_view(slot, crate::models::luna_ca::container_number)?;
    // SAFETY: the caller's out-pointer.
    unsafe { args::write(container, n) }?;
    Ok(CKR_OK)
});

export!(CA_InitToken(slot: CK_SLOT_ID, pin: *mut CK_UTF8CHAR, pin_len: CK_ULONG, label: *mut CK_UTF8CHAR,
        domain: *mut CK_BYTE, domain_len: CK_ULONG, policy_count: CK_ULONG, policies: *mut CK_POLICY_INFO,
        hsm_policy_count: CK_ULONG, hsm_policies: *mut CK_POLICY_INFO) {
    let e = engine()?;
    // SAFETY: the caller's buffers, with their lengths.
    let (pin, label, domain, policies, hsm_policies) = unsafe {
        (
            args::bytes(pin, pin_len)?,
            short_label(label)?,
            args::bytes(domain, domain_len)?,
            policy_infos(policies, policy_count)?,
            policy_infos(hsm_policies, hsm_policy_count)?,
        )
    };
    if !hsm_policies.is_empty() {
        return Err(err(
            crate::models::luna::CKR_OPERATION_NOT_ALLOWED,
            "HSM policies belong to the device, not to a partition's initialisation (simulator-defined)",
        ));
    }
    let options = InitOptions {
        domain: (!domain.is_empty()).then(|| domain.to_vec()),
        policies: policies.iter().map(|p| (p.ulId, p.ulValue)).collect(),
        destructive: policies
            .iter()
            .map(|p| (p.ulId, (p.ulOffToOnDestructive != 0, p.ulOnToOffDestructive != 0)))
            .collect(),
    };
    e.init_token_with(slot, pin, &label, &options)?;
    Ok(CKR_OK)
});

export!(CA_InitRolePIN(session: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: *mut CK_UTF8CHAR, pin_len: CK_ULONG) {
    let e = engine()?;
    // SAFETY: the caller's PIN buffer.
    let pin = unsafe { args::bytes(pin, pin_len) }?;
    e.init_role_pin(session, user, pin)?;
    Ok(CKR_OK)
});

export!(CA_RoleStateGet(slot: CK_SLOT_ID, user: CK_USER_TYPE, state: *mut CA_ROLE_STATE) {
    let s = engine()?.partition_view(slot, |p| crate::models::luna_ca::role_state(p, user))?;
    let value = CA_ROLE_STATE {
        flags: s.flags,
        loginAttemptsLeft: s.login_attempts_left,
        primaryAuthMech: s.primary_auth,
        secondaryAuthMech: s.secondary_auth,
    };
    // SAFETY: the caller's out-pointer.
    unsafe { args::write(state, value) }?;
    Ok(CKR_OK)
});

export!(CA_GetContainerStatus(slot: CK_SLOT_ID, container: CK_ULONG, flags: *mut CK_ULONG,
        failed_so: *mut CK_ULONG, failed_user: *mut CK_ULONG, failed_limited_user: *mut CK_ULONG) {
    let s = engine()?.partition_view(slot, |p| crate::models::luna_ca::container_status(p, container))?;
    // SAFETY: the caller's out-pointers.
    unsafe {
        args::write(flags, s.flags)?;
        args::write(failed_so, s.failed_so)?;
        args::write(failed_user, s.failed_user)?;
        args::write(failed_limited_user, s.failed_limited_user)?;
    }
    Ok(CKR_OK)
});

export!(CA_GetTokenPolicies(slot: CK_SLOT_ID, ids: *mut CK_ULONG, id_count: *mut CK_ULONG,
        values: *mut CK_ULONG, value_count: *mut CK_ULONG) {
    let pairs = engine()?.partition_view(slot, crate::models::luna_ca::token_policies)?;
    // SAFETY: the caller's arrays and counts.
    unsafe { put_pairs(ids, id_count, values, value_count, &pairs) }
});

export!(CA_GetTokenCapabilities(slot: CK_SLOT_ID, ids: *mut CK_ULONG, id_count: *mut CK_ULONG,
        values: *mut CK_ULONG, value_count: *mut CK_ULONG) {
    let pairs = engine()?.partition_view(slot, crate::models::luna_ca::token_capabilities)?;
    // SAFETY: the caller's arrays and counts.
    unsafe { put_pairs(ids, id_count, values, value_count, &pairs) }
});

export!(CA_SetTokenPolicies(session: CK_SESSION_HANDLE, slot: CK_SLOT_ID, count: CK_ULONG,
        ids: *mut CK_ULONG, values: *mut CK_ULONG) {
    let e = engine()?;
    // SAFETY: the caller's two arrays of `count` elements.
    let changes = unsafe { id_value_pairs(count, ids, values) }?;
    e.set_partition_policies(session, Some(slot), None, &changes)?;
    Ok(CKR_OK)
});

export!(CA_GetHSMPolicySetting(slot: CK_SLOT_ID, id: CK_ULONG, value: *mut CK_ULONG) {
    let v = engine()?.partition_view(slot, |p| crate::models::luna_ca::hsm_policy(p, id))?;
    // SAFETY: the caller's out-pointer.
    unsafe { args::write(value, v) }?;
    Ok(CKR_OK)
});

export!(CA_GetHSMCapabilitySetting(slot: CK_SLOT_ID, id: CK_ULONG, value: *mut CK_ULONG) {
    // One value per element: the capability is what the HSM allows (simulator-defined).
    let v = engine()?.partition_view(slot, |p| crate::models::luna_ca::hsm_policy(p, id))?;
    // SAFETY: the caller's out-pointer.
    unsafe { args::write(value, v) }?;
    Ok(CKR_OK)
});

/// Room `CA_GetConfigurationElementDescription` assumes in the caller's description buffer,
/// NUL included: the SDK's 8-argument form passes no length (simulator-defined; longer
/// descriptions are cut).
pub const ELEMENT_DESCRIPTION_ROOM: usize = 128;

export!(CA_GetConfigurationElementDescription(slot: CK_SLOT_ID, is_container: CK_ULONG,
        is_capability: CK_ULONG, id: CK_ULONG, bit_length: *mut CK_ULONG, destructive: *mut CK_ULONG,
        write_restricted: *mut CK_ULONG, description: *mut CK_CHAR) {
    let d = engine()?.partition_view(slot, |p| crate::models::luna_ca::element_description(p, is_container != 0, is_capability != 0, id))?;
    let mut text = d.description.into_bytes();
    text.truncate(ELEMENT_DESCRIPTION_ROOM - 1);
    text.push(0);
    // SAFETY: the caller's out-pointers; the description buffer holds
    // `ELEMENT_DESCRIPTION_ROOM` bytes (the SDK's contract has no length) or is null.
    unsafe {
        args::write(bit_length, d.bit_length)?;
        args::write(destructive, CK_ULONG::from(d.destructive))?;
        args::write(write_restricted, CK_ULONG::from(d.write_restricted))?;
        if !description.is_null() {
            std::ptr::copy_nonoverlapping(text.as_ptr(), description, text.len());
        }
    }
    Ok(CKR_OK)
});

export!(CA_GetObjectUID(slot: CK_SLOT_ID, container: CK_ULONG, object_type: CK_ULONG,
        object: CK_ULONG, ouid: *mut CK_BYTE) {
    let uid = engine()?.object_ouid(slot, container, object_type, object)?;
    if ouid.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "the OUID buffer is null"));
    }
    // SAFETY: the caller's 12-byte buffer.
    unsafe { std::ptr::copy_nonoverlapping(uid.as_ptr(), ouid, uid.len()) };
    Ok(CKR_OK)
});

export!(CA_GetObjectHandle(slot: CK_SLOT_ID, container: CK_ULONG, ouid: *mut CK_BYTE,
        object_type: *mut CK_ULONG, object: *mut CK_ULONG) {
    let e = engine()?;
    // SAFETY: the caller's 12-byte OUID.
    let uid: [u8; 12] = unsafe { args::bytes(ouid, 12) }?
        .try_into()
        .map_err(|_| err(CKR_ARGUMENTS_BAD, "an OUID is 12 bytes"))?;
    let (kind, handle) = e.object_by_ouid(slot, container, &uid)?;
    // SAFETY: the caller's out-pointers.
    unsafe {
        args::write(object_type, kind)?;
        args::write(object, handle)?;
    }
    Ok(CKR_OK)
});

export!(CA_CreateLoginChallenge(session: CK_SESSION_HANDLE, user: CK_USER_TYPE, challenge_len: CK_ULONG,
        challenge: *mut CK_CHAR, output_len: *mut CK_ULONG, output: *mut CK_CHAR) {
    let e = engine()?;
    // SAFETY: the caller's challenge buffer.
    let challenge = unsafe { args::bytes(challenge, challenge_len) }?;
    e.create_login_challenge(session, user, challenge)?;
    // No output data (pycryptoki passes a zero length and a one-byte buffer).
    let _ = output;
    if !output_len.is_null() {
        // SAFETY: the caller's out-pointer, checked non-null.
        unsafe { args::write(output_len, 0) }?;
    }
    Ok(CKR_OK)
});

export!(CA_Deactivate(slot: CK_SLOT_ID, user: CK_USER_TYPE) {
    engine()?.deactivate(slot, user)?;
    Ok(CKR_OK)
});

export!(CA_SetHSMPolicy(session: CK_SESSION_HANDLE, id: CK_ULONG, value: CK_ULONG) {
    engine()?.set_hsm_policies(session, &[(id, value)], false)?;
    Ok(CKR_OK)
});

export!(CA_SetDestructiveHSMPolicy(session: CK_SESSION_HANDLE, id: CK_ULONG, value: CK_ULONG) {
    engine()?.set_hsm_policies(session, &[(id, value)], true)?;
    Ok(CKR_OK)
});
