//! Luna's cloning domains (Luna §2.3, §3.1): one per partition before 7.8, several with one
//! primary from 7.8 ("Extended Domain Management"); whether two partitions share one for
//! cloning, and what a partition stores of a domain (a verifier, never the domain in clear).
use super::{
    CKR_CERTIFICATE_INVALID, CKR_CLONING_PARAMETER_ALREADY_EXISTS, CKR_CLONING_PARAMETER_MISSING,
    CKR_OPERATION_NOT_ALLOWED, Device, Era, Firmware, PartitionState,
};
use crate::base::error::{Result, err};

/// Cloning domains (Luna §2.3, §3.1): one per partition before 7.8; from 7.8 several, one
/// of them primary.
impl PartitionState {
    /// Every domain verifier, the primary first.
    pub fn domains(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.domain.iter().chain(self.other_domains.iter())
    }

    pub fn has_domain(&self, verifier: &[u8]) -> bool {
        self.domains().any(|d| d.as_slice() == verifier)
    }

    /// Adds a domain (7.8+ only; a partition without one gets it as its primary).
    pub fn add_domain(&mut self, device: &Device, verifier: Vec<u8>) -> Result<()> {
        if self.has_domain(&verifier) {
            return Err(err(
                CKR_CLONING_PARAMETER_ALREADY_EXISTS,
                "the partition already has this cloning domain",
            ));
        }
        if self.domain.is_none() {
            self.domain = Some(verifier);
            return Ok(());
        }
        if device.firmware.era() < Era::Luna78 {
            return Err(err(
                CKR_OPERATION_NOT_ALLOWED,
                format!(
                    "firmware {} partitions have one cloning domain; several need 7.8 or later",
                    device.firmware
                ),
            ));
        }
        self.other_domains.push(verifier);
        Ok(())
    }

    /// Makes one of the partition's domains the primary one.
    pub fn set_primary_domain(&mut self, verifier: &[u8]) -> Result<()> {
        let Some(i) = self
            .other_domains
            .iter()
            .position(|d| d.as_slice() == verifier)
        else {
            return if self.domain.as_deref() == Some(verifier) {
                Ok(())
            } else {
                Err(err(
                    CKR_CLONING_PARAMETER_MISSING,
                    "the partition has no such cloning domain",
                ))
            };
        };
        let new = self.other_domains.remove(i);
        if let Some(old) = self.domain.replace(new) {
            self.other_domains.insert(0, old);
        }
        Ok(())
    }

    /// Removes a domain that is not the primary one (the primary stays: simulator-defined,
    /// choose another primary first).
    pub fn remove_domain(&mut self, verifier: &[u8]) -> Result<()> {
        if self.domain.as_deref() == Some(verifier) {
            return Err(err(
                CKR_OPERATION_NOT_ALLOWED,
                "the primary cloning domain cannot be removed; make another domain primary first",
            ));
        }
        let before = self.other_domains.len();
        self.other_domains.retain(|d| d.as_slice() != verifier);
        if self.other_domains.len() == before {
            return Err(err(
                CKR_CLONING_PARAMETER_MISSING,
                "the partition has no such cloning domain",
            ));
        }
        Ok(())
    }
}

/// Whether objects may be cloned between two partitions as far as their cloning domains go:
/// two 7.8+ partitions need any domain in common; when one side is older than 7.8, the
/// shared domain must be the 7.8+ side's *primary* one (documented, 7 `migration.htm`);
/// otherwise the domains are equal. A mismatch is `CKR_CERTIFICATE_INVALID` (Luna §3.2).
pub fn check_shared_domain(
    a: (&PartitionState, Firmware),
    b: (&PartitionState, Firmware),
) -> Result<()> {
    let modern = |fw: Firmware| fw.era() >= Era::Luna78;
    let shared = if modern(a.1) && modern(b.1) {
        a.0.domains().any(|d| b.0.has_domain(d))
    } else {
        a.0.domain.is_some() && a.0.domain == b.0.domain
    };
    if shared {
        return Ok(());
    }
    let hint = match (modern(a.1), modern(b.1)) {
        (true, false) if b.0.domain.as_ref().is_some_and(|d| a.0.has_domain(d)) => {
            " (the 7.8+ side has the domain, but not as its primary one)"
        }
        (false, true) if a.0.domain.as_ref().is_some_and(|d| b.0.has_domain(d)) => {
            " (the 7.8+ side has the domain, but not as its primary one)"
        }
        _ => "",
    };
    Err(err(
        CKR_CERTIFICATE_INVALID,
        format!("the partitions do not share a cloning domain{hint}"),
    ))
}

/// What a partition stores of its cloning domain: the secrets kit's cloning-domain verifier
/// (its KDF with a fixed, public salt), so that two partitions can be compared without the
/// domain in clear (simulator-defined).
pub use crate::base::secrets::verifier::cloning_domain_verifier as domain_verifier;
