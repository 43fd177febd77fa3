//! The secrets kit's one password KDF: PBKDF2-HMAC-SHA256 (aws-lc-rs), parameterised by salt,
//! iterations and output length. PIN seals, verifiers and the cloning-domain verifier all derive
//! through it (simulator-defined choice: PBKDF2 is the FIPS 140 (SP 800-132) password KDF of
//! the simulated HSMs' world, and aws-lc-rs has it).
use crate::base::error::{Result, err};
use aws_lc_rs::pbkdf2;
use cryptoki_sys::CKR_DEVICE_ERROR;
use std::num::NonZeroU32;

/// Fills `out` with PBKDF2-HMAC-SHA256 of `secret` under `salt` at `iterations`. Zero
/// iterations (only a damaged record has them) are `CKR_DEVICE_ERROR`.
pub fn derive(secret: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) -> Result<()> {
    let iterations = NonZeroU32::new(iterations)
        .ok_or_else(|| err(CKR_DEVICE_ERROR, "a stored secret has zero KDF iterations"))?;
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, salt, secret, out);
    Ok(())
}

/// Whether `expected` is what `derive` makes of `secret` (compared in constant time); false for
/// zero iterations.
pub fn verify(secret: &[u8], salt: &[u8], iterations: u32, expected: &[u8]) -> bool {
    let Some(iterations) = NonZeroU32::new(iterations) else {
        return false;
    };
    pbkdf2::verify(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        secret,
        expected,
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7914 §11's PBKDF2-HMAC-SHA256 vector (the first 32 bytes of it).
    #[test]
    fn the_kdf_is_pbkdf2_hmac_sha256() {
        let mut out = [0u8; 32];
        derive(b"passwd", b"salt", 1, &mut out).unwrap();
        assert_eq!(out[..8], [0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f]);
        assert!(verify(b"passwd", b"salt", 1, &out));
        assert!(!verify(b"passwd", b"salt", 2, &out));
        assert!(!verify(b"passwd", b"salt", 0, &out));
        assert_eq!(
            derive(b"passwd", b"salt", 0, &mut out).unwrap_err().rv,
            CKR_DEVICE_ERROR
        );
    }
}
