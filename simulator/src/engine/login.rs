//! Roles and PINs: `C_Login`/`C_Logout`, `C_InitToken`, `C_InitPIN`, `C_SetPIN`. A right PIN
//! opens the token key sealed under it (unlocking the token's key values in this process);
//! failure counters and PIN changes are read-modify-write transactions in the store, so
//! processes sharing a token never lose each other's updates.
use super::{Engine, Slot, random_u64};
use crate::error::{Result, err};
use crate::seal::{PinSeal, TokenKey};
use crate::token::{self, TokenRecord};
use cryptoki_sys::*;
use std::sync::Arc;

impl Engine {
    /// `C_Login` for `CKU_SO`, `CKU_USER` and `CKU_CONTEXT_SPECIFIC`.
    pub fn login(&self, handle: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        let (session, slot) = self.slot_of(handle)?;
        if user == CKU_CONTEXT_SPECIFIC {
            if !slot.user_logged_in() {
                return Err(err(
                    CKR_USER_NOT_LOGGED_IN,
                    "log in as the user before re-authenticating",
                ));
            }
            if !session.lock().awaits_context_login() {
                return Err(err(
                    CKR_OPERATION_NOT_INITIALIZED,
                    "no operation with a CKA_ALWAYS_AUTHENTICATE key is waiting",
                ));
            }
            self.check_pin(slot, CKU_USER, pin)?;
            session.lock().context_login_done();
            return Ok(());
        }
        if user != CKU_SO && user != CKU_USER {
            return Err(err(
                CKR_USER_TYPE_INVALID,
                format!("user type {user} is not known"),
            ));
        }
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
        slot.set_login(Some(user));
        Ok(())
    }

    /// Checks a role's PIN by opening the token key sealed under it; counts failures and locks
    /// the role after too many. A schema-1 token's first right PIN seals the key under it.
    fn check_pin(&self, slot: &Slot, user: CK_USER_TYPE, pin: &[u8]) -> Result<TokenKey> {
        let record = slot.token.read().clone();
        let so = user == CKU_SO;
        let (seal, legacy, locked) = if so {
            (&record.so_seal, &record.legacy_so, record.so_locked())
        } else {
            (&record.user_seal, &record.legacy_user, record.user_locked())
        };
        if seal.is_none() && legacy.is_none() {
            return Err(err(
                if so {
                    CKR_PIN_INCORRECT
                } else {
                    CKR_USER_PIN_NOT_INITIALIZED
                },
                "the PIN is not initialised",
            ));
        }
        if locked {
            return Err(err(
                CKR_PIN_LOCKED,
                "the PIN is locked after too many failed logins",
            ));
        }
        let context = slot.seal_context();
        let key = match (seal, legacy) {
            (Some(seal), _) => seal.open(pin, context),
            (None, Some(legacy)) if legacy.matches(pin) => record
                .migration_key
                .as_deref()
                .map(TokenKey::from_bytes)
                .transpose()?,
            _ => None,
        };
        let migrate = key.is_some() && seal.is_none();
        let new_seal = match (&key, migrate) {
            (Some(k), true) => Some(PinSeal::new(pin, k, context)?),
            _ => None,
        };
        let failed = key.is_none();
        let (_, updated) = self.store.update_token(&slot.partition, |r| {
            let counter = if so {
                &mut r.so_failures
            } else {
                &mut r.user_failures
            };
            let before = *counter;
            *counter = if failed { before + 1 } else { 0 };
            let mut write = *counter != before;
            if let Some(seal) = new_seal {
                if so {
                    r.so_seal = Some(seal);
                    r.legacy_so = None;
                } else {
                    r.user_seal = Some(seal);
                    r.legacy_user = None;
                }
                if r.legacy_so.is_none() && r.legacy_user.is_none() {
                    r.migration_key = None;
                }
                write = true;
            }
            Ok(((), write))
        })?;
        let now_locked = if so {
            updated.so_locked()
        } else {
            updated.user_locked()
        };
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
        let slot = self.current_slot(slot_id)?;
        slot.require_token()?;
        if !self.sessions_on(slot_id).is_empty() {
            return Err(err(
                CKR_SESSION_EXISTS,
                "close every session on the token first",
            ));
        }
        token::check_pin_len(so_pin)?;
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
        new.so_seal = Some(PinSeal::new(so_pin, &key, slot.seal_context())?);
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

    /// `C_InitPIN`: the SO sets the user PIN (sealing the token key under it).
    pub fn init_pin(&self, handle: CK_SESSION_HANDLE, pin: &[u8]) -> Result<()> {
        let (_, slot) = self.slot_of(handle)?;
        if slot.logged_in() != Some(CKU_SO) {
            return Err(err(
                CKR_USER_NOT_LOGGED_IN,
                "only the SO may initialise the user PIN",
            ));
        }
        token::check_pin_len(pin)?;
        let key = slot
            .token_key()
            .ok_or_else(|| err(CKR_USER_NOT_LOGGED_IN, "the token key is not unlocked"))?;
        let seal = PinSeal::new(pin, &key, slot.seal_context())?;
        let (_, updated) = self.store.update_token(&slot.partition, |r| {
            r.user_seal = Some(seal);
            r.legacy_user = None;
            r.user_failures = 0;
            if r.legacy_so.is_none() {
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
        let user = if slot.logged_in() == Some(CKU_SO) {
            CKU_SO
        } else {
            CKU_USER
        };
        let key = self.check_pin(slot, user, old)?;
        token::check_pin_len(new)?;
        let seal = PinSeal::new(new, &key, slot.seal_context())?;
        let (_, updated) = self.store.update_token(&slot.partition, |r| {
            if user == CKU_SO {
                r.so_seal = Some(seal);
            } else {
                r.user_seal = Some(seal);
            }
            Ok(((), true))
        })?;
        *slot.token.write() = updated;
        Ok(())
    }
}
