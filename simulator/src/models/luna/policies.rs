//! Luna's HSM and partition policies (ids of pycryptoki's `HSM_CONFIG_*` and
//! `CONTAINER_CONFIG_*`): the elements the simulator models with their defaults, ceilings,
//! eras and destructiveness, checking a value, and a partition's policy values and changes
//! (dependencies, capability ceilings, destructive transitions; Luna §2.1).
use super::{
    CKR_CONFIG_CHANGE_ILLEGAL, CKR_CONFIG_FAILS_DEPENDENCIES, CKR_CONFIG_ILLEGAL,
    CKR_POLICY_ID_INVALID, Device, Era, Firmware, PartitionState,
};
use crate::base::error::{Result, err};

/// HSM capability and policy ids (pycryptoki `HSM_CONFIG_*`).
pub mod hsm_policy {
    pub const PIN_AUTH: u64 = 0;
    pub const PED_AUTH: u64 = 1;
    pub const MASKING: u64 = 6;
    pub const CLONING: u64 = 7;
    pub const NON_FIPS_ALGORITHMS: u64 = 12;
    pub const SO_CAN_RESET_PIN: u64 = 15;
    pub const NETWORK_REPLICATION: u64 = 16;
    pub const FORCE_PIN_CHANGE: u64 = 21;
    pub const PER_PARTITION_SO: u64 = 41;
}

/// Partition policy ids (pycryptoki `CONTAINER_CONFIG_*`).
pub mod partition_policy {
    pub const PRIVATE_KEY_CLONING: u64 = 0;
    pub const PRIVATE_KEY_WRAPPING: u64 = 1;
    pub const PRIVATE_KEY_UNWRAPPING: u64 = 2;
    pub const PRIVATE_KEY_MASKING: u64 = 3;
    pub const SECRET_KEY_CLONING: u64 = 4;
    pub const SECRET_KEY_WRAPPING: u64 = 5;
    pub const SECRET_KEY_UNWRAPPING: u64 = 6;
    pub const SECRET_KEY_MASKING: u64 = 7;
    pub const MAX_FAILED_USER_LOGINS: u64 = 20;
    pub const ACTIVATION: u64 = 22;
    pub const AUTO_ACTIVATION: u64 = 23;
    pub const SECURE_TRUSTED_CHANNEL: u64 = 37;
    pub const PARTITION_VERSION: u64 = 41;
    pub const NON_FIPS_ALGORITHMS: u64 = 43;
}

/// One configuration element (an HSM or partition policy) as `CA_GetConfigurationElementDescription`
/// describes it.
#[derive(Debug, Clone, Copy)]
pub struct Element {
    pub id: u64,
    pub description: &'static str,
    /// Value when nothing set it.
    pub default: u64,
    /// Largest value (1 for on/off policies).
    pub max: u64,
    /// Turning it on (0 -> non-zero) erases the partition's objects.
    pub off_to_on_destructive: bool,
    /// Turning it off erases the partition's objects.
    pub on_to_off_destructive: bool,
    /// The HSM policy that must be on for this partition policy to be turned on.
    pub ceiling: Option<u64>,
    /// The first era that has it.
    pub since: Era,
}

const fn element(id: u64, description: &'static str, default: u64) -> Element {
    Element {
        id,
        description,
        default,
        max: 1,
        off_to_on_destructive: false,
        on_to_off_destructive: false,
        ceiling: None,
        since: Era::Legacy,
    }
}

/// The partition policies the simulator models. Defaults and destructiveness of 0, 1, 4, 22,
/// 23, 41 and 43 are documented (Luna §2.1); the others are simulator-defined (on/off
/// policies default to the permissive value and are not destructive; 37, Secure Trusted
/// Channel, defaults to off).
pub const PARTITION_POLICIES: &[Element] = &[
    Element {
        off_to_on_destructive: true,
        ceiling: Some(hsm_policy::CLONING),
        ..element(0, "Allow private key cloning", 1)
    },
    Element {
        off_to_on_destructive: true,
        ..element(1, "Allow private key wrapping", 0)
    },
    element(2, "Allow private key unwrapping", 1),
    Element {
        ceiling: Some(hsm_policy::MASKING),
        ..element(3, "Allow private key masking", 0)
    },
    Element {
        off_to_on_destructive: true,
        ceiling: Some(hsm_policy::CLONING),
        ..element(4, "Allow secret key cloning", 1)
    },
    element(5, "Allow secret key wrapping", 1),
    element(6, "Allow secret key unwrapping", 1),
    Element {
        ceiling: Some(hsm_policy::MASKING),
        ..element(7, "Allow secret key masking", 0)
    },
    Element {
        on_to_off_destructive: true,
        ..element(10, "Allow multipurpose keys", 1)
    },
    Element {
        on_to_off_destructive: true,
        ..element(11, "Allow changing key attributes", 1)
    },
    element(15, "Ignore failed challenge responses", 0),
    element(16, "Operate without RSA blinding", 0),
    element(17, "Allow signing with non-local keys", 1),
    element(18, "Allow raw RSA operations", 1),
    Element {
        max: 255,
        ..element(20, "Max failed user logins allowed", 10)
    },
    element(21, "Allow high availability recovery", 1),
    element(22, "Allow activation", 0),
    element(23, "Allow auto-activation", 0),
    // Secure Trusted Channel (pycryptoki `CONTAINER_CONFIG_SECURE_TRUSTED_CHANNEL`): the CCC
    // 3.9 guide needs "software 6.2.1 or higher, firmware 6.24.2 or higher, and the STC HSM
    // policy enabled"; the simulator offers it from 6.22 (Era::Ppso6). Off by default and not
    // destructive either way: simulator-defined.
    Element {
        since: Era::Ppso6,
        ..element(
            partition_policy::SECURE_TRUSTED_CHANNEL,
            "Secure trusted channel",
            0,
        )
    },
    // 0 -> 1 converts V0 to V1 in place (documented); 1 -> 0 erases the partition, whose
    // objects depend on its SMK (simulator-defined).
    Element {
        since: Era::Luna77,
        on_to_off_destructive: true,
        ..element(41, "Enable partition version (0 = V0, 1 = V1)", 0)
    },
    Element {
        ceiling: Some(hsm_policy::NON_FIPS_ALGORITHMS),
        since: Era::Luna77,
        ..element(43, "Allow non-FIPS algorithms", 1)
    },
];

/// The HSM policies the simulator models (documented ids; defaults simulator-defined except 15,
/// documented off, and 21, documented on).
pub const HSM_POLICIES: &[Element] = &[
    Element {
        off_to_on_destructive: true,
        on_to_off_destructive: true,
        ..element(hsm_policy::MASKING, "Allow masking", 0)
    },
    Element {
        off_to_on_destructive: true,
        on_to_off_destructive: true,
        ..element(hsm_policy::CLONING, "Allow cloning", 1)
    },
    element(
        hsm_policy::NON_FIPS_ALGORITHMS,
        "Allow non-FIPS algorithms",
        1,
    ),
    // Off by default, destructive when turned on (documented, 7.7 `partition_reset_cred.htm`).
    Element {
        off_to_on_destructive: true,
        ..element(
            hsm_policy::SO_CAN_RESET_PIN,
            "SO can reset partition PIN",
            0,
        )
    },
    element(
        hsm_policy::NETWORK_REPLICATION,
        "Allow network replication",
        1,
    ),
    element(
        hsm_policy::FORCE_PIN_CHANGE,
        "Force user PIN change after set/reset",
        1,
    ),
    Element {
        since: Era::Ppso6,
        ..element(hsm_policy::PER_PARTITION_SO, "Allow per-partition SO", 1)
    },
];

pub fn partition_policy(id: u64) -> Option<&'static Element> {
    PARTITION_POLICIES.iter().find(|e| e.id == id)
}

pub fn hsm_policy_element(id: u64) -> Option<&'static Element> {
    HSM_POLICIES.iter().find(|e| e.id == id)
}

/// The HSM policy `id` as firmware `firmware` has it: `CKR_POLICY_ID_INVALID` when it is not
/// modelled (or the firmware predates it).
pub fn hsm_policy_for(firmware: Firmware, id: u64) -> Result<&'static Element> {
    hsm_policy_element(id)
        .filter(|e| firmware.era() >= e.since)
        .ok_or_else(|| {
            err(
                CKR_POLICY_ID_INVALID,
                format!(
                    "HSM policy {id} is not modelled for firmware {firmware}; modelled: {}",
                    HSM_POLICIES
                        .iter()
                        .filter(|e| firmware.era() >= e.since)
                        .map(|e| e.id.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
}

/// Checks a value for HSM policy `id`: the element, or `CKR_POLICY_ID_INVALID` /
/// `CKR_CONFIG_ILLEGAL`.
pub fn check_hsm_policy(firmware: Firmware, id: u64, value: u64) -> Result<&'static Element> {
    let e = hsm_policy_for(firmware, id)?;
    if value > e.max {
        return Err(err(
            CKR_CONFIG_ILLEGAL,
            format!("HSM policy {id} takes 0 to {}, not {value}", e.max),
        ));
    }
    Ok(e)
}

impl PartitionState {
    /// A policy's value on a partition of `device`.
    pub fn policy(&self, device: &Device, id: u64) -> u64 {
        self.policies
            .get(&id)
            .copied()
            .or_else(|| {
                partition_policy(id)
                    .filter(|e| device.firmware.era() >= e.since)
                    .map(|e| e.default.min(ceiling_value(device, e)))
            })
            .unwrap_or(0)
    }

    /// Applies policy changes, all or none. Returns whether the partition's objects must be
    /// erased (a destructive transition). `allow_destructive` false refuses those with
    /// `CKR_CONFIG_CHANGE_ILLEGAL` (simulator-defined: Luna's tools ask to type "proceed").
    pub fn apply(
        &mut self,
        device: &Device,
        changes: &[(u64, u64)],
        allow_destructive: bool,
    ) -> Result<bool> {
        let mut next = self.clone();
        let mut destructive = false;
        for &(id, value) in changes {
            let e = partition_policy(id)
                .filter(|e| device.firmware.era() >= e.since)
                .ok_or_else(|| {
                    err(
                        CKR_POLICY_ID_INVALID,
                        format!(
                            "firmware {} partitions have no policy {id}",
                            device.firmware
                        ),
                    )
                })?;
            if value > e.max {
                return Err(err(
                    CKR_CONFIG_ILLEGAL,
                    format!(
                        "policy {id} ({}) takes 0 to {}, not {value}",
                        e.description, e.max
                    ),
                ));
            }
            if value > ceiling_value(device, e) {
                return Err(err(
                    CKR_CONFIG_ILLEGAL,
                    format!(
                        "policy {id} ({}) cannot be looser than the HSM allows (HSM policy {} is off)",
                        e.description,
                        e.ceiling.unwrap_or_default()
                    ),
                ));
            }
            let old = next.policy(device, id);
            let (off_to_on, on_to_off) = self.destructiveness(e);
            if (old == 0 && value != 0 && off_to_on) || (old != 0 && value == 0 && on_to_off) {
                destructive = true;
            }
            next.policies.insert(id, value);
        }
        if next.policy(device, partition_policy::PRIVATE_KEY_CLONING) != 0
            && next.policy(device, partition_policy::PRIVATE_KEY_WRAPPING) != 0
        {
            return Err(err(
                CKR_CONFIG_FAILS_DEPENDENCIES,
                "policies 0 (private key cloning) and 1 (private key wrapping) cannot both be on",
            ));
        }
        if destructive && !allow_destructive {
            return Err(err(
                CKR_CONFIG_CHANGE_ILLEGAL,
                "the change is destructive (it erases every object on the partition); confirm it",
            ));
        }
        *self = next;
        Ok(destructive)
    }
}

impl PartitionState {
    /// A policy's destructiveness on this partition: (off -> on, on -> off).
    pub fn destructiveness(&self, e: &Element) -> (bool, bool) {
        self.destructive
            .get(&e.id)
            .copied()
            .unwrap_or((e.off_to_on_destructive, e.on_to_off_destructive))
    }

    /// The capability behind a policy: the largest value the HSM lets it take.
    pub fn capability(device: &Device, e: &Element) -> u64 {
        ceiling_value(device, e)
    }
}

fn ceiling_value(device: &Device, e: &Element) -> u64 {
    match e.ceiling {
        Some(h) if device.hsm_policy(h) == 0 => 0,
        _ => e.max,
    }
}
