//! A service's life after creation (seed 004, Initializing a Service, Activating a
//! PED-Authenticated Service, Managing Services, Modifying partition size, Adding a Partition to
//! a Service, Initializing an added partition, Removing a Partition from HA Group): its
//! partitions initialised in the store (roles, cloning domain) as the lab initialises a
//! partition (`fresh_record`), its PPSO PED roles activated, partitions added (a standalone
//! service becomes HA), initialised with the members' cloning domain and credentials, and
//! removed, its partition size changed, the devices' reachability (a simulator-defined switch),
//! its keys (its first partition's objects) and the clients it is deployed to (authorising a
//! client synchronises a service whose partitions are not in sync, as `ccc_client` does). Every
//! change is one store transaction (`update_ccc_with_items`): a refused one writes nothing.
use super::services::{check_blank, check_licences, check_service_partition, network_hsm};
use super::templates::template_at;
use super::*;
use crate::lab::ccc::{CccService, CccTemplate};
use crate::lab::definition::{LunaPreset, TokenPreset, VendorPreset};
use crate::lab::schema::CccServiceType;
use crate::models::luna::ped::{Colour, PedKey};
use crate::models::{ccc, luna};
use crate::store::{DeviceItems, TokenRow};

/// What CCC knows of a service beyond the lab's shape (kept in `CccState::statuses` under the
/// service's name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CccServiceStatus {
    /// Its roles and cloning domain initialised (by CCC, or found so when imported).
    pub initialised: bool,
    /// Initialised by CCC (false: imported, i.e. created and initialised outside CCC, e.g.
    /// through LunaSH).
    pub initialised_by_ccc: bool,
    /// The crypto officer activated (PPSO PED services).
    pub activated: bool,
    /// The partition size in bytes when changed from the template's (Modifying partition size).
    pub partition_size: Option<u64>,
    /// Imported with both the STC and PPSO policies: only view, detach, delete and
    /// name/description/organisation edits are allowed.
    pub reduced: bool,
    /// Partitions added to the service and not initialised yet.
    pub uninitialised_partitions: Vec<PartitionId>,
    /// The clients the service is deployed to.
    pub clients: Vec<CccClient>,
    /// The template as it was when CCC created the service (simulator-defined: a template is
    /// read when a service is created; without one, the template of that name is read).
    #[serde(default)]
    pub template: Option<CccTemplate>,
    /// A standalone service a partition was added to ("converting single partition service to
    /// HA"): an HA service since.
    #[serde(default)]
    pub converted_to_ha: bool,
    /// PED services CCC initialised: the directory, under the lab's state directory, of the PED
    /// keys imprinted for the service (simulator-defined: one set for every partition, so the
    /// members share credentials and the red key's cloning domain).
    #[serde(default)]
    pub ped_keys: Option<String>,
}

/// A client host a service is deployed to, and whether it must register again (after a
/// partition was added or removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CccClient {
    pub host: String,
    pub re_registration_needed: bool,
}

/// The Initialize Service wizard's answers (Define Partition, Initialize Roles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInitialisation {
    /// The partition label (Define Partition).
    pub partition_label: String,
    /// The cloning domain (password services; PED services use the domain PED key).
    pub cloning_domain: String,
    /// The Partition SO password (PPSO services; at least 8 characters).
    pub partition_so_password: Option<String>,
    /// The crypto officer password (at least 8 characters).
    pub crypto_officer_password: String,
    /// The crypto user password when "Initialize Crypto User" is ticked.
    pub crypto_user_password: Option<String>,
}

/// A key (object) of a service, as its Keys tab lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CccKey {
    pub label: String,
    /// `CKA_ID` in hex.
    pub id: String,
    /// "private", "public", "secret", "certificate", "data".
    pub class: String,
    /// "rsa", "ec", "aes", ... (empty for objects that are no keys).
    pub key_type: String,
}

/// A Luna token label's longest length in bytes (`CK_TOKEN_INFO.label`).
const LABEL_MAX: usize = 32;

/// A partition's token row as a read or a transaction sees it.
type TokenOf<'a> = &'a dyn Fn(&PartitionId) -> Result<Option<TokenRow>>;

/// The status of service `service`.
pub fn ccc_service_status(selection: &LabSelection, service: &str) -> Result<CccServiceStatus> {
    let state = ccc_state(selection)?;
    let store = open_store(selection)?;
    status_in(&state, service, &|p| store.token(p))
}

/// The status of `name` in `state`: the stored one, or, for a service CCC has none of (a lab's
/// `[[ccc.service]]`), initialised when every partition's token is (not by CCC).
fn status_in(state: &CccState, name: &str, token: TokenOf<'_>) -> Result<CccServiceStatus> {
    let service = state.service(name)?;
    if let Some(status) = state.statuses.get(name) {
        return Ok(status.clone());
    }
    let mut initialised = true;
    for partition in &service.partitions {
        initialised &= token(partition)?.is_some_and(|row| row.present && row.record.initialized);
    }
    Ok(CccServiceStatus {
        initialised,
        ..Default::default()
    })
}

/// A service to change: it, its template and its status. Refused for a reduced service (STC
/// and PPSO: "the Partition SO can only access and modify the partition through the STC link
/// with the Thales Luna HSM client, not through CCC", documented (seed 004)), and when its
/// template is deleted and CCC kept no copy (simulator-defined).
fn managed(
    state: &CccState,
    items: &DeviceItems,
    name: &str,
) -> Result<(CccService, CccTemplate, CccServiceStatus)> {
    let service = state.service(name)?.clone();
    let status = status_in(state, name, &|p| items.token(p))?;
    check_not_reduced(name, &status)?;
    let template = match &status.template {
        Some(template) => template.clone(),
        None => {
            let at = template_at(state, &service.template).map_err(|_| {
                refused(format!(
                    "service \"{name}\"'s template \"{}\" was deleted: CCC does not know the service's capabilities",
                    service.template
                ))
            })?;
            state.ccc.templates[at].clone()
        }
    };
    Ok((service, template, status))
}

/// Refused for a reduced service (see `managed`).
fn check_not_reduced(name: &str, status: &CccServiceStatus) -> Result<()> {
    if status.reduced {
        return Err(refused(format!(
            "service \"{name}\" has Secure Trusted Channel and Per-Partition SO: the Partition SO can only access and modify the partition through the STC link with the Thales Luna HSM client, not through CCC (view, detach, delete or edit it)"
        )));
    }
    Ok(())
}

/// Refused for a service not initialised yet ("an Application Owner cannot deploy a service
/// until it has been initialized", documented).
fn check_deployable(name: &str, status: &CccServiceStatus) -> Result<()> {
    if !status.initialised {
        return Err(refused(format!(
            "service \"{name}\" is not initialized: an Application Owner cannot deploy a service until it has been initialized"
        )));
    }
    Ok(())
}

/// Refused while a device of `partitions` is offline ("try again when all the devices are
/// online", documented for the partition size; simulator-defined for the other changes).
fn check_online<'a>(
    state: &CccState,
    partitions: impl IntoIterator<Item = &'a PartitionId>,
) -> Result<()> {
    for partition in partitions {
        if let Some(device) = state
            .devices
            .iter()
            .find(|d| &d.device == partition.device() && d.offline)
        {
            return Err(refused(format!(
                "device \"{}\" is offline: try again when all the devices are online",
                device.device
            )));
        }
    }
    Ok(())
}

fn check_password(role: &str, password: &str) -> Result<()> {
    ccc::check_password(role, password).map_err(refused)
}

fn is_ha(template: &CccTemplate, status: &CccServiceStatus) -> bool {
    template.service_type == CccServiceType::HsmPartitionHaGroup || status.converted_to_ha
}

/// The roles' credentials a partition is initialised with.
struct Roles<'a> {
    /// A Per-Partition SO service (PED services: the SO gets the blue key).
    ppso: bool,
    /// The Partition SO's password (PPSO password services).
    so: Option<&'a str>,
    /// The Crypto Officer's password (password services) or challenge password (PED).
    co: &'a str,
    /// The Crypto User's password or challenge password (PPSO services, when initialised).
    cu: Option<&'a str>,
}

/// The PED key file of `colour` in the service's PED key directory (relative to the state
/// directory).
fn ped_key_path(dir: &str, colour: &str) -> String {
    format!("{dir}/{colour}.key")
}

/// A partition initialised as the lab initialises one (`fresh_record` from a preset): label,
/// the roles' credentials and the cloning domain; a PED service's roles get the PED keys of
/// `ped_dir` (imprinted on first use) and the challenge passwords of the Crypto Officer and
/// Crypto User. Returns the record and the token key it seals.
fn initialised_record(
    selection: &LabSelection,
    partition: &PartitionId,
    label: &str,
    domain: &str,
    roles: &Roles<'_>,
    ped_dir: Option<&str>,
) -> Result<(TokenRecord, TokenKey)> {
    let model = selection.device_model(partition.device())?;
    let preset = match ped_dir {
        None => TokenPreset {
            label: label.into(),
            so_pin: roles.so.map(Into::into),
            user_pin: Some(roles.co.into()),
            vendor: VendorPreset::Luna(LunaPreset {
                role_pins: roles
                    .cu
                    .map(|cu| (luna::CKU_CRYPTO_USER, cu.to_string()))
                    .into_iter()
                    .collect(),
                domain: Some(domain.into()),
                ..Default::default()
            }),
        },
        Some(dir) => {
            model.check_challenge_secret(roles.co.as_bytes())?;
            if let Some(cu) = roles.cu {
                model.check_challenge_secret(cu.as_bytes())?;
            }
            let mut keys = vec![(CKU_USER, ped_key_path(dir, "black"))];
            if roles.ppso {
                keys.push((CKU_SO, ped_key_path(dir, "blue")));
            }
            if roles.cu.is_some() {
                keys.push((luna::CKU_CRYPTO_USER, ped_key_path(dir, "gray")));
            }
            TokenPreset {
                label: label.into(),
                so_pin: None,
                user_pin: None,
                vendor: VendorPreset::Luna(LunaPreset {
                    ped_keys: keys,
                    domain_ped_key: Some(ped_key_path(dir, "red")),
                    ..Default::default()
                }),
            }
        }
    };
    let mut record = fresh_record(partition, &model, Some(&preset), &selection.state_dir)?;
    let key = open_role(selection, &record, partition, CKU_USER, roles.co, ped_dir)?
        .ok_or_else(|| err(CKR_DEVICE_ERROR, "a new partition's seal did not open"))?;
    if ped_dir.is_some() {
        let context = SealContext {
            partition,
            generation: record.generation,
        };
        record.role_mut(CKU_USER).challenge =
            Some(PinSeal::new(roles.co.as_bytes(), &key, context)?);
        if let Some(cu) = roles.cu {
            record.role_mut(luna::CKU_CRYPTO_USER).challenge =
                Some(PinSeal::new(cu.as_bytes(), &key, context)?);
        }
    }
    Ok((record, key))
}

/// The token key `record`'s role `user` opens with `secret`: its password (password services),
/// or, on a PED service, its PED key (`secret` used only to find the role) when just
/// initialised, else its challenge password. `None`: the secret is not the role's.
fn open_role(
    selection: &LabSelection,
    record: &TokenRecord,
    partition: &PartitionId,
    user: CK_USER_TYPE,
    secret: &str,
    ped_dir: Option<&str>,
) -> Result<Option<TokenKey>> {
    let context = SealContext {
        partition,
        generation: record.generation,
    };
    let Some(role) = record.role(user) else {
        return Ok(None);
    };
    Ok(match (ped_dir, &role.challenge) {
        (None, _) => role
            .seal
            .as_ref()
            .and_then(|s| s.open(secret.as_bytes(), context)),
        (Some(_), Some(challenge)) => challenge.open(secret.as_bytes(), context),
        (Some(dir), None) => {
            let colour = luna::ped_colour(user);
            let name = match colour {
                Colour::Blue => "blue",
                Colour::Black => "black",
                _ => "gray",
            };
            let path = selection.state_dir.join(ped_key_path(dir, name));
            let credential = PedKey::load_or_create(&path, colour)?.credential();
            role.seal
                .as_ref()
                .and_then(|s| s.open(&credential, context))
        }
    })
}

/// The PPSO-dependent checks of the roles: a Partition SO password on PPSO services only, a
/// Crypto User on PPSO services only (documented: "For PPSO services ... optionally crypto
/// user"), each password 8 characters or more (CCC 3.9).
fn check_roles(
    service: &str,
    template: &CccTemplate,
    so: Option<&str>,
    co: &str,
    cu: Option<&str>,
) -> Result<()> {
    check_password("Crypto Officer", co)?;
    match (template.per_partition_so, so) {
        (true, None) if template.authentication == luna::Auth::Password => {
            return Err(refused(format!(
                "service \"{service}\" has Per-Partition SO: initialize the partition SO with a password too"
            )));
        }
        (true, Some(so)) => check_password("Partition SO", so)?,
        (false, Some(_)) => {
            return Err(refused(format!(
                "service \"{service}\" has no Per-Partition SO: its partition owner is the crypto officer, and it has no partition SO password"
            )));
        }
        _ => {}
    }
    if let Some(cu) = cu {
        if !template.per_partition_so {
            return Err(refused(format!(
                "service \"{service}\" has no Per-Partition SO: the crypto user role belongs to PPSO services"
            )));
        }
        check_password("Crypto User", cu)?;
    }
    Ok(())
}

/// The present token of a partition of a service.
fn present(items: &DeviceItems, partition: &PartitionId) -> Result<TokenRecord> {
    items
        .token(partition)?
        .filter(|row| row.present)
        .map(|row| row.record)
        .ok_or_else(|| {
            refused(format!(
                "partition \"{partition}\" is not present on its device"
            ))
        })
}

/// Initialises a created service's partitions (Initialize Service: Define Partition's label,
/// the cloning domain, Initialize Roles) in one store transaction, each partition's token made
/// as the lab initialises one (`fresh_record`): every object gone, the label, the Partition SO
/// (PPSO services), Crypto Officer and optional Crypto User sealing the token key, the cloning
/// domain. PED services (simulator-defined): the PED keys are imprinted as files under
/// `ccc-ped/<first partition>/` in the state directory (blue, black, gray, and red for the
/// domain: `cloning_domain` is not used), the passwords being the roles' challenge passwords.
/// Refused: reduced or unknown services as `managed` refuses; an initialised service
/// (simulator-defined: the Initialize button is on uninitialised services); a label of 0 or
/// more than 32 bytes, or an empty cloning domain (simulator-defined); a password under 8
/// characters (CCC 3.9), a Partition SO password missing on a PPSO password service or given
/// to a non-PPSO one, a Crypto User on a non-PPSO one; an offline device; a partition removed
/// from its device.
pub fn initialise_ccc_service(
    selection: &LabSelection,
    service: &str,
    init: ServiceInitialisation,
) -> Result<CccServiceStatus> {
    let label = &init.partition_label;
    if label.is_empty() || label.len() > LABEL_MAX {
        return Err(refused(format!(
            "the partition label \"{label}\" has {} bytes; a partition label has 1 to {LABEL_MAX}",
            label.len()
        )));
    }
    update_ccc_with_items(selection, |state, items| {
        let (svc, template, mut status) = managed(state, items, service)?;
        if status.initialised {
            return Err(refused(format!(
                "service \"{service}\" is initialized: only an uninitialized service is initialized"
            )));
        }
        let ped = template.authentication == luna::Auth::Ped;
        if !ped && init.cloning_domain.is_empty() {
            return Err(refused("a cloning domain is not empty"));
        }
        check_roles(
            service,
            &template,
            init.partition_so_password.as_deref(),
            &init.crypto_officer_password,
            init.crypto_user_password.as_deref(),
        )?;
        check_online(state, &svc.partitions)?;
        let ped_dir = ped.then(|| {
            let first = &svc.partitions[0];
            format!("ccc-ped/{}-{}", first.device(), first.name())
        });
        let roles = Roles {
            ppso: template.per_partition_so,
            so: init.partition_so_password.as_deref(),
            co: &init.crypto_officer_password,
            cu: init.crypto_user_password.as_deref(),
        };
        for partition in &svc.partitions {
            present(items, partition)?;
            let (record, _) = initialised_record(
                selection,
                partition,
                label,
                &init.cloning_domain,
                &roles,
                ped_dir.as_deref(),
            )?;
            items.write_token(partition, &record, true)?;
        }
        status.initialised = true;
        status.initialised_by_ccc = true;
        status.uninitialised_partitions.clear();
        status.ped_keys = ped_dir;
        state.statuses.insert(service.into(), status.clone());
        Ok(status)
    })
}

/// Activates a PPSO PED service's crypto officer on every initialised partition ("Activate
/// Roles": the role then logs in with its challenge password alone), `crypto_officer_password`
/// being the challenge password set when the service was initialised (`CKR_PIN_INCORRECT`
/// otherwise). Refused: a password service ("This function applies only to PED-based
/// services."), a non-PPSO one ("You can activate PPSO services only. Use LunaCM to activate a
/// non-PPSO service.", documented (seed 004)), an STC + PPSO service once deployed (documented),
/// an uninitialised one, an offline device, a reduced service.
pub fn activate_ccc_service(
    selection: &LabSelection,
    service: &str,
    crypto_officer_password: &str,
) -> Result<CccServiceStatus> {
    update_ccc_with_items(selection, |state, items| {
        let (svc, template, mut status) = managed(state, items, service)?;
        if template.authentication != luna::Auth::Ped {
            return Err(refused(format!(
                "service \"{service}\" is password-authenticated: activating roles applies only to PED-based services"
            )));
        }
        if !template.per_partition_so {
            return Err(refused(
                "You can activate PPSO services only. Use LunaCM to activate a non-PPSO service.",
            ));
        }
        if template.secure_trusted_channel && !status.clients.is_empty() {
            return Err(refused(format!(
                "service \"{service}\" has both PPSO and STC enabled and is deployed: it cannot be activated after the service is deployed to an Application Owner"
            )));
        }
        if !status.initialised {
            return Err(refused(format!(
                "service \"{service}\" is not initialized: initialize it first"
            )));
        }
        let members: Vec<&PartitionId> = svc
            .partitions
            .iter()
            .filter(|p| !status.uninitialised_partitions.contains(p))
            .collect();
        check_online(state, members.iter().copied())?;
        let dir = status.ped_keys.clone().unwrap_or_default();
        for partition in members {
            let mut record = present(items, partition)?;
            open_role(
                selection,
                &record,
                partition,
                CKU_USER,
                crypto_officer_password,
                Some(&dir),
            )?
            .filter(|_| record.role(CKU_USER).is_some_and(|r| r.challenge.is_some()))
            .ok_or_else(|| {
                err(
                    CKR_PIN_INCORRECT,
                    format!(
                        "the crypto officer challenge password is not the one of \"{partition}\""
                    ),
                )
            })?;
            record.role_mut(CKU_USER).activated = true;
            items.write_token(partition, &record, false)?;
        }
        status.activated = true;
        state.statuses.insert(service.into(), status.clone());
        Ok(status)
    })
}

/// Adds the blank partition `partition` to the service (Add Partitions): on a device not yet
/// in the service ("The devices which are already associated with service will not appear
/// under the Available Devices list"), checked as a new service's partitions are
/// (`check_service_partition`, the licences, blank), its device online. A standalone service
/// becomes HA. The partition stays in `uninitialised_partitions` until
/// `initialise_ccc_added_partitions`. Refused for a reduced service.
pub fn add_ccc_service_partition(
    selection: &LabSelection,
    service: &str,
    partition: &PartitionId,
) -> Result<CccService> {
    let device = network_hsm(selection, partition)?;
    update_ccc_with_items(selection, |state, items| {
        let (svc, template, mut status) = managed(state, items, service)?;
        if svc.partitions.iter().any(|p| p.is_on(partition.device())) {
            return Err(refused(format!(
                "device \"{}\" already provides service \"{service}\": an HA service's partitions are on different devices",
                partition.device()
            )));
        }
        check_blank(items, partition)?;
        check_service_partition(state, &template, service, partition, &device)?;
        check_licences(state, 1)?;
        check_online(state, [partition])?;
        if !is_ha(&template, &status) {
            status.converted_to_ha = true;
        }
        status.uninitialised_partitions.push(partition.clone());
        if status.template.is_none() {
            status.template = Some(template);
        }
        state.statuses.insert(service.into(), status);
        let changed = state.service_mut(service)?;
        changed.partitions.push(partition.clone());
        Ok(changed.clone())
    })
}

/// Initialises the service's added partitions (Initialize New Partitions) in one store
/// transaction with the members' cloning domain and credentials ("initialize new partitions
/// with same cloning domain and role credentials to prevent zeroizing of the existing
/// partitions", documented (seed 004)): the label is the first member's ("disabled Partition
/// Label"); the cloning domain and crypto officer password must be the members' (PED services:
/// the service's PED keys, the password the CO's challenge password). The Partition SO of a
/// new PPSO password partition is sealed under the crypto officer password (simulator-defined:
/// the wizard asks for none). The crypto user follows the guide's CU tables: given, every
/// member without a crypto user gets it too (PED: activated when the new partitions' are) and
/// a member with one must have that password; not given, nothing changes. The clients must
/// register again. Refused: a reduced, uninitialised or offline service, none to initialise,
/// a short password, credentials or domain other than the members'.
pub fn initialise_ccc_added_partitions(
    selection: &LabSelection,
    service: &str,
    cloning_domain: &str,
    crypto_officer_password: &str,
    crypto_user_password: Option<&str>,
) -> Result<CccServiceStatus> {
    update_ccc_with_items(selection, |state, items| {
        let (svc, template, mut status) = managed(state, items, service)?;
        if !status.initialised {
            return Err(refused(format!(
                "service \"{service}\" is not initialized: initialize the service first"
            )));
        }
        if status.uninitialised_partitions.is_empty() {
            return Err(refused(format!(
                "service \"{service}\" has no uninitialized partitions"
            )));
        }
        // The new partitions' Partition SO takes the crypto officer password.
        let so = template.per_partition_so.then_some(crypto_officer_password);
        check_roles(
            service,
            &template,
            so,
            crypto_officer_password,
            crypto_user_password,
        )?;
        check_online(state, &svc.partitions)?;
        let ped_dir = status.ped_keys.clone();
        let mismatch = |what: &str| {
            refused(format!(
                "the {what} is not the one of service \"{service}\"'s partitions: initialize new partitions with same cloning domain and role credentials to prevent zeroizing of the existing partitions"
            ))
        };
        let members: Vec<PartitionId> = svc
            .partitions
            .iter()
            .filter(|p| !status.uninitialised_partitions.contains(p))
            .cloned()
            .collect();
        let mut member_records = Vec::new();
        for member in &members {
            let record = present(items, member)?;
            let key = open_role(
                selection,
                &record,
                member,
                CKU_USER,
                crypto_officer_password,
                ped_dir.as_deref(),
            )?
            .ok_or_else(|| mismatch("crypto officer password"))?;
            if ped_dir.is_none()
                && !luna::ca::state_of(&record)
                    .has_domain(&luna::domain_verifier(cloning_domain.as_bytes()))
            {
                return Err(mismatch("cloning domain"));
            }
            if let Some(cu) = crypto_user_password
                && record.has_pin(luna::CKU_CRYPTO_USER)
                && open_role(
                    selection,
                    &record,
                    member,
                    luna::CKU_CRYPTO_USER,
                    cu,
                    ped_dir.as_deref(),
                )?
                .is_none()
            {
                return Err(mismatch("crypto user password"));
            }
            member_records.push((member, record, key));
        }
        let label = member_records
            .first()
            .map(|(_, r, _)| r.label.clone())
            .unwrap_or_default();
        let roles = Roles {
            ppso: template.per_partition_so,
            so: (template.per_partition_so && ped_dir.is_none()).then_some(crypto_officer_password),
            co: crypto_officer_password,
            cu: crypto_user_password,
        };
        for partition in &status.uninitialised_partitions {
            present(items, partition)?;
            let (mut record, _) = initialised_record(
                selection,
                partition,
                &label,
                cloning_domain,
                &roles,
                ped_dir.as_deref(),
            )?;
            if ped_dir.is_some() {
                record.role_mut(CKU_USER).activated = status.activated;
                if crypto_user_password.is_some() {
                    record.role_mut(luna::CKU_CRYPTO_USER).activated = true;
                }
            }
            items.write_token(partition, &record, true)?;
        }
        // The CU tables: "Initialize CU: Yes, Old partition Not initialized: Old partition
        // will also be initialized" (PED: activated).
        if let Some(cu) = crypto_user_password {
            for (member, mut record, key) in member_records {
                let context = SealContext {
                    partition: member,
                    generation: record.generation,
                };
                let role = record.role_mut(luna::CKU_CRYPTO_USER);
                let mut changed = false;
                if role.seal.is_none() {
                    role.seal = Some(match &ped_dir {
                        None => PinSeal::new(cu.as_bytes(), &key, context)?,
                        Some(dir) => {
                            let path = selection.state_dir.join(ped_key_path(dir, "gray"));
                            let gray = PedKey::load_or_create(&path, Colour::Gray)?;
                            PinSeal::new(&gray.credential(), &key, context)?
                        }
                    });
                    changed = true;
                }
                if ped_dir.is_some() {
                    if role.challenge.is_none() {
                        role.challenge = Some(PinSeal::new(cu.as_bytes(), &key, context)?);
                    }
                    changed |= !role.activated;
                    role.activated = true;
                }
                if changed {
                    items.write_token(member, &record, false)?;
                }
            }
        }
        status.uninitialised_partitions.clear();
        for client in &mut status.clients {
            client.re_registration_needed = true;
        }
        state.statuses.insert(service.into(), status.clone());
        Ok(status)
    })
}

/// Removes `partition` from an HA service (Remove Partition): irreversible ("Once a partition
/// is removed, the action cannot be undone"): the partition is deleted from its device with its
/// objects, as deleting a service deletes its partitions (decided from the guide's "clone any
/// required key material before deleting the partition"). Refused on a standalone service
/// ("The CCC administrator cannot perform partition removal operation on a single HSM
/// service."), for the last partition ("If the user tries to remove the last partition from a
/// HA group, an error message displays"), on an offline device, for a reduced service;
/// `CKR_ARGUMENTS_BAD` when the partition is not the service's. Removing an initialised
/// partition makes the clients register again (documented).
pub fn remove_ccc_service_partition(
    selection: &LabSelection,
    service: &str,
    partition: &PartitionId,
) -> Result<CccService> {
    update_ccc_with_items(selection, |state, items| {
        let (svc, template, mut status) = managed(state, items, service)?;
        let at = svc
            .partitions
            .iter()
            .position(|p| p == partition)
            .ok_or_else(|| {
                unknown(format!(
                    "service \"{service}\" has no partition \"{partition}\"; partitions: {}",
                    svc.partitions
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        if !is_ha(&template, &status) {
            return Err(refused(
                "The CCC administrator cannot perform partition removal operation on a single HSM service.",
            ));
        }
        if svc.partitions.len() == 1 {
            return Err(refused(format!(
                "\"{partition}\" is the last partition of HA service \"{service}\": the last partition of an HA group cannot be removed"
            )));
        }
        check_online(state, [partition])?;
        let was_initialised =
            status.initialised && !status.uninitialised_partitions.contains(partition);
        items.remove_partition(partition)?;
        status.uninitialised_partitions.retain(|p| p != partition);
        if was_initialised {
            for client in &mut status.clients {
                client.re_registration_needed = true;
            }
        }
        state.statuses.insert(service.into(), status);
        let changed = state.service_mut(service)?;
        changed.partitions.remove(at);
        Ok(changed.clone())
    })
}

/// The partition size of a service: the one set by `resize_ccc_service`, else its template's.
fn service_size(state: &CccState, service: &CccService) -> u64 {
    let status = state.statuses.get(&service.name);
    status
        .and_then(|s| s.partition_size)
        .or_else(|| status.and_then(|s| s.template.as_ref().map(|t| t.partition_size)))
        .or_else(|| {
            state
                .ccc
                .templates
                .iter()
                .find(|t| t.name == service.template)
                .map(|t| t.partition_size)
        })
        .unwrap_or(0)
}

/// Changes the service's partition size (Capabilities, Edit), `size` as typed: digits only
/// ("not allowed to enter the alphanumeric value"), 1000 to 99999999 bytes (documented), each
/// device's memory allowing it ("not allowed as per available device memory size"): the
/// device's memory (`[device.luna] memory`, else `models::ccc::device_memory`,
/// simulator-defined) less the sizes of its other partitions (a service's partition its
/// service's size; another its lab `size`, none counting 0; simulator-defined). Refused while a
/// device of the service is offline ("try again when all the devices are online"). All or
/// nothing: one transaction, every partition or none ("the updates are rolled back"). The new
/// size is CCC's record; the engine's partition capacity stays the lab's `size`
/// (simulator-defined).
pub fn resize_ccc_service(
    selection: &LabSelection,
    service: &str,
    size: &str,
) -> Result<CccServiceStatus> {
    if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refused(format!(
            "the partition size \"{size}\" is not a whole number of bytes: enter digits only"
        )));
    }
    let bytes: u64 = size.parse().unwrap_or(u64::MAX);
    ccc::check_partition_size(service, bytes)
        .map_err(|_| {
            refused(format!(
                "the partition size {size} is outside the limits: the minimum partition size is {} bytes, the maximum {} bytes",
                ccc::PARTITION_SIZE.start(),
                ccc::PARTITION_SIZE.end()
            ))
        })?;
    update_ccc_with_items(selection, |state, items| {
        let (svc, _, mut status) = managed(state, items, service)?;
        check_online(state, &svc.partitions)?;
        for partition in &svc.partitions {
            let device = partition.device();
            let memory = match selection.lab.device_memory(device.as_str()) {
                Some(memory) => memory,
                None => ccc::device_memory(&*network_hsm(selection, partition)?),
            };
            let mut used = 0;
            for (other, _, _) in selection.lab.partitions() {
                if !other.is_on(device) || &other == partition {
                    continue;
                }
                used += match state
                    .ccc
                    .services
                    .iter()
                    .find(|s| s.partitions.contains(&other))
                {
                    Some(owner) => service_size(state, owner),
                    None => lab_size(selection, &other),
                };
            }
            let free = memory.saturating_sub(used);
            if bytes > free {
                return Err(refused(format!(
                    "no space is available on device \"{device}\" for {bytes} bytes: its memory has {free} bytes free for \"{partition}\""
                )));
            }
        }
        status.partition_size = Some(bytes);
        state.statuses.insert(service.into(), status.clone());
        Ok(status)
    })
}

/// A partition's lab `size` (`[device.partition.luna] size`), 0 when the lab states none.
pub(super) fn lab_size(selection: &LabSelection, partition: &PartitionId) -> u64 {
    selection
        .lab
        .file
        .devices
        .iter()
        .filter(|d| d.name.get_ref() == partition.device().as_str())
        .flat_map(|d| &d.partitions)
        .find(|p| p.name.get_ref() == partition.name())
        .and_then(|p| p.luna())
        .and_then(|l| l.size.as_ref())
        .map_or(0, |s| *s.get_ref())
}

/// Marks an added device unreachable (true) or reachable (simulator-defined: the lab has no
/// network; CCC's Status column shows green when "all the associated devices are up and
/// running"). `CKR_ARGUMENTS_BAD` when the device is not added to CCC.
pub fn set_ccc_device_offline(
    selection: &LabSelection,
    device: &DeviceId,
    offline: bool,
) -> Result<()> {
    update_ccc(selection, |state| {
        let added = state
            .devices
            .iter_mut()
            .find(|d| &d.device == device)
            .ok_or_else(|| unknown(format!("device \"{device}\" is not added to CCC")))?;
        added.offline = offline;
        Ok(())
    })
}

/// The keys of service `service` (its Keys tab): the objects of its first initialised
/// partition, in creation order, from their public attributes as the store keeps them
/// (simulator-defined: CCC's NTLS session as the crypto officer is not asked for). Refused for
/// an uninitialised service and an offline device.
pub fn ccc_service_keys(selection: &LabSelection, service: &str) -> Result<Vec<CccKey>> {
    let state = ccc_state(selection)?;
    let store = open_store(selection)?;
    let status = status_in(&state, service, &|p| store.token(p))?;
    if !status.initialised {
        return Err(refused(format!(
            "service \"{service}\" is not initialized: it has no keys"
        )));
    }
    let svc = state.service(service)?;
    let Some(first) = svc
        .partitions
        .iter()
        .find(|p| !status.uninitialised_partitions.contains(p))
    else {
        return Ok(Vec::new());
    };
    check_online(&state, [first])?;
    Ok(store
        .objects(first)?
        .iter()
        .map(|object| key_of(&object.public))
        .collect())
}

fn key_of(public: &crate::base::attribute::Attributes) -> CccKey {
    let class = match public.ulong(CKA_CLASS) {
        Some(CKO_PRIVATE_KEY) => "private",
        Some(CKO_PUBLIC_KEY) => "public",
        Some(CKO_SECRET_KEY) => "secret",
        Some(CKO_CERTIFICATE) => "certificate",
        Some(CKO_DATA) => "data",
        _ => "other",
    };
    let key_type = match public.ulong(CKA_KEY_TYPE) {
        None => "",
        Some(CKK_RSA) => "rsa",
        Some(CKK_EC) => "ec",
        Some(CKK_AES) => "aes",
        Some(CKK_DES3) => "des3",
        Some(CKK_GENERIC_SECRET) => "generic-secret",
        Some(CKK_EC_EDWARDS) => "ec-edwards",
        Some(CKK_EC_MONTGOMERY) => "ec-montgomery",
        Some(_) => "other",
    };
    let bytes = |t| public.bytes(t).unwrap_or_default();
    CccKey {
        label: String::from_utf8_lossy(bytes(CKA_LABEL)).into_owned(),
        id: bytes(CKA_ID).iter().map(|b| format!("{b:02x}")).collect(),
        class: class.into(),
        key_type: key_type.into(),
    }
}

/// Deploys service `service` to client host `host` (registers it, as `ccc_client` authorising
/// the service does; registering again clears "re-registration needed"). The host is one of
/// the lab's (`CKR_ARGUMENTS_BAD` otherwise). Refused for an uninitialised service ("an
/// Application Owner cannot deploy a service until it has been initialized", documented) and a
/// reduced one.
///
/// "While authorizing the service, CCC also runs synchronization between all partitions of
/// the service" (the guide, Migrate Service Troubleshooting): when the service's partitions
/// are not in sync (`check_ccc_service_in_sync`), `crypto_officer` (the crypto officer's
/// password; PED: its activated challenge) opens them and `synchronise_ccc_service` runs
/// first: its refusal (e.g. `CKR_PIN_INCORRECT`) is returned and nothing is registered.
/// Without it, a service out of sync is refused, saying so. Simulator-defined: CCC keeps no
/// partition credential, so `ccc_client` asks for it; a service in sync needs none (one given
/// is not used); a partition added and not initialised yet does not count (initialising it
/// makes the clients register again).
pub fn register_ccc_client(
    selection: &LabSelection,
    service: &str,
    host: &str,
    crypto_officer: Option<&str>,
) -> Result<CccServiceStatus> {
    let hosts = selection.lab.host_names();
    if !hosts.contains(&host) {
        return Err(unknown(format!(
            "the lab defines no host \"{host}\"; hosts: {}",
            listed(hosts.iter().copied())
        )));
    }
    // The service's own refusals first, so a refused registration synchronises nothing.
    let before = ccc_service_status(selection, service)?;
    check_not_reduced(service, &before)?;
    check_deployable(service, &before)?;
    // Partitions added and not initialised yet are not counted: their initialisation makes
    // the clients register again, which synchronises them then.
    let lacking: Vec<PartitionId> = super::migrate::lacking(selection, service)?
        .into_iter()
        .filter(|p| !before.uninitialised_partitions.contains(p))
        .collect();
    if !lacking.is_empty() {
        let Some(credential) = crypto_officer else {
            return Err(refused(format!(
                "service \"{service}\" needs synchronisation: {} lack objects the service's other partitions (or the partition it was migrated from) hold. Authorise the service with its crypto officer's credential to run the synchronisation and register the client (CCC keeps no partition credential: ccc_client asks for it)",
                lacking
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        synchronise_ccc_service(selection, service, credential)?;
    }
    update_ccc_with_items(selection, |state, items| {
        let (_, _, mut status) = managed(state, items, service)?;
        check_deployable(service, &status)?;
        match status.clients.iter_mut().find(|c| c.host == host) {
            Some(client) => client.re_registration_needed = false,
            None => status.clients.push(CccClient {
                host: host.into(),
                re_registration_needed: false,
            }),
        }
        state.statuses.insert(service.into(), status.clone());
        Ok(status)
    })
}
