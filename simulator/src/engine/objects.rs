//! Object management: create, copy, destroy, read and change attributes, and find, with the
//! visibility rules (private objects only after user login, objects only on their own token)
//! and the session rules (token objects need a R/W session). Every new object's attributes come
//! from `new_object_attrs` (the attribute rules with the caller's role, then the vendor's);
//! token objects are written to the store under the slot's table lock, their secrets sealed
//! under the token key. The token's profile objects (`object::profile`) are found and read here
//! like any other object but never stored. New objects' identifiers (`CKA_UNIQUE_ID`,
//! `CKA_OUID`) come from the engine's `IdentifierRandom`.
use super::{Engine, Slot};
use crate::base::attribute::{AttrValue, Attributes};
use crate::base::error::{Result, err};
use crate::base::ids::PartitionId;
use crate::base::secrets::seal::{is_sealed, object_binding};
use crate::engine::session::{FindState, Session};
use crate::object::rules::{self, Change, Origin, Role};
use crate::object::{Lifetime, Object, profile};
use crate::store::{StoredObject, seal_object};
use cryptoki_sys::*;
use std::sync::Arc;

/// Random bytes for new objects' identifiers (`CKA_UNIQUE_ID`, `CKA_OUID`): drawn from aws-lc
/// a block at a time and handed out in pieces, one generator call per ~50 objects instead of
/// two per object (aws-lc's generator reseeds from the CPU on every call). Identifiers only,
/// never secrets. Each engine has its own, so a forked child, which makes its own engine at its
/// own `C_Initialize`, never repeats its parent's identifiers.
pub(crate) struct IdentifierRandom {
    block: [u8; IDENTIFIER_BLOCK],
    used: usize,
}

const IDENTIFIER_BLOCK: usize = 1024;

impl IdentifierRandom {
    /// An empty pool (the first use draws a block).
    pub(crate) fn new() -> Self {
        IdentifierRandom {
            block: [0; IDENTIFIER_BLOCK],
            used: IDENTIFIER_BLOCK,
        }
    }

    /// Fills `out` (at most a block) with bytes not handed out before.
    pub(crate) fn fill(&mut self, out: &mut [u8]) -> Result<()> {
        if out.len() > IDENTIFIER_BLOCK {
            return crate::base::random::random_fill(out);
        }
        if IDENTIFIER_BLOCK - self.used < out.len() {
            crate::base::random::random_fill(&mut self.block)?;
            self.used = 0;
        }
        out.copy_from_slice(&self.block[self.used..self.used + out.len()]);
        self.used += out.len();
        Ok(())
    }
}

/// Whether a new object gets a new shared identity (`CKA_OUID`) or keeps its own (a clone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Identity {
    New,
    Kept,
}

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
    /// The object behind a handle if this session may see it (secrets possibly still sealed).
    pub(crate) fn visible_object(
        &self,
        slot: &Slot,
        handle: CK_OBJECT_HANDLE,
        missing: CK_RV,
    ) -> Result<Arc<Object>> {
        slot.check_pin_current()?;
        if profile::in_range(handle)
            && let Some(p) = profile::lookup(slot.id, self.slot_ordinal(slot), handle)
        {
            return Ok(p);
        }
        let object = self
            .table(slot)?
            .get(handle)
            .cloned()
            .filter(|o| !o.is_private() || slot.user_logged_in())
            .ok_or_else(|| {
                err(
                    missing,
                    format!("there is no object {handle} visible to this session"),
                )
            })?;
        Ok(object)
    }

    /// A visible object with its secrets opened: what operations and copies use.
    /// `CKR_USER_NOT_LOGGED_IN` while the token key is locked in this process.
    pub(crate) fn usable_object(
        &self,
        slot: &Slot,
        handle: CK_OBJECT_HANDLE,
        missing: CK_RV,
    ) -> Result<Arc<Object>> {
        let object = self.visible_object(slot, handle, missing)?;
        self.unseal(slot, object)
    }

    /// Opens an object's sealed secrets and keeps the opened object in the table.
    pub(super) fn unseal(&self, slot: &Slot, object: Arc<Object>) -> Result<Arc<Object>> {
        if let Some(copy) = self.ha_opened_copy(slot, &object)? {
            return Ok(copy);
        }
        let Some(sealed) = &object.sealed else {
            return Ok(object);
        };
        let key = slot.token_key().ok_or_else(|| {
            err(
                CKR_USER_NOT_LOGGED_IN,
                "the token's key values are locked until a login in this process \
                 (simulator-defined: they are encrypted at rest under a PIN-sealed token key)",
            )
        })?;
        // A damaged sealed value fails this object only (CKR_DEVICE_ERROR), named in the log.
        let secrets = key
            .open_secrets(
                &object_binding(&slot.partition().to_string(), object.unique_id()),
                sealed,
            )
            .map_err(|e| {
                let name = crate::store::object_name(
                    &slot.partition().to_string(),
                    &String::from_utf8_lossy(object.unique_id()),
                    Some(&object.attrs),
                );
                tracing::error!(target: "hsmsim::engine", "{name}: {}", e.detail);
                err(
                    e.rv,
                    format!("{name}: {} (run `hsmsim lab check`)", e.detail),
                )
            })?;
        let opened = Arc::new(object.unsealed(&secrets));
        let mut table = slot.objects.write();
        if table
            .get(object.handle)
            .is_some_and(|o| Arc::ptr_eq(o, &object))
        {
            table.insert(opened.clone());
        }
        Ok(opened)
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
        slot.check_may_change_object(o.is_private())?;
        check_token_change_allowed(slot, o.is_token())?;
        if o.is_token() && !session.is_rw() {
            return Err(err(
                CKR_SESSION_READ_ONLY,
                "token objects need a read/write session",
            ));
        }
        Ok(o)
    }

    /// The position of a slot in this process's slot list (what profile object handles use).
    fn slot_ordinal(&self, slot: &Slot) -> usize {
        self.slots
            .keys()
            .position(|id| *id == slot.id)
            .unwrap_or_default()
    }

    /// Who is logged in on the slot, as the attribute rules see it.
    fn role(slot: &Slot) -> Role {
        if slot.logged_in() == Some(CKU_SO) {
            Role::So
        } else {
            Role::Other
        }
    }

    /// A new object's attributes from a caller's template: the attribute rules
    /// (`rules::build_object`, with the role logged in on the slot), then the vendor model's.
    /// Every path that makes an object from a template (create, generate, generate pair,
    /// unwrap, derive) comes here; copies go through `rules::check_change`.
    pub(crate) fn new_object_attrs(
        &self,
        slot: &Slot,
        origin: Origin,
        template: &Attributes,
        computed: &Attributes,
        class: CK_OBJECT_CLASS,
        key_type: Option<CK_KEY_TYPE>,
    ) -> Result<Attributes> {
        slot.model.check_vendor_template(template)?;
        let mut attrs = rules::build_object(
            origin,
            template,
            computed,
            class,
            key_type,
            Self::role(slot),
        )?;
        slot.model
            .new_object_rules(&slot.token.read(), origin, template, &mut attrs, class)?;
        Ok(attrs)
    }

    /// Sets an object's HSM-internal name where the model names objects (Primus §1.6) from
    /// its label: the label
    /// unless another object of the partition of the same class (in the table, other than
    /// `except`, or in `batch`) already has that name, else `label@?!<unique id>`. Objects
    /// without a label have no name.
    fn name_object(
        &self,
        slot: &Slot,
        attrs: &mut Attributes,
        except: Option<CK_OBJECT_HANDLE>,
        batch: &mut Vec<(Option<CK_OBJECT_CLASS>, Vec<u8>)>,
    ) -> Result<()> {
        let Some(name_attribute) = slot.model.name_attribute() else {
            return Ok(());
        };
        let label = attrs.bytes(CKA_LABEL).unwrap_or_default().to_vec();
        if label.is_empty() {
            attrs.remove(name_attribute);
            return Ok(());
        }
        let class = attrs.ulong(CKA_CLASS);
        // An object named exactly `label` has that label (names only add a suffix): the label
        // index finds the candidates.
        let mut same_label = Attributes::new();
        same_label.set_bytes(CKA_LABEL, label.clone());
        let taken = batch.iter().any(|(c, n)| *c == class && *n == label)
            || self.table(slot)?.candidates(&same_label).iter().any(|o| {
                Some(o.handle) != except
                    && o.attrs.ulong(CKA_CLASS) == class
                    && o.attrs.bytes(name_attribute) == Some(&label[..])
            });
        let uid = String::from_utf8_lossy(attrs.bytes(CKA_UNIQUE_ID).unwrap_or_default());
        let name = slot
            .model
            .object_name(&String::from_utf8_lossy(&label), &uid, taken)
            .into_bytes();
        batch.push((class, name.clone()));
        attrs.set_bytes(name_attribute, name);
        Ok(())
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

    /// Stores one new object (persisting a token object) and returns its handle.
    pub(crate) fn insert_object(
        &self,
        session: &mut Session,
        slot: &Slot,
        attrs: Attributes,
    ) -> Result<CK_OBJECT_HANDLE> {
        let handles = self.insert_objects(session, slot, vec![attrs])?;
        Ok(handles[0])
    }

    /// Stores new objects, all or none (token objects in one store transaction).
    pub(crate) fn insert_objects(
        &self,
        session: &mut Session,
        slot: &Slot,
        objects: Vec<Attributes>,
    ) -> Result<Vec<CK_OBJECT_HANDLE>> {
        self.insert_objects_as(session, slot, objects, Identity::New)
    }

    /// `insert_objects`, the objects given a new shared identity (`CKA_OUID`) or keeping the
    /// one they carry (clones from another partition).
    pub(crate) fn insert_objects_as(
        &self,
        session: &mut Session,
        slot: &Slot,
        objects: Vec<Attributes>,
        identity: Identity,
    ) -> Result<Vec<CK_OBJECT_HANDLE>> {
        session.check_open()?;
        slot.check_pin_current()?;
        let any_token = objects.iter().any(|a| a.flag(CKA_TOKEN, false));
        check_token_change_allowed(slot, any_token)?;
        // The key and the incarnation of the token it belongs to: token objects are written
        // only into that incarnation (not into a token another process re-initialised since).
        // Session objects are neither sealed nor stored: they need neither.
        let (key, seen) = match (any_token, slot.unlocked()) {
            (false, _) => (None, None),
            (true, Some((key, seen))) => (Some(key), Some(seen)),
            (true, None) => (None, Some(slot.incarnation())),
        };
        let mut made = Vec::with_capacity(objects.len());
        let mut stored = Vec::new();
        let mut names = Vec::new();
        // An HA slot's new token objects, copied to every other member.
        let mut token_attrs = Vec::new();
        for mut attrs in objects {
            self.check_may_hold(session, slot, &attrs)?;
            slot.check_may_change_object(attrs.flag(CKA_PRIVATE, false))?;
            let mut uid_random = [0u8; 8];
            self.identifier_random.lock().fill(&mut uid_random)?;
            // `base::random::unique_id_of`'s form (lower-case hex), without an allocation.
            let mut uid = [0u8; 16];
            hex::encode_to_slice(uid_random, &mut uid)
                .map_err(|_| err(CKR_GENERAL_ERROR, "an identifier of the wrong length"))?;
            attrs.set(
                CKA_UNIQUE_ID,
                AttrValue::Bytes(smallvec::SmallVec::from_slice(&uid)),
            );
            if identity == Identity::New || slot.model.shared_identity(&attrs).is_none() {
                slot.model.identify_new_object(&mut attrs, |buf| {
                    self.identifier_random.lock().fill(buf)
                })?;
            }
            self.name_object(slot, &mut attrs, None, &mut names)?;
            let lifetime = if attrs.flag(CKA_TOKEN, false) {
                if slot.ha.is_some() {
                    token_attrs.push(attrs.clone());
                }
                let (public, sealed) = seal_object(slot.partition(), &attrs, key.as_deref())?;
                stored.push(StoredObject {
                    unique_id: uid.to_vec(),
                    public,
                    sealed,
                });
                Lifetime::Token
            } else {
                Lifetime::Session(session.handle)
            };
            attrs.shrink_if_loose();
            let handle = self.new_object_handle();
            made.push(Arc::new(Object::new(handle, slot.id, lifetime, attrs)));
        }
        let copies = self.ha_new_copies(slot, &token_attrs)?;
        let mut table = self.table_mut(slot)?;
        if let Some(capacity) = slot.capacity {
            let adding: u64 = made
                .iter()
                .filter(|o| o.is_token())
                .map(|o| o.storage_size())
                .sum();
            slot.model
                .check_capacity(table.token_bytes(), adding, capacity)?;
        }
        if !stored.is_empty() {
            let seen = seen.ok_or_else(|| {
                err(
                    CKR_GENERAL_ERROR,
                    "a token object without the token's incarnation",
                )
            })?;
            let mut writes = vec![(slot.partition(), seen, stored.as_slice())];
            writes.extend(copies.iter().map(|(p, seen, c)| (p, *seen, c.as_slice())));
            self.store.insert_objects_on(&writes)?;
        }
        let mut handles = Vec::with_capacity(made.len());
        for object in made {
            handles.push(object.handle);
            if !object.is_token() {
                session.owned_objects.push(object.handle);
            }
            table.insert(object);
        }
        drop(table);
        let written = stored
            .into_iter()
            .map(|o| (slot.partition().clone(), o.unique_id))
            .chain(
                copies
                    .into_iter()
                    .flat_map(|(p, _, c)| c.into_iter().map(move |o| (p.clone(), o.unique_id))),
            )
            .collect::<Vec<_>>();
        self.share_object_changes(slot, &written);
        Ok(handles)
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
        let attrs =
            self.new_object_attrs(slot, Origin::Create, template, &computed, class, key_type)?;
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
        let original = self.usable_object(slot, object, CKR_OBJECT_HANDLE_INVALID)?;
        if !original.attrs.flag(CKA_COPYABLE, true) {
            return Err(err(
                CKR_ACTION_PROHIBITED,
                "the object has CKA_COPYABLE false",
            ));
        }
        slot.model.check_vendor_template(template)?;
        let role = Self::role(slot);
        let mut attrs = original.attrs.clone();
        for (t, v) in template.iter() {
            rules::check_change(&original.attrs, *t, v, Change::Copy, role)?;
            attrs.set(*t, v.clone());
        }
        slot.model.complete_vendor_attributes(&mut attrs);
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
        self.remove_objects(slot, &[o])
    }

    /// Removes objects from the table (and token objects from the store, all or none).
    pub(crate) fn remove_objects(&self, slot: &Slot, objects: &[Arc<Object>]) -> Result<()> {
        if !objects.iter().any(|o| o.is_token()) {
            // Session objects only: nothing stored, nothing copied to HA members, and the
            // table is loaded (the objects came from it).
            let mut table = slot.objects.write();
            for o in objects {
                table.remove(o.handle);
            }
            drop(table);
            self.forget_owned(objects);
            return Ok(());
        }
        // An HA slot's token objects go on every member.
        let mut copies: Vec<(PartitionId, Vec<u8>)> = Vec::new();
        for o in objects {
            copies.extend(self.ha_copies(slot, o)?);
        }
        let mut table = self.table_mut(slot)?;
        let token: Vec<&[u8]> = objects
            .iter()
            .filter(|o| o.is_token())
            .map(|o| o.unique_id())
            .collect();
        let mut deletes = vec![(slot.partition(), token.clone())];
        for (member, uid) in &copies {
            match deletes.iter_mut().find(|(p, _)| *p == member) {
                Some((_, uids)) => uids.push(uid),
                None => deletes.push((member, vec![uid])),
            }
        }
        let deletes: Vec<(&PartitionId, &[&[u8]])> =
            deletes.iter().map(|(p, u)| (*p, u.as_slice())).collect();
        if !token.is_empty()
            && let Err(e) = self.store.delete_objects_on(&deletes)
        {
            if e.rv == CKR_OBJECT_HANDLE_INVALID {
                // Another process destroyed it first: it is gone here too.
                for o in objects.iter().filter(|o| o.is_token()) {
                    if self
                        .store
                        .object(slot.partition(), o.unique_id())?
                        .is_none()
                    {
                        table.remove(o.handle);
                    }
                }
            }
            return Err(e);
        }
        for o in objects {
            table.remove(o.handle);
        }
        drop(table);
        let written: Vec<(PartitionId, Vec<u8>)> = objects
            .iter()
            .filter(|o| o.is_token())
            .map(|o| (slot.partition().clone(), o.unique_id().to_vec()))
            .chain(copies)
            .collect();
        self.share_object_changes(slot, &written);
        self.forget_owned(objects);
        Ok(())
    }

    /// Removed session objects leave their owning sessions' lists.
    fn forget_owned(&self, objects: &[Arc<Object>]) {
        for o in objects {
            if let Lifetime::Session(owner) = o.lifetime
                && let Ok(s) = self.open_session_entry(owner)
            {
                s.lock().owned_objects.retain(|h| *h != o.handle);
            }
        }
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
        let visible = self.visible_object(slot, object, CKR_OBJECT_HANDLE_INVALID)?;
        let mut o = self.ha_session_object(slot, visible)?;
        let class = o.class();
        if o.sealed.is_some()
            && types
                .iter()
                .any(|t| is_sealed(class, *t) && !rules::is_hidden(&o.attrs, *t))
        {
            o = self.unseal(slot, o)?;
        }
        let no_extract = slot.model.hides_key_values(&slot.token.read());
        Ok(types
            .iter()
            .map(|t| {
                if no_extract
                    && is_sealed(class, *t)
                    && matches!(class, CKO_SECRET_KEY | CKO_PRIVATE_KEY)
                {
                    return AttrLookup::Sensitive;
                }
                if rules::is_hidden(&o.attrs, *t)
                    && (o.attrs.contains(*t) || o.sealed.is_some() && is_sealed(class, *t))
                {
                    return AttrLookup::Sensitive;
                }
                match o.attrs.get(*t) {
                    None => AttrLookup::Invalid,
                    Some(v) => AttrLookup::Value(v.clone()),
                }
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
        slot.model.check_vendor_template(template)?;
        let role = Self::role(slot);
        let mut attrs = o.attrs.clone();
        for (t, v) in template.iter() {
            rules::check_change(&o.attrs, *t, v, Change::Set, role)?;
            attrs.set(*t, v.clone());
        }
        slot.model.complete_vendor_attributes(&mut attrs);
        if template.contains(CKA_LABEL) && template.bytes(CKA_LABEL) != o.attrs.bytes(CKA_LABEL) {
            // A renamed Primus object gets the name of its new label.
            self.name_object(slot, &mut attrs, Some(object), &mut Vec::new())?;
        }
        // An HA slot's token object changes on every member: each copy keeps its unique id.
        let copies = self.ha_copies(slot, &o)?;
        let mut table = self.table_mut(slot)?;
        if table.get(object).is_none_or(|cur| !Arc::ptr_eq(cur, &o)) {
            // Changed or destroyed meanwhile: apply to the current version instead.
            drop(table);
            return self.set_attributes(handle, object, template);
        }
        let mut written = Vec::new();
        if o.is_token() {
            let class = o.class();
            let mut public = attrs.clone();
            public.split_off_where(|t| is_sealed(class, t));
            let member_public: Vec<(PartitionId, Vec<u8>, Attributes)> = copies
                .into_iter()
                .map(|(member, uid)| {
                    let mut copy = public.clone();
                    copy.set_bytes(CKA_UNIQUE_ID, uid.clone());
                    (member, uid, copy)
                })
                .collect();
            let mut updates = vec![(slot.partition(), o.unique_id(), &public)];
            updates.extend(member_public.iter().map(|(p, u, a)| (p, u.as_slice(), a)));
            if let Err(e) = self.store.update_public_on(&updates) {
                if e.rv == CKR_OBJECT_HANDLE_INVALID {
                    table.remove(object);
                }
                return Err(e);
            }
            written.push((slot.partition().clone(), o.unique_id().to_vec()));
            written.extend(member_public.into_iter().map(|(p, u, _)| (p, u)));
        }
        table.insert(Arc::new(o.with_attrs(attrs)));
        drop(table);
        self.share_object_changes(slot, &written);
        Ok(())
    }

    /// One use of a key whose model limits its uses (`TokenModel::limits_uses`): the model
    /// checks the count and answers its change (or the error of a key used up), kept as any
    /// attribute change is. A token object's count is read, checked and written in one store
    /// transaction (on an HA slot on every member's copy too), so threads and processes
    /// sharing the key get exactly its limit of uses; a session object's under the slot's
    /// object table lock. Answers the key as counted.
    pub(super) fn count_use(&self, slot: &Slot, object: Arc<Object>) -> Result<Arc<Object>> {
        if !object.is_token() {
            let mut table = self.table_mut(slot)?;
            let current = table.get(object.handle).cloned().unwrap_or(object);
            let mut attrs = current.attrs.clone();
            attrs.merge(&slot.model.count_use(&current.attrs)?);
            let counted = Arc::new(current.with_attrs(attrs));
            table.insert(counted.clone());
            return Ok(counted);
        }
        let copies = self.ha_copies(slot, &object)?;
        let set = self.store.change_public_on(
            slot.partition(),
            object.unique_id(),
            &copies,
            |stored| slot.model.count_use(stored),
        )?;
        let mut table = self.table_mut(slot)?;
        let current = table
            .get(object.handle)
            .filter(|o| o.unique_id() == object.unique_id())
            .cloned()
            .unwrap_or(object);
        let mut attrs = current.attrs.clone();
        attrs.merge(&set);
        let counted = Arc::new(current.with_attrs(attrs));
        table.insert(counted.clone());
        drop(table);
        let mut written = vec![(slot.partition().clone(), counted.unique_id().to_vec())];
        written.extend(copies);
        self.share_object_changes(slot, &written);
        Ok(counted)
    }

    /// A Primus object's HSM-internal name (Primus §1.6): its label, or `label@?!<uid>`
    /// when another object of its class had the label first. `CKR_FUNCTION_NOT_SUPPORTED`
    /// outside Primus partitions; `CKR_ATTRIBUTE_TYPE_INVALID` for an object without a label.
    pub fn hsm_name_of(
        &self,
        handle: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
    ) -> Result<String> {
        let (_, slot) = self.slot_of(handle)?;
        let name_attribute = slot.model.check_names_objects()?;
        let o = self.visible_object(slot, object, CKR_OBJECT_HANDLE_INVALID)?;
        o.attrs
            .bytes(name_attribute)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .ok_or_else(|| {
                err(
                    CKR_ATTRIBUTE_TYPE_INVALID,
                    "the object has no label, so no name",
                )
            })
    }

    /// The visible object of this session's Primus partition with the HSM name `name`, of
    /// `class` if given: how Primus Tools and JCE address keys (`-keyname`). See
    /// `TokenModel::find_by_name` for the ambiguous and not-found answers.
    pub fn find_by_hsm_name(
        &self,
        handle: CK_SESSION_HANDLE,
        name: &str,
        class: Option<CK_OBJECT_CLASS>,
    ) -> Result<CK_OBJECT_HANDLE> {
        let (_, slot) = self.slot_of(handle)?;
        let name_attribute = slot.model.check_names_objects()?;
        slot.check_pin_current()?;
        let user = slot.user_logged_in();
        // Candidates by label: objects labelled `name`, and those labelled with the part of
        // `name` before a differentiator.
        let table = self.table(slot)?;
        let mut candidates = Vec::new();
        for label in std::iter::once(name).chain(slot.model.label_of_name(name)) {
            let mut t = Attributes::new();
            t.set_bytes(CKA_LABEL, label.as_bytes().to_vec());
            candidates.extend(table.candidates(&t));
        }
        drop(table);
        let mut entries: Vec<(CK_OBJECT_HANDLE, String, String)> = candidates
            .iter()
            .filter(|o| (user || !o.is_private()) && class.is_none_or(|c| o.class() == c))
            .filter_map(|o| {
                let text = |t| {
                    o.attrs
                        .bytes(t)
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                };
                Some((o.handle, text(name_attribute)?, text(CKA_LABEL)?))
            })
            .collect();
        entries.sort_unstable();
        entries.dedup();
        slot.model.find_by_name(&entries, name)
    }

    /// `C_FindObjectsInit`: takes the matching handles now, in handle order.
    pub fn find_init(&self, handle: CK_SESSION_HANDLE, template: &Attributes) -> Result<()> {
        let (session, slot) = self.slot_of(handle)?;
        let mut session = session.lock();
        if session.find.is_some() {
            return Err(err(CKR_OPERATION_ACTIVE, "a search is already in progress"));
        }
        slot.check_pin_current()?;
        let user = slot.user_logged_in();
        let template = &*self.ha_find_template(slot, template)?;
        let candidates = self.table(slot)?.candidates(template);
        let mut handles: Vec<CK_OBJECT_HANDLE> = Vec::new();
        for o in candidates {
            if o.is_private() && !user {
                continue;
            }
            let class = o.class();
            let o = if o.sealed.is_some() && template.iter().any(|(t, _)| is_sealed(class, *t)) {
                // Matching on a sealed value needs it opened; locked values match nothing.
                match self.unseal(slot, o) {
                    Ok(o) => o,
                    Err(_) => continue,
                }
            } else {
                o
            };
            if template
                .iter()
                .all(|(t, v)| o.attrs.get(*t) == Some(v) && !rules::is_hidden(&o.attrs, *t))
            {
                handles.push(o.handle);
            }
        }
        // The token's profile objects: public, never sealed.
        for p in profile::candidates(slot.id, self.slot_ordinal(slot), template) {
            if template.iter().all(|(t, v)| p.attrs.get(*t) == Some(v)) {
                handles.push(p.handle);
            }
        }
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

/// Token objects change only where the model allows it (a Primus Clone without
/// `clone_modify` refuses, Primus §2.1); session objects stay allowed.
fn check_token_change_allowed(slot: &Slot, token: bool) -> Result<()> {
    if token {
        slot.model.check_token_object_change()
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::IdentifierRandom;

    #[test]
    fn identifier_random_hands_out_fresh_bytes_across_refills() {
        let mut pool = IdentifierRandom::new();
        let mut seen = std::collections::HashSet::new();
        // Past two refills of the block: every 8-byte piece differs from the others.
        for _ in 0..300 {
            let mut piece = [0u8; 8];
            pool.fill(&mut piece).unwrap();
            assert!(seen.insert(piece), "a piece was handed out twice");
        }
        let mut big = vec![0u8; 3000];
        pool.fill(&mut big).unwrap();
        assert!(big.iter().any(|b| *b != 0));
    }
}
