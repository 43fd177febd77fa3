//! Luna's session, object and device calls: `CA_GetSessionInfo`, `CA_GetTime`,
//! `CA_DestroyMultipleObjects`, `CA_ResetPIN` (the SO resets the Crypto Officer's PIN),
//! `CA_FactoryReset` (the HSM SO zeroises the device), `CA_PerformSelfTest` and
//! `CA_GetContainerStorageInformation`. Each answers `CKR_FUNCTION_NOT_SUPPORTED` on a slot that
//! is not a Luna partition.
use super::super::{args, engine, guard};
use crate::base::error::err;
use crate::engine::Output;
use crate::models::luna_ca;
use cryptoki_sys::*;

export!(CA_GetSessionInfo(session: CK_SESSION_HANDLE, aid_high: *mut CK_ULONG, aid_low: *mut CK_ULONG,
        container: *mut CK_ULONG, auth_level: *mut CK_ULONG) {
    let info = engine()?.session_partition_view(session, luna_ca::session_info)?;
    // SAFETY: the caller's out-pointers.
    unsafe {
        args::write(aid_high, info.application_id.0)?;
        args::write(aid_low, info.application_id.1)?;
        args::write(container, info.container)?;
        args::write(auth_level, info.authentication_level)?;
    }
    Ok(CKR_OK)
});

export!(CA_GetTime(session: CK_SESSION_HANDLE, time: *mut CK_ULONG) {
    // The HSM's clock: seconds since the Unix epoch (hsmsim's clock, `HSMSIM_CLOCK_OFFSET`).
    let now = engine()?.session_partition_view(session, |p, _| {
        p.device()?;
        Ok(crate::base::clock::now())
    })?;
    // SAFETY: the caller's out-pointer.
    unsafe { args::write(time, now) }?;
    Ok(CKR_OK)
});

export!(CA_DestroyMultipleObjects(session: CK_SESSION_HANDLE, count: CK_ULONG,
        objects: *mut CK_OBJECT_HANDLE, error_index: *mut CK_ULONG) {
    let e = engine()?;
    if count > 0 && objects.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "the object array is null"));
    }
    // SAFETY: the caller's array of `count` handles.
    let handles: Vec<CK_OBJECT_HANDLE> = (0..count as usize)
        .map(|i| unsafe { objects.add(i).read_unaligned() })
        .collect();
    match e.destroy_objects(session, &handles) {
        Ok(()) => Ok(CKR_OK),
        Err((index, failure)) => {
            if !error_index.is_null() {
                // SAFETY: the caller's out-pointer, checked non-null.
                unsafe { args::write(error_index, index as CK_ULONG) }?;
            }
            Err(failure)
        }
    }
});

export!(CA_ResetPIN(session: CK_SESSION_HANDLE, pin: *mut CK_CHAR, pin_len: CK_ULONG) {
    let e = engine()?;
    // SAFETY: the caller's PIN buffer.
    let pin = unsafe { args::bytes(pin, pin_len) }?;
    e.reset_pin(session, pin)?;
    Ok(CKR_OK)
});

export!(CA_FactoryReset(slot: CK_SLOT_ID, flags: CK_FLAGS) {
    engine()?.factory_reset(slot, flags)?;
    Ok(CKR_OK)
});

export!(CA_PerformSelfTest(slot: CK_SLOT_ID, test: CK_ULONG, input: *mut CK_BYTE, input_len: CK_ULONG,
        output: *mut CK_BYTE, output_len: *mut CK_ULONG) {
    let e = engine()?;
    // SAFETY: the caller's input buffer.
    let input = unsafe { args::bytes(input, input_len) }?;
    let result = e.partition_view(slot, |p| luna_ca::self_test(p, test, input))?;
    // SAFETY: the caller's output buffer and its length.
    let capacity = unsafe { args::capacity(output, output_len) }?;
    let out = match capacity {
        None => Output::Size(result.len()),
        // A buffer with a zero length (pycryptoki's `c_performselftest`, which sizes its
        // buffer after the input) asks for the test's result only (simulator-defined).
        Some(0) => Output::Data(Vec::new()),
        Some(room) if room < result.len() => Output::TooSmall(result.len()),
        Some(_) => Output::Data(result),
    };
    // SAFETY: `Data` only when the buffer holds it; `output_len` was read above.
    unsafe { args::put_output(out, output, output_len) }
});

export!(CA_GetContainerStorageInformation(slot: CK_SLOT_ID, container: CK_ULONG,
        overhead: *mut CK_ULONG, total: *mut CK_ULONG, used: *mut CK_ULONG, free: *mut CK_ULONG,
        objects: *mut CK_ULONG) {
    let s = engine()?.container_storage(slot, container)?;
    // SAFETY: the caller's out-pointers.
    unsafe {
        args::write(overhead, s.overhead)?;
        args::write(total, s.total)?;
        args::write(used, s.used)?;
        args::write(free, s.free)?;
        args::write(objects, s.objects)?;
    }
    Ok(CKR_OK)
});
