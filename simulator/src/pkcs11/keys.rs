//! Keys and random numbers through the C ABI: generating keys and key pairs, wrapping,
//! unwrapping, deriving, and the random-number functions.
use super::operations::produce;
use super::{args, engine, guard};
use crate::base::error::err;
use cryptoki_sys::*;

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
