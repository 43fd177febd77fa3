//! The PKCS#11 names the XML representation writes without their prefix (`SHA512` for
//! `CKM_SHA512`, `TOKEN_PRESENT` for `CKF_TOKEN_PRESENT`), by context, and the numbers and
//! flag sets the representation allows (decimal, `0x` hex, `UnavailableInformation`,
//! `EffectivelyInfinite`, flags joined by `|` or blanks).
use cryptoki_sys::*;

/// Mechanism types (`CKM_`).
pub const MECHANISMS: &[(&str, CK_ULONG)] = &[
    ("RSA_PKCS_KEY_PAIR_GEN", CKM_RSA_PKCS_KEY_PAIR_GEN),
    ("RSA_PKCS", CKM_RSA_PKCS),
    ("RSA_X_509", CKM_RSA_X_509),
    ("RSA_PKCS_OAEP", CKM_RSA_PKCS_OAEP),
    ("RSA_PKCS_PSS", CKM_RSA_PKCS_PSS),
    ("SHA1_RSA_PKCS", CKM_SHA1_RSA_PKCS),
    ("SHA256_RSA_PKCS", CKM_SHA256_RSA_PKCS),
    ("SHA384_RSA_PKCS", CKM_SHA384_RSA_PKCS),
    ("SHA512_RSA_PKCS", CKM_SHA512_RSA_PKCS),
    ("SHA256_RSA_PKCS_PSS", CKM_SHA256_RSA_PKCS_PSS),
    ("SHA_1", CKM_SHA_1),
    ("SHA224", CKM_SHA224),
    ("SHA256", CKM_SHA256),
    ("SHA384", CKM_SHA384),
    ("SHA512", CKM_SHA512),
    ("EC_KEY_PAIR_GEN", CKM_EC_KEY_PAIR_GEN),
    ("ECDSA", CKM_ECDSA),
    ("ECDSA_SHA256", CKM_ECDSA_SHA256),
    ("AES_KEY_GEN", CKM_AES_KEY_GEN),
    ("AES_CBC", CKM_AES_CBC),
    ("AES_CBC_PAD", CKM_AES_CBC_PAD),
    ("AES_GCM", CKM_AES_GCM),
];

/// Flags of `CK_SLOT_INFO`.
pub const SLOT_FLAGS: &[(&str, CK_ULONG)] = &[
    ("TOKEN_PRESENT", CKF_TOKEN_PRESENT),
    ("REMOVABLE_DEVICE", CKF_REMOVABLE_DEVICE),
    ("HW_SLOT", CKF_HW_SLOT),
];

/// Flags of `CK_TOKEN_INFO`.
pub const TOKEN_FLAGS: &[(&str, CK_ULONG)] = &[
    ("RNG", CKF_RNG),
    ("WRITE_PROTECTED", CKF_WRITE_PROTECTED),
    ("LOGIN_REQUIRED", CKF_LOGIN_REQUIRED),
    ("USER_PIN_INITIALIZED", CKF_USER_PIN_INITIALIZED),
    ("RESTORE_KEY_NOT_NEEDED", CKF_RESTORE_KEY_NOT_NEEDED),
    ("CLOCK_ON_TOKEN", CKF_CLOCK_ON_TOKEN),
    (
        "PROTECTED_AUTHENTICATION_PATH",
        CKF_PROTECTED_AUTHENTICATION_PATH,
    ),
    ("DUAL_CRYPTO_OPERATIONS", CKF_DUAL_CRYPTO_OPERATIONS),
    ("TOKEN_INITIALIZED", CKF_TOKEN_INITIALIZED),
    ("SECONDARY_AUTHENTICATION", CKF_SECONDARY_AUTHENTICATION),
    ("USER_PIN_COUNT_LOW", CKF_USER_PIN_COUNT_LOW),
    ("USER_PIN_FINAL_TRY", CKF_USER_PIN_FINAL_TRY),
    ("USER_PIN_LOCKED", CKF_USER_PIN_LOCKED),
    ("USER_PIN_TO_BE_CHANGED", CKF_USER_PIN_TO_BE_CHANGED),
    ("SO_PIN_COUNT_LOW", CKF_SO_PIN_COUNT_LOW),
    ("SO_PIN_FINAL_TRY", CKF_SO_PIN_FINAL_TRY),
    ("SO_PIN_LOCKED", CKF_SO_PIN_LOCKED),
    ("SO_PIN_TO_BE_CHANGED", CKF_SO_PIN_TO_BE_CHANGED),
    ("ERROR_STATE", CKF_ERROR_STATE),
];

/// Flags of `CK_MECHANISM_INFO`.
pub const MECHANISM_FLAGS: &[(&str, CK_ULONG)] = &[
    ("HW", CKF_HW),
    ("ENCRYPT", CKF_ENCRYPT),
    ("DECRYPT", CKF_DECRYPT),
    ("DIGEST", CKF_DIGEST),
    ("SIGN", CKF_SIGN),
    ("SIGN_RECOVER", CKF_SIGN_RECOVER),
    ("VERIFY", CKF_VERIFY),
    ("VERIFY_RECOVER", CKF_VERIFY_RECOVER),
    ("GENERATE", CKF_GENERATE),
    ("GENERATE_KEY_PAIR", CKF_GENERATE_KEY_PAIR),
    ("WRAP", CKF_WRAP),
    ("UNWRAP", CKF_UNWRAP),
    ("DERIVE", CKF_DERIVE),
    ("EC_F_P", CKF_EC_F_P),
    ("EC_NAMEDCURVE", CKF_EC_NAMEDCURVE),
    ("EC_UNCOMPRESS", CKF_EC_UNCOMPRESS),
    ("EC_COMPRESS", CKF_EC_COMPRESS),
];

/// Flags of `C_OpenSession`.
pub const SESSION_FLAGS: &[(&str, CK_ULONG)] = &[
    ("RW_SESSION", CKF_RW_SESSION),
    ("SERIAL_SESSION", CKF_SERIAL_SESSION),
];

/// User types (`CKU_`).
pub const USER_TYPES: &[(&str, CK_ULONG)] = &[
    ("SO", CKU_SO),
    ("USER", CKU_USER),
    ("CONTEXT_SPECIFIC", CKU_CONTEXT_SPECIFIC),
];

/// Object classes (`CKO_`).
pub const CLASSES: &[(&str, CK_ULONG)] = &[
    ("DATA", CKO_DATA),
    ("CERTIFICATE", CKO_CERTIFICATE),
    ("PUBLIC_KEY", CKO_PUBLIC_KEY),
    ("PRIVATE_KEY", CKO_PRIVATE_KEY),
    ("SECRET_KEY", CKO_SECRET_KEY),
];

/// How an attribute's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    /// A `CK_ULONG`, by name in `names` or as a number.
    Ulong(&'static [(&'static str, CK_ULONG)]),
    /// Text as written (the files write text plain, not hex).
    Text,
    /// Bytes in hex.
    Bytes,
}

/// Attribute types (`CKA_`) and how their values are written.
pub const ATTRIBUTES: &[(&str, CK_ULONG, Kind)] = &[
    ("CLASS", CKA_CLASS, Kind::Ulong(CLASSES)),
    ("TOKEN", CKA_TOKEN, Kind::Bool),
    ("PRIVATE", CKA_PRIVATE, Kind::Bool),
    ("LABEL", CKA_LABEL, Kind::Text),
    ("VALUE", CKA_VALUE, Kind::Bytes),
    ("ID", CKA_ID, Kind::Bytes),
    ("KEY_TYPE", CKA_KEY_TYPE, Kind::Ulong(&[])),
    ("CERTIFICATE_TYPE", CKA_CERTIFICATE_TYPE, Kind::Ulong(&[])),
    ("MODULUS", CKA_MODULUS, Kind::Bytes),
    ("MODULUS_BITS", CKA_MODULUS_BITS, Kind::Ulong(&[])),
    ("PUBLIC_EXPONENT", CKA_PUBLIC_EXPONENT, Kind::Bytes),
    ("SUBJECT", CKA_SUBJECT, Kind::Bytes),
    ("ISSUER", CKA_ISSUER, Kind::Bytes),
    ("SERIAL_NUMBER", CKA_SERIAL_NUMBER, Kind::Bytes),
    ("SIGN", CKA_SIGN, Kind::Bool),
    ("VERIFY", CKA_VERIFY, Kind::Bool),
    ("EC_POINT", CKA_EC_POINT, Kind::Bytes),
    ("UNIQUE_ID", CKA_UNIQUE_ID, Kind::Text),
];

/// An attribute type by its XML name.
pub fn attribute(name: &str) -> Result<(CK_ULONG, Kind), String> {
    ATTRIBUTES
        .iter()
        .find(|(n, _, _)| *n == name.trim())
        .map(|(_, t, k)| (*t, *k))
        .ok_or_else(|| format!("the attribute type {name:?} is not one this replayer knows"))
}

/// A `CK_ULONG` as the representation writes it: a name of `names`, decimal, `0x` hex,
/// `UnavailableInformation` or `EffectivelyInfinite`.
pub fn ulong(text: &str, names: &[(&str, CK_ULONG)]) -> Result<CK_ULONG, String> {
    let t = text.trim();
    if let Some((_, v)) = names.iter().find(|(n, _)| *n == t) {
        return Ok(*v);
    }
    match t {
        "UnavailableInformation" => return Ok(CK_UNAVAILABLE_INFORMATION),
        "EffectivelyInfinite" => return Ok(CK_EFFECTIVELY_INFINITE),
        _ => {}
    }
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => CK_ULONG::from_str_radix(hex, 16),
        None => t.parse(),
    };
    parsed.map_err(|_| format!("{t:?} is neither a number nor a name this replayer knows"))
}

/// A flag set: names of `names` (or numbers) joined by `|` or blanks.
pub fn flags(text: &str, names: &[(&str, CK_ULONG)]) -> Result<CK_ULONG, String> {
    text.split(|c: char| c == '|' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .try_fold(0, |acc, part| Ok(acc | ulong(part, names)?))
}

/// The names of the flags set in `value` (unknown bits in hex).
pub fn flag_names(value: CK_ULONG, names: &[(&str, CK_ULONG)]) -> String {
    let mut parts: Vec<String> = names
        .iter()
        .filter(|(_, f)| *f != 0 && value & f == *f)
        .map(|(n, _)| n.to_string())
        .collect();
    let known = names.iter().fold(0, |acc, (_, f)| acc | f);
    if value & !known != 0 {
        parts.push(format!("0x{:X}", value & !known));
    }
    if parts.is_empty() {
        "0x0".into()
    } else {
        parts.join("|")
    }
}

/// A boolean as written: `true`/`false` in any case.
pub fn boolean(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("{other:?} is not a boolean")),
    }
}

/// The name of a mechanism type (hex when unknown).
pub fn mechanism_name(value: CK_ULONG) -> String {
    MECHANISMS
        .iter()
        .find(|(_, v)| *v == value)
        .map(|(n, _)| n.to_string())
        .unwrap_or_else(|| format!("0x{value:X}"))
}
