//! The single-operation API through the C ABI: encrypt, decrypt, digest, sign, verify and
//! their recover forms. The calls of an operation in progress run inside `within`, which ends
//! the operation on any error; `produce` applies PKCS#11's output-buffer convention.
use super::{args, engine, ensure_initialized, guard};
use crate::base::error::Result;
use crate::engine::{Call, Engine, Output};
use cryptoki_sys::*;

/// Runs an output-producing call: reads input and capacity, then writes the output.
///
/// # Safety
/// `input` valid for `input_len` bytes (or null when 0); `out`/`out_len` per the PKCS#11
/// output convention.
pub(super) unsafe fn produce(
    input: *const u8,
    input_len: CK_ULONG,
    out: *mut u8,
    out_len: *mut CK_ULONG,
    run: impl FnOnce(&[u8], Option<usize>) -> Result<Output>,
) -> Result<CK_RV> {
    // SAFETY: forwarded caller contract.
    let data = unsafe { args::bytes(input, input_len) }?;
    // SAFETY: forwarded caller contract.
    let capacity = unsafe { args::capacity(out, out_len) }?;
    let output = run(data, capacity)?;
    // SAFETY: forwarded caller contract.
    unsafe { args::put_output(output, out, out_len) }
}

/// Runs one call of the operation in progress of a kind (`operation`: its `CKF_*` flag, as
/// `C_SessionCancel` takes it), with PKCS#11's rule that any error of such a call ends the
/// operation ("always terminates the active operation unless it returns CKR_BUFFER_TOO_SMALL
/// or is a successful call to determine the length"; a short buffer is an `Ok` answer here).
/// This is the one place the rule covers errors found before the engine is reached (a null
/// buffer with a length, a null length pointer); the engine applies it to its own. Only
/// `CKR_OPERATION_NOT_INITIALIZED` ends nothing: there is no such operation (e.g. `C_Sign`
/// while a `C_SignRecoverInit` operation waits for `C_SignRecover`).
pub(super) fn within(
    session: CK_SESSION_HANDLE,
    operation: CK_FLAGS,
    body: impl FnOnce(&Engine) -> Result<CK_RV>,
) -> Result<CK_RV> {
    let e = engine()?;
    let r = body(&e);
    if let Err(error) = &r
        && error.rv != CKR_OPERATION_NOT_INITIALIZED
    {
        // An invalid session has no operation to end.
        let _ = e.session_cancel(session, operation);
    }
    r
}

/// The `C_*Init` functions of the single-operation API. A null mechanism cancels the
/// operation of that kind (PKCS#11 3.0); with none in progress that is `CKR_OK` too
/// (simulator-defined: the caller's aim, no such operation, holds).
macro_rules! init_fn {
    ($name:ident, $method:ident, $flag:expr $(, $extra:expr)?) => {
        export!($name(session: CK_SESSION_HANDLE, mechanism: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
            let e = engine()?;
            if mechanism.is_null() {
                e.session_cancel(session, $flag)?;
                return Ok(CKR_OK);
            }
            // SAFETY: caller's mechanism.
            let m = unsafe { args::mechanism(mechanism) }?;
            e.$method(session, &m, key $(, $extra)?)?;
            Ok(CKR_OK)
        });
    };
}

init_fn!(C_EncryptInit, encrypt_init, CKF_ENCRYPT);
init_fn!(C_DecryptInit, decrypt_init, CKF_DECRYPT);
init_fn!(C_SignInit, sign_init, CKF_SIGN, false);
init_fn!(C_SignRecoverInit, sign_init, CKF_SIGN_RECOVER, true);
init_fn!(C_VerifyInit, verify_init, CKF_VERIFY, false);
init_fn!(C_VerifyRecoverInit, verify_init, CKF_VERIFY_RECOVER, true);

macro_rules! data_fn {
    ($name:ident, $method:ident, $call:expr, $flag:expr) => {
        export!($name(session: CK_SESSION_HANDLE, input: *mut CK_BYTE, input_len: CK_ULONG, out: *mut CK_BYTE, out_len: *mut CK_ULONG) {
            within(session, $flag, |e| {
                // SAFETY: caller's buffers per the output convention.
                unsafe { produce(input, input_len, out, out_len, |d, c| e.$method(session, d, $call, c)) }
            })
        });
    };
}

macro_rules! final_fn {
    ($name:ident, $method:ident, $flag:expr) => {
        export!($name(session: CK_SESSION_HANDLE, out: *mut CK_BYTE, out_len: *mut CK_ULONG) {
            within(session, $flag, |e| {
                // SAFETY: caller's buffers per the output convention.
                unsafe { produce(std::ptr::null(), 0, out, out_len, |d, c| e.$method(session, d, Call::Final, c)) }
            })
        });
    };
}

data_fn!(C_Encrypt, encrypt, Call::OneShot, CKF_ENCRYPT);
data_fn!(C_EncryptUpdate, encrypt, Call::Update, CKF_ENCRYPT);
final_fn!(C_EncryptFinal, encrypt, CKF_ENCRYPT);
data_fn!(C_Decrypt, decrypt, Call::OneShot, CKF_DECRYPT);
data_fn!(C_DecryptUpdate, decrypt, Call::Update, CKF_DECRYPT);
final_fn!(C_DecryptFinal, decrypt, CKF_DECRYPT);
data_fn!(C_Digest, digest, Call::OneShot, CKF_DIGEST);
final_fn!(C_DigestFinal, digest, CKF_DIGEST);
data_fn!(C_Sign, sign, Call::OneShot, CKF_SIGN);
final_fn!(C_SignFinal, sign, CKF_SIGN);

export!(C_DigestInit(session: CK_SESSION_HANDLE, mechanism: *mut CK_MECHANISM) {
    let e = engine()?;
    if mechanism.is_null() {
        // PKCS#11 3.0: a null mechanism cancels (see `init_fn`).
        e.session_cancel(session, CKF_DIGEST)?;
        return Ok(CKR_OK);
    }
    // SAFETY: caller's mechanism.
    let m = unsafe { args::mechanism(mechanism) }?;
    e.digest_init(session, &m)?;
    Ok(CKR_OK)
});

export!(C_DigestUpdate(session: CK_SESSION_HANDLE, part: *mut CK_BYTE, part_len: CK_ULONG) {
    within(session, CKF_DIGEST, |e| {
        // SAFETY: caller's input buffer.
        let data = unsafe { args::bytes(part, part_len) }?;
        e.digest(session, data, Call::Update, Some(0))?;
        Ok(CKR_OK)
    })
});

export!(C_DigestKey(session: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) {
    within(session, CKF_DIGEST, |e| {
        e.digest_key(session, key)?;
        Ok(CKR_OK)
    })
});

export!(C_SignUpdate(session: CK_SESSION_HANDLE, part: *mut CK_BYTE, part_len: CK_ULONG) {
    within(session, CKF_SIGN, |e| {
        // SAFETY: caller's input buffer.
        let data = unsafe { args::bytes(part, part_len) }?;
        e.sign(session, data, Call::Update, Some(0))?;
        Ok(CKR_OK)
    })
});

export!(C_SignRecover(session: CK_SESSION_HANDLE, input: *mut CK_BYTE, input_len: CK_ULONG, out: *mut CK_BYTE, out_len: *mut CK_ULONG) {
    within(session, CKF_SIGN_RECOVER, |e| {
        // SAFETY: caller's buffers per the output convention.
        unsafe { produce(input, input_len, out, out_len, |d, c| e.sign_recover(session, d, c)) }
    })
});

export!(C_Verify(session: CK_SESSION_HANDLE, data: *mut CK_BYTE, data_len: CK_ULONG, signature: *mut CK_BYTE, signature_len: CK_ULONG) {
    within(session, CKF_VERIFY, |e| {
        // SAFETY: caller's input buffers.
        let (d, s) = unsafe { (args::bytes(data, data_len)?, args::bytes(signature, signature_len)?) };
        e.verify(session, d, s, Call::OneShot)?;
        Ok(CKR_OK)
    })
});

export!(C_VerifyUpdate(session: CK_SESSION_HANDLE, part: *mut CK_BYTE, part_len: CK_ULONG) {
    within(session, CKF_VERIFY, |e| {
        // SAFETY: caller's input buffer.
        let d = unsafe { args::bytes(part, part_len) }?;
        e.verify(session, d, &[], Call::Update)?;
        Ok(CKR_OK)
    })
});

export!(C_VerifyFinal(session: CK_SESSION_HANDLE, signature: *mut CK_BYTE, signature_len: CK_ULONG) {
    within(session, CKF_VERIFY, |e| {
        // SAFETY: caller's input buffer.
        let s = unsafe { args::bytes(signature, signature_len) }?;
        e.verify(session, &[], s, Call::Final)?;
        Ok(CKR_OK)
    })
});

export!(C_VerifyRecover(session: CK_SESSION_HANDLE, signature: *mut CK_BYTE, signature_len: CK_ULONG, out: *mut CK_BYTE, out_len: *mut CK_ULONG) {
    within(session, CKF_VERIFY_RECOVER, |e| {
        // SAFETY: caller's buffers per the output convention.
        unsafe { produce(signature, signature_len, out, out_len, |s, c| e.verify_recover(session, s, c)) }
    })
});

unsupported!(
    C_DigestEncryptUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG)
);
unsupported!(
    C_DecryptDigestUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG)
);
unsupported!(
    C_SignEncryptUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG)
);
unsupported!(
    C_DecryptVerifyUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG)
);
