//! What a lab defines for one client host's view, as the engine opens it: the state directory,
//! the slots with the partition each shows, its token model and, for a partition the lab sets
//! up, the token it starts with (`TokenPreset`).
use crate::models::TokenModel;
use cryptoki_sys::*;
use std::path::PathBuf;

/// What the engine opens: where state lives and which slots exist.
#[derive(Debug, Clone)]
pub struct Config {
    pub state_dir: PathBuf,
    pub slots: Vec<SlotConfig>,
}

/// One slot and, optionally, the token it holds when first created.
#[derive(Debug, Clone)]
pub struct SlotConfig {
    pub id: CK_SLOT_ID,
    /// The partition shown in the slot ("device/partition"): the token's identity in the store.
    pub partition: String,
    pub description: String,
    /// The token to initialise the slot with on first use (`None`: a blank token).
    pub preset: Option<TokenPreset>,
    /// How the token behaves (soft token, Luna partition, ...).
    pub model: TokenModel,
    /// Luna PED partitions: the lab's PED key file for each role, presented when the PED
    /// prompts and `HSMSIM_PED_KEYS` names no other.
    pub ped_keys: Vec<(CK_USER_TYPE, PathBuf)>,
    /// The partition's size in bytes, if limited.
    pub capacity: Option<u64>,
    /// Luna: the device's admin partition (its SO is the HSM SO).
    pub admin: bool,
}

/// An initialised token as a lab defines it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenPreset {
    pub label: String,
    /// The SO's PIN (absent for PED partitions, whose SO has a PED key, and for Primus).
    pub so_pin: Option<String>,
    pub user_pin: Option<String>,
    /// Vendor roles' PINs (Luna Crypto User, Limited Crypto Officer), by user type.
    pub role_pins: Vec<(CK_USER_TYPE, String)>,
    /// The cloning domain (Luna), if the lab gives one; on 7.8+ the primary one.
    pub domain: Option<String>,
    /// Luna 7.8+: further cloning domains.
    pub other_domains: Vec<String>,
    /// Partition policies the lab sets (Luna), by id.
    pub policies: Vec<(u64, u64)>,
    /// PED partitions: each role's PED key file, relative to the state directory.
    pub ped_keys: Vec<(CK_USER_TYPE, String)>,
    /// PED partitions: the red key holding the cloning domain.
    pub domain_ped_key: Option<String>,
    /// Primus partitions: the security policy (import, export, extract).
    pub primus_policy: Option<crate::models::primus::SecurityPolicy>,
}
