//! The calls into aws-lc's C API (`aws-lc-sys`) that aws-lc-rs does not offer: arbitrary EC
//! groups and raw point/scalar operations (`ec`), RSA keys from components, any-size key
//! generation and PKCS#8 (`rsa`). Every `unsafe` block of the crypto layer lives in this folder;
//! the types it hands out are safe to use.
pub(crate) mod ec;
pub(crate) mod rsa;
