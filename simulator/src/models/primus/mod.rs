//! The Securosys Primus model: a partition as the Primus PKCS#11 provider presents it
//! (Primus §1.3), its credentials (no PKCS#11 SO; the PKCS#11 PIN), the login throttle
//! (a threshold of failures within a window, then locked for a while; §1.4), the key semantics
//! (not extractable unless asked; usage flags false once any is given; §1.6) and the partition
//! security policy (key import, export and extract; §1.7), the device's licence items,
//! Master/Clone state and Decanus terminal with the partition-backup preconditions (§2.1, §2.3),
//! the HSM-internal key names (§1.6), and the cards and credentials (§1.4). Sources:
//! docs/sources.md, "Primus" (docs.securosys.com pages); choices the documents leave open are marked
//! "simulator-defined".
use crate::base::attribute::Attributes;
use crate::base::error::{Result, err};
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Mechanisms Primus does not offer though the simulator has them: single DES (Primus
/// §1.5 in docs/sources.md: the firmware's mechanism list has DES2 and DES3, no single DES), answered
/// `CKR_MECHANISM_INVALID`.
pub const ABSENT_MECHANISMS: &[CK_MECHANISM_TYPE] =
    &[CKM_DES_KEY_GEN, CKM_DES_ECB, CKM_DES_CBC, CKM_DES_CBC_PAD];

pub use crate::base::vendor_codes::CKR_PRIMUS_KEY_IMPORT_NOT_ALLOWED;

/// `CK_TOKEN_INFO.manufacturerID` and `model` (Primus §1.3, observed).
pub const MANUFACTURER: &str = "Securosys SA";
pub const MODEL: &str = "PRIMUS HSM";
/// The provider version reported as the token's firmware version (simulator-defined: the
/// provider 2.x the documents describe).
pub const PROVIDER_VERSION: CK_VERSION = CK_VERSION { major: 2, minor: 4 };
/// PIN lengths as `pkcs11-tool -L` shows them (Primus §1.3: 0/32).
pub const PIN_LEN_RANGE: (usize, usize) = (0, 32);

/// The Weierstrass curves Primus firmware offers for `CKK_EC` keys (simulator-defined:
/// the Primus sources give no curve list; secp192r1, below the 112-bit strength the others start at, is
/// left out, so a Primus slot shows `CKR_CURVE_NOT_SUPPORTED`).
pub const EC_CURVES: &[crate::crypto::ec::Curve] = {
    use crate::crypto::ec::Curve::*;
    &[
        P224,
        P256,
        P384,
        P521,
        Secp256k1,
        BrainpoolP256r1,
        BrainpoolP384r1,
        BrainpoolP512r1,
    ]
};

/// The usage flags whose defaults Primus ties together.
const USAGE_FLAGS: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_SIGN,
    CKA_VERIFY,
    CKA_ENCRYPT,
    CKA_DECRYPT,
    CKA_WRAP,
    CKA_UNWRAP,
    CKA_DERIVE,
    CKA_SIGN_RECOVER,
    CKA_VERIFY_RECOVER,
];

/// Where the device runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    OnPremises,
    CloudHsm,
}

/// A CloudHSM service (Primus §4): shared (HSMaaS, multi-tenant) or dedicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CloudService {
    Shared,
    Dedicated,
}

/// A licence item (Primus §2.3; `SYSTEM > DIAG. DEVICE > LICENSE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Licence {
    PartitionAdministration,
    DeviceBackup,
    DecanusRemoteTerminal,
}

impl Licence {
    pub const ALL: [Licence; 3] = [
        Licence::PartitionAdministration,
        Licence::DeviceBackup,
        Licence::DecanusRemoteTerminal,
    ];

    /// The name a lab writes.
    pub fn lab_name(self) -> &'static str {
        match self {
            Licence::PartitionAdministration => "partition-administration",
            Licence::DeviceBackup => "device-backup",
            Licence::DecanusRemoteTerminal => "decanus-remote-terminal",
        }
    }

    /// The name the licence diagnostics show.
    pub fn title(self) -> &'static str {
        match self {
            Licence::PartitionAdministration => "Partition Administration",
            Licence::DeviceBackup => "Device Backup",
            Licence::DecanusRemoteTerminal => "Decanus Remote Terminal",
        }
    }

    pub fn from_lab(text: &str) -> Option<Licence> {
        Licence::ALL.into_iter().find(|l| l.lab_name() == text)
    }
}

/// How a Clone follows its Master (Primus §2.1: the wizard asks "HA clone" or manual).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CloneMode {
    Ha,
    Manual,
}

/// The device's state from the initial wizard (Primus §2.1): Master ("MSTR") or Clone
/// ("CLON"); `clone_modify` is the device XML switch "object creation allowed on clones".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase", tag = "role")]
pub enum HaRole {
    #[default]
    Master,
    Clone {
        mode: CloneMode,
        clone_modify: bool,
    },
}

/// A Decanus terminal: its release and whether it is paired with the device (Device
/// Administration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Decanus {
    pub version: (u8, u8, u8),
    pub device_administration: bool,
}

/// The Decanus release the partition migration needs (Primus §2.3: "Rel. v2.1.3 and later").
pub const DECANUS_MIGRATION_VERSION: (u8, u8, u8) = (2, 1, 3);

impl Decanus {
    /// Parses "2.1.3" ("2.1" reads as 2.1.0).
    pub fn parse_version(text: &str) -> Option<(u8, u8, u8)> {
        let parts: Vec<&str> = text.trim().split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return None;
        }
        let mut v = [0u8; 3];
        for (slot, part) in v.iter_mut().zip(&parts) {
            *slot = part.parse().ok()?;
        }
        Some((v[0], v[1], v[2]))
    }

    pub fn version_text(&self) -> String {
        let (a, b, c) = self.version;
        format!("{a}.{b}.{c}")
    }
}

/// A partition's administration state (Primus §2.3 step 1): "Management access" enabled
/// (device XML `<management>`), and the Decanus paired with its Partition Administration (PA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PartitionAdmin {
    pub management: bool,
    pub partition_administration: bool,
}

/// A precondition of a partition backup for migration (Primus §2.3) the device does not meet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmet {
    /// A stable name for scripts: `master`, `decanus`, `decanus-version`,
    /// `decanus-device-pairing`, `management-access`, `partition-administration-pairing`,
    /// `licence:<item>`, `partition`.
    pub id: String,
    pub message: String,
}

impl std::fmt::Display for Unmet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.id, self.message)
    }
}

/// A Primus device as the lab defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub deployment: Deployment,
    /// CloudHSM devices: shared or dedicated (`None` on premises).
    pub cloud_service: Option<CloudService>,
    /// The HSM firmware ("2.11", "3.2"), reported as the token's hardware version.
    pub firmware: (u8, u8),
    /// Login throttle parameters (defaults: Primus §1.4's XML defaults).
    pub throttle: ThrottleRule,
    /// Licence items (default: none; simulator-defined).
    pub licences: BTreeSet<Licence>,
    /// Master or Clone (default Master; simulator-defined).
    pub role: HaRole,
    /// The Decanus terminal, if the lab has one for this device.
    pub decanus: Option<Decanus>,
    /// Each partition's administration state, by partition name.
    pub partitions: BTreeMap<String, PartitionAdmin>,
}

/// Answered when a Clone refuses to create, change or destroy token objects
/// (simulator-defined code; Primus §2.1 says these operations need the Master).
pub const CKR_CLONE_READ_ONLY: CK_RV = CKR_TOKEN_WRITE_PROTECTED;

impl Device {
    /// A device with the documented defaults and nothing else: on premises, Master, no
    /// licence items, no Decanus.
    pub fn new(name: &str, deployment: Deployment, firmware: (u8, u8)) -> Device {
        Device {
            name: name.to_string(),
            deployment,
            cloud_service: (deployment == Deployment::CloudHsm).then_some(CloudService::Shared),
            firmware,
            throttle: ThrottleRule::default(),
            licences: BTreeSet::new(),
            role: HaRole::Master,
            decanus: None,
            partitions: BTreeMap::new(),
        }
    }

    /// Whether token objects may be created, changed or destroyed here: on the Master, or on
    /// a Clone with `clone_modify`. Otherwise `CKR_TOKEN_WRITE_PROTECTED` (simulator-defined:
    /// the documents say such operations need the Master, and disagree on whether they are
    /// queued while it is unreachable or refused; the simulator refuses, as the CloudHSM
    /// documents say).
    pub fn check_object_change(&self) -> Result<()> {
        match self.role {
            HaRole::Clone {
                clone_modify: false,
                ..
            } => Err(err(
                CKR_CLONE_READ_ONLY,
                format!(
                    "{} is a Clone without clone_modify: creating, changing or destroying keys and objects needs the Master",
                    self.name
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The preconditions of Primus §2.3 (partition backup with Decanus, for migration to
    /// CloudHSM) for `partition`: every one the device does not meet, or `Ok`. Checked: the
    /// partition exists; the device is the Master (Decanus Partition Administration works on
    /// the HA Master only, §2.1); a Decanus terminal of release 2.1.3 or later, paired with the
    /// device (Device Administration) and with the partition's Partition Administration, whose
    /// "Management access" is enabled; the licence items Partition Administration and Device
    /// Backup. (Decanus Remote Terminal is optional; cards are checked by their own commands.)
    pub fn partition_backup_preconditions(
        &self,
        partition: &str,
    ) -> std::result::Result<(), Vec<Unmet>> {
        let mut unmet = Vec::new();
        let mut miss = |id: &str, message: String| {
            unmet.push(Unmet {
                id: id.to_string(),
                message,
            })
        };
        let admin = self.partitions.get(partition);
        if admin.is_none() {
            miss(
                "partition",
                format!("{} has no partition \"{partition}\"", self.name),
            );
        }
        if let HaRole::Clone { .. } = self.role {
            miss(
                "master",
                format!(
                    "{} is a Clone: Decanus Partition Administration works on the HA Master only",
                    self.name
                ),
            );
        }
        match &self.decanus {
            None => miss(
                "decanus",
                format!(
                    "no Decanus terminal for {}: the migration needs Decanus release 2.1.3 or later",
                    self.name
                ),
            ),
            Some(d) => {
                if d.version < DECANUS_MIGRATION_VERSION {
                    miss(
                        "decanus-version",
                        format!(
                            "the Decanus terminal is release {}: the migration needs 2.1.3 or later",
                            d.version_text()
                        ),
                    );
                }
                if !d.device_administration {
                    miss(
                        "decanus-device-pairing",
                        format!(
                            "the Decanus terminal is not paired with {} (Device Administration)",
                            self.name
                        ),
                    );
                }
            }
        }
        if let Some(admin) = admin {
            if !admin.management {
                miss(
                    "management-access",
                    format!(
                        "\"Management access\" is disabled for partition {partition} (SETUP > CONFIGURATION > SECURITY > USER)"
                    ),
                );
            }
            if !admin.partition_administration {
                miss(
                    "partition-administration-pairing",
                    format!(
                        "the Decanus terminal is not paired with the Partition Administration of {partition} (onboard it with a Partition SO card)"
                    ),
                );
            }
        }
        for licence in [Licence::PartitionAdministration, Licence::DeviceBackup] {
            if !self.licences.contains(&licence) {
                miss(
                    &format!("licence:{}", licence.lab_name()),
                    format!(
                        "{} is not licensed for {} (check SYSTEM > DIAG. DEVICE > LICENSE)",
                        self.name,
                        licence.title()
                    ),
                );
            }
        }
        if unmet.is_empty() { Ok(()) } else { Err(unmet) }
    }

    /// Parses "2.11" or "3.2.1" (major 2 or 3).
    pub fn parse_firmware(text: &str) -> Option<(u8, u8)> {
        let mut parts = text.trim().split('.');
        let major: u8 = parts.next()?.parse().ok()?;
        let minor: u8 = parts.next().map_or(Some(0), |m| m.parse().ok())?;
        if parts.clone().any(|p| p.parse::<u8>().is_err()) || !(2..=3).contains(&major) {
            return None;
        }
        Some((major, minor))
    }

    /// The token's serial: 16 hex digits derived from the partition (Primus §1.3 shows
    /// `a7176edc3c192207`; the derivation is simulator-defined).
    pub fn serial(partition: &str) -> String {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, partition.as_bytes());
        d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

pub use crate::base::throttle::{Throttle, ThrottleRule};

/// A partition's security policy (Primus §1.7, §2.6): whether keys may be imported in clear
/// or by unwrapping, exported by wrapping, and have their value read. Defaults: all allowed
/// (simulator-defined).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityPolicy {
    pub allow_import: bool,
    pub allow_export: bool,
    pub allow_extract: bool,
}

impl Default for SecurityPolicy {
    fn default() -> Self {
        SecurityPolicy {
            allow_import: true,
            allow_export: true,
            allow_extract: true,
        }
    }
}

impl SecurityPolicy {
    /// Importing a secret or private key (in clear or unwrapped): Primus's documented
    /// `0x8000002A` when the policy forbids it.
    pub fn check_import(&self) -> Result<()> {
        if self.allow_import {
            Ok(())
        } else {
            Err(err(
                CKR_PRIMUS_KEY_IMPORT_NOT_ALLOWED,
                "the partition's security policy does not allow key import",
            ))
        }
    }

    /// Wrapping a key out: `CKR_KEY_NOT_WRAPPABLE` when the policy forbids export
    /// (simulator-defined code: Primus documents none).
    pub fn check_export(&self) -> Result<()> {
        if self.allow_export {
            Ok(())
        } else {
            Err(err(
                CKR_KEY_NOT_WRAPPABLE,
                "the partition's security policy does not allow key export",
            ))
        }
    }

    /// Whether a key's value may be read in clear (extract); otherwise it reads as sensitive
    /// (simulator-defined code `CKR_ATTRIBUTE_SENSITIVE`).
    pub fn allows_extract(&self) -> bool {
        self.allow_extract
    }
}

/// Primus's key defaults on a new secret or private key, applied after the standard rules:
/// not extractable unless the template asks; if the template names any usage flag, the usage
/// flags it does not name are false (Primus §1.6: provider 2.1.3 and later).
pub fn apply_key_defaults(template: &Attributes, attrs: &mut Attributes, class: CK_OBJECT_CLASS) {
    if !matches!(class, CKO_SECRET_KEY | CKO_PRIVATE_KEY | CKO_PUBLIC_KEY) {
        return;
    }
    if class != CKO_PUBLIC_KEY && !template.contains(CKA_EXTRACTABLE) {
        attrs.set_bool(CKA_EXTRACTABLE, false);
        attrs.set_bool(CKA_NEVER_EXTRACTABLE, attrs.flag(CKA_LOCAL, false));
    }
    if USAGE_FLAGS.iter().any(|t| template.contains(*t)) {
        for t in USAGE_FLAGS {
            if attrs.contains(*t) && !template.contains(*t) {
                attrs.set_bool(*t, false);
            }
        }
    }
}

pub use crate::base::vendor_codes::CKR_PRIMUS_KEY_NOT_FOUND;

/// The provider's hidden differentiator between a label and an object's unique id
/// (Primus §1.6: `"label"@?!<uid>`).
pub const NAME_DIFFERENTIATOR: &str = "@?!";

pub use crate::base::vendor_codes::CKA_HSMSIM_PRIMUS_NAME;

/// An object's HSM-internal name: its label when no other object of the partition (of the
/// same class; simulator-defined, so that a key pair and its certificate share a name) already
/// has that name, else `label@?!<unique id>` (Primus §1.6).
pub fn hsm_name(label: &str, unique_id: &str, taken: bool) -> String {
    if taken {
        format!("{label}{NAME_DIFFERENTIATOR}{unique_id}")
    } else {
        label.to_string()
    }
}

/// Finds an object by HSM name among `(item, hsm name, label)` entries, as Primus Tools and
/// JCE address keys: the object with exactly that name; else the one object whose label it is;
/// several such objects (objects of several classes sharing the name, or several labelled so
/// with none named so) are ambiguous (`CKR_ARGUMENTS_BAD` naming them, simulator-defined);
/// none is 0x80000012 "key not found" (documented).
pub fn find_by_name<T: Clone>(entries: &[(T, String, String)], name: &str) -> Result<T> {
    let named: Vec<&(T, String, String)> = entries.iter().filter(|(_, n, _)| n == name).collect();
    let labelled: Vec<&(T, String, String)> = if named.is_empty() {
        entries.iter().filter(|(_, _, l)| l == name).collect()
    } else {
        named
    };
    match labelled.as_slice() {
        [] => Err(err(
            CKR_PRIMUS_KEY_NOT_FOUND,
            format!("no key is named \"{name}\""),
        )),
        [(item, _, _)] => Ok(item.clone()),
        many => Err(err(
            CKR_ARGUMENTS_BAD,
            format!(
                "the name \"{name}\" is ambiguous: {} objects have it as name or label; name one of {} (or give the object class)",
                many.len(),
                many.iter()
                    .map(|(_, n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_parses() {
        assert_eq!(Device::parse_firmware("2.11"), Some((2, 11)));
        assert_eq!(Device::parse_firmware("3.2.1"), Some((3, 2)));
        assert_eq!(Device::parse_firmware("7.4"), None);
        assert_eq!(Device::parse_firmware("x"), None);
    }

    #[test]
    fn keys_are_unextractable_and_usage_flags_false_once_any_is_given() {
        let mut template = Attributes::new();
        template.set_bool(CKA_SIGN, true);
        let mut attrs = Attributes::new();
        for t in [CKA_SIGN, CKA_DECRYPT, CKA_UNWRAP] {
            attrs.set_bool(t, true);
        }
        attrs.set_bool(CKA_EXTRACTABLE, true);
        apply_key_defaults(&template, &mut attrs, CKO_PRIVATE_KEY);
        assert_eq!(attrs.bool(CKA_SIGN), Some(true));
        assert_eq!(attrs.bool(CKA_DECRYPT), Some(false));
        assert_eq!(attrs.bool(CKA_UNWRAP), Some(false));
        assert_eq!(attrs.bool(CKA_EXTRACTABLE), Some(false));
        // Without any usage flag, the HSM defaults stay.
        let mut attrs2 = Attributes::new();
        attrs2.set_bool(CKA_DECRYPT, true);
        apply_key_defaults(&Attributes::new(), &mut attrs2, CKO_SECRET_KEY);
        assert_eq!(attrs2.bool(CKA_DECRYPT), Some(true));
        // Asked for: extractable.
        let mut t3 = Attributes::new();
        t3.set_bool(CKA_EXTRACTABLE, true);
        let mut a3 = Attributes::new();
        a3.set_bool(CKA_EXTRACTABLE, true);
        apply_key_defaults(&t3, &mut a3, CKO_SECRET_KEY);
        assert_eq!(a3.bool(CKA_EXTRACTABLE), Some(true));
    }

    #[test]
    fn the_security_policy_answers_the_documented_codes() {
        let closed = SecurityPolicy {
            allow_import: false,
            allow_export: false,
            allow_extract: false,
        };
        assert_eq!(
            closed.check_import().unwrap_err().rv,
            CKR_PRIMUS_KEY_IMPORT_NOT_ALLOWED
        );
        assert_eq!(closed.check_export().unwrap_err().rv, CKR_KEY_NOT_WRAPPABLE);
        assert!(SecurityPolicy::default().check_import().is_ok());
    }
}

pub use crate::base::vendor_codes::{
    CKR_PRIMUS_SETUP_PASSWORD_EXPIRED, CKR_PRIMUS_SETUP_PASSWORD_REJECTED,
};

/// Cards' PINs, setup passwords and permanent secrets are kept only as the secrets kit's salted
/// verifiers (at its implied cost, which their stored form does not record).
pub use crate::base::secrets::verifier::Verifier;

/// A partition user's setup password: 29 characters `XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`, issued by
/// the SO, valid for a lifetime counted from issuance (Primus §1.4: on premises 72 hours,
/// CloudHSM 7 days; counting from issuance everywhere is simulator-defined).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupPassword {
    pub verifier: Verifier,
    pub issued_at: u64,
    pub lifetime_secs: u64,
}

impl SetupPassword {
    /// The documented lifetimes.
    pub fn lifetime(deployment: Deployment) -> u64 {
        match deployment {
            Deployment::OnPremises => 72 * 3600,
            Deployment::CloudHsm => 7 * 24 * 3600,
        }
    }

    /// Issues a new setup password at `now`; returns it (shown once) and what is kept.
    pub fn issue(deployment: Deployment, now: u64) -> Result<(String, SetupPassword)> {
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut random = [0u8; 25];
        crate::base::random::random_fill(&mut random)?;
        let mut text = String::with_capacity(29);
        for (i, b) in random.iter().enumerate() {
            if i > 0 && i % 5 == 0 {
                text.push('-');
            }
            text.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
        }
        let kept = SetupPassword {
            verifier: Verifier::new(text.as_bytes())?,
            issued_at: now,
            lifetime_secs: SetupPassword::lifetime(deployment),
        };
        Ok((text, kept))
    }

    /// Checks a presented setup password at `now`: expired (0x80005018) or rejected
    /// (0x80005017) otherwise.
    pub fn check(&self, presented: &str, now: u64) -> Result<()> {
        if now >= self.issued_at + self.lifetime_secs {
            return Err(err(
                CKR_PRIMUS_SETUP_PASSWORD_EXPIRED,
                "the setup password has expired: the SO issues a new one",
            ));
        }
        let well_formed = presented.len() == 29
            && presented
                .split('-')
                .all(|part| part.len() == 5 && part.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !well_formed || !self.verifier.matches(presented.as_bytes()) {
            return Err(err(
                CKR_PRIMUS_SETUP_PASSWORD_REJECTED,
                "the setup password is wrong",
            ));
        }
        Ok(())
    }

    /// `ppin -a`: a valid setup password fetches the permanent secret (returned once; its
    /// verifier is what the device keeps).
    pub fn fetch_permanent_secret(&self, presented: &str, now: u64) -> Result<(String, Verifier)> {
        self.check(presented, now)?;
        let mut secret = [0u8; 24];
        crate::base::random::random_fill(&mut secret)?;
        let text: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let verifier = Verifier::new(text.as_bytes())?;
        Ok((text, verifier))
    }
}

/// The smart cards of a Primus device (Primus §1.4): SO cards (configuration changes need
/// two of them), the Partition SO card, and the Partition-Backup ("Yellow") card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CardKind {
    So,
    PartitionSo,
    PartitionBackup,
}

impl CardKind {
    pub const ALL: [CardKind; 3] = [
        CardKind::So,
        CardKind::PartitionSo,
        CardKind::PartitionBackup,
    ];

    /// The name the lab and the CLI write.
    pub fn lab_name(self) -> &'static str {
        match self {
            CardKind::So => "so",
            CardKind::PartitionSo => "partition-so",
            CardKind::PartitionBackup => "partition-backup",
        }
    }

    pub fn from_lab(text: &str) -> Option<CardKind> {
        CardKind::ALL.into_iter().find(|k| k.lab_name() == text)
    }

    /// The card's colour (Primus §1.4, §2.3): SO red, Partition SO green, P-Backup yellow.
    pub fn colour(self) -> &'static str {
        match self {
            CardKind::So => "red",
            CardKind::PartitionSo => "green",
            CardKind::PartitionBackup => "yellow",
        }
    }

    /// Whether the card belongs to one partition (Partition SO, Partition-Backup).
    pub fn per_partition(self) -> bool {
        self != CardKind::So
    }
}

/// A card PIN: 8 to 12 digits without a leading 0 (documented for SO cards, Primus §1.4;
/// applied to every card, simulator-defined for the others).
pub fn check_card_pin(pin: &str) -> Result<()> {
    let ok = (8..=12).contains(&pin.len())
        && pin.bytes().all(|b| b.is_ascii_digit())
        && !pin.starts_with('0');
    if ok {
        Ok(())
    } else {
        Err(err(
            CKR_PIN_LEN_RANGE,
            "a card PIN is 8 to 12 digits and does not start with 0",
        ))
    }
}

/// A card as a lab file holds it: its kind, a name, the partition it belongs to (Partition SO
/// and Partition-Backup cards), its PIN's verifier and its attempt counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub kind: CardKind,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    pub pin: Verifier,
    pub attempts_left: u32,
}

/// Wrong PINs a card takes before it blocks (simulator-defined: the documents show a
/// countdown, e.g. "4 attempts left", without the start value).
pub const CARD_ATTEMPTS: u32 = 5;

impl Card {
    pub fn new(kind: CardKind, name: &str, pin: &str) -> Result<Card> {
        Ok(Card {
            kind,
            name: name.to_string(),
            partition: None,
            pin: Verifier::new(pin.as_bytes())?,
            attempts_left: CARD_ATTEMPTS,
        })
    }

    pub fn blocked(&self) -> bool {
        self.attempts_left == 0
    }

    /// Presents the card's PIN: the counter goes down on a wrong one and the card blocks at
    /// zero (`CKR_PIN_LOCKED`); a right one restores the counter.
    pub fn present(&mut self, pin: &str) -> Result<()> {
        if self.blocked() {
            return Err(err(
                CKR_PIN_LOCKED,
                format!("card {} is blocked", self.name),
            ));
        }
        if self.pin.matches(pin.as_bytes()) {
            self.attempts_left = CARD_ATTEMPTS;
            return Ok(());
        }
        self.attempts_left -= 1;
        if self.blocked() {
            Err(err(
                CKR_PIN_LOCKED,
                format!("wrong PIN: card {} is now blocked", self.name),
            ))
        } else {
            Err(err(
                CKR_PIN_INCORRECT,
                format!(
                    "wrong PIN for card {} ({} attempts left)",
                    self.name, self.attempts_left
                ),
            ))
        }
    }
}

/// A security-configuration change needs two different SO cards with their PINs (2-of-n;
/// Primus §1.4). Every card presented counts its attempt.
pub fn authorize_configuration_change(cards: &mut [(&mut Card, &str)]) -> Result<()> {
    let mut accepted: Vec<String> = Vec::new();
    for (card, pin) in cards.iter_mut() {
        if card.kind != CardKind::So {
            return Err(err(
                CKR_USER_TYPE_INVALID,
                format!("card {} is not an SO card", card.name),
            ));
        }
        card.present(pin)?;
        if !accepted.contains(&card.name) {
            accepted.push(card.name.clone());
        }
    }
    if accepted.len() < 2 {
        return Err(err(
            CKR_USER_NOT_LOGGED_IN,
            "a configuration change needs two different SO cards",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod credential_tests {
    use super::*;

    #[test]
    fn setup_passwords_have_the_documented_form_and_expire() {
        let (text, kept) = SetupPassword::issue(Deployment::OnPremises, 1_000).unwrap();
        assert_eq!(text.len(), 29);
        assert_eq!(text.matches('-').count(), 4);
        assert!(kept.check(&text, 1_000 + 72 * 3600 - 1).is_ok());
        assert_eq!(
            kept.check(&text, 1_000 + 72 * 3600).unwrap_err().rv,
            CKR_PRIMUS_SETUP_PASSWORD_EXPIRED
        );
        assert_eq!(
            kept.check("AAAAA-AAAAA-AAAAA-AAAAA-AAAAA", 1_001)
                .unwrap_err()
                .rv,
            CKR_PRIMUS_SETUP_PASSWORD_REJECTED
        );
        let (_, cloud) = SetupPassword::issue(Deployment::CloudHsm, 0).unwrap();
        assert_eq!(cloud.lifetime_secs, 7 * 24 * 3600);
        let (secret, verifier) = kept.fetch_permanent_secret(&text, 1_001).unwrap();
        assert!(verifier.matches(secret.as_bytes()));
        assert!(!serde_json::to_string(&kept).unwrap().contains(&text));
    }

    #[test]
    fn cards_block_after_their_attempts_and_changes_need_two_so_cards() {
        let mut a = Card::new(CardKind::So, "so-1", "1234").unwrap();
        let mut b = Card::new(CardKind::So, "so-2", "5678").unwrap();
        assert!(authorize_configuration_change(&mut [(&mut a, "1234"), (&mut b, "5678")]).is_ok());
        assert_eq!(
            authorize_configuration_change(&mut [(&mut a, "1234")])
                .unwrap_err()
                .rv,
            CKR_USER_NOT_LOGGED_IN
        );
        let mut yellow = Card::new(CardKind::PartitionBackup, "yellow", "9999").unwrap();
        assert_eq!(
            authorize_configuration_change(&mut [(&mut a, "1234"), (&mut yellow, "9999")])
                .unwrap_err()
                .rv,
            CKR_USER_TYPE_INVALID
        );
        for left in (1..CARD_ATTEMPTS).rev() {
            let e = yellow.present("0000").unwrap_err();
            assert_eq!(e.rv, CKR_PIN_INCORRECT);
            assert_eq!(yellow.attempts_left, left);
        }
        assert_eq!(yellow.present("0000").unwrap_err().rv, CKR_PIN_LOCKED);
        assert_eq!(
            yellow.present("9999").unwrap_err().rv,
            CKR_PIN_LOCKED,
            "blocked for good"
        );
        let json = serde_json::to_string(&a).unwrap();
        assert!(!json.contains("1234"));
        assert_eq!(serde_json::from_str::<Card>(&json).unwrap(), a);
    }
}

#[cfg(test)]
mod device_tests {
    use super::*;

    fn ready() -> Device {
        let mut d = Device::new("onprem", Deployment::OnPremises, (2, 11));
        d.licences = [Licence::PartitionAdministration, Licence::DeviceBackup]
            .into_iter()
            .collect();
        d.decanus = Some(Decanus {
            version: (2, 1, 3),
            device_administration: true,
        });
        d.partitions.insert(
            "ACME".into(),
            PartitionAdmin {
                management: true,
                partition_administration: true,
            },
        );
        d
    }

    fn unmet(d: &Device, partition: &str) -> Vec<String> {
        d.partition_backup_preconditions(partition)
            .unwrap_err()
            .into_iter()
            .map(|u| u.id)
            .collect()
    }

    #[test]
    fn the_migration_preconditions_name_each_missing_item() {
        assert!(ready().partition_backup_preconditions("ACME").is_ok());
        assert_eq!(unmet(&ready(), "OTHER"), ["partition"]);

        let mut d = ready();
        d.decanus = Some(Decanus {
            version: (2, 1, 2),
            device_administration: false,
        });
        d.licences.clear();
        d.role = HaRole::Clone {
            mode: CloneMode::Ha,
            clone_modify: false,
        };
        d.partitions
            .insert("ACME".into(), PartitionAdmin::default());
        assert_eq!(
            unmet(&d, "ACME"),
            [
                "master",
                "decanus-version",
                "decanus-device-pairing",
                "management-access",
                "partition-administration-pairing",
                "licence:partition-administration",
                "licence:device-backup",
            ]
        );
        let messages = d.partition_backup_preconditions("ACME").unwrap_err();
        assert!(messages[1].message.contains("2.1.2"), "{}", messages[1]);
        assert!(messages[5].message.contains("Partition Administration"));

        let mut d = ready();
        d.decanus = None;
        assert_eq!(unmet(&d, "ACME"), ["decanus"]);
        assert_eq!(Decanus::parse_version("2.10"), Some((2, 10, 0)));
        assert!(Decanus::parse_version("2.x").is_none());
        assert!((2, 10, 0) > DECANUS_MIGRATION_VERSION);
    }

    #[test]
    fn clones_refuse_object_changes_unless_clone_modify() {
        let mut d = ready();
        assert!(d.check_object_change().is_ok());
        d.role = HaRole::Clone {
            mode: CloneMode::Manual,
            clone_modify: false,
        };
        assert_eq!(
            d.check_object_change().unwrap_err().rv,
            CKR_TOKEN_WRITE_PROTECTED
        );
        d.role = HaRole::Clone {
            mode: CloneMode::Ha,
            clone_modify: true,
        };
        assert!(d.check_object_change().is_ok());
    }

    #[test]
    fn names_are_found_exactly_else_by_a_single_label() {
        let entries = vec![
            (1, "mig@?!aa".to_string(), "mig".to_string()),
            (2, "mig@?!bb".to_string(), "mig".to_string()),
            (3, "zmk".to_string(), "zmk".to_string()),
            (4, "solo@?!cc".to_string(), "solo".to_string()),
        ];
        assert_eq!(find_by_name(&entries, "zmk").unwrap(), 3);
        assert_eq!(find_by_name(&entries, "mig@?!bb").unwrap(), 2);
        assert_eq!(find_by_name(&entries, "solo").unwrap(), 4);
        let e = find_by_name(&entries, "mig").unwrap_err();
        assert_eq!(e.rv, CKR_ARGUMENTS_BAD);
        assert!(e.detail.contains("mig@?!aa, mig@?!bb"), "{e}");
        assert_eq!(
            find_by_name(&entries, "x").unwrap_err().rv,
            CKR_PRIMUS_KEY_NOT_FOUND
        );
        assert_eq!(hsm_name("k", "01", false), "k");
        assert_eq!(hsm_name("k", "01", true), "k@?!01");
        assert!(
            err(CKR_PRIMUS_KEY_NOT_FOUND, "x")
                .to_string()
                .starts_with("CKR_PRIMUS_KEY_NOT_FOUND (0x80000012)")
        );
    }

    #[test]
    fn card_pins_are_8_to_12_digits_without_a_leading_zero() {
        assert!(check_card_pin("12345678").is_ok());
        assert!(check_card_pin("123456789012").is_ok());
        for bad in ["1234567", "1234567890123", "01234567", "1234567a"] {
            assert_eq!(
                check_card_pin(bad).unwrap_err().rv,
                CKR_PIN_LEN_RANGE,
                "{bad}"
            );
        }
        assert_eq!(
            CardKind::from_lab("partition-backup"),
            Some(CardKind::PartitionBackup)
        );
        assert_eq!(CardKind::PartitionBackup.colour(), "yellow");
    }
}
