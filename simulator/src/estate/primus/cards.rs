//! A Primus device's smart cards: creating, reading and listing them, presenting a card's PIN
//! (the attempt counter in the same transaction) and SO activation with two SO cards.
use super::*;

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
    let id = device.id();
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
    let mut card = Card::new(kind, name, pin)?;
    card.partition = for_partition.map(str::to_string);
    store_new_card(selection, &id, device_name, card)
}

/// Creates an empty card of `device` (`hsmsim primus card create --empty`): a Partition SO or
/// Partition-Backup card with no PIN and no partition yet, which onboarding (Partition SO) or
/// making a partition's P-Backup card (Partition-Backup) binds. Refuses SO cards and to
/// overwrite a card.
pub fn create_empty_card(
    selection: &LabSelection,
    device_name: &str,
    kind: CardKind,
    name: &str,
) -> Result<Card> {
    let id = device(selection, device_name)?.id();
    check_name("card name", name)?;
    store_new_card(selection, &id, device_name, Card::empty(kind, name)?)
}

/// Writes a new card, refusing to overwrite one of its name.
fn store_new_card(
    selection: &LabSelection,
    id: &DeviceId,
    device_name: &str,
    card: Card,
) -> Result<Card> {
    let name = card.name.as_str();
    let store = open_store(selection)?;
    let exists = || {
        err(
            CKR_FUNCTION_FAILED,
            format!("card {name} of {device_name} already exists"),
        )
    };
    if store.device_item(id, CARD_ITEM, name)?.is_some() {
        return Err(exists());
    }
    let value = encode(&card)?;
    store.update_device_item(id, CARD_ITEM, name, |old| match old {
        Some(_) => Err(exists()),
        None => Ok((Some(value), ())),
    })?;
    Ok(card)
}

/// A card of `device` by name.
pub fn load_card(selection: &LabSelection, device_name: &str, name: &str) -> Result<Card> {
    let id = device(selection, device_name)?.id();
    check_name("card name", name)?;
    let value = open_store(selection)?.device_item(&id, CARD_ITEM, name)?;
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
    let id = device(selection, device_name)?.id();
    check_name("card name", name)?;
    let store = open_store(selection)?;
    store.update_device_item(&id, CARD_ITEM, name, |value| {
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
    let id = device(selection, device_name)?.id();
    for (name, _) in presented {
        check_name("card name", name)?;
    }
    let store = open_store(selection)?;
    store.update_device_items(|items| {
        let mut cards = presented
            .iter()
            .map(|(name, _)| stored_card(device_name, name, items.get(&id, CARD_ITEM, name)?))
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
            items.put(&id, CARD_ITEM, name, &encode(card)?)?;
        }
        Ok(outcome)
    })?
}
