//! Logging in and out: `C_Login`/`C_Logout`, PED logins, Luna's activation and challenge
//! secrets, and what reaching the failed-login threshold does (setting PINs and initialising
//! tokens: `pins.rs`). Which roles a token has, PIN lengths, the lockout threshold and forced PIN
//! changes come from the slot's `TokenModel`. A right PIN opens the token key sealed under it
//! (unlocking the token's key values in this process); failure counters and PIN changes are
//! read-modify-write transactions in the store, so processes sharing a token never lose each
//! other's updates. Each of them writes only while the stored token is still the incarnation
//! whose seal was opened (`Engine::update_slot_token`): a PIN checked against one
//! initialisation of a token never changes, or logs in to, the next one.
use super::sync::token_replaced;
use super::{Engine, Slot};
use crate::base::error::{Result, err};
use crate::base::secrets::seal::{PinSeal, TokenKey};
use crate::models::Consequence;
use crate::store::records::Incarnation;
use cryptoki_sys::*;

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
            let (_, seen) = self.check_pin(self.credential_slot(slot)?, current, pin)?;
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
        if slot.ha.is_some() {
            return self.ha_login(slot, user, pin);
        }
        let (key, seen) = self.authenticate(slot, user, pin)?;
        slot.log_in(user, std::sync::Arc::new(key), seen)
    }

    /// Checks the credential `C_Login` gives for `user` on a physical slot: a PIN, the PED's
    /// key (an empty PIN on a PED partition, activating the role where policy 22 says), or an
    /// activated role's challenge secret. Returns the token key it opens and the incarnation
    /// of the token it belongs to; logs nobody in.
    pub(super) fn authenticate(
        &self,
        slot: &Slot,
        user: CK_USER_TYPE,
        pin: &[u8],
    ) -> Result<(TokenKey, Incarnation)> {
        if !slot.model.uses_ped() {
            self.check_pin(slot, user, pin)
        } else if pin.is_empty() {
            // The PED prompts; the simulated PED answers with the presented key.
            let credential = slot.model.ped_credential(user, &slot.ped_keys, false)?;
            let (key, seen) = self.check_pin(slot, user, &credential)?;
            self.activate_if_allowed(slot, user, seen)?;
            Ok((key, seen))
        } else {
            self.check_challenge(slot, user, pin)
        }
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
            _ => Err(slot.model.role_not_authorized(
                "a PED partition logs in with its PED key (an empty PIN), or with the challenge secret once the role is activated",
            )),
        }
    }

    /// Checks a role's PIN by opening the token key sealed under it; counts failures and locks
    /// the role after the model's limit. A right PIN whose seal is in an older form (a schema-1
    /// verifier, a format-0 seal) is sealed again in the current form. Returns the key and the
    /// incarnation of the token it belongs to (what later writes must still find).
    pub(super) fn check_pin(
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
    /// or a zeroised partition or device (`models::Consequence`).
    fn check_secret(
        &self,
        slot: &Slot,
        user: CK_USER_TYPE,
        pin: &[u8],
        challenge: bool,
    ) -> Result<(TokenKey, Incarnation)> {
        let record = slot.token.read().clone();
        let seen = record.incarnation();
        let mut check = slot.model.check_credential(
            &record,
            slot.seal_context(record.generation),
            user,
            pin,
            slot.admin,
            challenge,
        )?;
        self.update_slot_token(slot, seen, |r| Ok(((), check.count(&slot.model, r)?)))?;
        let (consequence, key) = check.finish(&slot.model);
        match consequence {
            Some(Consequence::ZeroisePartition) => self.zeroise(slot)?,
            Some(Consequence::ZeroiseDevice) => self.zeroise_device(slot)?,
            _ => {}
        }
        key.map(|key| (key, seen))
    }

    /// Zeroises a partition: every object and role goes; the token is blank (serial kept).
    fn zeroise(&self, slot: &Slot) -> Result<()> {
        let mut blank = slot.token.read().clone();
        let seen = blank.incarnation();
        crate::store::records::blank_record_keeping_serial(slot.partition(), &mut blank)?;
        let mut table = slot.objects.write();
        self.store.reinitialize_token(
            slot.partition(),
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
        // Closing the sessions destroys their session objects, which takes the table.
        drop(table);
        self.close_slot_sessions(slot.id);
        self.refresh_siblings(slot)
    }

    /// Zeroises the device of a slot: every partition of the device (an admin partition
    /// too) becomes blank, in one transaction; this process's slots on it are replaced as if
    /// another process had done it (sessions closed, a slot event each). HSM policies stay.
    pub(super) fn zeroise_device(&self, slot: &Slot) -> Result<()> {
        let Some(device) = slot.model.device_name() else {
            return self.zeroise(slot);
        };
        let device = crate::base::ids::DeviceId::new(device);
        crate::estate::zeroise_device_in(&self.store, &device)?;
        for s in self.slots.values().filter(|s| s.partition().is_on(&device)) {
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
        slot.refuse_on_ha("challenge secrets are set")?;
        slot.model.check_challenge_secrets()?;
        slot.model.check_role(user)?;
        let initialiser = slot.model.initialiser_of(user);
        if slot.logged_in().is_none() || slot.logged_in() != initialiser {
            return Err(slot.model.role_not_authorized(
                "the role that initialises this one sets its challenge secret",
            ));
        }
        slot.model.check_challenge_secret(challenge)?;
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
        slot.refuse_on_ha("roles are deactivated")?;
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
