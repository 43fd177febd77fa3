//! PKCS#11 3.2 through the C ABI: `C_GetInfo` per interface, `C_VerifySignature*`, the
//! session's validation flags and the functions hsmsim does not offer.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::ptr::null_mut;

/// The function list of the interface of `major.minor`.
fn list_of(major: u8, minor: u8) -> *mut std::ffi::c_void {
    let mut version = CK_VERSION { major, minor };
    let mut iface: *mut CK_INTERFACE = null_mut();
    let name = b"PKCS 11\0";
    // SAFETY: valid name, version and out-pointer.
    let rv = unsafe { C_GetInterface(name.as_ptr() as *mut u8, &mut version, &mut iface, 0) };
    assert_eq!(rv, CKR_OK);
    // SAFETY: the module returned its static interface.
    unsafe { (*iface).pFunctionList }
}

fn info_version(get_info: CK_C_GetInfo) -> (u8, u8) {
    let mut info = std::mem::MaybeUninit::<CK_INFO>::zeroed();
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { get_info.unwrap()(info.as_mut_ptr()) }, CKR_OK);
    // SAFETY: filled by C_GetInfo.
    let v = unsafe { info.assume_init() }.cryptokiVersion;
    (v.major, v.minor)
}

#[test]
fn get_info_reports_the_version_of_the_interface_used() {
    let _lab = Lab::new();
    // SAFETY: each list is the module's static table of that layout.
    let (l32, l30, l240) = unsafe {
        (
            &*(list_of(3, 2) as *const CK_FUNCTION_LIST_3_2),
            &*(list_of(3, 0) as *const CK_FUNCTION_LIST_3_0),
            &*(list_of(2, 40) as *const CK_FUNCTION_LIST),
        )
    };
    assert_eq!(info_version(l32.C_GetInfo), (3, 2));
    assert_eq!(info_version(l30.C_GetInfo), (3, 0));
    assert_eq!(info_version(l240.C_GetInfo), (2, 40));
    let mut fl: *mut CK_FUNCTION_LIST = null_mut();
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { C_GetFunctionList(&mut fl) }, CKR_OK);
    // SAFETY: the module's static 2.40 list.
    assert_eq!(info_version(unsafe { &*fl }.C_GetInfo), (2, 40));
    assert_eq!(info_version(Some(C_GetInfo)), (2, 40));

    // The default interface (null version) is 3.2.
    let mut iface: *mut CK_INTERFACE = null_mut();
    // SAFETY: null name and version ask for the default.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetInterface(null_mut(), null_mut(), &mut iface, 0) },
        CKR_OK
    );
    // SAFETY: the default is the 3.2 table.
    let default = unsafe { &*((*iface).pFunctionList as *const CK_FUNCTION_LIST_3_2) };
    assert_eq!(info_version(default.C_GetInfo), (3, 2));
}

fn verify_signature_init(
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_TYPE,
    key: CK_OBJECT_HANDLE,
    sig: &[u8],
) -> CK_RV {
    let mut mm = mech(m);
    // SAFETY: mechanism and signature buffer are valid.
    unsafe {
        C_VerifySignatureInit(
            s,
            &mut mm,
            key,
            sig.as_ptr() as *mut u8,
            sig.len() as CK_ULONG,
        )
    }
}

fn verify_signature(s: CK_SESSION_HANDLE, data: &[u8]) -> CK_RV {
    // SAFETY: the buffer is valid for its length.
    unsafe { C_VerifySignature(s, data.as_ptr() as *mut u8, data.len() as CK_ULONG) }
}

#[test]
fn verify_signature_takes_the_signature_at_init() {
    let lab = Lab::new();
    let s = lab.user_session();
    let (public, private) = rsa_pair(s, 2048);
    let data = b"signed with the signature up front";
    assert_eq!(
        init(C_SignInit, s, &mut mech(CKM_SHA256_RSA_PKCS), private),
        CKR_OK
    );
    let sig = produce(C_Sign, s, data).unwrap();

    // Single-part: success, then a wrong message fails.
    assert_eq!(
        verify_signature_init(s, CKM_SHA256_RSA_PKCS, public, &sig),
        CKR_OK
    );
    assert_eq!(verify_signature(s, data), CKR_OK);
    assert_eq!(
        verify_signature_init(s, CKM_SHA256_RSA_PKCS, public, &sig),
        CKR_OK
    );
    assert_eq!(
        verify_signature(s, b"another message"),
        CKR_SIGNATURE_INVALID
    );
    // The failure ended the operation.
    assert_eq!(verify_signature(s, data), CKR_OPERATION_NOT_INITIALIZED);

    // Multi-part.
    assert_eq!(
        verify_signature_init(s, CKM_SHA256_RSA_PKCS, public, &sig),
        CKR_OK
    );
    assert_eq!(update(C_VerifySignatureUpdate, s, &data[..10]), CKR_OK);
    assert_eq!(update(C_VerifySignatureUpdate, s, &data[10..]), CKR_OK);
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_VerifySignatureFinal(s) }, CKR_OK);
    let mut bad = sig.clone();
    bad[0] ^= 1;
    assert_eq!(
        verify_signature_init(s, CKM_SHA256_RSA_PKCS, public, &bad),
        CKR_OK
    );
    assert_eq!(update(C_VerifySignatureUpdate, s, data), CKR_OK);
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_VerifySignatureFinal(s) }, CKR_SIGNATURE_INVALID);

    // Another mechanism (raw PKCS #1 v1.5).
    let mut raw = mech(CKM_RSA_PKCS);
    assert_eq!(init(C_SignInit, s, &mut raw, private), CKR_OK);
    let raw_sig = produce(C_Sign, s, data).unwrap();
    assert_eq!(
        verify_signature_init(s, CKM_RSA_PKCS, public, &raw_sig),
        CKR_OK
    );
    assert_eq!(verify_signature(s, data), CKR_OK);

    // The verify operation is one: C_Verify on a C_VerifySignatureInit operation is refused,
    // and a second init while one is active is CKR_OPERATION_ACTIVE.
    assert_eq!(
        verify_signature_init(s, CKM_SHA256_RSA_PKCS, public, &sig),
        CKR_OK
    );
    assert_eq!(verify(s, data, &sig), CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(
        init(C_VerifyInit, s, &mut mech(CKM_SHA256_RSA_PKCS), public),
        CKR_OPERATION_ACTIVE
    );
    assert_eq!(verify_signature(s, data), CKR_OK);
    assert_eq!(
        init(C_VerifyInit, s, &mut mech(CKM_SHA256_RSA_PKCS), public),
        CKR_OK
    );
    assert_eq!(verify_signature(s, data), CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(verify(s, data, &sig), CKR_OK);

    // The key checks of C_VerifyInit apply: a private key lacks CKA_VERIFY.
    assert_eq!(
        verify_signature_init(s, CKM_SHA256_RSA_PKCS, private, &sig),
        CKR_KEY_FUNCTION_NOT_PERMITTED
    );
    // A null mechanism cancels.
    assert_eq!(
        verify_signature_init(s, CKM_SHA256_RSA_PKCS, public, &sig),
        CKR_OK
    );
    // SAFETY: a null mechanism is allowed.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_VerifySignatureInit(s, null_mut(), public, null_mut(), 0) },
        CKR_OK
    );
    assert_eq!(verify_signature(s, data), CKR_OPERATION_NOT_INITIALIZED);
}

#[test]
fn session_validation_flags_are_zero_and_the_rest_is_not_supported() {
    let lab = Lab::new();
    let s = lab.user_session();
    let mut flags: CK_FLAGS = 0xFFFF;
    // SAFETY: a valid out-pointer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetSessionValidationFlags(s, CKS_LAST_VALIDATION_OK, &mut flags) },
        CKR_OK
    );
    assert_eq!(flags, 0);
    // SAFETY: a valid out-pointer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetSessionValidationFlags(s, 77, &mut flags) },
        CKR_ARGUMENTS_BAD
    );
    // SAFETY: a valid out-pointer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetSessionValidationFlags(s + 1000, CKS_LAST_VALIDATION_OK, &mut flags) },
        CKR_SESSION_HANDLE_INVALID
    );
    // SAFETY: a null out-pointer is refused.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetSessionValidationFlags(s, CKS_LAST_VALIDATION_OK, null_mut()) },
        CKR_ARGUMENTS_BAD
    );
    let mut id = 0;
    assert_eq!(
        C_AsyncGetID(s, null_mut(), &mut id),
        CKR_FUNCTION_NOT_SUPPORTED
    );
    // Offered since PKCS#11 3.2 authenticated wrapping came (tests/authenticated_wrap.rs); a
    // null mechanism is the caller's error.
    assert_eq!(
        // SAFETY: null pointers are refused before use.
        unsafe {
            C_WrapKeyAuthenticated(s, null_mut(), 0, 0, null_mut(), 0, null_mut(), null_mut())
        },
        CKR_ARGUMENTS_BAD
    );
}
