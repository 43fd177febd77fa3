//! hsmsim: a software HSM that behaves like Thales Luna and Securosys Primus hardware.
//!
//! This crate is both the PKCS#11 module (`libhsmsim.so`, the `pkcs11` ABI layer) and a Rust
//! library. Its modules are layers, each using only the ones listed before it (a test,
//! `tests/layers.rs`, fails on an import that points up):
//!
//! 1. `base`: errors with their `CK_RV`, attribute values, the clock, files, random numbers, the
//!    secrets kit (one KDF, verifiers, PIN seals, transport blobs), the vendors' return-code and
//!    attribute numbers.
//! 2. `crypto`: the mechanisms on aws-lc-rs, one module per family; aws-lc-sys calls in `ffi/`.
//! 3. `object`: objects, their attribute rules, profile objects.
//! 4. `store`: the SQLite store, its connections and the token records it keeps.
//! 5. `models`: the vendor models (Luna, Primus, PED keys), what makes a partition behave like
//!    the vendor's.
//! 6. `lab`: lab files (schema, validation, the built-in labs) and what they define.
//! 7. `estate`: the lab's state and the operations on devices and partitions.
//! 8. `engine`: one process's PKCS#11 view: slots, sessions, logins, objects, operations.
//! 9. `pkcs11`: the C ABI (`C_*`, `CA_*`). Nothing imports it.
pub mod base;
pub mod crypto;
pub mod engine;
pub mod estate;
pub mod lab;
pub mod models;
pub mod object;
pub mod pkcs11;
pub mod store;
