//! The Decanus terminal's side of a Primus device, as the estate keeps it (Primus §2.3, seed
//! 000): the terminal's release and its pairing with the device (Device Administration), each
//! partition's "Management access" and Partition Administration pairing, the management
//! pairing password the SOs issue, onboarding Partition Administration with an empty Partition
//! SO card, entering Partition Administration mode, and the licence items the diagnostics
//! show. The lab's `decanus` and `[device.partition.primus]` values are the starting state;
//! every change is a device item of the lab's store (persisted, seen by every process; like
//! cards, kept by `lab reset`). Refusals are `CKR_FUNCTION_FAILED` with a sentence (no
//! Decanus, not paired, release older than 2.1.3, a licence item missing, management access
//! disabled, Partition Administration not onboarded, a PSO card that is not empty or not the
//! partition's), but a wrong management password (`CKR_PIN_INCORRECT`), PINs entered twice
//! that differ (`CKR_PIN_INVALID`) and a card PIN's own refusals (simulator-defined codes).
use super::*;
use crate::models::primus::{DECANUS_MIGRATION_VERSION, Decanus, Licence, PartitionAdmin};

/// The device-item kind of the Decanus terminal's state (name `TERMINAL_NAME`).
pub const DECANUS_ITEM: &str = "primus-decanus";
/// The device-item kind of a partition's administration state (named by the partition).
pub const PARTITION_ADMIN_ITEM: &str = "primus-partition-admin";

/// A Decanus terminal's state as the estate keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecanusState {
    /// The terminal's release ("Rel. v2.1.3").
    pub version: (u8, u8, u8),
    /// Paired with the device (Device Administration).
    pub device_administration: bool,
}

/// A partition's administration state as the estate keeps it: "Management access", the
/// management pairing password (a verifier; `None` until the SOs issue one), the Partition
/// Administration pairing and the Partition SO card onboarded with it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PartitionAdministration {
    pub management: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_password: Option<Verifier>,
    pub partition_administration: bool,
    /// The Partition SO card bound at onboarding (`None` when the lab starts onboarded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pso_card: Option<String>,
}

impl PartitionAdministration {
    pub fn summary(&self) -> PartitionAdmin {
        PartitionAdmin {
            management: self.management,
            partition_administration: self.partition_administration,
        }
    }
}

/// The ONBOARD form of Partition Administration mode (seed 000: "Enter HSM URL/IP" > "Enter
/// TCP Port; default 2300 JCE" > "Enter HSM Username" > "Enter Mgmt. Password" > INSERT empty
/// Partition SO Card (PSO) on Slot 1 > ONBOARD).
#[derive(Debug, Clone)]
pub struct Onboarding<'a> {
    pub device: &'a str,
    pub url: &'a str,
    pub port: u16,
    /// The HSM user name: the partition.
    pub user: &'a str,
    pub management_password: &'a str,
    /// The card in slot 1: must be an empty Partition SO card.
    pub pso_card: &'a str,
    /// The PIN the new Partition SO card gets (entered twice; both given here, checked equal).
    pub new_pso_pin: &'a str,
    pub new_pso_pin_again: &'a str,
}

/// The name of the Decanus terminal's device item (one terminal per device).
pub const TERMINAL_NAME: &str = "terminal";

/// The device-item kind of a partition's Partition-Backup public key (named by the partition):
/// the card it belongs to and the X25519 public key backups are encrypted to.
pub const BACKUP_KEY_ITEM: &str = "primus-backup-key";

/// The JCE port the Decanus reaches an on-premises HSM on when onboarding (seed 000: "default
/// 2300 JCE").
pub const JCE_PORT: u16 = 2300;

/// The Partition Administration port of a CloudHSM cluster's master (Primus §1.3, §4: "Partition
/// Administration 2380", configured only on the master): where a Decanus onboards a CloudHSM
/// partition, as the reverse direction (CloudHSM to on premises) needs.
pub const CLOUDHSM_PARTITION_ADMINISTRATION_PORT: u16 = 2380;

/// The one port onboarding reaches `device` on: 2300 on premises, 2380 on CloudHSM (the only
/// one each simulated device takes for onboarding, simulator-defined).
pub fn onboarding_port(device: &Device) -> u16 {
    match device.deployment {
        crate::models::primus::Deployment::OnPremises => JCE_PORT,
        crate::models::primus::Deployment::CloudHsm => CLOUDHSM_PARTITION_ADMINISTRATION_PORT,
    }
}

fn failed(message: impl Into<String>) -> crate::base::error::Error {
    err(CKR_FUNCTION_FAILED, message.into())
}

/// The device's Decanus terminal as the store holds it (the lab's, until changed); `None`
/// when the lab gives the device no Decanus.
pub fn decanus_state(selection: &LabSelection, device_name: &str) -> Result<Option<DecanusState>> {
    let device = device(selection, device_name)?;
    let stored = open_store(selection)?.device_item(&device.id(), DECANUS_ITEM, TERMINAL_NAME)?;
    stored_decanus(device, stored)
}

fn stored_decanus(device: &Device, stored: Option<Value>) -> Result<Option<DecanusState>> {
    let Some(lab) = device.decanus else {
        return Ok(None);
    };
    match stored {
        Some(v) => decode(&device.name, DECANUS_ITEM, TERMINAL_NAME, v).map(Some),
        None => Ok(Some(DecanusState {
            version: lab.version,
            device_administration: lab.device_administration,
        })),
    }
}

/// The device's Decanus terminal, refused (`CKR_FUNCTION_FAILED`) when there is none or it is
/// not paired with the device (Device Administration); with `migration`, also when its
/// release is older than 2.1.3 (Primus §2.3).
fn paired_terminal(
    selection: &LabSelection,
    device: &Device,
    migration: bool,
) -> Result<DecanusState> {
    let state = decanus_state(selection, &device.name)?.ok_or_else(|| {
        failed(format!(
            "{} has no Decanus terminal (the lab gives it none)",
            device.name
        ))
    })?;
    if !state.device_administration {
        return Err(failed(format!(
            "the Decanus terminal is not paired with {} (Device Administration): pair it first",
            device.name
        )));
    }
    if migration && state.version < DECANUS_MIGRATION_VERSION {
        return Err(failed(format!(
            "the Decanus terminal is release {}: partition administration and backup need release 2.1.3 or later",
            decanus_model(&state).version_text()
        )));
    }
    Ok(state)
}

/// Refused (`CKR_FUNCTION_FAILED`) unless the device has the licence item.
fn require_licence(device: &Device, licence: Licence) -> Result<()> {
    if device.licences.contains(&licence) {
        Ok(())
    } else {
        Err(failed(format!(
            "{} is not licensed for {} (see SYSTEM > DIAG. DEVICE > LICENSE)",
            device.name,
            licence.title()
        )))
    }
}

/// A Decanus terminal used remotely (`hsmsim decanus --remote`) needs the licence item Decanus
/// Remote Terminal: refused (`CKR_FUNCTION_FAILED`) otherwise, and when the device has no
/// Decanus.
pub fn check_remote_terminal(selection: &LabSelection, device_name: &str) -> Result<()> {
    let device = device(selection, device_name)?;
    if decanus_state(selection, device_name)?.is_none() {
        return Err(failed(format!("{device_name} has no Decanus terminal")));
    }
    require_licence(device, Licence::DecanusRemoteTerminal)
}

/// Pairs the device's Decanus terminal with the device (Device Administration), after SO
/// activation with two SO cards (simulator-defined: the pairing files `*.decanus` come from
/// the device's initial wizard, Primus §2.1). Refused when the device has no Decanus.
pub fn pair_device_administration(
    selection: &LabSelection,
    device_name: &str,
    so_cards: &[(String, String)],
) -> Result<DecanusState> {
    let device = device(selection, device_name)?;
    if device.decanus.is_none() {
        return Err(failed(format!("{device_name} has no Decanus terminal")));
    }
    so_activation(selection, device_name, so_cards)?;
    let store = open_store(selection)?;
    store.update_device_item(&device.id(), DECANUS_ITEM, TERMINAL_NAME, |stored| {
        let mut state = stored_decanus(device, stored)?
            .ok_or_else(|| failed(format!("{device_name} has no Decanus terminal")))?;
        state.device_administration = true;
        Ok((Some(encode(&state)?), state))
    })
}

/// A partition's administration state as the store holds it (the lab's, until changed).
pub fn partition_administration(
    selection: &LabSelection,
    partition_text: &str,
) -> Result<PartitionAdministration> {
    let (device, p) = partition(selection, partition_text)?;
    let stored = open_store(selection)?.device_item(&device.id(), PARTITION_ADMIN_ITEM, &p)?;
    stored_admin(device, &p, stored)
}

fn stored_admin(
    device: &Device,
    p: &str,
    stored: Option<Value>,
) -> Result<PartitionAdministration> {
    match stored {
        Some(v) => decode(&device.name, PARTITION_ADMIN_ITEM, p, v),
        None => {
            let lab = device.partitions.get(p).copied().unwrap_or_default();
            Ok(PartitionAdministration {
                management: lab.management,
                management_password: None,
                partition_administration: lab.partition_administration,
                pso_card: None,
            })
        }
    }
}

/// Reads, changes and writes a partition's administration state in one store transaction
/// (written only when `change` succeeds).
fn update_admin<T>(
    selection: &LabSelection,
    device: &Device,
    p: &str,
    change: impl FnOnce(&mut PartitionAdministration) -> Result<T>,
) -> Result<T> {
    open_store(selection)?.update_device_item(&device.id(), PARTITION_ADMIN_ITEM, p, |stored| {
        let mut admin = stored_admin(device, p, stored)?;
        let value = change(&mut admin)?;
        Ok((Some(encode(&admin)?), value))
    })
}

/// The preconditions of a partition backup (Primus §2.3) the partition does not meet, judged
/// on the state the store holds (the Decanus pairing and each partition's administration as
/// changed since the lab started); empty: ready. What `hsmsim primus preconditions` reports.
pub fn partition_backup_preconditions(
    selection: &LabSelection,
    partition_text: &str,
) -> Result<Vec<crate::models::primus::Unmet>> {
    let (device, p) = partition(selection, partition_text)?;
    Ok(current_device_in(&open_store(selection)?, device)?
        .partition_backup_preconditions(&p)
        .err()
        .unwrap_or_default())
}

/// The device as the store holds it now: the lab's definition with the Decanus terminal and
/// every partition's administration state as changed since the lab started (what `lab show`
/// and the backup preconditions judge), read from `store` (already open).
pub(crate) fn current_device_in(store: &Store, device: &Device) -> Result<Device> {
    let mut current = device.clone();
    current.decanus = stored_decanus(
        device,
        store.device_item(&device.id(), DECANUS_ITEM, TERMINAL_NAME)?,
    )?
    .as_ref()
    .map(decanus_model);
    for p in device.partitions.keys() {
        let stored = store.device_item(&device.id(), PARTITION_ADMIN_ITEM, p)?;
        current
            .partitions
            .insert(p.clone(), stored_admin(device, p, stored)?.summary());
    }
    Ok(current)
}

/// `SETUP > CONFIGURATION > SECURITY > USER > "Management access" > enabled|disabled` after
/// SO activation with two SO cards. Needs the Decanus paired with the device. Disabling keeps
/// an issued management password and the Partition Administration pairing (simulator-defined;
/// onboarding and the backup preconditions need it enabled).
pub fn set_management_access(
    selection: &LabSelection,
    partition_text: &str,
    so_cards: &[(String, String)],
    enabled: bool,
) -> Result<PartitionAdministration> {
    let (device, p) = partition(selection, partition_text)?;
    paired_terminal(selection, device, false)?;
    so_activation(selection, &device.name, so_cards)?;
    update_admin(selection, device, &p, |admin| {
        admin.management = enabled;
        Ok(admin.clone())
    })
}

/// `SO ACTIVATION > ... > ROLES > USER > MGMT Password > "PARTITION"`: a new management
/// pairing password for the partition (returned once; only its verifier is kept; form
/// `XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`, simulator-defined). Refused while "Management access" is
/// disabled (after the SO activation, which counts its cards).
pub fn issue_management_password(
    selection: &LabSelection,
    partition_text: &str,
    so_cards: &[(String, String)],
) -> Result<String> {
    let (device, p) = partition(selection, partition_text)?;
    paired_terminal(selection, device, false)?;
    so_activation(selection, &device.name, so_cards)?;
    let text = crate::models::primus::grouped_password()?;
    let verifier = Verifier::new(text.as_bytes())?;
    update_admin(selection, device, &p, |admin| {
        if !admin.management {
            return Err(failed(format!(
                "\"Management access\" is disabled for partition {p}: enable it first (SETUP > CONFIGURATION > SECURITY > USER)"
            )));
        }
        admin.management_password = Some(verifier);
        Ok(())
    })?;
    Ok(text)
}

/// ONBOARD in Partition Administration mode: checks the Decanus release and pairing, the
/// licence item Partition Administration, the port, the management password, and that the
/// card in slot 1 is an empty Partition SO card; binds the card to the partition with its new
/// PIN and pairs the terminal with the partition's Partition Administration. Checked in that
/// order, then "Management access" and the PINs (equal: else `CKR_PIN_INVALID`; the card
/// rule: else `CKR_PIN_LEN_RANGE`); a wrong management password is `CKR_PIN_INCORRECT`, every
/// other refusal `CKR_FUNCTION_FAILED`. The card and the pairing are written in one
/// transaction. Onboarding a partition again binds the new card in place of the old one
/// (simulator-defined).
pub fn onboard_partition_administration(
    selection: &LabSelection,
    form: &Onboarding<'_>,
) -> Result<PartitionAdministration> {
    let device = device(selection, form.device)?;
    paired_terminal(selection, device, true)?;
    require_licence(device, Licence::PartitionAdministration)?;
    if form.url.trim().is_empty() {
        return Err(failed("give the HSM's URL or IP address"));
    }
    let port = onboarding_port(device);
    if form.port != port {
        let which = match device.deployment {
            crate::models::primus::Deployment::OnPremises => "JCE port",
            crate::models::primus::Deployment::CloudHsm => "Partition Administration port",
        };
        return Err(failed(format!(
            "cannot reach the HSM at {}:{}: its {which} is {port}",
            form.url, form.port
        )));
    }
    let p = form.user;
    if !device.partitions.contains_key(p) {
        return Err(failed(format!(
            "{} has no HSM user (partition) \"{p}\"",
            device.name
        )));
    }
    check_name("card name", form.pso_card)?;
    if form.new_pso_pin != form.new_pso_pin_again {
        return Err(err(CKR_PIN_INVALID, "the two PSO PINs differ"));
    }
    check_card_pin(form.new_pso_pin)?;
    let id = device.id();
    let store = open_store(selection)?;
    store.update_device_items(|items| {
        let mut admin = stored_admin(device, p, items.get(&id, PARTITION_ADMIN_ITEM, p)?)?;
        if !admin.management {
            return Err(failed(format!(
                "\"Management access\" is disabled for partition {p}: enable it first (SETUP > CONFIGURATION > SECURITY > USER)"
            )));
        }
        match &admin.management_password {
            None => {
                return Err(failed(format!(
                    "no management password was issued for partition {p}: the SOs issue one (ROLES > USER > MGMT Password)"
                )));
            }
            Some(v) if !v.matches(form.management_password.trim().as_bytes()) => {
                return Err(err(CKR_PIN_INCORRECT, "the management password is wrong"));
            }
            Some(_) => {}
        }
        let mut card = stored_card(&device.name, form.pso_card, items.get(&id, CARD_ITEM, form.pso_card)?)?;
        if card.kind != CardKind::PartitionSo {
            return Err(failed(format!(
                "card {} is a {} card, not a Partition SO card",
                card.name,
                card.kind.lab_name()
            )));
        }
        if !card.is_empty() {
            return Err(failed(format!(
                "card {} is not empty: onboarding needs an empty Partition SO card",
                card.name
            )));
        }
        card.bind(p, form.new_pso_pin)?;
        admin.partition_administration = true;
        admin.pso_card = Some(card.name.clone());
        items.put(&id, CARD_ITEM, &card.name, &encode(&card)?)?;
        items.put(&id, PARTITION_ADMIN_ITEM, p, &encode(&admin)?)?;
        Ok(admin)
    })
}

/// Switching the terminal to Partition Administration mode for a partition: the partition's
/// Partition SO card and its PIN (counted); refused when the partition's Partition
/// Administration is not onboarded. A partition the lab starts onboarded has no Partition SO
/// card: no card is asked for (one given is not looked at). Needs the Decanus paired and of
/// release 2.1.3 or later, and the licence item Partition Administration.
pub fn enter_partition_administration(
    selection: &LabSelection,
    partition_text: &str,
    pso_card: Option<(&str, &str)>,
) -> Result<()> {
    let (device, p) = partition(selection, partition_text)?;
    paired_terminal(selection, device, true)?;
    require_licence(device, Licence::PartitionAdministration)?;
    let admin = partition_administration(selection, partition_text)?;
    if !admin.partition_administration {
        return Err(failed(format!(
            "the Partition Administration of {p} is not onboarded: ONBOARD it with an empty Partition SO card first"
        )));
    }
    let Some(bound) = &admin.pso_card else {
        return Ok(());
    };
    match pso_card {
        None => Err(failed(format!(
            "Partition Administration of {p} needs its Partition SO card {bound} in slot 1 and its PIN"
        ))),
        Some((name, _)) if name != bound => Err(failed(format!(
            "card {name} is not the Partition SO card of {p} (that is {bound})"
        ))),
        Some((name, pin)) => verify_card(selection, &device.name, name, pin).map(drop),
    }
}

/// `SYSTEM > DIAG. DEVICE > LICENSE`: every licence item and whether the device has it.
pub fn licence_items(selection: &LabSelection, device_name: &str) -> Result<Vec<(Licence, bool)>> {
    let device = device(selection, device_name)?;
    Ok(Licence::ALL
        .into_iter()
        .map(|l| (l, device.licences.contains(&l)))
        .collect())
}

/// The Decanus model's view of the state (for the preconditions check).
pub fn decanus_model(state: &DecanusState) -> Decanus {
    Decanus {
        version: state.version,
        device_administration: state.device_administration,
    }
}
