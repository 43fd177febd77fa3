//! The token's profile objects (PKCS#11 3.0 `CKO_PROFILE`, §4.13): one per OASIS PKCS#11
//! profile the token meets, so clients can discover them with `C_FindObjects*` and read
//! `CKA_PROFILE_ID`. They are synthesised, never stored: public, read-only token objects that
//! exist on every slot whatever the store holds, with handles of their own.
//!
//! Which profiles ("PKCS #11 Profiles Version 3.0", checked against what the module does):
//! - Baseline Provider: met. Every data type, attribute (`CKA_UNIQUE_ID` included) and
//!   function it lists is supported (`C_GetInterfaceList` / `C_GetInterface`, the session and
//!   search functions, `C_GetAttributeValue`), and its own profile object is here.
//! - Extended Provider: met. Baseline plus `C_GetMechanismList`, `C_GetMechanismInfo`,
//!   `C_Login`, `C_LoginUser` and `C_Logout`.
//! - Authentication Token: met. Baseline plus private and public key objects, login, and
//!   `C_SignInit` / `C_Sign` / `C_SignUpdate` / `C_SignFinal`.
//! - Public Certificates Token: not claimed (simulator-defined). The profile requires that
//!   every certificate on the token be readable and findable without a login and that a
//!   certificate's key pair share its `CKA_ID`; here those depend on what applications store
//!   (a caller may create a `CKA_PRIVATE` certificate, or one with any `CKA_ID`), so the token
//!   cannot promise them.
use super::{Lifetime, Object};
use crate::base::attribute::Attributes;
use cryptoki_sys::*;
use std::sync::Arc;

/// The profiles every token meets, in handle order.
pub const PROFILES: [CK_PROFILE_ID; 3] = [
    CKP_BASELINE_PROVIDER,
    CKP_EXTENDED_PROVIDER,
    CKP_AUTHENTICATION_TOKEN,
];

/// The first handle of the range kept for profile objects (simulator-defined). Object handles
/// count up from 1, one per object a process sees, so they never reach this range; the value
/// stays below 2^63 for clients that hold handles as signed 64-bit numbers.
const HANDLE_BASE: CK_OBJECT_HANDLE = 0x7FFF_FFFF_0000_0000;

/// Handles per slot in that range.
const PER_SLOT: CK_OBJECT_HANDLE = 0x100;

/// The handle of a slot's `index`-th profile object; `ordinal` is the slot's position in the
/// process's slot list, so the handles are the same in every session and after a restart.
pub fn handle(ordinal: usize, index: usize) -> CK_OBJECT_HANDLE {
    HANDLE_BASE + ordinal as CK_OBJECT_HANDLE * PER_SLOT + index as CK_OBJECT_HANDLE
}

/// Whether `handle` lies in the range kept for profile objects (a cheap test before `lookup`).
pub fn in_range(handle: CK_OBJECT_HANDLE) -> bool {
    handle >= HANDLE_BASE
}

/// The slot's profile object behind `handle`, if it is one.
pub fn lookup(
    slot_id: CK_SLOT_ID,
    ordinal: usize,
    handle: CK_OBJECT_HANDLE,
) -> Option<Arc<Object>> {
    let index = (0..PROFILES.len()).find(|i| self::handle(ordinal, *i) == handle)?;
    Some(Arc::new(object(slot_id, ordinal, index)))
}

/// The slot's profile objects that could match a search template: all of them unless the
/// template names another class.
pub fn candidates(slot_id: CK_SLOT_ID, ordinal: usize, template: &Attributes) -> Vec<Object> {
    if template.ulong(CKA_CLASS).is_some_and(|c| c != CKO_PROFILE) {
        return Vec::new();
    }
    (0..PROFILES.len())
        .map(|i| object(slot_id, ordinal, i))
        .collect()
}

fn object(slot_id: CK_SLOT_ID, ordinal: usize, index: usize) -> Object {
    let id = PROFILES[index];
    let mut attrs = Attributes::new();
    attrs.set_ulong(CKA_CLASS, CKO_PROFILE);
    attrs.set_ulong(CKA_PROFILE_ID, id);
    attrs.set_bool(CKA_TOKEN, true);
    attrs.set_bool(CKA_PRIVATE, false);
    attrs.set_bool(CKA_MODIFIABLE, false);
    attrs.set_bool(CKA_COPYABLE, false);
    attrs.set_bool(CKA_DESTROYABLE, false);
    attrs.set_bytes(CKA_LABEL, Vec::new());
    // Unique on the token: stored objects' ids are 16 hex digits (simulator-defined form).
    attrs.set_bytes(CKA_UNIQUE_ID, format!("profile-{id}").into_bytes());
    Object::new(handle(ordinal, index), slot_id, Lifetime::Token, attrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_distinct_per_slot_and_found_again() {
        let mut seen = std::collections::HashSet::new();
        for ordinal in 0..4 {
            for (i, id) in PROFILES.iter().enumerate() {
                let h = handle(ordinal, i);
                assert!(seen.insert(h));
                let o = lookup(7, ordinal, h).unwrap();
                assert_eq!(o.attrs.ulong(CKA_PROFILE_ID), Some(*id));
                assert_eq!(o.handle, h);
            }
            assert!(lookup(7, ordinal, handle(ordinal, PROFILES.len())).is_none());
        }
        assert!(lookup(7, 0, 1).is_none());
    }

    #[test]
    fn a_search_for_another_class_skips_them() {
        let mut t = Attributes::new();
        assert_eq!(candidates(0, 0, &t).len(), PROFILES.len());
        t.set_ulong(CKA_CLASS, CKO_SECRET_KEY);
        assert!(candidates(0, 0, &t).is_empty());
        t.set_ulong(CKA_CLASS, CKO_PROFILE);
        assert_eq!(candidates(0, 0, &t).len(), PROFILES.len());
    }
}
