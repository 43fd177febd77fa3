//! Objects: an immutable snapshot of attributes plus the key material parsed from them on first
//! use; the attribute rules (`rules`) and the token's synthesised profile objects (`profile`).
//! A token object read from the store before its token key was unlocked carries its secrets
//! still sealed; the engine opens them on first use. Changes replace the snapshot (copy on
//! write), so an operation in progress keeps the key it started with and the hot path never
//! takes a lock.
pub mod profile;
pub mod rules;

use crate::base::attribute::Attributes;
use crate::base::error::{Result, err};
use crate::crypto::KeyMaterial;
use cryptoki_sys::*;
use std::sync::{Arc, OnceLock};

/// Where an object lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// A token object, persisted in the store.
    Token,
    /// A session object, destroyed with the session that created it.
    Session(CK_SESSION_HANDLE),
}

/// One object on a token.
pub struct Object {
    pub handle: CK_OBJECT_HANDLE,
    pub slot_id: CK_SLOT_ID,
    pub lifetime: Lifetime,
    pub attrs: Attributes,
    /// The object's secrets as stored (see `seal`), when they are not in `attrs` yet.
    pub sealed: Option<Arc<[u8]>>,
    key: OnceLock<Arc<KeyMaterial>>,
}

impl Object {
    pub fn new(
        handle: CK_OBJECT_HANDLE,
        slot_id: CK_SLOT_ID,
        lifetime: Lifetime,
        attrs: Attributes,
    ) -> Self {
        Object {
            handle,
            slot_id,
            lifetime,
            attrs,
            sealed: None,
            key: OnceLock::new(),
        }
    }

    /// A token object as read from the store: public attributes (completed with the common
    /// attributes older stores lack, `rules::complete_stored`) and sealed secrets.
    pub fn stored(
        handle: CK_OBJECT_HANDLE,
        slot_id: CK_SLOT_ID,
        mut public: Attributes,
        sealed: Option<Vec<u8>>,
    ) -> Self {
        rules::complete_stored(&mut public);
        public.shrink_to_fit();
        Object {
            sealed: sealed.map(Arc::from),
            ..Object::new(handle, slot_id, Lifetime::Token, public)
        }
    }

    /// The same object with its secrets opened and merged into its attributes.
    pub fn unsealed(&self, secrets: &Attributes) -> Self {
        let mut attrs = self.attrs.clone();
        attrs.merge(secrets);
        Object {
            sealed: None,
            ..self.with_attrs(attrs)
        }
    }

    /// The same object with new attributes; key material is kept (key values never change).
    pub fn with_attrs(&self, attrs: Attributes) -> Self {
        let key = OnceLock::new();
        if let Some(k) = self.key.get() {
            let _ = key.set(k.clone());
        }
        Object {
            handle: self.handle,
            slot_id: self.slot_id,
            lifetime: self.lifetime,
            attrs,
            sealed: self.sealed.clone(),
            key,
        }
    }

    pub fn class(&self) -> CK_OBJECT_CLASS {
        self.attrs.ulong(CKA_CLASS).unwrap_or(CKO_DATA)
    }
    pub fn key_type(&self) -> Option<CK_KEY_TYPE> {
        self.attrs.ulong(CKA_KEY_TYPE)
    }
    pub fn is_private(&self) -> bool {
        self.attrs.flag(CKA_PRIVATE, false)
    }
    pub fn is_token(&self) -> bool {
        self.lifetime == Lifetime::Token
    }
    pub fn is_key(&self) -> bool {
        matches!(
            self.class(),
            CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_SECRET_KEY
        )
    }
    pub fn unique_id(&self) -> &[u8] {
        self.attrs.bytes(CKA_UNIQUE_ID).unwrap_or_default()
    }

    /// The parsed key, built once and shared by every operation that uses this object.
    pub fn key_material(&self) -> Result<Arc<KeyMaterial>> {
        if let Some(k) = self.key.get() {
            return Ok(k.clone());
        }
        if self.sealed.is_some() {
            return Err(err(
                CKR_USER_NOT_LOGGED_IN,
                "the key's value is sealed until a login unlocks the token key",
            ));
        }
        let key_type = self
            .key_type()
            .ok_or_else(|| err(CKR_KEY_HANDLE_INVALID, "the object is not a key"))?;
        let parsed = Arc::new(KeyMaterial::from_attributes(
            self.class(),
            key_type,
            &self.attrs,
        )?);
        Ok(self.key.get_or_init(|| parsed).clone())
    }

    /// The space the object takes on its partition: its attribute values, with the sealed
    /// secrets counted as a fixed 64 bytes so the figure does not change when they are opened
    /// (simulator-defined accounting for partition sizes).
    pub fn storage_size(&self) -> u64 {
        let class = self.class();
        let mut total = 0u64;
        let mut sealed = false;
        for (t, v) in self.attrs.iter() {
            if crate::base::secrets::seal::is_sealed(class, *t) {
                sealed = true;
                continue;
            }
            total += match v {
                crate::base::attribute::AttrValue::Bytes(b) => b.len() as u64 + 8,
                crate::base::attribute::AttrValue::Template(t) => {
                    t.iter().map(|(_, b)| b.len() as u64 + 8).sum()
                }
            };
        }
        if sealed || self.sealed.is_some() {
            total += 64;
        }
        total
    }

    /// An estimate of the object's size in bytes for `C_GetObjectSize`.
    pub fn size(&self) -> usize {
        self.attrs
            .iter()
            .map(|(_, v)| match v {
                crate::base::attribute::AttrValue::Bytes(b) => b.len() + 16,
                crate::base::attribute::AttrValue::Template(t) => {
                    t.iter().map(|(_, b)| b.len() + 16).sum()
                }
            })
            .sum::<usize>()
            + self.sealed.as_ref().map_or(0, |s| s.len())
    }
}
