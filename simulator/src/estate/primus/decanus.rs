//! The Decanus terminal's side of a Primus device, as the estate keeps it (Primus §2.3, seed
//! 000): the terminal's release and its pairing with the device (Device Administration), each
//! partition's "Management access" and Partition Administration pairing, the management
//! pairing password the SOs issue, onboarding Partition Administration with an empty Partition
//! SO card, entering Partition Administration mode, and the licence items the diagnostics
//! show. The lab's `decanus` and `[device.partition.primus]` values are the starting state;
//! every change is a device item of the lab's store (persisted, seen by every process).
use super::*;
use crate::models::primus::{Decanus, Licence, PartitionAdmin};

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

/// The device's Decanus terminal as the store holds it (the lab's, until changed); `None`
/// when the lab gives the device no Decanus.
pub fn decanus_state(selection: &LabSelection, device_name: &str) -> Result<Option<DecanusState>> {
    let _ = (selection, device_name);
    Err(not_built())
}

/// Pairs the device's Decanus terminal with the device (Device Administration), after SO
/// activation with two SO cards (simulator-defined: the pairing files `*.decanus` come from
/// the device's initial wizard, Primus §2.1). Refused when the device has no Decanus.
pub fn pair_device_administration(
    selection: &LabSelection,
    device_name: &str,
    so_cards: &[(String, String)],
) -> Result<DecanusState> {
    let _ = (selection, device_name, so_cards);
    Err(not_built())
}

/// A partition's administration state as the store holds it (the lab's, until changed).
pub fn partition_administration(
    selection: &LabSelection,
    partition_text: &str,
) -> Result<PartitionAdministration> {
    let _ = (selection, partition_text);
    Err(not_built())
}

/// `SETUP > CONFIGURATION > SECURITY > USER > "Management access" > enabled|disabled` after
/// SO activation with two SO cards.
pub fn set_management_access(
    selection: &LabSelection,
    partition_text: &str,
    so_cards: &[(String, String)],
    enabled: bool,
) -> Result<PartitionAdministration> {
    let _ = (selection, partition_text, so_cards, enabled);
    Err(not_built())
}

/// `SO ACTIVATION > ... > ROLES > USER > MGMT Password > "PARTITION"`: a new management
/// pairing password for the partition (returned once; only its verifier is kept). Refused
/// while "Management access" is disabled.
pub fn issue_management_password(
    selection: &LabSelection,
    partition_text: &str,
    so_cards: &[(String, String)],
) -> Result<String> {
    let _ = (selection, partition_text, so_cards);
    Err(not_built())
}

/// ONBOARD in Partition Administration mode: checks the Decanus release and pairing, the
/// licence item Partition Administration, the port, the management password, and that the
/// card in slot 1 is an empty Partition SO card; binds the card to the partition with its new
/// PIN and pairs the terminal with the partition's Partition Administration.
pub fn onboard_partition_administration(
    selection: &LabSelection,
    form: &Onboarding<'_>,
) -> Result<PartitionAdministration> {
    let _ = (selection, form);
    Err(not_built())
}

/// Switching the terminal to Partition Administration mode for a partition: the partition's
/// Partition SO card and its PIN (counted); refused when the partition's Partition
/// Administration is not onboarded.
pub fn enter_partition_administration(
    selection: &LabSelection,
    partition_text: &str,
    pso_card: Option<(&str, &str)>,
) -> Result<()> {
    let _ = (selection, partition_text, pso_card);
    Err(not_built())
}

/// `SYSTEM > DIAG. DEVICE > LICENSE`: every licence item and whether the device has it.
pub fn licence_items(selection: &LabSelection, device_name: &str) -> Result<Vec<(Licence, bool)>> {
    let _ = (selection, device_name);
    Err(not_built())
}

/// The Decanus model's view of the state (for the preconditions check).
pub fn decanus_model(state: &DecanusState) -> Decanus {
    Decanus {
        version: state.version,
        device_administration: state.device_administration,
    }
}

pub(super) fn not_built() -> crate::base::error::Error {
    err(CKR_FUNCTION_NOT_SUPPORTED, "not built yet")
}
