//! A partition's security policy (key import, export, extract) and its change after SO
//! activation.
use super::*;

/// A change of a partition's security policy: `None` keeps the current value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyChange {
    pub allow_import: Option<bool>,
    pub allow_export: Option<bool>,
    pub allow_extract: Option<bool>,
}

/// A partition's current security policy, as the store holds it.
pub fn security_policy(selection: &LabSelection, partition_text: &str) -> Result<SecurityPolicy> {
    let (device, p) = partition(selection, partition_text)?;
    let store = open_store(selection)?;
    let row = store
        .token(&device.id().partition(p.as_str()))?
        .filter(|r| r.present)
        .ok_or_else(|| {
            err(
                CKR_TOKEN_NOT_PRESENT,
                format!("{partition_text} has no token"),
            )
        })?;
    match PartitionState::of(&row.record).as_deref() {
        Some(PartitionState::Primus(policy)) => Ok(*policy),
        _ => Err(err(
            CKR_TOKEN_NOT_INITIALIZED,
            format!("partition {p} is not set up (it has no PKCS#11 password yet)"),
        )),
    }
}

/// Changes a partition's security policy (key import, export, extract) after SO activation
/// with two SO cards (Primus §1.4: changing a security configuration needs 2-of-n). Refused
/// on a Clone (`CKR_TOKEN_WRITE_PROTECTED`): security settings are cloned from the Master
/// (Primus §2.1). Written to the token record in one store transaction: the PKCS#11 module
/// in every process applies it on its next call.
pub fn set_security_policy(
    selection: &LabSelection,
    partition_text: &str,
    so_cards: &[(String, String)],
    change: PolicyChange,
) -> Result<SecurityPolicy> {
    let (device, p) = partition(selection, partition_text)?;
    if let crate::models::primus::HaRole::Clone { .. } = device.role {
        return Err(err(
            CKR_TOKEN_WRITE_PROTECTED,
            format!(
                "{} is a Clone: security settings are cloned from the Master; change them there",
                device.name
            ),
        ));
    }
    so_activation(selection, &device.name, so_cards)?;
    let store = open_store(selection)?;
    let id = device.id().partition(p.as_str());
    let (policy, _) = store.update_token(&id, |record| {
        let Some(PartitionState::Primus(mut policy)) =
            PartitionState::of(record).as_deref().cloned()
        else {
            return Err(err(
                CKR_TOKEN_NOT_INITIALIZED,
                format!("partition {p} is not set up (it has no PKCS#11 password yet)"),
            ));
        };
        let before = policy;
        if let Some(v) = change.allow_import {
            policy.allow_import = v;
        }
        if let Some(v) = change.allow_export {
            policy.allow_export = v;
        }
        if let Some(v) = change.allow_extract {
            policy.allow_extract = v;
        }
        record.vendor = Some(PartitionState::Primus(policy).stored());
        Ok((policy, policy != before))
    })?;
    Ok(policy)
}
