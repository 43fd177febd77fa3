//! The PKCS#11 3.0 message API through the C ABI: message-based encryption and decryption
//! (`CKM_AES_GCM`); message-based signing and verifying answer `CKR_FUNCTION_NOT_SUPPORTED`.
use super::{args, engine, ensure_initialized, guard};
use crate::base::error::Result;
use cryptoki_sys::*;
use std::ffi::c_void;

// Message-based encryption and decryption (PKCS#11 3.0; `CKM_AES_GCM` only).

/// Writes a message call's generated IV and tag back into the caller's `CK_GCM_MESSAGE_PARAMS`.
///
/// # Safety
/// `raw`'s `pIv` and `pTag` must be null or writable for `ulIvLen` and `ulTagBits / 8` bytes.
unsafe fn message_write_back(
    out: &crate::engine::MessageOutput,
    raw: &CK_GCM_MESSAGE_PARAMS,
) -> Result<()> {
    if let Some(iv) = &out.iv {
        // SAFETY: forwarded caller contract.
        unsafe { args::write_back(raw.pIv, raw.ulIvLen, iv) }?;
    }
    if let Some(tag) = &out.tag {
        // SAFETY: forwarded caller contract.
        unsafe { args::write_back(raw.pTag, raw.ulTagBits / 8, tag) }?;
    }
    Ok(())
}

/// `C_EncryptMessage` / `C_DecryptMessage`.
///
/// # Safety
/// The pointers must be null or valid as PKCS#11 specifies for these functions.
#[allow(clippy::too_many_arguments)]
unsafe fn message_one_shot(
    encrypt: bool,
    session: CK_SESSION_HANDLE,
    param: *mut c_void,
    param_len: CK_ULONG,
    aad: *const u8,
    aad_len: CK_ULONG,
    input: *const u8,
    input_len: CK_ULONG,
    out: *mut u8,
    out_len: *mut CK_ULONG,
) -> Result<CK_RV> {
    let e = engine()?;
    e.message_ready(session, encrypt, false)?;
    // SAFETY: the caller's CK_GCM_MESSAGE_PARAMS.
    let (params, raw) = unsafe { args::gcm_message(param, param_len, !encrypt) }?;
    // SAFETY: the caller's AAD buffer.
    let aad = unsafe { args::bytes(aad, aad_len) }?;
    // SAFETY: the caller's input buffer.
    let data = unsafe { args::bytes(input, input_len) }?;
    // SAFETY: the caller's output length.
    let capacity = unsafe { args::capacity(out, out_len) }?;
    let r = e.message_one_shot(session, encrypt, &params, aad, data, capacity)?;
    // SAFETY: the caller's parameter buffers.
    unsafe { message_write_back(&r, &raw) }?;
    // SAFETY: the caller's output buffer per the output convention.
    unsafe { args::put_output(r.output, out, out_len) }
}

/// `C_EncryptMessageBegin` / `C_DecryptMessageBegin`.
///
/// # Safety
/// The pointers must be null or valid as PKCS#11 specifies for these functions.
unsafe fn message_begin(
    encrypt: bool,
    session: CK_SESSION_HANDLE,
    param: *mut c_void,
    param_len: CK_ULONG,
    aad: *const u8,
    aad_len: CK_ULONG,
) -> Result<CK_RV> {
    let e = engine()?;
    e.message_ready(session, encrypt, false)?;
    // SAFETY: the caller's CK_GCM_MESSAGE_PARAMS.
    let (params, raw) = unsafe { args::gcm_message(param, param_len, false) }?;
    // SAFETY: the caller's AAD buffer.
    let aad = unsafe { args::bytes(aad, aad_len) }?;
    if let Some(iv) = e.message_begin(session, encrypt, &params, aad)? {
        // SAFETY: the caller's IV buffer, `ulIvLen` bytes.
        unsafe { args::write_back(raw.pIv, raw.ulIvLen, &iv) }?;
    }
    Ok(CKR_OK)
}

/// `C_EncryptMessageNext` / `C_DecryptMessageNext`.
///
/// # Safety
/// The pointers must be null or valid as PKCS#11 specifies for these functions.
#[allow(clippy::too_many_arguments)]
unsafe fn message_next(
    encrypt: bool,
    session: CK_SESSION_HANDLE,
    param: *mut c_void,
    param_len: CK_ULONG,
    input: *const u8,
    input_len: CK_ULONG,
    out: *mut u8,
    out_len: *mut CK_ULONG,
    flags: CK_FLAGS,
) -> Result<CK_RV> {
    let e = engine()?;
    e.message_ready(session, encrypt, true)?;
    let end = flags & CKF_END_OF_MESSAGE != 0;
    // SAFETY: the caller's CK_GCM_MESSAGE_PARAMS (its tag is read for a decryption's end).
    let (params, raw) = unsafe { args::gcm_message(param, param_len, !encrypt && end) }?;
    // SAFETY: the caller's input buffer.
    let data = unsafe { args::bytes(input, input_len) }?;
    // SAFETY: the caller's output length.
    let capacity = unsafe { args::capacity(out, out_len) }?;
    let r = e.message_next(session, encrypt, &params, data, capacity, end)?;
    // SAFETY: the caller's parameter buffers.
    unsafe { message_write_back(&r, &raw) }?;
    // SAFETY: the caller's output buffer per the output convention.
    unsafe { args::put_output(r.output, out, out_len) }
}

export!(C_MessageEncryptInit(session: CK_SESSION_HANDLE, mechanism: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
    let e = engine()?;
    // SAFETY: caller's mechanism.
    let m = unsafe { args::message_mechanism(mechanism) }?;
    e.message_init(session, &m, key, true)?;
    Ok(CKR_OK)
});

export!(C_EncryptMessage(session: CK_SESSION_HANDLE, param: *mut c_void, param_len: CK_ULONG, aad: *mut CK_BYTE, aad_len: CK_ULONG, plain: *mut CK_BYTE, plain_len: CK_ULONG, cipher: *mut CK_BYTE, cipher_len: *mut CK_ULONG) {
    // SAFETY: forwarded caller contract.
    unsafe { message_one_shot(true, session, param, param_len, aad, aad_len, plain, plain_len, cipher, cipher_len) }
});

export!(C_EncryptMessageBegin(session: CK_SESSION_HANDLE, param: *mut c_void, param_len: CK_ULONG, aad: *mut CK_BYTE, aad_len: CK_ULONG) {
    // SAFETY: forwarded caller contract.
    unsafe { message_begin(true, session, param, param_len, aad, aad_len) }
});

export!(C_EncryptMessageNext(session: CK_SESSION_HANDLE, param: *mut c_void, param_len: CK_ULONG, plain: *mut CK_BYTE, plain_len: CK_ULONG, cipher: *mut CK_BYTE, cipher_len: *mut CK_ULONG, flags: CK_FLAGS) {
    // SAFETY: forwarded caller contract.
    unsafe { message_next(true, session, param, param_len, plain, plain_len, cipher, cipher_len, flags) }
});

export!(C_MessageEncryptFinal(session: CK_SESSION_HANDLE) {
    engine()?.message_final(session, true)?;
    Ok(CKR_OK)
});

export!(C_MessageDecryptInit(session: CK_SESSION_HANDLE, mechanism: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
    let e = engine()?;
    // SAFETY: caller's mechanism.
    let m = unsafe { args::message_mechanism(mechanism) }?;
    e.message_init(session, &m, key, false)?;
    Ok(CKR_OK)
});

export!(C_DecryptMessage(session: CK_SESSION_HANDLE, param: *mut c_void, param_len: CK_ULONG, aad: *mut CK_BYTE, aad_len: CK_ULONG, cipher: *mut CK_BYTE, cipher_len: CK_ULONG, plain: *mut CK_BYTE, plain_len: *mut CK_ULONG) {
    // SAFETY: forwarded caller contract.
    unsafe { message_one_shot(false, session, param, param_len, aad, aad_len, cipher, cipher_len, plain, plain_len) }
});

export!(C_DecryptMessageBegin(session: CK_SESSION_HANDLE, param: *mut c_void, param_len: CK_ULONG, aad: *mut CK_BYTE, aad_len: CK_ULONG) {
    // SAFETY: forwarded caller contract.
    unsafe { message_begin(false, session, param, param_len, aad, aad_len) }
});

export!(C_DecryptMessageNext(session: CK_SESSION_HANDLE, param: *mut c_void, param_len: CK_ULONG, cipher: *mut CK_BYTE, cipher_len: CK_ULONG, plain: *mut CK_BYTE, plain_len: *mut CK_ULONG, flags: CK_FLAGS) {
    // SAFETY: forwarded caller contract.
    unsafe { message_next(false, session, param, param_len, cipher, cipher_len, plain, plain_len, flags) }
});

export!(C_MessageDecryptFinal(session: CK_SESSION_HANDLE) {
    engine()?.message_final(session, false)?;
    Ok(CKR_OK)
});
unsupported!(C_MessageSignInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE));
unsupported!(
    C_SignMessage(
        CK_SESSION_HANDLE,
        *mut c_void,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        *mut CK_ULONG,
    )
);
unsupported!(C_SignMessageBegin(CK_SESSION_HANDLE, *mut c_void, CK_ULONG));
unsupported!(
    C_SignMessageNext(
        CK_SESSION_HANDLE,
        *mut c_void,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        *mut CK_ULONG,
    )
);
unsupported!(C_MessageSignFinal(CK_SESSION_HANDLE));
unsupported!(C_MessageVerifyInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE));
unsupported!(
    C_VerifyMessage(
        CK_SESSION_HANDLE,
        *mut c_void,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
    )
);
unsupported!(C_VerifyMessageBegin(CK_SESSION_HANDLE, *mut c_void, CK_ULONG));
unsupported!(
    C_VerifyMessageNext(
        CK_SESSION_HANDLE,
        *mut c_void,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
    )
);
unsupported!(C_MessageVerifyFinal(CK_SESSION_HANDLE));
