//! A Primus lab's cards and partition-user credentials as files in the lab's state directory,
//! and the security-configuration changes SO cards authorise (the `hsmsim primus` commands).
//! Layout (simulator-defined, JSON): `primus/<device>/cards/<card>.json` holds a card (kind,
//! partition, PIN verifier, attempts left); `primus/<device>/users/<partition>.json` holds the
//! partition user's setup password and permanent secret as verifiers, never in plaintext.
//! Files are replaced atomically (write, then rename); two processes presenting a card at the
//! same instant may count one attempt (simulator-defined). A configuration change is written
//! to the partition's token record in the store, so the PKCS#11 module in another process sees
//! it on its next call.
use crate::base::error::{Result, err};
use crate::base::ids::DeviceId;
use crate::estate::{LabSelection, open_store};
use crate::models::PartitionState;
use crate::models::primus::{
    Card, CardKind, Device, SecurityPolicy, SetupPassword, Throttle, Verifier,
    authorize_configuration_change, check_card_pin,
};
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    match crate::base::files::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| io(path, "parse", e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path, "read", e)),
    }
}

/// Writes `value` to `path` atomically (a temporary file renamed over it).
fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::base::files::create_private_dir_all(dir).map_err(|e| io(dir, "create", e))?;
    let text = serde_json::to_string_pretty(value).map_err(|e| io(path, "encode", e))?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    // A temporary file left by a crashed process of the same pid goes, so the new one is
    // created private.
    let _ = std::fs::remove_file(&tmp);
    crate::base::files::write_private(&tmp, text.as_bytes()).map_err(|e| io(&tmp, "write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, "replace", e))
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

fn device_dir(selection: &LabSelection, device: &str) -> PathBuf {
    selection.state_dir.join("primus").join(device)
}

fn check_file_name(what: &str, name: &str) -> Result<()> {
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

fn card_path(selection: &LabSelection, device: &str, name: &str) -> Result<PathBuf> {
    check_file_name("card name", name)?;
    Ok(device_dir(selection, device)
        .join("cards")
        .join(format!("{name}.json")))
}

fn users_path(selection: &LabSelection, device: &str, partition: &str) -> Result<PathBuf> {
    check_file_name("partition name", partition)?;
    Ok(device_dir(selection, device)
        .join("users")
        .join(format!("{partition}.json")))
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
    let path = card_path(selection, device_name, name)?;
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
    if path.exists() {
        return Err(err(
            CKR_FUNCTION_FAILED,
            format!("card {name} of {device_name} already exists"),
        ));
    }
    let mut card = Card::new(kind, name, pin)?;
    card.partition = for_partition.map(str::to_string);
    write_json(&path, &card)?;
    Ok(card)
}

/// A card of `device` by name.
pub fn load_card(selection: &LabSelection, device_name: &str, name: &str) -> Result<Card> {
    device(selection, device_name)?;
    let path = card_path(selection, device_name, name)?;
    read_json(&path)?.ok_or_else(|| {
        err(
            CKR_ARGUMENTS_BAD,
            format!("device {device_name} has no card \"{name}\""),
        )
    })
}

/// Every card of the lab's Primus devices (or of one), as (device, card), by device and name.
pub fn list_cards(selection: &LabSelection, only: Option<&str>) -> Result<Vec<(String, Card)>> {
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
        let dir = device_dir(selection, d).join("cards");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut cards = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| io(&dir, "list", e))?.path();
            if path.extension().is_some_and(|e| e == "json")
                && let Some(card) = read_json::<Card>(&path)?
            {
                cards.push(card);
            }
        }
        cards.sort_by(|a, b| a.name.cmp(&b.name));
        out.extend(cards.into_iter().map(|c| (d.to_string(), c)));
    }
    Ok(out)
}

/// Presents a card's PIN: the attempt counter is saved whatever the outcome (a wrong PIN
/// counts down, the card blocks at 0 with `CKR_PIN_LOCKED`; a right one restores it).
pub fn verify_card(
    selection: &LabSelection,
    device_name: &str,
    name: &str,
    pin: &str,
) -> Result<Card> {
    let mut card = load_card(selection, device_name, name)?;
    let outcome = card.present(pin);
    write_json(&card_path(selection, device_name, name)?, &card)?;
    outcome.map(|()| card)
}

/// SO activation: the SO cards presented (name, PIN) authorise a configuration change when at
/// least two different SO cards of `device` accept their PINs (2-of-n, Primus §1.4). Every
/// card presented has its attempt counted and saved.
pub fn so_activation(
    selection: &LabSelection,
    device_name: &str,
    presented: &[(String, String)],
) -> Result<()> {
    let mut cards = presented
        .iter()
        .map(|(name, _)| load_card(selection, device_name, name))
        .collect::<Result<Vec<Card>>>()?;
    let outcome = {
        let mut pairs: Vec<(&mut Card, &str)> = cards
            .iter_mut()
            .zip(presented)
            .map(|(c, (_, pin))| (c, pin.as_str()))
            .collect();
        authorize_configuration_change(&mut pairs)
    };
    for card in &cards {
        write_json(&card_path(selection, device_name, &card.name)?, card)?;
    }
    outcome
}

/// A partition user's stored credentials (empty when none were issued).
pub fn user_credentials(selection: &LabSelection, partition_text: &str) -> Result<UserCredentials> {
    let (device, p) = partition(selection, partition_text)?;
    Ok(read_json(&users_path(selection, &device.name, &p)?)?.unwrap_or_default())
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
    let path = users_path(selection, &device.name, &p)?;
    let mut creds: UserCredentials = read_json(&path)?.unwrap_or_default();
    let (text, kept) = SetupPassword::issue(device.deployment, crate::base::clock::now())?;
    creds.setup_password = Some(kept.clone());
    write_json(&path, &creds)?;
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
    let path = users_path(selection, &device.name, &p)?;
    let mut creds: UserCredentials = read_json(&path)?.unwrap_or_default();
    let outcome = creds.api_attempt(device, |creds| {
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
    });
    write_json(&path, &creds)?;
    outcome
}

/// Checks a permanent secret (the transport login): `CKR_PIN_INCORRECT` when it is not the
/// current one (simulator-defined code).
pub fn check_permanent_secret(
    selection: &LabSelection,
    partition_text: &str,
    secret: &str,
) -> Result<()> {
    let (device, p) = partition(selection, partition_text)?;
    let path = users_path(selection, &device.name, &p)?;
    let mut creds: UserCredentials = read_json(&path)?.unwrap_or_default();
    let outcome = creds.api_attempt(device, |creds| match &creds.permanent_secret {
        Some(v) if v.matches(secret.as_bytes()) => Ok(()),
        Some(_) => Err(err(CKR_PIN_INCORRECT, "the permanent secret is wrong")),
        None => Err(err(
            CKR_PIN_INCORRECT,
            format!("no permanent secret was fetched for {partition_text}"),
        )),
    });
    write_json(&path, &creds)?;
    outcome
}

/// A device restart clears its API-login lockouts ("a device restart clears lockouts",
/// Primus §1.4). Returns the partitions whose lockout state was cleared.
pub fn clear_api_lockouts(selection: &LabSelection, device: &str) -> Result<Vec<String>> {
    let dir = device_dir(selection, device).join("users");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut cleared = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Some(mut creds) = read_json::<UserCredentials>(&path)? else {
            continue;
        };
        if creds.api_throttle.take().is_some() {
            write_json(&path, &creds)?;
            if let Some(stem) = path.file_stem() {
                cleared.push(format!("{device}/{}", stem.to_string_lossy()));
            }
        }
    }
    Ok(cleared)
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

    fn so(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, p)| (n.to_string(), p.to_string()))
            .collect()
    }

    #[test]
    fn cards_are_files_whose_counters_persist_until_they_block() {
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
        let file =
            std::fs::read_to_string(dir.path().join("primus/primus-onprem/cards/yellow.json"))
                .unwrap();
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
        let stored =
            std::fs::read_to_string(dir.path().join("primus/primus-onprem/users/ACME-PKI.json"))
                .unwrap();
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
        assert!(
            !std::fs::read_to_string(dir.path().join("primus/primus-onprem/users/ACME-PKI.json"))
                .unwrap()
                .contains(&secret)
        );
        assert_eq!(
            fetch_permanent_secret(&sel, "primus-dr/ACME-DR", &text)
                .unwrap_err()
                .rv,
            CKR_PRIMUS_SETUP_PASSWORD_REJECTED,
            "no setup password issued there"
        );
    }
}
