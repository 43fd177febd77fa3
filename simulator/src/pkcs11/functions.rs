//! The exported `C_*` functions other than initialisation and the function lists: each reads
//! its arguments through `args`, calls the engine, and writes results back. The calls of an
//! operation in progress run inside `within`, which ends the operation on any error.
use super::{args, engine, ensure_initialized, guard, slot_events};
use crate::base::attribute::AttrValue;
use crate::base::error::{Result, err};
use crate::engine::{AttrLookup, Call, Engine, Output};
use cryptoki_sys::*;
use std::ffi::c_void;

export!(C_GetSlotList(token_present: CK_BBOOL, list: *mut CK_SLOT_ID, count: *mut CK_ULONG) {
    let ids = engine()?.slot_ids(token_present != 0)?;
    // SAFETY: caller's in/out count.
    let capacity = unsafe { args::read(count as *const CK_ULONG) }?;
    // SAFETY: caller's out-pointer.
    unsafe { args::write(count, ids.len() as CK_ULONG) }?;
    if list.is_null() {
        return Ok(CKR_OK);
    }
    if (capacity as usize) < ids.len() {
        return Ok(CKR_BUFFER_TOO_SMALL);
    }
    for (i, id) in ids.iter().enumerate() {
        // SAFETY: the caller's array holds `capacity` >= ids.len() elements.
        unsafe { list.add(i).write_unaligned(*id) };
    }
    Ok(CKR_OK)
});

export!(C_GetSlotInfo(slot_id: CK_SLOT_ID, info: *mut CK_SLOT_INFO) {
    let e = engine()?;
    let slot = e.current_slot(slot_id)?;
    let (manufacturer, _, _) = slot.model.token_identity();
    let value = CK_SLOT_INFO {
        slotDescription: args::pad(slot.shown_description()),
        manufacturerID: args::pad(manufacturer),
        flags: if slot.token_present() { CKF_TOKEN_PRESENT } else { 0 },
        hardwareVersion: CK_VERSION { major: 1, minor: 0 },
        firmwareVersion: crate::base::identity::LIBRARY_VERSION,
    };
    // SAFETY: caller's out-pointer.
    unsafe { args::write(info, value) }?;
    Ok(CKR_OK)
});

export!(C_GetTokenInfo(slot_id: CK_SLOT_ID, info: *mut CK_TOKEN_INFO) {
    let e = engine()?;
    let t = e.token_info(slot_id)?;
    let (manufacturer, model, firmware) = e.slot(slot_id)?.model.token_identity();
    let (min_pin, max_pin) = e.slot(slot_id)?.model.pin_len_range();
    let value = CK_TOKEN_INFO {
        label: t.label,
        manufacturerID: args::pad(manufacturer),
        model: args::pad(&model),
        serialNumber: args::pad(&t.serial),
        flags: t.flags,
        ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
        ulSessionCount: t.session_count as CK_ULONG,
        ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
        ulRwSessionCount: t.rw_session_count as CK_ULONG,
        ulMaxPinLen: max_pin as CK_ULONG,
        ulMinPinLen: min_pin as CK_ULONG,
        ulTotalPublicMemory: t.memory.map_or(CK_UNAVAILABLE_INFORMATION, |m| m.0),
        ulFreePublicMemory: t.memory.map_or(CK_UNAVAILABLE_INFORMATION, |m| m.1),
        ulTotalPrivateMemory: CK_UNAVAILABLE_INFORMATION,
        ulFreePrivateMemory: CK_UNAVAILABLE_INFORMATION,
        hardwareVersion: e.slot(slot_id)?.model.hardware_version(),
        firmwareVersion: firmware,
        utcTime: args::pad(""),
    };
    // SAFETY: caller's out-pointer.
    unsafe { args::write(info, value) }?;
    Ok(CKR_OK)
});

export!(C_GetMechanismList(slot_id: CK_SLOT_ID, list: *mut CK_MECHANISM_TYPE, count: *mut CK_ULONG) {
    let all = engine()?.slot(slot_id)?.offered_mechanisms();
    // SAFETY: caller's in/out count.
    let capacity = unsafe { args::read(count as *const CK_ULONG) }?;
    // SAFETY: caller's out-pointer.
    unsafe { args::write(count, all.len() as CK_ULONG) }?;
    if list.is_null() {
        return Ok(CKR_OK);
    }
    if (capacity as usize) < all.len() {
        return Ok(CKR_BUFFER_TOO_SMALL);
    }
    for (i, m) in all.iter().enumerate() {
        // SAFETY: the caller's array holds `capacity` >= all.len() elements.
        unsafe { list.add(i).write_unaligned(m.mechanism_type) };
    }
    Ok(CKR_OK)
});

export!(C_GetMechanismInfo(slot_id: CK_SLOT_ID, mechanism: CK_MECHANISM_TYPE, info: *mut CK_MECHANISM_INFO) {
    let m = engine()?.slot(slot_id)?.offered(mechanism)?;
    let value = CK_MECHANISM_INFO { ulMinKeySize: m.min_key_size, ulMaxKeySize: m.max_key_size, flags: m.flags };
    // SAFETY: caller's out-pointer.
    unsafe { args::write(info, value) }?;
    Ok(CKR_OK)
});

export!(C_InitToken(slot_id: CK_SLOT_ID, pin: *mut CK_UTF8CHAR, pin_len: CK_ULONG, label: *mut CK_UTF8CHAR) {
    let e = engine()?;
    // SAFETY: caller's PIN buffer.
    let pin = unsafe { args::bytes(pin, pin_len) }?;
    if label.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "pLabel is null"));
    }
    // SAFETY: pLabel points to the 32-byte blank-padded label per the spec.
    let label = unsafe { args::bytes(label, 32) }?;
    e.init_token(slot_id, pin, label)?;
    Ok(CKR_OK)
});

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

export!(C_CreateObject(session: CK_SESSION_HANDLE, template: *mut CK_ATTRIBUTE, count: CK_ULONG, object: *mut CK_OBJECT_HANDLE) {
    let e = engine()?;
    // SAFETY: caller's template.
    let t = unsafe { args::template(template, count) }?;
    if object.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "phObject is null"));
    }
    let h = e.create_object(session, &t)?;
    // SAFETY: caller's out-pointer (checked non-null).
    unsafe { args::write(object, h) }?;
    Ok(CKR_OK)
});

export!(C_CopyObject(session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE, template: *mut CK_ATTRIBUTE, count: CK_ULONG, new_object: *mut CK_OBJECT_HANDLE) {
    let e = engine()?;
    // SAFETY: caller's template.
    let t = unsafe { args::template(template, count) }?;
    if new_object.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "phNewObject is null"));
    }
    let h = e.copy_object(session, object, &t)?;
    // SAFETY: caller's out-pointer (checked non-null).
    unsafe { args::write(new_object, h) }?;
    Ok(CKR_OK)
});

export!(C_DestroyObject(session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE) {
    engine()?.destroy_object(session, object)?;
    Ok(CKR_OK)
});

export!(C_GetObjectSize(session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE, size: *mut CK_ULONG) {
    let n = engine()?.object_size(session, object)?;
    // SAFETY: caller's out-pointer.
    unsafe { args::write(size, n as CK_ULONG) }?;
    Ok(CKR_OK)
});

/// Fills one caller `CK_ATTRIBUTE` with a value by the rules of `C_GetAttributeValue`; returns
/// the error code this attribute contributes, if any.
///
/// # Safety
/// `slot.pValue` must be null or writable for `slot.ulValueLen` bytes (or, for an attribute
/// array, that many bytes of `CK_ATTRIBUTE`s whose own buffers are writable).
unsafe fn fill_attribute(slot: &mut CK_ATTRIBUTE, value: &AttrValue) -> Option<CK_RV> {
    match value {
        AttrValue::Bytes(b) => {
            if slot.pValue.is_null() {
                slot.ulValueLen = b.len() as CK_ULONG;
                None
            } else if (slot.ulValueLen as usize) < b.len() {
                slot.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                Some(CKR_BUFFER_TOO_SMALL)
            } else {
                // SAFETY: the caller's buffer holds at least b.len() bytes (checked).
                unsafe {
                    std::ptr::copy_nonoverlapping(b.as_ptr(), slot.pValue as *mut u8, b.len())
                };
                slot.ulValueLen = b.len() as CK_ULONG;
                None
            }
        }
        AttrValue::Template(items) => {
            let needed = items.len() * size_of::<CK_ATTRIBUTE>();
            if slot.pValue.is_null() {
                slot.ulValueLen = needed as CK_ULONG;
                return None;
            }
            if (slot.ulValueLen as usize) < needed {
                slot.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                return Some(CKR_BUFFER_TOO_SMALL);
            }
            let array = slot.pValue as *mut CK_ATTRIBUTE;
            let mut rv = None;
            for (i, (t, v)) in items.iter().enumerate() {
                // SAFETY: the caller's array holds `items.len()` elements (checked above).
                let mut inner = unsafe { array.add(i).read_unaligned() };
                inner.type_ = *t;
                // SAFETY: the nested element's buffer is the caller's, per the contract.
                rv = rv.or(unsafe {
                    fill_attribute(&mut inner, &AttrValue::Bytes(v.as_slice().into()))
                });
                // SAFETY: as above.
                unsafe { array.add(i).write_unaligned(inner) };
            }
            slot.ulValueLen = needed as CK_ULONG;
            rv
        }
    }
}

export!(C_GetAttributeValue(session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE, template: *mut CK_ATTRIBUTE, count: CK_ULONG) {
    let e = engine()?;
    // SAFETY: caller's template (read to learn the types asked for).
    let asked = unsafe { args::attribute_array(template, count) }?;
    let types: Vec<_> = asked.iter().map(|a| a.type_).collect();
    let answers = e.get_attributes(session, object, &types)?;
    // Spec order of precedence when several apply (simulator-defined where the spec allows
    // any): sensitive, then invalid type, then buffer too small.
    let (mut sensitive, mut invalid, mut small) = (false, false, false);
    for (i, answer) in answers.iter().enumerate() {
        // SAFETY: the caller's array holds `count` elements.
        let mut slot = unsafe { template.add(i).read_unaligned() };
        match answer {
            AttrLookup::Value(v) => {
                // SAFETY: the caller's buffers, per the contract.
                small |= unsafe { fill_attribute(&mut slot, v) }.is_some();
            }
            AttrLookup::Sensitive => {
                slot.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                sensitive = true;
            }
            AttrLookup::Invalid => {
                slot.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                invalid = true;
            }
        }
        // SAFETY: as above.
        unsafe { template.add(i).write_unaligned(slot) };
    }
    Ok(if sensitive {
        CKR_ATTRIBUTE_SENSITIVE
    } else if invalid {
        CKR_ATTRIBUTE_TYPE_INVALID
    } else if small {
        CKR_BUFFER_TOO_SMALL
    } else {
        CKR_OK
    })
});

export!(C_SetAttributeValue(session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE, template: *mut CK_ATTRIBUTE, count: CK_ULONG) {
    let e = engine()?;
    // SAFETY: caller's template.
    let t = unsafe { args::template(template, count) }?;
    e.set_attributes(session, object, &t)?;
    Ok(CKR_OK)
});

export!(C_FindObjectsInit(session: CK_SESSION_HANDLE, template: *mut CK_ATTRIBUTE, count: CK_ULONG) {
    let e = engine()?;
    // SAFETY: caller's template.
    let t = unsafe { args::template(template, count) }?;
    e.find_init(session, &t)?;
    Ok(CKR_OK)
});

export!(C_FindObjects(session: CK_SESSION_HANDLE, objects: *mut CK_OBJECT_HANDLE, max: CK_ULONG, count: *mut CK_ULONG) {
    let e = engine()?;
    if count.is_null() || (objects.is_null() && max > 0) {
        return Err(err(CKR_ARGUMENTS_BAD, "phObject or pulObjectCount is null"));
    }
    let found = e.find_next(session, max.min(1 << 20) as usize)?;
    for (i, h) in found.iter().enumerate() {
        // SAFETY: the caller's array holds `max` >= found.len() elements.
        unsafe { objects.add(i).write_unaligned(*h) };
    }
    // SAFETY: caller's out-pointer (checked non-null).
    unsafe { args::write(count, found.len() as CK_ULONG) }?;
    Ok(CKR_OK)
});

export!(C_FindObjectsFinal(session: CK_SESSION_HANDLE) {
    engine()?.find_final(session)?;
    Ok(CKR_OK)
});

/// Runs an output-producing call: reads input and capacity, then writes the output.
///
/// # Safety
/// `input` valid for `input_len` bytes (or null when 0); `out`/`out_len` per the PKCS#11
/// output convention.
unsafe fn produce(
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
fn within(
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

export!(C_GenerateKey(session: CK_SESSION_HANDLE, mechanism: *mut CK_MECHANISM, template: *mut CK_ATTRIBUTE, count: CK_ULONG, key: *mut CK_OBJECT_HANDLE) {
    let e = engine()?;
    // SAFETY: caller's mechanism and template.
    let (m, t) = unsafe { (args::mechanism(mechanism)?, args::template(template, count)?) };
    if key.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "phKey is null"));
    }
    let h = e.generate_key(session, &m, &t)?;
    // SAFETY: caller's out-pointer (checked non-null).
    unsafe { args::write(key, h) }?;
    Ok(CKR_OK)
});

export!(C_GenerateKeyPair(
    session: CK_SESSION_HANDLE,
    mechanism: *mut CK_MECHANISM,
    public_template: *mut CK_ATTRIBUTE,
    public_count: CK_ULONG,
    private_template: *mut CK_ATTRIBUTE,
    private_count: CK_ULONG,
    public_key: *mut CK_OBJECT_HANDLE,
    private_key: *mut CK_OBJECT_HANDLE,
) {
    let e = engine()?;
    // SAFETY: caller's mechanism and templates.
    let (m, pt, vt) = unsafe {
        (
            args::mechanism(mechanism)?,
            args::template(public_template, public_count)?,
            args::template(private_template, private_count)?,
        )
    };
    if public_key.is_null() || private_key.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "phPublicKey or phPrivateKey is null"));
    }
    let (ph, vh) = e.generate_key_pair(session, &m, &pt, &vt)?;
    // SAFETY: caller's out-pointers (checked non-null).
    unsafe {
        args::write(public_key, ph)?;
        args::write(private_key, vh)?;
    }
    Ok(CKR_OK)
});

export!(C_WrapKey(session: CK_SESSION_HANDLE, mechanism: *mut CK_MECHANISM, wrapping_key: CK_OBJECT_HANDLE, key: CK_OBJECT_HANDLE, out: *mut CK_BYTE, out_len: *mut CK_ULONG) {
    let e = engine()?;
    // SAFETY: caller's mechanism.
    let m = unsafe { args::mechanism(mechanism) }?;
    // SAFETY: caller's buffers per the output convention.
    unsafe { produce(std::ptr::null(), 0, out, out_len, |_, c| e.wrap_key(session, &m, wrapping_key, key, c)) }
});

export!(C_UnwrapKey(
    session: CK_SESSION_HANDLE,
    mechanism: *mut CK_MECHANISM,
    unwrapping_key: CK_OBJECT_HANDLE,
    wrapped: *mut CK_BYTE,
    wrapped_len: CK_ULONG,
    template: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    key: *mut CK_OBJECT_HANDLE,
) {
    let e = engine()?;
    // SAFETY: caller's mechanism, buffer and template.
    let (m, w, t) = unsafe {
        (args::mechanism(mechanism)?, args::bytes(wrapped, wrapped_len)?, args::template(template, count)?)
    };
    if key.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "phKey is null"));
    }
    let h = e.unwrap_key(session, &m, unwrapping_key, w, &t)?;
    // SAFETY: caller's out-pointer (checked non-null).
    unsafe { args::write(key, h) }?;
    Ok(CKR_OK)
});

export!(C_DeriveKey(session: CK_SESSION_HANDLE, mechanism: *mut CK_MECHANISM, base_key: CK_OBJECT_HANDLE, template: *mut CK_ATTRIBUTE, count: CK_ULONG, key: *mut CK_OBJECT_HANDLE) {
    let e = engine()?;
    // SAFETY: caller's mechanism and template.
    let (m, t) = unsafe { (args::mechanism(mechanism)?, args::template(template, count)?) };
    if key.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "phKey is null"));
    }
    // SAFETY: caller's mechanism (already parsed above).
    let outputs = unsafe { args::derived_key_outputs(mechanism) }?;
    let (h, extra) = match e.derive_keys(session, &m, base_key, &t) {
        Ok(r) => r,
        Err(error) => {
            for p in &outputs {
                // SAFETY: caller's out-pointers (checked non-null).
                unsafe { args::write(*p, CK_INVALID_HANDLE) }?;
            }
            return Err(error);
        }
    };
    for (p, h) in outputs.iter().zip(extra) {
        // SAFETY: caller's out-pointers (checked non-null).
        unsafe { args::write(*p, h) }?;
    }
    // SAFETY: caller's out-pointer (checked non-null).
    unsafe { args::write(key, h) }?;
    Ok(CKR_OK)
});

// aws-lc's DRBG reseeds itself from the OS; like BoringSSL's RAND_seed it takes no caller
// entropy, so the seed is validated and not mixed in (simulator-defined; CKR_OK as SoftHSMv2).
export!(C_SeedRandom(session: CK_SESSION_HANDLE, seed: *mut CK_BYTE, seed_len: CK_ULONG) {
    engine()?.session(session)?;
    // SAFETY: caller's buffer (validated, not used).
    unsafe { args::bytes(seed, seed_len) }?;
    Ok(CKR_OK)
});

export!(C_GenerateRandom(session: CK_SESSION_HANDLE, out: *mut CK_BYTE, len: CK_ULONG) {
    let e = engine()?;
    if len == 0 {
        e.session(session)?;
        return Ok(CKR_OK);
    }
    if out.is_null() || len > (1 << 30) {
        return Err(err(CKR_ARGUMENTS_BAD, "pRandomData is null or the length is absurd"));
    }
    // SAFETY: the caller's buffer holds `len` writable bytes.
    let buf = unsafe { std::slice::from_raw_parts_mut(out, len as usize) };
    e.generate_random(session, buf)?;
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

export!(C_WaitForSlotEvent(flags: CK_FLAGS, slot: *mut CK_SLOT_ID, reserved: *mut c_void) {
    // Like every function, before its arguments: not initialised.
    ensure_initialized()?;
    if !reserved.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "pReserved must be null"));
    }
    if slot.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "pSlot is null"));
    }
    // Slot events come from other processes (token initialised, partition added or removed),
    // seen by polling the store: every call looks once; a blocking call looks again every
    // SLOT_EVENT_POLL until an event, or until C_Finalize wakes it.
    let (lock, cv) = slot_events();
    let start = *lock.lock();
    loop {
        if let Some(id) = engine()?.take_slot_event()? {
            // SAFETY: caller's out-pointer, checked non-null above.
            unsafe { args::write(slot, id) }?;
            return Ok(CKR_OK);
        }
        if flags & CKF_DONT_BLOCK != 0 {
            return Ok(CKR_NO_EVENT);
        }
        let mut generation = lock.lock();
        if *generation == start {
            // Waiting is outside the module: a fork may happen meanwhile.
            super::outside_the_module(|| cv.wait_for(&mut generation, SLOT_EVENT_POLL));
        }
        if *generation != start {
            return Err(err(
                CKR_CRYPTOKI_NOT_INITIALIZED,
                "C_Finalize was called while waiting for a slot event",
            ));
        }
    }
});

/// How often a blocked `C_WaitForSlotEvent` looks at the store (simulator-defined).
const SLOT_EVENT_POLL: std::time::Duration = std::time::Duration::from_millis(100);

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
