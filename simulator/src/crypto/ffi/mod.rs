//! The calls into aws-lc's C API (`aws-lc-sys`) that aws-lc-rs does not offer: big numbers for
//! all of them (`bignum`), arbitrary EC groups and raw point/scalar operations (`ec`), RSA keys
//! from components, any-size key generation and PKCS#8 (`rsa`), DSA (`dsa`), finite-field
//! Diffie-Hellman (`dh`), AES-GCM with any IV and tag length and 192-bit key wrap (`aes`), and
//! ML-DSA with context / deterministic / pre-hash signing and ML-KEM seeds (`pqc`).
//! Every `unsafe` block and every `aws_lc_sys` call of the crypto layer lives in this folder;
//! the types it hands out are safe to use.
use aws_lc_sys as lc;

pub(crate) mod aes;
pub(crate) mod bignum;
pub(crate) mod dh;
pub(crate) mod dsa;
pub(crate) mod ec;
pub(crate) mod pqc;
pub(crate) mod rsa;

/// Clears aws-lc's per-thread error queue after a failed call, so stale errors never leak into
/// unrelated code running on the same thread.
fn clear_errors() {
    // SAFETY: ERR_clear_error only touches the calling thread's error queue.
    unsafe { lc::ERR_clear_error() }
}

/// `None` after clearing the error queue.
fn fail<T>() -> Option<T> {
    clear_errors();
    None
}
