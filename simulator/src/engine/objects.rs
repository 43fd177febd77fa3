//! Object management: create, copy, destroy, read and change attributes, and find, with the
//! visibility rules (private objects only after user login, objects only on their own token)
//! and the session rules (token objects need a R/W session).
use super::{Engine, Slot};
use crate::attribute::{AttrValue, Attributes};
use crate::engine::session::{FindState, Session};
use crate::error::{Result, err};
use crate::object::rules::{self, Change, Origin};
use crate::object::{Lifetime, Object};
use cryptoki_sys::*;
use std::sync::Arc;

/// The answer for one attribute of `C_GetAttributeValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrLookup {
    Value(AttrValue),
    /// `CKR_ATTRIBUTE_SENSITIVE`.
    Sensitive,
    /// `CKR_ATTRIBUTE_TYPE_INVALID`: the attribute does not apply to the object.
    Invalid,
}

impl Engine {
    /// The object behind a handle if this session may see it.
    pub(crate) fn visible_object(
        &self,
        slot: &Slot,
        handle: CK_OBJECT_HANDLE,
        missing: CK_RV,
    ) -> Result<Arc<Object>> {
        let object = self
            .objects
            .get(&handle)
            .map(|o| o.value().clone())
            .filter(|o| o.slot_id == slot.id)
            .filter(|o| !o.is_private() || slot.user_logged_in())
            .ok_or_else(|| {
                err(
                    missing,
                    format!("there is no object {handle} visible to this session"),
                )
            })?;
        Ok(object)
    }

    /// An object this session may change or destroy: visible, and a token object only from a
    /// R/W session.
    fn changeable_object(
        &self,
        session: &Session,
        slot: &Slot,
        object: CK_OBJECT_HANDLE,
    ) -> Result<Arc<Object>> {
        let o = self.visible_object(slot, object, CKR_OBJECT_HANDLE_INVALID)?;
        if o.is_token() && !session.is_rw() {
            return Err(err(
                CKR_SESSION_READ_ONLY,
                "token objects need a read/write session",
            ));
        }
        Ok(o)
    }

    /// Checks that this session may hold an object with these attributes.
    fn check_may_hold(&self, session: &Session, slot: &Slot, attrs: &Attributes) -> Result<()> {
        if attrs.flag(CKA_TOKEN, false) && !session.is_rw() {
            return Err(err(
                CKR_SESSION_READ_ONLY,
                "token objects need a read/write session",
            ));
        }
        if attrs.flag(CKA_PRIVATE, false) && !slot.user_logged_in() {
            return Err(err(
                CKR_USER_NOT_LOGGED_IN,
                "private objects need the user to be logged in",
            ));
        }
        Ok(())
    }

    /// Stores a new object (persisting token objects) and returns its handle.
    pub(crate) fn insert_object(
        &self,
        session: &mut Session,
        slot: &Slot,
        mut attrs: Attributes,
    ) -> Result<CK_OBJECT_HANDLE> {
        self.check_may_hold(session, slot, &attrs)?;
        let mut uid = [0u8; 16];
        crate::mechanisms::random_fill(&mut uid)?;
        let uid: String = uid.iter().map(|b| format!("{b:02x}")).collect();
        attrs.set_bytes(CKA_UNIQUE_ID, uid.as_bytes().to_vec());
        let lifetime = if attrs.flag(CKA_TOKEN, false) {
            self.store
                .put_object(&slot.partition, uid.as_bytes(), &attrs)?;
            Lifetime::Token
        } else {
            Lifetime::Session(session.handle)
        };
        let handle = self.new_object_handle();
        self.objects.insert(
            handle,
            Arc::new(Object::new(handle, slot.id, lifetime, attrs)),
        );
        if lifetime != Lifetime::Token {
            session.owned_objects.push(handle);
        }
        Ok(handle)
    }

    /// `C_CreateObject`.
    pub fn create_object(
        &self,
        handle: CK_SESSION_HANDLE,
        template: &Attributes,
    ) -> Result<CK_OBJECT_HANDLE> {
        let (session, slot) = self.slot_of(handle)?;
        let class = template.require_ulong(CKA_CLASS)?;
        let key_type = template.ulong(CKA_KEY_TYPE);
        let mut computed = Attributes::new();
        if (class, key_type) == (CKO_PUBLIC_KEY, Some(CKK_RSA))
            && let Some(modulus) = template.bytes(CKA_MODULUS)
        {
            // CKA_MODULUS_BITS is not given on create; the token derives it.
            let significant = modulus.iter().skip_while(|b| **b == 0).count();
            let top = modulus
                .iter()
                .find(|b| **b != 0)
                .map_or(0, |b| 8 - b.leading_zeros());
            let bits = (significant.saturating_sub(1) * 8) as CK_ULONG + CK_ULONG::from(top);
            computed.set_ulong(CKA_MODULUS_BITS, bits);
        }
        let attrs = rules::build_object(Origin::Create, template, &computed, class, key_type)?;
        let object = Object::new(0, slot.id, Lifetime::Token, attrs);
        if object.is_key() {
            // Parse now so a malformed key is refused at creation, not at first use.
            object.key_material().map_err(|e| match e.rv {
                CKR_TEMPLATE_INCOMPLETE | CKR_CURVE_NOT_SUPPORTED => e,
                _ => err(CKR_ATTRIBUTE_VALUE_INVALID, e.detail),
            })?;
        }
        self.insert_object(&mut session.lock(), slot, object.attrs)
    }

    /// `C_CopyObject`.
    pub fn copy_object(
        &self,
        handle: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
        template: &Attributes,
    ) -> Result<CK_OBJECT_HANDLE> {
        let (session, slot) = self.slot_of(handle)?;
        let original = self.visible_object(slot, object, CKR_OBJECT_HANDLE_INVALID)?;
        if !original.attrs.flag(CKA_COPYABLE, true) {
            return Err(err(
                CKR_ACTION_PROHIBITED,
                "the object has CKA_COPYABLE false",
            ));
        }
        let so = slot.logged_in() == Some(CKU_SO);
        let mut attrs = original.attrs.clone();
        for (t, v) in template.iter() {
            rules::check_change(&original.attrs, *t, v, Change::Copy, so)?;
            attrs.set(*t, v.clone());
        }
        self.insert_object(&mut session.lock(), slot, attrs)
    }

    /// `C_DestroyObject`.
    pub fn destroy_object(
        &self,
        handle: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        let (session, slot) = self.slot_of(handle)?;
        let o = self.changeable_object(&session.lock(), slot, object)?;
        if !o.attrs.flag(CKA_DESTROYABLE, true) {
            return Err(err(
                CKR_ACTION_PROHIBITED,
                "the object has CKA_DESTROYABLE false",
            ));
        }
        if o.is_token() {
            self.store.delete_object(o.unique_id())?;
        }
        self.objects.remove(&object);
        if let Lifetime::Session(owner) = o.lifetime
            && let Ok(s) = self.session(owner)
        {
            s.lock().owned_objects.retain(|h| *h != object);
        }
        Ok(())
    }

    /// `C_GetObjectSize`.
    pub fn object_size(
        &self,
        handle: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
    ) -> Result<usize> {
        let (_, slot) = self.slot_of(handle)?;
        Ok(self
            .visible_object(slot, object, CKR_OBJECT_HANDLE_INVALID)?
            .size())
    }

    /// `C_GetAttributeValue`: one answer per requested type.
    pub fn get_attributes(
        &self,
        handle: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
        types: &[CK_ATTRIBUTE_TYPE],
    ) -> Result<Vec<AttrLookup>> {
        let (_, slot) = self.slot_of(handle)?;
        let o = self.visible_object(slot, object, CKR_OBJECT_HANDLE_INVALID)?;
        Ok(types
            .iter()
            .map(|t| match o.attrs.get(*t) {
                None => AttrLookup::Invalid,
                Some(_) if rules::is_hidden(&o.attrs, *t) => AttrLookup::Sensitive,
                Some(v) => AttrLookup::Value(v.clone()),
            })
            .collect())
    }

    /// `C_SetAttributeValue`: all changes or none.
    pub fn set_attributes(
        &self,
        handle: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
        template: &Attributes,
    ) -> Result<()> {
        let (session, slot) = self.slot_of(handle)?;
        let o = self.changeable_object(&session.lock(), slot, object)?;
        if !o.attrs.flag(CKA_MODIFIABLE, true) {
            return Err(err(
                CKR_ACTION_PROHIBITED,
                "the object has CKA_MODIFIABLE false",
            ));
        }
        let so = slot.logged_in() == Some(CKU_SO);
        let mut attrs = o.attrs.clone();
        for (t, v) in template.iter() {
            rules::check_change(&o.attrs, *t, v, Change::Set, so)?;
            attrs.set(*t, v.clone());
        }
        if o.is_token() {
            self.store
                .put_object(&slot.partition, o.unique_id(), &attrs)?;
        }
        self.objects.insert(object, Arc::new(o.with_attrs(attrs)));
        Ok(())
    }

    /// `C_FindObjectsInit`: takes the matching handles now, in handle order.
    pub fn find_init(&self, handle: CK_SESSION_HANDLE, template: &Attributes) -> Result<()> {
        let (session, slot) = self.slot_of(handle)?;
        let mut session = session.lock();
        if session.find.is_some() {
            return Err(err(CKR_OPERATION_ACTIVE, "a search is already in progress"));
        }
        let user = slot.user_logged_in();
        let mut handles: Vec<CK_OBJECT_HANDLE> = self
            .objects
            .iter()
            .filter(|o| o.slot_id == slot.id && (user || !o.is_private()))
            .filter(|o| {
                template
                    .iter()
                    .all(|(t, v)| o.attrs.get(*t) == Some(v) && !rules::is_hidden(&o.attrs, *t))
            })
            .map(|o| *o.key())
            .collect();
        handles.sort_unstable();
        session.find = Some(FindState {
            handles,
            position: 0,
        });
        Ok(())
    }

    /// `C_FindObjects`: up to `max` more handles.
    pub fn find_next(
        &self,
        handle: CK_SESSION_HANDLE,
        max: usize,
    ) -> Result<Vec<CK_OBJECT_HANDLE>> {
        let session = self.session(handle)?;
        let mut session = session.lock();
        let find = session.find.as_mut().ok_or_else(|| {
            err(
                CKR_OPERATION_NOT_INITIALIZED,
                "call C_FindObjectsInit first",
            )
        })?;
        let end = (find.position + max).min(find.handles.len());
        let out = find.handles[find.position..end].to_vec();
        find.position = end;
        Ok(out)
    }

    /// `C_FindObjectsFinal`.
    pub fn find_final(&self, handle: CK_SESSION_HANDLE) -> Result<()> {
        let session = self.session(handle)?;
        let mut session = session.lock();
        if session.find.take().is_none() {
            return Err(err(
                CKR_OPERATION_NOT_INITIALIZED,
                "no search is in progress",
            ));
        }
        Ok(())
    }
}
