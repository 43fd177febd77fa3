//! Luna's cloning calls, with the C signatures pycryptoki binds: `CA_CloneObject` (both
//! sessions in this process), the client-mediated three-leg protocol
//! (`CA_GenerateCloningKEV`, `CA_CloneAsTargetInit`, `CA_CloneAsSource`, `CA_CloneAsTarget`),
//! Cloning Protocol v4 (firmware 7.8+): `CA_MigrateKeys` (an array of
//! `CK_OBJECT_MIGRATION_DATA`, one result per object), the migration-session negotiation
//! (`CA_MigrationStartSessionNegotiation`, `CA_MigrationContinueSessionNegotiation`,
//! `CA_MigrationCloseSession`) and the client-mediated `CA_Extract` (`CKM_CPV4_EXTRACT`) /
//! `CA_Insert` (`CKM_CPV4_INSERT`) over a negotiated session; and `CA_CloneAllObjectsToSession`
//! / `CA_CloneObjectToAllSessions` (simulator-defined meanings, see
//! `Engine::clone_all_objects_to_session`). The negotiation's messages are simulator-defined:
//! the target's hello (step 2) is `HELLO_MAGIC` and the session OUID (12 bytes), the source's
//! answer (step 3) `REPLY_MAGIC` and the same OUID; step 4 ends it (status 1, "established").
//! `CA_Extract` / `CA_Insert` with the backup mechanisms are not modelled
//! (`CKR_MECHANISM_INVALID`).
//! The rules and the sealing are the Luna model's (`models::luna::cloning`), run by the engine
//! (`Engine::clone_out` / `clone_in`). The legs' byte strings are simulator-defined: the KEV is
//! 32 random bytes the target's legs only require to be present; part 1 is `PART1_MAGIC` and
//! the target session's handle (8 bytes, little-endian); part 2 is `PART2_MAGIC`, the source
//! session's handle, then the object's sealed blob, so a tampered part 2 reaches the target's
//! check of the blob. Output buffers follow the two-call convention.
use super::super::{args, engine, guard};
use crate::base::error::{Result, err};
use crate::engine::Output;
use crate::models::luna::{
    CKF_CPV4_CONTINUE_ON_ERR, CKR_CLONING_PARAMETER_MISSING, CKR_SESSION_NEGOTIATION_INVALID,
};
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
    // fared (pycryptoki's test_cpv4.py).
    cpv4_answer(flags, &results)
});

export!(CA_CloneAllObjectsToSession(target: CK_SESSION_HANDLE, source_slot: CK_SLOT_ID) {
    engine()?.clone_all_objects_to_session(target, source_slot)?;
    Ok(CKR_OK)
});

export!(CA_CloneObjectToAllSessions(source: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE) {
    engine()?.clone_object_to_all_sessions(source, object)?;
    Ok(CKR_OK)
});

/// The start of the target's hello (`CA_MigrationStartSessionNegotiation`'s output, step 2).
const HELLO_MAGIC: &[u8] = b"hsmsim cpv4 hello\0";
/// The start of the source's answer (step 2's output, step 3).
const REPLY_MAGIC: &[u8] = b"hsmsim cpv4 reply\0";
/// A migration session's id (its session OUID), in bytes.
const SESSION_OUID_LEN: usize = 12;
/// `CKM_CPV4_EXTRACT` / `CKM_CPV4_INSERT` (pycryptoki `defines.py`).
pub const CKM_CPV4_EXTRACT: CK_MECHANISM_TYPE = CKM_VENDOR_DEFINED + 0x208;
pub const CKM_CPV4_INSERT: CK_MECHANISM_TYPE = CKM_VENDOR_DEFINED + 0x209;
/// The negotiation's steps and `status` values (simulator-defined).
const STEP_HELLO: CK_ULONG = 2;
const STEP_REPLY: CK_ULONG = 3;
const STEP_DONE: CK_ULONG = 4;
const STATUS_NEGOTIATING: CK_ULONG = 0;
const STATUS_ESTABLISHED: CK_ULONG = 1;

/// The session OUID after `magic` in a negotiation message; `CKR_SESSION_NEGOTIATION_INVALID`
/// when the message is not one.
fn message_ouid<'a>(magic: &[u8], message: &'a [u8]) -> Result<&'a [u8]> {
    match message.strip_prefix(magic) {
        Some(ouid) if ouid.len() == SESSION_OUID_LEN => Ok(ouid),
        _ => Err(err(
            CKR_SESSION_NEGOTIATION_INVALID,
            "not a negotiation message of this step",
        )),
    }
}

/// Whether the caller's buffer holds `n` bytes (a null buffer, a length query, holds none;
/// nothing always fits).
///
/// # Safety
/// `len` must be null or readable.
unsafe fn has_room(buf: *const u8, len: *const CK_ULONG, n: usize) -> Result<bool> {
    if n == 0 {
        return Ok(true);
    }
    // SAFETY: forwarded caller contract.
    Ok(unsafe { args::capacity(buf, len) }?.is_some_and(|room| room >= n))
}

export!(CA_MigrationStartSessionNegotiation(target: CK_SESSION_HANDLE, _input_len: CK_ULONG,
        _input: *mut CK_BYTE, step: *mut CK_ULONG, output_len: *mut CK_ULONG, output: *mut CK_BYTE) {
    let e = engine()?;
    let hello_len = HELLO_MAGIC.len() + SESSION_OUID_LEN;
    // SAFETY: the caller's buffer and length.
    if !unsafe { has_room(output, output_len, hello_len) }? {
        // SAFETY: as above.
        return unsafe { put_bytes(vec![0; hello_len], output, output_len) };
    }
    let ouid = e.migration_start(target)?;
    // SAFETY: the caller's out-pointer.
    unsafe { args::write(step, STEP_HELLO) }?;
    // SAFETY: the caller's buffer and length (room checked).
    unsafe { put_bytes([HELLO_MAGIC, &ouid].concat(), output, output_len) }
});

export!(CA_MigrationContinueSessionNegotiation(session: CK_SESSION_HANDLE, input_step: CK_ULONG,
        input_len: CK_ULONG, input: *mut CK_BYTE, session_ouid_len: CK_ULONG,
        session_ouid: *mut CK_BYTE, output_step: *mut CK_ULONG, output_len: *mut CK_ULONG,
        output: *mut CK_BYTE, status: *mut CK_ULONG, output_ouid_len: *mut CK_ULONG,
        output_ouid: *mut CK_BYTE) {
    let e = engine()?;
    // SAFETY: the caller's input buffers.
    let (input, given_ouid) = unsafe {
        (args::bytes(input, input_len)?, args::bytes(session_ouid, session_ouid_len)?)
    };
    let (magic, answer) = match input_step {
        STEP_HELLO => (HELLO_MAGIC, Some(REPLY_MAGIC)),
        STEP_REPLY => (REPLY_MAGIC, None),
        _ => {
            return Err(err(
                CKR_SESSION_NEGOTIATION_INVALID,
                format!("no negotiation step {input_step} (2: the target's hello, 3: the source's answer)"),
            ))
        }
    };
    let ouid = message_ouid(magic, input)?;
    if !given_ouid.is_empty() && given_ouid != ouid {
        return Err(err(
            CKR_SESSION_NEGOTIATION_INVALID,
            "the session OUID given is not the negotiation's",
        ));
    }
    let reply = answer.map(|m| [m, ouid].concat()).unwrap_or_default();
    // Room first: nothing changes when the caller only asks for sizes.
    // SAFETY: the caller's buffers and lengths.
    let room = unsafe {
        has_room(output, output_len, reply.len())?
            && (output_ouid_len.is_null() || has_room(output_ouid, output_ouid_len, ouid.len())?)
    };
    if !room {
        // Sizes only (a null buffer) or a short buffer: answered, nothing changed.
        // SAFETY: as above.
        let reply_rv = unsafe { put_bytes(reply, output, output_len) }?;
        let ouid_rv = if output_ouid_len.is_null() {
            CKR_OK
        } else {
            // SAFETY: as above.
            unsafe { put_bytes(ouid.to_vec(), output_ouid, output_ouid_len) }?
        };
        return Ok(if reply_rv != CKR_OK { reply_rv } else { ouid_rv });
    }
    let (next, state) = if input_step == STEP_HELLO {
        e.migration_join(session, ouid)?;
        (STEP_REPLY, STATUS_NEGOTIATING)
    } else {
        e.migration_confirm(session, ouid)?;
        (STEP_DONE, STATUS_ESTABLISHED)
    };
    // SAFETY: the caller's out-pointers and buffers (room checked).
    unsafe {
        args::write(output_step, next)?;
        args::write(status, state)?;
        put_bytes(reply, output, output_len)?;
        if !output_ouid_len.is_null() {
            put_bytes(ouid.to_vec(), output_ouid, output_ouid_len)?;
        }
    }
    Ok(CKR_OK)
});

export!(CA_MigrationCloseSession(session: CK_SESSION_HANDLE, session_ouid_len: CK_ULONG,
        session_ouid: *mut CK_BYTE) {
    let e = engine()?;
    // SAFETY: the caller's buffer.
    let ouid = unsafe { args::bytes(session_ouid, session_ouid_len) }?;
    e.migration_close(session, ouid)?;
    Ok(CKR_OK)
});

/// `CK_CPV4_EXTRACT_PARAMS` (pycryptoki `cryptoki/ck_defs.py`; field names as its).
#[repr(C)]
#[allow(non_camel_case_types, non_snake_case)]
#[derive(Debug, Clone, Copy)]
pub struct CK_CPV4_EXTRACT_PARAMS {
    pub inputLength: CK_ULONG,
    pub input: *mut CK_BYTE,
    pub sessionOuidLen: CK_ULONG,
    pub sessionOuid: *mut CK_BYTE,
    pub extractionFlags: CK_ULONG,
    pub numberOfObjects: CK_ULONG,
    pub objectType: *mut CK_ULONG,
    pub objectHandle: *mut CK_ULONG,
    pub result: *mut CK_ULONG,
    pub keyBlobLen: *mut CK_ULONG,
    pub keyBlob: *mut *mut CK_BYTE,
}

/// `CK_CPV4_INSERT_PARAMS` (pycryptoki `cryptoki/ck_defs.py`; field names as its).
#[repr(C)]
#[allow(non_camel_case_types, non_snake_case)]
#[derive(Debug, Clone, Copy)]
pub struct CK_CPV4_INSERT_PARAMS {
    pub inputLength: CK_ULONG,
    pub input: *mut CK_BYTE,
    pub sessionOuidLen: CK_ULONG,
    pub sessionOuid: *mut CK_BYTE,
    pub insertionFlags: CK_ULONG,
    pub numberOfObjects: CK_ULONG,
    pub objectType: *mut CK_ULONG,
    pub storageType: *mut CK_ULONG,
    pub keyBlobLen: *mut CK_ULONG,
    pub keyBlob: *mut *mut CK_BYTE,
    pub result: *mut CK_ULONG,
    pub objectHandle: *mut CK_ULONG,
}

/// The parameter of a CPv4 mechanism: `CKR_MECHANISM_INVALID` for another mechanism (the
/// backup mechanisms are not modelled), `CKR_MECHANISM_PARAM_INVALID` when it is missing or
/// short.
///
/// # Safety
/// `mechanism` must be null or valid; its parameter must be null or a `T`.
unsafe fn cpv4_params<T: Copy>(
    mechanism: *const CK_MECHANISM,
    wanted: CK_MECHANISM_TYPE,
) -> Result<T> {
    // SAFETY: forwarded caller contract.
    let m = unsafe { args::read(mechanism) }?;
    if m.mechanism != wanted {
        return Err(err(
            CKR_MECHANISM_INVALID,
            format!(
                "mechanism 0x{:X} is not modelled here (only CKM_CPV4_EXTRACT / CKM_CPV4_INSERT)",
                m.mechanism
            ),
        ));
    }
    if m.pParameter.is_null() || (m.ulParameterLen as usize) < std::mem::size_of::<T>() {
        return Err(err(
            CKR_MECHANISM_PARAM_INVALID,
            "the CPv4 parameters are missing or short",
        ));
    }
    // SAFETY: non-null and at least a `T` long, per the caller's contract.
    Ok(unsafe { (m.pParameter as *const T).read_unaligned() })
}

/// The caller's array of `n` `T`s (`CKR_ARGUMENTS_BAD` when null and `n` is not 0).
///
/// # Safety
/// `p` must be null or valid for `n` `T`s for `'a`.
unsafe fn array<'a, T>(p: *mut T, n: usize) -> Result<&'a mut [T]> {
    if n == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "a CPv4 array is null"));
    }
    // SAFETY: non-null, and valid for `n` elements per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, n) })
}

/// A CPv4 run's answer: `CKR_OK` with `CKF_CPV4_CONTINUE_ON_ERR` (each object says how it
/// fared), else the failure it stopped at (simulator-defined).
fn cpv4_answer<T>(flags: CK_ULONG, results: &[Result<T>]) -> Result<CK_RV> {
    match results.iter().find_map(|r| r.as_ref().err()) {
        Some(failure) if flags & CKF_CPV4_CONTINUE_ON_ERR == 0 => Err(failure.clone()),
        _ => Ok(CKR_OK),
    }
}

export!(CA_Extract(source: CK_SESSION_HANDLE, mechanism: *mut CK_MECHANISM) {
    let e = engine()?;
    // SAFETY: the caller's mechanism, whose parameter CKM_CPV4_EXTRACT makes a
    // CK_CPV4_EXTRACT_PARAMS.
    let p: CK_CPV4_EXTRACT_PARAMS = unsafe { cpv4_params(mechanism, CKM_CPV4_EXTRACT) }?;
    let n = p.numberOfObjects as usize;
    // SAFETY: the parameters' buffer and arrays of `numberOfObjects` entries.
    let (ouid, types, handles, results, blob_lens, blobs) = unsafe {
        (
            args::bytes(p.sessionOuid, p.sessionOuidLen)?,
            array(p.objectType, n)?,
            array(p.objectHandle, n)?,
            array(p.result, n)?,
            array(p.keyBlobLen, n)?,
            array(p.keyBlob, n)?,
        )
    };
    let wanted: Vec<_> = types.iter().copied().zip(handles.iter().copied()).collect();
    let sealed = e.migration_extract(source, ouid, p.extractionFlags, &wanted)?;
    let mut outcome = Vec::with_capacity(n);
    for (i, blob) in sealed.into_iter().enumerate() {
        let written = blob.and_then(|blob| {
            let room = blob_lens[i] as usize;
            blob_lens[i] = blob.len() as CK_ULONG;
            if blobs[i].is_null() || room < blob.len() {
                return Err(err(CKR_BUFFER_TOO_SMALL, "a key blob buffer is too small"));
            }
            // SAFETY: the caller's buffer of `room` >= `blob.len()` bytes.
            unsafe { std::ptr::copy_nonoverlapping(blob.as_ptr(), blobs[i], blob.len()) };
            Ok(())
        });
        results[i] = written.as_ref().err().map_or(CKR_OK, |f| f.rv);
        outcome.push(written);
    }
    cpv4_answer(p.extractionFlags, &outcome)
});

export!(CA_Insert(target: CK_SESSION_HANDLE, mechanism: *mut CK_MECHANISM) {
    let e = engine()?;
    // SAFETY: the caller's mechanism, whose parameter CKM_CPV4_INSERT makes a
    // CK_CPV4_INSERT_PARAMS.
    let p: CK_CPV4_INSERT_PARAMS = unsafe { cpv4_params(mechanism, CKM_CPV4_INSERT) }?;
    let n = p.numberOfObjects as usize;
    // SAFETY: the parameters' buffer and arrays of `numberOfObjects` entries; each blob
    // pointer with its length.
    let (ouid, types, results, handles, blobs) = unsafe {
        let lens = array(p.keyBlobLen, n)?;
        let pointers = array(p.keyBlob, n)?;
        let mut blobs = Vec::with_capacity(n);
        for (&blob, &len) in pointers.iter().zip(lens.iter()) {
            blobs.push(args::bytes(blob, len)?);
        }
        (
            args::bytes(p.sessionOuid, p.sessionOuidLen)?,
            array(p.objectType, n)?,
            array(p.result, n)?,
            array(p.objectHandle, n)?,
            blobs,
        )
    };
    let given: Vec<_> = types.iter().copied().zip(blobs).collect();
    let stored = e.migration_insert(target, ouid, p.insertionFlags, &given)?;
    for (i, result) in stored.iter().enumerate() {
        (handles[i], results[i]) = match result {
            Ok(handle) => (*handle, CKR_OK),
            Err(failure) => (0, failure.rv),
        };
    }
    cpv4_answer(p.insertionFlags, &stored)
});
