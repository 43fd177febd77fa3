//! Roles and PINs: `C_Login`/`C_Logout`, `C_InitToken`, `C_InitPIN`, `C_SetPIN` and Luna's
//! `CA_InitRolePIN`. Which roles a token has, PIN lengths, the lockout threshold and forced PIN
//! changes come from the slot's `TokenModel`. A right PIN opens the token key sealed under it
//! (unlocking the token's key values in this process); failure counters and PIN changes are
//! read-modify-write transactions in the store, so processes sharing a token never lose each
//! other's updates.
use super::{Engine, Slot, random_u64};
use crate::error::{Result, err};
use crate::seal::{PinSeal, TokenKey};
use crate::token::TokenRecord;
use crate::vendor::luna;
use cryptoki_sys::*;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Options of a token initialisation beyond the SO PIN and label (Luna's `CA_InitToken`).
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// The cloning domain.
    pub domain: Option<Vec<u8>>,
    /// Partition policies to set, by id.
    pub policies: Vec<(u64, u64)>,
    /// Destructiveness of policies fixed for this partition, by id: (off -> on, on -> off).
    pub destructive: Vec<(u64, (bool, bool))>,
}

impl Engine {
    /// `C_Login` for `CKU_SO`, `CKU_USER`, `CKU_CONTEXT_SPECIFIC` and the model's vendor roles.
    pub fn login(&self, handle: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        let (session, slot) = self.slot_of(handle)?;
        if user == CKU_CONTEXT_SPECIFIC {
            let Some(current) = slot.logged_in().filter(|u| *u != CKU_SO) else {
                return Err(err(
                    CKR_USER_NOT_LOGGED_IN,
                    "log in as the user before re-authenticating",
                ));
            };
            if !session.lock().awaits_context_login() {
                return Err(err(
                    CKR_OPERATION_NOT_INITIALIZED,
                    "no operation with a CKA_ALWAYS_AUTHENTICATE key is waiting",
                ));
            }
            self.check_pin(slot, current, pin)?;
            session.lock().context_login_done();
            return Ok(());
        }
        slot.model.check_role(user)?;
        match slot.logged_in() {
            Some(u) if u == user => {
                return Err(err(CKR_USER_ALREADY_LOGGED_IN, "already logged in"));
            }
            Some(_) => {
                return Err(err(
                    CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
                    "another user is logged in",
                ));
            }
            None => {}
        }
        if user == CKU_SO && self.sessions_on(slot.id).iter().any(|s| !s.lock().is_rw()) {
            return Err(err(
                CKR_SESSION_READ_ONLY_EXISTS,
                "close the read-only sessions first",
            ));
        }
        let key = self.check_pin(slot, user, pin)?;
        *slot.key.write() = Some(Arc::new(key));
        let must_change = slot.token.read().role(user).is_some_and(|r| r.must_change);
        slot.pin_expired.store(must_change, Ordering::Release);
        slot.set_login(Some(user));
        Ok(())
    }

    /// Checks a role's PIN by opening the token key sealed under it; counts failures and locks
    /// the role after the model's limit. A schema-1 token's first right PIN seals the key.
    fn check_pin(&self, slot: &Slot, user: CK_USER_TYPE, pin: &[u8]) -> Result<TokenKey> {
        let record = slot.token.read().clone();
        let limit = slot.model.max_failed_logins(&record);
        let role = record.role(user).cloned().unwrap_or_default();
        if !role.has_pin() {
            return Err(err(
                if user == CKU_SO {
                    CKR_PIN_INCORRECT
                } else {
                    CKR_USER_PIN_NOT_INITIALIZED
                },
                "the role's PIN is not initialised",
            ));
        }
        if role.failures >= limit {
            return Err(err(
                CKR_PIN_LOCKED,
                format!("the PIN is locked after {limit} failed logins"),
            ));
        }
        let context = slot.seal_context();
        let key = match (&role.seal, &role.legacy) {
            (Some(seal), _) => seal.open(pin, context),
            (None, Some(legacy)) if legacy.matches(pin) => record
                .migration_key
                .as_deref()
                .map(TokenKey::from_bytes)
                .transpose()?,
            _ => None,
        };
        let new_seal = match &key {
            Some(k) if role.seal.is_none() => Some(PinSeal::new(pin, k, context)?),
            _ => None,
        };
        let failed = key.is_none();
        let (_, updated) = self.store.update_token(&slot.partition, |r| {
            let stored = r.role_mut(user);
            let before = stored.failures;
            stored.failures = if failed { before + 1 } else { 0 };
            let mut write = stored.failures != before;
            if let Some(seal) = new_seal {
                stored.seal = Some(seal);
                stored.legacy = None;
                if r.roles.values().all(|role| role.legacy.is_none()) {
                    r.migration_key = None;
                }
                write = true;
            }
            Ok(((), write))
        })?;
        let now_locked = updated.failures(user) >= limit;
        *slot.token.write() = updated;
        match key {
            Some(key) => Ok(key),
            None if now_locked => Err(err(CKR_PIN_LOCKED, "wrong PIN: the PIN is now locked")),
            None => Err(err(CKR_PIN_INCORRECT, "wrong PIN")),
        }
    }

    /// `C_Logout`: private session objects are destroyed. The token key stays unlocked in this
    /// process (simulator-defined, like an activated partition).
    pub fn logout(&self, handle: CK_SESSION_HANDLE) -> Result<()> {
        let (_, slot) = self.slot_of(handle)?;
        if slot.logged_in().is_none() {
            return Err(err(CKR_USER_NOT_LOGGED_IN, "nobody is logged in"));
        }
        slot.set_login(None);
        slot.pin_expired.store(false, Ordering::Release);
        for s in self.sessions_on(slot.id) {
            let mut s = s.lock();
            let mut table = slot.objects.write();
            let private: Vec<_> = s
                .owned_objects
                .iter()
                .copied()
                .filter(|h| table.get(*h).is_some_and(|o| o.is_private()))
                .collect();
            for h in private {
                table.remove(h);
                s.owned_objects.retain(|x| *x != h);
            }
            s.end_all_operations();
        }
        Ok(())
    }

    /// `C_InitToken`: (re)initialises a token with a new SO PIN, label and token key,
    /// destroying every object on it.
    pub fn init_token(&self, slot_id: CK_SLOT_ID, so_pin: &[u8], label: &[u8]) -> Result<()> {
        self.init_token_with(slot_id, so_pin, label, &InitOptions::default())
    }

    /// `C_InitToken` with Luna's `CA_InitToken` extras: the cloning domain and initial
    /// partition policies.
    pub fn init_token_with(
        &self,
        slot_id: CK_SLOT_ID,
        so_pin: &[u8],
        label: &[u8],
        options: &InitOptions,
    ) -> Result<()> {
        let slot = self.current_slot(slot_id)?;
        slot.require_token()?;
        if !self.sessions_on(slot_id).is_empty() {
            return Err(err(
                CKR_SESSION_EXISTS,
                "close every session on the token first",
            ));
        }
        slot.model.check_pin_len(so_pin)?;
        let (seen, serial) = {
            let record = slot.token.read();
            (
                record.initialized.then_some(record.generation),
                record.serial.clone(),
            )
        };
        if seen.is_some() {
            self.check_pin(slot, CKU_SO, so_pin)?;
        }
        let label = String::from_utf8_lossy(label)
            .trim_end_matches([' ', '\0'])
            .to_string();
        let key = TokenKey::generate()?;
        let mut new = TokenRecord::uninitialized(&slot.partition);
        new.serial = serial;
        new.label = label;
        new.initialized = true;
        new.generation = random_u64()?;
        new.role_mut(CKU_SO).seal = Some(PinSeal::new(so_pin, &key, slot.seal_context())?);
        new.vendor = slot.model.initial_state();
        match (slot.model.luna(), new.vendor.as_mut()) {
            (Some(device), Some(crate::vendor::PartitionState::Luna(state))) => {
                state.domain = options.domain.as_deref().map(luna::domain_verifier);
                for (id, d) in &options.destructive {
                    if luna::partition_policy(*id).is_none() {
                        return Err(err(
                            luna::CKR_POLICY_ID_INVALID,
                            format!("there is no partition policy {id}"),
                        ));
                    }
                    state.destructive.insert(*id, *d);
                }
                state.apply(device, &options.policies, true)?;
            }
            _ if options.domain.is_some()
                || !options.policies.is_empty()
                || !options.destructive.is_empty() =>
            {
                return Err(err(
                    CKR_ARGUMENTS_BAD,
                    "cloning domains and partition policies apply to Luna partitions only",
                ));
            }
            _ => {}
        }
        let mut table = slot.objects.write();
        self.store.reinitialize_token(
            &slot.partition,
            |current| match seen {
                Some(g) if current.initialized && current.generation != g => Err(err(
                    CKR_FUNCTION_FAILED,
                    "another process re-initialised the token meanwhile",
                )),
                _ => Ok(()),
            },
            &new,
        )?;
        table.clear();
        *slot.token.write() = new;
        *slot.key.write() = Some(Arc::new(key));
        slot.set_login(None);
        Ok(())
    }

    /// `C_InitPIN`: the SO sets the user's (Luna: the Crypto Officer's) PIN.
    pub fn init_pin(&self, handle: CK_SESSION_HANDLE, pin: &[u8]) -> Result<()> {
        let (_, slot) = self.slot_of(handle)?;
        if slot.logged_in() != Some(CKU_SO) {
            return Err(err(
                CKR_USER_NOT_LOGGED_IN,
                "only the SO may initialise the user PIN",
            ));
        }
        self.set_role_pin(slot, CKU_USER, pin)
    }

    /// Luna's `CA_InitRolePIN`: a role initialises the PIN of the role below it (PO -> CO,
    /// CO -> CU and LCO). Anyone else: `CKR_USER_NOT_AUTHORIZED`.
    pub fn init_role_pin(
        &self,
        handle: CK_SESSION_HANDLE,
        user: CK_USER_TYPE,
        pin: &[u8],
    ) -> Result<()> {
        let (_, slot) = self.slot_of(handle)?;
        slot.model.check_role(user)?;
        let initialiser = match slot.model.luna() {
            Some(device) => device.initialiser_of(user),
            None => (user == CKU_USER).then_some(CKU_SO),
        };
        let Some(initialiser) = initialiser else {
            return Err(err(
                CKR_USER_NOT_AUTHORIZED_LUNA,
                format!("no role initialises user type 0x{user:X} here"),
            ));
        };
        match slot.logged_in() {
            None => Err(err(
                CKR_USER_NOT_LOGGED_IN,
                "log in as the role that initialises this one",
            )),
            Some(u) if u != initialiser => Err(err(
                CKR_USER_NOT_AUTHORIZED_LUNA,
                format!(
                    "user type 0x{initialiser:X} initialises user type 0x{user:X}, not 0x{u:X}"
                ),
            )),
            Some(_) => {
                slot.check_pin_current()?;
                self.set_role_pin(slot, user, pin)
            }
        }
    }

    /// Seals the token key under a new PIN for `user`, set by another role: under Luna HSM
    /// policy 21 the role must change it at its first login.
    fn set_role_pin(&self, slot: &Slot, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        slot.model.check_pin_len(pin)?;
        let key = slot
            .token_key()
            .ok_or_else(|| err(CKR_USER_NOT_LOGGED_IN, "the token key is not unlocked"))?;
        let seal = PinSeal::new(pin, &key, slot.seal_context())?;
        let must_change = slot.model.forces_pin_change();
        let (_, updated) = self.store.update_token(&slot.partition, |r| {
            let role = r.role_mut(user);
            role.seal = Some(seal);
            role.legacy = None;
            role.failures = 0;
            role.must_change = must_change;
            if r.roles.values().all(|role| role.legacy.is_none()) {
                r.migration_key = None;
            }
            Ok(((), true))
        })?;
        *slot.token.write() = updated;
        Ok(())
    }

    /// `C_SetPIN`: changes the PIN of whoever is logged in (the user when nobody is).
    pub fn set_pin(&self, handle: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> Result<()> {
        let (session, slot) = self.slot_of(handle)?;
        if !session.lock().is_rw() {
            return Err(err(
                CKR_SESSION_READ_ONLY,
                "changing a PIN needs a read/write session",
            ));
        }
        let user = slot.logged_in().unwrap_or(CKU_USER);
        let key = self.check_pin(slot, user, old)?;
        slot.model.check_pin_len(new)?;
        let seal = PinSeal::new(new, &key, slot.seal_context())?;
        let (_, updated) = self.store.update_token(&slot.partition, |r| {
            let role = r.role_mut(user);
            role.seal = Some(seal);
            role.must_change = false;
            Ok(((), true))
        })?;
        *slot.token.write() = updated;
        if slot.logged_in() == Some(user) {
            slot.pin_expired.store(false, Ordering::Release);
        }
        Ok(())
    }
}

/// Luna's `CKR_USER_NOT_AUTHORIZED`, re-exported under a name that says whose it is.
const CKR_USER_NOT_AUTHORIZED_LUNA: CK_RV = luna::CKR_USER_NOT_AUTHORIZED;
