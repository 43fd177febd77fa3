//! `hsmsim lab partition remove|add`: a partition disappears or comes back blank.
use super::*;

/// `hsmsim lab partition remove|add`: a partition disappears (slots showing it have no token)
/// or comes back blank.
pub fn set_partition_present(
    selection: &LabSelection,
    partition: &PartitionId,
    present: bool,
) -> Result<()> {
    if !selection
        .lab
        .partitions()
        .iter()
        .any(|(p, _, _)| p == partition)
    {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!(
                "the lab defines no partition \"{partition}\"; partitions: {}",
                selection
                    .lab
                    .partitions()
                    .into_iter()
                    .map(|(p, _, _)| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    open_store(selection)?.set_partition_present(partition, present)
}
