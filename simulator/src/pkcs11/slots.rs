//! Slots and tokens through the C ABI: the slot list, slot, token and mechanism information,
//! `C_InitToken`, and `C_WaitForSlotEvent`.
use super::{args, engine, ensure_initialized, guard, slot_events};
use crate::base::error::err;
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
