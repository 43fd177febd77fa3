//! The functions PKCS#11 3.2 adds (the tail of `CK_FUNCTION_LIST_3_2`): key encapsulation
//! (`C_EncapsulateKey`, `C_DecapsulateKey`: ML-KEM), verification with the signature given at
//! the init (`C_VerifySignature*`), the session's validation flags, authenticated key wrapping
//! (`C_WrapKeyAuthenticated`, `C_UnwrapKeyAuthenticated`: `CKM_AES_GCM` with the call's
//! associated data, on soft tokens; Luna and Primus partitions answer
//! `CKR_FUNCTION_NOT_SUPPORTED`, simulator-defined), and the asynchronous functions hsmsim does
//! not offer.
//!
//! `C_AsyncComplete`, `C_AsyncGetID` and `C_AsyncJoin` answer `CKR_FUNCTION_NOT_SUPPORTED`
//! (every call of hsmsim completes before it returns).
use super::operations::{produce, within};
use super::{args, engine, ensure_initialized, guard};
use crate::base::error::err;
use crate::engine::Call;
use cryptoki_sys::*;

export!(C_EncapsulateKey(
    session: CK_SESSION_HANDLE,
    mechanism: *mut CK_MECHANISM,
    public_key: CK_OBJECT_HANDLE,
    template: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    ciphertext: *mut CK_BYTE,
    ciphertext_len: *mut CK_ULONG,
    key: *mut CK_OBJECT_HANDLE,
) {
    let e = engine()?;
    // SAFETY: caller's mechanism and template.
    let (m, t) = unsafe { (args::mechanism(mechanism)?, args::template(template, count)?) };
    // SAFETY: caller's buffer per the output convention.
    let capacity = unsafe { args::capacity(ciphertext, ciphertext_len) }?;
    if capacity.is_some() && key.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "phKey is null"));
    }
    let (output, handle) = e.encapsulate_key(session, &m, public_key, &t, capacity)?;
    // SAFETY: caller's buffer per the output convention.
    let rv = unsafe { args::put_output(output, ciphertext, ciphertext_len) }?;
    if let Some(h) = handle {
        // SAFETY: caller's out-pointer (checked non-null when a buffer was given).
        unsafe { args::write(key, h) }?;
    }
    Ok(rv)
});

export!(C_DecapsulateKey(
    session: CK_SESSION_HANDLE,
    mechanism: *mut CK_MECHANISM,
    private_key: CK_OBJECT_HANDLE,
    template: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    ciphertext: *mut CK_BYTE,
    ciphertext_len: CK_ULONG,
    key: *mut CK_OBJECT_HANDLE,
) {
    let e = engine()?;
    // SAFETY: caller's mechanism, template and buffer.
    let (m, t, c) = unsafe {
        (
            args::mechanism(mechanism)?,
            args::template(template, count)?,
            args::bytes(ciphertext, ciphertext_len)?,
        )
    };
    if key.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "phKey is null"));
    }
    let h = e.decapsulate_key(session, &m, private_key, &t, c)?;
    // SAFETY: caller's out-pointer (checked non-null).
    unsafe { args::write(key, h) }?;
    Ok(CKR_OK)
});

export!(C_VerifySignatureInit(
    session: CK_SESSION_HANDLE,
    mechanism: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
    signature: *mut CK_BYTE,
    signature_len: CK_ULONG,
) {
    let e = engine()?;
    if mechanism.is_null() {
        // As the other *Init functions: a null mechanism cancels the operation.
        e.session_cancel(session, CKF_VERIFY)?;
        return Ok(CKR_OK);
    }
    // SAFETY: caller's mechanism and buffer.
    let (m, s) = unsafe { (args::mechanism(mechanism)?, args::bytes(signature, signature_len)?) };
    e.verify_signature_init(session, &m, key, s)?;
    Ok(CKR_OK)
});

export!(C_VerifySignature(session: CK_SESSION_HANDLE, data: *mut CK_BYTE, data_len: CK_ULONG) {
    within(session, CKF_VERIFY, |e| {
        // SAFETY: caller's input buffer.
        let d = unsafe { args::bytes(data, data_len) }?;
        e.verify_signature(session, d, Call::OneShot)?;
        Ok(CKR_OK)
    })
});

export!(C_VerifySignatureUpdate(session: CK_SESSION_HANDLE, part: *mut CK_BYTE, part_len: CK_ULONG) {
    within(session, CKF_VERIFY, |e| {
        // SAFETY: caller's input buffer.
        let d = unsafe { args::bytes(part, part_len) }?;
        e.verify_signature(session, d, Call::Update)?;
        Ok(CKR_OK)
    })
});

export!(C_VerifySignatureFinal(session: CK_SESSION_HANDLE) {
    within(session, CKF_VERIFY, |e| {
        e.verify_signature(session, &[], Call::Final)?;
        Ok(CKR_OK)
    })
});

export!(C_GetSessionValidationFlags(
    session: CK_SESSION_HANDLE,
    kind: CK_SESSION_VALIDATION_FLAGS_TYPE,
    flags: *mut CK_FLAGS,
) {
    let e = engine()?;
    if flags.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "pFlags is null"));
    }
    let value = e.session_validation_flags(session, kind)?;
    // SAFETY: caller's out-pointer (checked non-null).
    unsafe { args::write(flags, value) }?;
    Ok(CKR_OK)
});

unsupported!(C_AsyncComplete(CK_SESSION_HANDLE, *mut CK_UTF8CHAR, *mut CK_ASYNC_DATA));
unsupported!(C_AsyncGetID(CK_SESSION_HANDLE, *mut CK_UTF8CHAR, *mut CK_ULONG));
unsupported!(C_AsyncJoin(CK_SESSION_HANDLE, *mut CK_UTF8CHAR, CK_ULONG, *mut CK_BYTE, CK_ULONG));
export!(C_WrapKeyAuthenticated(
    session: CK_SESSION_HANDLE,
    mechanism: *mut CK_MECHANISM,
    wrapping_key: CK_OBJECT_HANDLE,
    key: CK_OBJECT_HANDLE,
    associated_data: *mut CK_BYTE,
    associated_data_len: CK_ULONG,
    wrapped: *mut CK_BYTE,
    wrapped_len: *mut CK_ULONG,
) {
    let e = engine()?;
    // SAFETY: caller's mechanism and associated data.
    let (m, aad) = unsafe { (args::mechanism(mechanism)?, args::bytes(associated_data, associated_data_len)?) };
    // SAFETY: caller's buffers per the output convention.
    unsafe {
        produce(std::ptr::null(), 0, wrapped, wrapped_len, |_, c| {
            e.wrap_key_authenticated(session, &m, wrapping_key, key, aad, c)
        })
    }
});

export!(C_UnwrapKeyAuthenticated(
    session: CK_SESSION_HANDLE,
    mechanism: *mut CK_MECHANISM,
    unwrapping_key: CK_OBJECT_HANDLE,
    wrapped: *mut CK_BYTE,
    wrapped_len: CK_ULONG,
    template: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    associated_data: *mut CK_BYTE,
    associated_data_len: CK_ULONG,
    key: *mut CK_OBJECT_HANDLE,
) {
    let e = engine()?;
    // SAFETY: caller's mechanism, buffers and template.
    let (m, w, t, aad) = unsafe {
        (
            args::mechanism(mechanism)?,
            args::bytes(wrapped, wrapped_len)?,
            args::template(template, count)?,
            args::bytes(associated_data, associated_data_len)?,
        )
    };
    if key.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "phKey is null"));
    }
    let h = e.unwrap_key_authenticated(session, &m, unwrapping_key, w, &t, aad)?;
    // SAFETY: caller's out-pointer (checked non-null).
    unsafe { args::write(key, h) }?;
    Ok(CKR_OK)
});
