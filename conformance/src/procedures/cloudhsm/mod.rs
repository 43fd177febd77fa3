//! `primus.partition-to-cloudhsm` (seed 000): an on-premises Primus partition moved to
//! CloudHSM. Each scenario makes its own lab from the `primus` fixture, changed for its variant
//! and negative case (`lab`); fills the source partition ACME-PKI with keys through PKCS#11
//! (the realistic mix, or one key family through Primus Tools); makes the cards with `hsmsim
//! primus card create` (two SO cards, an empty Yellow card, an empty PSO card when it
//! onboards); types each documented step into the device's Decanus terminal, one script and
//! one `hsmsim decanus` process per step (`terminal`), so the report shows every menu path and
//! what the terminal answered; and restores the backup the way Securosys does, with `hsmsim
//! cloudhsm restore` (`steps`). Outcome (`checks`): the CloudHSM partition, through its own
//! slot and ACME-PKI's PKCS#11 password, holds what the source holds (count, labels, CKA_IDs,
//! classes, key types, attributes), every key proven equal by use both ways, the source
//! unchanged; a negative case is refused where documented, with nothing changed on either side.
//! The procedure needs the vendor's Decanus, device and cards, none of which PKCS#11 reaches:
//! against a real module it is "not applicable", with that reason.
mod checks;
pub mod lab;
mod steps;
mod terminal;

use super::PlannedObject;
use crate::runner::{Case, Parties, Run, Stop};
use crate::target::Role;

/// The CloudHSM service the partition moves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Shared,
    Dedicated,
}

impl Target {
    /// The lab's device of the service.
    pub fn device(self) -> &'static str {
        match self {
            Target::Shared => "cloudhsm",
            Target::Dedicated => "cloudhsm-dedicated",
        }
    }

    /// The blank partition the backup is restored into: "device/restore".
    pub fn partition(self) -> String {
        format!("{}/restore", self.device())
    }

    /// Its slot on the admin host.
    pub fn slot(self) -> u64 {
        match self {
            Target::Shared => 3,
            Target::Dedicated => 4,
        }
    }
}

/// The keys the source partition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// RSA-2048 and EC P-256 pairs, AES-256 and 3DES keys, a certificate, a data object.
    Mix,
    Rsa,
    Ec,
    Aes,
}

impl Keys {
    /// The Primus Tools `CreateKey` of each key of a family: (name, -type, -size).
    pub fn family(self) -> &'static [(&'static str, &'static str, u64)] {
        match self {
            Keys::Mix => &[],
            Keys::Rsa => &[
                ("rsa2048", "RSA", 2048),
                ("rsa3072", "RSA", 3072),
                ("rsa4096", "RSA", 4096),
            ],
            Keys::Ec => &[
                ("p256", "EC", 256),
                ("p384", "EC", 384),
                ("p521", "EC", 521),
            ],
            Keys::Aes => &[
                ("aes128", "AES", 128),
                ("aes192", "AES", 192),
                ("aes256", "AES", 256),
            ],
        }
    }
}

/// The negative cases, as the catalogue names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negative {
    NoLicencePartitionAdministration,
    NoLicenceDeviceBackup,
    DecanusTooOld,
    NoDevicePairing,
    NoPartitionAdministrationPairing,
    WrongBackupPassword,
    WrongCard,
    WrongCardPin,
    TamperedFile,
    TruncatedFile,
    PartitionNameExists,
    SourceFirmwareNewer,
}

impl Negative {
    pub const ALL: [Negative; 12] = [
        Negative::NoLicencePartitionAdministration,
        Negative::NoLicenceDeviceBackup,
        Negative::DecanusTooOld,
        Negative::NoDevicePairing,
        Negative::NoPartitionAdministrationPairing,
        Negative::WrongBackupPassword,
        Negative::WrongCard,
        Negative::WrongCardPin,
        Negative::TamperedFile,
        Negative::TruncatedFile,
        Negative::PartitionNameExists,
        Negative::SourceFirmwareNewer,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Negative::NoLicencePartitionAdministration => "no-licence-partition-administration",
            Negative::NoLicenceDeviceBackup => "no-licence-device-backup",
            Negative::DecanusTooOld => "decanus-too-old",
            Negative::NoDevicePairing => "no-device-pairing",
            Negative::NoPartitionAdministrationPairing => "no-partition-administration-pairing",
            Negative::WrongBackupPassword => "wrong-backup-password",
            Negative::WrongCard => "wrong-card",
            Negative::WrongCardPin => "wrong-card-pin",
            Negative::TamperedFile => "tampered-file",
            Negative::TruncatedFile => "truncated-file",
            Negative::PartitionNameExists => "partition-name-exists",
            Negative::SourceFirmwareNewer => "source-firmware-newer",
        }
    }

    pub fn parse(id: &str) -> Option<Negative> {
        Negative::ALL.into_iter().find(|n| n.id() == id)
    }

    /// Whether the refusal comes from the restore (step 9) rather than the Decanus terminal.
    pub fn at_restore(self) -> bool {
        matches!(
            self,
            Negative::WrongBackupPassword
                | Negative::WrongCard
                | Negative::WrongCardPin
                | Negative::TamperedFile
                | Negative::TruncatedFile
                | Negative::PartitionNameExists
                | Negative::SourceFirmwareNewer
        )
    }
}

/// What a scenario does: its variant's choices and its negative case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub target: Target,
    /// Partition Administration is onboarded in the lab (else the scenario onboards it).
    pub pa_onboarded: bool,
    /// The Yellow card is already ACME-PKI's Partition-Backup card (else it is empty).
    pub existing_yellow: bool,
    pub keys: Keys,
    pub negative: Option<Negative>,
}

impl Plan {
    /// The plan of a variant id: `<shared|dedicated>-pa-<onboarded|not-onboarded>-<empty|
    /// existing>-yellow`, or `keys-<rsa|ec|aes>` (shared, onboarded, an empty Yellow card).
    pub fn of_variant(id: &str) -> Option<Plan> {
        let base = Plan {
            target: Target::Shared,
            pa_onboarded: true,
            existing_yellow: false,
            keys: Keys::Mix,
            negative: None,
        };
        if let Some(family) = id.strip_prefix("keys-") {
            let keys = match family {
                "rsa" => Keys::Rsa,
                "ec" => Keys::Ec,
                "aes" => Keys::Aes,
                _ => return None,
            };
            return Some(Plan { keys, ..base });
        }
        let (target, rest) = if let Some(rest) = id.strip_prefix("shared-pa-") {
            (Target::Shared, rest)
        } else {
            (Target::Dedicated, id.strip_prefix("dedicated-pa-")?)
        };
        let (pa_onboarded, rest) = if let Some(rest) = rest.strip_prefix("onboarded-") {
            (true, rest)
        } else {
            (false, rest.strip_prefix("not-onboarded-")?)
        };
        let existing_yellow = match rest {
            "empty-yellow" => false,
            "existing-yellow" => true,
            _ => return None,
        };
        Some(Plan {
            target,
            pa_onboarded,
            existing_yellow,
            ..base
        })
    }

    /// The plan of a scenario: its variant's, or for a negative case the variant it names (else
    /// the first) with the case.
    pub fn of_case(case: &Case, first_variant: &str) -> Result<Plan, Stop> {
        let (variant, negative) = match case {
            Case::Positive(v) => (v.id.as_str(), None),
            Case::Negative(n) => {
                let negative = Negative::parse(&n.id)
                    .ok_or_else(|| Stop::fail(format!("unknown negative case {}", n.id)))?;
                (
                    n.variant.as_deref().unwrap_or(first_variant),
                    Some(negative),
                )
            }
        };
        let plan = Plan::of_variant(variant)
            .ok_or_else(|| Stop::fail(format!("unknown variant {variant}")))?;
        Ok(Plan { negative, ..plan })
    }
}

/// Carries out one scenario.
pub fn run(run: &mut Run<'_>, parties: &Parties) -> Result<(), Stop> {
    // The Decanus terminal, the device, its cards and Securosys's restore are the vendor's:
    // no PKCS#11 module reaches them.
    super::simulator_only(
        parties,
        "the procedure is typed into the vendor's Decanus terminal, paired with the on-premises device, with its SO, Partition SO and Partition-Backup cards and a USB drive, and restored by Securosys in CloudHSM; none of it is reachable through a PKCS#11 module, so it runs on the simulator only (--origin sim --target sim)",
    )?;
    let first = run
        .procedure
        .variants
        .first()
        .map(|v| v.id.clone())
        .unwrap_or_default();
    let plan = Plan::of_case(run.case, &first)?;
    steps::run(run, plan)
}

/// The objects a scenario makes: the keys on the source partition of the scenario's own lab
/// and their restored copies on the CloudHSM partition (a scratch directory removed when the
/// scenario ends).
pub fn planned_objects(case: &Case) -> Vec<PlannedObject> {
    let plan = match case {
        Case::Positive(v) => Plan::of_variant(&v.id),
        Case::Negative(_) => Plan::of_variant("shared-pa-onboarded-empty-yellow"),
    };
    let keys = plan.map_or(Keys::Mix, |p| p.keys);
    let made: Vec<(String, String)> = if keys == Keys::Mix {
        crate::procedures::luna::worker::MIX
            .iter()
            .map(|kind| (kind.to_string(), format!("the mix's {kind} object")))
            .collect()
    } else {
        keys.family()
            .iter()
            .map(|(name, kind, size)| {
                let what = match *kind {
                    "EC" => format!("EC P-{size} key pair"),
                    "RSA" => format!("RSA-{size} key pair"),
                    _ => format!("{kind}-{size} key"),
                };
                (name.to_string(), what)
            })
            .collect()
    };
    let mut planned = Vec::new();
    for (name, what) in made {
        planned.push(PlannedObject {
            tagged: true,
            party: Role::Origin,
            name: name.clone(),
            what: format!("{what} on ACME-PKI, in the scenario's own lab (removed with it)"),
            made_by: "precondition".into(),
        });
        if matches!(case, Case::Positive(_)) {
            planned.push(PlannedObject {
                tagged: true,
                party: Role::Target,
                name,
                what: format!("the restored copy of the {what}, in the scenario's own lab"),
                made_by: "step 9".into(),
            });
        }
    }
    planned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_variant_and_negative_has_a_plan() {
        let procedure = crate::catalogue::procedures()
            .into_iter()
            .find(|p| p.id == "primus.partition-to-cloudhsm")
            .expect("the catalogue has the procedure");
        assert_eq!(procedure.variants.len(), 11);
        for v in &procedure.variants {
            assert!(Plan::of_variant(&v.id).is_some(), "{}", v.id);
        }
        let mut negatives: Vec<Negative> = Vec::new();
        for n in &procedure.negatives {
            let negative = Negative::parse(&n.id).unwrap_or_else(|| panic!("{}", n.id));
            assert_eq!(
                negative.at_restore(),
                n.step == 9,
                "{}: the restore is step 9",
                n.id
            );
            negatives.push(negative);
        }
        assert_eq!(negatives, Negative::ALL, "each negative once, in order");
        let plan = Plan::of_variant("dedicated-pa-not-onboarded-existing-yellow").unwrap();
        assert_eq!(
            (
                plan.target,
                plan.pa_onboarded,
                plan.existing_yellow,
                plan.keys
            ),
            (Target::Dedicated, false, true, Keys::Mix)
        );
        assert_eq!(Plan::of_variant("keys-ec").map(|p| p.keys), Some(Keys::Ec));
        assert_eq!(Plan::of_variant("shared-pa-onboarded-blue-yellow"), None);
    }
}
