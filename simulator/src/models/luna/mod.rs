//! The Thales Luna model, by topic: `device` (kinds, firmware and eras, authentication, HSM
//! policies in force, FIPS mode, names), `roles` (vendor user types, who initialises whom),
//! `login` (PED colours, failed-login rules, activation across restarts), `policies` (HSM and
//! partition policy elements and changes), `partition` (a partition's persisted state and
//! version), `domains` (cloning domains), `cloning` (whether and how objects
//! clone between two partitions), `backup` (the Backup HSM's rules: backup and restore),
//! `usage` (key usage limits and counts), `ca` (the answers to Luna's `CA_*` calls) and `ped`
//! (the simulated PED and its keys). Everything
//! public is re-exported here, so `crate::models::luna::X` names it. Sources:
//! docs/sources.md, "Luna" (pycryptoki `defines.py`, thalesdocs.com); choices the documents
//! leave open are marked "simulator-defined".
mod backup;
pub mod ca;
mod cloning;
mod device;
mod domains;
mod ha;
mod login;
mod partition;
pub mod ped;
mod policies;
mod roles;
mod usage;

pub use backup::*;
pub use cloning::*;
pub use device::*;
pub use domains::*;
pub use ha::*;
pub use login::*;
pub use partition::*;
pub use policies::*;
pub use roles::*;
pub use usage::*;

pub use crate::base::vendor_codes::{
    CKR_CERTIFICATE_INVALID, CKR_CLONE_NOT_ATTEMPTED, CKR_CLONING_PARAMETER_ALREADY_EXISTS,
    CKR_CLONING_PARAMETER_MISSING, CKR_CONFIG_CHANGE_ILLEGAL, CKR_CONFIG_FAILS_DEPENDENCIES,
    CKR_CONFIG_ILLEGAL, CKR_CONTAINER_HANDLE_INVALID, CKR_CONTAINER_OBJECT_STORAGE_FULL,
    CKR_FAILED_TO_CLONE_AN_OBJECT, CKR_OBJECT_TYPE_INVALID, CKR_OPERATION_NOT_ALLOWED,
    CKR_POLICY_ID_INVALID, CKR_PROTOCOL_DISABLED, CKR_SESSION_ID_INVALID,
    CKR_SESSION_NEGOTIATION_INVALID, CKR_USER_NOT_AUTHORIZED,
};

pub use crate::base::vendor_codes::CKA_OUID;

#[cfg(test)]
mod tests;
