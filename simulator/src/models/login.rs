//! What a vendor model rules about logging in, asked by the engine without naming a vendor:
//! what the PED presents for a role's prompt (Luna PED partitions; the PED itself is
//! `models::ped`), what a failed-login consequence is reported as, and the code a role is
//! refused with.
use super::{Consequence, TokenModel, ped};
use crate::base::error::{Error, Result, err};
use crate::base::vendor_codes::CKR_USER_NOT_AUTHORIZED;
use cryptoki_sys::*;
use std::borrow::Cow;
use std::path::PathBuf;

impl TokenModel {
    /// The credential a PED partition's prompt for `user` receives: the presented key's
    /// secret (`ped::presented_credential`; `lab_keys`: the lab's key file per role;
    /// `imprint`: a missing key file is created).
    pub fn ped_credential(
        &self,
        user: CK_USER_TYPE,
        lab_keys: &[(CK_USER_TYPE, PathBuf)],
        imprint: bool,
    ) -> Result<Vec<u8>> {
        ped::presented_credential(user, lab_keys, imprint)
    }

    /// The cloning-domain secret a PED partition takes from the presented red key when none is
    /// given; none for a partition without a PED.
    pub fn presented_domain_secret(&self) -> Result<Option<Vec<u8>>> {
        if self.uses_ped() {
            ped::presented_red_key()
        } else {
            Ok(None)
        }
    }

    /// Why a failed login whose role reached a zeroising threshold answers as it does (only
    /// Luna's rules zeroise: its Partition SO and HSM SO).
    pub fn zeroised_reason(&self, consequence: Consequence) -> Option<&'static str> {
        match consequence {
            Consequence::ZeroisePartition => {
                Some("wrong PIN: the Partition SO failed too often and the partition was zeroised")
            }
            Consequence::ZeroiseDevice => Some(
                "wrong PIN: the HSM SO failed 3 times and the HSM was zeroised (every partition is blank)",
            ),
            Consequence::LockUntilReset | Consequence::LockFor(_) => None,
        }
    }

    /// A role's call refused because another role must make it: Luna's
    /// `CKR_USER_NOT_AUTHORIZED` (the calls that ask are Luna's; simulator-defined elsewhere).
    pub fn role_not_authorized(&self, why: impl Into<Cow<'static, str>>) -> Error {
        err(CKR_USER_NOT_AUTHORIZED, why)
    }
}
