//! What a vendor model rules about how roles log in, asked by the engine without naming a
//! vendor: whether the partition uses a PED and what the PED presents for a role's prompt
//! (Luna PED partitions; the PED itself is `luna::ped`), whether a login activates the role
//! (Luna partition policy 22), and what a zeroising failed-login consequence is reported as.
use super::{Consequence, PartitionState, TokenModel, luna, ped};
use crate::base::error::Result;
use crate::store::records::TokenRecord;
use cryptoki_sys::*;
use std::path::PathBuf;

impl TokenModel {
    /// The partition authenticates with PED keys (Luna PED devices).
    pub fn uses_ped(&self) -> bool {
        self.luna().is_some_and(|d| d.auth == luna::Auth::Ped)
    }

    /// A login of `user` caches the role's secret (Luna PED partitions under partition policy
    /// 22, activation; the SO's is never cached, Luna §2.4).
    pub fn activates_on_login(&self, record: &TokenRecord, user: CK_USER_TYPE) -> bool {
        match (self, PartitionState::of(record).as_deref()) {
            (TokenModel::Luna(d), Some(PartitionState::Luna(s))) if user != CKU_SO => {
                s.policy(d, luna::partition_policy::ACTIVATION) != 0
            }
            _ => false,
        }
    }

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
}
