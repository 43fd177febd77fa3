//! Sessions through the C ABI: opening and closing them, their information and operation
//! state, PINs (`C_InitPIN`, `C_SetPIN`), logging in and out, cancelling, and the legacy
//! parallel-function calls.
use super::{args, engine, guard};
use crate::base::error::err;
use cryptoki_sys::*;
use std::ffi::c_void;

export!(C_InitPIN(session: CK_SESSION_HANDLE, pin: *mut CK_UTF8CHAR, pin_len: CK_ULONG) {
    let e = engine()?;
    // SAFETY: caller's PIN buffer.
    let pin = unsafe { args::bytes(pin, pin_len) }?;
    e.init_pin(session, pin)?;
    Ok(CKR_OK)
});

export!(C_SetPIN(session: CK_SESSION_HANDLE, old: *mut CK_UTF8CHAR, old_len: CK_ULONG, new: *mut CK_UTF8CHAR, new_len: CK_ULONG) {
    let e = engine()?;
    // SAFETY: caller's PIN buffers.
    let (old, new) = unsafe { (args::bytes(old, old_len)?, args::bytes(new, new_len)?) };
    e.set_pin(session, old, new)?;
    Ok(CKR_OK)
});

export!(C_OpenSession(slot_id: CK_SLOT_ID, flags: CK_FLAGS, _application: *mut c_void, _notify: CK_NOTIFY, session: *mut CK_SESSION_HANDLE) {
    let e = engine()?;
    if session.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "phSession is null"));
    }
    let h = e.open_session(slot_id, flags)?;
    // SAFETY: caller's out-pointer (checked non-null).
    unsafe { args::write(session, h) }?;
    Ok(CKR_OK)
});

export!(C_CloseSession(session: CK_SESSION_HANDLE) {
    engine()?.close_session(session)?;
    Ok(CKR_OK)
});

export!(C_CloseAllSessions(slot_id: CK_SLOT_ID) {
    engine()?.close_all_sessions(slot_id)?;
    Ok(CKR_OK)
});

export!(C_GetSessionInfo(session: CK_SESSION_HANDLE, info: *mut CK_SESSION_INFO) {
    let s = engine()?.session_info(session)?;
    let value = CK_SESSION_INFO { slotID: s.slot_id, state: s.state, flags: s.flags, ulDeviceError: 0 };
    // SAFETY: caller's out-pointer.
    unsafe { args::write(info, value) }?;
    Ok(CKR_OK)
});

export!(C_GetOperationState(session: CK_SESSION_HANDLE, _state: *mut CK_BYTE, _len: *mut CK_ULONG) {
    engine()?.session(session)?;
    Ok(CKR_FUNCTION_NOT_SUPPORTED)
});

export!(C_SetOperationState(session: CK_SESSION_HANDLE, _state: *mut CK_BYTE, _len: CK_ULONG, _enc: CK_OBJECT_HANDLE, _auth: CK_OBJECT_HANDLE) {
    engine()?.session(session)?;
    Ok(CKR_FUNCTION_NOT_SUPPORTED)
});

export!(C_Login(session: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: *mut CK_UTF8CHAR, pin_len: CK_ULONG) {
    let e = engine()?;
    // SAFETY: caller's PIN buffer.
    let pin = unsafe { args::bytes(pin, pin_len) }?;
    e.login(session, user, pin)?;
    Ok(CKR_OK)
});

// Tokens here have no user names (simulator-defined): the name is read and ignored.
export!(C_LoginUser(session: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: *mut CK_UTF8CHAR, pin_len: CK_ULONG, name: *mut CK_UTF8CHAR, name_len: CK_ULONG) {
    let e = engine()?;
    // SAFETY: caller's PIN and user-name buffers.
    let (pin, _name) = unsafe { (args::bytes(pin, pin_len)?, args::bytes(name, name_len)?) };
    e.login(session, user, pin)?;
    Ok(CKR_OK)
});

export!(C_Logout(session: CK_SESSION_HANDLE) {
    engine()?.logout(session)?;
    Ok(CKR_OK)
});

export!(C_SessionCancel(session: CK_SESSION_HANDLE, flags: CK_FLAGS) {
    engine()?.session_cancel(session, flags)?;
    Ok(CKR_OK)
});

export!(C_GetFunctionStatus(session: CK_SESSION_HANDLE) {
    engine()?.session(session)?;
    Ok(CKR_FUNCTION_NOT_PARALLEL)
});

export!(C_CancelFunction(session: CK_SESSION_HANDLE) {
    engine()?.session(session)?;
    Ok(CKR_FUNCTION_NOT_PARALLEL)
});
