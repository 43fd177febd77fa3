//! Checking a role's credential against its token record, as every login does (the engine's
//! `C_Login`, the HSM SO's appliance login in the estate): the checks before anything is
//! derived (the login throttle, an uninitialised or locked role), opening the token key sealed
//! under the PIN (or the challenge secret), counting the attempt under the model's failed-login
//! rule in the caller's store transaction (re-sealing an outdated seal), and what the result
//! means: the key, or the error and the consequence the caller carries out (`Consequence`).
use super::{Consequence, FailedLoginRule, TokenModel};
use crate::base::error::{Error, Result, err};
use crate::base::secrets::seal::{PinSeal, SealContext, TokenKey};
use crate::store::records::{RoleRecord, TokenRecord};
use cryptoki_sys::*;

/// `CKR_PIN_LOCKED`, saying why the role is locked.
fn locked_error(rule: FailedLoginRule, role: Option<&RoleRecord>, now: u64) -> Error {
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

/// One credential check under way: the seal opened (or not) before the transaction; the
/// attempt is counted with `count` inside it and judged with `finish` after it.
pub struct CredentialCheck {
    user: CK_USER_TYPE,
    admin: bool,
    rule: FailedLoginRule,
    now: u64,
    /// The role as read before the transaction (its seal decides whether a re-seal applies).
    role: RoleRecord,
    key: Option<TokenKey>,
    new_seal: Option<PinSeal>,
    now_locked: bool,
}

impl TokenModel {
    /// Starts checking `secret` for `user` on `record` (`admin`: the device's admin partition;
    /// `challenge`: against the role's challenge secret, Luna activation). Refuses before any
    /// key derivation when the model's throttle holds the role, the role has no PIN
    /// (`CKR_PIN_INCORRECT` for the SO, `CKR_USER_PIN_NOT_INITIALIZED` otherwise) or it is
    /// locked (`CKR_PIN_LOCKED`, saying why).
    pub fn check_credential(
        &self,
        record: &TokenRecord,
        context: SealContext<'_>,
        user: CK_USER_TYPE,
        secret: &[u8],
        admin: bool,
        challenge: bool,
    ) -> Result<CredentialCheck> {
        let rule = self.failed_login_rule(record, user, admin);
        let role = record.role(user).cloned().unwrap_or_default();
        let now = crate::base::clock::now();
        self.check_login_throttle(&role, now)?;
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
        // Checked here to spare the key derivation, and again in the transaction (`count`),
        // where another process's failures count too.
        if self.is_locked(record, user, admin, now) {
            return Err(locked_error(rule, record.role(user), now));
        }
        let key = match (&role.seal, &role.legacy) {
            _ if challenge => role
                .challenge
                .as_ref()
                .and_then(|c| c.open(secret, context)),
            (Some(seal), _) => seal.open(secret, context),
            (None, Some(legacy)) if legacy.matches(secret) => record
                .migration_key
                .as_deref()
                .map(TokenKey::from_bytes)
                .transpose()?,
            _ => None,
        };
        let outdated = role.seal.as_ref().is_none_or(PinSeal::is_outdated);
        let new_seal = match &key {
            Some(k) if outdated && !challenge => Some(PinSeal::new(secret, k, context)?),
            _ => None,
        };
        Ok(CredentialCheck {
            user,
            admin,
            rule,
            now,
            role,
            key,
            new_seal,
            now_locked: false,
        })
    }
}

impl CredentialCheck {
    /// In the caller's store transaction, on the current record: refuses when the role got
    /// locked meanwhile; counts the attempt (`TokenModel::count_login_attempt`); re-seals an
    /// outdated seal unless another process changed the PIN. Returns whether to write.
    pub fn count(&mut self, model: &TokenModel, r: &mut TokenRecord) -> Result<bool> {
        if model.is_locked(r, self.user, self.admin, self.now) {
            return Err(locked_error(self.rule, r.role(self.user), self.now));
        }
        let failed = self.key.is_none();
        let stored = r.role_mut(self.user);
        let attempt = model.count_login_attempt(stored, &self.rule, self.now, failed);
        self.now_locked = stored.failures >= self.rule.threshold || attempt.throttled;
        let mut write = attempt.changed;
        if let Some(seal) = self
            .new_seal
            .take()
            .filter(|_| stored.seal == self.role.seal)
        {
            stored.seal = Some(seal);
            stored.legacy = None;
            if r.roles.values().all(|role| role.legacy.is_none()) {
                r.migration_key = None;
            }
            write = true;
        }
        Ok(write)
    }

    /// After the transaction: the consequence to carry out first (a zeroisation, when this
    /// failure reached the role's threshold), then the answer: the token key, or
    /// `CKR_PIN_INCORRECT` / `CKR_PIN_LOCKED` saying why.
    pub fn finish(self, model: &TokenModel) -> (Option<Consequence>, Result<TokenKey>) {
        match self.key {
            Some(key) => (None, Ok(key)),
            None if self.now_locked => {
                let consequence = self.rule.consequence;
                let why = model
                    .zeroised_reason(consequence)
                    .unwrap_or("wrong PIN: the PIN is now locked");
                (Some(consequence), Err(err(CKR_PIN_LOCKED, why)))
            }
            None => (None, Err(err(CKR_PIN_INCORRECT, "wrong PIN"))),
        }
    }
}
