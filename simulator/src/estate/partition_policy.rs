//! LunaSH `partition showpolicies -partition L` and `partition changepolicy -partition L
//! -policy N -value V` on a Luna Network HSM: a partition's policies as the model answers them
//! (only those whose capability is not 0, Luna §2.1 rule 5), and the HSM SO changing them under
//! the model's rules (`CA_SetTokenPolicies`), a destructive change erasing the partition's
//! objects in the same store transaction.
use super::*;
use crate::models::luna::ca::{self as luna_ca, PartitionView};

/// One policy (partition or HSM) as LunaSH's `showpolicies` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRow {
    pub id: u64,
    pub description: String,
    pub value: u64,
    /// The largest value the policy may take (its capability).
    pub capability: u64,
    /// Changing it (off to on or on to off) erases the partition (zeroises the HSM for HSM
    /// policies).
    pub destructive: bool,
}

/// What `partition changepolicy` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionPolicyChange {
    pub partition: String,
    /// The partition's objects were erased (a destructive change).
    pub erased: bool,
    /// The partition's policies afterwards, as `showpolicies` lists them.
    pub policies: Vec<PolicyRow>,
}

/// Runs `f` on a view of `partition`'s stored token as the Luna model's `CA_*` answers see it.
pub(super) fn with_view<T>(
    store: &Store,
    appliance: &Appliance,
    partition: &PartitionId,
    admin: bool,
    f: impl FnOnce(&PartitionView<'_>) -> Result<T>,
) -> Result<T> {
    let row = store
        .token(partition)?
        .ok_or_else(|| err(CKR_TOKEN_NOT_PRESENT, format!("{partition} has no token")))?;
    let present = if row.present {
        Ok(())
    } else {
        Err(err(
            CKR_TOKEN_NOT_PRESENT,
            format!("partition {partition} was removed"),
        ))
    };
    let description = partition.to_string();
    f(&PartitionView {
        slot_id: 0,
        model: &appliance.model,
        record: &row.record,
        admin,
        description: &description,
        present,
    })
}

/// The rows of `values` (id, value) with each element's description and destructiveness
/// (`CA_GetConfigurationElementDescription`) and capability.
pub(super) fn policy_rows(
    p: &PartitionView<'_>,
    container: bool,
    values: Vec<(u64, u64)>,
    capabilities: &[(u64, u64)],
) -> Result<Vec<PolicyRow>> {
    values
        .into_iter()
        .map(|(id, value)| {
            let element = luna_ca::element_description(p, container, false, id)?;
            Ok(PolicyRow {
                id,
                description: element.description,
                value,
                capability: capabilities
                    .iter()
                    .find(|(c, _)| *c == id)
                    .map_or(value, |(_, c)| *c),
                destructive: element.destructive,
            })
        })
        .collect()
}

fn partition_rows(p: &PartitionView<'_>) -> Result<Vec<PolicyRow>> {
    let capabilities = luna_ca::token_capabilities(p)?;
    let rows = policy_rows(p, true, luna_ca::token_policies(p)?, &capabilities)?;
    Ok(rows.into_iter().filter(|r| r.capability != 0).collect())
}

/// LunaSH `partition showpolicies -partition L`: the partition's policies with their values
/// and capabilities, only those whose capability is not 0. Needs no HSM SO login.
pub fn partition_show_policies(
    selection: &LabSelection,
    device: &DeviceId,
    partition: &str,
) -> Result<Vec<PolicyRow>> {
    let store = open_store(selection)?;
    let appliance = appliance(selection, &store, device)?;
    let id = named_partition(selection, &store, &appliance, partition)?;
    with_view(&store, &appliance, &id, false, partition_rows)
}

/// LunaSH `partition changepolicy -partition L -policy N[,N...] -value V[,V...]`: the HSM SO
/// (`login`, from `hsm_so_login`) changes the partition's policies, all or none, under the
/// model's rules (`luna_ca::set_token_policies`: unknown ids `CKR_POLICY_ID_INVALID`, values
/// out of range or above the capability `CKR_CONFIG_ILLEGAL`, policies 0 and 1 together
/// `CKR_CONFIG_FAILS_DEPENDENCIES`). A destructive change needs `confirm_destructive` (LunaSH's
/// "proceed"; else `CKR_CONFIG_CHANGE_ILLEGAL`) and erases the partition's objects in the same
/// store transaction. Processes using the partition see the change on their next call.
pub fn partition_change_policy(
    selection: &LabSelection,
    login: &HsmSoLogin,
    partition: &str,
    changes: &[(u64, u64)],
    confirm_destructive: bool,
) -> Result<PartitionPolicyChange> {
    let (store, appliance) = login.open(selection)?;
    let id = named_partition(selection, &store, &appliance, partition)?;
    let (erased, _) = store.update_token_erasing(&id, |record| {
        let erase =
            luna_ca::set_token_policies(&appliance.model, record, changes, confirm_destructive)?;
        Ok((erase, true, erase))
    })?;
    Ok(PartitionPolicyChange {
        partition: id.name().to_string(),
        erased,
        policies: with_view(&store, &appliance, &id, false, partition_rows)?,
    })
}
