//! A Luna partition's vendor state, persisted with its token (policies set, cloning domains,
//! SMK identity, fixed destructiveness), and its version (V0/V1 from firmware 7.7, Luna §2.3).
use super::{Device, Era, partition_policy};
use crate::base::error::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A partition's vendor state, persisted with its token: policies and cloning domain.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartitionState {
    /// Partition policies set away from their defaults.
    #[serde(default)]
    pub policies: BTreeMap<u64, u64>,
    /// Verifier of the cloning domain (see `domain_verifier`), set at initialisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Vec<u8>>,
    /// Firmware 7.8+ ("Extended Domain Management"): further cloning domains besides the
    /// primary one (`domain`), as verifiers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_domains: Vec<Vec<u8>>,
    /// V1 partitions (7.7+, policy 41 on): the identity of the partition's SKS master key
    /// (SMK), 16 random hex digits made at the V0 -> V1 conversion. Backups of a V1 partition
    /// stay encrypted under it and restoring needs it (Luna §3.2); the key material itself
    /// is simulator-defined and never leaves the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smk: Option<String>,
    /// Destructiveness fixed at initialisation (`CA_InitToken`'s `CK_POLICY_INFO`), by id:
    /// (off -> on, on -> off). Policies not named keep their element's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub destructive: BTreeMap<u64, (bool, bool)>,
}

/// A partition's version (Luna §2.3): V0 or V1 from firmware 7.7, none before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PartitionVersion {
    /// Before 7.7: neither V0 nor V1.
    Legacy,
    V0,
    V1,
}

impl PartitionState {
    pub fn version(&self, device: &Device) -> PartitionVersion {
        if device.firmware.era() < Era::Luna77 {
            PartitionVersion::Legacy
        } else if self.policy(device, partition_policy::PARTITION_VERSION) != 0 {
            PartitionVersion::V1
        } else {
            PartitionVersion::V0
        }
    }

    /// Keeps the SMK in step with the version after a policy change: a V1 partition gets
    /// one (`make_smk` makes it), a V0 one has none.
    pub fn settle_version(
        &mut self,
        device: &Device,
        make_smk: impl FnOnce() -> Result<String>,
    ) -> Result<()> {
        match (self.version(device), &self.smk) {
            (PartitionVersion::V1, None) => self.smk = Some(make_smk()?),
            (PartitionVersion::V1, Some(_)) => {}
            _ => self.smk = None,
        }
        Ok(())
    }
}

/// A new SMK identity: 16 random hex digits (simulator-defined).
pub fn new_smk_id() -> Result<String> {
    Ok(format!("{:016x}", crate::base::random::random_u64()?))
}
