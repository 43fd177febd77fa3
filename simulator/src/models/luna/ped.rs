//! The simulated Luna PED (PIN Entry Device) and its keys. A PED key is a small file holding
//! its colour and a random secret (simulator-defined format, JSON): blue for the SO (HSM SO
//! and Partition SO), black for the Crypto Officer (partition owner), gray for the Crypto User,
//! red for a cloning domain, orange for the Remote PED Vector (Luna §2.4). When a PED
//! partition prompts, the simulated PED answers with the key presented for that colour: the one
//! named in `HSMSIM_PED_KEYS` (`colour=path,colour=path`), else the lab's own key file for the
//! role. A key file that does not exist yet is created when a role is initialised (the PED
//! imprints a blank key).
use crate::base::error::{Result, err};
use cryptoki_sys::CK_USER_TYPE;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use crate::base::vendor_codes::CKR_PED_ERROR;

/// A PED key's colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    Blue,
    Black,
    Gray,
    Red,
    Orange,
}

impl Colour {
    pub fn name(self) -> &'static str {
        match self {
            Colour::Blue => "blue",
            Colour::Black => "black",
            Colour::Gray => "gray",
            Colour::Red => "red",
            Colour::Orange => "orange",
        }
    }

    fn parse(text: &str) -> Option<Colour> {
        [
            Colour::Blue,
            Colour::Black,
            Colour::Gray,
            Colour::Red,
            Colour::Orange,
        ]
        .into_iter()
        .find(|c| c.name() == text)
    }
}

/// A PED key as its file holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PedKey {
    pub colour: Colour,
    /// 32 random bytes, hex.
    pub secret: String,
}

fn io(path: &Path, what: &str, e: impl std::fmt::Display) -> crate::base::error::Error {
    err(
        cryptoki_sys::CKR_DEVICE_ERROR,
        format!("cannot {what} PED key {}: {e}", path.display()),
    )
}

impl PedKey {
    pub fn generate(colour: Colour) -> Result<PedKey> {
        let mut secret = [0u8; 32];
        crate::base::random::random_fill(&mut secret)?;
        Ok(PedKey {
            colour,
            secret: secret.iter().map(|b| format!("{b:02x}")).collect(),
        })
    }

    pub fn load(path: &Path) -> Result<PedKey> {
        let text = crate::base::files::read_to_string(path).map_err(|e| io(path, "read", e))?;
        serde_json::from_str(&text).map_err(|e| io(path, "parse", e))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            crate::base::files::create_private_dir_all(dir)
                .map_err(|e| io(path, "create the directory of", e))?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| io(path, "encode", e))?;
        crate::base::files::write_private(path, text.as_bytes()).map_err(|e| io(path, "write", e))
    }

    /// The key at `path`, created with a new secret if there is none (imprinting a blank key).
    pub fn load_or_create(path: &Path, colour: Colour) -> Result<PedKey> {
        if path.exists() {
            PedKey::load(path)
        } else {
            let key = PedKey::generate(colour)?;
            key.save(path)?;
            Ok(key)
        }
    }

    /// What the token checks: the secret's bytes.
    pub fn credential(&self) -> Vec<u8> {
        self.secret.as_bytes().to_vec()
    }
}

/// The keys presented to the PED through `HSMSIM_PED_KEYS` (`colour=path,...`).
pub fn presented_from_environment(colour: Colour) -> Result<Option<PathBuf>> {
    let Ok(text) = std::env::var("HSMSIM_PED_KEYS") else {
        return Ok(None);
    };
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (c, path) = part.split_once('=').ok_or_else(|| {
            err(
                cryptoki_sys::CKR_ARGUMENTS_BAD,
                format!("HSMSIM_PED_KEYS: \"{part}\" is not colour=path"),
            )
        })?;
        let c = Colour::parse(c.trim()).ok_or_else(|| {
            err(
                cryptoki_sys::CKR_ARGUMENTS_BAD,
                format!("HSMSIM_PED_KEYS: unknown colour \"{c}\" (blue, black, gray, red, orange)"),
            )
        })?;
        if c == colour {
            return Ok(Some(PathBuf::from(path.trim())));
        }
    }
    Ok(None)
}

/// What the simulated PED presents for `user`'s prompt: the key `HSMSIM_PED_KEYS` names for
/// its colour, else the lab's key file for the role (`lab_keys`). `imprint`: a missing key
/// file is created (a blank key imprinted when a role is initialised). No key:
/// `CKR_PED_ERROR`. A key of the wrong colour presents an empty credential (a wrong key: the
/// secret cannot match).
pub fn presented_credential(
    user: CK_USER_TYPE,
    lab_keys: &[(CK_USER_TYPE, PathBuf)],
    imprint: bool,
) -> Result<Vec<u8>> {
    let colour = crate::models::luna::ped_colour(user);
    let path = presented_from_environment(colour)?.or_else(|| {
        lab_keys
            .iter()
            .find(|(u, _)| *u == user)
            .map(|(_, p)| p.clone())
    });
    let Some(path) = path else {
        return Err(err(
            CKR_PED_ERROR,
            format!(
                "the PED waits for a {} key: none is presented (HSMSIM_PED_KEYS={}=path)",
                colour.name(),
                colour.name()
            ),
        ));
    };
    let key = if imprint {
        PedKey::load_or_create(&path, colour)?
    } else if path.exists() {
        PedKey::load(&path)?
    } else {
        return Err(err(
            CKR_PED_ERROR,
            format!("the presented PED key {} does not exist", path.display()),
        ));
    };
    if key.colour != colour {
        return Ok(Vec::new());
    }
    Ok(key.credential())
}

/// The red (cloning domain) key presented to the PED, if any (created if its file is missing).
pub fn presented_red_key() -> Result<Option<Vec<u8>>> {
    presented_from_environment(Colour::Red)?
        .map(|path| PedKey::load_or_create(&path, Colour::Red).map(|k| k.credential()))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_are_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ped/black.key");
        let a = PedKey::load_or_create(&path, Colour::Black).unwrap();
        let b = PedKey::load_or_create(&path, Colour::Black).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.secret.len(), 64);
        assert_ne!(a, PedKey::generate(Colour::Black).unwrap());
        std::fs::write(dir.path().join("bad.key"), "{").unwrap();
        assert!(PedKey::load(&dir.path().join("bad.key")).is_err());
    }
}
