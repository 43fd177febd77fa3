//! The Crypto Command Center's product rules (seed 004, CCC 3.9 Service Management): a
//! service name's and a partition size's limits, and which service-template capabilities a Luna
//! Network HSM can take (Set Capabilities). The lab's static `[ccc]` checks (`lab::ccc`) and
//! the persisted CCC operations (`estate::ccc`) both apply these. Migrate Service's supported
//! matrix and refusals: migration.rs; the HSM models CCC lists (the wizard's New Service step)
//! and which firmware is which: hsm_model.rs.
use super::luna;

mod hsm_model;
mod migration;
pub use hsm_model::*;
pub use migration::*;

/// A service name's longest length, in characters ("This is limited to 28 characters").
pub const SERVICE_NAME_MAX: usize = 28;

/// A partition's smallest and largest size in bytes ("The minimum partition size can be 1000
/// bytes. The maximum partition size can be 99999999 bytes.").
pub const PARTITION_SIZE: std::ops::RangeInclusive<u64> = 1000..=99_999_999;

/// The lowest appliance software with Secure Trusted Channel ("Luna Network HSM appliance
/// software 6.2.1 or higher").
pub const STC_SOFTWARE: luna::Firmware = luna::Firmware::new(6, 2, 1);

/// A role password's shortest length in characters (CCC 3.9: "the new password is of 8 or more
/// characters").
pub const PASSWORD_MIN: usize = 8;

/// `Err`: why `password` is no password for `role` (8 characters or more).
pub fn check_password(role: &str, password: &str) -> Result<(), String> {
    let length = password.chars().count();
    if length >= PASSWORD_MIN {
        Ok(())
    } else {
        Err(format!(
            "the {role} password has {length} characters; CCC 3.9 wants a password of {PASSWORD_MIN} or more characters"
        ))
    }
}

/// The memory a Luna Network HSM has for partitions, in bytes, when the lab does not state it
/// (`[device.luna] memory`). Simulator-defined (CCC reads it from the appliance; the guide gives
/// no figure): 32 000 000 bytes on firmware 7.x, 16 000 000 bytes on earlier firmware.
pub fn device_memory(device: &luna::Device) -> u64 {
    if device.firmware.major >= 7 {
        32_000_000
    } else {
        16_000_000
    }
}

/// A template's device capabilities (Set Capabilities), as the rules need them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub authentication: luna::Auth,
    pub per_partition_so: bool,
    pub scalable_key_storage: bool,
    pub secure_trusted_channel: bool,
}

/// `Err`: why `name` is no service name (1 to 28 characters, counted as characters).
pub fn check_service_name(name: &str) -> Result<(), String> {
    let length = name.chars().count();
    if (1..=SERVICE_NAME_MAX).contains(&length) {
        Ok(())
    } else {
        Err(format!(
            "service name \"{name}\" has {length} characters; a service name has 1 to {SERVICE_NAME_MAX}"
        ))
    }
}

/// `Err`: why `size` is no partition size of template `template`.
pub fn check_partition_size(template: &str, size: u64) -> Result<(), String> {
    if PARTITION_SIZE.contains(&size) {
        Ok(())
    } else {
        Err(format!(
            "template \"{template}\": a partition size is {} to {} bytes",
            PARTITION_SIZE.start(),
            PARTITION_SIZE.end()
        ))
    }
}

/// A template's authentication and capabilities on one device, as the guide's Set
/// Capabilities page words them: the device authenticates as the template says; Per-Partition
/// SO "is supported on devices with firmware 6.22 or higher, and with the Per-Partition SO
/// capability" (HSM policy 41) and "is mandatory for 7.x devices"; Scalable Key Storage needs
/// "Thales Luna Network HSM 7 (Firmware 7.7.0 and above)"; Secure Trusted Channel "is supported
/// on devices with ... firmware 6.24.2 or higher" and appliance software 6.2.1 or higher, and
/// "is not available with Luna Network HSM 7 (Firmware 7.7.0 and above)". `software`: the
/// appliance software when known (`None`: not stated, not checked; simulator-defined).
/// `Err`: the rule the device breaks.
pub fn check_capabilities(
    template: &str,
    capabilities: &Capabilities,
    device: &luna::Device,
    software: Option<luna::Firmware>,
) -> Result<(), String> {
    let t = template;
    let firmware = device.firmware;
    let auth = capabilities.authentication;
    if device.auth != auth {
        let word = |a: luna::Auth| match a {
            luna::Auth::Password => "password",
            luna::Auth::Ped => "PED",
        };
        return Err(format!(
            "template \"{t}\" is for {} authentication, device \"{}\" uses {}",
            word(auth),
            device.name,
            word(device.auth)
        ));
    }
    let seven_seven = luna::Firmware::new(7, 7, 0);
    if capabilities.per_partition_so {
        if !device.per_partition_so() {
            return Err(format!(
                "template \"{t}\" has Per-Partition SO, which needs firmware 6.22 or higher with the Per-Partition SO capability (HSM policy 41); device \"{}\" has {firmware} without it",
                device.name
            ));
        }
    } else if firmware.major >= 7 {
        return Err(format!(
            "template \"{t}\" has no Per-Partition SO, which is mandatory on 7.x devices; device \"{}\" has {firmware}",
            device.name
        ));
    }
    if capabilities.scalable_key_storage && firmware < seven_seven {
        return Err(format!(
            "template \"{t}\" has Scalable Key Storage, which needs a Luna Network HSM 7 with firmware 7.7.0 or above; device \"{}\" has {firmware}",
            device.name
        ));
    }
    if capabilities.secure_trusted_channel {
        if firmware < luna::Firmware::new(6, 24, 2) || firmware >= seven_seven {
            return Err(format!(
                "template \"{t}\" has Secure Trusted Channel, which needs firmware 6.24.2 or higher and is not available on 7.7.0 and above; device \"{}\" has {firmware}",
                device.name
            ));
        }
        if let Some(software) = software.filter(|s| *s < STC_SOFTWARE) {
            return Err(format!(
                "template \"{t}\" has Secure Trusted Channel, which needs appliance software 6.2.1 or higher; device \"{}\" has {software}",
                device.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_and_partition_sizes_have_the_guides_limits() {
        assert!(check_service_name(&"é".repeat(28)).is_ok());
        assert_eq!(
            check_service_name(&"a".repeat(29)).unwrap_err(),
            format!(
                "service name \"{}\" has 29 characters; a service name has 1 to 28",
                "a".repeat(29)
            )
        );
        assert!(check_service_name("").is_err());
        assert!(check_partition_size("t", 1000).is_ok());
        assert!(check_partition_size("t", 99_999_999).is_ok());
        assert_eq!(
            check_partition_size("t", 999).unwrap_err(),
            "template \"t\": a partition size is 1000 to 99999999 bytes"
        );
        assert!(check_partition_size("t", 100_000_000).is_err());
    }

    /// Secure Trusted Channel needs appliance software 6.2.1 or higher when it is known.
    #[test]
    fn secure_trusted_channel_needs_appliance_software_6_2_1() {
        let mut policies = std::collections::BTreeMap::new();
        policies.insert(41, 1);
        let device = luna::Device {
            name: "hsm".into(),
            kind: luna::DeviceKind::Network,
            firmware: luna::Firmware::new(6, 24, 2),
            auth: luna::Auth::Password,
            serial: "1".into(),
            hsm_policies: policies,
            changed: Default::default(),
        };
        let stc = Capabilities {
            authentication: luna::Auth::Password,
            per_partition_so: true,
            scalable_key_storage: false,
            secure_trusted_channel: true,
        };
        assert!(check_capabilities("t", &stc, &device, None).is_ok());
        assert!(check_capabilities("t", &stc, &device, Some(STC_SOFTWARE)).is_ok());
        assert_eq!(
            check_capabilities("t", &stc, &device, Some(luna::Firmware::new(6, 2, 0))).unwrap_err(),
            "template \"t\" has Secure Trusted Channel, which needs appliance software 6.2.1 or higher; device \"hsm\" has 6.2.0"
        );
    }
}
