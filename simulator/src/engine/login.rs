//! Roles and PINs: `C_Login`/`C_Logout`, `C_InitToken`, `C_InitPIN`, `C_SetPIN` and Luna's
//! `CA_InitRolePIN`. Which roles a token has, PIN lengths, the lockout threshold and forced PIN
//! changes come from the slot's `TokenModel`. A right PIN opens the token key sealed under it
//! (unlocking the token's key values in this process); failure counters and PIN changes are
//! read-modify-write transactions in the store, so processes sharing a token never lose each
//! other's updates. Each of them writes only while the stored token is still the incarnation
//! whose seal was opened (`Engine::update_slot_token`): a PIN checked against one
//! initialisation of a token never changes, or logs in to, the next one.
use super::sync::token_replaced;
use super::{Engine, Slot};
use crate::base::error::{Result, err};
use crate::base::random::random_u64;
use crate::base::secrets::seal::{PinSeal, TokenKey};
use crate::models::InitOptions;
use crate::models::luna;
use crate::store::records::{Incarnation, TokenRecord};
use cryptoki_sys::*;
use std::sync::Arc;

/// `CKR_PIN_LOCKED`, saying why the role is locked.
fn locked_error(
    rule: crate::models::luna::FailedLoginRule,
    role: Option<&crate::store::records::RoleRecord>,
    now: u64,
) -> crate::base::error::Error {
    use crate::models::luna::Consequence;
    let failures = role.map_or(0, |r| r.failures);
    let why = match (rule.consequence, role.and_then(|r| r.locked_until)) {
        (Consequence::LockFor(_), Some(until)) => format!(
            "the role is locked for {} more seconds after {} failed logins",
            until.saturating_sub(now),
            rule.threshold
        ),
        _ if failures < rule.threshold => {
            "the role is locked because the Crypto Officer is locked out".to_string()
        }
        _ => format!(
            "the PIN is locked after {} failed logins; the role that initialises it must reset it",
            rule.threshold
        ),
    };
    err(CKR_PIN_LOCKED, why)
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
            let (_, seen) = self.check_pin(slot, current, pin)?;
            if slot.incarnation() != seen {
                return Err(token_replaced());
            }
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
        let (key, seen) = if !slot.model.uses_ped() {
            self.check_pin(slot, user, pin)?
        } else if pin.is_empty() {
            // The PED prompts; the simulated PED answers with the presented key.
            let credential = self.ped_credential(slot, user, false)?;
            let (key, seen) = self.check_pin(slot, user, &credential)?;
            self.activate_if_allowed(slot, user, seen)?;
            (key, seen)
        } else {
            self.check_challenge(slot, user, pin)?
        };
        slot.log_in(user, key, seen)
    }

    /// What the simulated PED presents for `user`'s prompt: the key `HSMSIM_PED_KEYS` names
    /// for its colour, else the lab's key file for the role. `imprint`: a missing key file is
    /// created (a blank key imprinted when a role is initialised). No key: `CKR_PED_ERROR`.
    fn ped_credential(&self, slot: &Slot, user: CK_USER_TYPE, imprint: bool) -> Result<Vec<u8>> {
        use crate::models::ped::{self, PedKey};
        let colour = luna::ped_colour(user);
        let path = ped::presented_from_environment(colour)?.or_else(|| {
            slot.ped_keys
                .iter()
                .find(|(u, _)| *u == user)
                .map(|(_, p)| p.clone())
        });
        let Some(path) = path else {
            return Err(err(
                ped::CKR_PED_ERROR,
                format!(
                    "the PED waits for a {} key: none is presented (HSMSIM_PED_KEYS={}=path)",
                    colour.name(),
                    colour.name()
                ),
            ));
        };
        let key = if imprint {
            PedKey::load_or_create(&path, colour)?
        } else if path.exists() {
            PedKey::load(&path)?
        } else {
            return Err(err(
                ped::CKR_PED_ERROR,
                format!("the presented PED key {} does not exist", path.display()),
            ));
        };
        if key.colour != colour {
            // A key of the wrong colour is a wrong key: the secret cannot match.
            return Ok(Vec::new());
        }
        Ok(key.credential())
    }

    /// Partition policy 22 on: a PED login of the CO, LCO or CU caches the role's secret
    /// (activation; the SO's is never cached, Luna §2.4).
    fn activate_if_allowed(
        &self,
        slot: &Slot,
        user: CK_USER_TYPE,
        seen: Incarnation,
    ) -> Result<()> {
        let record = slot.token.read().clone();
        if !slot.model.activates_on_login(&record, user)
            || record.role(user).is_some_and(|r| r.activated)
        {
            return Ok(());
        }
        self.update_slot_token(slot, seen, |r| {
            r.role_mut(user).activated = true;
            Ok(((), true))
        })
    }

    /// A PED partition's challenge login: only for an activated role with a challenge secret.
    fn check_challenge(
        &self,
        slot: &Slot,
        user: CK_USER_TYPE,
        secret: &[u8],
    ) -> Result<(TokenKey, Incarnation)> {
        let role = slot.token.read().role(user).cloned().unwrap_or_default();
        match (&role.challenge, role.activated) {
            (Some(_), true) => self.check_secret(slot, user, secret, true),
            _ => Err(err(
                luna::CKR_USER_NOT_AUTHORIZED,
                "a PED partition logs in with its PED key (an empty PIN), or with the challenge secret once the role is activated",
            )),
        }
    }

    /// Checks a role's PIN by opening the token key sealed under it; counts failures and locks
    /// the role after the model's limit. A right PIN whose seal is in an older form (a schema-1
    /// verifier, a format-0 seal) is sealed again in the current form. Returns the key and the
    /// incarnation of the token it belongs to (what later writes must still find).
    fn check_pin(
        &self,
        slot: &Slot,
        user: CK_USER_TYPE,
        pin: &[u8],
    ) -> Result<(TokenKey, Incarnation)> {
        self.check_secret(slot, user, pin, false)
    }

    /// `check_pin`, against the role's PIN seal or (`challenge`) its challenge seal. The model
    /// counts the attempt (`TokenModel::count_login_attempt`: failures, timed lockouts, its
    /// login throttle) in the store transaction that also re-seals an outdated seal; reaching
    /// the role's threshold has the model's consequence, which the engine carries out: a lock,
    /// or a zeroised partition or HSM (`models::luna::Consequence`).
    fn check_secret(
        &self,
        slot: &Slot,
        user: CK_USER_TYPE,
        pin: &[u8],
        challenge: bool,
    ) -> Result<(TokenKey, Incarnation)> {
        use crate::models::luna::Consequence;
        let record = slot.token.read().clone();
        let seen = record.incarnation();
        let rule = slot.model.failed_login_rule(&record, user, slot.admin);
        let role = record.role(user).cloned().unwrap_or_default();
        let now = crate::base::clock::now();
        slot.model.check_login_throttle(&role, now)?;
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
        // Checked here to spare the key derivation, and again in the transaction below, where
        // another process's failures count too.
        let locked = |r: &TokenRecord| {
            slot.model
                .is_locked(r, user, slot.admin, now)
                .then(|| locked_error(rule, r.role(user), now))
        };
        if let Some(e) = locked(&record) {
            return Err(e);
        }
        let context = slot.seal_context(record.generation);
        let key = match (&role.seal, &role.legacy) {
            _ if challenge => role.challenge.as_ref().and_then(|c| c.open(pin, context)),
            (Some(seal), _) => seal.open(pin, context),
            (None, Some(legacy)) if legacy.matches(pin) => record
                .migration_key
                .as_deref()
                .map(TokenKey::from_bytes)
                .transpose()?,
            _ => None,
        };
        let outdated = role.seal.as_ref().is_none_or(PinSeal::is_outdated);
        let new_seal = match &key {
            Some(k) if outdated && !challenge => Some(PinSeal::new(pin, k, context)?),
            _ => None,
        };
        let failed = key.is_none();
        let (throttled, failures) = self.update_slot_token(slot, seen, |r| {
            if let Some(e) = locked(r) {
                return Err(e);
            }
            let stored = r.role_mut(user);
            let attempt = slot.model.count_login_attempt(stored, &rule, now, failed);
            let (throttled, failures) = (attempt.throttled, stored.failures);
            let mut write = attempt.changed;
            // Unless another process changed the PIN meanwhile: its seal stays.
            if let Some(seal) = new_seal.filter(|_| stored.seal == role.seal) {
                stored.seal = Some(seal);
                stored.legacy = None;
                if r.roles.values().all(|role| role.legacy.is_none()) {
                    r.migration_key = None;
                }
                write = true;
            }
            Ok(((throttled, failures), write))
        })?;
        let now_locked = failures >= rule.threshold || throttled;
        if let (None, true) = (&key, now_locked) {
            match rule.consequence {
                Consequence::ZeroisePartition => {
                    self.zeroise(slot)?;
                    return Err(err(
                        CKR_PIN_LOCKED,
                        "wrong PIN: the Partition SO failed too often and the partition was zeroised",
                    ));
                }
                Consequence::ZeroiseHsm => {
                    self.zeroise_hsm(slot)?;
                    return Err(err(
                        CKR_PIN_LOCKED,
                        "wrong PIN: the HSM SO failed 3 times and the HSM was zeroised (every partition is blank)",
                    ));
                }
                _ => {}
            }
        }
        match key {
            Some(key) => Ok((key, seen)),
            None if now_locked => Err(err(CKR_PIN_LOCKED, "wrong PIN: the PIN is now locked")),
            None => Err(err(CKR_PIN_INCORRECT, "wrong PIN")),
        }
    }

    /// Zeroises a partition: every object and role goes; the token is blank (serial kept).
    fn zeroise(&self, slot: &Slot) -> Result<()> {
        let mut blank = slot.token.read().clone();
        let seen = blank.incarnation();
        crate::store::records::blank_record_keeping_serial(&slot.partition, &mut blank)?;
        let mut table = slot.objects.write();
        self.store.reinitialize_token(
            &slot.partition,
            |current| {
                // The failures that called for it were counted on this incarnation.
                if current.incarnation() == seen {
                    Ok(())
                } else {
                    Err(token_replaced())
                }
            },
            &blank,
        )?;
        table.clear();
        table.loaded = true;
        *slot.token.write() = blank;
        *slot.key.write() = None;
        slot.set_login(None);
        self.close_slot_sessions(slot.id);
        Ok(())
    }

    /// Zeroises the HSM of a Luna slot: every partition of the device (the admin partition
    /// too) becomes blank, in one transaction; this process's slots on it are replaced as if
    /// another process had done it (sessions closed, a slot event each). HSM policies stay.
    fn zeroise_hsm(&self, slot: &Slot) -> Result<()> {
        let Some(device) = slot.model.device_name() else {
            return self.zeroise(slot);
        };
        let prefix = format!("{device}/");
        crate::estate::zeroise_device_in(&self.store, device)?;
        for s in self
            .slots
            .values()
            .filter(|s| s.partition.starts_with(&prefix))
        {
            self.refresh_token(s, false)?;
        }
        Ok(())
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
            presented = self.ped_credential(slot, CKU_SO, true)?;
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
        let mut new = TokenRecord::uninitialized(&slot.partition);
        new.serial = serial;
        new.label = label;
        new.initialized = true;
        new.generation = random_u64()?;
        new.role_mut(CKU_SO).seal = Some(PinSeal::new(
            so_pin,
            &key,
            slot.seal_context(new.generation),
        )?);
        let red = if ped && options.domain.is_none() {
            Self::red_key_credential()?
        } else {
            None
        };
        let vendor = slot.model.init_token_state(options, red.as_deref())?;
        new.vendor = vendor.map(crate::models::PartitionState::stored);
        let mut table = slot.objects.write();
        // Only over the token whose SO PIN was checked (or the blank token that was read).
        let mut lost = false;
        let written = self.store.reinitialize_token(
            &slot.partition,
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
        Ok(())
    }

    /// `C_InitPIN`: the SO sets the user's (Luna: the Crypto Officer's) PIN.
    pub fn init_pin(&self, handle: CK_SESSION_HANDLE, pin: &[u8]) -> Result<()> {
        let (_, slot) = self.slot_of(handle)?;
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
        slot.model.check_role(user)?;
        let initialiser = slot.model.initialiser_of(user);
        let Some(initialiser) = initialiser else {
            return Err(err(
                luna::CKR_USER_NOT_AUTHORIZED,
                format!("no role initialises user type 0x{user:X} here"),
            ));
        };
        match slot.logged_in() {
            None => Err(err(
                CKR_USER_NOT_LOGGED_IN,
                "log in as the role that initialises this one",
            )),
            Some(u) if u != initialiser => Err(err(
                luna::CKR_USER_NOT_AUTHORIZED,
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

    /// The red (cloning domain) key presented to a PED partition's initialisation, if any.
    pub(super) fn red_key_credential() -> Result<Option<Vec<u8>>> {
        use crate::models::ped::{self, Colour, PedKey};
        ped::presented_from_environment(Colour::Red)?
            .map(|path| PedKey::load_or_create(&path, Colour::Red).map(|k| k.credential()))
            .transpose()
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
            presented = self.ped_credential(slot, user, true)?;
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

impl Engine {
    /// Luna's `CA_CreateLoginChallenge`: the role that initialises `user` sets its challenge
    /// secret (7 to 16 characters), which logs it in once it is activated.
    pub fn create_login_challenge(
        &self,
        handle: CK_SESSION_HANDLE,
        user: CK_USER_TYPE,
        challenge: &[u8],
    ) -> Result<()> {
        let (_, slot) = self.slot_of(handle)?;
        slot.model.check_challenge_secrets()?;
        slot.model.check_role(user)?;
        let initialiser = slot.model.initialiser_of(user);
        if slot.logged_in().is_none() || slot.logged_in() != initialiser {
            return Err(err(
                luna::CKR_USER_NOT_AUTHORIZED,
                "the role that initialises this one sets its challenge secret",
            ));
        }
        if !(7..=16).contains(&challenge.len()) {
            return Err(err(
                CKR_PIN_LEN_RANGE,
                "a challenge secret is 7 to 16 characters",
            ));
        }
        let (key, seen) = slot
            .unlocked()
            .ok_or_else(|| err(CKR_USER_NOT_LOGGED_IN, "the token key is not unlocked"))?;
        let seal = PinSeal::new(challenge, &key, slot.seal_context(seen.generation))?;
        self.update_slot_token(slot, seen, |r| {
            r.role_mut(user).challenge = Some(seal);
            Ok(((), true))
        })
    }

    /// Luna's `CA_Deactivate`: drops a role's cached PED secret; its challenge no longer logs
    /// it in.
    pub fn deactivate(&self, slot_id: CK_SLOT_ID, user: CK_USER_TYPE) -> Result<()> {
        let slot = self.current_slot(slot_id)?;
        slot.model.check_role(user)?;
        self.update_slot_token(slot, slot.incarnation(), |r| {
            let was = r.role(user).is_some_and(|role| role.activated);
            if was {
                r.role_mut(user).activated = false;
            }
            Ok(((), was))
        })
    }
}
