//! The Securosys Primus model, by topic: `provider` (what the PKCS#11 provider presents:
//! identity, PIN lengths, mechanisms, curves; Primus §1.3, §1.5), `device` (deployment,
//! licences, Master/Clone, serials; §2.1), `decanus` (the Decanus terminal and the
//! partition-backup preconditions; §2.3), `policy` (key defaults and the partition security
//! policy; §1.6, §1.7), `naming` (HSM-internal key names; §1.6), `setup_password` and `cards`
//! (credentials; §1.4). The login throttle (§1.4) is the base layer's `Throttle`. Everything
//! public is re-exported here, so `crate::models::primus::X` names it. Sources:
//! docs/sources.md, "Primus" (docs.securosys.com pages); choices the documents leave open are
//! marked "simulator-defined".
mod cards;
mod decanus;
mod device;
mod naming;
mod policy;
mod provider;
mod setup_password;

pub use cards::*;
pub use decanus::*;
pub use device::*;
pub use naming::*;
pub use policy::*;
pub use provider::*;
pub use setup_password::*;

pub use crate::base::throttle::{Throttle, ThrottleRule};

/// Cards' PINs, setup passwords and permanent secrets are kept only as the secrets kit's salted
/// verifiers (at its implied cost, which their stored form does not record).
pub use crate::base::secrets::verifier::Verifier;

#[cfg(test)]
mod tests;
