//! Keys made by the token: generation of keys and key pairs, wrapping out, unwrapping in
//! (also PKCS#11 3.2's authenticated wrapping, with associated data), key encapsulation,
//! derivation, and random numbers.
use super::operations::{Output, retarget};
use super::{Engine, Session, Slot};
use crate::base::attribute::{AttrValue, Attributes};
use crate::base::error::{Result, err};
use crate::crypto::{self as mechs, Mechanism};
use crate::object::rules::{self, Origin};
use cryptoki_sys::*;
use parking_lot::Mutex;
use std::borrow::Cow;
use std::sync::Arc;
use zeroize::Zeroizing;

impl Engine {
    /// Checks that this session may create an object of this template before doing the work.
    fn precheck_new_object(
        &self,
        session_rw: bool,
        slot: &Slot,
        template: &Attributes,
        class: CK_OBJECT_CLASS,
    ) -> Result<()> {
        if template.flag(CKA_TOKEN, false) && !session_rw {
            return Err(err(
                CKR_SESSION_READ_ONLY,
                "token objects need a read/write session",
            ));
        }
        if template.flag(CKA_PRIVATE, rules::private_default(class)) && !slot.user_logged_in() {
            return Err(err(
                CKR_USER_NOT_LOGGED_IN,
                "private objects need the user to be logged in",
            ));
        }
        Ok(())
    }

    /// `C_GenerateKey`.
    pub fn generate_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        template: &Attributes,
    ) -> Result<CK_OBJECT_HANDLE> {
        let (session, slot) = self.slot_of(h)?;
        slot.offered(mech.mechanism_type)?;
        mechs::lookup_for(mech.mechanism_type, CKF_GENERATE)?;
        let class = mechs::generated_class(mech.mechanism_type);
        check_class(template, class)?;
        self.precheck_new_object(session.lock().is_rw(), slot, template, class)?;
        let computed = mechs::generate_key(mech, template)?;
        let key_type = computed.ulong(CKA_KEY_TYPE);
        if template
            .ulong(CKA_KEY_TYPE)
            .is_some_and(|t| Some(t) != key_type)
        {
            return Err(err(
                CKR_TEMPLATE_INCONSISTENT,
                "CKA_KEY_TYPE does not match the mechanism",
            ));
        }
        let mut attrs =
            self.new_object_attrs(slot, Origin::Generate, template, &computed, class, key_type)?;
        if class == CKO_SECRET_KEY {
            attrs.set_ulong(CKA_KEY_GEN_MECHANISM, mech.mechanism_type);
        }
        self.insert_object(&mut session.lock(), slot, attrs)
    }

    /// `C_GenerateKeyPair`: both keys or neither.
    pub fn generate_key_pair(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        public_template: &Attributes,
        private_template: &Attributes,
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let (session, slot) = self.slot_of(h)?;
        slot.offered(mech.mechanism_type)?;
        mechs::lookup_for(mech.mechanism_type, CKF_GENERATE_KEY_PAIR)?;
        check_class(public_template, CKO_PUBLIC_KEY)?;
        check_class(private_template, CKO_PRIVATE_KEY)?;
        let rw = session.lock().is_rw();
        self.precheck_new_object(rw, slot, public_template, CKO_PUBLIC_KEY)?;
        self.precheck_new_object(rw, slot, private_template, CKO_PRIVATE_KEY)?;
        let (pub_values, priv_values) =
            mechs::generate_key_pair(mech, public_template, private_template)?;
        let key_type = pub_values.ulong(CKA_KEY_TYPE);
        for t in [public_template, private_template] {
            if t.ulong(CKA_KEY_TYPE).is_some_and(|k| Some(k) != key_type) {
                return Err(err(
                    CKR_TEMPLATE_INCONSISTENT,
                    "CKA_KEY_TYPE does not match the mechanism",
                ));
            }
        }
        let mut public = self.new_object_attrs(
            slot,
            Origin::Generate,
            public_template,
            &pub_values,
            CKO_PUBLIC_KEY,
            key_type,
        )?;
        let mut private = self.new_object_attrs(
            slot,
            Origin::Generate,
            private_template,
            &priv_values,
            CKO_PRIVATE_KEY,
            key_type,
        )?;
        public.set_ulong(CKA_KEY_GEN_MECHANISM, mech.mechanism_type);
        private.set_ulong(CKA_KEY_GEN_MECHANISM, mech.mechanism_type);
        let handles = self.insert_objects(&mut session.lock(), slot, vec![public, private])?;
        Ok((handles[0], handles[1]))
    }

    /// `C_WrapKey`.
    pub fn wrap_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        wrapping_key: CK_OBJECT_HANDLE,
        key: CK_OBJECT_HANDLE,
        capacity: Option<usize>,
    ) -> Result<Output> {
        self.wrap_key_with(h, mech, None, wrapping_key, key, capacity)
    }

    /// `C_WrapKeyAuthenticated` (PKCS#11 3.2): `C_WrapKey` with an AEAD mechanism
    /// (`crypto::authenticated_wrap`) authenticating `associated_data` with the key's bytes;
    /// every rule of `C_WrapKey` applies. The token's vendor model decides whether the call
    /// exists (`TokenModel::check_authenticated_wrapping`).
    pub fn wrap_key_authenticated(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        wrapping_key: CK_OBJECT_HANDLE,
        key: CK_OBJECT_HANDLE,
        associated_data: &[u8],
        capacity: Option<usize>,
    ) -> Result<Output> {
        self.wrap_key_with(h, mech, Some(associated_data), wrapping_key, key, capacity)
    }

    /// `C_WrapKey`, or `C_WrapKeyAuthenticated` when `associated_data` is given.
    fn wrap_key_with(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        associated_data: Option<&[u8]>,
        wrapping_key: CK_OBJECT_HANDLE,
        key: CK_OBJECT_HANDLE,
        capacity: Option<usize>,
    ) -> Result<Output> {
        let (_, slot) = self.slot_of(h)?;
        let effective = authenticated_mechanism(slot, mech, associated_data)?;
        let mech: &Mechanism = &effective;
        let (wrapping, wrapping_material) = self
            .operation_key(slot, wrapping_key, CKA_WRAP, mech, CKF_WRAP)
            .map_err(|e| retarget(e, CKR_KEY_HANDLE_INVALID, CKR_WRAPPING_KEY_HANDLE_INVALID))
            .map_err(|e| {
                retarget(
                    e,
                    CKR_KEY_TYPE_INCONSISTENT,
                    CKR_WRAPPING_KEY_TYPE_INCONSISTENT,
                )
            })?;
        let target = self.usable_object(slot, key, CKR_KEY_HANDLE_INVALID)?;
        slot.check_may_export()?;
        if !matches!(target.class(), CKO_SECRET_KEY | CKO_PRIVATE_KEY) {
            return Err(err(
                CKR_KEY_NOT_WRAPPABLE,
                "only secret and private keys can be wrapped",
            ));
        }
        if !target.attrs.flag(CKA_EXTRACTABLE, false) {
            return Err(err(
                CKR_KEY_UNEXTRACTABLE,
                "the key has CKA_EXTRACTABLE false",
            ));
        }
        if target.attrs.flag(CKA_WRAP_WITH_TRUSTED, false)
            && !wrapping.attrs.flag(CKA_TRUSTED, false)
        {
            return Err(err(
                CKR_KEY_NOT_WRAPPABLE,
                "the key may only be wrapped by a CKA_TRUSTED key",
            ));
        }
        if let Some(AttrValue::Template(t)) = wrapping.attrs.get(CKA_WRAP_TEMPLATE)
            && !t
                .iter()
                .all(|(ty, v)| target.attrs.bytes(*ty) == Some(v.as_slice()))
        {
            return Err(err(
                CKR_KEY_NOT_WRAPPABLE,
                "the key does not match the wrapping key's CKA_WRAP_TEMPLATE",
            ));
        }
        let material = target.key_material()?;
        let plain: Zeroizing<Vec<u8>> = match target.class() {
            CKO_SECRET_KEY => material.secret()?.value.clone(),
            _ => mechs::private_key_to_pkcs8(&material)?,
        };
        let wrapped = mechs::wrap(mech, &wrapping_material, &plain)?;
        Ok(match capacity {
            None => Output::Size(wrapped.len()),
            Some(c) if c < wrapped.len() => Output::TooSmall(wrapped.len()),
            Some(_) => Output::Data(wrapped),
        })
    }

    /// `C_UnwrapKey`.
    pub fn unwrap_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        unwrapping_key: CK_OBJECT_HANDLE,
        wrapped: &[u8],
        template: &Attributes,
    ) -> Result<CK_OBJECT_HANDLE> {
        self.unwrap_key_with(h, mech, None, unwrapping_key, wrapped, template)
    }

    /// `C_UnwrapKeyAuthenticated` (PKCS#11 3.2): `C_UnwrapKey` with an AEAD mechanism whose
    /// tag must authenticate `associated_data` and the wrapped key; every rule of `C_UnwrapKey`
    /// applies. A tag that does not verify (wrong associated data, altered blob, wrong key or
    /// IV) is `CKR_WRAPPED_KEY_INVALID`, as for `C_UnwrapKey` (PKCS#11 3.2 lists it for
    /// `C_UnwrapKeyAuthenticated`; `CKR_ENCRYPTED_DATA_INVALID` is not among its codes).
    pub fn unwrap_key_authenticated(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        unwrapping_key: CK_OBJECT_HANDLE,
        wrapped: &[u8],
        template: &Attributes,
        associated_data: &[u8],
    ) -> Result<CK_OBJECT_HANDLE> {
        self.unwrap_key_with(
            h,
            mech,
            Some(associated_data),
            unwrapping_key,
            wrapped,
            template,
        )
    }

    /// `C_UnwrapKey`, or `C_UnwrapKeyAuthenticated` when `associated_data` is given.
    fn unwrap_key_with(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        associated_data: Option<&[u8]>,
        unwrapping_key: CK_OBJECT_HANDLE,
        wrapped: &[u8],
        template: &Attributes,
    ) -> Result<CK_OBJECT_HANDLE> {
        let (session, slot) = self.slot_of(h)?;
        let effective = authenticated_mechanism(slot, mech, associated_data)?;
        let mech: &Mechanism = &effective;
        let (unwrapping, material) = self
            .operation_key(slot, unwrapping_key, CKA_UNWRAP, mech, CKF_UNWRAP)
            .map_err(|e| retarget(e, CKR_KEY_HANDLE_INVALID, CKR_UNWRAPPING_KEY_HANDLE_INVALID))
            .map_err(|e| {
                retarget(
                    e,
                    CKR_KEY_TYPE_INCONSISTENT,
                    CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
                )
            })?;
        let template = with_required_template(template, unwrapping.attrs.get(CKA_UNWRAP_TEMPLATE))?
            .into_owned();
        let class = template.require_ulong(CKA_CLASS)?;
        self.precheck_new_object(session.lock().is_rw(), slot, &template, class)?;
        let plain = mechs::unwrap(mech, &material, wrapped)?;
        let mut template = template;
        let mut computed = Attributes::new();
        let key_type = match class {
            CKO_SECRET_KEY => {
                let key_type = template.require_ulong(CKA_KEY_TYPE)?;
                // The key's length: CKA_VALUE_LEN, else the key type's fixed length, else all
                // the unwrapped bytes (PKCS#11: the result is truncated "according to the
                // CKA_KEY_TYPE attribute of the template and, if it has one, and the key type
                // supports it, the CKA_VALUE_LEN attribute").
                // The fixed length trims only what a padding mechanism returns; otherwise the
                // unwrapped bytes are the key and must have the fixed length themselves.
                let given = template.ulong(CKA_VALUE_LEN).map(|v| v as usize);
                let fixed = mechs::des::fixed_value_len(key_type);
                let may_pad = mechs::unwrap_may_pad(mech);
                let len = given.or(fixed.filter(|_| may_pad)).unwrap_or(plain.len());
                template.remove(CKA_VALUE_LEN);
                if given.is_some_and(|g| g == 0 || g > plain.len() || fixed.is_some_and(|f| f != g))
                {
                    return Err(err(
                        CKR_TEMPLATE_INCONSISTENT,
                        "CKA_VALUE_LEN exceeds the unwrapped key or differs from the key type's length",
                    ));
                }
                if len > plain.len() {
                    return Err(err(
                        CKR_WRAPPED_KEY_INVALID,
                        "the unwrapped value is shorter than its key type's length",
                    ));
                }
                check_secret_len(key_type, len).map_err(|_| match given {
                    // The whole block is not a key of this type, and no CKA_VALUE_LEN says
                    // which part is (raw RSA's modulus-long block for an AES key).
                    None if may_pad => err(
                        CKR_TEMPLATE_INCOMPLETE,
                        "the key's length cannot be known: give CKA_VALUE_LEN",
                    ),
                    _ => err(
                        CKR_WRAPPED_KEY_INVALID,
                        "the unwrapped value has the wrong length for its key type",
                    ),
                })?;
                let value = mechs::unwrapped_value(mech, &plain, len);
                computed.set_bytes(CKA_VALUE, value.to_vec());
                computed.set_ulong(CKA_VALUE_LEN, len as CK_ULONG);
                key_type
            }
            CKO_PRIVATE_KEY => {
                computed = mechs::private_key_from_pkcs8(&plain)?;
                let key_type = computed.require_ulong(CKA_KEY_TYPE)?;
                if template.ulong(CKA_KEY_TYPE).is_some_and(|t| t != key_type) {
                    return Err(err(
                        CKR_TEMPLATE_INCONSISTENT,
                        "CKA_KEY_TYPE differs from the unwrapped key's type",
                    ));
                }
                key_type
            }
            _ => {
                return Err(err(
                    CKR_TEMPLATE_INCONSISTENT,
                    "only secret and private keys can be unwrapped",
                ));
            }
        };
        let attrs = self.new_object_attrs(
            slot,
            Origin::Unwrap,
            &template,
            &computed,
            class,
            Some(key_type),
        )?;
        self.insert_object(&mut session.lock(), slot, attrs)
    }

    /// `C_EncapsulateKey` (PKCS#11 3.2): a fresh shared secret encapsulated to `public_key`
    /// (`CKA_ENCAPSULATE` true), which becomes a new secret key made from `template` (merged
    /// with the key's `CKA_ENCAPSULATE_TEMPLATE`). `capacity` is the caller's ciphertext
    /// buffer (`None`: a length query, no key is made). Returns the ciphertext (or its size)
    /// and the new key's handle when one was made.
    pub fn encapsulate_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        public_key: CK_OBJECT_HANDLE,
        template: &Attributes,
        capacity: Option<usize>,
    ) -> Result<(Output, Option<CK_OBJECT_HANDLE>)> {
        let (session, slot) = self.slot_of(h)?;
        let (key, material) =
            self.operation_key(slot, public_key, CKA_ENCAPSULATE, mech, CKF_ENCAPSULATE)?;
        let template = with_required_template(template, key.attrs.get(CKA_ENCAPSULATE_TEMPLATE))?;
        let len = mechs::encapsulated_len(mech, &material)?;
        match capacity {
            None => return Ok((Output::Size(len), None)),
            Some(c) if c < len => return Ok((Output::TooSmall(len), None)),
            Some(_) => {}
        }
        let mut ciphertext = Vec::new();
        let handle = self.shared_secret_key(&session, slot, template, || {
            let (c, secret) = mechs::encapsulate(mech, &material)?;
            ciphertext = c;
            Ok(secret)
        })?;
        Ok((Output::Data(ciphertext), Some(handle)))
    }

    /// `C_DecapsulateKey` (PKCS#11 3.2): the shared secret of `ciphertext` recovered with
    /// `private_key` (`CKA_DECAPSULATE` true) becomes a new secret key made from `template`
    /// (merged with the key's `CKA_DECAPSULATE_TEMPLATE`).
    pub fn decapsulate_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        private_key: CK_OBJECT_HANDLE,
        template: &Attributes,
        ciphertext: &[u8],
    ) -> Result<CK_OBJECT_HANDLE> {
        let (session, slot) = self.slot_of(h)?;
        let (key, material) =
            self.operation_key(slot, private_key, CKA_DECAPSULATE, mech, CKF_DECAPSULATE)?;
        let template = with_required_template(template, key.attrs.get(CKA_DECAPSULATE_TEMPLATE))?;
        self.shared_secret_key(&session, slot, template, || {
            mechs::decapsulate(mech, &material, ciphertext)
        })
    }

    /// The secret key a KEM's shared secret becomes (`C_EncapsulateKey`, `C_DecapsulateKey`):
    /// `template` checked as a new object of the session first, then `secret` run and its
    /// result made into the key with the rules of an unwrapped one.
    fn shared_secret_key(
        &self,
        session: &Arc<Mutex<Session>>,
        slot: &Arc<Slot>,
        mut template: Cow<'_, Attributes>,
        secret: impl FnOnce() -> Result<Zeroizing<Vec<u8>>>,
    ) -> Result<CK_OBJECT_HANDLE> {
        let (class, _, _) = secret_from_shared(&template, None)?;
        self.precheck_new_object(session.lock().is_rw(), slot, &template, class)?;
        let secret = secret()?;
        let (class, computed, key_type) = secret_from_shared(&template, Some(&secret))?;
        // The computed attributes give the length.
        if template.contains(CKA_VALUE_LEN) {
            template.to_mut().remove(CKA_VALUE_LEN);
        }
        let attrs = self.new_object_attrs(
            slot,
            Origin::Unwrap,
            &template,
            &computed,
            class,
            Some(key_type),
        )?;
        self.insert_object(&mut session.lock(), slot, attrs)
    }

    /// `C_DeriveKey` for one key (every mechanism but SP 800-108 with additional keys).
    pub fn derive_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        base_key: CK_OBJECT_HANDLE,
        template: &Attributes,
    ) -> Result<CK_OBJECT_HANDLE> {
        self.derive_keys(h, mech, base_key, template)
            .map(|(k, _)| k)
    }

    /// `C_DeriveKey`: secret keys from a base key (ECDH, the secret-key derivations of
    /// `mechanisms::kdf`). Returns the main key and SP 800-108's additional keys, created all
    /// or none.
    pub fn derive_keys(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        base_key: CK_OBJECT_HANDLE,
        template: &Attributes,
    ) -> Result<(CK_OBJECT_HANDLE, Vec<CK_OBJECT_HANDLE>)> {
        let (session, slot) = self.slot_of(h)?;
        let (base, material) = self.operation_key(slot, base_key, CKA_DERIVE, mech, CKF_DERIVE)?;
        let kdf_family = mechs::lookup(mech.mechanism_type)?.family == mechs::Family::Kdf;
        // CKM_CONCATENATE_BASE_AND_KEY's second key: visible and a secret key.
        let other = match &mech.params {
            mechs::MechParams::KeyHandle(k) if kdf_family => {
                let o = self.usable_object(slot, *k, CKR_KEY_HANDLE_INVALID)?;
                if o.class() != CKO_SECRET_KEY {
                    return Err(err(
                        CKR_KEY_TYPE_INCONSISTENT,
                        "the key to concatenate must be a secret key",
                    ));
                }
                let m = o.key_material()?;
                Some((o, m))
            }
            _ => None,
        };
        let mut templates = vec![template.clone()];
        if let mechs::MechParams::Kbkdf(p) = &mech.params {
            templates.extend(p.additional.iter().cloned());
        }
        let mut prepared = Vec::with_capacity(templates.len());
        let mut lens = Vec::with_capacity(templates.len());
        for t in &templates {
            let mut t =
                with_required_template(t, base.attrs.get(CKA_DERIVE_TEMPLATE))?.into_owned();
            check_class(&t, CKO_SECRET_KEY)?;
            let key_type = match t.ulong(CKA_KEY_TYPE) {
                Some(kt) => kt,
                // The secret-key derivations default to a generic secret (PKCS#11 3.0 §2.43).
                None if kdf_family => {
                    t.set_ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET);
                    CKK_GENERIC_SECRET
                }
                None => t.require_ulong(CKA_KEY_TYPE)?,
            };
            if kdf_family {
                // Keys derived from secret keys get only the usages their template names
                // (simulator-defined, as kryoptic; the token-wide default turns them all on).
                for a in [
                    CKA_ENCRYPT,
                    CKA_DECRYPT,
                    CKA_SIGN,
                    CKA_VERIFY,
                    CKA_WRAP,
                    CKA_UNWRAP,
                ] {
                    if !t.contains(a) {
                        t.set_bool(a, false);
                    }
                }
            }
            if matches!(mech.params, mechs::MechParams::Kbkdf(_)) {
                // SP 800-108: CKA_SENSITIVE / CKA_EXTRACTABLE default to the base key's.
                for a in [CKA_SENSITIVE, CKA_EXTRACTABLE] {
                    if !t.contains(a)
                        && let Some(v) = base.attrs.bool(a)
                    {
                        t.set_bool(a, v);
                    }
                }
            }
            self.precheck_new_object(session.lock().is_rw(), slot, &t, CKO_SECRET_KEY)?;
            lens.push(
                t.ulong(CKA_VALUE_LEN)
                    .map(|l| l as usize)
                    .or(mechs::des::fixed_value_len(key_type)),
            );
            prepared.push((t, key_type));
        }
        let values = mechs::derive_keys(
            mech,
            &material,
            other.as_ref().map(|(_, m)| m.as_ref()),
            &lens,
        )?;
        let always_sensitive = base.attrs.flag(CKA_ALWAYS_SENSITIVE, false)
            && other
                .as_ref()
                .is_none_or(|(o, _)| o.attrs.flag(CKA_ALWAYS_SENSITIVE, false));
        let never_extractable = base.attrs.flag(CKA_NEVER_EXTRACTABLE, false)
            && other
                .as_ref()
                .is_none_or(|(o, _)| o.attrs.flag(CKA_NEVER_EXTRACTABLE, false));
        let exposes_base = matches!(
            mech.mechanism_type,
            CKM_CONCATENATE_BASE_AND_KEY
                | CKM_CONCATENATE_BASE_AND_DATA
                | CKM_CONCATENATE_DATA_AND_BASE
                | CKM_XOR_BASE_AND_DATA
                | CKM_EXTRACT_KEY_FROM_KEY
        );
        let bases: Vec<&Attributes> = std::iter::once(&base.attrs)
            .chain(other.as_ref().map(|(o, _)| &o.attrs))
            .collect();
        let mut objects = Vec::with_capacity(values.len());
        for ((mut template, key_type), value) in prepared.into_iter().zip(values) {
            check_secret_len(key_type, value.len())?;
            let mut computed = Attributes::new();
            computed.set_bytes(CKA_VALUE, value.to_vec());
            computed.set_ulong(CKA_VALUE_LEN, value.len() as CK_ULONG);
            template.remove(CKA_VALUE_LEN);
            let mut attrs = self.new_object_attrs(
                slot,
                Origin::Derive,
                &template,
                &computed,
                CKO_SECRET_KEY,
                Some(key_type),
            )?;
            if exposes_base {
                // PKCS#11 3.0 §2.43: a key made of the base keys' bits is sensitive if any of
                // them is, and unextractable if any of them is; otherwise a derivation would
                // reveal a sensitive key.
                if bases.iter().any(|k| k.flag(CKA_SENSITIVE, true)) {
                    attrs.set_bool(CKA_SENSITIVE, true);
                }
                if bases.iter().any(|k| !k.flag(CKA_EXTRACTABLE, false)) {
                    attrs.set_bool(CKA_EXTRACTABLE, false);
                }
            }
            let sensitive = attrs.flag(CKA_SENSITIVE, false);
            let extractable = attrs.flag(CKA_EXTRACTABLE, false);
            attrs.set_bool(CKA_ALWAYS_SENSITIVE, always_sensitive && sensitive);
            attrs.set_bool(CKA_NEVER_EXTRACTABLE, never_extractable && !extractable);
            objects.push(attrs);
        }
        let mut handles = self.insert_objects(&mut session.lock(), slot, objects)?;
        let main = handles
            .first()
            .copied()
            .ok_or_else(|| err(CKR_FUNCTION_FAILED, "no key was derived"))?;
        Ok((main, handles.split_off(1)))
    }

    /// `C_GenerateRandom`.
    pub fn generate_random(&self, h: CK_SESSION_HANDLE, out: &mut [u8]) -> Result<()> {
        self.session(h)?;
        crate::base::random::random_fill(out)
    }
}

/// The mechanism a wrap or unwrap runs: `mech` itself for `C_WrapKey` / `C_UnwrapKey`; for the
/// authenticated calls (`associated_data` given), once the token's model has them, `mech` with
/// the associated data joined (`crypto::authenticated_wrap`, which also refuses mechanisms that
/// are not AEAD).
fn authenticated_mechanism<'a>(
    slot: &Slot,
    mech: &'a Mechanism,
    associated_data: Option<&[u8]>,
) -> Result<Cow<'a, Mechanism>> {
    match associated_data {
        None => Ok(Cow::Borrowed(mech)),
        Some(aad) => {
            slot.model.check_authenticated_wrapping()?;
            mechs::authenticated_wrap::with_associated_data(mech, aad).map(Cow::Owned)
        }
    }
}

/// `CKR_TEMPLATE_INCONSISTENT` when a template names a class other than `class`.
fn check_class(template: &Attributes, class: CK_OBJECT_CLASS) -> Result<()> {
    match template.ulong(CKA_CLASS) {
        Some(c) if c != class => Err(err(
            CKR_TEMPLATE_INCONSISTENT,
            "CKA_CLASS does not suit this call",
        )),
        _ => Ok(()),
    }
}

/// A template merged with a key's `CKA_UNWRAP_TEMPLATE` / `CKA_DERIVE_TEMPLATE`: conflicting
/// values are `CKR_TEMPLATE_INCONSISTENT`.
fn with_required_template<'t>(
    template: &'t Attributes,
    required: Option<&AttrValue>,
) -> Result<Cow<'t, Attributes>> {
    let mut out = Cow::Borrowed(template);
    if let Some(AttrValue::Template(items)) = required
        && !items.is_empty()
    {
        let out = out.to_mut();
        for (t, v) in items {
            match template.bytes(*t) {
                Some(given) if given != v.as_slice() => {
                    return Err(err(
                        CKR_TEMPLATE_INCONSISTENT,
                        format!("attribute 0x{t:X} conflicts with the key's required template"),
                    ));
                }
                _ => out.set_bytes(*t, v.clone()),
            }
        }
    }
    Ok(out)
}

/// The lengths each secret key type allows (the object rules' table).
fn check_secret_len(key_type: CK_KEY_TYPE, len: usize) -> Result<()> {
    if rules::secret_len_allowed(key_type, len) {
        Ok(())
    } else {
        Err(err(
            CKR_KEY_SIZE_RANGE,
            "the key length does not suit its key type",
        ))
    }
}

/// The class, computed attributes (`CKA_VALUE`, `CKA_VALUE_LEN`) and key type of the secret key
/// a key encapsulation makes from `template`, checked before the work (`secret` = `None`: the
/// value is left out). The template must make a secret key (`CKA_CLASS` absent or
/// `CKO_SECRET_KEY`, `CKA_KEY_TYPE` given). Its value is the shared secret, or its leading
/// `CKA_VALUE_LEN` bytes when the template asks fewer (simulator-defined: PKCS#11 3.2 says the
/// shared secret becomes `CKA_VALUE`; taking the leading bytes, as the derivations truncate,
/// lets both sides agree on an AES-128 key from ML-KEM's 32-byte secret); a key type of fixed
/// length (DES3) takes that many.
fn secret_from_shared(
    template: &Attributes,
    secret: Option<&[u8]>,
) -> Result<(CK_OBJECT_CLASS, Attributes, CK_KEY_TYPE)> {
    let class = template.ulong(CKA_CLASS).unwrap_or(CKO_SECRET_KEY);
    if class != CKO_SECRET_KEY {
        return Err(err(
            CKR_TEMPLATE_INCONSISTENT,
            "a key encapsulation makes a secret key: CKA_CLASS must be CKO_SECRET_KEY",
        ));
    }
    let key_type = template.require_ulong(CKA_KEY_TYPE)?;
    const SHARED_LEN: usize = 32;
    let available = secret.map_or(SHARED_LEN, <[u8]>::len);
    let len = template
        .ulong(CKA_VALUE_LEN)
        .map(|v| v as usize)
        .or(mechs::des::fixed_value_len(key_type))
        .unwrap_or(available);
    if len == 0 || len > available {
        return Err(err(
            CKR_TEMPLATE_INCONSISTENT,
            format!("CKA_VALUE_LEN must be 1 to {available}, the shared secret's length"),
        ));
    }
    check_secret_len(key_type, len)?;
    let mut computed = Attributes::new();
    if let Some(s) = secret {
        computed.set_bytes(CKA_VALUE, s[..len].to_vec());
    }
    computed.set_ulong(CKA_VALUE_LEN, len as CK_ULONG);
    Ok((class, computed, key_type))
}
