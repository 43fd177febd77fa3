//! Luna's cloning calls, with the C signatures pycryptoki binds: `CA_CloneObject` (both
//! sessions in this process), the client-mediated three-leg protocol
//! (`CA_GenerateCloningKEV`, `CA_CloneAsTargetInit`, `CA_CloneAsSource`, `CA_CloneAsTarget`),
//! Cloning Protocol v4's `CA_MigrateKeys` (an array of `CK_OBJECT_MIGRATION_DATA`, one result
//! per object), and `CA_CloneAllObjectsToSession` / `CA_CloneObjectToAllSessions`
//! (simulator-defined meanings, see `Engine::clone_all_objects_to_session`).
//! The rules and the sealing are the Luna model's (`models::luna::cloning`), run by the engine
//! (`Engine::clone_out` / `clone_in`). The legs' byte strings are simulator-defined: the KEV is
//! 32 random bytes the target's legs only require to be present; part 1 is `PART1_MAGIC` and
//! the target session's handle (8 bytes, little-endian); part 2 is `PART2_MAGIC`, the source
//! session's handle, then the object's sealed blob, so a tampered part 2 reaches the target's
//! check of the blob. Output buffers follow the two-call convention.
use super::super::{args, engine, guard};
use crate::base::error::{Result, err};
use crate::engine::Output;
use crate::models::luna::{CKF_CPV4_CONTINUE_ON_ERR, CKR_CLONING_PARAMETER_MISSING};
use crate::models::luna_ca::CK_CRYPTOKI_ELEMENT;
use cryptoki_sys::*;

/// The start of part 1 (`CA_CloneAsTargetInit`'s output).
const PART1_MAGIC: &[u8] = b"hsmsim clone part 1\0";
/// The start of part 2 (`CA_CloneAsSource`'s output).
const PART2_MAGIC: &[u8] = b"hsmsim clone part 2\0";
const KEV_LEN: usize = 32;

/// Writes `data` to a caller's buffer with the two-call convention.
///
/// # Safety
/// `buf` must be null or writable for the capacity `*len` announces; `len` must be valid.
unsafe fn put_bytes(data: Vec<u8>, buf: *mut u8, len: *mut CK_ULONG) -> Result<CK_RV> {
    // SAFETY: forwarded caller contract.
    let out = match unsafe { args::capacity(buf, len) }? {
        None => Output::Size(data.len()),
        Some(room) if room < data.len() => Output::TooSmall(data.len()),
        Some(_) => Output::Data(data),
    };
    // SAFETY: forwarded caller contract.
    unsafe { args::put_output(out, buf, len) }
}

/// A leg's session handle after `magic` in `part`; `CKR_ARGUMENTS_BAD` when malformed.
fn session_after(magic: &[u8], part: &[u8]) -> Result<(CK_SESSION_HANDLE, usize)> {
    let end = magic.len() + 8;
    match (part.get(..magic.len()), part.get(magic.len()..end)) {
        (Some(m), Some(h)) if m == magic => {
            let handle = u64::from_le_bytes(h.try_into().expect("8 bytes"));
            Ok((handle as CK_SESSION_HANDLE, end))
        }
        _ => Err(err(
            CKR_ARGUMENTS_BAD,
            "not a cloning part this module produced",
        )),
    }
}

fn check_element(object_type: CK_ULONG) -> Result<()> {
    if object_type == CK_CRYPTOKI_ELEMENT {
        Ok(())
    } else {
        Err(err(
            CKR_ARGUMENTS_BAD,
            "only CK_CRYPTOKI_ELEMENT objects are cloned here",
        ))
    }
}

fn check_kev(kev: &[u8]) -> Result<()> {
    if kev.is_empty() {
        return Err(err(
            CKR_CLONING_PARAMETER_MISSING,
            "no KEV (CA_GenerateCloningKEV makes one)",
        ));
    }
    Ok(())
}

export!(CA_CloneObject(target: CK_SESSION_HANDLE, source: CK_SESSION_HANDLE, object_type: CK_ULONG,
        object: CK_OBJECT_HANDLE, cloned: *mut CK_OBJECT_HANDLE) {
    let e = engine()?;
    if cloned.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "the cloned-object pointer is null"));
    }
    let handle = e.clone_object(target, source, object_type, object)?;
    // SAFETY: the caller's out-pointer, checked non-null.
    unsafe { args::write(cloned, handle) }?;
    Ok(CKR_OK)
});

export!(CA_GenerateCloningKEV(session: CK_SESSION_HANDLE, kev: *mut CK_BYTE, kev_len: *mut CK_ULONG) {
    let e = engine()?;
    e.session_partition_view(session, |p, _| p.device().map(drop))?;
    let mut value = vec![0u8; KEV_LEN];
    crate::base::random::random_fill(&mut value)?;
    // SAFETY: the caller's buffer and length.
    unsafe { put_bytes(value, kev, kev_len) }
});

export!(CA_CloneAsTargetInit(target: CK_SESSION_HANDLE, _twc: *mut CK_BYTE, _twc_len: CK_ULONG,
        kev: *mut CK_BYTE, kev_len: CK_ULONG, _replicate: CK_BBOOL, part1: *mut CK_BYTE,
        part1_len: *mut CK_ULONG) {
    let e = engine()?;
    // SAFETY: the caller's KEV buffer.
    check_kev(unsafe { args::bytes(kev, kev_len) }?)?;
    e.session_partition_view(target, |p, _| p.device().map(drop))?;
    let mut part = PART1_MAGIC.to_vec();
    part.extend_from_slice(&(target as u64).to_le_bytes());
    // SAFETY: the caller's buffer and length.
    unsafe { put_bytes(part, part1, part1_len) }
});

export!(CA_CloneAsSource(source: CK_SESSION_HANDLE, object_type: CK_ULONG, object: CK_ULONG,
        part1: *mut CK_BYTE, part1_len: CK_ULONG, _replicate: CK_BBOOL, part2: *mut CK_BYTE,
        part2_len: *mut CK_ULONG) {
    let e = engine()?;
    check_element(object_type)?;
    // SAFETY: the caller's part-1 buffer.
    let (target, _) = session_after(PART1_MAGIC, unsafe { args::bytes(part1, part1_len) }?)?;
    let blob = e.clone_out(source, target, object_type, object)?;
    let mut part = PART2_MAGIC.to_vec();
    part.extend_from_slice(&(source as u64).to_le_bytes());
    part.extend_from_slice(&blob);
    // SAFETY: the caller's buffer and length.
    unsafe { put_bytes(part, part2, part2_len) }
});

export!(CA_CloneAsTarget(target: CK_SESSION_HANDLE, kev: *mut CK_BYTE, kev_len: CK_ULONG,
        part2: *mut CK_BYTE, part2_len: CK_ULONG, object_type: CK_ULONG, _object: CK_ULONG,
        _replicate: CK_BBOOL, cloned: *mut CK_OBJECT_HANDLE) {
    let e = engine()?;
    // SAFETY: the caller's KEV buffer.
    check_kev(unsafe { args::bytes(kev, kev_len) }?)?;
    check_element(object_type)?;
    if cloned.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "the cloned-object pointer is null"));
    }
    // SAFETY: the caller's part-2 buffer.
    let part = unsafe { args::bytes(part2, part2_len) }?;
    let (source, start) = session_after(PART2_MAGIC, part)?;
    let handle = e.clone_in(target, source, &part[start..])?;
    // SAFETY: the caller's out-pointer, checked non-null.
    unsafe { args::write(cloned, handle) }?;
    Ok(CKR_OK)
});

/// `CK_OBJECT_MIGRATION_DATA` (pycryptoki `cryptoki/ck_defs.py`; field names as its): one
/// object of `CA_MigrateKeys`, the element type and source handle in, the new handle and the
/// object's own result out.
#[repr(C)]
#[allow(non_camel_case_types, non_snake_case)]
#[derive(Debug, Clone, Copy, Default)]
pub struct CK_OBJECT_MIGRATION_DATA {
    pub objectType: CK_ULONG,
    pub sourceHandle: CK_OBJECT_HANDLE,
    pub targetHandle: CK_OBJECT_HANDLE,
    pub rv: CK_RV,
}

export!(CA_MigrateKeys(source: CK_SESSION_HANDLE, target: CK_SESSION_HANDLE, flags: CK_ULONG,
        count: CK_ULONG, objects: *mut CK_OBJECT_MIGRATION_DATA) {
    let e = engine()?;
    if objects.is_null() && count != 0 {
        return Err(err(CKR_ARGUMENTS_BAD, "the migration data array is null"));
    }
    let entries: &mut [CK_OBJECT_MIGRATION_DATA] = if count == 0 {
        &mut []
    } else {
        // SAFETY: the caller's array of `count` records, checked non-null.
        unsafe { std::slice::from_raw_parts_mut(objects, count as usize) }
    };
    let wanted: Vec<_> = entries.iter().map(|m| (m.objectType, m.sourceHandle)).collect();
    let results = match e.migrate_keys(source, target, flags, &wanted) {
        Ok(results) => results,
        Err(refusal) => {
            for entry in entries.iter_mut() {
                entry.targetHandle = 0;
                entry.rv = refusal.rv;
            }
            return Err(refusal);
        }
    };
    for (entry, result) in entries.iter_mut().zip(&results) {
        (entry.targetHandle, entry.rv) = match result {
            Ok(handle) => (*handle, CKR_OK),
            Err(failure) => (0, failure.rv),
        };
    }
    // With CKF_CPV4_CONTINUE_ON_ERR the call succeeds and each record says how its object
    // fared (pycryptoki's test_cpv4.py); without it, the call answers the failure it stopped
    // at (simulator-defined).
    match results.iter().find_map(|r| r.as_ref().err()) {
        Some(failure) if flags & CKF_CPV4_CONTINUE_ON_ERR == 0 => Err(failure.clone()),
        _ => Ok(CKR_OK),
    }
});

export!(CA_CloneAllObjectsToSession(target: CK_SESSION_HANDLE, source_slot: CK_SLOT_ID) {
    engine()?.clone_all_objects_to_session(target, source_slot)?;
    Ok(CKR_OK)
});

export!(CA_CloneObjectToAllSessions(source: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE) {
    engine()?.clone_object_to_all_sessions(source, object)?;
    Ok(CKR_OK)
});
