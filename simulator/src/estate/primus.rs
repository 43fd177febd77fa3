//! A Primus lab's cards and partition-user credentials, and the security-configuration changes
//! SO cards authorise (the `hsmsim primus` commands). Cards and credentials are device items in
//! the lab's store (`store::device_items`, JSON written here, read by no one else): kind
//! `primus-card` holds a card (kind, partition, PIN verifier, attempts left) by card name;
//! `primus-user` holds a partition user's setup password and permanent secret as verifiers
//! (never in plaintext) and the API-login throttle, by partition name. Every PIN check,
//! credential change and throttle update is one read-modify-write in one store transaction,
//! so attempts presented at the same instant by several processes all count. They are not
//! part of the lab's definition: `lab reset` keeps them; snapshots hold them. Earlier builds
//! kept them as JSON files (`primus/<device>/cards/<card>.json`,
//! `primus/<device>/users/<partition>.json`): opening the lab's store imports them once
//! (`import_legacy_files`). A configuration change is written to the partition's token record
//! in the store, so the PKCS#11 module in another process sees it on its next call.
use crate::base::error::{Result, err};
use crate::base::ids::DeviceId;
use crate::estate::{LabSelection, open_store};
use crate::models::PartitionState;
use crate::models::primus::{
    Card, CardKind, Device, SecurityPolicy, SetupPassword, Throttle, Verifier,
    authorize_configuration_change, check_card_pin,
};
use crate::store::Store;
use cryptoki_sys::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The device-item kind of a card (named by the card).
pub const CARD_ITEM: &str = "primus-card";
/// The device-item kind of a partition user's credentials (named by the partition).
pub const USER_ITEM: &str = "primus-user";
/// Where earlier builds kept cards and credentials, inside the state directory.
const LEGACY_DIR: &str = "primus";

/// A partition user's credentials as the device keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCredentials {
    pub setup_password: Option<SetupPassword>,
    pub permanent_secret: Option<Verifier>,
    /// The API (transport) login's brute-force state: wrong setup passwords and permanent
    /// secrets count under the device's throttle rule (Primus §1.4); a restart clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_throttle: Option<Throttle>,
}

impl UserCredentials {
    /// Runs one API-login attempt under the device's throttle: refused with `CKR_PIN_LOCKED`
    /// while locked out; `attempt` says whether the presented credential was right. Returns
    /// its result; the caller writes the credentials back.
    fn api_attempt<T>(
        &mut self,
        device: &Device,
        attempt: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let now = crate::base::clock::now();
        let mut throttle = self.api_throttle.unwrap_or_default();
        throttle.check(now)?;
        let outcome = attempt(self);
        let wrong = matches!(&outcome, Err(e) if e.rv != CKR_PIN_LOCKED);
        throttle.record(&device.throttle, now, !wrong);
        self.api_throttle = Some(throttle).filter(|t| *t != Throttle::default());
        outcome
    }
}

/// A change of a partition's security policy: `None` keeps the current value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyChange {
    pub allow_import: Option<bool>,
    pub allow_export: Option<bool>,
    pub allow_extract: Option<bool>,
}

fn io(path: &Path, what: &str, e: impl std::fmt::Display) -> crate::base::error::Error {
    err(
        CKR_DEVICE_ERROR,
        format!("cannot {what} {}: {e}", path.display()),
    )
}

/// The Primus device `name` of the lab; the error lists the lab's Primus devices.
pub fn device<'a>(selection: &'a LabSelection, name: &str) -> Result<&'a Device> {
    selection
        .lab
        .models
        .get(name)
        .and_then(|m| m.primus())
        .ok_or_else(|| {
            let mut known: Vec<&str> = selection
                .lab
                .models
                .iter()
                .filter(|(_, m)| m.primus().is_some())
                .map(|(n, _)| n.as_str())
                .collect();
            known.sort_unstable();
            err(
                CKR_ARGUMENTS_BAD,
                format!(
                    "the lab has no Primus device \"{name}\"; Primus devices: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )
        })
}

/// A Primus partition written "device/partition": its device and partition name.
pub fn partition<'a>(selection: &'a LabSelection, text: &str) -> Result<(&'a Device, String)> {
    let (d, p) = text.split_once('/').ok_or_else(|| {
        err(
            CKR_ARGUMENTS_BAD,
            format!("write the partition as \"device/partition\", not \"{text}\""),
        )
    })?;
    let device = device(selection, d)?;
    if !device.partitions.contains_key(p) {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!(
                "device {d} has no partition \"{p}\"; partitions: {}",
                device
                    .partitions
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok((device, p.to_string()))
}

fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(err(
            CKR_ARGUMENTS_BAD,
            format!(
                "{what} \"{name}\" is not usable: 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'"
            ),
        ))
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| {
        err(
            CKR_DEVICE_ERROR,
            format!("cannot encode a Primus item: {e}"),
        )
    })
}

fn decode<T: DeserializeOwned>(device: &str, kind: &str, name: &str, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| {
        err(
            CKR_DEVICE_ERROR,
            format!("the store holds a damaged {kind} item \"{name}\" of {device}: {e}"),
        )
    })
}

/// A card as the store holds it; `CKR_ARGUMENTS_BAD` when there is none.
fn stored_card(device_name: &str, name: &str, value: Option<Value>) -> Result<Card> {
    let value = value.ok_or_else(|| {
        err(
            CKR_ARGUMENTS_BAD,
            format!("device {device_name} has no card \"{name}\""),
        )
    })?;
    decode(device_name, CARD_ITEM, name, value)
}

/// A partition user's credentials as the store holds them (empty when none were issued).
fn stored_credentials(
    device_name: &str,
    partition: &str,
    value: Option<Value>,
) -> Result<UserCredentials> {
    value.map_or(Ok(UserCredentials::default()), |v| {
        decode(device_name, USER_ITEM, partition, v)
    })
}

/// Earlier builds' card and credential files of the state directory, moved into the store
/// `store` in one transaction (an item the store already has is kept: it is the newer, the
/// file being left by an import interrupted before its removal). The files are then removed,
/// with their directories once empty: the store is their only home, and no copy of a PIN
/// verifier stays behind (an older build cannot use the migrated store anyway). Called by
/// `open_store`; nothing to do when there is no `primus/` directory. A read-only store
/// imports nothing (its files stay for the next writable open).
pub(crate) fn import_legacy_files(selection: &LabSelection, store: &Store) -> Result<()> {
    let root = selection.state_dir.join(LEGACY_DIR);
    if !root.is_dir() {
        return Ok(());
    }
    if store.read_only() {
        tracing::warn!(target: "hsmsim::estate",
            "{} holds Primus cards or credentials of an earlier hsmsim; the store is read-only, \
             so they are imported at its next writable open", root.display());
        return Ok(());
    }
    // (device, kind, name, value, file)
    let mut found: Vec<(String, &str, String, Value, PathBuf)> = Vec::new();
    let mut dirs = Vec::new();
    for device in std::fs::read_dir(&root).map_err(|e| io(&root, "read", e))? {
        let device = device.map_err(|e| io(&root, "read", e))?;
        let device_dir = device.path();
        if !device_dir.is_dir() {
            continue;
        }
        let device_name = device.file_name().to_string_lossy().into_owned();
        for (sub, kind) in [("cards", CARD_ITEM), ("users", USER_ITEM)] {
            let dir = device_dir.join(sub);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.map_err(|e| io(&dir, "list", e))?.path();
                let Some(name) = path
                    .file_stem()
                    .filter(|_| path.extension().is_some_and(|e| e == "json"))
                    .map(|s| s.to_string_lossy().into_owned())
                else {
                    continue;
                };
                let text =
                    crate::base::files::read_to_string(&path).map_err(|e| io(&path, "read", e))?;
                let parsed = if kind == CARD_ITEM {
                    serde_json::from_str::<Card>(&text).map(|c| encode(&c))
                } else {
                    serde_json::from_str::<UserCredentials>(&text).map(|c| encode(&c))
                };
                let value = parsed.map_err(|e| {
                    io(
                        &path,
                        "import (a file of an earlier hsmsim; repair or remove it)",
                        e,
                    )
                })??;
                found.push((device_name.clone(), kind, name, value, path));
            }
            dirs.push(dir);
        }
        dirs.push(device_dir);
    }
    store.update_device_items(|items| {
        for (device, kind, name, value, _) in &found {
            if items.get(&DeviceId::new(device), kind, name)?.is_none() {
                items.put(&DeviceId::new(device), kind, name, value)?;
            }
        }
        Ok(())
    })?;
    for (.., file) in &found {
        std::fs::remove_file(file).map_err(|e| io(file, "remove", e))?;
    }
    // Directories holding anything else (a crashed writer's temporary file) stay.
    for dir in dirs.iter().chain([&root]) {
        let _ = std::fs::remove_dir(dir);
    }
    if !found.is_empty() {
        tracing::info!(target: "hsmsim::estate",
            "imported {} Primus card and credential files of {} into the store", found.len(),
            root.display());
    }
    Ok(())
}

/// Creates a card of `device` (a Partition SO or Partition-Backup card belongs to one of its
/// partitions) with its PIN (8 to 12 digits). Refuses to overwrite a card.
pub fn create_card(
    selection: &LabSelection,
    device_name: &str,
    kind: CardKind,
    name: &str,
    pin: &str,
    for_partition: Option<&str>,
) -> Result<Card> {
    let device = device(selection, device_name)?;
    check_name("card name", name)?;
    match (kind.per_partition(), for_partition) {
        (true, None) => {
            return Err(err(
                CKR_ARGUMENTS_BAD,
                format!(
                    "a {} card belongs to a partition: give the partition",
                    kind.lab_name()
                ),
            ));
        }
        (false, Some(_)) => {
            return Err(err(
                CKR_ARGUMENTS_BAD,
                "an SO card belongs to the device, not to a partition",
            ));
        }
        (true, Some(p)) if !device.partitions.contains_key(p) => {
            return Err(err(
                CKR_ARGUMENTS_BAD,
                format!("device {device_name} has no partition \"{p}\""),
            ));
        }
        _ => {}
    }
    check_card_pin(pin)?;
    let store = open_store(selection)?;
    let exists = || {
        err(
            CKR_FUNCTION_FAILED,
            format!("card {name} of {device_name} already exists"),
        )
    };
    if store
        .device_item(&DeviceId::new(device_name), CARD_ITEM, name)?
        .is_some()
    {
        return Err(exists());
    }
    let mut card = Card::new(kind, name, pin)?;
    card.partition = for_partition.map(str::to_string);
    let value = encode(&card)?;
    store.update_device_item(
        &DeviceId::new(device_name),
        CARD_ITEM,
        name,
        |old| match old {
            Some(_) => Err(exists()),
            None => Ok((Some(value), ())),
        },
    )?;
    Ok(card)
}

/// A card of `device` by name.
pub fn load_card(selection: &LabSelection, device_name: &str, name: &str) -> Result<Card> {
    device(selection, device_name)?;
    check_name("card name", name)?;
    let value = open_store(selection)?.device_item(&DeviceId::new(device_name), CARD_ITEM, name)?;
    stored_card(device_name, name, value)
}

/// Every card of the lab's Primus devices (or of one), as (device, card), by device and name.
pub fn list_cards(selection: &LabSelection, only: Option<&str>) -> Result<Vec<(String, Card)>> {
    list_cards_in(&open_store(selection)?, selection, only)
}

/// As `list_cards`, in the lab's store `store` (already open: a second store handle of the
/// same process is not opened and closed meanwhile).
pub(crate) fn list_cards_in(
    store: &Store,
    selection: &LabSelection,
    only: Option<&str>,
) -> Result<Vec<(String, Card)>> {
    let mut devices: Vec<&str> = match only {
        Some(d) => vec![device(selection, d)?.name.as_str()],
        None => selection
            .lab
            .models
            .iter()
            .filter(|(_, m)| m.primus().is_some())
            .map(|(n, _)| n.as_str())
            .collect(),
    };
    devices.sort_unstable();
    let mut out = Vec::new();
    for d in devices {
        let mut cards = store
            .device_items(&DeviceId::new(d), CARD_ITEM)?
            .into_iter()
            .map(|(name, value)| decode::<Card>(d, CARD_ITEM, &name, value))
            .collect::<Result<Vec<_>>>()?;
        cards.sort_by(|a, b| a.name.cmp(&b.name));
        out.extend(cards.into_iter().map(|c| (d.to_string(), c)));
    }
    Ok(out)
}

/// Presents a card's PIN: the attempt counter is saved whatever the outcome (a wrong PIN
/// counts down, the card blocks at 0 with `CKR_PIN_LOCKED`; a right one restores it), in the
/// same transaction that read it.
pub fn verify_card(
    selection: &LabSelection,
    device_name: &str,
    name: &str,
    pin: &str,
) -> Result<Card> {
    device(selection, device_name)?;
    check_name("card name", name)?;
    let store = open_store(selection)?;
    store.update_device_item(&DeviceId::new(device_name), CARD_ITEM, name, |value| {
        let mut card = stored_card(device_name, name, value)?;
        let outcome = card.present(pin);
        Ok((Some(encode(&card)?), outcome.map(|()| card)))
    })?
}

/// SO activation: the SO cards presented (name, PIN) authorise a configuration change when at
/// least two different SO cards of `device` accept their PINs (2-of-n, Primus §1.4). Every
/// card presented has its attempt counted and saved, in one transaction.
pub fn so_activation(
    selection: &LabSelection,
    device_name: &str,
    presented: &[(String, String)],
) -> Result<()> {
    device(selection, device_name)?;
    for (name, _) in presented {
        check_name("card name", name)?;
    }
    let store = open_store(selection)?;
    store.update_device_items(|items| {
        let mut cards = presented
            .iter()
            .map(|(name, _)| {
                stored_card(
                    device_name,
                    name,
                    items.get(&DeviceId::new(device_name), CARD_ITEM, name)?,
                )
            })
            .collect::<Result<Vec<Card>>>()?;
        let outcome = {
            let mut pairs: Vec<(&mut Card, &str)> = cards
                .iter_mut()
                .zip(presented)
                .map(|(c, (_, pin))| (c, pin.as_str()))
                .collect();
            authorize_configuration_change(&mut pairs)
        };
        for (card, (name, _)) in cards.iter().zip(presented) {
            items.put(&DeviceId::new(device_name), CARD_ITEM, name, &encode(card)?)?;
        }
        Ok(outcome)
    })?
}

/// A partition user's stored credentials (empty when none were issued).
pub fn user_credentials(selection: &LabSelection, partition_text: &str) -> Result<UserCredentials> {
    let (device, p) = partition(selection, partition_text)?;
    check_name("partition name", &p)?;
    let value = open_store(selection)?.device_item(&DeviceId::new(&device.name), USER_ITEM, &p)?;
    stored_credentials(&device.name, &p, value)
}

/// Reads, changes and writes a partition user's credentials in one store transaction: `change`
/// sees them (empty when none were issued); they are written back whatever its outcome.
fn update_credentials<T>(
    selection: &LabSelection,
    device: &Device,
    partition: &str,
    change: impl FnOnce(&mut UserCredentials) -> Result<T>,
) -> Result<T> {
    check_name("partition name", partition)?;
    let store = open_store(selection)?;
    store.update_device_item(
        &DeviceId::new(&device.name),
        USER_ITEM,
        partition,
        |value| {
            let mut creds = stored_credentials(&device.name, partition, value)?;
            let outcome = change(&mut creds);
            Ok((Some(encode(&creds)?), outcome))
        },
    )?
}

/// `ROLES > USER > NEW SETUP PW` after SO activation: a new setup password for the partition's
/// user, valid for the deployment's lifetime (72 hours on premises, 7 days on CloudHSM). It
/// replaces the previous one; the text is returned once, only its verifier is kept.
pub fn issue_setup_password(
    selection: &LabSelection,
    partition_text: &str,
    so_cards: &[(String, String)],
) -> Result<(String, SetupPassword)> {
    let (device, p) = partition(selection, partition_text)?;
    so_activation(selection, &device.name, so_cards)?;
    let (text, kept) = SetupPassword::issue(device.deployment, crate::base::clock::now())?;
    update_credentials(selection, device, &p, |creds| {
        creds.setup_password = Some(kept.clone());
        Ok(())
    })?;
    Ok((text, kept))
}

/// `ppin -a`: a valid setup password fetches a new permanent secret for the partition's user
/// (returned once; its verifier replaces the previous one, simulator-defined). The setup
/// password stays valid until it expires (Primus §1.4 counts its life from first use).
pub fn fetch_permanent_secret(
    selection: &LabSelection,
    partition_text: &str,
    setup_password: &str,
) -> Result<String> {
    let (device, p) = partition(selection, partition_text)?;
    update_credentials(selection, device, &p, |creds| {
        creds.api_attempt(device, |creds| {
            let kept = creds.setup_password.as_ref().ok_or_else(|| {
                err(
                    crate::models::primus::CKR_PRIMUS_SETUP_PASSWORD_REJECTED,
                    format!(
                        "no setup password was issued for {partition_text}: the SO issues one first"
                    ),
                )
            })?;
            let (secret, verifier) =
                kept.fetch_permanent_secret(setup_password, crate::base::clock::now())?;
            creds.permanent_secret = Some(verifier);
            Ok(secret)
        })
    })
}

/// Checks a permanent secret (the transport login): `CKR_PIN_INCORRECT` when it is not the
/// current one (simulator-defined code).
pub fn check_permanent_secret(
    selection: &LabSelection,
    partition_text: &str,
    secret: &str,
) -> Result<()> {
    let (device, p) = partition(selection, partition_text)?;
    update_credentials(selection, device, &p, |creds| {
        creds.api_attempt(device, |creds| match &creds.permanent_secret {
            Some(v) if v.matches(secret.as_bytes()) => Ok(()),
            Some(_) => Err(err(CKR_PIN_INCORRECT, "the permanent secret is wrong")),
            None => Err(err(
                CKR_PIN_INCORRECT,
                format!("no permanent secret was fetched for {partition_text}"),
            )),
        })
    })
}

/// A device restart clears its API-login lockouts ("a device restart clears lockouts",
/// Primus §1.4), in one transaction of `store`. Returns the partitions whose lockout state
/// was cleared.
pub fn clear_api_lockouts(store: &Store, device: &str) -> Result<Vec<String>> {
    store.update_device_items(|items| {
        let mut cleared = Vec::new();
        for (partition, value) in items.list(&DeviceId::new(device), USER_ITEM)? {
            let mut creds: UserCredentials = decode(device, USER_ITEM, &partition, value)?;
            if creds.api_throttle.take().is_some() {
                items.put(
                    &DeviceId::new(device),
                    USER_ITEM,
                    &partition,
                    &encode(&creds)?,
                )?;
                cleared.push(format!("{device}/{partition}"));
            }
        }
        Ok(cleared)
    })
}

/// A partition's current security policy, as the store holds it.
pub fn security_policy(selection: &LabSelection, partition_text: &str) -> Result<SecurityPolicy> {
    let (device, p) = partition(selection, partition_text)?;
    let store = open_store(selection)?;
    let row = store
        .token(&DeviceId::new(device.name.as_str()).partition(p.as_str()))?
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
    let id = DeviceId::new(device.name.as_str()).partition(p.as_str());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estate::Choice;
    use crate::estate::{LAB_FILE, init_from_fixture, select};
    use crate::models::primus::{CARD_ATTEMPTS, CKR_PRIMUS_SETUP_PASSWORD_REJECTED, CardKind};

    fn selection(dir: &Path) -> LabSelection {
        init_from_fixture("primus", dir, false).unwrap();
        select(&Choice {
            lab_file: Some(dir.join(LAB_FILE)),
            host: None,
            state_dir: None,
        })
        .unwrap()
    }

    /// A device item's stored JSON text.
    fn stored_item(sel: &LabSelection, device: &str, kind: &str, name: &str) -> String {
        open_store(sel)
            .unwrap()
            .device_item(&DeviceId::new(device), kind, name)
            .unwrap()
            .unwrap()
            .to_string()
    }

    fn so(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, p)| (n.to_string(), p.to_string()))
            .collect()
    }

    #[test]
    fn cards_are_stored_and_their_counters_persist_until_they_block() {
        let dir = tempfile::tempdir().unwrap();
        let sel = selection(dir.path());
        let d = "primus-onprem";
        create_card(&sel, d, CardKind::So, "so-1", "12345678", None).unwrap();
        create_card(
            &sel,
            d,
            CardKind::PartitionBackup,
            "yellow",
            "87654321",
            Some("ACME-PKI"),
        )
        .unwrap();
        assert_eq!(
            create_card(&sel, d, CardKind::So, "so-1", "12345678", None)
                .unwrap_err()
                .rv,
            CKR_FUNCTION_FAILED
        );
        assert_eq!(
            create_card(&sel, d, CardKind::PartitionSo, "pso", "12345678", None)
                .unwrap_err()
                .rv,
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            create_card(&sel, "nope", CardKind::So, "x", "12345678", None)
                .unwrap_err()
                .rv,
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            create_card(&sel, d, CardKind::So, "../x", "12345678", None)
                .unwrap_err()
                .rv,
            CKR_ARGUMENTS_BAD
        );
        let file = stored_item(&sel, d, CARD_ITEM, "yellow");
        assert!(
            !file.contains("87654321"),
            "only the PIN's verifier is kept"
        );
        for left in (1..CARD_ATTEMPTS).rev() {
            assert_eq!(
                verify_card(&sel, d, "yellow", "11111111").unwrap_err().rv,
                CKR_PIN_INCORRECT
            );
            assert_eq!(load_card(&sel, d, "yellow").unwrap().attempts_left, left);
        }
        assert_eq!(
            verify_card(&sel, d, "yellow", "11111111").unwrap_err().rv,
            CKR_PIN_LOCKED
        );
        assert_eq!(
            verify_card(&sel, d, "yellow", "87654321").unwrap_err().rv,
            CKR_PIN_LOCKED
        );
        let cards = list_cards(&sel, None).unwrap();
        let names: Vec<_> = cards
            .iter()
            .map(|(d, c)| format!("{d}/{}", c.name))
            .collect();
        assert_eq!(names, ["primus-onprem/so-1", "primus-onprem/yellow"]);
    }

    #[test]
    fn wrong_api_credentials_lock_the_api_login_until_the_lockout_ends_or_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        selection(dir.path());
        let file = dir.path().join(LAB_FILE);
        let text = std::fs::read_to_string(&file).unwrap().replacen(
            "kind = \"primus\"              # on-premises Primus HSM",
            "kind = \"primus\"\nlogin_attempt_threshold = 3",
            1,
        );
        std::fs::write(&file, text).unwrap();
        let sel = select(&Choice {
            lab_file: Some(file),
            host: None,
            state_dir: None,
        })
        .unwrap();
        assert_eq!(device(&sel, "primus-onprem").unwrap().throttle.threshold, 3);
        let d = "primus-onprem";
        let p = "primus-onprem/ACME-PKI";
        create_card(&sel, d, CardKind::So, "so-1", "12345678", None).unwrap();
        create_card(&sel, d, CardKind::So, "so-2", "23456789", None).unwrap();
        let both = so(&[("so-1", "12345678"), ("so-2", "23456789")]);
        let (setup, _) = issue_setup_password(&sel, p, &both).unwrap();
        let secret = fetch_permanent_secret(&sel, p, &setup).unwrap();
        for _ in 0..2 {
            assert_eq!(
                check_permanent_secret(&sel, p, "wrong").unwrap_err().rv,
                CKR_PIN_INCORRECT
            );
        }
        // The third wrong one reaches the threshold: now even the right secret is locked out.
        assert_eq!(
            check_permanent_secret(&sel, p, "wrong").unwrap_err().rv,
            CKR_PIN_INCORRECT
        );
        let locked = check_permanent_secret(&sel, p, &secret).unwrap_err();
        assert_eq!(locked.rv, CKR_PIN_LOCKED, "{}", locked.detail);
        assert_eq!(
            fetch_permanent_secret(&sel, p, &setup).unwrap_err().rv,
            CKR_PIN_LOCKED
        );
        // A device restart clears it.
        crate::estate::restart_device(&sel, &DeviceId::new(d), 0).unwrap();
        check_permanent_secret(&sel, p, &secret).unwrap();
    }

    #[test]
    fn two_so_cards_change_the_policy_and_issue_setup_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let sel = selection(dir.path());
        let d = "primus-onprem";
        create_card(&sel, d, CardKind::So, "so-1", "12345678", None).unwrap();
        create_card(&sel, d, CardKind::So, "so-2", "23456789", None).unwrap();
        let both = so(&[("so-1", "12345678"), ("so-2", "23456789")]);
        let change = PolicyChange {
            allow_export: Some(false),
            ..PolicyChange::default()
        };
        let one = so(&[("so-1", "12345678")]);
        assert_eq!(
            set_security_policy(&sel, "primus-onprem/ACME-PKI", &one, change)
                .unwrap_err()
                .rv,
            CKR_USER_NOT_LOGGED_IN
        );
        let wrong = so(&[("so-1", "12345678"), ("so-2", "99999999")]);
        assert_eq!(
            set_security_policy(&sel, "primus-onprem/ACME-PKI", &wrong, change)
                .unwrap_err()
                .rv,
            CKR_PIN_INCORRECT
        );
        assert_eq!(
            load_card(&sel, d, "so-2").unwrap().attempts_left,
            CARD_ATTEMPTS - 1
        );
        let policy = set_security_policy(&sel, "primus-onprem/ACME-PKI", &both, change).unwrap();
        assert!(!policy.allow_export && policy.allow_import);
        assert_eq!(
            security_policy(&sel, "primus-onprem/ACME-PKI").unwrap(),
            policy
        );

        let (text, _) = issue_setup_password(&sel, "primus-onprem/ACME-PKI", &both).unwrap();
        assert_eq!(text.len(), 29);
        let stored = stored_item(&sel, d, USER_ITEM, "ACME-PKI");
        assert!(!stored.contains(&text));
        assert_eq!(
            fetch_permanent_secret(
                &sel,
                "primus-onprem/ACME-PKI",
                "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"
            )
            .unwrap_err()
            .rv,
            CKR_PRIMUS_SETUP_PASSWORD_REJECTED
        );
        let secret = fetch_permanent_secret(&sel, "primus-onprem/ACME-PKI", &text).unwrap();
        check_permanent_secret(&sel, "primus-onprem/ACME-PKI", &secret).unwrap();
        assert_eq!(
            check_permanent_secret(&sel, "primus-onprem/ACME-PKI", "x")
                .unwrap_err()
                .rv,
            CKR_PIN_INCORRECT
        );
        assert!(!stored_item(&sel, d, USER_ITEM, "ACME-PKI").contains(&secret));
        assert_eq!(
            fetch_permanent_secret(&sel, "primus-dr/ACME-DR", &text)
                .unwrap_err()
                .rv,
            CKR_PRIMUS_SETUP_PASSWORD_REJECTED,
            "no setup password issued there"
        );
    }
}
