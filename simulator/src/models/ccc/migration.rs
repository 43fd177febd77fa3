//! CCC's Migrate Service rules (seed 004, "Migrate Service - Supported Devices" and "Steps
//! Involved"): which kind of device a service may migrate from and to (the supported matrix),
//! the firmware and Functionality Module (FM) pairs refused, the condition on password
//! sources, the sentences CCC refuses with, and the Troubleshooting message (and solution) of
//! a copy that failed on some devices. `estate::ccc::migrate` applies them to a wizard's
//! answers and a run.
use super::luna;

/// A device's kind as the supported matrix names it: its firmware line, whether it has
/// Per-Partition SO, and how its roles authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationDevice {
    /// 6 or 7 (the matrix has no other line).
    pub major: u8,
    pub per_partition_so: bool,
    pub auth: luna::Auth,
}

impl MigrationDevice {
    /// `device` as the matrix sees it.
    pub fn of(device: &luna::Device) -> MigrationDevice {
        MigrationDevice {
            major: device.firmware.major,
            per_partition_so: device.per_partition_so(),
            auth: device.auth,
        }
    }

    /// "6.x non PPSO PED", "7.x Password", ... as the guide's table words it (a 7.x device is
    /// always PPSO and the table does not say so).
    pub fn describe(&self) -> String {
        let auth = match self.auth {
            luna::Auth::Password => "Password",
            luna::Auth::Ped => "PED",
        };
        match (self.major, self.per_partition_so) {
            (7, _) => format!("7.x {auth}"),
            (major, true) => format!("{major}.x PPSO {auth}"),
            (major, false) => format!("{major}.x non PPSO {auth}"),
        }
    }
}

/// One row of the supported matrix: a source kind, the destinations it may migrate to, and
/// whether the source must have been created and had its roles initialised through LunaSH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedMigration {
    pub source: MigrationDevice,
    pub destinations: &'static [MigrationDevice],
    pub lunash_only: bool,
}

const fn kind(major: u8, per_partition_so: bool, auth: luna::Auth) -> MigrationDevice {
    MigrationDevice {
        major,
        per_partition_so,
        auth,
    }
}

const PED_6_NON_PPSO: MigrationDevice = kind(6, false, luna::Auth::Ped);
const PED_6_PPSO: MigrationDevice = kind(6, true, luna::Auth::Ped);
const PED_7: MigrationDevice = kind(7, true, luna::Auth::Ped);
const PASSWORD_6_NON_PPSO: MigrationDevice = kind(6, false, luna::Auth::Password);
const PASSWORD_6_PPSO: MigrationDevice = kind(6, true, luna::Auth::Password);
const PASSWORD_7: MigrationDevice = kind(7, true, luna::Auth::Password);

/// The guide's "CCC supports the following devices for service migration" table, row by row.
pub const SUPPORTED_MIGRATIONS: &[SupportedMigration] = &[
    SupportedMigration {
        source: PED_6_NON_PPSO,
        destinations: &[PED_6_PPSO, PED_7],
        lunash_only: false,
    },
    SupportedMigration {
        source: PED_6_PPSO,
        destinations: &[PED_6_PPSO, PED_7],
        lunash_only: false,
    },
    SupportedMigration {
        source: PED_7,
        destinations: &[PED_6_PPSO, PED_7],
        lunash_only: false,
    },
    SupportedMigration {
        source: PASSWORD_6_NON_PPSO,
        destinations: &[PASSWORD_7],
        lunash_only: true,
    },
    SupportedMigration {
        source: PASSWORD_6_PPSO,
        destinations: &[PASSWORD_7],
        lunash_only: true,
    },
    SupportedMigration {
        source: PASSWORD_7,
        destinations: &[PASSWORD_7],
        lunash_only: false,
    },
];

/// A device's Functionality Module state (the lab's `[device.luna] fm`): FM-ready and no-FM
/// devices never enabled FMs; FM-disabled and FM-enabled ones did at some point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FmState {
    FmReady,
    NoFm,
    FmDisabled,
    FmEnabled,
}

impl FmState {
    /// The lab's words for each state.
    pub const NAMES: [&'static str; 4] = ["fm-ready", "no-fm", "fm-disabled", "fm-enabled"];

    /// From the lab's word ("fm-ready", "no-fm", "fm-disabled", "fm-enabled").
    pub fn parse(text: &str) -> Option<FmState> {
        Some(match text {
            "fm-ready" => FmState::FmReady,
            "no-fm" => FmState::NoFm,
            "fm-disabled" => FmState::FmDisabled,
            "fm-enabled" => FmState::FmEnabled,
            _ => return None,
        })
    }

    /// FMs were never enabled on the device (FM-ready or no-FM).
    pub fn never_enabled(self) -> bool {
        matches!(self, FmState::FmReady | FmState::NoFm)
    }
}

/// "Migration is not possible when the source firmware is 7.7.x and target firmware is 7.4 or
/// below." (the guide's words).
pub const FIRMWARE_REFUSAL: &str = "Migration is not possible when the source firmware is 7.7.x and target firmware is 7.4 or below.";

/// "Migration is not possible when source firmware is FM-ready/no-FM and target firmware is
/// FM-disabled/FM-enabled." (the guide's words).
pub const FM_REFUSAL: &str = "Migration is not possible when source firmware is FM-ready/no-FM and target firmware is FM-disabled/FM-enabled.";

/// CCC's Troubleshooting message for a copy that failed on some devices ("We ran into an
/// error while migrating the key material to the following device(s):"), followed by the
/// devices (the guide's words).
pub const COPY_ERROR: &str =
    "We ran into an error while migrating the key material to the following device(s):";

/// The guide's solution to `COPY_ERROR` (its words).
pub const COPY_SOLUTION: &str = "To add devices on which migration has failed, use the add partition functionality for the newly created service. Next, run ccc_client to authorize the service. While authorizing the service, CCC also runs synchronization between all partitions of the service.";

/// One end of a migration as the rules need it.
#[derive(Debug, Clone, Copy)]
pub struct MigrationEnd<'a> {
    pub device: &'a luna::Device,
    pub fm: FmState,
}

/// `Err`: why a service on `source` may not migrate to `target`, as CCC says it. Checked in
/// this order: the pair is in the supported matrix (else "CCC does not support migrating a
/// service from a ... device to a ... device", simulator-defined wording); a 6.x password
/// source was created and its roles initialised through LunaSH (`created_through_lunash`; the
/// guide's condition); a 7.7.x (or later, simulator-defined: no V0/V1 partition clones to an
/// older one) source never to a target of 7.4 or below; an FM-ready/no-FM source never to an
/// FM-disabled/FM-enabled target.
pub fn check_migration(
    source: MigrationEnd<'_>,
    target: MigrationEnd<'_>,
    created_through_lunash: bool,
) -> Result<(), String> {
    let from = MigrationDevice::of(source.device);
    let to = MigrationDevice::of(target.device);
    let row = SUPPORTED_MIGRATIONS
        .iter()
        .find(|row| row.source == from && row.destinations.contains(&to))
        .ok_or_else(|| {
            format!(
                "CCC does not support migrating a service from a {} device (\"{}\", firmware {}) to a {} device (\"{}\", firmware {})",
                from.describe(),
                source.device.name,
                source.device.firmware,
                to.describe(),
                target.device.name,
                target.device.firmware
            )
        })?;
    if row.lunash_only && !created_through_lunash {
        return Err(format!(
            "a {} source migrates only if the source service/partition is originally created and roles are initialized through LUSH",
            from.describe()
        ));
    }
    if source.device.firmware >= luna::Firmware::new(7, 7, 0)
        && target.device.firmware < luna::Firmware::new(7, 5, 0)
    {
        return Err(FIRMWARE_REFUSAL.into());
    }
    if source.fm.never_enabled() && !target.fm.never_enabled() {
        return Err(FM_REFUSAL.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(firmware: &str, ppso: bool, auth: luna::Auth) -> luna::Device {
        let mut policies = std::collections::BTreeMap::new();
        policies.insert(7, 1);
        policies.insert(41, u64::from(ppso));
        luna::Device {
            name: format!("hsm-{firmware}"),
            kind: luna::DeviceKind::Network,
            firmware: luna::Firmware::parse(firmware).unwrap(),
            auth,
            serial: "1".into(),
            hsm_policies: policies,
            changed: Default::default(),
        }
    }

    fn end(device: &luna::Device) -> MigrationEnd<'_> {
        MigrationEnd {
            device,
            fm: FmState::NoFm,
        }
    }

    /// Every pair of the six kinds: allowed exactly when the guide's table lists it.
    #[test]
    fn the_matrix_is_the_guides_table() {
        use luna::Auth::{Password, Ped};
        let kinds = [
            ("6.24.2", false, Ped, "6.x non PPSO PED"),
            ("6.24.2", true, Ped, "6.x PPSO PED"),
            ("7.4.2", true, Ped, "7.x PED"),
            ("6.24.2", false, Password, "6.x non PPSO Password"),
            ("6.24.2", true, Password, "6.x PPSO Password"),
            ("7.4.2", true, Password, "7.x Password"),
        ];
        let allowed = [
            ("6.x non PPSO PED", "6.x PPSO PED"),
            ("6.x non PPSO PED", "7.x PED"),
            ("6.x PPSO PED", "6.x PPSO PED"),
            ("6.x PPSO PED", "7.x PED"),
            ("7.x PED", "6.x PPSO PED"),
            ("7.x PED", "7.x PED"),
            ("6.x non PPSO Password", "7.x Password"),
            ("6.x PPSO Password", "7.x Password"),
            ("7.x Password", "7.x Password"),
        ];
        for (sf, sp, sa, sname) in kinds {
            let source = device(sf, sp, sa);
            assert_eq!(MigrationDevice::of(&source).describe(), sname);
            for (tf, tp, ta, tname) in kinds {
                let target = device(tf, tp, ta);
                let result = check_migration(end(&source), end(&target), true);
                assert_eq!(
                    result.is_ok(),
                    allowed.contains(&(sname, tname)),
                    "{sname} -> {tname}: {result:?}"
                );
                if let Err(e) = result {
                    assert!(e.starts_with("CCC does not support migrating a service from a"));
                }
            }
        }
    }

    #[test]
    fn password_6x_sources_must_come_from_lunash() {
        let source = device("6.21.2", false, luna::Auth::Password);
        let target = device("7.4.2", true, luna::Auth::Password);
        assert_eq!(
            check_migration(end(&source), end(&target), false).unwrap_err(),
            "a 6.x non PPSO Password source migrates only if the source service/partition is originally created and roles are initialized through LUSH"
        );
        let seven = device("7.4.2", true, luna::Auth::Password);
        assert!(check_migration(end(&seven), end(&target), false).is_ok());
    }

    #[test]
    fn firmware_and_fm_pairs_are_refused_in_the_guides_words() {
        let source = device("7.7.1", true, luna::Auth::Password);
        let old = device("7.4.2", true, luna::Auth::Password);
        let new = device("7.8.4", true, luna::Auth::Password);
        assert_eq!(
            check_migration(end(&source), end(&old), true).unwrap_err(),
            FIRMWARE_REFUSAL
        );
        assert!(check_migration(end(&source), end(&new), true).is_ok());
        for (from, to, ok) in [
            (FmState::FmReady, FmState::FmEnabled, false),
            (FmState::NoFm, FmState::FmDisabled, false),
            (FmState::NoFm, FmState::FmReady, true),
            (FmState::FmEnabled, FmState::FmDisabled, true),
            (FmState::FmDisabled, FmState::NoFm, true),
        ] {
            let result = check_migration(
                MigrationEnd {
                    device: &source,
                    fm: from,
                },
                MigrationEnd {
                    device: &new,
                    fm: to,
                },
                true,
            );
            assert_eq!(result.is_ok(), ok, "{from:?} -> {to:?}");
            if !ok {
                assert_eq!(result.unwrap_err(), FM_REFUSAL);
            }
        }
        for name in FmState::NAMES {
            assert!(FmState::parse(name).is_some());
        }
        assert_eq!(FmState::parse("fm"), None);
    }
}
