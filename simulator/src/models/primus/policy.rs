//! A Primus partition's key semantics and security policy: keys are not extractable unless
//! asked and their usage flags false once any is given (Primus §1.6), and the policy on key
//! import, export and extract (Primus §1.7, §2.6).
use crate::base::attribute::Attributes;
use crate::base::error::{Result, err};
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};

pub use crate::base::vendor_codes::CKR_PRIMUS_KEY_IMPORT_NOT_ALLOWED;

/// The usage flags whose defaults Primus ties together.
const USAGE_FLAGS: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_SIGN,
    CKA_VERIFY,
    CKA_ENCRYPT,
    CKA_DECRYPT,
    CKA_WRAP,
    CKA_UNWRAP,
    CKA_DERIVE,
    CKA_SIGN_RECOVER,
    CKA_VERIFY_RECOVER,
];

/// A partition's security policy (Primus §1.7, §2.6): whether keys may be imported in clear
/// or by unwrapping, exported by wrapping, and have their value read. Defaults: all allowed
/// (simulator-defined).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityPolicy {
    pub allow_import: bool,
    pub allow_export: bool,
    pub allow_extract: bool,
}

impl Default for SecurityPolicy {
    fn default() -> Self {
        SecurityPolicy {
            allow_import: true,
            allow_export: true,
            allow_extract: true,
        }
    }
}

impl SecurityPolicy {
    /// Importing a secret or private key (in clear or unwrapped): Primus's documented
    /// `0x8000002A` when the policy forbids it.
    pub fn check_import(&self) -> Result<()> {
        if self.allow_import {
            Ok(())
        } else {
            Err(err(
                CKR_PRIMUS_KEY_IMPORT_NOT_ALLOWED,
                "the partition's security policy does not allow key import",
            ))
        }
    }

    /// Wrapping a key out: `CKR_KEY_NOT_WRAPPABLE` when the policy forbids export
    /// (simulator-defined code: Primus documents none).
    pub fn check_export(&self) -> Result<()> {
        if self.allow_export {
            Ok(())
        } else {
            Err(err(
                CKR_KEY_NOT_WRAPPABLE,
                "the partition's security policy does not allow key export",
            ))
        }
    }

    /// Whether a key's value may be read in clear (extract); otherwise it reads as sensitive
    /// (simulator-defined code `CKR_ATTRIBUTE_SENSITIVE`).
    pub fn allows_extract(&self) -> bool {
        self.allow_extract
    }
}

/// Primus's key defaults on a new secret or private key, applied after the standard rules:
/// not extractable unless the template asks; if the template names any usage flag, the usage
/// flags it does not name are false (Primus §1.6: provider 2.1.3 and later).
pub fn apply_key_defaults(template: &Attributes, attrs: &mut Attributes, class: CK_OBJECT_CLASS) {
    if !matches!(class, CKO_SECRET_KEY | CKO_PRIVATE_KEY | CKO_PUBLIC_KEY) {
        return;
    }
    if class != CKO_PUBLIC_KEY && !template.contains(CKA_EXTRACTABLE) {
        attrs.set_bool(CKA_EXTRACTABLE, false);
        attrs.set_bool(CKA_NEVER_EXTRACTABLE, attrs.flag(CKA_LOCAL, false));
    }
    if USAGE_FLAGS.iter().any(|t| template.contains(*t)) {
        for t in USAGE_FLAGS {
            if attrs.contains(*t) && !template.contains(*t) {
                attrs.set_bool(*t, false);
            }
        }
    }
}
