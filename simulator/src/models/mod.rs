//! Vendor models: what makes a token behave like a vendor's partition rather than a plain soft
//! token. The engine asks the slot's `TokenModel` (the vendor-model interface) and never
//! names a vendor; the model's persistent part (`PartitionState`) lives in the token record.
//! This file holds the model itself, its persisted state and the device it belongs to; the
//! questions the engine asks are answered by topic: `roles` (roles, PINs, who sets whose),
//! `lockout` (failed-login rules, timed lockouts, the login throttle), `credential` (checking a
//! role's credential for any login: seal opened, attempt counted, consequence), `login` (PED prompts,
//! activation, zeroise reports), `objects` (object rights, key rules, curves, mechanisms,
//! object identity and names), `token` (token identity, initialisation, restart, device-wide
//! state). The vendors' own rules live in `luna/` and `primus/`. "Luna §N" and "Primus §N" in
//! comments here and in the engine are sections of docs/sources.md, which names the vendors'
//! public documents each rests on.
pub mod ccc;
mod credential;
mod lockout;
mod login;
pub mod luna;
mod objects;
pub mod primus;
mod roles;
mod token;

pub use credential::CredentialCheck;
pub use lockout::{Consequence, FailedLoginRule, LoginAttempt};
pub use token::InitOptions;

/// The Luna model's `CA_*` answers and its PED, by their paths before the Luna folder.
pub use luna::{ca as luna_ca, ped};

use crate::store::records::{TokenRecord, VendorState};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How a slot's token behaves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TokenModel {
    /// A plain PKCS#11 soft token.
    #[default]
    Soft,
    /// A partition of a Luna device.
    Luna(Arc<luna::Device>),
    /// A partition of a Securosys Primus device (on premises or CloudHSM).
    Primus(Arc<primus::Device>),
}

/// A partition's vendor state, persisted in its token record (externally tagged: serde's
/// internally tagged enums cannot read the integer map keys of the policies).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PartitionState {
    Luna(luna::PartitionState),
    Primus(primus::SecurityPolicy),
}

impl PartitionState {
    /// The vendor state a token record holds, decoded (once per loaded record).
    pub fn of(record: &TokenRecord) -> Option<Arc<PartitionState>> {
        record.vendor.as_ref()?.decode::<PartitionState>()
    }

    /// The form a token record stores.
    pub fn stored(self) -> VendorState {
        VendorState::encode(self)
    }
}

impl TokenModel {
    /// The vendor state a newly initialised partition starts with.
    pub fn initial_state(&self) -> Option<PartitionState> {
        match self {
            TokenModel::Soft => None,
            TokenModel::Luna(_) => Some(PartitionState::Luna(luna::PartitionState::default())),
            TokenModel::Primus(_) => {
                Some(PartitionState::Primus(primus::SecurityPolicy::default()))
            }
        }
    }

    pub fn primus(&self) -> Option<&primus::Device> {
        match self {
            TokenModel::Primus(d) => Some(d),
            _ => None,
        }
    }

    pub fn luna(&self) -> Option<&luna::Device> {
        match self {
            TokenModel::Luna(d) => Some(d),
            _ => None,
        }
    }

    /// The name of the device whose partition this is (none for a plain soft token).
    pub fn device_name(&self) -> Option<&str> {
        match self {
            TokenModel::Luna(d) => Some(&d.name),
            TokenModel::Primus(d) => Some(&d.name),
            TokenModel::Soft => None,
        }
    }
}
