//! The functions PKCS#11 3.2 adds (the tail of `CK_FUNCTION_LIST_3_2`): key encapsulation
//! (`C_EncapsulateKey`, `C_DecapsulateKey`: ML-KEM), verification with the signature given at
//! the init (`C_VerifySignature*`), the session's validation flags, and the asynchronous and
//! authenticated-wrapping functions hsmsim does not offer.
//!
//! `C_WrapKeyAuthenticated` / `C_UnwrapKeyAuthenticated` answer `CKR_FUNCTION_NOT_SUPPORTED`
//! (simulator-defined: the engine's wrap path has no associated-data input, and no client
//! exercised here uses them), as do `C_AsyncComplete`, `C_AsyncGetID` and `C_AsyncJoin` (every
//! call of hsmsim completes before it returns).
use super::operations::within;
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
unsupported!(
    C_WrapKeyAuthenticated(
        CK_SESSION_HANDLE,
        *mut CK_MECHANISM,
        CK_OBJECT_HANDLE,
        CK_OBJECT_HANDLE,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        *mut CK_ULONG,
    )
);
unsupported!(
    C_UnwrapKeyAuthenticated(
        CK_SESSION_HANDLE,
        *mut CK_MECHANISM,
        CK_OBJECT_HANDLE,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_ATTRIBUTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_OBJECT_HANDLE,
    )
);
