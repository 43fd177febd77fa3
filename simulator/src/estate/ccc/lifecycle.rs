//! SKELETON (to be replaced by its owner): a service's life after creation (seed 004,
//! Initializing a Service, Activating, Adding a Partition to a Service, Initializing an added
//! partition, Removing a Partition from HA Group, Modifying partition size), the devices'
//! reachability, a service's keys and its deployed clients.
use super::*;

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

fn not_built<T>() -> Result<T> {
    Err(refused("not built yet (skeleton)"))
}

/// The status of service `service`.
pub fn ccc_service_status(selection: &LabSelection, service: &str) -> Result<CccServiceStatus> {
    let state = ccc_state(selection)?;
    state.service(service)?;
    Ok(state.statuses.get(service).cloned().unwrap_or_default())
}

/// Initialises a created service's partitions (roles, cloning domain).
pub fn initialise_ccc_service(
    _selection: &LabSelection,
    _service: &str,
    _init: ServiceInitialisation,
) -> Result<CccServiceStatus> {
    not_built()
}

/// Activates a PPSO service's crypto officer; non-PPSO services: refused, "use LunaCM".
pub fn activate_ccc_service(
    _selection: &LabSelection,
    _service: &str,
    _crypto_officer_password: &str,
) -> Result<CccServiceStatus> {
    not_built()
}

/// Adds a blank partition on a device not yet in the service (a standalone service becomes HA).
pub fn add_ccc_service_partition(
    _selection: &LabSelection,
    _service: &str,
    _partition: &PartitionId,
) -> Result<CccService> {
    not_built()
}

/// Initialises the service's added partitions with the same cloning domain and credentials.
pub fn initialise_ccc_added_partitions(
    _selection: &LabSelection,
    _service: &str,
    _cloning_domain: &str,
    _crypto_officer_password: &str,
    _crypto_user_password: Option<&str>,
) -> Result<CccServiceStatus> {
    not_built()
}

/// Removes a partition from an HA service (irreversible; not the last; not standalone).
pub fn remove_ccc_service_partition(
    _selection: &LabSelection,
    _service: &str,
    _partition: &PartitionId,
) -> Result<CccService> {
    not_built()
}

/// Changes the service's partition size; `size` as typed (whole number 1000..99999999).
pub fn resize_ccc_service(
    _selection: &LabSelection,
    _service: &str,
    _size: &str,
) -> Result<CccServiceStatus> {
    not_built()
}

/// Marks an added device unreachable (true) or reachable (simulator-defined).
pub fn set_ccc_device_offline(
    _selection: &LabSelection,
    _device: &DeviceId,
    _offline: bool,
) -> Result<()> {
    not_built()
}

/// The keys of service `service` (its first partition's objects).
pub fn ccc_service_keys(_selection: &LabSelection, _service: &str) -> Result<Vec<CccKey>> {
    not_built()
}

/// Deploys service `service` to client host `host` (registers it).
pub fn register_ccc_client(
    _selection: &LabSelection,
    _service: &str,
    _host: &str,
) -> Result<CccServiceStatus> {
    not_built()
}
