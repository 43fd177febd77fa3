//! What Luna's C API extensions (`CA_*`, and the LunaCM commands built on them) answer about
//! one partition, from its token record and its device: firmware, container number and status,
//! role states, session information, partition (container) policies and capabilities, HSM
//! policies, configuration-element descriptions, the `slot list` block, the partition version,
//! cloning-domain checks and the self-test's known answers. The engine hands over a
//! `PartitionView` of a slot; the answers are the Luna model's.
use crate::base::error::{Result, err};
use crate::models::luna::{self, Device, Element};
use crate::models::{PartitionState, TokenModel};
use crate::store::records::TokenRecord;
use cryptoki_sys::*;

/// A slot's partition as the engine shows it to the Luna model.
#[derive(Debug)]
pub struct PartitionView<'a> {
    pub slot_id: CK_SLOT_ID,
    pub model: &'a TokenModel,
    pub record: &'a TokenRecord,
    /// The slot shows the device's admin partition (its SO is the HSM SO).
    pub admin: bool,
    /// The slot description a client shows.
    pub description: &'a str,
    /// `CKR_TOKEN_NOT_PRESENT` when the slot's partition was removed.
    pub present: Result<()>,
}

impl PartitionView<'_> {
    /// The partition's Luna device; `CKR_FUNCTION_NOT_SUPPORTED` for other tokens.
    pub fn device(&self) -> Result<&Device> {
        self.model.luna().ok_or_else(|| {
            err(
                CKR_FUNCTION_NOT_SUPPORTED,
                format!("slot {} does not show a Luna partition", self.slot_id),
            )
        })
    }

    /// The partition's Luna state (the defaults when the record has none).
    pub fn state(&self) -> luna::PartitionState {
        state_of(self.record)
    }
}

/// A token record's Luna state (the defaults when it has none).
pub fn state_of(record: &TokenRecord) -> luna::PartitionState {
    match PartitionState::of(record).as_deref() {
        Some(PartitionState::Luna(s)) => s.clone(),
        _ => luna::PartitionState::default(),
    }
}

/// `CA_ROLE_STATE.flags` bits (pycryptoki `CAF_ROLE_STATE_*`).
pub const CAF_ROLE_STATE_INITIALIZED: u8 = 0x01;
pub const CAF_ROLE_STATE_LOCKED_OUT: u8 = 0x02;
pub const CAF_ROLE_STATE_ACTIVATED: u8 = 0x04;
pub const CAF_ROLE_STATE_PIN_CHANGE: u8 = 0x10;
/// `CA_ROLE_STATE` auth mechanisms (`CKA_ROLE_AUTH_*`).
pub const ROLE_AUTH_PASSWORD: u8 = 1;
pub const ROLE_AUTH_PED: u8 = 2;

/// Container status flags (pycryptoki `LUNA_CF_*`).
pub const LUNA_CF_CONTAINER_ENABLED: CK_ULONG = 0x0100_0000;
pub const LUNA_CF_PARTITION_INITIALIZED: CK_ULONG = 0x400;
pub const LUNA_CF_USER_PIN_INITIALIZED: CK_ULONG = 0x8000;
pub const LUNA_CF_SO_PIN_LOCKED: CK_ULONG = 0x1_0000;
pub const LUNA_CF_SO_PIN_TO_BE_CHANGED: CK_ULONG = 0x2_0000;
pub const LUNA_CF_USER_PIN_LOCKED: CK_ULONG = 0x4_0000;
pub const LUNA_CF_LIMITED_USER_PIN_LOCKED: CK_ULONG = 0x8_0000;
pub const LUNA_CF_LIMITED_USER_CREATED: CK_ULONG = 0x20_0000;
pub const LUNA_CF_USER_PIN_TO_BE_CHANGED: CK_ULONG = 0x40_0000;
pub const LUNA_CF_LIMITED_USER_PIN_TO_BE_CHANGED: CK_ULONG = 0x80_0000;

/// Object element type of `CA_GetObjectUID` / `CA_GetObjectHandle` (`CK_CRYPTOKI_ELEMENT`).
pub const CK_CRYPTOKI_ELEMENT: CK_ULONG = 0;

/// `CA_RoleStateGet`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleState {
    pub flags: u8,
    pub login_attempts_left: u8,
    pub primary_auth: u8,
    pub secondary_auth: u8,
}

/// `CA_GetContainerStatus`'s answer; a count of `CK_UNAVAILABLE_INFORMATION` means the role
/// does not exist on the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerStatus {
    pub flags: CK_ULONG,
    pub failed_so: CK_ULONG,
    pub failed_user: CK_ULONG,
    pub failed_limited_user: CK_ULONG,
}

/// One slot as LunaCM's `slot list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LunaSlotListing {
    pub slot_id: CK_SLOT_ID,
    pub label: String,
    pub serial: String,
    pub model: String,
    pub firmware: String,
    pub configuration: String,
    pub description: String,
}

impl LunaSlotListing {
    /// The block LunaCM prints for the slot (layout simulator-defined after LunaCM 7.x
    /// captures: "Slot Id ->", "Label ->", ... with the configuration text).
    pub fn lunacm_text(&self) -> String {
        let rows = [
            ("Slot Id", self.slot_id.to_string()),
            ("Label", self.label.clone()),
            ("Serial Number", self.serial.clone()),
            ("Model", self.model.clone()),
            ("Firmware Version", self.firmware.clone()),
            ("Configuration", self.configuration.clone()),
            ("Slot Description", self.description.clone()),
        ];
        rows.iter()
            .map(|(name, value)| format!("\t{:<24}{value}\n", format!("{name} ->")))
            .collect()
    }
}

/// A configuration element's description (`CA_GetConfigurationElementDescription`).
#[derive(Debug, Clone)]
pub struct ElementDescription {
    pub bit_length: CK_ULONG,
    pub destructive: bool,
    pub write_restricted: bool,
    pub description: String,
}

/// `CA_GetFirmwareVersion`: (major, minor, subminor).
pub fn firmware(p: &PartitionView<'_>) -> Result<(u8, u8, u8)> {
    let d = p.device()?;
    Ok((d.firmware.major, d.firmware.minor, d.firmware.subminor))
}

/// The partition's container number: its slot id (simulator-defined; on PPSO firmware slots
/// and containers map one to one).
pub fn container_number(p: &PartitionView<'_>) -> Result<CK_ULONG> {
    p.device()?;
    Ok(p.slot_id)
}

/// `CKR_CONTAINER_HANDLE_INVALID` unless `container` is the partition's.
pub fn check_container(p: &PartitionView<'_>, container: CK_ULONG) -> Result<()> {
    if container_number(p)? == container {
        Ok(())
    } else {
        Err(err(
            luna::CKR_CONTAINER_HANDLE_INVALID,
            format!(
                "slot {}'s partition is container {}, not {container}",
                p.slot_id, p.slot_id
            ),
        ))
    }
}

/// `CA_RoleStateGet`.
pub fn role_state(p: &PartitionView<'_>, user: CK_USER_TYPE) -> Result<RoleState> {
    let device = p.device()?;
    device.check_role(user)?;
    let record = p.record;
    let now = crate::base::clock::now();
    let limit = p.model.failed_login_rule(record, user, p.admin).threshold;
    let role = record.role(user).cloned().unwrap_or_default();
    let mut flags = 0;
    if role.has_pin() {
        flags |= CAF_ROLE_STATE_INITIALIZED;
    }
    if p.model.is_locked(record, user, p.admin, now) {
        flags |= CAF_ROLE_STATE_LOCKED_OUT;
    }
    if role.must_change {
        flags |= CAF_ROLE_STATE_PIN_CHANGE;
    }
    if role.activated {
        flags |= CAF_ROLE_STATE_ACTIVATED;
    }
    Ok(RoleState {
        flags,
        login_attempts_left: limit.saturating_sub(role.counted_failures(now)).min(255) as u8,
        primary_auth: match device.auth {
            luna::Auth::Password => ROLE_AUTH_PASSWORD,
            luna::Auth::Ped => ROLE_AUTH_PED,
        },
        secondary_auth: 0,
    })
}

/// `CA_GetContainerStatus`.
pub fn container_status(p: &PartitionView<'_>, container: CK_ULONG) -> Result<ContainerStatus> {
    check_container(p, container)?;
    let device = p.device()?;
    let record = p.record;
    let now = crate::base::clock::now();
    let locked = |u| p.model.is_locked(record, u, p.admin, now);
    let role = |u| record.role(u).cloned().unwrap_or_default();
    let mut flags = LUNA_CF_CONTAINER_ENABLED;
    if record.initialized {
        flags |= LUNA_CF_PARTITION_INITIALIZED;
    }
    let cu_type = luna::CKU_CRYPTO_USER;
    let (so, user, cu) = (role(CKU_SO), role(CKU_USER), role(cu_type));
    for (set, flag) in [
        (user.has_pin(), LUNA_CF_USER_PIN_INITIALIZED),
        (locked(CKU_SO), LUNA_CF_SO_PIN_LOCKED),
        (so.must_change, LUNA_CF_SO_PIN_TO_BE_CHANGED),
        (locked(CKU_USER), LUNA_CF_USER_PIN_LOCKED),
        (user.must_change, LUNA_CF_USER_PIN_TO_BE_CHANGED),
        (cu.has_pin(), LUNA_CF_LIMITED_USER_CREATED),
        (locked(cu_type), LUNA_CF_LIMITED_USER_PIN_LOCKED),
        (cu.must_change, LUNA_CF_LIMITED_USER_PIN_TO_BE_CHANGED),
    ] {
        if set {
            flags |= flag;
        }
    }
    let has_cu = device.extra_roles().contains(&cu_type);
    Ok(ContainerStatus {
        flags,
        failed_so: so.failures as CK_ULONG,
        failed_user: user.failures as CK_ULONG,
        failed_limited_user: if has_cu {
            cu.failures as CK_ULONG
        } else {
            CK_UNAVAILABLE_INFORMATION
        },
    })
}

/// `CA_GetTokenPolicies`: the partition's policies its firmware has, by id.
pub fn token_policies(p: &PartitionView<'_>) -> Result<Vec<(u64, u64)>> {
    let device = p.device()?;
    let state = p.state();
    Ok(luna::PARTITION_POLICIES
        .iter()
        .filter(|e| device.firmware.era() >= e.since)
        .map(|e| (e.id, state.policy(device, e.id)))
        .collect())
}

/// `CA_GetTokenCapabilities`: the largest value each partition policy may take.
pub fn token_capabilities(p: &PartitionView<'_>) -> Result<Vec<(u64, u64)>> {
    let device = p.device()?;
    Ok(luna::PARTITION_POLICIES
        .iter()
        .filter(|e| device.firmware.era() >= e.since)
        .map(|e| (e.id, luna::PartitionState::capability(device, e)))
        .collect())
}

/// The slot as LunaCM's `slot list` shows it: label, serial, model, firmware, the
/// configuration text ("Luna User Partition With SO (PW) Signing With Cloning Mode"; Key
/// Export when partition policy 1 allows private-key wrapping; the admin partition is "Luna
/// HSM Admin Partition", simulator-defined) and the slot description.
pub fn slot_listing(p: &PartitionView<'_>) -> Result<LunaSlotListing> {
    let device = p.device()?;
    p.present.clone()?;
    let state = p.state();
    let configuration = if p.admin {
        format!("Luna HSM Admin Partition ({})", device.auth.short())
    } else {
        device.configuration_text(
            state.policy(device, luna::partition_policy::PRIVATE_KEY_WRAPPING) != 0,
        )
    };
    Ok(LunaSlotListing {
        slot_id: p.slot_id,
        label: p.record.label.clone(),
        serial: p.record.serial.clone(),
        model: device.model(),
        firmware: device.firmware.to_string(),
        configuration,
        description: p.description.to_string(),
    })
}

/// The partition's version (V0/V1 from 7.7) and, for V1, its SMK's identity.
pub fn partition_version(
    p: &PartitionView<'_>,
) -> Result<(luna::PartitionVersion, Option<String>)> {
    let device = p.device()?;
    let state = p.state();
    Ok((state.version(device), state.smk))
}

/// How many cloning domains the partition has (the first is primary).
pub fn domain_count(p: &PartitionView<'_>) -> Result<usize> {
    p.device()?;
    Ok(p.state().domains().count())
}

/// Whether two partitions may clone to each other as far as their cloning domains go
/// (`luna::check_shared_domain`): `CKR_CERTIFICATE_INVALID` when not.
pub fn check_shared_domain(a: &PartitionView<'_>, b: &PartitionView<'_>) -> Result<()> {
    let (device_a, device_b) = (a.device()?, b.device()?);
    luna::check_shared_domain(
        (&a.state(), device_a.firmware),
        (&b.state(), device_b.firmware),
    )
}

/// `CA_GetHSMPolicySetting` / `CA_GetHSMCapabilitySetting` (one value per id here:
/// simulator-defined). `CKR_POLICY_ID_INVALID` for ids the model lacks.
pub fn hsm_policy(p: &PartitionView<'_>, id: u64) -> Result<u64> {
    let device = p.device()?;
    luna::hsm_policy_for(device.firmware, id)?;
    Ok(device.hsm_policy(id))
}

/// `CA_GetHSMPolicySet` / `CA_GetHSMCapabilitySet`: the HSM policies the device's firmware
/// has, by id, with their values (capabilities answer the same values: simulator-defined, as
/// `hsm_policy`).
pub fn hsm_policies(p: &PartitionView<'_>) -> Result<Vec<(u64, u64)>> {
    let device = p.device()?;
    Ok(luna::HSM_POLICIES
        .iter()
        .filter(|e| device.firmware.era() >= e.since)
        .map(|e| (e.id, device.hsm_policy(e.id)))
        .collect())
}

/// `CA_GetContainerPolicySet` / `CA_GetContainerCapabilitySet`: the partition's policies (or
/// capabilities) when `container` is its container.
pub fn container_elements(
    p: &PartitionView<'_>,
    container: CK_ULONG,
    capabilities: bool,
) -> Result<Vec<(u64, u64)>> {
    check_container(p, container)?;
    if capabilities {
        token_capabilities(p)
    } else {
        token_policies(p)
    }
}

/// `CA_GetContainerPolicySetting` / `CA_GetContainerCapabilitySetting`: one element's value;
/// `CKR_POLICY_ID_INVALID` for ids the partition's firmware does not have.
pub fn container_element(
    p: &PartitionView<'_>,
    container: CK_ULONG,
    capability: bool,
    id: u64,
) -> Result<u64> {
    container_elements(p, container, capability)?
        .into_iter()
        .find(|(element, _)| *element == id)
        .map(|(_, value)| value)
        .ok_or_else(|| {
            err(
                luna::CKR_POLICY_ID_INVALID,
                format!("there is no partition element {id}"),
            )
        })
}

/// `CA_GetSessionInfo`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInfo {
    /// The application id (high, low): 0, 0 (hsmsim does not model application ids).
    pub application_id: (CK_ULONG, CK_ULONG),
    pub container: CK_ULONG,
    /// The role logged in on the session's partition (its `CK_USER_TYPE`), or
    /// `CK_UNAVAILABLE_INFORMATION` when nobody is (simulator-defined).
    pub authentication_level: CK_ULONG,
}

/// `CA_GetSessionInfo` for a session on the partition, with the role logged in.
pub fn session_info(p: &PartitionView<'_>, logged_in: Option<CK_USER_TYPE>) -> Result<SessionInfo> {
    Ok(SessionInfo {
        application_id: (0, 0),
        container: container_number(p)?,
        authentication_level: logged_in.unwrap_or(CK_UNAVAILABLE_INFORMATION),
    })
}

/// `CA_GetContainerStorageInformation`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerStorage {
    /// Bytes the partition keeps for itself: 0 (simulator-defined).
    pub overhead: CK_ULONG,
    /// The partition's size: the lab's `size`, or `CK_UNAVAILABLE_INFORMATION` without one.
    pub total: CK_ULONG,
    pub used: CK_ULONG,
    /// `total - used`, or `CK_UNAVAILABLE_INFORMATION` without a size.
    pub free: CK_ULONG,
    pub objects: CK_ULONG,
}

/// `CA_GetContainerStorageInformation`: the partition's size (`capacity`, bytes), the bytes its
/// token objects take and how many there are.
pub fn container_storage(
    p: &PartitionView<'_>,
    container: CK_ULONG,
    capacity: Option<u64>,
    used: u64,
    objects: u64,
) -> Result<ContainerStorage> {
    check_container(p, container)?;
    Ok(ContainerStorage {
        overhead: 0,
        total: capacity.unwrap_or(CK_UNAVAILABLE_INFORMATION),
        used,
        free: capacity.map_or(CK_UNAVAILABLE_INFORMATION, |c| c.saturating_sub(used)),
        objects,
    })
}

/// `CA_PerformSelfTest`: the known-answer test of the digest mechanism `mechanism` (FIPS 180-4
/// example "abc"), then the digest of `input` as the test's output (simulator-defined: the
/// SDK does not document its test types; hsmsim takes a digest mechanism).
/// `CKR_MECHANISM_INVALID` for other mechanisms, `CKR_FIPS_SELF_TEST_FAILED` when the known
/// answer is wrong.
pub fn self_test(p: &PartitionView<'_>, mechanism: CK_ULONG, input: &[u8]) -> Result<Vec<u8>> {
    p.device()?;
    let expected = crate::crypto::digest::FIPS180_ABC
        .iter()
        .find(|(m, _)| *m == mechanism)
        .map(|(_, hex)| *hex)
        .ok_or_else(|| {
            err(
                CKR_MECHANISM_INVALID,
                format!("no self-test for mechanism 0x{mechanism:X} (digests only)"),
            )
        })?;
    let digest = |data: &[u8]| -> Result<Vec<u8>> {
        let mut d = crate::crypto::digest::digester(mechanism)?;
        d.update(data);
        Ok(d.finish())
    };
    let answer: String = digest(b"abc")?.iter().map(|b| format!("{b:02x}")).collect();
    if answer != expected {
        return Err(err(
            CKR_FIPS_SELF_TEST_FAILED,
            format!("the known-answer test of mechanism 0x{mechanism:X} failed"),
        ));
    }
    digest(input)
}

/// `CA_GetConfigurationElementDescription`.
pub fn element_description(
    p: &PartitionView<'_>,
    container: bool,
    capability: bool,
    id: u64,
) -> Result<ElementDescription> {
    let device = p.device()?;
    let element: &Element = if container {
        luna::partition_policy(id)
    } else {
        luna::hsm_policy_for(device.firmware, id).ok()
    }
    .filter(|e| device.firmware.era() >= e.since)
    .ok_or_else(|| {
        err(
            luna::CKR_POLICY_ID_INVALID,
            format!(
                "there is no {} element {id}",
                if container { "partition" } else { "HSM" }
            ),
        )
    })?;
    let (off_to_on, on_to_off) = if container {
        p.state().destructiveness(element)
    } else {
        (element.off_to_on_destructive, element.on_to_off_destructive)
    };
    let description = if capability {
        element.description.replacen("Allow", "Enable", 1)
    } else {
        element.description.to_string()
    };
    Ok(ElementDescription {
        bit_length: (u64::BITS - element.max.leading_zeros()) as CK_ULONG,
        destructive: off_to_on || on_to_off,
        write_restricted: false,
        description,
    })
}

/// A change to a partition's cloning domains (firmware 7.8+ Extended Domain Management).
#[derive(Debug, Clone, Copy)]
pub enum DomainChange<'a> {
    Add(&'a [u8]),
    MakePrimary(&'a [u8]),
    Remove(&'a [u8]),
}

impl<'a> DomainChange<'a> {
    /// The domain secret the change names (empty: a PED partition's presented red key).
    pub fn domain(&self) -> &'a [u8] {
        match *self {
            DomainChange::Add(d) | DomainChange::MakePrimary(d) | DomainChange::Remove(d) => d,
        }
    }
}

/// Only the partition SO (pre-PPSO: the SO, the HSM SO who owns the partition) does `what`
/// on a Luna partition: `CKR_USER_NOT_AUTHORIZED` for anyone else,
/// `CKR_FUNCTION_NOT_SUPPORTED` on other tokens.
pub fn authorise_partition_so(
    model: &TokenModel,
    logged_in: Option<CK_USER_TYPE>,
    what: &str,
) -> Result<()> {
    luna_device(model)?;
    if logged_in != Some(CKU_SO) {
        return Err(err(
            luna::CKR_USER_NOT_AUTHORIZED,
            format!("only the partition SO {what}"),
        ));
    }
    Ok(())
}

/// Only the HSM SO (the SO of the device's admin partition, or of a pre-PPSO partition,
/// which the HSM SO owns) changes HSM policies. Returns the device.
pub fn authorise_hsm_so(
    model: &TokenModel,
    logged_in: Option<CK_USER_TYPE>,
    admin: bool,
) -> Result<&Device> {
    let device = luna_device(model)?;
    if logged_in != Some(CKU_SO) || !device.is_hsm_so(CKU_SO, admin) {
        return Err(err(
            luna::CKR_USER_NOT_AUTHORIZED,
            "only the HSM SO (logged in on the admin partition) changes HSM policies",
        ));
    }
    Ok(device)
}

/// The slot's Luna device: `CKR_FUNCTION_NOT_SUPPORTED` on other tokens.
pub fn luna_device(model: &TokenModel) -> Result<&Device> {
    model.luna().ok_or_else(|| {
        err(
            CKR_FUNCTION_NOT_SUPPORTED,
            "the slot does not show a Luna partition",
        )
    })
}

/// `CA_SetTokenPolicies` on a partition's record: all or none. A destructive change is
/// refused with `CKR_CONFIG_CHANGE_ILLEGAL` unless `confirm_destructive` (the C API confirms
/// by calling; LunaCM asks for "proceed"); returns whether the partition's objects are erased.
pub fn set_token_policies(
    model: &TokenModel,
    record: &mut TokenRecord,
    changes: &[(u64, u64)],
    confirm_destructive: bool,
) -> Result<bool> {
    let device = luna_device(model)?;
    let mut state = state_of(record);
    let erase = state.apply(device, changes, confirm_destructive)?;
    state.settle_version(device, luna::new_smk_id)?;
    record.vendor = Some(PartitionState::Luna(state).stored());
    Ok(erase)
}

/// A cloning-domain change on a partition's record, with the domain secret `domain`.
pub fn change_domain(
    model: &TokenModel,
    record: &mut TokenRecord,
    change: DomainChange<'_>,
    domain: &[u8],
) -> Result<()> {
    let device = luna_device(model)?;
    if domain.is_empty() {
        return Err(err(CKR_ARGUMENTS_BAD, "the cloning domain is empty"));
    }
    let verifier = luna::domain_verifier(domain);
    let mut state = state_of(record);
    match change {
        DomainChange::Add(_) => state.add_domain(device, verifier)?,
        DomainChange::MakePrimary(_) => state.set_primary_domain(&verifier)?,
        DomainChange::Remove(_) => state.remove_domain(&verifier)?,
    }
    record.vendor = Some(PartitionState::Luna(state).stored());
    Ok(())
}
