//! The secrets kit: how PINs protect a token's key (`seal`: PIN-derived seals, sealed object
//! values).
pub mod seal;
