//! What a lab defines for one client host's view, as the engine opens it: the state directory,
//! the slots with what each shows (a partition, or a Luna HA group's virtual slot after the
//! host's physical slots: `SlotBacking`), its token model and, for a partition the lab sets
//! up, the token it starts with (`TokenPreset`); and how a `Lab` builds them.
use super::schema::{DeviceDef, LunaPartitionDef, PartitionDef, PrimusPartitionDef};
use super::vendor_models::policy_ids;
use super::{Lab, LabError};
use crate::base::ids::{DeviceId, HaGroupId, PartitionId};
use crate::models::{TokenModel, luna};
use cryptoki_sys::*;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use toml::Spanned;

/// What the engine opens: where state lives and which slots exist.
#[derive(Debug, Clone)]
pub struct Config {
    pub state_dir: PathBuf,
    pub slots: Vec<SlotConfig>,
    /// The client host whose view this is.
    pub host: String,
    /// The lab's HA groups as the lab file states them (the start state; the estate keeps
    /// their changes: `estate::ha_groups`).
    pub ha_groups: Vec<HaGroupSpec>,
}

/// An HA group as a host's view is built from: its label, members in order (the active
/// members first, then the standby ones), which members are standby, the serial it is given
/// (`None`: "1" + the first member's serial) and the hosts that have it configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaGroupSpec {
    pub label: HaGroupId,
    pub members: Vec<PartitionId>,
    pub standby: Vec<PartitionId>,
    pub serial: Option<String>,
    pub hosts: Vec<String>,
}

/// How LunaCM describes an HA group's virtual slot.
pub const HA_SLOT_DESCRIPTION: &str = "HA Virtual Card Slot";

/// What a slot shows: one partition (a physical slot), or a Luna HA group (a virtual slot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotBacking {
    /// The partition shown in the slot: the token's identity in the store.
    Partition(PartitionId),
    /// A Luna HA group's virtual slot ("HA Virtual Card Slot"): the group, its members in lab
    /// order and the serial the lab gives it (`None`: "1" + the first member's serial).
    HaGroup {
        group: HaGroupId,
        members: Vec<PartitionId>,
        serial: Option<String>,
    },
}

impl SlotBacking {
    /// The partition whose token record and objects the slot holds when every member is up:
    /// its partition, or the HA group's primary member (simulator-defined: the first member;
    /// the engine serves the slot from the first live member when it is down, `engine::ha`).
    pub fn partition(&self) -> &PartitionId {
        match self {
            SlotBacking::Partition(p) => p,
            SlotBacking::HaGroup { members, .. } => &members[0],
        }
    }
}

/// One slot and, optionally, the token it holds when first created.
#[derive(Debug, Clone)]
pub struct SlotConfig {
    pub id: CK_SLOT_ID,
    /// What the slot shows: a partition, or an HA group.
    pub backing: SlotBacking,
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
    /// A Luna Backup HSM's slot: the token is there only while the Backup HSM is attached to
    /// this host.
    pub backup_hsm: Option<BackupHsmSlot>,
    /// HA-only mode (`hagroup haonly`): a physical slot the host does not list (it still
    /// serves its HA groups' logins).
    pub hidden: bool,
    /// An HA virtual slot: its standby members (served only when no active member is up).
    pub standby: Vec<PartitionId>,
}

/// A Backup HSM's slot on one host (`SlotConfig::backup_hsm`): the device, the host and the
/// host the lab attaches it to at the start (`attached_to`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupHsmSlot {
    pub device: crate::base::ids::DeviceId,
    pub host: String,
    pub start_host: Option<String>,
}

/// An initialised token as a lab defines it: what every token has, and its vendor's part.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenPreset {
    pub label: String,
    /// The SO's PIN (absent for PED partitions, whose SO has a PED key, and for Primus).
    pub so_pin: Option<String>,
    pub user_pin: Option<String>,
    pub vendor: VendorPreset,
}

/// The vendor's part of a token preset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum VendorPreset {
    /// A plain soft token.
    #[default]
    None,
    Luna(LunaPreset),
    Primus(PrimusPreset),
}

/// What a lab sets up on a Luna partition beyond its label and PINs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LunaPreset {
    /// Vendor roles' PINs (Crypto User, Limited Crypto Officer), by user type.
    pub role_pins: Vec<(CK_USER_TYPE, String)>,
    /// The cloning domain, if the lab gives one; on 7.8+ the primary one.
    pub domain: Option<String>,
    /// 7.8+: further cloning domains.
    pub other_domains: Vec<String>,
    /// Partition policies the lab sets, by id.
    pub policies: Vec<(u64, u64)>,
    /// PED partitions: each role's PED key file, relative to the state directory.
    pub ped_keys: Vec<(CK_USER_TYPE, String)>,
    /// PED partitions: the red key holding the cloning domain.
    pub domain_ped_key: Option<String>,
}

/// What a lab sets up on a Primus partition beyond its name and PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrimusPreset {
    /// The partition's security policy (import, export, extract).
    pub policy: crate::models::primus::SecurityPolicy,
}

impl SlotConfig {
    /// The partition whose token the slot holds (`SlotBacking::partition`).
    pub fn partition(&self) -> &PartitionId {
        self.backing.partition()
    }
}

impl TokenPreset {
    /// Luna PED partitions: the lab's PED key file for each role, in the state directory
    /// `state_dir` (none for other partitions).
    pub fn ped_key_files(&self, state_dir: &std::path::Path) -> Vec<(CK_USER_TYPE, PathBuf)> {
        self.luna().map_or_else(Vec::new, |l| {
            l.ped_keys
                .iter()
                .map(|(u, k)| (*u, state_dir.join(k)))
                .collect()
        })
    }

    /// The Luna part, if this is a Luna partition's preset.
    pub fn luna(&self) -> Option<&LunaPreset> {
        match &self.vendor {
            VendorPreset::Luna(l) => Some(l),
            _ => None,
        }
    }
}

impl Lab {
    /// The engine configuration for one host's view (`None`: the first host).
    pub fn config(&self, host: Option<&str>, state_dir: PathBuf) -> Result<Config, LabError> {
        let chosen = match host {
            None => self.file.hosts.first(),
            Some(name) => self.file.hosts.iter().find(|h| h.name.get_ref() == name),
        }
        .ok_or_else(|| LabError {
            file: self.source_name.clone(),
            position: None,
            message: format!(
                "no host \"{}\"; hosts: {}",
                host.unwrap_or_default(),
                self.file
                    .hosts
                    .iter()
                    .map(|h| h.name.get_ref().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
        let partitions: HashMap<String, (PartitionId, TokenModel, Option<TokenPreset>)> = self
            .partitions()
            .into_iter()
            .map(|(p, model, preset)| (p.to_string(), (p, model, preset)))
            .collect();
        let sizes: HashMap<String, u64> = self
            .file
            .devices
            .iter()
            .flat_map(|d| {
                d.partitions.iter().filter_map(move |p| {
                    p.luna()?
                        .size
                        .as_ref()
                        .map(|size| (partition_id(d, p).to_string(), *size.get_ref()))
                })
            })
            .collect();
        let admins: BTreeSet<String> = self
            .file
            .devices
            .iter()
            .flat_map(|d| {
                d.partitions
                    .iter()
                    .filter(|p| p.is_admin())
                    .map(move |p| partition_id(d, p).to_string())
            })
            .collect();
        let slots: Vec<SlotConfig> = chosen
            .slots
            .iter()
            .map(|s| {
                let (partition, model, preset) = partitions[s.partition.get_ref()].clone();
                let ped_keys = preset
                    .as_ref()
                    .map(|p| p.ped_key_files(&state_dir))
                    .unwrap_or_default();
                let backup_hsm = model
                    .luna()
                    .filter(|d| d.kind == crate::models::luna::DeviceKind::Backup)
                    .map(|_| BackupHsmSlot {
                        device: partition.device().clone(),
                        host: chosen.name.get_ref().clone(),
                        start_host: self
                            .backup_hsm_host(partition.device().as_str())
                            .map(str::to_string),
                    });
                SlotConfig {
                    backup_hsm,
                    admin: admins.contains(s.partition.get_ref()),
                    capacity: sizes.get(s.partition.get_ref()).copied(),
                    ped_keys,
                    id: *s.id.get_ref(),
                    backing: SlotBacking::Partition(partition),
                    description: format!("{} ({})", s.partition.get_ref(), chosen.name.get_ref()),
                    preset,
                    model,
                    hidden: false,
                    standby: Vec::new(),
                }
            })
            .collect();
        let mut config = Config {
            state_dir,
            slots,
            host: chosen.name.get_ref().clone(),
            ha_groups: self.ha_group_specs(),
        };
        let groups = config.ha_groups.clone();
        config.show_ha_groups(&groups, false);
        Ok(config)
    }

    /// The lab's `[[ha_group]]`s as `HaGroupSpec`s, in lab order (no standby members).
    fn ha_group_specs(&self) -> Vec<HaGroupSpec> {
        self.file
            .ha_groups
            .iter()
            .map(|group| HaGroupSpec {
                label: HaGroupId::new(group.label.get_ref().as_str()),
                // Validation saw that each names a partition of the lab.
                members: group
                    .members
                    .get_ref()
                    .iter()
                    .filter_map(|m| PartitionId::parse(m.get_ref()))
                    .collect(),
                standby: Vec::new(),
                serial: group.serial.as_ref().map(|s| s.get_ref().clone()),
                hosts: group
                    .hosts
                    .as_ref()
                    .map(|h| h.get_ref().iter().map(|h| h.get_ref().clone()).collect())
                    .unwrap_or_default(),
            })
            .collect()
    }
}

impl Config {
    /// Replaces the view's HA virtual slots by those of `groups` and applies HA-only mode
    /// (`ha_only`: the physical slots are hidden while the host has an HA slot). One HA slot
    /// per group naming the host in `hosts`, in order, after the physical slots (Luna lists
    /// HA virtual slots after the physical ones). Slot ids (simulator-defined): the host's
    /// largest physical slot id + 1 + the group's index among the host's groups. A group
    /// whose members the host does not all show is left out. Each is served by its first
    /// member's physical slot configuration (its model, PED keys, size), shows no preset of
    /// its own (the members' tokens are set up by their physical slots) and is described "HA
    /// Virtual Card Slot", as LunaCM shows it.
    pub fn show_ha_groups(&mut self, groups: &[HaGroupSpec], ha_only: bool) {
        self.slots
            .retain(|s| matches!(s.backing, SlotBacking::Partition(_)));
        let first_id = self.slots.iter().map(|s| s.id + 1).max().unwrap_or(0);
        let host = self.host.clone();
        let physical = &self.slots;
        let ha: Vec<SlotConfig> = groups
            .iter()
            .filter(|g| g.hosts.contains(&host))
            .filter(|g| {
                g.members
                    .iter()
                    .all(|m| physical.iter().any(|s| s.partition() == m))
            })
            .zip(first_id..)
            .filter_map(|(group, id)| {
                let primary = physical
                    .iter()
                    .find(|s| Some(s.partition()) == group.members.first())?;
                Some(SlotConfig {
                    id,
                    backing: SlotBacking::HaGroup {
                        group: group.label.clone(),
                        members: group.members.clone(),
                        serial: group.serial.clone(),
                    },
                    description: HA_SLOT_DESCRIPTION.to_string(),
                    preset: None,
                    model: primary.model.clone(),
                    ped_keys: primary.ped_keys.clone(),
                    capacity: primary.capacity,
                    admin: false,
                    backup_hsm: None,
                    hidden: false,
                    standby: group.standby.clone(),
                })
            })
            .collect();
        let hide = ha_only && !ha.is_empty();
        for slot in &mut self.slots {
            slot.hidden = hide;
        }
        self.slots.extend(ha);
    }
}

impl Lab {
    /// Every partition of every device ("device/partition"), in lab order, with its device's
    /// token model and the token it starts with (`None`: blank).
    pub fn partitions(&self) -> Vec<(PartitionId, TokenModel, Option<TokenPreset>)> {
        self.file
            .devices
            .iter()
            .flat_map(|d| {
                let model = self
                    .models
                    .get(d.name.get_ref())
                    .cloned()
                    .unwrap_or_default();
                d.partitions.iter().map(move |p| {
                    let text =
                        |v: &Option<Spanned<String>>| v.as_ref().map(|s| s.get_ref().clone());
                    if model.primus().is_some() {
                        let no_policy = PrimusPartitionDef::default();
                        let policy = p.primus().unwrap_or(&no_policy);
                        let preset = p.user_pin.as_ref().map(|pin| TokenPreset {
                            label: p.name.get_ref().clone(),
                            user_pin: Some(pin.get_ref().clone()),
                            so_pin: None,
                            vendor: VendorPreset::Primus(PrimusPreset {
                                policy: crate::models::primus::SecurityPolicy {
                                    allow_import: policy
                                        .allow_import
                                        .as_ref()
                                        .is_none_or(|v| *v.get_ref()),
                                    allow_export: policy
                                        .allow_export
                                        .as_ref()
                                        .is_none_or(|v| *v.get_ref()),
                                    allow_extract: policy
                                        .allow_extract
                                        .as_ref()
                                        .is_none_or(|v| *v.get_ref()),
                                },
                            }),
                        });
                        return (partition_id(d, p), model.clone(), preset);
                    }
                    // Initialised: a label and the SO's credential (a PIN, or a PED key).
                    let none = LunaPartitionDef::default();
                    let l = p.luna().unwrap_or(&none);
                    let has_so = p.so_pin.is_some() || l.so_ped_key.is_some();
                    let preset = match &p.label {
                        Some(label) if has_so => Some(TokenPreset {
                            label: label.get_ref().clone(),
                            so_pin: text(&p.so_pin),
                            user_pin: text(&p.user_pin),
                            vendor: VendorPreset::Luna(LunaPreset {
                                role_pins: [
                                    (luna::CKU_CRYPTO_USER, text(&l.crypto_user_pin)),
                                    (luna::CKU_LIMITED_CRYPTO_OFFICER, text(&l.limited_co_pin)),
                                ]
                                .into_iter()
                                .filter_map(|(u, pin)| pin.map(|pin| (u, pin)))
                                .collect(),
                                domain: text(&l.domain),
                                other_domains: l
                                    .other_domains
                                    .as_ref()
                                    .map(|d| d.get_ref().clone())
                                    .unwrap_or_default(),
                                ped_keys: [
                                    (CKU_SO, text(&l.so_ped_key)),
                                    (CKU_USER, text(&l.user_ped_key)),
                                    (luna::CKU_CRYPTO_USER, text(&l.crypto_user_ped_key)),
                                ]
                                .into_iter()
                                .filter_map(|(u, k)| k.map(|k| (u, k)))
                                .collect(),
                                domain_ped_key: text(&l.domain_ped_key),
                                policies: l
                                    .policies
                                    .as_ref()
                                    .and_then(|m| policy_ids(m).ok())
                                    .unwrap_or_default(),
                            }),
                        }),
                        _ => None,
                    };
                    // A soft device's partition has no vendor part (validation refuses Luna
                    // fields on it).
                    let preset = preset.map(|mut preset| {
                        if model.luna().is_none() {
                            preset.vendor = VendorPreset::None;
                        }
                        preset
                    });
                    (partition_id(d, p), model.clone(), preset)
                })
            })
            .collect()
    }
}

/// The id of a device's partition as the lab file names them.
pub(super) fn partition_id(device: &DeviceDef, partition: &PartitionDef) -> PartitionId {
    DeviceId::new(device.name.get_ref().as_str()).partition(partition.name.get_ref().as_str())
}
