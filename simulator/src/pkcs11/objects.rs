//! Objects through the C ABI: creating, copying, destroying, sizing, reading and changing
//! attributes (by `C_GetAttributeValue`'s rules), and searching.
use super::{args, engine, guard};
use crate::base::attribute::AttrValue;
use crate::base::error::err;
use crate::engine::AttrLookup;
use cryptoki_sys::*;

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
