//! Luna's roles (Luna §2.4): the vendor user types, which roles a partition of each firmware
//! era has, who initialises whom, who is the HSM SO, and who may reset another role's
//! credential.
use super::{CKR_USER_NOT_AUTHORIZED, Device, DeviceKind, Era, hsm_policy};
use crate::base::error::{Result, err};
use cryptoki_sys::*;

/// Luna's vendor user types (pycryptoki `defines.py`).
pub const CKU_CRYPTO_OFFICER: CK_USER_TYPE = CKU_USER;
pub const CKU_CRYPTO_USER: CK_USER_TYPE = 0x8000_0001;
pub const CKU_AUDIT: CK_USER_TYPE = 0x8000_0002;
pub const CKU_LIMITED_CRYPTO_OFFICER: CK_USER_TYPE = 0x8000_0003;

impl Device {
    /// Partitions have their own SO (PPSO): from 6.22.0 when HSM policy 41 allows it, always on 7.x.
    pub fn per_partition_so(&self) -> bool {
        match self.firmware.era() {
            Era::Legacy => false,
            Era::Ppso6 => self.hsm_policy(hsm_policy::PER_PARTITION_SO) != 0,
            _ => true,
        }
    }

    /// The roles a partition of this device has, besides `CKU_SO` and `CKU_USER`.
    pub fn extra_roles(&self) -> &'static [CK_USER_TYPE] {
        if !self.per_partition_so() || self.kind == DeviceKind::Backup {
            &[]
        } else if self.firmware.era() >= Era::Luna7 {
            &[CKU_CRYPTO_USER, CKU_LIMITED_CRYPTO_OFFICER]
        } else {
            &[CKU_CRYPTO_USER]
        }
    }

    /// `CKR_USER_TYPE_INVALID` unless partitions of this device have the role.
    pub fn check_role(&self, user: CK_USER_TYPE) -> Result<()> {
        if user == CKU_SO || user == CKU_USER || self.extra_roles().contains(&user) {
            return Ok(());
        }
        let why = match (user, self.per_partition_so()) {
            (CKU_CRYPTO_USER | CKU_LIMITED_CRYPTO_OFFICER, false) => format!(
                "firmware {} partitions have no per-partition SO roles (owner only: CKU_USER)",
                self.firmware
            ),
            (CKU_LIMITED_CRYPTO_OFFICER, true) => format!(
                "firmware {} has no Limited Crypto Officer (7.x adds it)",
                self.firmware
            ),
            _ => format!("user type 0x{user:X} is not a Luna partition role"),
        };
        Err(err(CKR_USER_TYPE_INVALID, why))
    }

    /// Who may initialise `user`'s PIN: the PO initialises the CO; the CO initialises the CU and
    /// the LCO (Luna §2.4). Pre-PPSO partitions: the SO (the HSM SO, their owner) sets the
    /// owner's PIN.
    pub fn initialiser_of(&self, user: CK_USER_TYPE) -> Option<CK_USER_TYPE> {
        match user {
            CKU_USER => Some(CKU_SO),
            CKU_CRYPTO_USER | CKU_LIMITED_CRYPTO_OFFICER => Some(CKU_USER),
            _ => None,
        }
    }

    /// The role is the HSM SO: the SO of the admin partition, or of a pre-PPSO partition
    /// (which the HSM SO owns).
    pub fn is_hsm_so(&self, user: CK_USER_TYPE, admin: bool) -> bool {
        user == CKU_SO && (admin || !self.per_partition_so())
    }

    /// Whether the role that initialises `user` may reset its existing credential: the
    /// Partition SO (or the HSM SO of a pre-PPSO partition) resets the Crypto Officer's only
    /// under HSM policy 15; the CO resets the CU's and LCO's at any time (documented,
    /// `partition_reset_cred.htm`). The refusal's code is simulator-defined.
    pub fn check_reset(&self, user: CK_USER_TYPE) -> Result<()> {
        if user == CKU_USER && self.hsm_policy(hsm_policy::SO_CAN_RESET_PIN) == 0 {
            return Err(err(
                CKR_USER_NOT_AUTHORIZED,
                "the SO may not reset the Crypto Officer's credential: HSM policy 15 (SO can reset partition PIN) is off",
            ));
        }
        Ok(())
    }
}
