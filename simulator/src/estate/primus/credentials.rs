//! A partition user's credentials: the setup password the SOs issue, the permanent secret it
//! fetches, and the API login's throttle a device restart clears.
use super::*;

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

/// A partition user's stored credentials (empty when none were issued).
pub fn user_credentials(selection: &LabSelection, partition_text: &str) -> Result<UserCredentials> {
    let (device, p) = partition(selection, partition_text)?;
    check_name("partition name", &p)?;
    let value = open_store(selection)?.device_item(&device.id(), USER_ITEM, &p)?;
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
    store.update_device_item(&device.id(), USER_ITEM, partition, |value| {
        let mut creds = stored_credentials(&device.name, partition, value)?;
        let outcome = change(&mut creds);
        Ok((Some(encode(&creds)?), outcome))
    })?
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
pub fn clear_api_lockouts(store: &Store, device: &DeviceId) -> Result<Vec<String>> {
    store.update_device_items(|items| {
        let mut cleared = Vec::new();
        for (partition, value) in items.list(device, USER_ITEM)? {
            let mut creds: UserCredentials = decode(device.as_str(), USER_ITEM, &partition, value)?;
            if creds.api_throttle.take().is_some() {
                items.put(device, USER_ITEM, &partition, &encode(&creds)?)?;
                cleared.push(format!("{device}/{partition}"));
            }
        }
        Ok(cleared)
    })
}
