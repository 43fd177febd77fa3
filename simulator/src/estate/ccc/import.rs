//! SKELETON (to be replaced by its owner): Discovering and Importing Unmanaged Partitions
//! (seed 004): the import table, saved between sessions, edited, and finished into services.
use super::*;

/// The saved partition import table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CccImportTable {
    /// When it was first created and last edited (RFC 3339, UTC).
    pub created: String,
    pub edited: String,
    pub rows: Vec<CccImportRow>,
}

/// One discovered partition of the import table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CccImportRow {
    pub partition: PartitionId,
    /// The HA group field (empty: a standalone service).
    pub ha_group: String,
    pub service_name: String,
    pub description: String,
    pub organisation: String,
}

/// A change to one row of the import table; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportRowEdit {
    pub ha_group: Option<String>,
    pub service_name: Option<String>,
    pub description: Option<String>,
    pub organisation: Option<String>,
}

fn not_built<T>() -> Result<T> {
    Err(refused("not built yet (skeleton)"))
}

/// The saved import table, if any.
pub fn ccc_import_table(selection: &LabSelection) -> Result<Option<CccImportTable>> {
    Ok(ccc_state(selection)?.import_table)
}

/// Get Started: discovers the unmanaged partitions of the authorised devices and saves them
/// as the import table.
pub fn discover_ccc_partitions(_selection: &LabSelection) -> Result<CccImportTable> {
    not_built()
}

/// Edits the row of `partition`.
pub fn edit_ccc_import_row(
    _selection: &LabSelection,
    _partition: &PartitionId,
    _edit: ImportRowEdit,
) -> Result<CccImportTable> {
    not_built()
}

/// Deletes the row of `partition` from the current import.
pub fn delete_ccc_import_row(
    _selection: &LabSelection,
    _partition: &PartitionId,
) -> Result<CccImportTable> {
    not_built()
}

/// Finish Imports: a service for each standalone row and each HA group; the table is emptied.
pub fn finish_ccc_import(_selection: &LabSelection) -> Result<Vec<CccService>> {
    not_built()
}

/// Canceling Partition Import: the saved table is discarded.
pub fn cancel_ccc_import(_selection: &LabSelection) -> Result<()> {
    not_built()
}
