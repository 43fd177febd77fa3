//! `hsmsim lab show`: the devices, partitions, Primus cards and hosts' slots of a lab.
use super::*;

/// What `hsmsim lab show` reports.
#[derive(Debug, Serialize)]
pub struct LabReport {
    pub lab: String,
    pub description: String,
    pub lab_file: Option<PathBuf>,
    pub state_dir: PathBuf,
    pub schema_version: i64,
    pub devices: Vec<DeviceReport>,
    pub hosts: Vec<HostReport>,
}

#[derive(Debug, Serialize)]
pub struct DeviceReport {
    pub name: String,
    pub kind: String,
    /// The vendor model: "Luna 6.21.2 (PW), serial ...", "Primus 2.11", or "soft".
    pub model: String,
    pub partitions: Vec<PartitionReport>,
    /// Primus devices: deployment, licence items, Master/Clone state, Decanus, partition
    /// administration and migration readiness, cards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primus: Option<PrimusReport>,
}

#[derive(Debug, Serialize)]
pub struct PrimusReport {
    /// "on-premises" or "cloudhsm".
    pub deployment: &'static str,
    pub service: Option<crate::models::primus::CloudService>,
    pub firmware: String,
    /// `{"role": "master"}` or `{"role": "clone", "mode": "ha"|"manual", "clone_modify": bool}`.
    pub ha: crate::models::primus::HaRole,
    pub licences: Vec<crate::models::primus::Licence>,
    pub decanus: Option<DecanusReport>,
    pub partitions: Vec<PrimusPartitionReport>,
    pub cards: Vec<CardReport>,
}

#[derive(Debug, Serialize)]
pub struct DecanusReport {
    pub version: String,
    pub device_administration: bool,
}

#[derive(Debug, Serialize)]
pub struct PrimusPartitionReport {
    pub partition: String,
    pub management: bool,
    pub partition_administration: bool,
    /// The partition-backup (migration) preconditions the device does not meet; empty: ready.
    pub unmet: Vec<crate::models::primus::Unmet>,
}

#[derive(Debug, Serialize)]
pub struct CardReport {
    pub name: String,
    pub kind: crate::models::primus::CardKind,
    pub colour: &'static str,
    pub partition: Option<String>,
    pub attempts_left: u32,
    pub blocked: bool,
}

/// A Primus device's report, with its cards, Decanus pairing and partitions' administration
/// state from the store.
fn primus_report(
    store: &Store,
    selection: &LabSelection,
    d: &crate::models::primus::Device,
) -> Result<PrimusReport> {
    use crate::models::primus::Deployment;
    let d = &crate::estate::primus::current_device_in(store, d)?;
    let cards = crate::estate::primus::list_cards_in(store, selection, Some(&d.name))?
        .into_iter()
        .map(|(_, c)| CardReport {
            colour: c.kind.colour(),
            blocked: c.blocked(),
            name: c.name,
            kind: c.kind,
            partition: c.partition,
            attempts_left: c.attempts_left,
        })
        .collect();
    Ok(PrimusReport {
        deployment: match d.deployment {
            Deployment::OnPremises => "on-premises",
            Deployment::CloudHsm => "cloudhsm",
        },
        service: d.cloud_service,
        firmware: format!("{}.{}", d.firmware.0, d.firmware.1),
        ha: d.role,
        licences: d.licences.iter().copied().collect(),
        decanus: d.decanus.map(|x| DecanusReport {
            version: x.version_text(),
            device_administration: x.device_administration,
        }),
        partitions: d
            .partitions
            .iter()
            .map(|(name, admin)| PrimusPartitionReport {
                partition: format!("{}/{name}", d.name),
                management: admin.management,
                partition_administration: admin.partition_administration,
                unmet: d
                    .partition_backup_preconditions(name)
                    .err()
                    .unwrap_or_default(),
            })
            .collect(),
        cards,
    })
}

#[derive(Debug, Serialize)]
pub struct PartitionReport {
    /// "device/partition".
    pub partition: String,
    pub present: bool,
    pub initialized: bool,
    pub label: String,
    pub serial: String,
    pub user_pin_initialized: bool,
    pub objects: u64,
}

#[derive(Debug, Serialize)]
pub struct HostReport {
    pub name: String,
    pub slots: Vec<SlotReport>,
}

#[derive(Debug, Serialize)]
pub struct SlotReport {
    pub slot: u64,
    /// The partition shown; for an HA virtual slot, its primary member.
    pub partition: String,
    /// An HA virtual slot: the group's label and its members in lab order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ha_group: Option<HaSlotReport>,
}

#[derive(Debug, Serialize)]
pub struct HaSlotReport {
    pub label: String,
    pub members: Vec<String>,
}

/// `hsmsim lab show`.
pub fn report(selection: &LabSelection) -> Result<LabReport> {
    let store = open_store(selection)?;
    let tokens = store.tokens()?;
    let counts = store.object_counts()?;
    let file = &selection.lab.file;
    let devices = file
        .devices
        .iter()
        .map(|d| {
            let primus = match selection
                .lab
                .models
                .get(d.name.get_ref())
                .and_then(|m| m.primus())
            {
                Some(p) => Some(primus_report(&store, selection, p)?),
                None => None,
            };
            Ok(DeviceReport {
                primus,
                name: d.name.get_ref().clone(),
                kind: d.kind.get_ref().clone(),
                model: match selection.lab.models.get(d.name.get_ref()) {
                    Some(crate::models::TokenModel::Luna(l)) => format!(
                        "Luna {} ({}), serial {}",
                        l.firmware,
                        l.auth.short(),
                        l.serial
                    ),
                    Some(crate::models::TokenModel::Primus(p)) => {
                        format!("Primus {}.{}", p.firmware.0, p.firmware.1)
                    }
                    _ => "soft".into(),
                },
                partitions: d
                    .partitions
                    .iter()
                    .map(|p| {
                        let id = DeviceId::new(d.name.get_ref().as_str())
                            .partition(p.name.get_ref().as_str());
                        let row = tokens.get(&id);
                        PartitionReport {
                            present: row.is_some_and(|r| r.present),
                            initialized: row.is_some_and(|r| r.present && r.record.initialized),
                            label: row.map(|r| r.record.label.clone()).unwrap_or_default(),
                            serial: row.map(|r| r.record.serial.clone()).unwrap_or_default(),
                            user_pin_initialized: row.is_some_and(|r| r.record.has_pin(CKU_USER)),
                            objects: counts.get(&id).copied().unwrap_or(0),
                            partition: id.to_string(),
                        }
                    })
                    .collect(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let hosts = file
        .hosts
        .iter()
        .map(|h| {
            // The host's view as the module builds it: the lab's slots, then HA virtual slots.
            // The HA groups in force and HA-only mode are the estate's (`ha_groups`).
            let mut view = selection
                .lab
                .config(Some(h.name.get_ref()), selection.state_dir.clone())
                .map_err(|e| err(CKR_GENERAL_ERROR, e.to_string()))?;
            super::ha_groups::apply_to_config(&store, &mut view)?;
            let slots = view
                .slots
                .iter()
                .filter(|s| !s.hidden)
                .map(|s| SlotReport {
                    slot: s.id,
                    partition: s.partition().to_string(),
                    ha_group: match &s.backing {
                        crate::lab::definition::SlotBacking::HaGroup { group, members, .. } => {
                            Some(HaSlotReport {
                                label: group.to_string(),
                                members: members.iter().map(ToString::to_string).collect(),
                            })
                        }
                        crate::lab::definition::SlotBacking::Partition(_) => None,
                    },
                })
                .collect();
            Ok(HostReport {
                name: h.name.get_ref().clone(),
                slots,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(LabReport {
        lab: file.lab.name.clone(),
        description: file.lab.description.clone(),
        lab_file: selection.lab_file.clone(),
        state_dir: selection.state_dir.clone(),
        schema_version: SCHEMA_VERSION,
        devices,
        hosts,
    })
}
