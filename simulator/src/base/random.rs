//! Random numbers for keys, nonces, salts and ids: aws-lc's generator (`SystemRandom`).
use crate::base::error::{Result, err};
use cryptoki_sys::CKR_FUNCTION_FAILED;

/// Fills `buf` with random bytes.
pub fn random_fill(buf: &mut [u8]) -> Result<()> {
    use aws_lc_rs::rand::SecureRandom;
    aws_lc_rs::rand::SystemRandom::new()
        .fill(buf)
        .map_err(|_| err(CKR_FUNCTION_FAILED, "the random generator failed"))
}

/// A random 64-bit number (token generations, serials).
pub fn random_u64() -> Result<u64> {
    let mut b = [0u8; 8];
    random_fill(&mut b)?;
    Ok(u64::from_ne_bytes(b))
}

/// A new token object's `CKA_UNIQUE_ID` (engine, Backup HSM restore, HA synchronisation): 64
/// random bits as 16 hex digits, unique in any lab (the store's primary key refuses a collision)
/// and short enough to be held inline (simulator-defined).
pub fn new_unique_id() -> Result<String> {
    let mut uid = [0u8; 8];
    random_fill(&mut uid)?;
    Ok(unique_id_of(uid))
}

/// The `CKA_UNIQUE_ID` made of 64 random bits already drawn (`new_unique_id`'s form).
pub fn unique_id_of(random: [u8; 8]) -> String {
    hex::encode(random)
}
