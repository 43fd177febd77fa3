//! Setting up tokens and PINs: `C_InitToken` (with Luna's `CA_InitToken` options),
//! `C_InitPIN`, Luna's `CA_InitRolePIN`, and `C_SetPIN`; a PIN set by another role must be
//! changed at first use where the model says so.
use super::{Engine, Slot};
use crate::base::error::{Result, err};
use crate::base::random::random_u64;
use crate::base::secrets::seal::{PinSeal, TokenKey};
use crate::models::InitOptions;
use crate::store::records::TokenRecord;
use cryptoki_sys::*;
use std::sync::Arc;

impl Engine {
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
        slot.refuse_on_ha("tokens are initialised")?;
        slot.require_token()?;
        slot.model.check_init_token()?;
        if !self.sessions_on(slot_id).is_empty() {
            return Err(err(
                CKR_SESSION_EXISTS,
                "close every session on the token first",
            ));
        }
        let ped = slot.model.uses_ped();
        let presented;
        let so_pin = if ped && so_pin.is_empty() {
            presented = slot.model.ped_credential(CKU_SO, &slot.ped_keys, true)?;
            &presented[..]
        } else {
            slot.model.check_pin_len(so_pin)?;
            so_pin
        };
        let (initialized, mut seen, serial) = {
            let record = slot.token.read();
            (
                record.initialized,
                record.incarnation(),
                record.serial.clone(),
            )
        };
        let replaced = || {
            err(
                CKR_FUNCTION_FAILED,
                "another process re-initialised the token meanwhile (simulator-defined)",
            )
        };
        if initialized {
            seen = self
                .check_pin(slot, CKU_SO, so_pin)
                .map_err(|e| {
                    if e.rv == CKR_SESSION_CLOSED {
                        replaced()
                    } else {
                        e
                    }
                })?
                .1;
        }
        let label = String::from_utf8_lossy(label)
            .trim_end_matches([' ', '\0'])
            .to_string();
        let key = TokenKey::generate()?;
        let mut new = TokenRecord::uninitialized(slot.partition());
        new.serial = serial;
        new.label = label;
        new.initialized = true;
        new.generation = random_u64()?;
        new.role_mut(CKU_SO).seal = Some(PinSeal::new(
            so_pin,
            &key,
            slot.seal_context(new.generation),
        )?);
        let red = if options.domain.is_none() {
            slot.model.presented_domain_secret()?
        } else {
            None
        };
        let vendor = slot.model.init_token_state(options, red.as_deref())?;
        new.vendor = vendor.map(crate::models::PartitionState::stored);
        let mut table = slot.objects.write();
        // Only over the token whose SO PIN was checked (or the blank token that was read).
        let mut lost = false;
        let written = self.store.reinitialize_token(
            slot.partition(),
            |current| {
                lost = current.incarnation() != seen;
                if lost { Err(replaced()) } else { Ok(()) }
            },
            &new,
        );
        if lost {
            drop(table);
            self.refresh_token(slot, false)?;
            return written;
        }
        written?;
        table.clear();
        *slot.token.write() = new;
        *slot.key.write() = Some(Arc::new(key));
        slot.set_login(None);
        drop(table);
        self.refresh_siblings(slot)
    }

    /// `C_InitPIN`: the SO sets the user's (Luna: the Crypto Officer's) PIN.
    pub fn init_pin(&self, handle: CK_SESSION_HANDLE, pin: &[u8]) -> Result<()> {
        let (_, slot) = self.slot_of(handle)?;
        slot.refuse_on_ha("PINs are initialised")?;
        slot.model.check_init_pin()?;
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
        slot.refuse_on_ha("PINs are initialised")?;
        slot.model.check_role(user)?;
        let initialiser = slot.model.initialiser_of(user);
        let Some(initialiser) = initialiser else {
            return Err(slot
                .model
                .role_not_authorized(format!("no role initialises user type 0x{user:X} here")));
        };
        match slot.logged_in() {
            None => Err(err(
                CKR_USER_NOT_LOGGED_IN,
                "log in as the role that initialises this one",
            )),
            Some(u) if u != initialiser => Err(slot.model.role_not_authorized(format!(
                "user type 0x{initialiser:X} initialises user type 0x{user:X}, not 0x{u:X}"
            ))),
            Some(_) => {
                slot.check_pin_current()?;
                self.set_role_pin(slot, user, pin)
            }
        }
    }

    /// Seals the token key under a new PIN for `user`, set by another role: under Luna HSM
    /// policy 21 the role must change it at its first login. PED partitions: an empty PIN
    /// imprints the presented PED key.
    fn set_role_pin(&self, slot: &Slot, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        let (key, seen) = slot
            .unlocked()
            .ok_or_else(|| err(CKR_USER_NOT_LOGGED_IN, "the token key is not unlocked"))?;
        if slot.token.read().has_pin(user) {
            slot.model.check_pin_reset(user)?;
        }
        let presented;
        let pin = if slot.model.uses_ped() && pin.is_empty() {
            presented = slot.model.ped_credential(user, &slot.ped_keys, true)?;
            &presented[..]
        } else {
            slot.model.check_pin_len(pin)?;
            pin
        };
        let seal = PinSeal::new(pin, &key, slot.seal_context(seen.generation))?;
        // A PED key is not changed by its user (simulator-defined: no forced change).
        let must_change = slot.model.forces_pin_change() && !slot.model.uses_ped();
        self.update_slot_token(slot, seen, |r| {
            let role = r.role_mut(user);
            role.seal = Some(seal);
            role.legacy = None;
            role.failures = 0;
            role.locked_until = None;
            role.must_change = must_change;
            if r.roles.values().all(|role| role.legacy.is_none()) {
                r.migration_key = None;
            }
            Ok(((), true))
        })
    }

    /// `C_SetPIN`: changes the PIN of whoever is logged in (the user when nobody is).
    pub fn set_pin(&self, handle: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> Result<()> {
        let (session, slot) = self.slot_of(handle)?;
        slot.refuse_on_ha("PINs are changed")?;
        if !session.lock().is_rw() {
            return Err(err(
                CKR_SESSION_READ_ONLY,
                "changing a PIN needs a read/write session",
            ));
        }
        if slot.model.uses_ped() {
            return Err(err(
                CKR_FUNCTION_NOT_SUPPORTED,
                "a PED partition's roles change their PED keys at the PED, not with C_SetPIN (simulator-defined)",
            ));
        }
        let user = slot.logged_in().unwrap_or(CKU_USER);
        let (key, seen) = self.check_pin(slot, user, old)?;
        slot.model.check_pin_len(new)?;
        let seal = PinSeal::new(new, &key, slot.seal_context(seen.generation))?;
        // Written only to the token whose seal the old PIN opened.
        self.update_slot_token(slot, seen, |r| {
            let role = r.role_mut(user);
            role.seal = Some(seal);
            role.must_change = false;
            Ok(((), true))
        })
    }
}
