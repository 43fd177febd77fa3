//! The vendor models a lab's devices have: a Luna device's firmware, authentication, serial and
//! HSM policies; a Primus device's firmware, login throttle, CloudHSM service, licences,
//! Master/Clone state, Decanus terminal and partitions' administration state.
use super::schema::{
    DeviceDef, DeviceVendor, LUNA_DEFAULT_FIRMWARE, LunaDeviceDef, PRIMUS_DEFAULT_FIRMWARE,
    PrimusDeviceDef,
};
use super::written::Misplaced;
use crate::models::{TokenModel, luna};
use std::collections::BTreeMap;
use toml::Spanned;

/// Policy ids as a lab writes them (TOML keys are strings).
pub(super) fn policy_ids(
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
    section: &PrimusDeviceDef,
    model: &mut crate::models::primus::Device,
) -> Result<(), Misplaced> {
    use crate::models::primus::{
        CloneMode, CloudService, Decanus, Deployment, HaRole, Licence, PartitionAdmin,
    };
    if let Some(service) = &section.service {
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
    for item in section.licences.iter().flat_map(|l| l.get_ref()) {
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
    let role = section
        .role
        .as_ref()
        .map_or("master", |r| r.get_ref().as_str());
    model.role = match role {
        "master" => {
            for (given, what) in [
                (section.clone.as_ref().map(Spanned::span), "clone"),
                (
                    section.clone_modify.as_ref().map(Spanned::span),
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
            mode: match section
                .clone
                .as_ref()
                .map_or("ha", |c| c.get_ref().as_str())
            {
                "ha" => CloneMode::Ha,
                "manual" => CloneMode::Manual,
                other => {
                    return Err((
                        section.clone.as_ref().map(Spanned::span),
                        format!("clone \"{other}\" is unknown; allowed: ha, manual"),
                    ));
                }
            },
            clone_modify: section.clone_modify.as_ref().is_some_and(|v| *v.get_ref()),
        },
        other => {
            return Err((
                section.role.as_ref().map(Spanned::span),
                format!("role \"{other}\" is unknown; allowed: master, clone"),
            ));
        }
    };
    if let Some(decanus) = &section.decanus {
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
        let Some(p_section) = p.primus() else {
            continue;
        };
        let admin = PartitionAdmin {
            management: p_section.management.as_ref().is_some_and(|v| *v.get_ref()),
            partition_administration: p_section
                .partition_administration
                .as_ref()
                .is_some_and(|v| *v.get_ref()),
        };
        if let Some(pa) = p_section
            .partition_administration
            .as_ref()
            .filter(|v| *v.get_ref())
        {
            if model.decanus.is_none() {
                return Err((
                    Some(pa.span()),
                    "a Partition Administration pairing needs the device's Decanus terminal: add `decanus = { version = \"2.1.3\", device_administration = true }` to the device's [device.primus]".into(),
                ));
            }
            if !admin.management {
                return Err((
                    Some(pa.span()),
                    "a Partition Administration pairing needs \"Management access\": add `management = true` to the partition's [device.partition.primus]".into(),
                ));
            }
        }
        model.partitions.insert(p.name.get_ref().clone(), admin);
    }
    Ok(())
}

/// A device's token model, or what is wrong with its definition.
pub(super) fn device_model(device: &DeviceDef) -> Result<TokenModel, Misplaced> {
    match &device.vendor {
        DeviceVendor::Soft => Ok(TokenModel::Soft),
        DeviceVendor::Primus(section) => primus_model(device, section),
        DeviceVendor::Luna(section) => luna_model(device, section),
    }
}

fn primus_model(device: &DeviceDef, section: &PrimusDeviceDef) -> Result<TokenModel, Misplaced> {
    let text = section
        .firmware
        .as_ref()
        .map_or(PRIMUS_DEFAULT_FIRMWARE, |f| f.get_ref().as_str());
    let firmware = crate::models::primus::Device::parse_firmware(text).ok_or_else(|| {
        (
            section.firmware.as_ref().map(Spanned::span),
            format!("firmware \"{text}\" is not a Primus version; write 2.x or 3.x, e.g. \"2.11\""),
        )
    })?;
    let defaults = crate::models::primus::ThrottleRule::default();
    let throttle = crate::models::primus::ThrottleRule {
        threshold: section
            .login_attempt_threshold
            .as_ref()
            .map_or(defaults.threshold, |v| *v.get_ref()),
        window_secs: section
            .attempt_reset_time
            .as_ref()
            .map_or(defaults.window_secs, |v| *v.get_ref()),
        lockout_secs: section
            .login_lockout_time
            .as_ref()
            .map_or(defaults.lockout_secs, |v| *v.get_ref()),
    };
    if throttle.threshold == 0 {
        return Err((
            section.login_attempt_threshold.as_ref().map(Spanned::span),
            "login_attempt_threshold is at least 1".into(),
        ));
    }
    let deployment = if device.kind.get_ref() == "primus-cloudhsm" {
        crate::models::primus::Deployment::CloudHsm
    } else {
        crate::models::primus::Deployment::OnPremises
    };
    let mut model = crate::models::primus::Device::new(device.name.get_ref(), deployment, firmware);
    model.throttle = throttle;
    primus_device_details(device, section, &mut model)?;
    Ok(TokenModel::Primus(std::sync::Arc::new(model)))
}

fn luna_model(device: &DeviceDef, section: &LunaDeviceDef) -> Result<TokenModel, Misplaced> {
    let kind = device.kind.get_ref().as_str();
    let luna_kind = luna::DeviceKind::from_lab(kind).ok_or_else(|| {
        (
            Some(device.kind.span()),
            format!("\"{kind}\" is not a Luna device kind"),
        )
    })?;
    let firmware_text = section
        .firmware
        .as_ref()
        .map_or(LUNA_DEFAULT_FIRMWARE, |f| f.get_ref().as_str());
    let firmware = luna::Firmware::parse(firmware_text).ok_or_else(|| {
        (
            section.firmware.as_ref().map(Spanned::span),
            format!(
                "firmware \"{firmware_text}\" is not a Luna version; write major.minor.subminor from 5.x to 7.x, e.g. \"6.21.2\" or \"7.7.1\""
            ),
        )
    })?;
    let auth_text = section
        .auth
        .as_ref()
        .map_or("password", |a| a.get_ref().as_str());
    let auth = luna::Auth::from_lab(auth_text).ok_or_else(|| {
        (
            section.auth.as_ref().map(Spanned::span),
            format!("auth \"{auth_text}\" is unknown; allowed: password, ped"),
        )
    })?;
    let mut hsm_policies = BTreeMap::new();
    if let Some(map) = &section.hsm_policies {
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

#[cfg(test)]
mod tests {
    use crate::lab::Lab;

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
        assert_eq!(onprem.firmware, (3, 2));
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
}
