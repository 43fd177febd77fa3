//! The smart cards of a Primus device (Primus §1.4): their kinds, PIN rule and attempt
//! counter, and the two SO cards a security-configuration change needs.
use super::Verifier;
use crate::base::error::{Result, err};
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};

/// The smart cards of a Primus device (Primus §1.4): SO cards (configuration changes need
/// two of them), the Partition SO card, and the Partition-Backup ("Yellow") card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CardKind {
    So,
    PartitionSo,
    PartitionBackup,
}

impl CardKind {
    pub const ALL: [CardKind; 3] = [
        CardKind::So,
        CardKind::PartitionSo,
        CardKind::PartitionBackup,
    ];

    /// The name the lab and the CLI write.
    pub fn lab_name(self) -> &'static str {
        match self {
            CardKind::So => "so",
            CardKind::PartitionSo => "partition-so",
            CardKind::PartitionBackup => "partition-backup",
        }
    }

    pub fn from_lab(text: &str) -> Option<CardKind> {
        CardKind::ALL.into_iter().find(|k| k.lab_name() == text)
    }

    /// The card's colour (Primus §1.4, §2.3): SO red, Partition SO green, P-Backup yellow.
    pub fn colour(self) -> &'static str {
        match self {
            CardKind::So => "red",
            CardKind::PartitionSo => "green",
            CardKind::PartitionBackup => "yellow",
        }
    }

    /// Whether the card belongs to one partition (Partition SO, Partition-Backup).
    pub fn per_partition(self) -> bool {
        self != CardKind::So
    }
}

/// A card PIN: 8 to 12 digits without a leading 0 (documented for SO cards, Primus §1.4;
/// applied to every card, simulator-defined for the others).
pub fn check_card_pin(pin: &str) -> Result<()> {
    let ok = (8..=12).contains(&pin.len())
        && pin.bytes().all(|b| b.is_ascii_digit())
        && !pin.starts_with('0');
    if ok {
        Ok(())
    } else {
        Err(err(
            CKR_PIN_LEN_RANGE,
            "a card PIN is 8 to 12 digits and does not start with 0",
        ))
    }
}

/// A card as a lab file holds it: its kind, a name, the partition it belongs to (Partition SO
/// and Partition-Backup cards), its PIN's verifier and its attempt counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub kind: CardKind,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    pub pin: Verifier,
    pub attempts_left: u32,
}

/// Wrong PINs a card takes before it blocks (simulator-defined: the documents show a
/// countdown, e.g. "4 attempts left", without the start value).
pub const CARD_ATTEMPTS: u32 = 5;

impl Card {
    pub fn new(kind: CardKind, name: &str, pin: &str) -> Result<Card> {
        Ok(Card {
            kind,
            name: name.to_string(),
            partition: None,
            pin: Verifier::new(pin.as_bytes())?,
            attempts_left: CARD_ATTEMPTS,
        })
    }

    pub fn blocked(&self) -> bool {
        self.attempts_left == 0
    }

    /// Presents the card's PIN: the counter goes down on a wrong one and the card blocks at
    /// zero (`CKR_PIN_LOCKED`); a right one restores the counter.
    pub fn present(&mut self, pin: &str) -> Result<()> {
        if self.blocked() {
            return Err(err(
                CKR_PIN_LOCKED,
                format!("card {} is blocked", self.name),
            ));
        }
        if self.pin.matches(pin.as_bytes()) {
            self.attempts_left = CARD_ATTEMPTS;
            return Ok(());
        }
        self.attempts_left -= 1;
        if self.blocked() {
            Err(err(
                CKR_PIN_LOCKED,
                format!("wrong PIN: card {} is now blocked", self.name),
            ))
        } else {
            Err(err(
                CKR_PIN_INCORRECT,
                format!(
                    "wrong PIN for card {} ({} attempts left)",
                    self.name, self.attempts_left
                ),
            ))
        }
    }
}

/// A security-configuration change needs two different SO cards with their PINs (2-of-n;
/// Primus §1.4). Every card presented counts its attempt.
pub fn authorize_configuration_change(cards: &mut [(&mut Card, &str)]) -> Result<()> {
    let mut accepted: Vec<String> = Vec::new();
    for (card, pin) in cards.iter_mut() {
        if card.kind != CardKind::So {
            return Err(err(
                CKR_USER_TYPE_INVALID,
                format!("card {} is not an SO card", card.name),
            ));
        }
        card.present(pin)?;
        if !accepted.contains(&card.name) {
            accepted.push(card.name.clone());
        }
    }
    if accepted.len() < 2 {
        return Err(err(
            CKR_USER_NOT_LOGGED_IN,
            "a configuration change needs two different SO cards",
        ));
    }
    Ok(())
}
