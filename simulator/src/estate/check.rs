//! `hsmsim lab check`: the store's problems, stored tokens the lab does not define, and every
//! sealed value authenticated under its token key (opened with the PINs given or documented).
use super::*;

/// `hsmsim lab check`: the store's problems (empty when sound), plus stored tokens the lab no
/// longer defines. Does not create anything: a lab without state is reported as such.
pub fn check(selection: &LabSelection) -> Result<Vec<String>> {
    let db = selection.state_dir.join(crate::store::DB_FILE);
    if !db.exists() {
        return Ok(vec![format!(
            "{} does not exist: the lab has no state yet (run `hsmsim lab init` or use it once)",
            db.display()
        )]);
    }
    let store = match Store::open_or_refusal(&selection.state_dir)? {
        Ok(store) => store,
        Err(refusal) => return Ok(vec![refusal.to_string()]),
    };
    let mut problems = store.check()?;
    let defined: std::collections::BTreeSet<PartitionId> = selection
        .lab
        .partitions()
        .into_iter()
        .map(|(p, _, _)| p)
        .collect();
    for token in store.tokens()?.keys() {
        if !defined.contains(token) {
            problems.push(format!(
                "the store holds partition {token}, which the lab does not define"
            ));
        }
    }
    Ok(problems)
}

/// What `hsmsim lab check` found.
#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    /// Everything wrong (empty when sound), each naming what it is about.
    pub problems: Vec<String>,
    /// The partitions whose every sealed value was authenticated under the token key.
    pub sealed_checked: Vec<String>,
    /// The partitions with sealed values that could not be authenticated because no PIN given
    /// (nor documented in the lab file) opens their token key.
    pub sealed_unchecked: Vec<String>,
}

/// `hsmsim lab check`: `check`, then every sealed value (key material) of every partition
/// authenticated under its token key, opened with `pins` or the PINs the lab file documents
/// for the partition (its `so_pin`, `user_pin`, `crypto_user_pin`, `limited_co_pin`). Each
/// damaged object is named (partition, unique id, label). Does not log in: no failure counter
/// changes and nothing is written.
pub fn check_report(selection: &LabSelection, pins: &[String]) -> Result<CheckReport> {
    let mut report = CheckReport {
        problems: check(selection)?,
        ..CheckReport::default()
    };
    let store = match Store::open_or_refusal(&selection.state_dir) {
        Ok(Ok(store)) => store,
        // Absent, refused or unreadable: `check` already said so.
        _ => return Ok(report),
    };
    if !selection.state_dir.join(crate::store::DB_FILE).exists() {
        return Ok(report);
    }
    for (token, row) in store.tokens()? {
        if !row.present || store.objects(&token)?.iter().all(|o| o.sealed.is_none()) {
            continue;
        }
        match token_key(
            &token,
            &row.record,
            &documented_pins(selection, &token),
            pins,
        ) {
            Some(key) => {
                report.problems.extend(store.check_sealed(&token, &key)?);
                report.sealed_checked.push(token.to_string());
            }
            None => report.sealed_unchecked.push(token.to_string()),
        }
    }
    Ok(report)
}

/// The PINs the lab file gives a partition, with the role each is for.
fn documented_pins(
    selection: &LabSelection,
    partition: &PartitionId,
) -> Vec<(CK_USER_TYPE, String)> {
    let mut out = Vec::new();
    for d in &selection.lab.file.devices {
        for p in &d.partitions {
            if d.name.get_ref() != partition.device().as_str()
                || p.name.get_ref() != partition.name()
            {
                continue;
            }
            for (user, pin) in [
                (CKU_USER, &p.user_pin),
                (CKU_SO, &p.so_pin),
                (crate::models::luna::CKU_CRYPTO_USER, p.crypto_user_pin()),
                (
                    crate::models::luna::CKU_LIMITED_CRYPTO_OFFICER,
                    p.limited_co_pin(),
                ),
            ] {
                if let Some(pin) = pin {
                    out.push((user, pin.get_ref().clone()));
                }
            }
        }
    }
    out
}

/// The token key of a record, opened by a documented PIN (tried on its own role) or a given
/// one (tried on every role with a PIN seal), or kept in clear by a schema-1 migration.
fn token_key(
    partition: &PartitionId,
    record: &crate::store::records::TokenRecord,
    documented: &[(CK_USER_TYPE, String)],
    given: &[String],
) -> Option<crate::base::secrets::seal::TokenKey> {
    if let Some(key) = record.migration_key.as_deref() {
        return crate::base::secrets::seal::TokenKey::from_bytes(key).ok();
    }
    let context = crate::base::secrets::seal::SealContext {
        partition,
        generation: record.generation,
    };
    let open = |user: CK_USER_TYPE, pin: &str| {
        record
            .role(user)?
            .seal
            .as_ref()?
            .open(pin.as_bytes(), context)
    };
    given
        .iter()
        .flat_map(|pin| record.roles.keys().map(move |user| (*user, pin.as_str())))
        .chain(documented.iter().map(|(user, pin)| (*user, pin.as_str())))
        .find_map(|(user, pin)| open(user, pin))
}
