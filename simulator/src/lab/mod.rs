//! Lab definitions: the simulated estate as a user writes it in TOML (devices with their
//! partitions, client hosts with the slots they see, in order), parsed with serde and validated
//! with errors that name the file, line and column, what is wrong and what is allowed. A lab
//! becomes the engine's `Config` for one host's view. The built-in labs are the fixture files
//! `fixtures/labs/*.toml` (`default`, `generic` and one per documented procedure layout),
//! embedded here.
pub mod definition;

use crate::models::{TokenModel, luna};
use cryptoki_sys::{CKU_SO, CKU_USER};
use definition::{Config, SlotConfig, TokenPreset};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The built-in default lab's user PIN (`fixtures/labs/default.toml`, documented in the README).
pub const DEFAULT_USER_PIN: &str = "12345678";

/// The built-in labs, by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "default",
        include_str!("../../../fixtures/labs/default.toml"),
    ),
    (
        "generic",
        include_str!("../../../fixtures/labs/generic.toml"),
    ),
    (
        "luna-network-to-network7",
        include_str!("../../../fixtures/labs/luna-network-to-network7.toml"),
    ),
    (
        "luna-usb-to-network7",
        include_str!("../../../fixtures/labs/luna-usb-to-network7.toml"),
    ),
    (
        "luna-pcie-to-network7",
        include_str!("../../../fixtures/labs/luna-pcie-to-network7.toml"),
    ),
    (
        "luna-pcie-usb-to-pcie7",
        include_str!("../../../fixtures/labs/luna-pcie-usb-to-pcie7.toml"),
    ),
    (
        "luna-ccc",
        include_str!("../../../fixtures/labs/luna-ccc.toml"),
    ),
    ("primus", include_str!("../../../fixtures/labs/primus.toml")),
];

/// The text of a built-in lab; the error lists the names there are.
pub fn built_in_text(name: &str) -> Result<&'static str, LabError> {
    BUILT_IN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
        .ok_or_else(|| LabError {
            file: format!("built-in lab \"{name}\""),
            position: None,
            message: format!(
                "there is no such built-in lab; allowed: {}",
                BUILT_IN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// Device kinds a lab may name; each selects a vendor model (`vendor::TokenModel`).
pub const DEVICE_KINDS: &[&str] = &[
    "soft",
    "luna-network",
    "luna-pcie",
    "luna-usb",
    "luna-backup",
    "primus",
    "primus-cloudhsm",
];

/// A lab file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabFile {
    pub lab: LabInfo,
    #[serde(default, rename = "device")]
    pub devices: Vec<DeviceDef>,
    #[serde(default, rename = "host")]
    pub hosts: Vec<HostDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabInfo {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceDef {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    /// Luna: firmware version ("6.21.2", "7.4.2", ...; default `LUNA_DEFAULT_FIRMWARE`).
    pub firmware: Option<Spanned<String>>,
    /// Luna: "password" (default) or "ped".
    pub auth: Option<Spanned<String>>,
    /// Serial number (default: derived from the device name).
    pub serial: Option<Spanned<String>>,
    /// Luna: HSM policies away from their defaults, by id (`{ 7 = 1, 21 = 0 }`).
    pub hsm_policies: Option<Spanned<BTreeMap<String, u64>>>,
    /// Luna: memory available for partitions, in bytes; the partitions' `size`s must fit.
    pub memory: Option<Spanned<u64>>,
    /// Primus: the login throttle (the device's XML `login_attempt_threshold`,
    /// `attempt_reset_time` and `login_lockout_time`, seconds; defaults 100, 300, 300).
    pub login_attempt_threshold: Option<Spanned<u32>>,
    pub attempt_reset_time: Option<Spanned<u64>>,
    pub login_lockout_time: Option<Spanned<u64>>,
    /// Primus CloudHSM: "shared" (default) or "dedicated".
    pub service: Option<Spanned<String>>,
    /// Primus: licence items ("partition-administration", "device-backup",
    /// "decanus-remote-terminal"; default none).
    pub licences: Option<Spanned<Vec<Spanned<String>>>>,
    /// Primus: "master" (default) or "clone".
    pub role: Option<Spanned<String>>,
    /// Primus clones: "ha" (default) or "manual".
    pub clone: Option<Spanned<String>>,
    /// Primus clones: object creation allowed on the clone (XML `clone_modify`, default false).
    pub clone_modify: Option<Spanned<bool>>,
    /// Primus: the Decanus terminal that administers the device.
    pub decanus: Option<Spanned<DecanusDef>>,
    #[serde(default, rename = "partition")]
    pub partitions: Vec<PartitionDef>,
}

/// A Primus device's Decanus terminal: its release and its Device Administration pairing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecanusDef {
    pub version: Spanned<String>,
    #[serde(default)]
    pub device_administration: bool,
}

/// A partition (token). It is initialised when it has a label and an SO PIN.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionDef {
    pub name: Spanned<String>,
    pub label: Option<Spanned<String>>,
    pub so_pin: Option<Spanned<String>>,
    pub user_pin: Option<Spanned<String>>,
    /// Luna PPSO partitions: the Crypto User's PIN.
    pub crypto_user_pin: Option<Spanned<String>>,
    /// Luna 7.x partitions: the Limited Crypto Officer's PIN.
    pub limited_co_pin: Option<Spanned<String>>,
    /// Luna: the cloning domain (password devices); on 7.8+ the primary one.
    pub domain: Option<Spanned<String>>,
    /// Luna 7.8+: further cloning domains, not primary (`["old-domain"]`).
    pub other_domains: Option<Spanned<Vec<String>>>,
    /// Primus: the partition's security policy (default: all allowed).
    pub allow_import: Option<Spanned<bool>>,
    pub allow_export: Option<Spanned<bool>>,
    pub allow_extract: Option<Spanned<bool>>,
    /// Primus: "Management access" (Decanus partition management) enabled; default false.
    pub management: Option<Spanned<bool>>,
    /// Primus: the Decanus terminal is paired with this partition's Partition Administration
    /// (needs `management` and the device's `decanus`); default false.
    pub partition_administration: Option<Spanned<bool>>,
    /// Luna: this is the device's admin partition, where the HSM SO (`so_pin`) logs in to
    /// change HSM policies (at most one per device; simulator-defined).
    #[serde(default)]
    pub admin: bool,
    /// Luna: the partition's size in bytes; objects beyond it answer
    /// `CKR_CONTAINER_OBJECT_STORAGE_FULL`. Default: unlimited.
    pub size: Option<Spanned<u64>>,
    /// Luna: partition policies away from their defaults, by id (`{ 0 = 1, 4 = 1 }`).
    pub policies: Option<Spanned<BTreeMap<String, u64>>>,
    /// Luna PED devices: PED key files (paths relative to the state directory; created with a
    /// new secret when missing) of the SO (blue), the Crypto Officer (black), the Crypto User
    /// (gray), and the cloning domain (red).
    pub so_ped_key: Option<Spanned<String>>,
    pub user_ped_key: Option<Spanned<String>>,
    pub crypto_user_ped_key: Option<Spanned<String>>,
    pub domain_ped_key: Option<Spanned<String>>,
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

/// A lab that does not parse or does not make sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabError {
    pub file: String,
    /// 1-based line and column, when the error has a place.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for LabError {}

/// 1-based line and column of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |n| before.len() - n - 1)
        + 1;
    (line, col)
}

/// A parsed and validated lab, with its source for error positions.
#[derive(Debug)]
pub struct Lab {
    pub file: LabFile,
    pub source_name: String,
    /// Each device's token model, by device name.
    pub models: HashMap<String, TokenModel>,
}

/// Policy ids as a lab writes them (TOML keys are strings).
fn policy_ids(
    map: &Spanned<BTreeMap<String, u64>>,
) -> std::result::Result<Vec<(u64, u64)>, String> {
    map.get_ref()
        .iter()
        .map(|(k, v)| {
            k.parse::<u64>()
                .map(|id| (id, *v))
                .map_err(|_| format!("policy ids are numbers (pycryptoki's ids), not \"{k}\""))
        })
        .collect()
}

/// A Primus device's lab fields beyond firmware and throttle: CloudHSM service, licence
/// items, Master/Clone state, Decanus terminal, and each partition's administration state.
fn primus_device_details(
    device: &DeviceDef,
    model: &mut crate::models::primus::Device,
) -> std::result::Result<(), (Option<std::ops::Range<usize>>, String)> {
    use crate::models::primus::{
        CloneMode, CloudService, Decanus, Deployment, HaRole, Licence, PartitionAdmin,
    };
    if let Some(service) = &device.service {
        if model.deployment != Deployment::CloudHsm {
            return Err((
                Some(service.span()),
                "`service` applies to CloudHSM devices (kind \"primus-cloudhsm\") only".into(),
            ));
        }
        model.cloud_service = Some(match service.get_ref().as_str() {
            "shared" => CloudService::Shared,
            "dedicated" => CloudService::Dedicated,
            other => {
                return Err((
                    Some(service.span()),
                    format!("service \"{other}\" is unknown; allowed: shared, dedicated"),
                ));
            }
        });
    }
    for item in device.licences.iter().flat_map(|l| l.get_ref()) {
        let licence = Licence::from_lab(item.get_ref()).ok_or_else(|| {
            (
                Some(item.span()),
                format!(
                    "licence item \"{}\" is unknown; allowed: {}",
                    item.get_ref(),
                    Licence::ALL.map(Licence::lab_name).join(", ")
                ),
            )
        })?;
        if !model.licences.insert(licence) {
            return Err((
                Some(item.span()),
                format!("licence item \"{}\" is listed twice", item.get_ref()),
            ));
        }
    }
    let role = device
        .role
        .as_ref()
        .map_or("master", |r| r.get_ref().as_str());
    model.role = match role {
        "master" => {
            for (given, what) in [
                (device.clone.as_ref().map(Spanned::span), "clone"),
                (
                    device.clone_modify.as_ref().map(Spanned::span),
                    "clone_modify",
                ),
            ] {
                if let Some(span) = given {
                    return Err((
                        Some(span),
                        format!("`{what}` applies to a Clone: write role = \"clone\""),
                    ));
                }
            }
            HaRole::Master
        }
        "clone" => HaRole::Clone {
            mode: match device.clone.as_ref().map_or("ha", |c| c.get_ref().as_str()) {
                "ha" => CloneMode::Ha,
                "manual" => CloneMode::Manual,
                other => {
                    return Err((
                        device.clone.as_ref().map(Spanned::span),
                        format!("clone \"{other}\" is unknown; allowed: ha, manual"),
                    ));
                }
            },
            clone_modify: device.clone_modify.as_ref().is_some_and(|v| *v.get_ref()),
        },
        other => {
            return Err((
                device.role.as_ref().map(Spanned::span),
                format!("role \"{other}\" is unknown; allowed: master, clone"),
            ));
        }
    };
    if let Some(decanus) = &device.decanus {
        let d = decanus.get_ref();
        let version = Decanus::parse_version(d.version.get_ref()).ok_or_else(|| {
            (
                Some(d.version.span()),
                format!(
                    "Decanus version \"{}\" is not a release number; write e.g. \"2.1.3\"",
                    d.version.get_ref()
                ),
            )
        })?;
        model.decanus = Some(Decanus {
            version,
            device_administration: d.device_administration,
        });
    }
    for p in &device.partitions {
        let admin = PartitionAdmin {
            management: p.management.as_ref().is_some_and(|v| *v.get_ref()),
            partition_administration: p
                .partition_administration
                .as_ref()
                .is_some_and(|v| *v.get_ref()),
        };
        if let Some(pa) = p.partition_administration.as_ref().filter(|v| *v.get_ref()) {
            if model.decanus.is_none() {
                return Err((
                    Some(pa.span()),
                    "a Partition Administration pairing needs the device's Decanus terminal: add `decanus = { version = \"2.1.3\", device_administration = true }` to the device".into(),
                ));
            }
            if !admin.management {
                return Err((
                    Some(pa.span()),
                    "a Partition Administration pairing needs \"Management access\": add `management = true` to the partition".into(),
                ));
            }
        }
        model.partitions.insert(p.name.get_ref().clone(), admin);
    }
    Ok(())
}

/// A device's token model, or what is wrong with its definition.
fn device_model(
    device: &DeviceDef,
) -> std::result::Result<TokenModel, (Option<std::ops::Range<usize>>, String)> {
    let kind = device.kind.get_ref().as_str();
    if kind.starts_with("primus") {
        for (given, what) in [
            (device.auth.as_ref().map(Spanned::span), "auth"),
            (
                device.hsm_policies.as_ref().map(Spanned::span),
                "hsm_policies",
            ),
        ] {
            if let Some(span) = given {
                return Err((Some(span), format!("`{what}` applies to Luna devices only")));
            }
        }
        let text = device
            .firmware
            .as_ref()
            .map_or(PRIMUS_DEFAULT_FIRMWARE, |f| f.get_ref().as_str());
        let firmware = crate::models::primus::Device::parse_firmware(text).ok_or_else(|| {
            (
                device.firmware.as_ref().map(Spanned::span),
                format!(
                    "firmware \"{text}\" is not a Primus version; write 2.x or 3.x, e.g. \"2.11\""
                ),
            )
        })?;
        let defaults = crate::models::primus::ThrottleRule::default();
        let throttle = crate::models::primus::ThrottleRule {
            threshold: device
                .login_attempt_threshold
                .as_ref()
                .map_or(defaults.threshold, |v| *v.get_ref()),
            window_secs: device
                .attempt_reset_time
                .as_ref()
                .map_or(defaults.window_secs, |v| *v.get_ref()),
            lockout_secs: device
                .login_lockout_time
                .as_ref()
                .map_or(defaults.lockout_secs, |v| *v.get_ref()),
        };
        if throttle.threshold == 0 {
            return Err((
                device.login_attempt_threshold.as_ref().map(Spanned::span),
                "login_attempt_threshold is at least 1".into(),
            ));
        }
        let deployment = if kind == "primus-cloudhsm" {
            crate::models::primus::Deployment::CloudHsm
        } else {
            crate::models::primus::Deployment::OnPremises
        };
        let mut model =
            crate::models::primus::Device::new(device.name.get_ref(), deployment, firmware);
        model.throttle = throttle;
        primus_device_details(device, &mut model)?;
        return Ok(TokenModel::Primus(std::sync::Arc::new(model)));
    }
    if let Some(given) = [
        device.service.as_ref().map(Spanned::span),
        device.licences.as_ref().map(Spanned::span),
        device.role.as_ref().map(Spanned::span),
        device.clone.as_ref().map(Spanned::span),
        device.clone_modify.as_ref().map(Spanned::span),
        device.decanus.as_ref().map(Spanned::span),
    ]
    .into_iter()
    .flatten()
    .next()
    {
        return Err((
            Some(given),
            "service, licences, role, clone, clone_modify and decanus apply to Primus devices only"
                .into(),
        ));
    }
    if let Some(given) = [
        device.login_attempt_threshold.as_ref().map(Spanned::span),
        device.attempt_reset_time.as_ref().map(Spanned::span),
        device.login_lockout_time.as_ref().map(Spanned::span),
    ]
    .into_iter()
    .flatten()
    .next()
    {
        return Err((
            Some(given),
            "the login throttle applies to Primus devices only".into(),
        ));
    }
    let Some(luna_kind) = luna::DeviceKind::from_lab(kind) else {
        for (given, what) in [
            (device.firmware.as_ref().map(Spanned::span), "firmware"),
            (device.auth.as_ref().map(Spanned::span), "auth"),
            (
                device.hsm_policies.as_ref().map(Spanned::span),
                "hsm_policies",
            ),
        ] {
            if let Some(span) = given {
                return Err((
                    Some(span),
                    format!("`{what}` applies to Luna devices only, not to kind \"{kind}\""),
                ));
            }
        }
        return Ok(TokenModel::Soft);
    };
    let firmware_text = device
        .firmware
        .as_ref()
        .map_or(LUNA_DEFAULT_FIRMWARE, |f| f.get_ref().as_str());
    let firmware = luna::Firmware::parse(firmware_text).ok_or_else(|| {
        (
            device.firmware.as_ref().map(Spanned::span),
            format!(
                "firmware \"{firmware_text}\" is not a Luna version; write major.minor.subminor from 5.x to 7.x, e.g. \"6.21.2\" or \"7.7.1\""
            ),
        )
    })?;
    let auth_text = device
        .auth
        .as_ref()
        .map_or("password", |a| a.get_ref().as_str());
    let auth = luna::Auth::from_lab(auth_text).ok_or_else(|| {
        (
            device.auth.as_ref().map(Spanned::span),
            format!("auth \"{auth_text}\" is unknown; allowed: password, ped"),
        )
    })?;
    let mut hsm_policies = BTreeMap::new();
    if let Some(map) = &device.hsm_policies {
        for (id, value) in policy_ids(map).map_err(|m| (Some(map.span()), m))? {
            luna::check_hsm_policy(firmware, id, value)
                .map_err(|e| (Some(map.span()), e.detail.into_owned()))?;
            hsm_policies.insert(id, value);
        }
    }
    let serial = device.serial.as_ref().map_or_else(
        || {
            let d = aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA256,
                device.name.get_ref().as_bytes(),
            );
            let n =
                u32::from_be_bytes([d.as_ref()[0], d.as_ref()[1], d.as_ref()[2], d.as_ref()[3]]);
            format!("{}", 100_000_000 + n % 900_000_000)
        },
        |s| s.get_ref().clone(),
    );
    Ok(TokenModel::Luna(std::sync::Arc::new(luna::Device {
        name: device.name.get_ref().clone(),
        kind: luna_kind,
        firmware,
        auth,
        serial,
        hsm_policies,
        changed: luna::ChangedPolicies::default(),
    })))
}

impl Lab {
    /// Parses and validates a lab's text; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Lab, LabError> {
        let error = |span: Option<std::ops::Range<usize>>, message: String| LabError {
            file: source_name.to_string(),
            position: span.map(|s| position(text, s.start)),
            message,
        };
        let file: LabFile =
            toml::from_str(text).map_err(|e| error(e.span(), e.message().trim().to_string()))?;
        let at = |s: &Spanned<String>, message: String| error(Some(s.span()), message);

        let mut partitions = HashMap::new();
        let mut device_names = BTreeSet::new();
        let mut models = HashMap::new();
        for device in &file.devices {
            if !device_names.insert(device.name.get_ref().as_str()) {
                return Err(at(
                    &device.name,
                    format!("device \"{}\" is defined twice", device.name.get_ref()),
                ));
            }
            if !DEVICE_KINDS.contains(&device.kind.get_ref().as_str()) {
                return Err(at(
                    &device.kind,
                    format!(
                        "unknown device kind \"{}\"; allowed: {}",
                        device.kind.get_ref(),
                        DEVICE_KINDS.join(", ")
                    ),
                ));
            }
            let model = device_model(device).map_err(|(span, m)| error(span, m))?;
            if let Some(memory) = &device.memory {
                if model.luna().is_none() {
                    return Err(error(
                        Some(memory.span()),
                        "`memory` applies to Luna devices only".into(),
                    ));
                }
                let sized: u64 = device
                    .partitions
                    .iter()
                    .filter_map(|p| p.size.as_ref().map(|s| *s.get_ref()))
                    .sum();
                if sized > *memory.get_ref() {
                    return Err(error(
                        Some(memory.span()),
                        format!(
                            "the partitions' sizes add up to {sized} bytes, more than the device's memory of {} bytes",
                            memory.get_ref()
                        ),
                    ));
                }
            }
            models.insert(device.name.get_ref().clone(), model.clone());
            for p in &device.partitions {
                let key = format!("{}/{}", device.name.get_ref(), p.name.get_ref());
                if partitions.insert(key.clone(), p).is_some() {
                    return Err(at(&p.name, format!("partition \"{key}\" is defined twice")));
                }
                if let Some(label) = &p.label
                    && label.get_ref().len() > 32
                {
                    return Err(at(label, "a token label is at most 32 bytes".into()));
                }
                for pin in [
                    &p.so_pin,
                    &p.user_pin,
                    &p.crypto_user_pin,
                    &p.limited_co_pin,
                ]
                .into_iter()
                .flatten()
                {
                    if let Err(e) = model.check_pin_len(pin.get_ref().as_bytes()) {
                        return Err(at(pin, e.detail.into_owned()));
                    }
                }
                for (pin, user) in [
                    (&p.crypto_user_pin, luna::CKU_CRYPTO_USER),
                    (&p.limited_co_pin, luna::CKU_LIMITED_CRYPTO_OFFICER),
                ] {
                    if let Some(pin) = pin {
                        if let Err(e) = model.check_role(user) {
                            return Err(at(pin, e.detail.into_owned()));
                        }
                        if p.user_pin.is_none() {
                            return Err(at(
                                pin,
                                "the Crypto Officer (`user_pin`) initialises this role: give `user_pin` too".into(),
                            ));
                        }
                    }
                }
                if p.admin && model.luna().is_none() {
                    return Err(at(&p.name, "`admin` applies to Luna devices only".into()));
                }
                if p.admin && device.partitions.iter().filter(|q| q.admin).count() > 1 {
                    return Err(at(
                        &p.name,
                        "a device has at most one admin partition".into(),
                    ));
                }
                if let Some(size) = &p.size
                    && model.luna().is_none()
                {
                    return Err(error(
                        Some(size.span()),
                        "`size` applies to Luna partitions only".into(),
                    ));
                }
                for given in [&p.domain].into_iter().flatten() {
                    if model.luna().is_none() {
                        return Err(at(given, "`domain` applies to Luna partitions only".into()));
                    }
                }
                if let Some(others) = &p.other_domains {
                    let Some(device) = model.luna() else {
                        return Err(error(
                            Some(others.span()),
                            "`other_domains` applies to Luna partitions only".into(),
                        ));
                    };
                    let mut state = luna::PartitionState {
                        domain: p
                            .domain
                            .as_ref()
                            .map(|d| luna::domain_verifier(d.get_ref().as_bytes())),
                        ..luna::PartitionState::default()
                    };
                    if state.domain.is_none() {
                        return Err(error(
                            Some(others.span()),
                            "`other_domains` needs the primary `domain` too".into(),
                        ));
                    }
                    for d in others.get_ref() {
                        state
                            .add_domain(device, luna::domain_verifier(d.as_bytes()))
                            .map_err(|e| error(Some(others.span()), e.detail.into_owned()))?;
                    }
                }
                if p.label.is_none() {
                    if let Some(others) = &p.other_domains {
                        return Err(error(
                            Some(others.span()),
                            "a blank partition (no `label`) gets its domains when it is initialised; leave `other_domains` out".into(),
                        ));
                    }
                    let set_at_init = [&p.domain, &p.crypto_user_pin, &p.limited_co_pin];
                    if let Some(given) = set_at_init.into_iter().flatten().next() {
                        return Err(at(
                            given,
                            "a blank partition (no `label`) gets its domain and roles when it is initialised; give `label` and `so_pin` or leave this out".into(),
                        ));
                    }
                    if let Some(map) = &p.policies {
                        return Err(error(
                            Some(map.span()),
                            "a blank partition (no `label`) gets its policies when it is initialised; give `label` and `so_pin` or leave `policies` out".into(),
                        ));
                    }
                }
                if let Some(map) = &p.policies {
                    let Some(device) = model.luna() else {
                        return Err(error(
                            Some(map.span()),
                            "`policies` apply to Luna partitions only".into(),
                        ));
                    };
                    let changes = policy_ids(map).map_err(|m| error(Some(map.span()), m))?;
                    luna::PartitionState::default()
                        .apply(device, &changes, true)
                        .map_err(|e| error(Some(map.span()), e.detail.into_owned()))?;
                }
                let primus_policy = [&p.allow_import, &p.allow_export, &p.allow_extract];
                if model.primus().is_some() {
                    if let Some(so) = &p.so_pin {
                        return Err(at(
                            so,
                            "Primus partitions have no PKCS#11 SO (their SOs use cards on the device or Decanus): leave `so_pin` out; `user_pin` initialises the partition".into(),
                        ));
                    }
                    if let Some(label) = &p.label
                        && label.get_ref() != p.name.get_ref()
                    {
                        return Err(at(
                            label,
                            format!(
                                "a Primus token's label is its partition name \"{}\"",
                                p.name.get_ref()
                            ),
                        ));
                    }
                    continue;
                }
                if let Some(given) = primus_policy.into_iter().flatten().next() {
                    return Err(error(
                        Some(given.span()),
                        "allow_import, allow_export and allow_extract apply to Primus partitions only".into(),
                    ));
                }
                if let Some(given) = [&p.management, &p.partition_administration]
                    .into_iter()
                    .flatten()
                    .next()
                {
                    return Err(error(
                        Some(given.span()),
                        "management and partition_administration apply to Primus partitions only"
                            .into(),
                    ));
                }
                let ped_keys = [
                    &p.so_ped_key,
                    &p.user_ped_key,
                    &p.crypto_user_ped_key,
                    &p.domain_ped_key,
                ];
                if model.uses_ped() {
                    let passwords = [
                        &p.so_pin,
                        &p.user_pin,
                        &p.crypto_user_pin,
                        &p.limited_co_pin,
                        &p.domain,
                    ];
                    if let Some(given) = passwords.into_iter().flatten().next() {
                        return Err(at(
                            given,
                            "PED partitions authenticate with PED keys: use so_ped_key, user_ped_key, crypto_user_ped_key and domain_ped_key".into(),
                        ));
                    }
                    match (&p.label, &p.so_ped_key) {
                        (Some(_), Some(_)) => {}
                        (None, None) if ped_keys.iter().all(|k| k.is_none()) => {}
                        _ => {
                            return Err(at(
                                &p.name,
                                "an initialised PED partition needs both `label` and `so_ped_key`; a blank one has neither".into(),
                            ));
                        }
                    }
                    if let Some(cu) = &p.crypto_user_ped_key
                        && let Err(e) = model.check_role(luna::CKU_CRYPTO_USER)
                    {
                        return Err(at(cu, e.detail.into_owned()));
                    }
                    continue;
                }
                if let Some(given) = ped_keys.into_iter().flatten().next() {
                    return Err(at(
                        given,
                        "PED keys apply to Luna devices with auth = \"ped\" only".into(),
                    ));
                }
                match (&p.label, &p.so_pin, &p.user_pin) {
                    (Some(_), Some(_), _) | (None, None, None) => {}
                    _ => {
                        return Err(at(
                            &p.name,
                            "an initialised partition needs both `label` and `so_pin` (`user_pin` is optional); a blank one has none of the three".into(),
                        ));
                    }
                }
            }
        }
        if file.hosts.is_empty() {
            return Err(error(
                None,
                "a lab needs at least one [[host]] with its slots".into(),
            ));
        }
        let mut host_names = BTreeSet::new();
        for host in &file.hosts {
            if !host_names.insert(host.name.get_ref().as_str()) {
                return Err(at(
                    &host.name,
                    format!("host \"{}\" is defined twice", host.name.get_ref()),
                ));
            }
            let mut ids = BTreeSet::new();
            let mut shown = BTreeSet::new();
            for slot in &host.slots {
                if !shown.insert(slot.partition.get_ref().as_str()) {
                    return Err(at(
                        &slot.partition,
                        format!(
                            "host \"{}\" shows partition \"{}\" twice",
                            host.name.get_ref(),
                            slot.partition.get_ref()
                        ),
                    ));
                }
                if !ids.insert(*slot.id.get_ref()) {
                    return Err(error(
                        Some(slot.id.span()),
                        format!(
                            "slot {} appears twice for host \"{}\"",
                            slot.id.get_ref(),
                            host.name.get_ref()
                        ),
                    ));
                }
                if !partitions.contains_key(slot.partition.get_ref()) {
                    let known: Vec<_> = partitions.keys().cloned().collect();
                    return Err(at(
                        &slot.partition,
                        format!(
                            "no partition \"{}\"; name one as \"device/partition\": {}",
                            slot.partition.get_ref(),
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(Lab {
            models,
            file,
            source_name: source_name.to_string(),
        })
    }

    /// Reads and validates a lab file.
    pub fn load(path: &Path) -> Result<Lab, LabError> {
        let text = crate::base::files::read_to_string(path).map_err(|e| LabError {
            file: path.display().to_string(),
            position: None,
            message: format!("cannot read the lab file: {e}"),
        })?;
        Lab::parse(&text, &path.display().to_string())
    }

    /// A built-in lab by name.
    pub fn built_in(name: &str) -> Result<Lab, LabError> {
        let text = built_in_text(name)?;
        Lab::parse(text, &format!("fixtures/labs/{name}.toml"))
    }

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
        let partitions: HashMap<String, (TokenModel, Option<TokenPreset>)> = self
            .partitions()
            .into_iter()
            .map(|(p, model, preset)| (p, (model, preset)))
            .collect();
        let sizes: HashMap<String, u64> = self
            .file
            .devices
            .iter()
            .flat_map(|d| {
                d.partitions.iter().filter_map(move |p| {
                    p.size.as_ref().map(|size| {
                        (
                            format!("{}/{}", d.name.get_ref(), p.name.get_ref()),
                            *size.get_ref(),
                        )
                    })
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
                    .filter(|p| p.admin)
                    .map(move |p| format!("{}/{}", d.name.get_ref(), p.name.get_ref()))
            })
            .collect();
        let slots = chosen
            .slots
            .iter()
            .map(|s| {
                let (model, preset) = partitions[s.partition.get_ref()].clone();
                let ped_keys = preset
                    .as_ref()
                    .map(|p| {
                        p.ped_keys
                            .iter()
                            .map(|(u, k)| (*u, state_dir.join(k)))
                            .collect()
                    })
                    .unwrap_or_default();
                SlotConfig {
                    admin: admins.contains(s.partition.get_ref()),
                    capacity: sizes.get(s.partition.get_ref()).copied(),
                    ped_keys,
                    id: *s.id.get_ref(),
                    partition: s.partition.get_ref().clone(),
                    description: format!("{} ({})", s.partition.get_ref(), chosen.name.get_ref()),
                    preset,
                    model,
                }
            })
            .collect();
        Ok(Config { state_dir, slots })
    }

    /// Every partition of every device ("device/partition"), in lab order, with its device's
    /// token model and the token it starts with (`None`: blank).
    pub fn partitions(&self) -> Vec<(String, TokenModel, Option<TokenPreset>)> {
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
                        let preset = p.user_pin.as_ref().map(|pin| TokenPreset {
                            label: p.name.get_ref().clone(),
                            user_pin: Some(pin.get_ref().clone()),
                            primus_policy: Some(crate::models::primus::SecurityPolicy {
                                allow_import: p.allow_import.as_ref().is_none_or(|v| *v.get_ref()),
                                allow_export: p.allow_export.as_ref().is_none_or(|v| *v.get_ref()),
                                allow_extract: p
                                    .allow_extract
                                    .as_ref()
                                    .is_none_or(|v| *v.get_ref()),
                            }),
                            ..TokenPreset::default()
                        });
                        return (
                            format!("{}/{}", d.name.get_ref(), p.name.get_ref()),
                            model.clone(),
                            preset,
                        );
                    }
                    // Initialised: a label and the SO's credential (a PIN, or a PED key).
                    let has_so = p.so_pin.is_some() || p.so_ped_key.is_some();
                    let preset = match &p.label {
                        Some(label) if has_so => Some(TokenPreset {
                            label: label.get_ref().clone(),
                            so_pin: text(&p.so_pin),
                            user_pin: text(&p.user_pin),
                            role_pins: [
                                (luna::CKU_CRYPTO_USER, text(&p.crypto_user_pin)),
                                (luna::CKU_LIMITED_CRYPTO_OFFICER, text(&p.limited_co_pin)),
                            ]
                            .into_iter()
                            .filter_map(|(u, pin)| pin.map(|pin| (u, pin)))
                            .collect(),
                            domain: text(&p.domain),
                            other_domains: p
                                .other_domains
                                .as_ref()
                                .map(|d| d.get_ref().clone())
                                .unwrap_or_default(),
                            ped_keys: [
                                (CKU_SO, text(&p.so_ped_key)),
                                (CKU_USER, text(&p.user_ped_key)),
                                (luna::CKU_CRYPTO_USER, text(&p.crypto_user_ped_key)),
                            ]
                            .into_iter()
                            .filter_map(|(u, k)| k.map(|k| (u, k)))
                            .collect(),
                            domain_ped_key: text(&p.domain_ped_key),
                            primus_policy: None,
                            policies: p
                                .policies
                                .as_ref()
                                .and_then(|m| policy_ids(m).ok())
                                .unwrap_or_default(),
                        }),
                        _ => None,
                    };
                    (
                        format!("{}/{}", d.name.get_ref(), p.name.get_ref()),
                        model.clone(),
                        preset,
                    )
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_labs_parse_and_give_their_slots() {
        let default = Lab::built_in("default").unwrap();
        let config = default.config(None, PathBuf::from("/tmp/x")).unwrap();
        let ids: Vec<_> = config.slots.iter().map(|s| s.id).collect();
        assert_eq!(ids, [0, 1, 2]);
        let preset = config.slots[0].preset.as_ref().unwrap();
        assert_eq!(preset.label, "hsmsim-default");
        assert_eq!(preset.user_pin.as_deref(), Some(DEFAULT_USER_PIN));
        assert!(config.slots[1].preset.is_none());
        let generic = Lab::built_in("generic")
            .unwrap()
            .config(None, PathBuf::new())
            .unwrap();
        assert!(generic.slots.iter().all(|s| s.preset.is_none()));
        assert!(
            Lab::built_in("nope")
                .unwrap_err()
                .message
                .contains("default, generic")
        );
    }

    /// A slot as a fixture documents it: id, partition, and whether the token starts
    /// initialised (label and SO PIN) or blank.
    type Slot = (u64, &'static str, bool);
    /// A host's name and its slots, in the lab's order.
    type HostView = (&'static str, &'static [Slot]);

    /// Every built-in lab's hosts, in order, with the slots the guides document for them.
    const LAYOUTS: &[(&str, &[HostView])] = &[
        (
            "default",
            &[(
                "client",
                &[
                    (0, "hsm1/default", true),
                    (1, "hsm1/blank1", false),
                    (2, "hsm1/blank2", false),
                ],
            )],
        ),
        (
            "generic",
            &[("client", &[(0, "hsm1/p0", false), (1, "hsm1/p1", false)])],
        ),
        // Luna guide ch. 2: 0 = source, 1 = destination, 2 = Backup HSM, one host.
        (
            "luna-network-to-network7",
            &[(
                "client",
                &[
                    (0, "sa6/app", true),
                    (1, "sa7/app", false),
                    (2, "backup/hsm", true),
                ],
            )],
        ),
        // Ch. 3 and 4: backup on the old host (0 and 2), restore on the new host (1 and 2),
        // cloning on a 7.x host with the old HSM attached (0 and 1).
        (
            "luna-usb-to-network7",
            &[
                (
                    "old-host",
                    &[(0, "usb6/app", true), (2, "backup/hsm", true)],
                ),
                (
                    "new-host",
                    &[(1, "sa7/app", false), (2, "backup/hsm", true)],
                ),
                (
                    "clone-host",
                    &[(0, "usb6/app", true), (1, "sa7/app", false)],
                ),
            ],
        ),
        (
            "luna-pcie-to-network7",
            &[
                ("old-host", &[(0, "k6/app", true), (2, "backup/hsm", true)]),
                (
                    "new-host",
                    &[(1, "sa7/app", false), (2, "backup/hsm", true)],
                ),
                ("clone-host", &[(0, "k6/app", true), (1, "sa7/app", false)]),
            ],
        ),
        // Ch. 5: one host, 0 = source (PCIe or USB), 1 = PCIe 7 destination, 2 = Backup HSM.
        (
            "luna-pcie-usb-to-pcie7",
            &[
                (
                    "client-pcie6",
                    &[
                        (0, "k6/app", true),
                        (1, "k7/app", false),
                        (2, "backup/hsm", true),
                    ],
                ),
                (
                    "client-usb6",
                    &[
                        (0, "usb6/app", true),
                        (1, "k7/app", false),
                        (2, "backup/hsm", true),
                    ],
                ),
            ],
        ),
        // CCC: slot ids simulator-defined (the documentation gives none).
        (
            "luna-ccc",
            &[
                (
                    "ccc-server",
                    &[
                        (0, "sa6-legacy/legacy", true),
                        (1, "sa6-ppso/payments", true),
                        (2, "sa6-ppso/spare", false),
                        (3, "sa7-a/web1", true),
                        (4, "sa7-a/svc1", false),
                        (5, "sa7-a/svc2", false),
                        (6, "sa7-b/web2", true),
                        (7, "sa7-b/svc1", false),
                        (8, "sa7-b/svc2", false),
                        (9, "sa7-c/vault", true),
                        (10, "sa7-c/svc1", false),
                    ],
                ),
                (
                    "app-client",
                    &[
                        (0, "sa6-ppso/payments", true),
                        (1, "sa6-legacy/legacy", true),
                        (2, "sa7-a/web1", true),
                        (3, "sa7-b/web2", true),
                        (4, "sa7-c/vault", true),
                    ],
                ),
            ],
        ),
        // Primus: slot ids are primus.cfg's, simulator-defined here.
        (
            "primus",
            &[
                (
                    "admin-host",
                    &[
                        (0, "primus-onprem/ACME-PKI", true),
                        (1, "primus-dr/ACME-DR", true),
                        (2, "cloudhsm/ACME-CLOUD", true),
                        (3, "cloudhsm/restore", false),
                        (4, "cloudhsm-dedicated/restore", false),
                    ],
                ),
                ("ca-server", &[(0, "primus-onprem/ACME-ADCS", true)]),
            ],
        ),
    ];

    #[test]
    fn every_built_in_lab_gives_each_host_the_documented_slots() {
        let built_in: Vec<_> = BUILT_IN.iter().map(|(n, _)| *n).collect();
        let documented: Vec<_> = LAYOUTS.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            built_in, documented,
            "every built-in lab has its layout here"
        );
        for (name, hosts) in LAYOUTS {
            let lab = Lab::built_in(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(lab.file.lab.name, *name, "[lab] name of {name}");
            assert_eq!(lab.source_name, format!("fixtures/labs/{name}.toml"));
            let host_names: Vec<_> = lab
                .file
                .hosts
                .iter()
                .map(|h| h.name.get_ref().as_str())
                .collect();
            let expected: Vec<_> = hosts.iter().map(|(h, _)| *h).collect();
            assert_eq!(host_names, expected, "hosts of {name}");
            for (host, slots) in *hosts {
                let config = lab.config(Some(host), PathBuf::from("/tmp/x")).unwrap();
                let got: Vec<_> = config
                    .slots
                    .iter()
                    .map(|s| (s.id, s.partition.as_str(), s.preset.is_some()))
                    .collect();
                assert_eq!(got, slots.to_vec(), "{name}, host {host}");
                assert_eq!(config.state_dir, PathBuf::from("/tmp/x"));
            }
            // The first host is the default view.
            let first = lab.config(None, PathBuf::new()).unwrap();
            assert_eq!(first.slots.len(), hosts[0].1.len(), "{name}: default host");
        }
    }

    #[test]
    fn built_in_labs_use_pins_of_eight_characters_or_more() {
        for (name, _) in BUILT_IN {
            let lab = Lab::built_in(name).unwrap();
            for device in &lab.file.devices {
                assert!(DEVICE_KINDS.contains(&device.kind.get_ref().as_str()));
                for p in &device.partitions {
                    for pin in [
                        &p.so_pin,
                        &p.user_pin,
                        &p.crypto_user_pin,
                        &p.limited_co_pin,
                    ]
                    .into_iter()
                    .flatten()
                    {
                        assert!(
                            pin.get_ref().len() >= 8,
                            "{name}: {}/{}",
                            device.name.get_ref(),
                            p.name.get_ref()
                        );
                    }
                    // An initialised procedure partition has a Crypto Officer / user PIN too,
                    // except a Backup HSM, which has only its HSM SO.
                    if p.label.is_some() && device.kind.get_ref() != "luna-backup" {
                        assert!(p.user_pin.is_some(), "{name}: {}", p.name.get_ref());
                    }
                }
            }
        }
        let backup = Lab::built_in("luna-usb-to-network7").unwrap();
        let old = backup
            .config(Some("old-host"), PathBuf::new())
            .unwrap()
            .slots;
        let new = backup
            .config(Some("new-host"), PathBuf::new())
            .unwrap()
            .slots;
        // The moved Backup HSM is one token: same partition, same preset, on both hosts.
        assert_eq!(old[1].partition, new[1].partition);
        assert_eq!(old[1].preset, new[1].preset);
        let preset = old[1].preset.as_ref().unwrap();
        assert_eq!(preset.label, "backup-hsm");
        assert!(preset.user_pin.is_none());
    }

    /// Every Luna fixture's devices, in lab order, with the firmware each header comment gives
    /// as the fixture's variant. Authentication is password on every device (the PED variant is
    /// `auth = "ped"` on all of them).
    const LUNA_FIRMWARE: &[(&str, &[(&str, &str)])] = &[
        (
            "luna-network-to-network7",
            &[("sa6", "6.21.2"), ("sa7", "7.4.2"), ("backup", "6.28.0")],
        ),
        (
            "luna-usb-to-network7",
            &[("usb6", "6.21.2"), ("sa7", "7.4.2"), ("backup", "6.28.0")],
        ),
        (
            "luna-pcie-to-network7",
            &[("k6", "6.21.2"), ("sa7", "7.4.2"), ("backup", "6.28.0")],
        ),
        (
            "luna-pcie-usb-to-pcie7",
            &[
                ("k6", "6.21.2"),
                ("usb6", "6.21.2"),
                ("k7", "7.4.2"),
                ("backup", "6.28.0"),
            ],
        ),
        (
            "luna-ccc",
            &[
                ("sa6-legacy", "6.21.2"),
                ("sa6-ppso", "6.24.2"),
                ("sa7-a", "7.4.2"),
                ("sa7-b", "7.4.2"),
                ("sa7-c", "7.7.1"),
            ],
        ),
    ];

    /// Per Luna fixture: its cloning domain, the (source, destination) pairs that must share it
    /// (the Backup HSM partition a backup goes to; the members of an HA group), the blank 7.x
    /// destinations (they get the domain at `partition init`), and the devices an HA procedure
    /// needs HSM policy 16 (network replication) on.
    type DomainCase = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static [&'static str],
        &'static [&'static str],
    );
    const LUNA_DOMAINS: &[DomainCase] = &[
        (
            "luna-network-to-network7",
            "acme-migration-domain",
            &[("sa6/app", "backup/hsm")],
            &["sa7/app"],
            &["sa6", "sa7"],
        ),
        (
            "luna-usb-to-network7",
            "acme-migration-domain",
            &[("usb6/app", "backup/hsm")],
            &["sa7/app"],
            &[],
        ),
        (
            "luna-pcie-to-network7",
            "acme-migration-domain",
            &[("k6/app", "backup/hsm")],
            &["sa7/app"],
            &[],
        ),
        (
            "luna-pcie-usb-to-pcie7",
            "acme-migration-domain",
            &[("k6/app", "backup/hsm"), ("usb6/app", "backup/hsm")],
            &["k7/app"],
            &["k6", "usb6", "k7"],
        ),
        (
            "luna-ccc",
            "acme-ccc-domain",
            &[("sa7-a/web1", "sa7-b/web2")],
            &[
                "sa6-ppso/spare",
                "sa7-a/svc1",
                "sa7-a/svc2",
                "sa7-b/svc1",
                "sa7-b/svc2",
                "sa7-c/svc1",
            ],
            &["sa7-a", "sa7-b", "sa7-c"],
        ),
    ];

    #[test]
    fn luna_fixtures_state_firmware_auth_serial_domain_and_policies() {
        let luna_labs: Vec<_> = BUILT_IN
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| n.starts_with("luna-"))
            .collect();
        let listed: Vec<_> = LUNA_FIRMWARE.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            luna_labs, listed,
            "every Luna fixture has its firmware here"
        );
        let listed: Vec<_> = LUNA_DOMAINS.iter().map(|c| c.0).collect();
        assert_eq!(luna_labs, listed, "every Luna fixture has its domain here");

        for (name, devices) in LUNA_FIRMWARE {
            let lab = Lab::built_in(name).unwrap();
            let names: Vec<_> = lab
                .file
                .devices
                .iter()
                .map(|d| d.name.get_ref().as_str())
                .collect();
            let expected: Vec<_> = devices.iter().map(|(d, _)| *d).collect();
            assert_eq!(names, expected, "{name}: devices");
            let mut serials = BTreeSet::new();
            for d in &lab.file.devices {
                let device = d.name.get_ref();
                assert!(
                    d.firmware.is_some() && d.auth.is_some() && d.serial.is_some(),
                    "{name}: {device} states its firmware, auth and serial"
                );
                assert!(
                    serials.insert(d.serial.as_ref().unwrap().get_ref().clone()),
                    "{name}: {device}'s serial is unique"
                );
                let hsm: Vec<_> = d
                    .hsm_policies
                    .iter()
                    .flat_map(|m| m.get_ref().keys())
                    .collect();
                if d.kind.get_ref() != "luna-backup" {
                    assert!(
                        hsm.iter().any(|k| *k == "7"),
                        "{name}: {device} states HSM policy 7 (cloning)"
                    );
                }
            }
            for (device, firmware) in *devices {
                let d = lab.models[*device]
                    .luna()
                    .unwrap_or_else(|| panic!("{name}: {device} has the Luna model"));
                assert_eq!(d.firmware.to_string(), *firmware, "{name}: {device}");
                assert_eq!(d.auth, luna::Auth::Password, "{name}: {device}");
                if d.kind != luna::DeviceKind::Backup {
                    assert_eq!(
                        d.hsm_policy(luna::hsm_policy::CLONING),
                        1,
                        "{name}: {device}"
                    );
                }
            }
        }

        // The migration sources are pre-PPSO (6.21.2) and the 7.x destinations 7.0-7.4 era.
        for (name, sources, destination) in [
            ("luna-network-to-network7", &["sa6"][..], "sa7"),
            ("luna-usb-to-network7", &["usb6"][..], "sa7"),
            ("luna-pcie-to-network7", &["k6"][..], "sa7"),
            ("luna-pcie-usb-to-pcie7", &["k6", "usb6"][..], "k7"),
        ] {
            let lab = Lab::built_in(name).unwrap();
            for source in sources {
                let d = lab.models[*source].luna().unwrap();
                assert_eq!(d.firmware.era(), luna::Era::Legacy, "{name}: {source}");
                assert!(!d.per_partition_so(), "{name}: {source}");
            }
            let d = lab.models[destination].luna().unwrap();
            assert_eq!(d.firmware.era(), luna::Era::Luna7, "{name}: {destination}");
        }
        let ccc = Lab::built_in("luna-ccc").unwrap();
        let era = |d: &str| ccc.models[d].luna().unwrap().firmware.era();
        assert_eq!(era("sa6-legacy"), luna::Era::Legacy);
        assert_eq!(era("sa6-ppso"), luna::Era::Ppso6);
        assert!(ccc.models["sa6-ppso"].luna().unwrap().per_partition_so());
        assert_eq!(era("sa7-a"), luna::Era::Luna7);
        assert_eq!(era("sa7-b"), luna::Era::Luna7);
        assert_eq!(era("sa7-c"), luna::Era::Luna77);

        for (name, domain, pairs, blank, ha) in LUNA_DOMAINS {
            let lab = Lab::built_in(name).unwrap();
            let partitions: HashMap<_, _> = lab
                .partitions()
                .into_iter()
                .map(|(p, model, preset)| (p, (model, preset)))
                .collect();
            let preset = |p: &str| {
                partitions[p]
                    .1
                    .clone()
                    .unwrap_or_else(|| panic!("{name}: {p} is initialised"))
            };
            for (source, destination) in *pairs {
                let (s, d) = (preset(source), preset(destination));
                assert_eq!(s.domain.as_deref(), Some(*domain), "{name}: {source}");
                assert_eq!(
                    s.domain, d.domain,
                    "{name}: {source} and {destination} share the cloning domain"
                );
            }
            // Every initialised partition has the fixture's one domain; the blank
            // destinations have none until the procedure initialises them.
            for (p, (model, preset)) in &partitions {
                match preset {
                    Some(preset) => {
                        assert_eq!(preset.domain.as_deref(), Some(*domain), "{name}: {p}")
                    }
                    None => assert!(blank.contains(&p.as_str()), "{name}: {p} is blank"),
                }
                let device = model.luna().unwrap();
                // A non-Backup initialised partition allows cloning private and secret keys,
                // stated in the lab, and the engine's policy check takes the lab's values.
                if let Some(preset) = preset
                    && device.kind != luna::DeviceKind::Backup
                {
                    for id in [
                        luna::partition_policy::PRIVATE_KEY_CLONING,
                        luna::partition_policy::SECRET_KEY_CLONING,
                    ] {
                        assert!(
                            preset.policies.contains(&(id, 1)),
                            "{name}: {p} policy {id}"
                        );
                    }
                    let mut state = luna::PartitionState::default();
                    state.apply(device, &preset.policies, true).unwrap();
                    assert_eq!(state.policy(device, 0), 1, "{name}: {p}");
                    assert_eq!(state.policy(device, 4), 1, "{name}: {p}");
                }
            }
            for device in *ha {
                let d = lab.models[*device].luna().unwrap();
                assert_eq!(
                    d.hsm_policies.get(&luna::hsm_policy::NETWORK_REPLICATION),
                    Some(&1),
                    "{name}: {device} states HSM policy 16 (HA)"
                );
            }
            for p in *blank {
                assert!(partitions[*p].1.is_none(), "{name}: {p} is blank");
            }
        }
    }

    #[test]
    fn the_documented_luna_variants_are_one_edit_away() {
        for (name, sources, destination) in [
            ("luna-network-to-network7", &["sa6"][..], "sa7"),
            ("luna-usb-to-network7", &["usb6"][..], "sa7"),
            ("luna-pcie-to-network7", &["k6"][..], "sa7"),
            ("luna-pcie-usb-to-pcie7", &["k6", "usb6"][..], "k7"),
        ] {
            let text = built_in_text(name).unwrap();
            for (from, to, devices, era) in [
                (
                    "firmware = \"6.21.2\"",
                    "firmware = \"5.x\"",
                    sources,
                    luna::Era::Legacy,
                ),
                (
                    "firmware = \"6.21.2\"",
                    "firmware = \"6.22.0\"",
                    sources,
                    luna::Era::Ppso6,
                ),
                (
                    "firmware = \"7.4.2\"",
                    "firmware = \"7.7.1\"",
                    &[destination][..],
                    luna::Era::Luna77,
                ),
            ] {
                let lab = Lab::parse(&text.replace(from, to), name)
                    .unwrap_or_else(|e| panic!("{name} with {to}: {e}"));
                for device in devices {
                    let d = lab.models[*device].luna().unwrap();
                    assert_eq!(d.firmware.era(), era, "{name}: {device} with {to}");
                    if era == luna::Era::Ppso6 {
                        assert!(d.per_partition_so(), "{name}: {device} is PPSO");
                    }
                }
            }
            // PED: passwords are refused on PED devices (they take PED key files instead).
            let ped = Lab::parse(&text.replace("auth = \"password\"", "auth = \"ped\""), name)
                .expect_err("passwords on PED partitions are refused");
            assert!(ped.message.contains("so_ped_key"), "{name}: {ped}");
        }
    }

    #[test]
    fn errors_name_the_line_and_what_is_allowed() {
        let text = "[lab]\nname = \"x\"\n\n[[device]]\nname = \"d\"\nkind = \"hal9000\"\n";
        let e = Lab::parse(text, "lab.toml").unwrap_err();
        assert_eq!(e.position, Some((6, 8)));
        assert!(e.message.contains("allowed: soft"), "{e}");
        assert!(e.to_string().starts_with("lab.toml:6:8: "));

        let text = "[lab]\nname = \"x\"\n[[device]]\nname = \"d\"\nkind = \"soft\"\n[[host]]\nname = \"h\"\nslot = [{ id = 0, partition = \"d/missing\" }]\n";
        let e = Lab::parse(text, "lab.toml").unwrap_err();
        assert_eq!(e.position.map(|p| p.0), Some(8));
        assert!(e.message.contains("no partition \"d/missing\""), "{e}");

        let e = Lab::parse("[lab]\nname = \"x\"\ncolour = 1\n", "lab.toml").unwrap_err();
        assert_eq!(e.position.map(|p| p.0), Some(3));
        assert!(e.message.contains("colour"), "{e}");

        let text = "[lab]\nname = \"x\"\n[[device]]\nname = \"d\"\nkind = \"soft\"\n[[device.partition]]\nname = \"p\"\nlabel = \"l\"\n[[host]]\nname = \"h\"\n";
        let e = Lab::parse(text, "lab.toml").unwrap_err();
        assert!(e.message.contains("both `label` and `so_pin`"), "{e}");
    }

    #[test]
    fn several_cloning_domains_need_firmware_7_8() {
        let lab = |firmware: &str| {
            format!(
                "[lab]\nname = \"m\"\n[[device]]\nname = \"d\"\nkind = \"luna-network\"\nfirmware = \"{firmware}\"\n  [[device.partition]]\n  name = \"a\"\n  label = \"a\"\n  so_pin = \"po-pin-0001\"\n  domain = \"one\"\n  other_domains = [\"two\"]\n[[host]]\nname = \"h\"\nslot = [{{ id = 0, partition = \"d/a\" }}]\n"
            )
        };
        assert!(Lab::parse(&lab("7.8.4"), "ok.toml").is_ok());
        let e = Lab::parse(&lab("7.7.1"), "old.toml").unwrap_err();
        assert!(e.message.contains("7.8 or later"), "{e}");
        assert_eq!(
            e.position.map(|p| p.0),
            Some(12),
            "the `other_domains` line"
        );
        let e =
            Lab::parse(&lab("7.8.4").replace("  domain = \"one\"\n", ""), "x.toml").unwrap_err();
        assert!(e.message.contains("primary `domain`"), "{e}");
    }

    #[test]
    fn primus_devices_state_licences_clone_state_decanus_and_pairings() {
        use crate::models::primus::{CloneMode, CloudService, HaRole, Licence};
        let lab = |device: &str, partition: &str| {
            format!(
                "[lab]\nname = \"p\"\n[[device]]\nname = \"d\"\nkind = \"primus\"\n{device}\n  [[device.partition]]\n  name = \"P\"\n{partition}\n[[host]]\nname = \"h\"\n"
            )
        };
        let ok = Lab::parse(
            &lab(
                "licences = [\"partition-administration\", \"device-backup\"]\nrole = \"clone\"\nclone = \"manual\"\nclone_modify = true\ndecanus = { version = \"2.1.3\", device_administration = true }",
                "  management = true\n  partition_administration = true",
            ),
            "ok.toml",
        )
        .unwrap();
        let d = ok.models["d"].primus().unwrap();
        assert_eq!(d.licences.len(), 2);
        assert!(d.licences.contains(&Licence::DeviceBackup));
        assert_eq!(
            d.role,
            HaRole::Clone {
                mode: CloneMode::Manual,
                clone_modify: true
            }
        );
        assert_eq!(d.decanus.unwrap().version, (2, 1, 3));
        assert!(d.partitions["P"].partition_administration);
        // Defaults: Master, no licence, no Decanus, no management access.
        let plain = Lab::parse(&lab("", ""), "plain.toml").unwrap();
        let d = plain.models["d"].primus().unwrap();
        assert_eq!(d.role, HaRole::Master);
        assert!(d.licences.is_empty() && d.decanus.is_none());
        assert!(!d.partitions["P"].management);

        for (device, partition, line, needle) in [
            (
                "licences = [\"backup\"]",
                "",
                6,
                "allowed: partition-administration, device-backup, decanus-remote-terminal",
            ),
            (
                "licences = [\"device-backup\", \"device-backup\"]",
                "",
                6,
                "listed twice",
            ),
            ("role = \"primary\"", "", 6, "allowed: master, clone"),
            ("clone_modify = true", "", 6, "role = \"clone\""),
            (
                "role = \"clone\"\nclone = \"hot\"",
                "",
                7,
                "allowed: ha, manual",
            ),
            ("decanus = { version = \"two\" }", "", 6, "release number"),
            (
                "decanus = { version = \"2.1.3\", paired = true }",
                "",
                6,
                "paired",
            ),
            ("service = \"dedicated\"", "", 6, "CloudHSM devices"),
            (
                "",
                "  partition_administration = true",
                9,
                "Decanus terminal",
            ),
            (
                "decanus = { version = \"2.1.3\" }",
                "  partition_administration = true",
                9,
                "management = true",
            ),
        ] {
            let e = Lab::parse(&lab(device, partition), "bad.toml").unwrap_err();
            assert!(e.message.contains(needle), "{device} {partition}: {e}");
            assert_eq!(e.position.map(|p| p.0), Some(line), "{e}");
        }
        let cloud = lab("service = \"dedicated\"", "").replace("\"primus\"", "\"primus-cloudhsm\"");
        let cloud = Lab::parse(&cloud, "cloud.toml").unwrap();
        assert_eq!(
            cloud.models["d"].primus().unwrap().cloud_service,
            Some(CloudService::Dedicated)
        );
        // The fixture: every seed's device, and the migration source ready for Decanus.
        let fixture = Lab::built_in("primus").unwrap();
        let device = |n: &str| fixture.models[n].primus().unwrap().clone();
        let onprem = device("primus-onprem");
        assert_eq!(onprem.firmware, (2, 11));
        assert_eq!(onprem.licences.len(), 3);
        assert!(onprem.partition_backup_preconditions("ACME-PKI").is_ok());
        assert!(onprem.partition_backup_preconditions("ACME-ADCS").is_err());
        assert!(
            device("primus-dr")
                .partition_backup_preconditions("ACME-DR")
                .is_err()
        );
        assert_eq!(device("cloudhsm").cloud_service, Some(CloudService::Shared));
        assert_eq!(
            device("cloudhsm-dedicated").cloud_service,
            Some(CloudService::Dedicated)
        );
        for d in fixture.models.values().filter_map(|m| m.primus()) {
            assert_eq!(d.role, HaRole::Master, "{}", d.name);
        }
        let luna = lab("role = \"clone\"", "").replace("\"primus\"", "\"luna-network\"");
        let e = Lab::parse(&luna, "luna.toml").unwrap_err();
        assert!(e.message.contains("Primus devices only"), "{e}");
        let luna = lab("", "  management = true").replace("\"primus\"", "\"soft\"");
        let e = Lab::parse(&luna, "soft.toml").unwrap_err();
        assert!(e.message.contains("Primus partitions only"), "{e}");
    }

    #[test]
    fn partitions_must_fit_in_the_device_memory() {
        let lab = |memory: u64| {
            format!(
                "[lab]\nname = \"m\"\n[[device]]\nname = \"d\"\nkind = \"luna-network\"\nmemory = {memory}\n  [[device.partition]]\n  name = \"a\"\n  size = 600\n  [[device.partition]]\n  name = \"b\"\n  size = 500\n[[host]]\nname = \"h\"\nslot = [{{ id = 0, partition = \"d/a\" }}]\n"
            )
        };
        assert!(Lab::parse(&lab(1100), "ok.toml").is_ok());
        let e = Lab::parse(&lab(1000), "full.toml").unwrap_err();
        assert!(e.message.contains("1100"), "{e}");
        assert_eq!(e.position.map(|p| p.0), Some(6), "the `memory` line");
        let soft = lab(2000)
            .replace("luna-network", "soft")
            .replace("  size = 600\n", "")
            .replace("  size = 500\n", "");
        assert!(
            Lab::parse(&soft, "soft.toml")
                .unwrap_err()
                .message
                .contains("Luna devices only")
        );
    }
}
