//! Every `CA_*` function Thales's pycryptoki binds (`pycryptoki/cryptoki/func_defs.py`,
//! `ThalesGroup/pycryptoki` @ `ae98be3`) that hsmsim does not model, exported by name with
//! pycryptoki's C signature (scalar types as declared, pointers to SDK structs as
//! `*mut c_void`): each answers `CKR_FUNCTION_NOT_SUPPORTED` (after the initialisation check),
//! so a Luna client binding them finds every symbol. Generated from pycryptoki's list; a
//! function that becomes modelled moves out of this file.
use super::super::{ensure_initialized, guard};
use cryptoki_sys::*;
use std::ffi::c_void;

unsupported!(CA_WaitForSlotEvent(CK_FLAGS, *mut CK_ULONG, *mut CK_SLOT_ID, *mut c_void));
unsupported!(
    CA_InitIndirectToken(CK_SLOT_ID, *mut CK_CHAR, CK_ULONG, *mut CK_CHAR, CK_SESSION_HANDLE)
);
unsupported!(CA_InitIndirectPIN(CK_SESSION_HANDLE, *mut CK_CHAR, CK_ULONG, CK_SESSION_HANDLE));
unsupported!(
    CA_InitSlotRolePIN(CK_SESSION_HANDLE, CK_SLOT_ID, CK_USER_TYPE, *mut CK_CHAR, CK_ULONG)
);
unsupported!(
    CA_CreateContainerLoginChallenge(
        CK_SESSION_HANDLE,
        CK_SLOT_ID,
        CK_USER_TYPE,
        CK_ULONG,
        *mut CK_CHAR,
        *mut CK_ULONG,
        *mut CK_CHAR,
    )
);
unsupported!(CA_FindAdminSlotForSlot(CK_SLOT_ID, *mut CK_SLOT_ID, *mut CK_SLOT_ID));
unsupported!(CA_TokenInsert(CK_SESSION_HANDLE, *mut c_void, CK_SLOT_ID));
unsupported!(CA_TokenInsertNoAuth(*mut c_void, CK_SLOT_ID));
unsupported!(CA_TokenZeroize(CK_SESSION_HANDLE, CK_SLOT_ID, CK_FLAGS));
unsupported!(CA_TokenDelete(CK_SESSION_HANDLE, CK_SLOT_ID));
unsupported!(
    CA_OpenSession(CK_SLOT_ID, CK_ULONG, CK_FLAGS, *mut c_void, CK_NOTIFY, *mut CK_SESSION_HANDLE)
);
unsupported!(
    CA_OpenSessionWithAppID(
        CK_SLOT_ID,
        CK_FLAGS,
        CK_ULONG,
        CK_ULONG,
        *mut c_void,
        CK_NOTIFY,
        *mut CK_SESSION_HANDLE,
    )
);
unsupported!(CA_IndirectLogin(
    CK_SESSION_HANDLE,
    CK_USER_TYPE,
    CK_SESSION_HANDLE
));
unsupported!(CA_InitializeRemotePEDVector(CK_SESSION_HANDLE));
unsupported!(CA_DeleteRemotePEDVector(CK_SESSION_HANDLE));
unsupported!(CA_GetRemotePEDVectorStatus(CK_SLOT_ID, *mut CK_ULONG));
unsupported!(CA_ConfigureRemotePED(CK_SLOT_ID, *mut CK_CHAR, CK_ULONG, *mut CK_ULONG));
unsupported!(CA_DismantleRemotePED(CK_SLOT_ID, CK_ULONG));
unsupported!(CA_Restart(CK_SLOT_ID));
unsupported!(CA_RestartForContainer(CK_SLOT_ID, CK_ULONG));
unsupported!(CA_CloseApplicationID(CK_SLOT_ID, CK_ULONG, CK_ULONG));
unsupported!(CA_CloseApplicationIDForContainer(
    CK_SLOT_ID, CK_ULONG, CK_ULONG, CK_ULONG
));
unsupported!(CA_OpenApplicationID(CK_SLOT_ID, CK_ULONG, CK_ULONG));
unsupported!(CA_OpenApplicationIDForContainer(
    CK_SLOT_ID, CK_ULONG, CK_ULONG, CK_ULONG
));
unsupported!(CA_SetApplicationID(CK_ULONG, CK_ULONG));
unsupported!(CA_DescribeUtilizationBinId(CK_ULONG, *mut CK_CHAR));
unsupported!(CA_ReadUtilizationMetrics(CK_SESSION_HANDLE));
unsupported!(CA_ReadAndResetUtilizationMetrics(CK_SESSION_HANDLE));
unsupported!(CA_ReadAllUtilizationCounters(CK_SESSION_HANDLE, *mut c_void, *mut CK_ULONG));
unsupported!(
    CA_SetAuthorizationData(
        CK_SESSION_HANDLE,
        CK_OBJECT_HANDLE,
        *mut CK_UTF8CHAR,
        CK_ULONG,
        *mut CK_UTF8CHAR,
        CK_ULONG,
    )
);
unsupported!(
    CA_ResetAuthorizationData(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, *mut CK_UTF8CHAR, CK_ULONG)
);
unsupported!(CA_AuthorizeKey(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, *mut CK_UTF8CHAR, CK_ULONG));
unsupported!(CA_AssignKey(CK_SESSION_HANDLE, CK_OBJECT_HANDLE));
unsupported!(CA_IncrementFailedAuthCount(
    CK_SESSION_HANDLE,
    CK_OBJECT_HANDLE
));
unsupported!(CA_SessionCancel(CK_SESSION_HANDLE, CK_FLAGS));
unsupported!(CA_ManualKCV(CK_SESSION_HANDLE));
unsupported!(CA_SetLKCV(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG));
unsupported!(CA_SetKCV(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG));
unsupported!(CA_SetRDK(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG));
unsupported!(CA_SetCloningDomain(*mut CK_BYTE, CK_ULONG));
unsupported!(
    CA_ClonePrivateKey(
        CK_SESSION_HANDLE,
        CK_SESSION_HANDLE,
        CK_OBJECT_HANDLE,
        *mut CK_OBJECT_HANDLE,
    )
);
unsupported!(CA_SetMofN(CK_BBOOL));
unsupported!(
    CA_GenerateMofN(CK_SESSION_HANDLE, CK_ULONG, *mut c_void, CK_ULONG, CK_ULONG, *mut c_void)
);
unsupported!(
    CA_GenerateCloneableMofN(
        CK_SESSION_HANDLE,
        CK_ULONG,
        *mut c_void,
        CK_ULONG,
        CK_ULONG,
        *mut c_void,
    )
);
unsupported!(
    CA_ModifyMofN(CK_SESSION_HANDLE, CK_ULONG, *mut c_void, CK_ULONG, CK_ULONG, *mut c_void)
);
unsupported!(CA_CloneMofN(CK_SESSION_HANDLE, CK_SESSION_HANDLE, *mut c_void));
unsupported!(CA_CloneModifyMofN(CK_SESSION_HANDLE, CK_SESSION_HANDLE, *mut c_void));
unsupported!(CA_ActivateMofN(CK_SESSION_HANDLE, *mut c_void, CK_ULONG));
unsupported!(CA_DeactivateMofN(CK_SESSION_HANDLE));
unsupported!(CA_GetMofNStatus(CK_SLOT_ID, *mut c_void));
unsupported!(CA_DuplicateMofN(CK_SESSION_HANDLE));
unsupported!(CA_IsMofNEnabled(CK_SLOT_ID, *mut CK_ULONG));
unsupported!(CA_IsMofNRequired(CK_SLOT_ID, *mut CK_ULONG));
unsupported!(CA_GenerateTokenKeys(CK_SESSION_HANDLE, *mut CK_ATTRIBUTE, CK_ULONG));
unsupported!(CA_GetTokenCertificateInfo(CK_SLOT_ID, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG));
unsupported!(
    CA_SetTokenCertificateSignature(
        CK_SESSION_HANDLE,
        CK_ULONG,
        CK_ULONG,
        *mut CK_ATTRIBUTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
    )
);
unsupported!(CA_GetModuleList(CK_SLOT_ID, *mut c_void, CK_ULONG, *mut CK_ULONG));
unsupported!(CA_GetModuleInfo(CK_SLOT_ID, CK_ULONG, *mut c_void));
unsupported!(
    CA_LoadModule(
        CK_SESSION_HANDLE,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut c_void,
    )
);
unsupported!(
    CA_LoadEncryptedModule(
        CK_SESSION_HANDLE,
        CK_OBJECT_HANDLE,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut c_void,
    )
);
unsupported!(CA_UnloadModule(CK_SESSION_HANDLE, CK_ULONG));
unsupported!(
    CA_PerformModuleCall(
        CK_SESSION_HANDLE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_ULONG,
    )
);
unsupported!(
    CA_FirmwareUpdate(
        CK_SESSION_HANDLE,
        CK_ULONG,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
    )
);
unsupported!(CA_FirmwareRollback(CK_SESSION_HANDLE));
unsupported!(
    CA_CapabilityUpdate(CK_SESSION_HANDLE, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE)
);
unsupported!(CA_GetUserContainerName(CK_SLOT_ID, *mut CK_BYTE, *mut CK_ULONG));
unsupported!(CA_SetUserContainerName(CK_SLOT_ID, *mut CK_BYTE, CK_ULONG));
unsupported!(CA_GetTokenInsertionCount(CK_SLOT_ID, *mut CK_ULONG));
unsupported!(CA_GetRollbackFirmwareVersion(CK_SLOT_ID, *mut CK_ULONG));
unsupported!(CA_GetFPV(CK_SLOT_ID, *mut CK_ULONG));
unsupported!(CA_GetTPV(CK_SLOT_ID, *mut CK_ULONG));
unsupported!(CA_GetExtendedTPV(CK_SLOT_ID, *mut CK_ULONG, *mut CK_ULONG));
unsupported!(CA_GetPartitionPolicyTemplate(CK_SLOT_ID, *mut CK_ULONG, *mut CK_ULONG, *mut CK_BYTE));
unsupported!(CA_SetTPV(CK_SESSION_HANDLE, CK_ULONG));
unsupported!(CA_SetExtendedTPV(CK_SESSION_HANDLE, CK_ULONG, CK_ULONG));
unsupported!(CA_RetrieveLicenseList(CK_SLOT_ID, *mut CK_ULONG, *mut CK_ULONG));
unsupported!(
    CA_QueryLicense(
        CK_SLOT_ID,
        CK_ULONG,
        CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_BYTE,
    )
);
unsupported!(CA_GetTokenStatus(CK_SLOT_ID, *mut CK_ULONG, *mut CK_ULONG, *mut CK_ULONG));
unsupported!(CA_GetCVFirmwareVersion(CK_SLOT_ID, *mut CK_ULONG, *mut CK_ULONG, *mut CK_ULONG));
unsupported!(CA_ReadCommonStore(CK_ULONG, *mut CK_BYTE, *mut CK_ULONG));
unsupported!(CA_WriteCommonStore(CK_ULONG, *mut CK_BYTE, CK_ULONG));
unsupported!(CA_GetPrimarySlot(CK_SESSION_HANDLE, *mut CK_SLOT_ID));
unsupported!(CA_GetSecondarySlot(CK_SESSION_HANDLE, *mut CK_SLOT_ID));
unsupported!(CA_SwitchSecondarySlot(
    CK_SESSION_HANDLE,
    CK_SLOT_ID,
    CK_ULONG
));
unsupported!(CA_CloseSecondarySession(
    CK_SESSION_HANDLE,
    CK_SLOT_ID,
    CK_ULONG
));
unsupported!(CA_CloseAllSecondarySessions(CK_SESSION_HANDLE));
unsupported!(CA_ChoosePrimarySlot(CK_SESSION_HANDLE));
unsupported!(CA_ChooseSecondarySlot(CK_SESSION_HANDLE));
unsupported!(CA_ResetDevice(CK_SLOT_ID, CK_FLAGS));
unsupported!(CA_Zeroize(CK_SLOT_ID, CK_FLAGS));
unsupported!(CA_SetPedId(CK_SLOT_ID, CK_ULONG));
unsupported!(CA_GetPedId(CK_SLOT_ID, *mut CK_ULONG));
unsupported!(CA_SpRawRead(CK_SLOT_ID, *mut CK_ULONG));
unsupported!(CA_SpRawWrite(CK_SLOT_ID, *mut CK_ULONG));
unsupported!(CA_CheckOperationState(CK_SESSION_HANDLE, CK_ULONG, *mut CK_BBOOL));
unsupported!(
    CA_OpenSecureToken(
        CK_SESSION_HANDLE,
        CK_ULONG,
        CK_ULONG,
        CK_ULONG,
        CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
        CK_ULONG,
        *mut CK_CHAR,
    )
);
unsupported!(CA_CloseSecureToken(CK_SESSION_HANDLE, CK_ULONG));
unsupported!(
    CA_ListSecureTokenInit(
        CK_SESSION_HANDLE,
        CK_ULONG,
        CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_BYTE,
    )
);
unsupported!(
    CA_ListSecureTokenUpdate(CK_SESSION_HANDLE, CK_ULONG, CK_ULONG, *mut CK_BYTE, CK_ULONG)
);
unsupported!(
    CA_GetSecureElementMeta(
        CK_SESSION_HANDLE,
        CK_ULONG,
        *mut CK_MECHANISM,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
    )
);
unsupported!(CA_GetTokenCertificates(CK_SLOT_ID, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG));
unsupported!(CA_ExtractMaskedObject(CK_SESSION_HANDLE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG));
unsupported!(CA_InsertMaskedObject(CK_SESSION_HANDLE, *mut CK_ULONG, *mut CK_BYTE, CK_ULONG));
unsupported!(
    CA_MultisignValue(
        CK_SESSION_HANDLE,
        *mut CK_MECHANISM,
        CK_ULONG,
        *mut CK_BYTE,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut *mut CK_BYTE,
        *mut CK_ULONG,
        *mut *mut CK_BYTE,
    )
);
unsupported!(
    CA_SIMExtract(
        CK_SESSION_HANDLE,
        CK_ULONG,
        *mut CK_OBJECT_HANDLE,
        CK_ULONG,
        CK_ULONG,
        CK_ULONG,
        *mut CK_ULONG,
        *mut *mut CK_BYTE,
        CK_BBOOL,
        *mut CK_ULONG,
        *mut CK_BYTE,
    )
);
unsupported!(
    CA_SIMInsert(
        CK_SESSION_HANDLE,
        CK_ULONG,
        CK_ULONG,
        *mut CK_ULONG,
        *mut *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        *mut CK_ULONG,
        *mut CK_OBJECT_HANDLE,
    )
);
unsupported!(
    CA_SIMMultiSign(
        CK_SESSION_HANDLE,
        *mut CK_MECHANISM,
        CK_ULONG,
        CK_ULONG,
        *mut CK_ULONG,
        *mut *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_ULONG,
        *mut *mut CK_BYTE,
        *mut CK_ULONG,
        *mut *mut CK_BYTE,
    )
);
unsupported!(CA_GetTokenObjectUID(CK_SLOT_ID, CK_ULONG, CK_ULONG, *mut CK_BYTE));
unsupported!(CA_GetTokenObjectHandle(CK_SLOT_ID, *mut CK_BYTE, *mut CK_ULONG, *mut CK_ULONG));
unsupported!(CA_DeleteContainer(CK_SESSION_HANDLE));
unsupported!(CA_MTKSetStorage(CK_SESSION_HANDLE, CK_ULONG));
unsupported!(CA_MTKRestore(CK_SLOT_ID));
unsupported!(CA_MTKResplit(CK_SLOT_ID));
unsupported!(CA_MTKZeroize(CK_SLOT_ID));
unsupported!(CA_MTKGetState(CK_SLOT_ID, *mut CK_ULONG));
unsupported!(CA_TamperClear(CK_SESSION_HANDLE));
unsupported!(CA_STMToggle(CK_SESSION_HANDLE, CK_ULONG));
unsupported!(CA_STMGetState(CK_SLOT_ID, *mut CK_ULONG));
unsupported!(CA_GetTSV(CK_SLOT_ID, *mut CK_ULONG));
unsupported!(CA_InvokeServiceInit(CK_SESSION_HANDLE, CK_ULONG));
unsupported!(CA_InvokeService(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_ULONG));
unsupported!(CA_InvokeServiceFinal(CK_SESSION_HANDLE, *mut CK_BYTE, *mut CK_ULONG));
unsupported!(CA_InvokeServiceAsynch(CK_SESSION_HANDLE, CK_ULONG, *mut CK_BYTE, CK_ULONG));
unsupported!(
    CA_InvokeServiceSinglePart(
        CK_SESSION_HANDLE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        *mut CK_ULONG,
    )
);
unsupported!(
    CA_EncodeECPrimeParams(
        *mut CK_BYTE,
        *mut CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
    )
);
unsupported!(
    CA_EncodeECChar2Params(
        *mut CK_BYTE,
        *mut CK_ULONG,
        CK_ULONG,
        CK_ULONG,
        CK_ULONG,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
    )
);
unsupported!(CA_EncodeECParamsFromFile(*mut CK_BYTE, *mut CK_ULONG, *mut CK_BYTE));
unsupported!(CA_GetHSMStats(CK_SLOT_ID, CK_ULONG, *mut CK_ULONG, *mut c_void));
unsupported!(
    CA_GetHSMStorageInformation(
        CK_SLOT_ID,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
    )
);
unsupported!(
    CA_GetTokenStorageInformation(
        CK_SLOT_ID,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
    )
);
unsupported!(CA_SetContainerSize(CK_SESSION_HANDLE, CK_ULONG, CK_ULONG));
unsupported!(
    CA_CreateContainerWithPolicy(
        CK_SESSION_HANDLE,
        CK_ULONG,
        *mut CK_CHAR,
        CK_ULONG,
        *mut CK_CHAR,
        CK_ULONG,
        CK_ULONG,
        CK_ULONG,
        CK_ULONG,
        CK_ULONG,
        CK_ULONG,
        *mut CK_ULONG,
        CK_ULONG,
        CK_ULONG,
        *mut CK_BYTE,
    )
);
unsupported!(
    CA_CreateContainer(
        CK_SESSION_HANDLE,
        CK_ULONG,
        *mut CK_CHAR,
        CK_ULONG,
        *mut CK_CHAR,
        CK_ULONG,
        CK_ULONG,
        CK_ULONG,
        CK_ULONG,
        CK_ULONG,
        CK_ULONG,
        *mut CK_ULONG,
    )
);
unsupported!(CA_InitAudit(CK_SLOT_ID, *mut CK_CHAR, CK_ULONG, *mut CK_CHAR));
unsupported!(CA_LogVerify(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, CK_ULONG, *mut CK_ULONG));
unsupported!(CA_LogVerifyFile(CK_SESSION_HANDLE, *mut CK_CHAR, *mut CK_ULONG));
unsupported!(CA_LogExternal(CK_SLOT_ID, CK_SESSION_HANDLE, *mut CK_CHAR, CK_ULONG));
unsupported!(CA_LogImportSecret(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG));
unsupported!(CA_LogExportSecret(CK_SESSION_HANDLE, *mut CK_BYTE, *mut CK_ULONG));
unsupported!(CA_TimeSync(CK_SESSION_HANDLE, CK_ULONG));
unsupported!(
    CA_LogSetConfig(CK_SESSION_HANDLE, CK_ULONG, CK_ULONG, CK_ULONG, CK_ULONG, *mut CK_BYTE)
);
unsupported!(
    CA_LogGetConfig(
        CK_SESSION_HANDLE,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_BYTE,
    )
);
unsupported!(CA_ReplaceFastPathKEK(CK_SESSION_HANDLE));
unsupported!(
    CA_LogGetStatus(
        CK_SLOT_ID,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
    )
);
unsupported!(CA_DeleteContainerWithHandle(CK_SESSION_HANDLE, CK_ULONG));
unsupported!(CA_GetContainerList(CK_SLOT_ID, CK_ULONG, CK_ULONG, *mut CK_ULONG, *mut CK_ULONG));
unsupported!(CA_GetContainerName(CK_SLOT_ID, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG));
unsupported!(CA_GetNumberOfAllowedContainers(CK_SLOT_ID, *mut CK_ULONG));
unsupported!(CA_GetTunnelSlotNumber(CK_SLOT_ID, *mut CK_SLOT_ID));
unsupported!(CA_GetClusterState(CK_SLOT_ID, *mut c_void));
unsupported!(CA_LockClusteredSlot(CK_SLOT_ID));
unsupported!(CA_UnlockClusteredSlot(CK_SLOT_ID));
unsupported!(
    CA_LKMInitiatorChallenge(
        CK_SESSION_HANDLE,
        CK_OBJECT_HANDLE,
        CK_OBJECT_HANDLE,
        CK_ULONG,
        *mut c_void,
        *mut c_void,
        *mut CK_CHAR,
        *mut CK_ULONG,
    )
);
unsupported!(
    CA_LKMReceiverResponse(
        CK_SESSION_HANDLE,
        CK_OBJECT_HANDLE,
        CK_OBJECT_HANDLE,
        CK_ULONG,
        *mut c_void,
        *mut CK_CHAR,
        CK_ULONG,
        *mut CK_CHAR,
        *mut CK_ULONG,
    )
);
unsupported!(
    CA_LKMInitiatorComplete(
        CK_SESSION_HANDLE,
        *mut CK_CHAR,
        CK_ULONG,
        *mut CK_ATTRIBUTE,
        CK_ULONG,
        *mut CK_ATTRIBUTE,
        CK_ULONG,
        *mut CK_CHAR,
        *mut CK_ULONG,
        *mut CK_OBJECT_HANDLE,
        *mut CK_OBJECT_HANDLE,
    )
);
unsupported!(
    CA_LKMReceiverComplete(
        CK_SESSION_HANDLE,
        *mut CK_CHAR,
        CK_ULONG,
        *mut CK_ATTRIBUTE,
        CK_ULONG,
        *mut CK_ATTRIBUTE,
        CK_ULONG,
        *mut CK_OBJECT_HANDLE,
        *mut CK_OBJECT_HANDLE,
    )
);
unsupported!(CA_ModifyUsageCount(
    CK_SESSION_HANDLE,
    CK_OBJECT_HANDLE,
    CK_ULONG,
    CK_ULONG
));
unsupported!(CA_EnableUnauthTokenInsertion(CK_SESSION_HANDLE, CK_ULONG, *mut CK_ULONG));
unsupported!(
    CA_GetUnauthTokenInsertionStatus(CK_SESSION_HANDLE, CK_ULONG, *mut CK_ULONG, *mut CK_ULONG)
);
unsupported!(CA_DisableUnauthTokenInsertion(CK_SESSION_HANDLE, CK_ULONG));
unsupported!(
    CA_STCRegister(
        CK_SESSION_HANDLE,
        CK_SLOT_ID,
        *mut CK_CHAR,
        CK_ULONG,
        *mut CK_CHAR,
        CK_ULONG,
        *mut CK_CHAR,
        CK_ULONG,
    )
);
unsupported!(CA_STCDeregister(CK_SESSION_HANDLE, CK_SLOT_ID, *mut CK_CHAR));
unsupported!(
    CA_STCGetPubKey(
        CK_SESSION_HANDLE,
        CK_SLOT_ID,
        *mut CK_CHAR,
        *mut CK_CHAR,
        *mut CK_ULONG,
        *mut CK_CHAR,
        *mut CK_ULONG,
    )
);
unsupported!(CA_STCGetClientsList(CK_SESSION_HANDLE, CK_SLOT_ID, *mut CK_ULONG, *mut CK_ULONG));
unsupported!(
    CA_STCGetClientInfo(
        CK_SESSION_HANDLE,
        CK_SLOT_ID,
        CK_ULONG,
        *mut CK_CHAR,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_CHAR,
        *mut CK_ULONG,
        *mut CK_CHAR,
        *mut CK_ULONG,
    )
);
unsupported!(
    CA_STCGetPartPubKey(
        CK_SESSION_HANDLE,
        CK_SLOT_ID,
        *mut CK_CHAR,
        *mut CK_ULONG,
        *mut CK_CHAR,
        *mut CK_ULONG,
    )
);
unsupported!(
    CA_STCGetAdminPubKey(CK_SLOT_ID, *mut CK_CHAR, *mut CK_ULONG, *mut CK_CHAR, *mut CK_ULONG)
);
unsupported!(CA_STCSetCipherAlgorithm(
    CK_SESSION_HANDLE,
    CK_ULONG,
    CK_ULONG
));
unsupported!(CA_STCGetCipherAlgorithm(CK_SESSION_HANDLE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG));
unsupported!(CA_STCClearCipherAlgorithm(
    CK_SESSION_HANDLE,
    CK_ULONG,
    CK_ULONG
));
unsupported!(CA_STCSetDigestAlgorithm(
    CK_SESSION_HANDLE,
    CK_ULONG,
    CK_ULONG
));
unsupported!(CA_STCGetDigestAlgorithm(CK_SESSION_HANDLE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG));
unsupported!(CA_STCClearDigestAlgorithm(
    CK_SESSION_HANDLE,
    CK_ULONG,
    CK_ULONG
));
unsupported!(CA_STCSetKeyLifeTime(CK_SESSION_HANDLE, CK_ULONG, CK_ULONG));
unsupported!(CA_STCGetKeyLifeTime(CK_SESSION_HANDLE, CK_ULONG, *mut CK_ULONG));
unsupported!(CA_STCSetKeyActivationTimeOut(
    CK_SESSION_HANDLE,
    CK_ULONG,
    CK_ULONG
));
unsupported!(CA_STCGetKeyActivationTimeOut(CK_SESSION_HANDLE, CK_ULONG, *mut CK_ULONG));
unsupported!(CA_STCSetMaxSessions(CK_SESSION_HANDLE, CK_ULONG, CK_ULONG));
unsupported!(CA_STCGetMaxSessions(CK_SESSION_HANDLE, CK_ULONG, *mut CK_ULONG));
unsupported!(CA_STCSetSequenceWindowSize(
    CK_SESSION_HANDLE,
    CK_ULONG,
    CK_ULONG
));
unsupported!(CA_STCGetSequenceWindowSize(CK_SESSION_HANDLE, CK_ULONG, *mut CK_ULONG));
unsupported!(CA_STCIsEnabled(CK_ULONG, *mut CK_BYTE));
unsupported!(CA_STCGetState(CK_ULONG, *mut CK_CHAR, CK_BYTE));
unsupported!(CA_STCGetCurrentKeyLife(CK_SESSION_HANDLE, CK_ULONG, *mut CK_ULONG));
unsupported!(CA_GetSlotIdForPhysicalSlot(CK_ULONG, *mut CK_SLOT_ID));
unsupported!(CA_GetSlotIdForContainer(CK_ULONG, CK_ULONG, *mut CK_SLOT_ID));
unsupported!(CA_STCGetChannelID(CK_SLOT_ID, *mut CK_ULONG));
unsupported!(CA_STCGetCipherID(CK_SLOT_ID, *mut CK_ULONG));
unsupported!(CA_STCGetDigestID(CK_SLOT_ID, *mut CK_ULONG));
unsupported!(CA_STCGetCipherIDs(CK_SLOT_ID, *mut CK_ULONG, *mut CK_BYTE));
unsupported!(CA_STCGetCipherNameByID(CK_SLOT_ID, CK_ULONG, *mut CK_CHAR, CK_BYTE));
unsupported!(CA_STCGetDigestIDs(CK_SLOT_ID, *mut CK_ULONG, *mut CK_BYTE));
unsupported!(CA_STCGetDigestNameByID(CK_SLOT_ID, CK_ULONG, *mut CK_CHAR, CK_BYTE));
unsupported!(CA_GetServerInstanceBySlotID(CK_SLOT_ID, *mut CK_ULONG));
unsupported!(CA_GetSlotListFromServerInstance(CK_ULONG, *mut CK_SLOT_ID, *mut CK_ULONG));
unsupported!(
    CA_DeriveKeyAndWrap(
        CK_SESSION_HANDLE,
        *mut CK_MECHANISM,
        CK_OBJECT_HANDLE,
        *mut CK_ATTRIBUTE,
        CK_ULONG,
        *mut CK_MECHANISM,
        CK_OBJECT_HANDLE,
        *mut CK_BYTE,
        *mut CK_ULONG,
    )
);
unsupported!(CA_Get(CK_SLOT_ID, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG));
unsupported!(CA_RandomizeApplicationID());
unsupported!(CA_GetApplicationID(*mut c_void));
unsupported!(CA_OpenApplicationIDV2(CK_SLOT_ID, *mut c_void));
unsupported!(CA_CloseApplicationIDV2(CK_SLOT_ID, *mut c_void));
unsupported!(CA_SetApplicationIDV2(*mut c_void));
unsupported!(
    CA_OpenSessionWithAppIDV2(
        CK_SLOT_ID,
        CK_FLAGS,
        *mut c_void,
        *mut c_void,
        CK_NOTIFY,
        *mut CK_SESSION_HANDLE,
    )
);
unsupported!(CA_OpenApplicationIDForContainerV2(CK_SLOT_ID, *mut c_void, CK_ULONG));
unsupported!(CA_CloseApplicationIDForContainerV2(CK_SLOT_ID, *mut c_void, CK_ULONG));
unsupported!(
    CA_Bip32ImportPublicKey(
        CK_SESSION_HANDLE,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_ATTRIBUTE,
        CK_ULONG,
        *mut CK_OBJECT_HANDLE,
    )
);
unsupported!(CA_Bip32ExportPublicKey(CK_SESSION_HANDLE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG));
unsupported!(
    CA_STCRegisterV2(
        CK_SESSION_HANDLE,
        CK_SLOT_ID,
        *mut CK_CHAR,
        CK_ULONG,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
    )
);
unsupported!(
    CA_STCGetClientInfoV2(
        CK_SESSION_HANDLE,
        CK_SLOT_ID,
        CK_ULONG,
        *mut CK_CHAR,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_BYTE,
        *mut CK_ULONG,
    )
);
unsupported!(
    CA_STCGetPID(CK_SESSION_HANDLE, CK_SLOT_ID, *mut CK_ULONG, *mut CK_BYTE, *mut CK_ULONG)
);
unsupported!(CA_STCGetAdminPID(CK_SLOT_ID, *mut CK_ULONG, *mut CK_BYTE, *mut CK_ULONG));
