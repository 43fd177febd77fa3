//! hsmsim: a software HSM that behaves like Thales Luna and Securosys Primus hardware.
//!
//! This crate is both the PKCS#11 module (`libhsmsim.so`, the `pkcs11` ABI layer) and a Rust
//! library: the engine (slots, tokens, sessions, objects), the mechanisms on aws-lc-rs, and the
//! persistent store.
pub mod attribute;
pub mod clock;
pub mod connection;
pub mod engine;
pub mod error;
pub mod files;
pub mod lab;
pub mod lab_state;
pub mod mechanisms;
pub mod object;
pub mod pkcs11;
pub mod primus_state;
pub mod seal;
pub mod store;
pub mod token;
pub mod vendor;
