//! The smart cards of a Primus device (Primus §1.4): their kinds, PIN rule and attempt
//! counter, empty cards (no PIN yet: a Partition SO card before onboarding, a Partition-Backup
//! card before it is made a partition's), a Partition-Backup card's backup key pair, and the
//! two SO cards a security-configuration change needs.
use super::Verifier;
use crate::base::error::{Result, err};
use crate::base::secrets::seal::{aead_key, open_with, seal_with};
use aws_lc_rs::agreement::{PrivateKey, X25519};
use aws_lc_rs::encoding::AsBigEndian;
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

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

/// A card as the store holds it: its kind, a name, the partition it belongs to (Partition SO
/// and Partition-Backup cards), its PIN's verifier (`None`: an empty card, which has no PIN
/// and belongs to no partition yet), its attempt counter, and a Partition-Backup card's backup
/// key pair. Cards stored before empty cards and backup keys existed read unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub kind: CardKind,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<Verifier>,
    pub attempts_left: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_key: Option<CardBackupKey>,
}

/// The PBKDF2 cost of a card's sealed backup key (simulator-defined: the cost of the card PIN's
/// verifier; the card's attempt counter, not the KDF, is what stops guessing).
pub const CARD_KEY_ITERATIONS: u32 = crate::base::secrets::verifier::IMPLIED_ITERATIONS;

/// A Partition-Backup card's backup key pair (simulator-defined): X25519, the private key
/// sealed under the card PIN (PBKDF2-HMAC-SHA256 with a random salt at `iterations`, then
/// AES-256-GCM bound to the card's name and public key); the public key in clear, which the
/// device keeps per partition to encrypt backups to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardBackupKey {
    #[serde(with = "hex")]
    pub public: Vec<u8>,
    #[serde(with = "hex")]
    pub salt: Vec<u8>,
    pub iterations: u32,
    #[serde(with = "hex")]
    pub sealed_private: Vec<u8>,
}

impl CardBackupKey {
    /// A new key pair for card `card`, its private key sealed under `pin`.
    pub fn generate(card: &str, pin: &str) -> Result<CardBackupKey> {
        let private = PrivateKey::generate(&X25519)
            .map_err(|_| err(CKR_GENERAL_ERROR, "X25519 key generation failed"))?;
        let public = private
            .compute_public_key()
            .map_err(|_| err(CKR_GENERAL_ERROR, "X25519 public key failed"))?
            .as_ref()
            .to_vec();
        let seed: aws_lc_rs::encoding::Curve25519SeedBin<'static> = private
            .as_be_bytes()
            .map_err(|_| err(CKR_GENERAL_ERROR, "X25519 key export failed"))?;
        CardBackupKey::seal(card, pin, public, seed.as_ref())
    }

    fn seal(card: &str, pin: &str, public: Vec<u8>, private: &[u8]) -> Result<CardBackupKey> {
        let mut salt = vec![0u8; 16];
        crate::base::random::random_fill(&mut salt)?;
        let mut key = CardBackupKey {
            public,
            salt,
            iterations: CARD_KEY_ITERATIONS,
            sealed_private: Vec::new(),
        };
        key.sealed_private = seal_with(&key.kek(pin)?, &key.associated_data(card), private)?;
        Ok(key)
    }

    fn kek(&self, pin: &str) -> Result<aws_lc_rs::aead::LessSafeKey> {
        let mut kek = Zeroizing::new([0u8; 32]);
        crate::base::secrets::kdf::derive(
            pin.as_bytes(),
            &self.salt,
            self.iterations,
            &mut kek[..],
        )?;
        aead_key(&kek[..])
    }

    fn associated_data(&self, card: &str) -> Vec<u8> {
        let mut aad = b"hsmsim P-Backup card key 1\0".to_vec();
        aad.extend_from_slice(card.as_bytes());
        aad.push(0);
        aad.extend_from_slice(&self.public);
        aad
    }

    fn open_bytes(&self, card: &str, pin: &str) -> Result<Zeroizing<Vec<u8>>> {
        open_with(
            &self.kek(pin)?,
            &self.associated_data(card),
            &self.sealed_private,
        )
        .ok_or_else(|| {
            err(
                CKR_DEVICE_ERROR,
                format!("the backup key of card {card} does not open (damaged card)"),
            )
        })
    }

    /// The private key, opened with the card PIN (checked by the card's verifier first).
    pub fn open(&self, card: &str, pin: &str) -> Result<PrivateKey> {
        PrivateKey::from_private_key(&X25519, &self.open_bytes(card, pin)?).map_err(|_| {
            err(
                CKR_DEVICE_ERROR,
                format!("the backup key of card {card} is damaged"),
            )
        })
    }

    /// The same key pair sealed under a new PIN.
    pub fn resealed(&self, card: &str, pin: &str, new_pin: &str) -> Result<CardBackupKey> {
        let private = self.open_bytes(card, pin)?;
        CardBackupKey::seal(card, new_pin, self.public.clone(), &private)
    }

    /// A short name of the public key (hex of the first 8 bytes of its SHA-256): what a backup
    /// file's header records to name the card key it was encrypted to.
    pub fn fingerprint(&self) -> String {
        key_fingerprint(&self.public)
    }
}

/// `CardBackupKey::fingerprint` of a public key.
pub fn key_fingerprint(public: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, public);
    hex::encode(&d.as_ref()[..8])
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
            pin: Some(Verifier::new(pin.as_bytes())?),
            attempts_left: CARD_ATTEMPTS,
            backup_key: None,
        })
    }

    /// An empty card (no PIN, no partition): a Partition SO card before onboarding binds it, a
    /// Partition-Backup card before it is made a partition's. SO cards are never empty.
    pub fn empty(kind: CardKind, name: &str) -> Result<Card> {
        if !kind.per_partition() {
            return Err(err(
                CKR_ARGUMENTS_BAD,
                "an SO card is never empty: give it a PIN",
            ));
        }
        Ok(Card {
            kind,
            name: name.to_string(),
            partition: None,
            pin: None,
            attempts_left: CARD_ATTEMPTS,
            backup_key: None,
        })
    }

    /// The card has no PIN yet (and no partition).
    pub fn is_empty(&self) -> bool {
        self.pin.is_none()
    }

    /// Binds the card to `partition` with a new PIN (the card rule: 8 to 12 digits), its
    /// counter full.
    pub fn bind(&mut self, partition: &str, pin: &str) -> Result<()> {
        check_card_pin(pin)?;
        self.pin = Some(Verifier::new(pin.as_bytes())?);
        self.partition = Some(partition.to_string());
        self.attempts_left = CARD_ATTEMPTS;
        Ok(())
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
        let Some(verifier) = &self.pin else {
            return Err(err(
                CKR_USER_PIN_NOT_INITIALIZED,
                format!("card {} is empty: it has no PIN yet", self.name),
            ));
        };
        if verifier.matches(pin.as_bytes()) {
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
