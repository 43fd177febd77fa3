//! The numbers the vendors define, and nothing of their rules: Luna's and Primus's vendor return
//! codes with their names (so any layer can name a code it passes on), and the vendor attribute
//! types the object layer knows. The models (`crate::models`) re-export them beside the rules
//! that use them. "Luna §N" and "Primus §N" are sections of docs/sources.md.
use cryptoki_sys::*;

/// Luna's vendor return codes (`CKR_VENDOR_DEFINED` + n; Luna §1.6).
pub const CKR_CONTAINER_HANDLE_INVALID: CK_RV = CKR_VENDOR_DEFINED + 0x05;
pub const CKR_USER_NOT_AUTHORIZED: CK_RV = CKR_VENDOR_DEFINED + 0x1A;
pub const CKR_CONTAINER_OBJECT_STORAGE_FULL: CK_RV = CKR_VENDOR_DEFINED + 0x2C;
pub const CKR_OPERATION_NOT_ALLOWED: CK_RV = CKR_VENDOR_DEFINED + 0x30;
pub const CKR_CONFIG_CHANGE_ILLEGAL: CK_RV = CKR_VENDOR_DEFINED + 0x77;
pub const CKR_POLICY_ID_INVALID: CK_RV = CKR_VENDOR_DEFINED + 0x7B;
pub const CKR_CONFIG_ILLEGAL: CK_RV = CKR_VENDOR_DEFINED + 0x7C;
pub const CKR_CONFIG_FAILS_DEPENDENCIES: CK_RV = CKR_VENDOR_DEFINED + 0x7D;
/// A cloning-domain mismatch (documented name; no public header gives its value, so
/// `CKR_VENDOR_DEFINED + 0x0C`, unused between `CERTIFICATE_DATA_INVALID` 0x0B and
/// `WRAPPING_ERROR` 0x0D, is simulator-defined).
pub const CKR_CERTIFICATE_INVALID: CK_RV = CKR_VENDOR_DEFINED + 0x0C;
/// Adding a cloning domain a partition already has.
pub const CKR_CLONING_PARAMETER_ALREADY_EXISTS: CK_RV = CKR_VENDOR_DEFINED + 0x08;
/// A cloning domain the partition does not have.
pub const CKR_CLONING_PARAMETER_MISSING: CK_RV = CKR_VENDOR_DEFINED + 0x09;
/// A clone run in which at least one object failed (pycryptoki `defines.py`, Luna §1.6).
pub const CKR_FAILED_TO_CLONE_AN_OBJECT: CK_RV = CKR_VENDOR_DEFINED + 0x106;
/// An object a clone run never tried, because it stopped at an earlier failure (Luna §1.6).
pub const CKR_CLONE_NOT_ATTEMPTED: CK_RV = CKR_VENDOR_DEFINED + 0x107;
/// Cloning Protocol v4's session-negotiation codes (pycryptoki `defines.py`, Luna §1.6): a
/// negotiation step out of order or a message this negotiation did not produce, an unknown
/// (or closed) migration session id, and the protocol not available (simulator-defined use:
/// a partition older than firmware 7.8).
pub const CKR_SESSION_NEGOTIATION_INVALID: CK_RV = CKR_VENDOR_DEFINED + 0x10C;
pub const CKR_SESSION_ID_INVALID: CK_RV = CKR_VENDOR_DEFINED + 0x10D;
pub const CKR_PROTOCOL_DISABLED: CK_RV = CKR_VENDOR_DEFINED + 0x111;
/// A CPv4 object entry whose element type does not migrate (pycryptoki `defines.py`;
/// `test_cpv4.py` expects it per object).
pub const CKR_OBJECT_TYPE_INVALID: CK_RV = CKR_VENDOR_DEFINED + 0x112;

/// `CKA_OUID`: the 12-byte object unique id Luna keeps across clones.
pub const CKA_OUID: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED + 5;

/// Luna's `CKA_USAGE_COUNT` (how many operations a key has done) and `CKA_USAGE_LIMIT` (how
/// many it may do), pycryptoki `defines.py` (Luna §1.6).
pub const CKA_USAGE_COUNT: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED + 0x101;
pub const CKA_USAGE_LIMIT: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED + 0x200;

/// Luna's `CKR_KEY_NOT_ACTIVE`: a key whose `CKA_USAGE_LIMIT` is reached (documented,
/// `sdk/design/operation_count.htm`; value from pycryptoki `defines.py`).
pub const CKR_KEY_NOT_ACTIVE: CK_RV = CKR_VENDOR_DEFINED + 0x136;

/// Luna's `CKR_PED_ERROR`: answered when no key is presented for a prompt (simulator-defined
/// use of the code).
pub const CKR_PED_ERROR: CK_RV = CKR_VENDOR_DEFINED + 0x9E;

/// Primus's "key import not allowed" (Primus §1.7, documented).
pub const CKR_PRIMUS_KEY_IMPORT_NOT_ALLOWED: CK_RV = CKR_VENDOR_DEFINED + 0x2A;

/// Primus's "key not found" (Primus §1.7, documented).
pub const CKR_PRIMUS_KEY_NOT_FOUND: CK_RV = CKR_VENDOR_DEFINED + 0x12;

/// Primus's "setup password rejected" and "setup password expired" (Primus §1.7).
pub const CKR_PRIMUS_SETUP_PASSWORD_REJECTED: CK_RV = CKR_VENDOR_DEFINED + 0x5017;
pub const CKR_PRIMUS_SETUP_PASSWORD_EXPIRED: CK_RV = CKR_VENDOR_DEFINED + 0x5018;

/// A simulator-defined vendor attribute holding an object's HSM-internal name (what JCE and
/// Primus Tools address it by). Read-only; set on every Primus object that has a label.
pub const CKA_HSMSIM_PRIMUS_NAME: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED + 0x5350_0001;

/// The vendor `CKR_*` names of the vendor-defined codes the simulator returns. Luna's and
/// Primus's ranges overlap only at 0x8000002A (Luna `HSM_STORAGE_FULL`, which the simulator
/// never returns; Primus's key-import refusal, which it does), so one table serves both.
pub const VENDOR_RV_NAMES: &[(CK_RV, &str)] = &[
    (
        CKR_CLONING_PARAMETER_ALREADY_EXISTS,
        "CKR_CLONING_PARAMETER_ALREADY_EXISTS",
    ),
    (
        CKR_CLONING_PARAMETER_MISSING,
        "CKR_CLONING_PARAMETER_MISSING",
    ),
    (CKR_CERTIFICATE_INVALID, "CKR_CERTIFICATE_INVALID"),
    (
        CKR_FAILED_TO_CLONE_AN_OBJECT,
        "CKR_FAILED_TO_CLONE_AN_OBJECT",
    ),
    (CKR_CLONE_NOT_ATTEMPTED, "CKR_CLONE_NOT_ATTEMPTED"),
    (
        CKR_SESSION_NEGOTIATION_INVALID,
        "CKR_SESSION_NEGOTIATION_INVALID",
    ),
    (CKR_SESSION_ID_INVALID, "CKR_SESSION_ID_INVALID"),
    (CKR_PROTOCOL_DISABLED, "CKR_PROTOCOL_DISABLED"),
    (CKR_OBJECT_TYPE_INVALID, "CKR_OBJECT_TYPE_INVALID"),
    (CKR_CONTAINER_HANDLE_INVALID, "CKR_CONTAINER_HANDLE_INVALID"),
    (CKR_USER_NOT_AUTHORIZED, "CKR_USER_NOT_AUTHORIZED"),
    (
        CKR_CONTAINER_OBJECT_STORAGE_FULL,
        "CKR_CONTAINER_OBJECT_STORAGE_FULL",
    ),
    (CKR_OPERATION_NOT_ALLOWED, "CKR_OPERATION_NOT_ALLOWED"),
    (CKR_CONFIG_CHANGE_ILLEGAL, "CKR_CONFIG_CHANGE_ILLEGAL"),
    (CKR_POLICY_ID_INVALID, "CKR_POLICY_ID_INVALID"),
    (CKR_CONFIG_ILLEGAL, "CKR_CONFIG_ILLEGAL"),
    (
        CKR_CONFIG_FAILS_DEPENDENCIES,
        "CKR_CONFIG_FAILS_DEPENDENCIES",
    ),
    (CKR_PED_ERROR, "CKR_PED_ERROR"),
    (CKR_KEY_NOT_ACTIVE, "CKR_KEY_NOT_ACTIVE"),
    (
        CKR_PRIMUS_KEY_IMPORT_NOT_ALLOWED,
        "CKR_PRIMUS_KEY_IMPORT_NOT_ALLOWED",
    ),
    (CKR_PRIMUS_KEY_NOT_FOUND, "CKR_PRIMUS_KEY_NOT_FOUND"),
    (
        CKR_PRIMUS_SETUP_PASSWORD_REJECTED,
        "CKR_PRIMUS_SETUP_PASSWORD_REJECTED",
    ),
    (
        CKR_PRIMUS_SETUP_PASSWORD_EXPIRED,
        "CKR_PRIMUS_SETUP_PASSWORD_EXPIRED",
    ),
];

/// The vendor name of a vendor-defined return value, if the simulator returns it.
pub fn vendor_rv_name(rv: CK_RV) -> Option<&'static str> {
    VENDOR_RV_NAMES
        .iter()
        .find(|(code, _)| *code == rv)
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_codes_have_one_name_each() {
        let mut codes: Vec<CK_RV> = VENDOR_RV_NAMES.iter().map(|(c, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), VENDOR_RV_NAMES.len());
        assert_eq!(
            crate::base::error::rv_name(CKR_CONFIG_FAILS_DEPENDENCIES),
            "CKR_CONFIG_FAILS_DEPENDENCIES"
        );
        assert_eq!(
            crate::base::error::rv_name(CKR_VENDOR_DEFINED + 0x4242),
            "CKR_VENDOR_DEFINED"
        );
    }
}
