//! A partition user's setup password (Primus §1.4): its form, lifetime and check, kept only
//! as a verifier.
use super::{Deployment, Verifier};
use crate::base::error::{Result, err};
use serde::{Deserialize, Serialize};

pub use crate::base::vendor_codes::{
    CKR_PRIMUS_SETUP_PASSWORD_EXPIRED, CKR_PRIMUS_SETUP_PASSWORD_REJECTED,
};

/// A new device-generated password of the setup password's form, `XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`
/// (25 random characters of an alphabet without look-alikes: setup passwords, management
/// pairing passwords and backup passwords; the form of the latter two is simulator-defined).
pub fn grouped_password() -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut random = [0u8; 25];
    crate::base::random::random_fill(&mut random)?;
    let mut text = String::with_capacity(29);
    for (i, b) in random.iter().enumerate() {
        if i > 0 && i % 5 == 0 {
            text.push('-');
        }
        text.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
    }
    Ok(text)
}

/// A partition user's setup password: 29 characters `XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`, issued by
/// the SO, valid for a lifetime counted from issuance (Primus §1.4: on premises 72 hours,
/// CloudHSM 7 days; counting from issuance everywhere is simulator-defined).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupPassword {
    pub verifier: Verifier,
    pub issued_at: u64,
    pub lifetime_secs: u64,
}

impl SetupPassword {
    /// The documented lifetimes.
    pub fn lifetime(deployment: Deployment) -> u64 {
        match deployment {
            Deployment::OnPremises => 72 * 3600,
            Deployment::CloudHsm => 7 * 24 * 3600,
        }
    }

    /// Issues a new setup password at `now`; returns it (shown once) and what is kept.
    pub fn issue(deployment: Deployment, now: u64) -> Result<(String, SetupPassword)> {
        let text = grouped_password()?;
        let kept = SetupPassword {
            verifier: Verifier::new(text.as_bytes())?,
            issued_at: now,
            lifetime_secs: SetupPassword::lifetime(deployment),
        };
        Ok((text, kept))
    }

    /// Checks a presented setup password at `now`: expired (0x80005018) or rejected
    /// (0x80005017) otherwise.
    pub fn check(&self, presented: &str, now: u64) -> Result<()> {
        if now >= self.issued_at + self.lifetime_secs {
            return Err(err(
                CKR_PRIMUS_SETUP_PASSWORD_EXPIRED,
                "the setup password has expired: the SO issues a new one",
            ));
        }
        let well_formed = presented.len() == 29
            && presented
                .split('-')
                .all(|part| part.len() == 5 && part.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !well_formed || !self.verifier.matches(presented.as_bytes()) {
            return Err(err(
                CKR_PRIMUS_SETUP_PASSWORD_REJECTED,
                "the setup password is wrong",
            ));
        }
        Ok(())
    }

    /// `ppin -a`: a valid setup password fetches the permanent secret (returned once; its
    /// verifier is what the device keeps).
    pub fn fetch_permanent_secret(&self, presented: &str, now: u64) -> Result<(String, Verifier)> {
        self.check(presented, now)?;
        let mut secret = [0u8; 24];
        crate::base::random::random_fill(&mut secret)?;
        let text: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let verifier = Verifier::new(text.as_bytes())?;
        Ok((text, verifier))
    }
}
