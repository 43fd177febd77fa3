//! CCC's services (seed 004, Creating New Services, Managing Services, Detaching or Deleting
//! Services): created from a template on blank partitions of authorised devices, their
//! organisation, name and description edited, detached (CCC forgets them; partitions and
//! objects stay) or deleted (partitions and objects destroyed). Renaming a service moves its
//! `statuses` entry; detaching or deleting it drops the entry. These stay allowed on a reduced
//! (STC + PPSO imported) service, which lifecycle.rs's changes refuse.
use super::templates::{capabilities, template_at};
use super::*;
use crate::lab::ccc::CccTemplate;
use crate::lab::schema::CccServiceType;
use crate::models::{ccc, luna};

/// What the Create Service wizard asks: General (name, description), Choose Template, Add
/// Devices (here the partitions, one per device), Assign Organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewService {
    pub name: String,
    pub description: String,
    pub template: String,
    pub organisation: String,
    /// The blank partitions the service uses; an HA service's first is its primary.
    pub partitions: Vec<PartitionId>,
}

/// A service's attributes to change (Edit: "change its name or description", "change the
/// organization that owns the service"); `None` keeps one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceEdit {
    pub name: Option<String>,
    pub description: Option<String>,
    pub organisation: Option<String>,
}

/// The services, in the order they were added.
pub fn ccc_services(selection: &LabSelection) -> Result<Vec<CccService>> {
    Ok(ccc_state(selection)?.ccc.services)
}

/// Creates a service, its checks and its writing in one store transaction. Refused
/// (`CKR_FUNCTION_FAILED`) when: its name has more than 28 characters (documented (seed 004)) or none, or another service has it
/// (simulator-defined); an "hsm-partition" template gets other than one partition or an HA one
/// fewer than two (documented: "minimum of 2"), or two partitions are on one device
/// (documented: "each configured on a different Thales Luna Network HSM"); a partition is not
/// on a Luna Network HSM (documented), its device is not added and authorised (documented:
/// "the device must be authorized"), it is not blank or serves another service
/// (simulator-defined: CCC creates the partition; the lab pre-creates it blank); the template
/// does not fit a device (`models::ccc::check_capabilities`, documented); the services would
/// use more partitions than the licences (simulator-defined wording). Unknown template,
/// organisation or partition: `CKR_ARGUMENTS_BAD`.
pub fn create_ccc_service(selection: &LabSelection, new: NewService) -> Result<CccService> {
    ccc::check_service_name(&new.name).map_err(refused)?;
    let mut devices = Vec::new();
    for partition in &new.partitions {
        let device = network_hsm(selection, partition)?;
        if devices
            .iter()
            .any(|d: &std::sync::Arc<luna::Device>| d.name == device.name)
        {
            return Err(refused(format!(
                "service \"{}\" has two partitions on device \"{}\"; an HA service's partitions are on different devices",
                new.name,
                partition.device()
            )));
        }
        devices.push(device);
    }
    update_ccc_with_items(selection, |state, items| {
        for partition in &new.partitions {
            check_blank(items, partition)?;
        }
        if state.ccc.services.iter().any(|s| s.name == new.name) {
            return Err(refused(format!("CCC service \"{}\" exists", new.name)));
        }
        let template = &state.ccc.templates[template_at(state, &new.template)?];
        organisations::organisation_at(state, &new.organisation)?;
        let count = new.partitions.len();
        match template.service_type {
            CccServiceType::HsmPartition if count != 1 => {
                return Err(refused(format!(
                    "template \"{}\" is an \"hsm-partition\" one: its services have one partition",
                    template.name
                )));
            }
            CccServiceType::HsmPartitionHaGroup if count < 2 => {
                return Err(refused(format!(
                    "template \"{}\" is an \"hsm-partition-ha-group\" one: its services have two or more partitions, on different devices",
                    template.name
                )));
            }
            _ => {}
        }
        for (partition, device) in new.partitions.iter().zip(&devices) {
            check_service_partition(state, template, &new.name, partition, device)?;
        }
        check_licences(state, count)?;
        let snapshot = template.clone();
        let service = CccService {
            name: new.name,
            description: new.description,
            template: new.template,
            organisation: new.organisation,
            partitions: new.partitions,
            ha_group: None,
        };
        state.ccc.services.push(service.clone());
        state.statuses.insert(
            service.name.clone(),
            CccServiceStatus {
                template: Some(snapshot),
                ..Default::default()
            },
        );
        Ok(service)
    })
}

/// A partition to serve service `service` from `template`, on Luna Network HSM `device`: its
/// device added to CCC and authorised (documented: "the device must be authorized"), the
/// partition in no service, and the template's capabilities possible on the device
/// (`models::ccc::check_capabilities`, documented). Creating a service and adding a partition
/// to one check each partition so.
pub(super) fn check_service_partition(
    state: &CccState,
    template: &CccTemplate,
    service: &str,
    partition: &PartitionId,
    device: &luna::Device,
) -> Result<()> {
    if !state
        .devices
        .iter()
        .any(|d| &d.device == partition.device() && d.authorised)
    {
        return Err(refused(format!(
            "device \"{}\" is not added to CCC and authorised: CCC must log in as its HSM SO",
            partition.device()
        )));
    }
    if let Some(other) = state
        .ccc
        .services
        .iter()
        .find(|s| s.partitions.contains(partition))
    {
        return Err(refused(format!(
            "partition \"{partition}\" serves service \"{}\"; a partition serves one service",
            other.name
        )));
    }
    ccc::check_capabilities(&template.name, &capabilities(template), device, None)
        .map_err(|rule| refused(format!("service \"{service}\", \"{partition}\": {rule}")))
}

/// `adding` more partitions in services fit in the partition licences (simulator-defined
/// wording).
pub(super) fn check_licences(state: &CccState, adding: usize) -> Result<()> {
    let used: usize = state.ccc.services.iter().map(|s| s.partitions.len()).sum();
    if let Some(licences) = state.ccc.partition_licences
        && (used + adding) as u64 > licences
    {
        return Err(refused(format!(
            "the services would use {} partitions, more than the {licences} partition licences",
            used + adding
        )));
    }
    Ok(())
}

/// A Luna Network HSM partition's device model; CCC manages Luna Network HSMs only
/// (documented).
pub(super) fn network_hsm(
    selection: &LabSelection,
    partition: &PartitionId,
) -> Result<std::sync::Arc<luna::Device>> {
    match selection.device_model(partition.device())? {
        TokenModel::Luna(d) if d.kind == luna::DeviceKind::Network => Ok(d),
        _ => Err(refused(format!(
            "CCC manages Luna Network HSMs only; \"{partition}\" is not on one"
        ))),
    }
}

/// The blank partition a service takes: defined in the lab (else `CKR_ARGUMENTS_BAD`), present
/// and not initialised (simulator-defined: CCC creates the partition; the lab pre-creates it
/// blank).
pub(super) fn check_blank(
    items: &crate::store::DeviceItems,
    partition: &PartitionId,
) -> Result<()> {
    let row = items
        .token(partition)?
        .ok_or_else(|| unknown(format!("the lab defines no partition \"{partition}\"")))?;
    if !row.present || row.record.initialized {
        return Err(refused(format!(
            "partition \"{partition}\" is not blank: a new service takes blank partitions"
        )));
    }
    Ok(())
}

/// Changes a service's name, description or organisation, checked as `create_ccc_service`
/// checks them.
pub fn edit_ccc_service(
    selection: &LabSelection,
    name: &str,
    edit: ServiceEdit,
) -> Result<CccService> {
    if let Some(new_name) = &edit.name {
        ccc::check_service_name(new_name).map_err(refused)?;
    }
    update_ccc(selection, |state| {
        state.service(name)?;
        if let Some(new_name) = &edit.name
            && new_name != name
            && state.ccc.services.iter().any(|s| &s.name == new_name)
        {
            return Err(refused(format!("CCC service \"{new_name}\" exists")));
        }
        if let Some(organisation) = &edit.organisation {
            organisations::organisation_at(state, organisation)?;
        }
        if let Some(new_name) = &edit.name
            && new_name != name
            && let Some(status) = state.statuses.remove(name)
        {
            state.statuses.insert(new_name.clone(), status);
        }
        let service = state.service_mut(name)?;
        if let Some(new_name) = edit.name {
            service.name = new_name;
        }
        if let Some(description) = edit.description {
            service.description = description;
        }
        if let Some(organisation) = edit.organisation {
            service.organisation = organisation;
        }
        Ok(service.clone())
    })
}

/// Detaches a service: CCC forgets it; "It does not affect the associated partition(s) ...
/// or the objects they contain" (documented (seed 004)). Returns what it was.
pub fn detach_ccc_service(selection: &LabSelection, name: &str) -> Result<CccService> {
    update_ccc(selection, |state| {
        let at = state.position(name)?;
        state.statuses.remove(name);
        Ok(state.ccc.services.remove(at))
    })
}

/// Deletes a service in one store transaction: CCC forgets it and each of its partitions is
/// removed with its objects, as `lab partition remove` removes one (a partition already
/// removed stays so) ("Deleting a service deletes the partition(s) used to provide the service
/// and all objects in the partition(s)", documented (seed 004)). Returns what it was.
pub fn delete_ccc_service(selection: &LabSelection, name: &str) -> Result<CccService> {
    update_ccc_with_items(selection, |state, items| {
        let at = state.position(name)?;
        let service = state.ccc.services.remove(at);
        state.statuses.remove(name);
        for partition in &service.partitions {
            items.remove_partition(partition)?;
        }
        Ok(service)
    })
}
