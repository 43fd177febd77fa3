//! SKELETON (to be replaced by its owner): Migrate Service (seed 004): the supported-device
//! matrix, the wizard's answers, the run with its progress, its failure handling, and
//! migrations interrupted by a restart.
use super::*;

/// The Migrate Service wizard's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationRequest {
    /// Select Service.
    pub source_service: String,
    /// New Service: name, description, organisation, partition size.
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
}

fn not_built<T>() -> Result<T> {
    Err(refused("not built yet (skeleton)"))
}

/// The migrations, oldest first.
pub fn ccc_migrations(selection: &LabSelection) -> Result<Vec<CccMigration>> {
    Ok(ccc_state(selection)?.migrations)
}

/// The services Select Service lists (cloning capability and initialised).
pub fn ccc_migratable_services(_selection: &LabSelection) -> Result<Vec<String>> {
    not_built()
}

/// Checks a request as the Summary's Migrate Service button does (`Err`: CCC's reason).
pub fn check_ccc_migration(_selection: &LabSelection, _request: &MigrationRequest) -> Result<()> {
    not_built()
}

/// Runs a migration to its end; `progress` sees each message as it is recorded.
pub fn migrate_ccc_service(
    _selection: &LabSelection,
    _request: MigrationRequest,
    _progress: &mut dyn FnMut(&str),
) -> Result<CccMigration> {
    not_built()
}

/// Finds migrations left running by a stopped process and resumes or fails each.
pub fn recover_ccc_migrations(_selection: &LabSelection) -> Result<Vec<CccMigration>> {
    not_built()
}

/// Synchronises a service's partitions (repairs a copy that failed on some devices).
pub fn synchronise_ccc_service(_selection: &LabSelection, _service: &str) -> Result<()> {
    not_built()
}
