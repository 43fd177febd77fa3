//! Luna's vendor `CA_*` functions, exported by name with the C signatures of the SafeNet SDK
//! header `sfnt_extensions.h` (and pycryptoki's bindings): firmware, token initialisation with a
//! cloning domain and policies, role PINs and states, partition and HSM policies, container
//! status and object unique ids. Calls on a slot that is not a Luna partition answer
//! `CKR_FUNCTION_NOT_SUPPORTED`. Array outputs follow the SDK's two-call convention: null
//! arrays ask for the counts.
use super::{args, engine, guard};
use crate::base::error::{Result, err};
use crate::engine::InitOptions;
use cryptoki_sys::*;
use std::ffi::c_void;

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
unsafe fn put_pairs(
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
    if count > 0 && (ids.is_null() || values.is_null()) {
        return Err(err(CKR_ARGUMENTS_BAD, "the policy arrays are null"));
    }
    // SAFETY: both arrays hold `count` elements per the caller's contract.
    let changes: Vec<(u64, u64)> = (0..count as usize)
        .map(|i| unsafe { (ids.add(i).read_unaligned(), values.add(i).read_unaligned()) })
        .collect();
    // The C call is the confirmation: a destructive change erases the partition's objects.
    e.change_partition(
        session,
        Some(slot),
        |model, who, _| {
            crate::models::luna_ca::authorise_partition_so(model, who, "changes partition policies")
        },
        |model, record| crate::models::luna_ca::set_token_policies(model, record, &changes, true),
    )?;
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

export!(CA_GetConfigurationElementDescription(slot: CK_SLOT_ID, is_container: CK_ULONG,
        is_capability: CK_ULONG, id: CK_ULONG, bit_length: *mut CK_ULONG, destructive: *mut CK_ULONG,
        write_restricted: *mut CK_ULONG, description: *mut CK_CHAR, description_len: *mut CK_ULONG) {
    let d = engine()?.partition_view(slot, |p| crate::models::luna_ca::element_description(p, is_container != 0, is_capability != 0, id))?;
    let mut text = d.description.into_bytes();
    text.push(0);
    // SAFETY: the caller's out-pointers and buffer of `*description_len` bytes.
    unsafe {
        args::write(bit_length, d.bit_length)?;
        args::write(destructive, CK_ULONG::from(d.destructive))?;
        args::write(write_restricted, CK_ULONG::from(d.write_restricted))?;
        let room = args::read(description_len as *const CK_ULONG)?;
        args::write(description_len, text.len() as CK_ULONG)?;
        if description.is_null() {
            return Ok(CKR_OK);
        }
        if (room as usize) < text.len() {
            return Ok(CKR_BUFFER_TOO_SMALL);
        }
        std::ptr::copy_nonoverlapping(text.as_ptr(), description, text.len());
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
    engine()?.set_hsm_policy(session, id, value, false)?;
    Ok(CKR_OK)
});

export!(CA_SetDestructiveHSMPolicy(session: CK_SESSION_HANDLE, id: CK_ULONG, value: CK_ULONG) {
    engine()?.set_hsm_policy(session, id, value, true)?;
    Ok(CKR_OK)
});

/// `CK_SFNT_CA_FUNCTION_LIST`: a version and 256 function pointers in the order the SafeNet SDK
/// header `sfnt_extensions.h` declares them (the header generates the struct from that order;
/// no public header gives the shipping layout, so this order is hsmsim's documented choice).
/// Entries hsmsim does not implement point at `ca_not_supported`, never at null, because
/// clients call through entries without checking: it takes no arguments and answers
/// `CKR_FUNCTION_NOT_SUPPORTED`, which is sound on the C ABIs hsmsim builds for (x86-64 System V
/// and AArch64: the caller passes and removes the arguments, the callee may ignore them).
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct CK_SFNT_CA_FUNCTION_LIST {
    pub version: CK_VERSION,
    pub functions: [*const c_void; CA_FUNCTION_COUNT],
}

/// Entries in `CK_SFNT_CA_FUNCTION_LIST`.
pub const CA_FUNCTION_COUNT: usize = 256;

/// The names of the entries, in order (for documentation and tests).
pub const CA_FUNCTION_NAMES: [&str; CA_FUNCTION_COUNT] = [
    "CA_GetFunctionList",
    "CA_WaitForSlotEvent",
    "CA_InitIndirectToken",
    "CA_InitIndirectPIN",
    "CA_ResetPIN",
    "CA_InitRolePIN",
    "CA_InitSlotRolePIN",
    "CA_RoleStateGet",
    "CA_CreateLoginChallenge",
    "CA_CreateContainerLoginChallenge",
    "CA_Deactivate",
    "CA_FindAdminSlotForSlot",
    "CA_TokenInsert",
    "CA_TokenInsertNoAuth",
    "CA_TokenZeroize",
    "CA_TokenDelete",
    "CA_GetFirmwareVersion",
    "CA_OpenSession",
    "CA_OpenSessionWithAppID",
    "CA_IndirectLogin",
    "CA_InitializeRemotePEDVector",
    "CA_DeleteRemotePEDVector",
    "CA_GetRemotePEDVectorStatus",
    "CA_ConfigureRemotePED",
    "CA_DismantleRemotePED",
    "CA_Restart",
    "CA_RestartForContainer",
    "CA_CloseApplicationID",
    "CA_CloseApplicationIDForContainer",
    "CA_OpenApplicationID",
    "CA_OpenApplicationIDForContainer",
    "CA_SetApplicationID",
    "CA_ManualKCV",
    "CA_SetLKCV",
    "CA_SetKCV",
    "CA_SetRDK",
    "CA_SetCloningDomain",
    "CA_ClonePrivateKey",
    "CA_CloneObject",
    "CA_GenerateCloningKEV",
    "CA_CloneAsTargetInit",
    "CA_CloneAsSource",
    "CA_CloneAsTarget",
    "CA_SetMofN",
    "CA_GenerateMofN",
    "CA_GenerateCloneableMofN",
    "CA_ModifyMofN",
    "CA_CloneMofN",
    "CA_CloneModifyMofN",
    "CA_ActivateMofN",
    "CA_DeactivateMofN",
    "CA_GetMofNStatus",
    "CA_DuplicateMofN",
    "CA_IsMofNEnabled",
    "CA_IsMofNRequired",
    "CA_GenerateTokenKeys",
    "CA_GenerateTWK",
    "CA_GetTokenCertificateInfo",
    "CA_SetTokenCertificateSignature",
    "CA_GetModuleList",
    "CA_GetModuleInfo",
    "CA_LoadModule",
    "CA_LoadEncryptedModule",
    "CA_UnloadModule",
    "CA_PerformModuleCall",
    "CA_FirmwareUpdate",
    "CA_FirmwareRollback",
    "CA_CapabilityUpdate",
    "CA_GetUserContainerNumber",
    "CA_GetUserContainerName",
    "CA_SetUserContainerName",
    "CA_GetTokenInsertionCount",
    "CA_GetRollbackFirmwareVersion",
    "CA_GetFPV",
    "CA_GetTPV",
    "CA_GetExtendedTPV",
    "CA_GetConfigurationElementDescription",
    "CA_GetHSMCapabilitySet",
    "CA_GetHSMCapabilitySetting",
    "CA_GetHSMPolicySet",
    "CA_GetHSMPolicySetting",
    "CA_GetContainerCapabilitySet",
    "CA_GetContainerCapabilitySetting",
    "CA_GetContainerPolicySet",
    "CA_GetContainerPolicySetting",
    "CA_GetPartitionPolicyTemplate",
    "CA_SetTPV",
    "CA_SetExtendedTPV",
    "CA_SetHSMPolicy",
    "CA_SetHSMPolicies",
    "CA_SetDestructiveHSMPolicy",
    "CA_SetDestructiveHSMPolicies",
    "CA_SetContainerPolicy",
    "CA_SetContainerPolicies",
    "CA_GetTokenCapabilities",
    "CA_SetTokenPolicies",
    "CA_GetTokenPolicies",
    "CA_RetrieveLicenseList",
    "CA_QueryLicense",
    "CA_GetContainerStatus",
    "CA_GetTokenStatus",
    "CA_GetSessionInfo",
    "CA_ReadCommonStore",
    "CA_WriteCommonStore",
    "CA_GetPrimarySlot",
    "CA_GetSecondarySlot",
    "CA_SwitchSecondarySlot",
    "CA_CloseSecondarySession",
    "CA_CloseAllSecondarySessions",
    "CA_ChoosePrimarySlot",
    "CA_ChooseSecondarySlot",
    "CA_CloneObjectToAllSessions",
    "CA_CloneAllObjectsToSession",
    "CA_ResetDevice",
    "CA_Zeroize",
    "CA_FactoryReset",
    "CA_SetPedId",
    "CA_GetPedId",
    "CA_SpRawRead",
    "CA_SpRawWrite",
    "CA_CheckOperationState",
    "CA_DestroyMultipleObjects",
    "CA_OpenSecureToken",
    "CA_CloseSecureToken",
    "CA_ListSecureTokenInit",
    "CA_ListSecureTokenUpdate",
    "CA_GetSecureElementMeta",
    "CA_Bip32ExportPublicKey",
    "CA_Bip32ImportPublicKey",
    "CA_HAInit",
    "CA_HAGetMasterPublic",
    "CA_HAGetLoginChallenge",
    "CA_HAAnswerLoginChallenge",
    "CA_HALogin",
    "CA_HAAnswerMofNChallenge",
    "CA_HAActivateMofN",
    "CA_GetHAState",
    "CA_GetTokenCertificates",
    "CA_ExtractMaskedObject",
    "CA_InsertMaskedObject",
    "CA_MultisignValue",
    "CA_SIMExtract",
    "CA_SIMInsert",
    "CA_SIMMultiSign",
    "CA_Extract",
    "CA_Insert",
    "CA_GetTokenObjectUID",
    "CA_GetTokenObjectHandle",
    "CA_GetObjectUID",
    "CA_GetObjectHandle",
    "CA_DeleteContainer",
    "CA_MTKSetStorage",
    "CA_MTKRestore",
    "CA_MTKResplit",
    "CA_MTKZeroize",
    "CA_MTKGetState",
    "CA_TamperClear",
    "CA_STMToggle",
    "CA_STMGetState",
    "CA_GetTSV",
    "CA_InvokeServiceInit",
    "CA_InvokeService",
    "CA_InvokeServiceFinal",
    "CA_InvokeServiceAsynch",
    "CA_InvokeServiceSinglePart",
    "CA_EncodeECPrimeParams",
    "CA_EncodeECChar2Params",
    "CA_EncodeECParamsFromFile",
    "CA_GetHSMStats",
    "CA_GetHSMStorageInformation",
    "CA_GetTokenStorageInformation",
    "CA_GetContainerStorageInformation",
    "CA_SetContainerSize",
    "CA_CreateContainerWithPolicy",
    "CA_CreateContainer",
    "CA_InitAudit",
    "CA_LogVerify",
    "CA_LogVerifyFile",
    "CA_LogExternal",
    "CA_LogImportSecret",
    "CA_LogExportSecret",
    "CA_TimeSync",
    "CA_GetTime",
    "CA_LogSetConfig",
    "CA_LogGetConfig",
    "CA_ReplaceFastPathKEK",
    "CA_LogGetStatus",
    "CA_DeleteContainerWithHandle",
    "CA_GetContainerList",
    "CA_GetContainerName",
    "CA_GetNumberOfAllowedContainers",
    "CA_GetTunnelSlotNumber",
    "CA_GetClusterState",
    "CA_LockClusteredSlot",
    "CA_UnlockClusteredSlot",
    "CA_ModifyUsageCount",
    "CA_EnableUnauthTokenInsertion",
    "CA_GetUnauthTokenInsertionStatus",
    "CA_DisableUnauthTokenInsertion",
    "CA_STCRegister",
    "CA_STCDeregister",
    "CA_STCGetPubKey",
    "CA_STCGetClientsList",
    "CA_STCGetClientInfo",
    "CA_STCGetPartPubKey",
    "CA_STCGetAdminPubKey",
    "CA_STCSetCipherAlgorithm",
    "CA_STCGetCipherAlgorithm",
    "CA_STCClearCipherAlgorithm",
    "CA_STCSetDigestAlgorithm",
    "CA_STCGetDigestAlgorithm",
    "CA_STCClearDigestAlgorithm",
    "CA_STCSetKeyLifeTime",
    "CA_STCGetKeyLifeTime",
    "CA_STCSetKeyActivationTimeOut",
    "CA_STCGetKeyActivationTimeOut",
    "CA_STCSetMaxSessions",
    "CA_STCGetMaxSessions",
    "CA_STCSetSequenceWindowSize",
    "CA_STCGetSequenceWindowSize",
    "CA_STCIsEnabled",
    "CA_STCGetState",
    "CA_STCGetCurrentKeyLife",
    "CA_GetSlotIdForPhysicalSlot",
    "CA_GetSlotIdForContainer",
    "CA_STCGetChannelID",
    "CA_STCGetCipherID",
    "CA_STCGetDigestID",
    "CA_STCGetCipherIDs",
    "CA_STCGetCipherNameByID",
    "CA_STCGetDigestIDs",
    "CA_STCGetDigestNameByID",
    "CA_GetServerInstanceBySlotID",
    "CA_GetSlotListFromServerInstance",
    "CA_ChangeLabel",
    "CA_PerformSelfTest",
    "CA_FMDownload",
    "CA_FMDelete",
    "CA_FMActivateSMFS",
    "CA_GetActualSlotList",
    "CA_DeriveKeyAndWrap",
    "CA_MdPriv_Initialize",
    "CA_Get",
    "CA_Put",
    "CA_GetDefaultPartitionPolicyValue",
    "CA_GetDefaultHSMPolicyValue",
    "CA_ValidateHSMPolicySet",
    "CA_ValidateContainerPolicySet",
    "CA_ZeroizeContainer",
    "CA_InitToken",
    "CA_ReadUtilizationMetrics",
    "CA_ReadAndResetUtilizationMetrics",
    "CA_ReadAllUtilizationCounters",
    "CA_ReadUtilizationCount",
    "CA_DescribeUtilizationBinId",
    "CA_DescribeUtilizationCounterId",
];

/// The entry for a function hsmsim does not implement.
extern "C" fn ca_not_supported() -> CK_RV {
    CKR_FUNCTION_NOT_SUPPORTED
}

const NOT_SUPPORTED: *const c_void = ca_not_supported as *const c_void;

macro_rules! ptr {
    ($f:ident) => {
        $f as *const c_void
    };
}

static CA_FUNCTION_LIST: super::Shared<CK_SFNT_CA_FUNCTION_LIST> =
    super::Shared::new(CK_SFNT_CA_FUNCTION_LIST {
        version: CK_VERSION { major: 1, minor: 0 },
        functions: [
            ptr!(CA_GetFunctionList),                    // 0
            NOT_SUPPORTED,                               // 1 CA_WaitForSlotEvent
            NOT_SUPPORTED,                               // 2 CA_InitIndirectToken
            NOT_SUPPORTED,                               // 3 CA_InitIndirectPIN
            NOT_SUPPORTED,                               // 4 CA_ResetPIN
            ptr!(CA_InitRolePIN),                        // 5
            NOT_SUPPORTED,                               // 6 CA_InitSlotRolePIN
            ptr!(CA_RoleStateGet),                       // 7
            ptr!(CA_CreateLoginChallenge),               // 8
            NOT_SUPPORTED,                               // 9 CA_CreateContainerLoginChallenge
            ptr!(CA_Deactivate),                         // 10
            NOT_SUPPORTED,                               // 11 CA_FindAdminSlotForSlot
            NOT_SUPPORTED,                               // 12 CA_TokenInsert
            NOT_SUPPORTED,                               // 13 CA_TokenInsertNoAuth
            NOT_SUPPORTED,                               // 14 CA_TokenZeroize
            NOT_SUPPORTED,                               // 15 CA_TokenDelete
            ptr!(CA_GetFirmwareVersion),                 // 16
            NOT_SUPPORTED,                               // 17 CA_OpenSession
            NOT_SUPPORTED,                               // 18 CA_OpenSessionWithAppID
            NOT_SUPPORTED,                               // 19 CA_IndirectLogin
            NOT_SUPPORTED,                               // 20 CA_InitializeRemotePEDVector
            NOT_SUPPORTED,                               // 21 CA_DeleteRemotePEDVector
            NOT_SUPPORTED,                               // 22 CA_GetRemotePEDVectorStatus
            NOT_SUPPORTED,                               // 23 CA_ConfigureRemotePED
            NOT_SUPPORTED,                               // 24 CA_DismantleRemotePED
            NOT_SUPPORTED,                               // 25 CA_Restart
            NOT_SUPPORTED,                               // 26 CA_RestartForContainer
            NOT_SUPPORTED,                               // 27 CA_CloseApplicationID
            NOT_SUPPORTED,                               // 28 CA_CloseApplicationIDForContainer
            NOT_SUPPORTED,                               // 29 CA_OpenApplicationID
            NOT_SUPPORTED,                               // 30 CA_OpenApplicationIDForContainer
            NOT_SUPPORTED,                               // 31 CA_SetApplicationID
            NOT_SUPPORTED,                               // 32 CA_ManualKCV
            NOT_SUPPORTED,                               // 33 CA_SetLKCV
            NOT_SUPPORTED,                               // 34 CA_SetKCV
            NOT_SUPPORTED,                               // 35 CA_SetRDK
            NOT_SUPPORTED,                               // 36 CA_SetCloningDomain
            NOT_SUPPORTED,                               // 37 CA_ClonePrivateKey
            NOT_SUPPORTED,                               // 38 CA_CloneObject
            NOT_SUPPORTED,                               // 39 CA_GenerateCloningKEV
            NOT_SUPPORTED,                               // 40 CA_CloneAsTargetInit
            NOT_SUPPORTED,                               // 41 CA_CloneAsSource
            NOT_SUPPORTED,                               // 42 CA_CloneAsTarget
            NOT_SUPPORTED,                               // 43 CA_SetMofN
            NOT_SUPPORTED,                               // 44 CA_GenerateMofN
            NOT_SUPPORTED,                               // 45 CA_GenerateCloneableMofN
            NOT_SUPPORTED,                               // 46 CA_ModifyMofN
            NOT_SUPPORTED,                               // 47 CA_CloneMofN
            NOT_SUPPORTED,                               // 48 CA_CloneModifyMofN
            NOT_SUPPORTED,                               // 49 CA_ActivateMofN
            NOT_SUPPORTED,                               // 50 CA_DeactivateMofN
            NOT_SUPPORTED,                               // 51 CA_GetMofNStatus
            NOT_SUPPORTED,                               // 52 CA_DuplicateMofN
            NOT_SUPPORTED,                               // 53 CA_IsMofNEnabled
            NOT_SUPPORTED,                               // 54 CA_IsMofNRequired
            NOT_SUPPORTED,                               // 55 CA_GenerateTokenKeys
            NOT_SUPPORTED,                               // 56 CA_GenerateTWK
            NOT_SUPPORTED,                               // 57 CA_GetTokenCertificateInfo
            NOT_SUPPORTED,                               // 58 CA_SetTokenCertificateSignature
            NOT_SUPPORTED,                               // 59 CA_GetModuleList
            NOT_SUPPORTED,                               // 60 CA_GetModuleInfo
            NOT_SUPPORTED,                               // 61 CA_LoadModule
            NOT_SUPPORTED,                               // 62 CA_LoadEncryptedModule
            NOT_SUPPORTED,                               // 63 CA_UnloadModule
            NOT_SUPPORTED,                               // 64 CA_PerformModuleCall
            NOT_SUPPORTED,                               // 65 CA_FirmwareUpdate
            NOT_SUPPORTED,                               // 66 CA_FirmwareRollback
            NOT_SUPPORTED,                               // 67 CA_CapabilityUpdate
            ptr!(CA_GetUserContainerNumber),             // 68
            NOT_SUPPORTED,                               // 69 CA_GetUserContainerName
            NOT_SUPPORTED,                               // 70 CA_SetUserContainerName
            NOT_SUPPORTED,                               // 71 CA_GetTokenInsertionCount
            NOT_SUPPORTED,                               // 72 CA_GetRollbackFirmwareVersion
            NOT_SUPPORTED,                               // 73 CA_GetFPV
            NOT_SUPPORTED,                               // 74 CA_GetTPV
            NOT_SUPPORTED,                               // 75 CA_GetExtendedTPV
            ptr!(CA_GetConfigurationElementDescription), // 76
            NOT_SUPPORTED,                               // 77 CA_GetHSMCapabilitySet
            ptr!(CA_GetHSMCapabilitySetting),            // 78
            NOT_SUPPORTED,                               // 79 CA_GetHSMPolicySet
            ptr!(CA_GetHSMPolicySetting),                // 80
            NOT_SUPPORTED,                               // 81 CA_GetContainerCapabilitySet
            NOT_SUPPORTED,                               // 82 CA_GetContainerCapabilitySetting
            NOT_SUPPORTED,                               // 83 CA_GetContainerPolicySet
            NOT_SUPPORTED,                               // 84 CA_GetContainerPolicySetting
            NOT_SUPPORTED,                               // 85 CA_GetPartitionPolicyTemplate
            NOT_SUPPORTED,                               // 86 CA_SetTPV
            NOT_SUPPORTED,                               // 87 CA_SetExtendedTPV
            ptr!(CA_SetHSMPolicy),                       // 88
            NOT_SUPPORTED,                               // 89 CA_SetHSMPolicies
            ptr!(CA_SetDestructiveHSMPolicy),            // 90
            NOT_SUPPORTED,                               // 91 CA_SetDestructiveHSMPolicies
            NOT_SUPPORTED,                               // 92 CA_SetContainerPolicy
            NOT_SUPPORTED,                               // 93 CA_SetContainerPolicies
            ptr!(CA_GetTokenCapabilities),               // 94
            ptr!(CA_SetTokenPolicies),                   // 95
            ptr!(CA_GetTokenPolicies),                   // 96
            NOT_SUPPORTED,                               // 97 CA_RetrieveLicenseList
            NOT_SUPPORTED,                               // 98 CA_QueryLicense
            ptr!(CA_GetContainerStatus),                 // 99
            NOT_SUPPORTED,                               // 100 CA_GetTokenStatus
            NOT_SUPPORTED,                               // 101 CA_GetSessionInfo
            NOT_SUPPORTED,                               // 102 CA_ReadCommonStore
            NOT_SUPPORTED,                               // 103 CA_WriteCommonStore
            NOT_SUPPORTED,                               // 104 CA_GetPrimarySlot
            NOT_SUPPORTED,                               // 105 CA_GetSecondarySlot
            NOT_SUPPORTED,                               // 106 CA_SwitchSecondarySlot
            NOT_SUPPORTED,                               // 107 CA_CloseSecondarySession
            NOT_SUPPORTED,                               // 108 CA_CloseAllSecondarySessions
            NOT_SUPPORTED,                               // 109 CA_ChoosePrimarySlot
            NOT_SUPPORTED,                               // 110 CA_ChooseSecondarySlot
            NOT_SUPPORTED,                               // 111 CA_CloneObjectToAllSessions
            NOT_SUPPORTED,                               // 112 CA_CloneAllObjectsToSession
            NOT_SUPPORTED,                               // 113 CA_ResetDevice
            NOT_SUPPORTED,                               // 114 CA_Zeroize
            NOT_SUPPORTED,                               // 115 CA_FactoryReset
            NOT_SUPPORTED,                               // 116 CA_SetPedId
            NOT_SUPPORTED,                               // 117 CA_GetPedId
            NOT_SUPPORTED,                               // 118 CA_SpRawRead
            NOT_SUPPORTED,                               // 119 CA_SpRawWrite
            NOT_SUPPORTED,                               // 120 CA_CheckOperationState
            NOT_SUPPORTED,                               // 121 CA_DestroyMultipleObjects
            NOT_SUPPORTED,                               // 122 CA_OpenSecureToken
            NOT_SUPPORTED,                               // 123 CA_CloseSecureToken
            NOT_SUPPORTED,                               // 124 CA_ListSecureTokenInit
            NOT_SUPPORTED,                               // 125 CA_ListSecureTokenUpdate
            NOT_SUPPORTED,                               // 126 CA_GetSecureElementMeta
            NOT_SUPPORTED,                               // 127 CA_Bip32ExportPublicKey
            NOT_SUPPORTED,                               // 128 CA_Bip32ImportPublicKey
            NOT_SUPPORTED,                               // 129 CA_HAInit
            NOT_SUPPORTED,                               // 130 CA_HAGetMasterPublic
            NOT_SUPPORTED,                               // 131 CA_HAGetLoginChallenge
            NOT_SUPPORTED,                               // 132 CA_HAAnswerLoginChallenge
            NOT_SUPPORTED,                               // 133 CA_HALogin
            NOT_SUPPORTED,                               // 134 CA_HAAnswerMofNChallenge
            NOT_SUPPORTED,                               // 135 CA_HAActivateMofN
            NOT_SUPPORTED,                               // 136 CA_GetHAState
            NOT_SUPPORTED,                               // 137 CA_GetTokenCertificates
            NOT_SUPPORTED,                               // 138 CA_ExtractMaskedObject
            NOT_SUPPORTED,                               // 139 CA_InsertMaskedObject
            NOT_SUPPORTED,                               // 140 CA_MultisignValue
            NOT_SUPPORTED,                               // 141 CA_SIMExtract
            NOT_SUPPORTED,                               // 142 CA_SIMInsert
            NOT_SUPPORTED,                               // 143 CA_SIMMultiSign
            NOT_SUPPORTED,                               // 144 CA_Extract
            NOT_SUPPORTED,                               // 145 CA_Insert
            NOT_SUPPORTED,                               // 146 CA_GetTokenObjectUID
            NOT_SUPPORTED,                               // 147 CA_GetTokenObjectHandle
            ptr!(CA_GetObjectUID),                       // 148
            ptr!(CA_GetObjectHandle),                    // 149
            NOT_SUPPORTED,                               // 150 CA_DeleteContainer
            NOT_SUPPORTED,                               // 151 CA_MTKSetStorage
            NOT_SUPPORTED,                               // 152 CA_MTKRestore
            NOT_SUPPORTED,                               // 153 CA_MTKResplit
            NOT_SUPPORTED,                               // 154 CA_MTKZeroize
            NOT_SUPPORTED,                               // 155 CA_MTKGetState
            NOT_SUPPORTED,                               // 156 CA_TamperClear
            NOT_SUPPORTED,                               // 157 CA_STMToggle
            NOT_SUPPORTED,                               // 158 CA_STMGetState
            NOT_SUPPORTED,                               // 159 CA_GetTSV
            NOT_SUPPORTED,                               // 160 CA_InvokeServiceInit
            NOT_SUPPORTED,                               // 161 CA_InvokeService
            NOT_SUPPORTED,                               // 162 CA_InvokeServiceFinal
            NOT_SUPPORTED,                               // 163 CA_InvokeServiceAsynch
            NOT_SUPPORTED,                               // 164 CA_InvokeServiceSinglePart
            NOT_SUPPORTED,                               // 165 CA_EncodeECPrimeParams
            NOT_SUPPORTED,                               // 166 CA_EncodeECChar2Params
            NOT_SUPPORTED,                               // 167 CA_EncodeECParamsFromFile
            NOT_SUPPORTED,                               // 168 CA_GetHSMStats
            NOT_SUPPORTED,                               // 169 CA_GetHSMStorageInformation
            NOT_SUPPORTED,                               // 170 CA_GetTokenStorageInformation
            NOT_SUPPORTED,                               // 171 CA_GetContainerStorageInformation
            NOT_SUPPORTED,                               // 172 CA_SetContainerSize
            NOT_SUPPORTED,                               // 173 CA_CreateContainerWithPolicy
            NOT_SUPPORTED,                               // 174 CA_CreateContainer
            NOT_SUPPORTED,                               // 175 CA_InitAudit
            NOT_SUPPORTED,                               // 176 CA_LogVerify
            NOT_SUPPORTED,                               // 177 CA_LogVerifyFile
            NOT_SUPPORTED,                               // 178 CA_LogExternal
            NOT_SUPPORTED,                               // 179 CA_LogImportSecret
            NOT_SUPPORTED,                               // 180 CA_LogExportSecret
            NOT_SUPPORTED,                               // 181 CA_TimeSync
            NOT_SUPPORTED,                               // 182 CA_GetTime
            NOT_SUPPORTED,                               // 183 CA_LogSetConfig
            NOT_SUPPORTED,                               // 184 CA_LogGetConfig
            NOT_SUPPORTED,                               // 185 CA_ReplaceFastPathKEK
            NOT_SUPPORTED,                               // 186 CA_LogGetStatus
            NOT_SUPPORTED,                               // 187 CA_DeleteContainerWithHandle
            NOT_SUPPORTED,                               // 188 CA_GetContainerList
            NOT_SUPPORTED,                               // 189 CA_GetContainerName
            NOT_SUPPORTED,                               // 190 CA_GetNumberOfAllowedContainers
            NOT_SUPPORTED,                               // 191 CA_GetTunnelSlotNumber
            NOT_SUPPORTED,                               // 192 CA_GetClusterState
            NOT_SUPPORTED,                               // 193 CA_LockClusteredSlot
            NOT_SUPPORTED,                               // 194 CA_UnlockClusteredSlot
            NOT_SUPPORTED,                               // 195 CA_ModifyUsageCount
            NOT_SUPPORTED,                               // 196 CA_EnableUnauthTokenInsertion
            NOT_SUPPORTED,                               // 197 CA_GetUnauthTokenInsertionStatus
            NOT_SUPPORTED,                               // 198 CA_DisableUnauthTokenInsertion
            NOT_SUPPORTED,                               // 199 CA_STCRegister
            NOT_SUPPORTED,                               // 200 CA_STCDeregister
            NOT_SUPPORTED,                               // 201 CA_STCGetPubKey
            NOT_SUPPORTED,                               // 202 CA_STCGetClientsList
            NOT_SUPPORTED,                               // 203 CA_STCGetClientInfo
            NOT_SUPPORTED,                               // 204 CA_STCGetPartPubKey
            NOT_SUPPORTED,                               // 205 CA_STCGetAdminPubKey
            NOT_SUPPORTED,                               // 206 CA_STCSetCipherAlgorithm
            NOT_SUPPORTED,                               // 207 CA_STCGetCipherAlgorithm
            NOT_SUPPORTED,                               // 208 CA_STCClearCipherAlgorithm
            NOT_SUPPORTED,                               // 209 CA_STCSetDigestAlgorithm
            NOT_SUPPORTED,                               // 210 CA_STCGetDigestAlgorithm
            NOT_SUPPORTED,                               // 211 CA_STCClearDigestAlgorithm
            NOT_SUPPORTED,                               // 212 CA_STCSetKeyLifeTime
            NOT_SUPPORTED,                               // 213 CA_STCGetKeyLifeTime
            NOT_SUPPORTED,                               // 214 CA_STCSetKeyActivationTimeOut
            NOT_SUPPORTED,                               // 215 CA_STCGetKeyActivationTimeOut
            NOT_SUPPORTED,                               // 216 CA_STCSetMaxSessions
            NOT_SUPPORTED,                               // 217 CA_STCGetMaxSessions
            NOT_SUPPORTED,                               // 218 CA_STCSetSequenceWindowSize
            NOT_SUPPORTED,                               // 219 CA_STCGetSequenceWindowSize
            NOT_SUPPORTED,                               // 220 CA_STCIsEnabled
            NOT_SUPPORTED,                               // 221 CA_STCGetState
            NOT_SUPPORTED,                               // 222 CA_STCGetCurrentKeyLife
            NOT_SUPPORTED,                               // 223 CA_GetSlotIdForPhysicalSlot
            NOT_SUPPORTED,                               // 224 CA_GetSlotIdForContainer
            NOT_SUPPORTED,                               // 225 CA_STCGetChannelID
            NOT_SUPPORTED,                               // 226 CA_STCGetCipherID
            NOT_SUPPORTED,                               // 227 CA_STCGetDigestID
            NOT_SUPPORTED,                               // 228 CA_STCGetCipherIDs
            NOT_SUPPORTED,                               // 229 CA_STCGetCipherNameByID
            NOT_SUPPORTED,                               // 230 CA_STCGetDigestIDs
            NOT_SUPPORTED,                               // 231 CA_STCGetDigestNameByID
            NOT_SUPPORTED,                               // 232 CA_GetServerInstanceBySlotID
            NOT_SUPPORTED,                               // 233 CA_GetSlotListFromServerInstance
            NOT_SUPPORTED,                               // 234 CA_ChangeLabel
            NOT_SUPPORTED,                               // 235 CA_PerformSelfTest
            NOT_SUPPORTED,                               // 236 CA_FMDownload
            NOT_SUPPORTED,                               // 237 CA_FMDelete
            NOT_SUPPORTED,                               // 238 CA_FMActivateSMFS
            NOT_SUPPORTED,                               // 239 CA_GetActualSlotList
            NOT_SUPPORTED,                               // 240 CA_DeriveKeyAndWrap
            NOT_SUPPORTED,                               // 241 CA_MdPriv_Initialize
            NOT_SUPPORTED,                               // 242 CA_Get
            NOT_SUPPORTED,                               // 243 CA_Put
            NOT_SUPPORTED,                               // 244 CA_GetDefaultPartitionPolicyValue
            NOT_SUPPORTED,                               // 245 CA_GetDefaultHSMPolicyValue
            NOT_SUPPORTED,                               // 246 CA_ValidateHSMPolicySet
            NOT_SUPPORTED,                               // 247 CA_ValidateContainerPolicySet
            NOT_SUPPORTED,                               // 248 CA_ZeroizeContainer
            ptr!(CA_InitToken),                          // 249
            NOT_SUPPORTED,                               // 250 CA_ReadUtilizationMetrics
            NOT_SUPPORTED,                               // 251 CA_ReadAndResetUtilizationMetrics
            NOT_SUPPORTED,                               // 252 CA_ReadAllUtilizationCounters
            NOT_SUPPORTED,                               // 253 CA_ReadUtilizationCount
            NOT_SUPPORTED,                               // 254 CA_DescribeUtilizationBinId
            NOT_SUPPORTED,                               // 255 CA_DescribeUtilizationCounterId
        ],
    });

/// `CA_GetFunctionList`: the vendor table (see `CK_SFNT_CA_FUNCTION_LIST`).
///
/// # Safety
/// `list` must be null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CA_GetFunctionList(list: *mut *mut CK_SFNT_CA_FUNCTION_LIST) -> CK_RV {
    guard("CA_GetFunctionList", || {
        // SAFETY: out-pointer from the caller.
        unsafe { args::write(list, CA_FUNCTION_LIST.ptr()) }?;
        Ok(CKR_OK)
    })
}
