//! The secrets kit: every way the simulator keeps or moves a secret. One password KDF (`kdf`:
//! PBKDF2-HMAC-SHA256 with a given salt, cost and length); one salted verifier (`verifier`:
//! Primus card PINs, setup passwords and permanent secrets, schema-1 PIN verifiers, and the
//! Luna cloning-domain verifier as its fixed-salt special case); how PINs protect a token's key
//! (`seal`: PIN-derived seals, sealed object values); and sealed transport blobs (`transport`:
//! what leaves a partition for another one of its cloning domain, or for a backup).
pub mod kdf;
pub mod seal;
pub mod transport;
pub mod verifier;
