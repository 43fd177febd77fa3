//! The lab file's schema, per device kind: what every device and partition has (name, kind,
//! serial; label and PINs), and each vendor's fields in its own section (`[device.luna]`,
//! `[device.primus]`, `[device.partition.luna]`, `[device.partition.primus]`), so a field of one
//! vendor cannot be given to another's device. Also the lab-wide groupings: hosts with their
//! slots, HA groups over Luna partitions, and the Crypto Command Center that manages some of them
//! (`[ccc]`). The file as written (sections, or the older flat form) is read in `written.rs`,
//! which fills these types.
use crate::models::luna;
use cryptoki_sys::{CK_USER_TYPE, CKU_SO, CKU_USER};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use toml::Spanned;

/// Device kinds a lab may name; each selects a vendor model (`models::TokenModel`).
pub const DEVICE_KINDS: &[&str] = &[
    "soft",
    "luna-network",
    "luna-pcie",
    "luna-usb",
    "luna-backup",
    "primus",
    "primus-cloudhsm",
];

/// The vendor whose section a device kind takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Soft,
    Luna,
    Primus,
}

impl Vendor {
    /// The vendor of a kind in `DEVICE_KINDS` (`None`: an unknown kind).
    pub fn of_kind(kind: &str) -> Option<Vendor> {
        match kind {
            "soft" => Some(Vendor::Soft),
            k if k.starts_with("luna-") && DEVICE_KINDS.contains(&k) => Some(Vendor::Luna),
            k if k.starts_with("primus") && DEVICE_KINDS.contains(&k) => Some(Vendor::Primus),
            _ => None,
        }
    }
}

/// A lab file, each device with its vendor's section.
#[derive(Debug)]
pub struct LabFile {
    pub lab: LabInfo,
    pub devices: Vec<DeviceDef>,
    pub hosts: Vec<HostDef>,
    /// `[[ha_group]]`: Luna HA groups over partitions of different devices.
    pub ha_groups: Vec<HaGroupDef>,
    /// `[ccc]`: the Crypto Command Center managing the lab's Luna Network HSMs, if any.
    pub ccc: Option<CccDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabInfo {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// A device: what every kind has, and its vendor's fields.
#[derive(Debug)]
pub struct DeviceDef {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    /// Serial number (default: derived from the device name).
    pub serial: Option<Spanned<String>>,
    pub vendor: DeviceVendor,
    pub partitions: Vec<PartitionDef>,
}

/// A device's vendor section (`[device.luna]`, `[device.primus]`; a soft device has none).
#[derive(Debug)]
pub enum DeviceVendor {
    Soft,
    Luna(LunaDeviceDef),
    Primus(PrimusDeviceDef),
}

impl DeviceDef {
    /// The Luna section, if this is a Luna device.
    pub fn luna(&self) -> Option<&LunaDeviceDef> {
        match &self.vendor {
            DeviceVendor::Luna(l) => Some(l),
            _ => None,
        }
    }

    /// The Primus section, if this is a Primus device.
    pub fn primus(&self) -> Option<&PrimusDeviceDef> {
        match &self.vendor {
            DeviceVendor::Primus(p) => Some(p),
            _ => None,
        }
    }
}

/// `[device.luna]`: a Luna device's firmware, authentication, HSM policies, memory and, for a
/// Backup HSM, the host it is attached to.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LunaDeviceDef {
    /// Firmware version ("6.21.2", "7.4.2", ...; default `LUNA_DEFAULT_FIRMWARE`).
    pub firmware: Option<Spanned<String>>,
    /// "password" (default) or "ped".
    pub auth: Option<Spanned<String>>,
    /// HSM policies away from their defaults, by id (`{ 7 = 1, 21 = 0 }`).
    pub hsm_policies: Option<Spanned<BTreeMap<String, u64>>>,
    /// Memory available for partitions, in bytes; the partitions' `size`s must fit.
    pub memory: Option<Spanned<u64>>,
    /// Backup HSMs (kind "luna-backup"): the host it is attached to (USB) when the lab starts;
    /// a Backup HSM is attached to one host at a time.
    pub attached_to: Option<Spanned<String>>,
    /// The Functionality Module state, as CCC's Migrate Service rules need it: "fm-ready",
    /// "no-fm", "fm-disabled" or "fm-enabled" (`models::ccc::FmState`). Default "no-fm"
    /// (simulator-defined: a device whose lab says nothing never enabled FMs).
    pub fm: Option<Spanned<String>>,
}

/// `[device.primus]`: a Primus device's firmware, login throttle, CloudHSM service, licence
/// items, Master/Clone state and Decanus terminal.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrimusDeviceDef {
    /// Firmware version ("2.11"; default `PRIMUS_DEFAULT_FIRMWARE`).
    pub firmware: Option<Spanned<String>>,
    /// The login throttle (the device's XML `login_attempt_threshold`, `attempt_reset_time`
    /// and `login_lockout_time`, seconds; defaults 100, 300, 300).
    pub login_attempt_threshold: Option<Spanned<u32>>,
    pub attempt_reset_time: Option<Spanned<u64>>,
    pub login_lockout_time: Option<Spanned<u64>>,
    /// CloudHSM: "shared" (default) or "dedicated".
    pub service: Option<Spanned<String>>,
    /// Licence items ("partition-administration", "device-backup", "decanus-remote-terminal";
    /// default none).
    pub licences: Option<Spanned<Vec<Spanned<String>>>>,
    /// "master" (default) or "clone".
    pub role: Option<Spanned<String>>,
    /// Clones: "ha" (default) or "manual".
    pub clone: Option<Spanned<String>>,
    /// Clones: object creation allowed on the clone (XML `clone_modify`, default false).
    pub clone_modify: Option<Spanned<bool>>,
    /// The Decanus terminal that administers the device.
    pub decanus: Option<Spanned<DecanusDef>>,
}

/// A Primus device's Decanus terminal: its release and its Device Administration pairing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecanusDef {
    pub version: Spanned<String>,
    #[serde(default)]
    pub device_administration: bool,
}

/// A partition (token). It is initialised when it has a label and its SO's credential (Luna,
/// soft) or a user PIN (Primus).
#[derive(Debug)]
pub struct PartitionDef {
    pub name: Spanned<String>,
    pub label: Option<Spanned<String>>,
    pub so_pin: Option<Spanned<String>>,
    pub user_pin: Option<Spanned<String>>,
    pub vendor: PartitionVendor,
}

/// A partition's vendor section (`[device.partition.luna]`, `[device.partition.primus]`), of
/// its device's vendor.
#[derive(Debug)]
pub enum PartitionVendor {
    Soft,
    Luna(Box<LunaPartitionDef>),
    Primus(PrimusPartitionDef),
}

/// No PIN (the Luna roles of a partition that is not Luna's).
static NO_PIN: Option<Spanned<String>> = None;

impl PartitionDef {
    /// The Luna section, if this is a Luna partition.
    pub fn luna(&self) -> Option<&LunaPartitionDef> {
        match &self.vendor {
            PartitionVendor::Luna(l) => Some(l),
            _ => None,
        }
    }

    /// The Primus section, if this is a Primus partition.
    pub fn primus(&self) -> Option<&PrimusPartitionDef> {
        match &self.vendor {
            PartitionVendor::Primus(p) => Some(p),
            _ => None,
        }
    }

    /// Luna: the Crypto User's PIN (none elsewhere).
    pub fn crypto_user_pin(&self) -> &Option<Spanned<String>> {
        self.luna().map_or(&NO_PIN, |l| &l.crypto_user_pin)
    }

    /// Luna 7.x: the Limited Crypto Officer's PIN (none elsewhere).
    pub fn limited_co_pin(&self) -> &Option<Spanned<String>> {
        self.luna().map_or(&NO_PIN, |l| &l.limited_co_pin)
    }

    /// Every PIN the lab gives the partition, with the role it is for: user, SO, then the Luna
    /// roles.
    pub fn pins(&self) -> Vec<(CK_USER_TYPE, &Spanned<String>)> {
        [
            (CKU_USER, &self.user_pin),
            (CKU_SO, &self.so_pin),
            (luna::CKU_CRYPTO_USER, self.crypto_user_pin()),
            (luna::CKU_LIMITED_CRYPTO_OFFICER, self.limited_co_pin()),
        ]
        .into_iter()
        .filter_map(|(user, pin)| pin.as_ref().map(|pin| (user, pin)))
        .collect()
    }

    /// Luna: the device's admin partition.
    pub fn is_admin(&self) -> bool {
        self.luna().is_some_and(|l| l.admin)
    }
}

/// `[device.partition.luna]`: a Luna partition's roles, cloning domains, size, policies and PED
/// keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LunaPartitionDef {
    /// PPSO partitions: the Crypto User's PIN.
    pub crypto_user_pin: Option<Spanned<String>>,
    /// 7.x partitions: the Limited Crypto Officer's PIN.
    pub limited_co_pin: Option<Spanned<String>>,
    /// The cloning domain (password devices); on 7.8+ the primary one.
    pub domain: Option<Spanned<String>>,
    /// 7.8+: further cloning domains, not primary (`["old-domain"]`).
    pub other_domains: Option<Spanned<Vec<String>>>,
    /// This is the device's admin partition, where the HSM SO (`so_pin`) logs in to change HSM
    /// policies (at most one per device; simulator-defined).
    #[serde(default)]
    pub admin: bool,
    /// The partition's size in bytes; objects beyond it answer
    /// `CKR_CONTAINER_OBJECT_STORAGE_FULL`. Default: unlimited.
    pub size: Option<Spanned<u64>>,
    /// Partition policies away from their defaults, by id (`{ 0 = 1, 4 = 1 }`).
    pub policies: Option<Spanned<BTreeMap<String, u64>>>,
    /// PED devices: PED key files (paths relative to the state directory; created with a new
    /// secret when missing) of the SO (blue), the Crypto Officer (black), the Crypto User
    /// (gray), and the cloning domain (red).
    pub so_ped_key: Option<Spanned<String>>,
    pub user_ped_key: Option<Spanned<String>>,
    pub crypto_user_ped_key: Option<Spanned<String>>,
    pub domain_ped_key: Option<Spanned<String>>,
}

impl LunaPartitionDef {
    /// The PED key fields given, in schema order.
    pub fn ped_keys(&self) -> [&Option<Spanned<String>>; 4] {
        [
            &self.so_ped_key,
            &self.user_ped_key,
            &self.crypto_user_ped_key,
            &self.domain_ped_key,
        ]
    }
}

/// `[device.partition.primus]`: a Primus partition's security policy and administration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrimusPartitionDef {
    /// The partition's security policy (default: all allowed).
    pub allow_import: Option<Spanned<bool>>,
    pub allow_export: Option<Spanned<bool>>,
    pub allow_extract: Option<Spanned<bool>>,
    /// "Management access" (Decanus partition management) enabled; default false.
    pub management: Option<Spanned<bool>>,
    /// The Decanus terminal is paired with this partition's Partition Administration (needs
    /// `management` and the device's `decanus`); default false.
    pub partition_administration: Option<Spanned<bool>>,
}

/// The firmware a Primus device has when the lab does not say (simulator-defined; the version
/// the documents' `pkcs11-tool -L` capture shows).
pub const PRIMUS_DEFAULT_FIRMWARE: &str = "2.11";

/// The firmware a Luna device has when the lab does not say (simulator-defined).
pub const LUNA_DEFAULT_FIRMWARE: &str = "7.4.2";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostDef {
    pub name: Spanned<String>,
    #[serde(default, rename = "slot")]
    pub slots: Vec<SlotDef>,
}

/// One slot of a host: its fixed id and the partition ("device/partition") it shows.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotDef {
    pub id: Spanned<u64>,
    pub partition: Spanned<String>,
}

/// `[[ha_group]]`: a Luna HA group, its label and its members ("device/partition"), Luna
/// partitions of at least two different devices with the same authentication (password or
/// PED) and, where the lab gives them, the same cloning domain, on devices whose HSM policies 7
/// (cloning) and 16 (network replication) are on (both on by default). The first member is the
/// primary (it serves the group's virtual slot). Each host in `hosts` shows the group as an
/// "HA Virtual Card Slot" after its physical slots.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaGroupDef {
    /// The HA group's label (`hagroup createGroup -label`): the virtual slot's token label.
    pub label: Spanned<String>,
    pub members: Spanned<Vec<Spanned<String>>>,
    /// The client hosts whose Luna client has the group configured (default none: no host
    /// shows the group). Each must show every member among its slots.
    pub hosts: Option<Spanned<Vec<Spanned<String>>>>,
    /// The group's serial number (its `CK_TOKEN_INFO.serialNumber`, at most 16 characters).
    /// Default: "1" followed by the first member's serial, cut to 16 characters (Luna numbers an
    /// HA group "1" + its first member's serial; the cut is simulator-defined).
    pub serial: Option<Spanned<String>>,
}

/// `[ccc]`: a Thales Crypto Command Center (seed 004) and what it manages when the lab starts:
/// its organisations with their users, its service templates and its services. Field names
/// and rules follow CCC 3.9's service management guide, quoted below (seed 004, listed in
/// `docs/sources.md`). CCC manages Luna Network HSMs only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CccDef {
    /// The number of partition licences CCC has (the guide: "If sufficient partition licenses
    /// are not available, then Migrate Service button will be disabled"; import is disabled when
    /// "the number of partitions specified for import exceeds the partitions available").
    /// The services' partitions must not exceed it. Default: unlimited.
    pub partition_licences: Option<Spanned<u64>>,
    /// `[[ccc.organisation]]`: "Services are assigned to, and owned by, a specific organization".
    #[serde(default, rename = "organisation")]
    pub organisations: Vec<CccOrganisationDef>,
    /// `[[ccc.template]]`: "Service templates specify the type, size, and capabilities of
    /// services created using the template".
    #[serde(default, rename = "template")]
    pub templates: Vec<CccTemplateDef>,
    /// `[[ccc.service]]`: services CCC already manages.
    #[serde(default, rename = "service")]
    pub services: Vec<CccServiceDef>,
}

/// `[[ccc.organisation]]`: an organisation (name unique) and its users.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CccOrganisationDef {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    /// `user = [{ name = "alice", role = "application-owner" }]` or `[[ccc.organisation.user]]`.
    #[serde(default, rename = "user")]
    pub users: Vec<CccUserDef>,
}

/// A CCC user: a login name (unique in the CCC) and its role.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CccUserDef {
    pub name: Spanned<String>,
    pub role: CccRole,
}

/// A CCC user's role (the guide's "CCC Administrator" and "Application Owner", a member of the
/// organisation that owns a service, who deploys and may initialise it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CccRole {
    Administrator,
    ApplicationOwner,
}

/// `[[ccc.template]]`: a service template (the guide's Create Service Template wizard: General,
/// Set Capabilities).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CccTemplateDef {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    /// "Service Type": "hsm-partition" (a standalone service on a single device) or
    /// "hsm-partition-ha-group" (an HA group using two or more devices).
    pub service_type: Spanned<CccServiceType>,
    /// "Device Capabilities", Authentication: "password" or "ped".
    pub authentication: Spanned<CccAuthentication>,
    /// "Device Capabilities", Performance: "standard", "enterprise" or "maximum" (default: not
    /// selected).
    pub performance: Option<Spanned<CccPerformance>>,
    /// "Partition size (bytes)": 1000 to 99999999 (the guide's limits on a partition's size).
    pub partition_size: Spanned<u64>,
    /// "Per-Partition SO": firmware 6.22 or higher with the Per-Partition SO capability (HSM
    /// policy 41); mandatory on 7.x. Default true ("enabled by default").
    pub per_partition_so: Option<Spanned<bool>>,
    /// "Scalable Key Storage" (a V1 partition): Luna Network HSM 7 firmware 7.7.0 and above
    /// only. Default false (V0).
    pub scalable_key_storage: Option<Spanned<bool>>,
    /// "Secure Trusted Channel": firmware 6.24.2 or higher, not offered on Luna Network HSM 7
    /// firmware 7.7.0 and above. Default false (NTLS).
    pub secure_trusted_channel: Option<Spanned<bool>>,
    /// The backup type of the template's services (issue 16; the guide names none):
    /// "none" (default) or "backup-hsm". Simulator-defined.
    pub backup_type: Option<CccBackupType>,
}

/// A template's backup type (simulator-defined: the CCC 3.9 guide names no values): "none", or
/// "backup-hsm" (the services' partitions are backed up to a Luna Backup HSM by cloning, so
/// they need a cloning domain, which every initialised service has).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CccBackupType {
    #[default]
    None,
    BackupHsm,
}

/// A template's "Service Type".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CccServiceType {
    /// "HSM Partition": a standalone service on a single device.
    HsmPartition,
    /// "HSM Partition HA Group": an HA group using two or more devices.
    HsmPartitionHaGroup,
}

/// A template's authentication ("PED or Password").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CccAuthentication {
    Password,
    Ped,
}

/// A template's performance ("Standard, Enterprise or Maximum performance").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CccPerformance {
    Standard,
    Enterprise,
    Maximum,
}

/// `[[ccc.service]]`: a service CCC manages, "a standalone partition on a Thales Luna Network
/// HSM, or an HA group consisting of multiple partitions, each configured on a different Thales
/// Luna Network HSM".
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CccServiceDef {
    /// The service name, unique, 1 to 28 characters ("This is limited to 28 characters").
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    /// The `[[ccc.template]]` it was created from.
    pub template: Spanned<String>,
    /// The `[[ccc.organisation]]` that owns it.
    pub organisation: Spanned<String>,
    /// Its partitions ("device/partition", Luna Network HSM partitions, each in one service):
    /// one for an "hsm-partition" template, two or more on different devices for an
    /// "hsm-partition-ha-group" one; the first is the HA service's first (primary) partition.
    pub partitions: Spanned<Vec<Spanned<String>>>,
    /// HA services: the `[[ha_group]]` label of the group the partitions form ("HA group
    /// label"); its members must be `partitions`, in the same order. Default: none.
    pub ha_group: Option<Spanned<String>>,
}
