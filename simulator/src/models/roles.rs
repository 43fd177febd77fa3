//! What a vendor model rules about roles and PINs: the roles a token has, PIN lengths, who
//! sets whose PIN and may reset it, forced PIN changes, the read-only roles (Luna's Crypto User
//! and Limited Crypto Officer), challenge secrets, and the code a role is refused with.
use super::{TokenModel, luna, primus};
use crate::base::error::{Error, Result, err};
use crate::base::vendor_codes::CKR_USER_NOT_AUTHORIZED;
use crate::store::records::{MAX_PIN_LEN, MIN_PIN_LEN};
use cryptoki_sys::*;
use std::borrow::Cow;

/// Luna passwords are 8 to 255 characters (Luna §2.4).
const LUNA_MIN_PIN_LEN: usize = 8;

impl TokenModel {
    /// The shortest and longest PIN.
    pub fn pin_len_range(&self) -> (usize, usize) {
        match self {
            TokenModel::Soft => (MIN_PIN_LEN, MAX_PIN_LEN),
            TokenModel::Luna(_) => (LUNA_MIN_PIN_LEN, MAX_PIN_LEN),
            TokenModel::Primus(_) => primus::PIN_LEN_RANGE,
        }
    }

    /// `CKR_PIN_LEN_RANGE` unless the PIN's length is in range.
    pub fn check_pin_len(&self, pin: &[u8]) -> Result<()> {
        let (min, max) = self.pin_len_range();
        if (min..=max).contains(&pin.len()) {
            Ok(())
        } else {
            Err(err(
                CKR_PIN_LEN_RANGE,
                format!("a PIN must be {min} to {max} characters long"),
            ))
        }
    }

    /// `CKR_USER_TYPE_INVALID` unless the token has the role.
    pub fn check_role(&self, user: CK_USER_TYPE) -> Result<()> {
        match self {
            TokenModel::Soft if user == CKU_SO || user == CKU_USER => Ok(()),
            TokenModel::Soft => Err(err(
                CKR_USER_TYPE_INVALID,
                format!("user type 0x{user:X} is not known"),
            )),
            TokenModel::Luna(d) => d.check_role(user),
            TokenModel::Primus(_) if user == CKU_USER => Ok(()),
            TokenModel::Primus(_) => Err(err(
                CKR_USER_TYPE_INVALID,
                "Primus partitions have only the user (CKU_USER): SO functions run on the device or Decanus",
            )),
        }
    }

    /// The role that sets `user`'s PIN (Luna: its model of roles; elsewhere the SO sets the
    /// user's), if any.
    pub fn initialiser_of(&self, user: CK_USER_TYPE) -> Option<CK_USER_TYPE> {
        match self {
            TokenModel::Luna(d) => d.initialiser_of(user),
            _ => (user == CKU_USER).then_some(CKU_SO),
        }
    }

    /// Another role may replace `user`'s existing PIN (Luna: the PO resets the CO only under
    /// HSM policy 15; others always).
    pub fn check_pin_reset(&self, user: CK_USER_TYPE) -> Result<()> {
        match self {
            TokenModel::Luna(d) => d.check_reset(user),
            _ => Ok(()),
        }
    }

    /// A PIN set by another role must be changed at its first use: Luna HSM policy 21 (on by
    /// default). Soft tokens: never.
    pub fn forces_pin_change(&self) -> bool {
        self.luna()
            .is_some_and(|d| d.hsm_policy(luna::hsm_policy::FORCE_PIN_CHANGE) != 0)
    }

    /// The name of `user`'s role when it has read-only rights on objects (Luna's Crypto User
    /// and, simulator-defined, its Limited Crypto Officer): it may create, change or destroy
    /// public objects only, and export no keys.
    pub(super) fn read_only_role(&self, user: Option<CK_USER_TYPE>) -> Option<&'static str> {
        match (self, user) {
            (TokenModel::Luna(_), Some(luna::CKU_CRYPTO_USER)) => Some("Crypto User"),
            (TokenModel::Luna(_), Some(luna::CKU_LIMITED_CRYPTO_OFFICER)) => {
                Some("Limited Crypto Officer")
            }
            _ => None,
        }
    }

    /// Challenge secrets (a PED partition's second factor for activated roles) exist here.
    pub fn check_challenge_secrets(&self) -> Result<()> {
        match self {
            TokenModel::Luna(_) => Ok(()),
            _ => Err(err(
                CKR_FUNCTION_NOT_SUPPORTED,
                "challenge secrets belong to Luna partitions",
            )),
        }
    }

    /// A challenge secret is 7 to 16 characters (Luna §2.4).
    pub fn check_challenge_secret(&self, challenge: &[u8]) -> Result<()> {
        self.check_challenge_secrets()?;
        if !(7..=16).contains(&challenge.len()) {
            return Err(err(
                CKR_PIN_LEN_RANGE,
                "a challenge secret is 7 to 16 characters",
            ));
        }
        Ok(())
    }

    /// A role's call refused because another role must make it: Luna's
    /// `CKR_USER_NOT_AUTHORIZED` (the calls that ask are Luna's; simulator-defined elsewhere).
    pub fn role_not_authorized(&self, why: impl Into<Cow<'static, str>>) -> Error {
        err(CKR_USER_NOT_AUTHORIZED, why)
    }
}
