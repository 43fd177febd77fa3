//! CCC's Migrate Service (seed 004, "Migrate Service", "Supported Devices", "Steps Involved",
//! "Troubleshooting"): the services Select Service lists, the wizard's answers checked as the
//! Summary's Migrate Service button does (the supported matrix and firmware/FM pairs of
//! `models::ccc`, the licences, identical cloning domain and role credentials), the run (a new
//! service created on the target devices' blank partitions, initialised with the source's
//! cloning domain and credentials, every object copied from the source's first partition by
//! Luna cloning, `ha_groups::clone_missing`), its record and progress in CCC's state, its
//! failure handling (the failed targets out of the new service, CCC's Troubleshooting error
//! and solution), migrations a stopped server left running, and a service's synchronisation
//! (which `ccc_client` authorising the service runs: `register_ccc_client`).
//!
//! Simulator-defined choices:
//! - "created and roles initialized through LUSH" (the condition on 6.x password sources) is
//!   `!CccServiceStatus::initialised_by_ccc`: a service the lab defines or CCC imported was
//!   created outside CCC; one that CCC initialised was not.
//! - The new service's template (the wizard asks none): the source service's when it fits the
//!   targets (service type by partition count, capabilities by device), else the first
//!   template in CCC that does; none fitting is refused.
//! - CCC keeps no partition credential (the store never holds a credential that opens a
//!   token): a run uses the wizard's challenges while it runs, and a service's
//!   synchronisation takes the crypto officer's credential (`synchronise_ccc_service`; given
//!   to `ccc_client` when it authorises the service, `register_ccc_client`). So a migration
//!   found running after a restart is resumed only when what is left needs no credential (its
//!   copy had completed: it succeeds); otherwise it fails as a run's copy does (below).
//! - A natural failure: a target device going offline (`CccDevice::offline`, or the lab's
//!   `hsmsim lab fail`) before its copy, a target partition too small for the objects
//!   (`MigrationRequest::partition_size`, `CKR_CONTAINER_OBJECT_STORAGE_FULL`: "Decide
//!   partition size carefully"), or a target device with HSM policy 7 (cloning) off: CCC checks
//!   only the source's cloning capability ("unless the source HSM has cloning capability"), the
//!   new partition's cloning policies are capped by the device (a partition policy is never
//!   looser than the HSM policy), and the copy meets Luna's cloning refusal.
//! - A copy that failed on some targets (the guide's Troubleshooting): the migration fails
//!   with CCC's message naming the devices, followed by its solution (`models::ccc::COPY_ERROR`,
//!   `COPY_SOLUTION`). The failed targets leave the new service and stay as they are on their
//!   devices, initialised, outside CCC (like a detached service's partitions); when every
//!   target failed, the service keeps its first one (a CCC service has at least one
//!   partition). The repair is the documented one: add partitions to the new service
//!   (`add_ccc_service_partition`, `initialise_ccc_added_partitions`), then authorise the
//!   service with `ccc_client` (`register_ccc_client` with the crypto officer's credential),
//!   which synchronises it (`synchronise_ccc_service`: every partition receives what it lacks,
//!   from the service's other partitions and from the migration's source).
//! - The new partitions take the source's credentials: password devices the wizard's cloning
//!   domain and challenges, checked against the source's (each must open the source's seal or
//!   match its domain); PED devices the source's blue, black and red PED keys as the lab names
//!   them (a PED source without lab PED keys is refused), the crypto officer's challenge set
//!   and activated (CCC clones as the activated crypto officer, so a PED source's crypto
//!   officer must be activated with a challenge, PPSO or not). The new partitions also take the
//!   source's cloning policies (partition policies 0 and 4), and PED ones activation (22).
//! - The New Service step's HSM model (`MigrationRequest::hsm_model`, `models::ccc::HsmModel`)
//!   is checked against each target device at Select Devices (after it is authorised and
//!   online); a request without one (older API bodies, the CLI without `--hsm-model`) skips
//!   that check.
//! - One migration runs at a time ("You will not be able to perform other CCC functions till
//!   the time the process gets completed"): another is refused while one is running.
use super::services::{NewService, create_ccc_service};
use super::templates::capabilities;
use super::*;
use crate::lab::definition::{LunaPreset, TokenPreset, VendorPreset};
use crate::lab::schema::CccServiceType;
use crate::models::{ccc, luna};

/// The Migrate Service wizard's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationRequest {
    /// Select Service.
    pub source_service: String,
    /// New Service: the HSM model (`None`: not checked, as before the wizard asked it; the
    /// console's wizard always gives one), name, description, organisation, partition size.
    pub hsm_model: Option<ccc::HsmModel>,
    pub name: String,
    pub description: String,
    pub organisation: String,
    pub partition_size: u64,
    /// Select Devices: a blank partition on each target device.
    pub targets: Vec<PartitionId>,
    /// Define Partition: label and cloning domain (password devices).
    pub partition_label: String,
    pub cloning_domain: Option<String>,
    /// Initialize Roles: security officer and crypto officer challenges (password devices).
    pub security_officer_challenge: Option<String>,
    pub crypto_officer_challenge: String,
}

/// Where a migration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationState {
    Running,
    Succeeded,
    Failed,
}

/// How far a running migration got: creating the new service (its partitions initialised
/// included), then copying the objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationStage {
    #[default]
    Creating,
    Copying,
}

/// A Migrate Service run as CCC keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CccMigration {
    /// 1, 2, ... in the order the runs started.
    pub id: u64,
    pub source_service: String,
    /// The source partition (an HA source's first).
    pub source_partition: PartitionId,
    pub new_service: String,
    pub targets: Vec<PartitionId>,
    pub state: MigrationState,
    /// The progress messages, in order.
    pub progress: Vec<String>,
    /// CCC's message when it failed.
    pub error: Option<String>,
    /// How far it got.
    #[serde(default)]
    pub stage: MigrationStage,
    /// The targets the copy did not complete on (they left the new service, but for its first
    /// when every target failed; see the module comment for the repair).
    #[serde(default)]
    pub failed_targets: Vec<PartitionId>,
}

/// CCC's Troubleshooting message for a failed service creation, and its solution.
pub const CREATION_ERROR: &str = "We ran into an error while creating a new service for these devices. Use the import partition functionality to manually import partitions into CCC, either as multiple single partition services or as an HA group of multiple partitions.";

/// The success message (simulator-defined wording of "You will see a success message after
/// the objects have been successfully migrated").
pub const SUCCESS_MESSAGE: &str = "The objects have been successfully migrated.";

/// "The service will not be listed for selection unless the source HSM has cloning capability
/// and is initialized." (the guide's words).
const NOT_LISTED: &str = "The service will not be listed for selection unless the source HSM has cloning capability and is initialized.";

/// "You must initialize the new service partitions using the cloning domain and role
/// credentials that are identical to those of the service that you've selected for migration."
const NOT_IDENTICAL: &str = "You must initialize the new service partitions using the cloning domain and role credentials that are identical to those of the service that you've selected for migration.";

/// Partitions for a message ("none" when empty).
fn names(partitions: &[PartitionId]) -> String {
    let texts: Vec<String> = partitions.iter().map(ToString::to_string).collect();
    listed(texts.iter().map(String::as_str))
}

/// The migrations, oldest first.
pub fn ccc_migrations(selection: &LabSelection) -> Result<Vec<CccMigration>> {
    Ok(ccc_state(selection)?.migrations)
}

/// A partition as the rules read it: its device, lab preset, token record and Luna state.
struct PartitionView {
    id: PartitionId,
    model: TokenModel,
    preset: Option<TokenPreset>,
    record: TokenRecord,
    state: luna::PartitionState,
}

impl PartitionView {
    fn read(selection: &LabSelection, store: &Store, id: &PartitionId) -> Result<PartitionView> {
        let (_, model, preset) = selection
            .lab
            .partitions()
            .into_iter()
            .find(|(p, _, _)| p == id)
            .ok_or_else(|| unknown(format!("the lab defines no partition \"{id}\"")))?;
        model.read_device_state(store)?;
        let row = store
            .token(id)?
            .ok_or_else(|| unknown(format!("the lab defines no partition \"{id}\"")))?;
        if !row.present {
            return Err(refused(format!("partition \"{id}\" was removed")));
        }
        Ok(PartitionView {
            id: id.clone(),
            state: luna::ca::state_of(&row.record),
            model,
            preset,
            record: row.record,
        })
    }

    /// Its Luna device (CCC manages Luna Network HSMs only).
    fn device(&self) -> Result<&luna::Device> {
        match self.model.luna() {
            Some(d) if d.kind == luna::DeviceKind::Network => Ok(d),
            _ => Err(refused(format!(
                "CCC manages Luna Network HSMs only; \"{}\" is not on one",
                self.id
            ))),
        }
    }

    /// Initialised with a cloning domain on a device with HSM policy 7 (cloning) on.
    fn migratable(&self) -> Result<()> {
        let device = self.device()?;
        if device.hsm_policy(luna::hsm_policy::CLONING) == 0 {
            return Err(refused(format!(
                "{NOT_LISTED} Device \"{}\" has HSM policy 7 (cloning) off.",
                device.name
            )));
        }
        if !self.record.initialized || self.state.domain.is_none() {
            return Err(refused(format!(
                "{NOT_LISTED} Partition \"{}\" is not initialised with a cloning domain.",
                self.id
            )));
        }
        Ok(())
    }

    fn context(&self) -> SealContext<'_> {
        SealContext {
            partition: &self.id,
            generation: self.record.generation,
        }
    }

    /// Whether `secret` opens the role's seal (PED: its activated challenge).
    fn opens(&self, user: CK_USER_TYPE, secret: &str) -> bool {
        let role = self.record.role(user);
        let seal = if self.model.uses_ped() {
            role.filter(|r| r.activated)
                .and_then(|r| r.challenge.as_ref())
        } else {
            role.and_then(|r| r.seal.as_ref())
        };
        seal.and_then(|s| s.open(secret.as_bytes(), self.context()))
            .is_some()
    }
}

/// The device `device` is unreachable: CCC marks it offline, or the lab failed it.
fn offline(state: &CccState, store: &Store, device: &DeviceId) -> Result<bool> {
    Ok(state
        .devices
        .iter()
        .any(|d| &d.device == device && d.offline)
        || super::super::ha_groups::device_down(store, device)?)
}

/// The services Select Service lists: their first partition initialised with a cloning domain
/// on a device with HSM policy 7 (cloning) on ("unless the source HSM has cloning capability
/// and is initialized"), in CCC's order.
pub fn ccc_migratable_services(selection: &LabSelection) -> Result<Vec<String>> {
    let state = ccc_state(selection)?;
    let store = open_store(selection)?;
    let mut out = Vec::new();
    for service in &state.ccc.services {
        let Some(first) = service.partitions.first() else {
            continue;
        };
        if PartitionView::read(selection, &store, first).is_ok_and(|p| p.migratable().is_ok()) {
            out.push(service.name.clone());
        }
    }
    Ok(out)
}

/// A request checked: what the run needs.
struct Plan {
    source: PartitionView,
    template: String,
}

/// Every rule of a request, read-only, in the wizard's order. `CKR_ARGUMENTS_BAD` for an
/// unknown service, organisation or partition; `CKR_FUNCTION_FAILED` with CCC's sentence for
/// a rule.
fn plan(selection: &LabSelection, request: &MigrationRequest) -> Result<Plan> {
    let state = ccc_state(selection)?;
    let store = open_store(selection)?;
    if let Some(running) = state
        .migrations
        .iter()
        .find(|m| m.state == MigrationState::Running)
    {
        return Err(refused(format!(
            "migration {} of service \"{}\" is running: other CCC functions wait until it completes",
            running.id, running.source_service
        )));
    }
    // Select Service: an HA service migrates from its first partition.
    let service = state.service(&request.source_service)?;
    let first = service.partitions.first().ok_or_else(|| {
        refused(format!(
            "service \"{}\" has no partition",
            request.source_service
        ))
    })?;
    let source = PartitionView::read(selection, &store, first)?;
    source.migratable()?;
    if offline(&state, &store, first.device())? {
        return Err(refused(format!(
            "device \"{}\" of the source partition \"{first}\" is offline",
            first.device()
        )));
    }
    let source_device = source.device()?;
    let status = state
        .statuses
        .get(&request.source_service)
        .cloned()
        .unwrap_or_default();
    if status.reduced {
        return Err(refused(format!(
            "service \"{}\" was imported with both the STC and PPSO policies: its functionality is reduced as CCC is not established as a secure endpoint for the existing STC connection (you can detach or delete the service, or change the service name, description, and organization)",
            request.source_service
        )));
    }
    if source_device.auth == luna::Auth::Ped
        && !source
            .record
            .role(CKU_USER)
            .is_some_and(|r| r.activated && r.challenge.is_some())
        && source_device.per_partition_so()
    {
        return Err(refused(format!(
            "the crypto officer of partition \"{first}\" is not activated with a challenge: CCC clones a PED partition's objects as its activated crypto officer"
        )));
    }
    if source_device.auth == luna::Auth::Ped && !source_device.per_partition_so() {
        let owner = source.record.role(CKU_USER);
        if !owner.is_some_and(|r| r.activated) {
            return Err(refused(format!(
                "For Non PPSO PED service migration, ensure that the source partition is activated and the default challenge is not set. Partition \"{first}\" is not activated."
            )));
        }
        if owner.is_some_and(|r| r.challenge.is_none()) {
            return Err(refused(format!(
                "For Non PPSO PED service migration, ensure that the source partition is activated and the default challenge is not set. Partition \"{first}\" has the default challenge."
            )));
        }
    }
    // New Service.
    ccc::check_service_name(&request.name).map_err(refused)?;
    if state.ccc.services.iter().any(|s| s.name == request.name) {
        return Err(refused(format!("CCC service \"{}\" exists", request.name)));
    }
    organisations::organisation_at(&state, &request.organisation)?;
    ccc::check_partition_size(&request.name, request.partition_size).map_err(refused)?;
    // Select Devices.
    if request.targets.is_empty() {
        return Err(refused(
            "Select Devices: a migration needs at least one target device",
        ));
    }
    let used: usize = state.ccc.services.iter().map(|s| s.partitions.len()).sum();
    if let Some(licences) = state.ccc.partition_licences
        && (used + request.targets.len()) as u64 > licences
    {
        return Err(refused(format!(
            "If sufficient partition licenses are not available, then Migrate Service button will be disabled: the new service needs {} partitions, {} of the {licences} partition licences are in use",
            request.targets.len(),
            used
        )));
    }
    let mut targets: Vec<PartitionView> = Vec::new();
    for id in &request.targets {
        if targets.iter().any(|t| t.id.device() == id.device()) {
            return Err(refused(format!(
                "service \"{}\" has two partitions on device \"{}\"; an HA service's partitions are on different devices",
                request.name,
                id.device()
            )));
        }
        let target = PartitionView::read(selection, &store, id)?;
        let device = target.device()?;
        if !state
            .devices
            .iter()
            .any(|d| &d.device == id.device() && d.authorised)
        {
            return Err(refused(format!(
                "device \"{}\" is not added to CCC and authorised: CCC must log in as its HSM SO",
                id.device()
            )));
        }
        if offline(&state, &store, id.device())? {
            return Err(refused(format!("device \"{}\" is offline", id.device())));
        }
        if let Some(model) = request.hsm_model {
            ccc::check_hsm_model(model, device).map_err(refused)?;
        }
        if target.record.initialized {
            return Err(refused(format!(
                "partition \"{id}\" is not blank: a new service takes blank partitions"
            )));
        }
        ccc::check_migration(
            ccc::MigrationEnd {
                device: source_device,
                fm: selection.lab.fm_state(first.device().as_str()),
            },
            ccc::MigrationEnd {
                device,
                fm: selection.lab.fm_state(id.device().as_str()),
            },
            !status.initialised_by_ccc,
        )
        .map_err(refused)?;
        targets.push(target);
    }
    // Define Partition and Initialize Roles: the source's domain and credentials.
    check_identical(&source, request)?;
    let devices: Vec<&luna::Device> = targets
        .iter()
        .map(PartitionView::device)
        .collect::<Result<_>>()?;
    let template = fitting_template(&state, &service.template, &devices)?;
    Ok(Plan { source, template })
}

/// The wizard's domain and challenges are the source's: the cloning domain (password
/// devices; PED devices take the source's red key), the crypto officer's challenge (PED: the
/// activated challenge secret) and, where the source has one, the security officer's.
fn check_identical(source: &PartitionView, request: &MigrationRequest) -> Result<()> {
    let differs = |what: &str| {
        refused(format!(
            "{NOT_IDENTICAL} The {what} differs from that of \"{}\".",
            source.id
        ))
    };
    if !source.model.uses_ped() {
        let domain = request
            .cloning_domain
            .as_deref()
            .ok_or_else(|| differs("cloning domain (none given)"))?;
        if source.state.domain.as_deref() != Some(luna::domain_verifier(domain.as_bytes()).as_ref())
        {
            return Err(differs("cloning domain"));
        }
        if source.record.role(CKU_SO).is_some_and(|r| r.has_pin()) {
            let so = request
                .security_officer_challenge
                .as_deref()
                .ok_or_else(|| differs("security officer challenge (none given)"))?;
            if !source.opens(CKU_SO, so) {
                return Err(differs("security officer challenge"));
            }
        }
    } else if source
        .preset
        .as_ref()
        .and_then(TokenPreset::luna)
        .is_none_or(|l| {
            l.domain_ped_key.is_none() || !l.ped_keys.iter().any(|(u, _)| *u == CKU_USER)
        })
    {
        return Err(refused(format!(
            "{NOT_IDENTICAL} The PED keys of \"{}\" are not known to the lab (simulator-defined: a PED migration presents the source's black and red PED keys as the lab names them).",
            source.id
        )));
    }
    if !source.opens(CKU_USER, &request.crypto_officer_challenge) {
        return Err(differs("crypto officer challenge"));
    }
    Ok(())
}

/// The template the new service records: the source's when it fits the targets, else the
/// first that does (service type by partition count; capabilities on every device).
fn fitting_template(state: &CccState, source: &str, devices: &[&luna::Device]) -> Result<String> {
    let fits = |t: &crate::lab::ccc::CccTemplate| {
        let count_fits = match t.service_type {
            CccServiceType::HsmPartition => devices.len() == 1,
            CccServiceType::HsmPartitionHaGroup => devices.len() >= 2,
        };
        count_fits
            && devices
                .iter()
                .all(|d| ccc::check_capabilities(&t.name, &capabilities(t), d, None).is_ok())
    };
    let templates = &state.ccc.templates;
    templates
        .iter()
        .filter(|t| t.name == source)
        .chain(templates.iter())
        .find(|t| fits(t))
        .map(|t| t.name.clone())
        .ok_or_else(|| {
            refused(format!(
                "no service template fits the new service's {} device(s): add one (Service Templates) for them",
                devices.len()
            ))
        })
}

/// Checks a request as the Summary's Migrate Service button does (`Err`: CCC's reason).
pub fn check_ccc_migration(selection: &LabSelection, request: &MigrationRequest) -> Result<()> {
    plan(selection, request).map(|_| ())
}

/// Changes migration `id` in CCC's state (and, with `progress`, records that message).
fn record(
    selection: &LabSelection,
    id: u64,
    message: Option<&str>,
    change: impl FnOnce(&mut CccMigration),
) -> Result<CccMigration> {
    update_ccc(selection, |state| {
        let migration = migration_mut(state, id)?;
        if let Some(message) = message {
            migration.progress.push(message.to_string());
        }
        change(migration);
        Ok(migration.clone())
    })
}

/// Initialises a target partition as the source's twin: the label asked, the source's
/// cloning domain and role credentials (password devices: the wizard's challenges; PED
/// devices: the source's PED keys as the lab names them, the crypto officer's challenge set
/// and activated), and the source's cloning policies (0, 4) so the copies may clone on,
/// capped by the target device's HSM policies. Refused when the partition is no longer blank.
fn initialise_target(
    selection: &LabSelection,
    store: &Store,
    source: &PartitionView,
    target: &PartitionId,
    request: &MigrationRequest,
) -> Result<()> {
    let view = PartitionView::read(selection, store, target)?;
    let source_device = source.device()?;
    let target_device = view.device()?;
    // Capped by the target's HSM policies, as Luna caps a partition policy (HSM policy 7 off:
    // no cloning policy on; the copy then fails with Luna's cloning refusal).
    let ceiling = |p: u64| {
        luna::partition_policy(p).map_or(0, |e| luna::PartitionState::capability(target_device, e))
    };
    let mut policies: Vec<(u64, u64)> = [
        luna::partition_policy::PRIVATE_KEY_CLONING,
        luna::partition_policy::SECRET_KEY_CLONING,
    ]
    .iter()
    .map(|p| (*p, source.state.policy(source_device, *p).min(ceiling(*p))))
    .collect();
    let ped = view.model.uses_ped();
    let source_luna = source.preset.as_ref().and_then(TokenPreset::luna);
    let luna_preset = if ped {
        policies.push((luna::partition_policy::ACTIVATION, 1));
        LunaPreset {
            ped_keys: source_luna.map(|l| l.ped_keys.clone()).unwrap_or_default(),
            domain_ped_key: source_luna.and_then(|l| l.domain_ped_key.clone()),
            policies,
            ..LunaPreset::default()
        }
    } else {
        LunaPreset {
            domain: request.cloning_domain.clone(),
            policies,
            ..LunaPreset::default()
        }
    };
    let preset = TokenPreset {
        label: request.partition_label.clone(),
        so_pin: (!ped)
            .then(|| request.security_officer_challenge.clone())
            .flatten(),
        user_pin: (!ped).then(|| request.crypto_officer_challenge.clone()),
        vendor: VendorPreset::Luna(luna_preset),
    };
    let mut record = fresh_record(target, &view.model, Some(&preset), &selection.state_dir)?;
    record.serial = view.record.serial.clone();
    if ped {
        // The black key opens the new token key; the challenge then seals it too.
        let black = preset
            .ped_key_files(&selection.state_dir)
            .into_iter()
            .find(|(u, _)| *u == CKU_USER)
            .map(|(_, path)| path)
            .ok_or_else(|| refused(format!("{NOT_IDENTICAL} No black PED key is known.")))?;
        let credential =
            luna::ped::PedKey::load_or_create(&black, luna::ped_colour(CKU_USER))?.credential();
        let context = SealContext {
            partition: target,
            generation: record.generation,
        };
        let key = record
            .role(CKU_USER)
            .and_then(|r| r.seal.as_ref())
            .and_then(|s| s.open(&credential, context))
            .ok_or_else(|| err(CKR_DEVICE_ERROR, "the new partition's key does not open"))?;
        let owner = record.role_mut(CKU_USER);
        owner.challenge = Some(PinSeal::new(
            request.crypto_officer_challenge.as_bytes(),
            &key,
            context,
        )?);
        owner.activated = true;
    }
    let seen = view.record.incarnation();
    store.reinitialize_token(
        target,
        |current| {
            if current.incarnation() != seen || current.initialized {
                return Err(refused(format!(
                    "partition \"{target}\" is not blank any more"
                )));
            }
            Ok(())
        },
        &record,
    )
}

/// Runs a migration to its end; `progress` sees each message as it is recorded. The request
/// is checked first (`check_ccc_migration`: refused, nothing written). Then, recorded in CCC's
/// state as it goes (the record `Running` from its first message, so a stopped server leaves
/// it so): the new service is created (`create_ccc_service`'s rules, with the template
/// `fitting_template` picks) on the targets and each target initialised with the source's
/// cloning domain and credentials (a failure: the service is detached again, its partitions
/// left to import by hand, `CREATION_ERROR`); then the source partition's objects are cloned
/// to each target in turn (Luna's cloning rules, `ha_groups::clone_missing`, each target's
/// capacity the new partition size); a target whose device went offline, that the objects do
/// not fit or that refuses cloning fails alone, its progress message saying why. Any failed:
/// the migration `Failed` with CCC's documented error and solution (`copy_error`), the failed
/// targets named (`failed_targets`) and out of the new service (`fail_copy`). Returns the
/// final record; `Err` only when CCC's state cannot be read or written.
pub fn migrate_ccc_service(
    selection: &LabSelection,
    request: MigrationRequest,
    progress: &mut dyn FnMut(&str),
) -> Result<CccMigration> {
    let plan = plan(selection, &request)?;
    let source = &plan.source;
    let targets_text = names(&request.targets);
    let first = format!(
        "Migrating service \"{}\" from its first partition {} to {targets_text}",
        request.source_service, source.id
    );
    let id = update_ccc(selection, |state| {
        if state
            .migrations
            .iter()
            .any(|m| m.state == MigrationState::Running)
        {
            return Err(refused(
                "another migration is running: other CCC functions wait until it completes",
            ));
        }
        let id = state.migrations.iter().map(|m| m.id).max().unwrap_or(0) + 1;
        state.migrations.push(CccMigration {
            id,
            source_service: request.source_service.clone(),
            source_partition: source.id.clone(),
            new_service: request.name.clone(),
            targets: request.targets.clone(),
            state: MigrationState::Running,
            progress: vec![first.clone()],
            error: None,
            stage: MigrationStage::Creating,
            failed_targets: Vec::new(),
        });
        Ok(id)
    })?;
    progress(&first);
    let mut say = |message: &str| -> Result<CccMigration> {
        let out = record(selection, id, Some(message), |_| {})?;
        progress(message);
        Ok(out)
    };
    // Create and initialise the new service.
    if let Err(e) = create_and_initialise(selection, source, &plan.template, &request) {
        let message = format!("{CREATION_ERROR} ({e})");
        say(&message)?;
        return record(selection, id, None, |m| {
            m.state = MigrationState::Failed;
            m.error = Some(message);
        });
    }
    say(&format!(
        "Created service \"{}\" on {targets_text}, initialised with the cloning domain and role credentials of \"{}\"",
        request.name, request.source_service
    ))?;
    record(selection, id, None, |m| m.stage = MigrationStage::Copying)?;
    // Copy every object, target by target.
    let mut failed = Vec::new();
    for target in &request.targets {
        say(&format!("Copying the objects of {} to {target}", source.id))?;
        match copy_to(selection, source, target, &request) {
            Ok(copied) => say(&format!("Copied {copied} objects to {target}"))?,
            Err(e) => {
                failed.push(target.clone());
                say(&format!("Copying the objects to {target} failed: {e}"))?
            }
        };
    }
    if failed.is_empty() {
        say(SUCCESS_MESSAGE)?;
        return record(selection, id, None, |m| m.state = MigrationState::Succeeded);
    }
    let message = copy_error(&failed);
    let out = fail_copy(selection, id, &[], &message, failed)?;
    progress(&message);
    Ok(out)
}

/// CCC's documented error for a copy that failed on `failed`: its sentence with the devices
/// (`sa7-c (sa7-c/svc1)`), then the guide's solution.
pub fn copy_error(failed: &[PartitionId]) -> String {
    let devices: Vec<String> = failed
        .iter()
        .map(|p| format!("{} ({p})", p.device()))
        .collect();
    format!(
        "{} {}. {}",
        ccc::COPY_ERROR,
        devices.join(", "),
        ccc::COPY_SOLUTION
    )
}

/// Migration `id` of CCC's state, to change.
fn migration_mut(state: &mut CccState, id: u64) -> Result<&mut CccMigration> {
    state
        .migrations
        .iter_mut()
        .find(|m| m.id == id)
        .ok_or_else(|| unknown(format!("CCC has no migration {id}")))
}

/// Fails migration `id`'s copy in one change of CCC's state: the progress `before` and then
/// `error` recorded, the error and `failed` kept, and the failed targets out of the new
/// service (they stay initialised on their devices, outside CCC); a service left with no
/// partition keeps its first (simulator-defined: a CCC service has at least one partition).
/// The service gone meanwhile (detached, deleted): only the record changes.
fn fail_copy(
    selection: &LabSelection,
    id: u64,
    before: &[String],
    error: &str,
    failed: Vec<PartitionId>,
) -> Result<CccMigration> {
    update_ccc(selection, |state| {
        let migration = migration_mut(state, id)?;
        migration.progress.extend(before.iter().cloned());
        migration.progress.push(error.to_string());
        migration.state = MigrationState::Failed;
        migration.error = Some(error.to_string());
        migration.failed_targets = failed.clone();
        let out = migration.clone();
        if let Some(service) = state
            .ccc
            .services
            .iter_mut()
            .find(|s| s.name == out.new_service)
        {
            let first = service.partitions.first().cloned();
            service.partitions.retain(|p| !failed.contains(p));
            if let (true, Some(first)) = (service.partitions.is_empty(), first) {
                service.partitions.push(first);
            }
        }
        Ok(out)
    })
}

/// The new service created (CCC's creation rules) and its partitions initialised, its status
/// recorded (initialised by CCC, the partition size when not the template's). When a
/// partition's initialisation fails, the service is detached again (CCC forgets it; the
/// partitions stay, to import by hand).
fn create_and_initialise(
    selection: &LabSelection,
    source: &PartitionView,
    template: &str,
    request: &MigrationRequest,
) -> Result<()> {
    create_ccc_service(
        selection,
        NewService {
            name: request.name.clone(),
            description: request.description.clone(),
            template: template.to_string(),
            organisation: request.organisation.clone(),
            partitions: request.targets.clone(),
        },
    )?;
    let store = open_store(selection)?;
    for target in &request.targets {
        if let Err(e) = initialise_target(selection, &store, source, target, request) {
            detach_ccc_service(selection, &request.name)?;
            return Err(e);
        }
    }
    let ped = source.model.uses_ped();
    update_ccc(selection, |state| {
        let template_size = state
            .ccc
            .templates
            .iter()
            .find(|t| t.name == template)
            .map(|t| t.partition_size);
        state.statuses.insert(
            request.name.clone(),
            CccServiceStatus {
                initialised: true,
                initialised_by_ccc: true,
                activated: ped,
                partition_size: (template_size != Some(request.partition_size))
                    .then_some(request.partition_size),
                ..CccServiceStatus::default()
            },
        );
        Ok(())
    })
}

/// Clones the source's objects `target` lacks to it; how many. Refused when the target's
/// device is offline (CCC's flag or the lab's health) or the objects do not fit the new
/// partition size.
fn copy_to(
    selection: &LabSelection,
    source: &PartitionView,
    target: &PartitionId,
    request: &MigrationRequest,
) -> Result<usize> {
    let state = ccc_state(selection)?;
    if offline(&state, &open_store(selection)?, target.device())? {
        return Err(refused(format!(
            "device \"{}\" is offline",
            target.device()
        )));
    }
    let (copied, failures) = super::super::ha_groups::clone_missing(
        selection,
        &[source.id.clone(), target.clone()],
        &request.crypto_officer_challenge,
        &[None, Some(request.partition_size)],
        &[false, true],
    )?;
    match failures.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(copied[1]),
    }
}

/// The `CKA_OUID`s of a partition's objects.
fn ouids(store: &Store, partition: &PartitionId) -> Result<std::collections::BTreeSet<Vec<u8>>> {
    Ok(store
        .objects(partition)?
        .iter()
        .filter_map(|o| o.public.bytes(luna::CKA_OUID).map(<[u8]>::to_vec))
        .collect())
}

/// The targets of `migration` that lack some of its source partition's objects.
fn targets_lacking(store: &Store, migration: &CccMigration) -> Result<Vec<PartitionId>> {
    let wanted = ouids(store, &migration.source_partition)?;
    let mut out = Vec::new();
    for target in &migration.targets {
        let present = store.token(target)?.is_some_and(|r| r.present);
        if !present || !wanted.is_subset(&ouids(store, target)?) {
            out.push(target.clone());
        }
    }
    Ok(out)
}

/// Finds migrations left running by a stopped process and resumes or fails each: one stopped
/// while creating the new service fails with CCC's creation error (the service, if it was
/// created, is detached: its partitions are imported by hand); one stopped while copying
/// succeeds when every target holds the source's objects (nothing left to do), else fails as
/// a run's copy does (CCC's documented error and solution naming the targets that lack
/// objects, those out of the new service: `fail_copy`; CCC keeps no credential to copy them).
/// Returns the migrations it changed.
/// Meant for a server's start: a migration another live process runs would be failed too.
pub fn recover_ccc_migrations(selection: &LabSelection) -> Result<Vec<CccMigration>> {
    let store = open_store(selection)?;
    let mut changed = Vec::new();
    for migration in ccc_migrations(selection)? {
        if migration.state != MigrationState::Running {
            continue;
        }
        let restarted = "The CCC server restarted during the migration";
        let after = match migration.stage {
            MigrationStage::Creating => {
                if ccc_state(selection)?
                    .ccc
                    .services
                    .iter()
                    .any(|s| s.name == migration.new_service)
                {
                    detach_ccc_service(selection, &migration.new_service)?;
                }
                let message =
                    format!("{CREATION_ERROR} ({restarted}, while creating the service.)");
                record(selection, migration.id, Some(&message), |m| {
                    m.state = MigrationState::Failed;
                    m.error = Some(message.clone());
                })?
            }
            MigrationStage::Copying => {
                let lacking = targets_lacking(&store, &migration)?;
                if lacking.is_empty() {
                    let message =
                        format!("{restarted}; every object had been copied. {SUCCESS_MESSAGE}");
                    record(selection, migration.id, Some(&message), |m| {
                        m.state = MigrationState::Succeeded;
                    })?
                } else {
                    let before = format!(
                        "{restarted}, before the objects were copied to {}.",
                        names(&lacking)
                    );
                    fail_copy(
                        selection,
                        migration.id,
                        &[before],
                        &copy_error(&lacking),
                        lacking,
                    )?
                }
            }
        };
        changed.push(after);
    }
    Ok(changed)
}

/// The partitions a service's synchronisation covers: its own, then (for a service a
/// migration created) the migration's source, which only sends.
fn sync_partitions(state: &CccState, service: &str) -> Result<(Vec<PartitionId>, usize)> {
    let own = state.service(service)?.partitions.clone();
    let count = own.len();
    let mut partitions = own;
    if let Some(migration) = state
        .migrations
        .iter()
        .rev()
        .find(|m| m.new_service == service)
        && !partitions.contains(&migration.source_partition)
    {
        partitions.push(migration.source_partition.clone());
    }
    Ok((partitions, count))
}

/// Which of a service's partitions lack objects another one (or its migration's source) has.
pub(super) fn lacking(selection: &LabSelection, service: &str) -> Result<Vec<PartitionId>> {
    let state = ccc_state(selection)?;
    let store = open_store(selection)?;
    let (partitions, own) = sync_partitions(&state, service)?;
    let mut all = std::collections::BTreeSet::new();
    let mut held = Vec::new();
    for p in &partitions {
        let ids = ouids(&store, p)?;
        all.extend(ids.iter().cloned());
        held.push(ids);
    }
    Ok(partitions
        .into_iter()
        .zip(held)
        .take(own)
        .filter(|(_, ids)| !all.is_subset(ids))
        .map(|(p, _)| p)
        .collect())
}

/// Whether a service's partitions are in sync, read without a credential (CCC keeps none,
/// simulator-defined, see the module comment): `Ok` when every partition already holds every
/// object; otherwise refused naming the partitions that lack objects
/// (`synchronise_ccc_service` synchronises them).
pub fn check_ccc_service_in_sync(selection: &LabSelection, service: &str) -> Result<()> {
    let lacking = lacking(selection, service)?;
    if lacking.is_empty() {
        return Ok(());
    }
    Err(refused(format!(
        "service \"{service}\" needs sync: {} lack objects; CCC keeps no partition credential: synchronise it with its crypto officer's credential",
        names(&lacking)
    )))
}

/// Synchronises a service's partitions as LunaCM's `hagroup synchronize` does (every
/// partition receives the objects it lacks, by `CKA_OUID`, under Luna's cloning rules), opened
/// with the shared crypto officer credential (PED: the activated challenge); for a service a
/// migration created, the migration's source partition sends the objects too (it receives
/// none). Every partition's device must be online. Returns the objects each of the service's
/// partitions received; a failure is the first pair's error, the copies that cloned kept.
pub fn synchronise_ccc_service(
    selection: &LabSelection,
    service: &str,
    crypto_officer_challenge: &str,
) -> Result<Vec<(PartitionId, usize)>> {
    let state = ccc_state(selection)?;
    let store = open_store(selection)?;
    let (partitions, own) = sync_partitions(&state, service)?;
    for p in &partitions {
        if offline(&state, &store, p.device())? {
            return Err(refused(format!(
                "device \"{}\" of \"{p}\" is offline: synchronise service \"{service}\" once it is back",
                p.device()
            )));
        }
    }
    let size = state.statuses.get(service).and_then(|s| s.partition_size);
    let capacities: Vec<Option<u64>> = (0..partitions.len())
        .map(|i| if i < own { size } else { None })
        .collect();
    let receives: Vec<bool> = (0..partitions.len()).map(|i| i < own).collect();
    let (copied, failures) = super::super::ha_groups::clone_missing(
        selection,
        &partitions,
        crypto_officer_challenge,
        &capacities,
        &receives,
    )?;
    if let Some(e) = failures.into_iter().next() {
        return Err(e);
    }
    Ok(partitions.into_iter().zip(copied).take(own).collect())
}
