//! The attribute rules of PKCS#11 v2.40/3.0 §4, as one declarative table per object class and
//! key type. Each rule carries the spec's footnotes (required on create, not on generate,
//! sensitive, modifiable, sticky, SO-only) and a default; the functions below apply the table to
//! create, generate, unwrap, derive, copy and set, with the caller's role (SO or not), and check
//! the key values each key type allows (`SECRET_LENGTHS`, RSA moduli).
use crate::base::attribute::{AttrValue, Attributes};
use crate::base::error::{Result, err};
use cryptoki_sys::*;

/// Footnote 1: must be given to `C_CreateObject`.
pub const REQ_CREATE: u16 = 1 << 0;
/// Footnote 2: must not be given to `C_CreateObject`.
pub const NO_CREATE: u16 = 1 << 1;
/// Footnote 3: must be given when generated.
pub const REQ_GENERATE: u16 = 1 << 2;
/// Footnote 4: must not be given when generated.
pub const NO_GENERATE: u16 = 1 << 3;
/// Footnote 6: must not be given to `C_UnwrapKey` (also applied to `C_DeriveKey`).
pub const NO_UNWRAP: u16 = 1 << 4;
/// Footnote 7: not revealed when the key is sensitive or unextractable.
pub const SENSITIVE: u16 = 1 << 5;
/// Footnote 8: may be changed by `C_SetAttributeValue` and `C_CopyObject`.
pub const MODIFIABLE: u16 = 1 << 6;
/// Footnote 10: only the SO may set it to true.
pub const SO_ONLY_TRUE: u16 = 1 << 7;
/// Footnote 11: cannot be changed once true.
pub const STICKY_TRUE: u16 = 1 << 8;
/// Footnote 12: cannot be changed once false.
pub const STICKY_FALSE: u16 = 1 << 9;
/// May be changed by `C_CopyObject` only (`CKA_TOKEN`, `CKA_PRIVATE`, `CKA_MODIFIABLE`).
pub const COPY_ONLY: u16 = 1 << 10;
/// Set by the token, never by the caller (`CKA_LOCAL`, `CKA_UNIQUE_ID`, ...).
pub const TOKEN_SET: u16 = NO_CREATE | NO_GENERATE | NO_UNWRAP;

/// The value an attribute takes when the caller gives none.
#[derive(Debug, Clone, Copy)]
pub enum DefaultValue {
    /// No default: the attribute is absent unless given (or computed).
    None,
    Bool(bool),
    Ulong(CK_ULONG),
    Empty,
    /// An empty attribute array.
    EmptyTemplate,
}

/// One row of a table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub attr: CK_ATTRIBUTE_TYPE,
    pub flags: u16,
    pub default: DefaultValue,
}

const fn r(attr: CK_ATTRIBUTE_TYPE, flags: u16, default: DefaultValue) -> Rule {
    Rule {
        attr,
        flags,
        default,
    }
}

use DefaultValue as D;

/// Common object and storage attributes (§4.2, §4.4).
static STORAGE: &[Rule] = &[
    r(CKA_CLASS, REQ_CREATE, D::None),
    r(CKA_TOKEN, COPY_ONLY, D::Bool(false)),
    // CKA_PRIVATE's default is token-specific: filled by `private_default` below.
    r(CKA_PRIVATE, COPY_ONLY, D::None),
    r(CKA_MODIFIABLE, COPY_ONLY, D::Bool(true)),
    r(CKA_LABEL, MODIFIABLE, D::Empty),
    r(CKA_COPYABLE, MODIFIABLE | STICKY_FALSE, D::Bool(true)),
    r(CKA_DESTROYABLE, MODIFIABLE, D::Bool(true)),
    r(CKA_UNIQUE_ID, TOKEN_SET, D::None),
    // Luna's 12-byte object unique id, on every object (kept across clones).
    r(crate::base::vendor_codes::CKA_OUID, TOKEN_SET, D::None),
    // The HSM-internal name of a Primus object (simulator-defined attribute).
    r(
        crate::base::vendor_codes::CKA_HSMSIM_PRIMUS_NAME,
        TOKEN_SET,
        D::None,
    ),
];

/// Data objects (§4.5).
static DATA: &[Rule] = &[
    r(CKA_APPLICATION, MODIFIABLE, D::Empty),
    r(CKA_OBJECT_ID, MODIFIABLE, D::Empty),
    r(CKA_VALUE, MODIFIABLE, D::Empty),
];

/// Certificates (§4.6) and X.509 public key certificates (§4.6.3).
static X509_CERTIFICATE: &[Rule] = &[
    r(CKA_CERTIFICATE_TYPE, REQ_CREATE, D::None),
    r(CKA_TRUSTED, MODIFIABLE | SO_ONLY_TRUE, D::Bool(false)),
    r(CKA_CERTIFICATE_CATEGORY, 0, D::Ulong(0)),
    r(CKA_CHECK_VALUE, 0, D::None),
    r(CKA_START_DATE, MODIFIABLE, D::Empty),
    r(CKA_END_DATE, MODIFIABLE, D::Empty),
    r(CKA_PUBLIC_KEY_INFO, 0, D::Empty),
    r(CKA_SUBJECT, REQ_CREATE, D::None),
    r(CKA_ID, MODIFIABLE, D::Empty),
    r(CKA_ISSUER, MODIFIABLE, D::Empty),
    r(CKA_SERIAL_NUMBER, MODIFIABLE, D::Empty),
    r(CKA_VALUE, REQ_CREATE, D::None),
    r(CKA_URL, 0, D::Empty),
    r(CKA_HASH_OF_SUBJECT_PUBLIC_KEY, 0, D::Empty),
    r(CKA_HASH_OF_ISSUER_PUBLIC_KEY, 0, D::Empty),
    r(CKA_JAVA_MIDP_SECURITY_DOMAIN, 0, D::Ulong(0)),
    r(CKA_NAME_HASH_ALGORITHM, 0, D::Ulong(CKM_SHA_1)),
];

/// Common key attributes (§4.7).
static KEY: &[Rule] = &[
    r(CKA_KEY_TYPE, REQ_CREATE, D::None),
    r(CKA_ID, MODIFIABLE, D::Empty),
    r(CKA_START_DATE, MODIFIABLE, D::Empty),
    r(CKA_END_DATE, MODIFIABLE, D::Empty),
    r(CKA_DERIVE, MODIFIABLE, D::Bool(false)),
    r(CKA_LOCAL, TOKEN_SET, D::None),
    // A common key attribute: the generating mechanism (set by the generate paths), else
    // CK_UNAVAILABLE_INFORMATION (PKCS#11 3.0 §4.7.2: valid only when CKA_LOCAL is true).
    r(
        CKA_KEY_GEN_MECHANISM,
        TOKEN_SET,
        D::Ulong(CK_UNAVAILABLE_INFORMATION),
    ),
    // A common key attribute: never given, it is the empty list, which restricts nothing (as
    // SoftHSMv2; clients such as OpenSSL's pkcs11-provider read it on every key).
    r(CKA_ALLOWED_MECHANISMS, 0, D::Empty),
    // Luna's usage limit, settable on any key at creation and later; its count is the
    // token's (the vendor model decides where they apply and keeps the count).
    r(
        crate::base::vendor_codes::CKA_USAGE_LIMIT,
        MODIFIABLE,
        D::None,
    ),
    r(
        crate::base::vendor_codes::CKA_USAGE_COUNT,
        TOKEN_SET,
        D::None,
    ),
];

// Usage defaults (simulator-defined; PKCS#11 leaves them to the token): every usage the key
// type allows is on unless the template says otherwise, as SoftHSMv2 does, so applications
// written against SoftHSMv2 behave the same here. Vendor models narrow this (Primus: off).

/// Public keys (§4.8).
static PUBLIC_KEY: &[Rule] = &[
    r(CKA_SUBJECT, MODIFIABLE, D::Empty),
    r(CKA_ENCRYPT, MODIFIABLE, D::Bool(true)),
    r(CKA_VERIFY, MODIFIABLE, D::Bool(true)),
    r(CKA_VERIFY_RECOVER, MODIFIABLE, D::Bool(true)),
    r(CKA_WRAP, MODIFIABLE, D::Bool(true)),
    r(CKA_TRUSTED, MODIFIABLE | SO_ONLY_TRUE, D::Bool(false)),
    r(CKA_WRAP_TEMPLATE, 0, D::EmptyTemplate),
    r(CKA_PUBLIC_KEY_INFO, 0, D::Empty),
];

/// Private keys (§4.9). Sensitive by default and not extractable (simulator-defined, as
/// SoftHSMv2).
static PRIVATE_KEY: &[Rule] = &[
    r(CKA_SUBJECT, MODIFIABLE, D::Empty),
    r(CKA_SENSITIVE, MODIFIABLE | STICKY_TRUE, D::Bool(true)),
    r(CKA_DECRYPT, MODIFIABLE, D::Bool(true)),
    r(CKA_SIGN, MODIFIABLE, D::Bool(true)),
    r(CKA_SIGN_RECOVER, MODIFIABLE, D::Bool(true)),
    r(CKA_UNWRAP, MODIFIABLE, D::Bool(true)),
    r(CKA_EXTRACTABLE, MODIFIABLE | STICKY_FALSE, D::Bool(false)),
    r(CKA_ALWAYS_SENSITIVE, TOKEN_SET, D::None),
    r(CKA_NEVER_EXTRACTABLE, TOKEN_SET, D::None),
    r(
        CKA_WRAP_WITH_TRUSTED,
        MODIFIABLE | STICKY_TRUE,
        D::Bool(false),
    ),
    r(CKA_UNWRAP_TEMPLATE, 0, D::EmptyTemplate),
    r(CKA_ALWAYS_AUTHENTICATE, 0, D::Bool(false)),
    r(CKA_PUBLIC_KEY_INFO, 0, D::Empty),
];

/// Secret keys (§4.10).
static SECRET_KEY: &[Rule] = &[
    r(CKA_SENSITIVE, MODIFIABLE | STICKY_TRUE, D::Bool(true)),
    r(CKA_ENCRYPT, MODIFIABLE, D::Bool(true)),
    r(CKA_DECRYPT, MODIFIABLE, D::Bool(true)),
    r(CKA_SIGN, MODIFIABLE, D::Bool(true)),
    r(CKA_VERIFY, MODIFIABLE, D::Bool(true)),
    r(CKA_WRAP, MODIFIABLE, D::Bool(true)),
    r(CKA_UNWRAP, MODIFIABLE, D::Bool(true)),
    r(CKA_EXTRACTABLE, MODIFIABLE | STICKY_FALSE, D::Bool(false)),
    r(CKA_ALWAYS_SENSITIVE, TOKEN_SET, D::None),
    r(CKA_NEVER_EXTRACTABLE, TOKEN_SET, D::None),
    r(CKA_CHECK_VALUE, 0, D::None),
    r(
        CKA_WRAP_WITH_TRUSTED,
        MODIFIABLE | STICKY_TRUE,
        D::Bool(false),
    ),
    r(CKA_TRUSTED, MODIFIABLE | SO_ONLY_TRUE, D::Bool(false)),
    r(CKA_WRAP_TEMPLATE, 0, D::EmptyTemplate),
    r(CKA_UNWRAP_TEMPLATE, 0, D::EmptyTemplate),
];

static RSA_PUBLIC: &[Rule] = &[
    r(CKA_MODULUS, REQ_CREATE | NO_GENERATE, D::None),
    r(CKA_MODULUS_BITS, REQ_GENERATE | NO_CREATE, D::None),
    r(CKA_PUBLIC_EXPONENT, REQ_CREATE, D::None),
];

static RSA_PRIVATE: &[Rule] = &[
    r(CKA_MODULUS, REQ_CREATE | NO_GENERATE | NO_UNWRAP, D::None),
    r(CKA_PUBLIC_EXPONENT, NO_GENERATE | NO_UNWRAP, D::None),
    r(
        CKA_PRIVATE_EXPONENT,
        REQ_CREATE | NO_GENERATE | NO_UNWRAP | SENSITIVE,
        D::None,
    ),
    r(CKA_PRIME_1, NO_GENERATE | NO_UNWRAP | SENSITIVE, D::None),
    r(CKA_PRIME_2, NO_GENERATE | NO_UNWRAP | SENSITIVE, D::None),
    r(CKA_EXPONENT_1, NO_GENERATE | NO_UNWRAP | SENSITIVE, D::None),
    r(CKA_EXPONENT_2, NO_GENERATE | NO_UNWRAP | SENSITIVE, D::None),
    r(
        CKA_COEFFICIENT,
        NO_GENERATE | NO_UNWRAP | SENSITIVE,
        D::None,
    ),
];

/// EC (§2.3.3) and Edwards (§2.3.5) public keys.
static EC_PUBLIC: &[Rule] = &[
    r(CKA_EC_PARAMS, REQ_CREATE | REQ_GENERATE, D::None),
    r(CKA_EC_POINT, REQ_CREATE | NO_GENERATE, D::None),
];

static EC_PRIVATE: &[Rule] = &[
    r(CKA_EC_PARAMS, REQ_CREATE | NO_GENERATE | NO_UNWRAP, D::None),
    r(
        CKA_VALUE,
        REQ_CREATE | NO_GENERATE | NO_UNWRAP | SENSITIVE,
        D::None,
    ),
];

/// AES, DES and generic secrets: `CKA_VALUE_LEN` is required on generation for AES and generic
/// secrets (checked by the mechanism); on create it is accepted when it equals the value's
/// length (simulator-defined leniency; the spec says "must not be specified").
static SECRET_VALUE: &[Rule] = &[
    r(
        CKA_VALUE,
        REQ_CREATE | NO_GENERATE | NO_UNWRAP | SENSITIVE,
        D::None,
    ),
    r(CKA_VALUE_LEN, 0, D::None),
];

/// DSA public keys (§2.2.2): the domain parameters are given on generation.
static DSA_PUBLIC: &[Rule] = &[
    r(CKA_PRIME, REQ_CREATE | REQ_GENERATE, D::None),
    r(CKA_SUBPRIME, REQ_CREATE | REQ_GENERATE, D::None),
    r(CKA_BASE, REQ_CREATE | REQ_GENERATE, D::None),
    r(CKA_VALUE, REQ_CREATE | NO_GENERATE, D::None),
];

/// DSA private keys (§2.2.3).
static DSA_PRIVATE: &[Rule] = &[
    r(CKA_PRIME, REQ_CREATE | NO_GENERATE | NO_UNWRAP, D::None),
    r(CKA_SUBPRIME, REQ_CREATE | NO_GENERATE | NO_UNWRAP, D::None),
    r(CKA_BASE, REQ_CREATE | NO_GENERATE | NO_UNWRAP, D::None),
    r(
        CKA_VALUE,
        REQ_CREATE | NO_GENERATE | NO_UNWRAP | SENSITIVE,
        D::None,
    ),
];

/// PKCS #3 Diffie-Hellman public keys (§2.5.2).
static DH_PUBLIC: &[Rule] = &[
    r(CKA_PRIME, REQ_CREATE | REQ_GENERATE, D::None),
    r(CKA_BASE, REQ_CREATE | REQ_GENERATE, D::None),
    r(CKA_VALUE, REQ_CREATE | NO_GENERATE, D::None),
];

/// PKCS #3 Diffie-Hellman private keys (§2.5.3).
static DH_PRIVATE: &[Rule] = &[
    r(CKA_PRIME, REQ_CREATE | NO_GENERATE | NO_UNWRAP, D::None),
    r(CKA_BASE, REQ_CREATE | NO_GENERATE | NO_UNWRAP, D::None),
    r(
        CKA_VALUE,
        REQ_CREATE | NO_GENERATE | NO_UNWRAP | SENSITIVE,
        D::None,
    ),
    r(CKA_VALUE_BITS, NO_CREATE | NO_UNWRAP, D::None),
];

/// ML-DSA and ML-KEM public keys (PKCS#11 3.2): the parameter set is given on generation, the
/// raw public key (`CKA_VALUE`) comes from it.
static PQC_PUBLIC: &[Rule] = &[
    r(CKA_PARAMETER_SET, REQ_CREATE | REQ_GENERATE, D::None),
    r(CKA_VALUE, REQ_CREATE | NO_GENERATE, D::None),
];

/// ML-DSA and ML-KEM private keys (PKCS#11 3.2): `CKA_SEED` and/or the expanded `CKA_VALUE`
/// (at least one on create: checked when the key material is parsed).
static PQC_PRIVATE: &[Rule] = &[
    r(
        CKA_PARAMETER_SET,
        REQ_CREATE | NO_GENERATE | NO_UNWRAP,
        D::None,
    ),
    r(CKA_SEED, NO_GENERATE | NO_UNWRAP | SENSITIVE, D::None),
    r(CKA_VALUE, NO_GENERATE | NO_UNWRAP | SENSITIVE, D::None),
];

/// ML-KEM public keys' usage (PKCS#11 3.2 `CKA_ENCAPSULATE`; on by default, as every usage the
/// key type allows here).
static KEM_PUBLIC: &[Rule] = &[
    r(CKA_ENCAPSULATE, MODIFIABLE, D::Bool(true)),
    r(CKA_ENCAPSULATE_TEMPLATE, 0, D::EmptyTemplate),
];

/// ML-KEM private keys' usage (`CKA_DECAPSULATE`).
static KEM_PRIVATE: &[Rule] = &[
    r(CKA_DECAPSULATE, MODIFIABLE, D::Bool(true)),
    r(CKA_DECAPSULATE_TEMPLATE, 0, D::EmptyTemplate),
];

/// Domain parameters objects (§4.11); `CKA_LOCAL` is true when generated.
static DOMAIN: &[Rule] = &[
    r(CKA_KEY_TYPE, REQ_CREATE, D::None),
    r(CKA_LOCAL, TOKEN_SET, D::Bool(false)),
];

/// DSA domain parameters (§2.2.4).
static DSA_DOMAIN: &[Rule] = &[
    r(CKA_PRIME, REQ_CREATE | NO_GENERATE, D::None),
    r(CKA_SUBPRIME, REQ_CREATE | NO_GENERATE, D::None),
    r(CKA_BASE, REQ_CREATE | NO_GENERATE, D::None),
    r(CKA_PRIME_BITS, NO_CREATE | REQ_GENERATE, D::None),
];

/// PKCS #3 Diffie-Hellman domain parameters (§2.5.4).
static DH_DOMAIN: &[Rule] = &[
    r(CKA_PRIME, REQ_CREATE | NO_GENERATE, D::None),
    r(CKA_BASE, REQ_CREATE | NO_GENERATE, D::None),
    r(CKA_PRIME_BITS, NO_CREATE | REQ_GENERATE, D::None),
];

/// The rule tables of one kind of object, most general first (at most five: storage, key,
/// class, type and a KEM's), held inline: every new object looks them up.
pub type RuleTables = smallvec::SmallVec<[&'static [Rule]; 5]>;

/// The tables that apply to an object of this class and key type, or the error a template
/// naming an unsupported class or type gets.
pub fn tables(class: CK_OBJECT_CLASS, key_type: Option<CK_KEY_TYPE>) -> Result<RuleTables> {
    let mut t: RuleTables = smallvec::smallvec![STORAGE];
    match class {
        CKO_DATA => t.push(DATA),
        CKO_PROFILE => {
            return Err(err(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "profile objects are the token's own (see object::profile); none can be made",
            ));
        }
        CKO_CERTIFICATE => t.push(X509_CERTIFICATE),
        CKO_DOMAIN_PARAMETERS => {
            t.push(DOMAIN);
            match key_type {
                Some(CKK_DSA) => t.push(DSA_DOMAIN),
                Some(CKK_DH) => t.push(DH_DOMAIN),
                Some(kt) => {
                    return Err(err(
                        CKR_TEMPLATE_INCONSISTENT,
                        format!("domain parameters of key type 0x{kt:X} are not supported"),
                    ));
                }
                None => return Err(err(CKR_TEMPLATE_INCOMPLETE, "CKA_KEY_TYPE is required")),
            }
        }
        CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_SECRET_KEY => {
            t.push(KEY);
            let kt =
                key_type.ok_or_else(|| err(CKR_TEMPLATE_INCOMPLETE, "CKA_KEY_TYPE is required"))?;
            match (class, kt) {
                (CKO_PUBLIC_KEY, CKK_RSA) => t.extend([PUBLIC_KEY, RSA_PUBLIC]),
                (CKO_PRIVATE_KEY, CKK_RSA) => t.extend([PRIVATE_KEY, RSA_PRIVATE]),
                (CKO_PUBLIC_KEY, CKK_EC | CKK_EC_EDWARDS | CKK_EC_MONTGOMERY) => {
                    t.extend([PUBLIC_KEY, EC_PUBLIC])
                }
                (CKO_PRIVATE_KEY, CKK_EC | CKK_EC_EDWARDS | CKK_EC_MONTGOMERY) => {
                    t.extend([PRIVATE_KEY, EC_PRIVATE])
                }
                (CKO_PUBLIC_KEY, CKK_DSA) => t.extend([PUBLIC_KEY, DSA_PUBLIC]),
                (CKO_PRIVATE_KEY, CKK_DSA) => t.extend([PRIVATE_KEY, DSA_PRIVATE]),
                (CKO_PUBLIC_KEY, CKK_DH) => t.extend([PUBLIC_KEY, DH_PUBLIC]),
                (CKO_PRIVATE_KEY, CKK_DH) => t.extend([PRIVATE_KEY, DH_PRIVATE]),
                (CKO_PUBLIC_KEY, CKK_ML_DSA) => t.extend([PUBLIC_KEY, PQC_PUBLIC]),
                (CKO_PRIVATE_KEY, CKK_ML_DSA) => t.extend([PRIVATE_KEY, PQC_PRIVATE]),
                (CKO_PUBLIC_KEY, CKK_ML_KEM) => t.extend([PUBLIC_KEY, PQC_PUBLIC, KEM_PUBLIC]),
                (CKO_PRIVATE_KEY, CKK_ML_KEM) => t.extend([PRIVATE_KEY, PQC_PRIVATE, KEM_PRIVATE]),
                (
                    CKO_SECRET_KEY,
                    CKK_AES | CKK_DES | CKK_DES2 | CKK_DES3 | CKK_GENERIC_SECRET | CKK_SHA_1_HMAC
                    | CKK_SHA224_HMAC | CKK_SHA256_HMAC | CKK_SHA384_HMAC | CKK_SHA512_HMAC,
                ) => t.extend([SECRET_KEY, SECRET_VALUE]),
                _ => {
                    return Err(err(
                        CKR_TEMPLATE_INCONSISTENT,
                        format!("key type 0x{kt:X} is not supported for class 0x{class:X}"),
                    ));
                }
            }
        }
        _ => {
            return Err(err(
                CKR_ATTRIBUTE_VALUE_INVALID,
                format!("object class 0x{class:X} is not supported"),
            ));
        }
    }
    Ok(t)
}

/// The rule for one attribute of an object, if the attribute applies to it at all.
pub fn rule_for(tables: &[&'static [Rule]], attr: CK_ATTRIBUTE_TYPE) -> Option<Rule> {
    // Later (more specific) tables override earlier ones (e.g. X.509's CKA_VALUE).
    tables
        .iter()
        .rev()
        .flat_map(|t| t.iter())
        .find(|r| r.attr == attr)
        .copied()
}

/// How an object comes into being; decides which footnotes apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Create,
    Generate,
    Unwrap,
    Derive,
}

/// Who gives a template or a change: footnote 10 ("can only be set to CK_TRUE by the SO user")
/// depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The SO is logged in (a R/W SO session: PKCS#11 lets it create and change public objects).
    So,
    /// Anyone else: the user, a vendor user role, or no login (public session).
    Other,
}

/// The rules on a value a caller gives, whatever the path (create, generate, unwrap, derive,
/// copy, set): only the SO may give `true` to an SO-only attribute (`CKA_TRUSTED`), even when
/// the object already has it (a user's template never carries it). Giving `false` is anyone's.
fn check_given(rule: &Rule, value: &AttrValue, role: Role) -> Result<()> {
    if rule.flags & SO_ONLY_TRUE != 0 && is_true(value) && role != Role::So {
        return Err(err(
            CKR_ATTRIBUTE_READ_ONLY,
            format!(
                "attribute 0x{:X} can be set to true only by the SO",
                rule.attr
            ),
        ));
    }
    Ok(())
}

fn is_true(value: &AttrValue) -> bool {
    value
        .as_bytes()
        .and_then(|b| b.first())
        .is_some_and(|b| *b != 0)
}

/// The lengths a secret key's `CKA_VALUE` may have, by key type (PKCS#11 3.0 mechanisms: AES
/// 16, 24 or 32 bytes; DES 8; DES2 16; DES3 24). Key types not listed (generic secrets, the
/// HMAC key types) take any length of at least one byte.
static SECRET_LENGTHS: &[(CK_KEY_TYPE, &[usize])] = &[
    (CKK_AES, &[16, 24, 32]),
    (CKK_DES, &[8]),
    (CKK_DES2, &[16]),
    (CKK_DES3, &[24]),
];

/// Whether a secret key of this type may have a value of `len` bytes (`SECRET_LENGTHS`).
pub fn secret_len_allowed(key_type: CK_KEY_TYPE, len: usize) -> bool {
    match SECRET_LENGTHS.iter().find(|(t, _)| *t == key_type) {
        Some((_, lengths)) => lengths.contains(&len),
        None => len >= 1,
    }
}

/// Checks the key values of a new object against what its key type allows: a secret key's
/// length (`SECRET_LENGTHS`), an RSA key's modulus (at least `rsa::MIN_BITS` bits, odd) and
/// public exponent (odd, above 1). Curve keys are checked when their value is parsed
/// (`KeyMaterial::from_attributes`: points on the curve, scalars below the order). The answer
/// is the reason, for the caller to give the path's return value.
pub fn check_key_values(
    class: CK_OBJECT_CLASS,
    key_type: Option<CK_KEY_TYPE>,
    attrs: &Attributes,
) -> std::result::Result<(), String> {
    let significant = |t| {
        attrs.bytes(t).map(|b| {
            let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
            &b[start..]
        })
    };
    match (class, key_type) {
        (CKO_SECRET_KEY, Some(kt)) => {
            let len = attrs.bytes(CKA_VALUE).map_or(0, <[u8]>::len);
            if !secret_len_allowed(kt, len) {
                return Err(format!(
                    "a key of type 0x{kt:X} cannot have a value of {len} bytes"
                ));
            }
        }
        (CKO_PUBLIC_KEY | CKO_PRIVATE_KEY, Some(CKK_RSA)) => {
            if let Some(n) = significant(CKA_MODULUS) {
                let bits = n.first().map_or(0, |top| {
                    (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize)
                });
                if bits < crate::crypto::rsa::MIN_BITS || n.last().is_none_or(|b| b & 1 == 0) {
                    return Err(format!(
                        "an RSA modulus must be odd and of at least {} bits (this one: {bits})",
                        crate::crypto::rsa::MIN_BITS
                    ));
                }
            }
            if let Some(e) = significant(CKA_PUBLIC_EXPONENT)
                && (e.last().is_none_or(|b| b & 1 == 0) || e == [1])
            {
                return Err("an RSA public exponent must be odd and above 1".into());
            }
        }
        _ => {}
    }
    Ok(())
}

/// Room a new object's attributes keep for what it gets after `build_object` (its
/// identifiers, a vendor's attributes), so that adding them does not reallocate.
const NEW_OBJECT_ROOM: usize = 6;

/// What `build_object` needs of the rule tables for one (origin, class, key type), worked out
/// once per process and kept (there are a few dozen such kinds at most: `tables` refuses the
/// others, and the key type counts only for the classes whose tables depend on it).
struct BuildPlan {
    /// The effective rule of each attribute (a later, more specific table's wins), by type.
    rules: Vec<Rule>,
    /// The default of every attribute that has one, by type: the earliest table's, and for a
    /// key imported in clear (`Origin::Create`) CKA_SENSITIVE false and CKA_EXTRACTABLE true
    /// before any table's; CKA_PRIVATE's is `private_default` where no table gives one.
    defaults: Vec<(CK_ATTRIBUTE_TYPE, AttrValue)>,
    /// The attributes this origin requires that no earlier default answers, in table order:
    /// the template (or `computed`) must give them.
    required: Vec<CK_ATTRIBUTE_TYPE>,
}

type PlanKey = (u8, CK_OBJECT_CLASS, Option<CK_KEY_TYPE>);

impl BuildPlan {
    /// The plan for a kind of object, from the process's cache (or the error `tables` gives
    /// a class or key type the simulator does not support, which is not cached).
    fn of(
        origin: Origin,
        class: CK_OBJECT_CLASS,
        key_type: Option<CK_KEY_TYPE>,
    ) -> Result<std::sync::Arc<BuildPlan>> {
        static PLANS: std::sync::LazyLock<
            parking_lot::RwLock<std::collections::HashMap<PlanKey, std::sync::Arc<BuildPlan>>>,
        > = std::sync::LazyLock::new(Default::default);
        let kind_key_type = match class {
            CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_SECRET_KEY | CKO_DOMAIN_PARAMETERS => key_type,
            _ => None,
        };
        let key = (origin as u8, class, kind_key_type);
        if let Some(plan) = PLANS.read().get(&key) {
            return Ok(plan.clone());
        }
        let plan = std::sync::Arc::new(BuildPlan::new(origin, class, &tables(class, key_type)?));
        PLANS.write().insert(key, plan.clone());
        Ok(plan)
    }

    fn new(origin: Origin, class: CK_OBJECT_CLASS, tables: &[&'static [Rule]]) -> BuildPlan {
        let mut rules: Vec<Rule> = Vec::new();
        for rule in tables.iter().flat_map(|t| t.iter()) {
            match rules.iter_mut().find(|r| r.attr == rule.attr) {
                Some(earlier) => *earlier = *rule,
                None => rules.push(*rule),
            }
        }
        rules.sort_by_key(|r| r.attr);
        let mut defaults: Vec<(CK_ATTRIBUTE_TYPE, AttrValue)> = Vec::new();
        if origin == Origin::Create && matches!(class, CKO_PRIVATE_KEY | CKO_SECRET_KEY) {
            // Simulator-defined: a key imported in clear with C_CreateObject is already known
            // to the caller, so it defaults to CKA_SENSITIVE false and CKA_EXTRACTABLE true;
            // keys the token generates, unwraps or derives default to sensitive and
            // unextractable (the tables). Templates override both.
            defaults.push((CKA_SENSITIVE, AttrValue::bool(false)));
            defaults.push((CKA_EXTRACTABLE, AttrValue::bool(true)));
        }
        let imported = defaults.len();
        let mut required = Vec::new();
        for rule in tables.iter().flat_map(|t| t.iter()) {
            let has_default =
                |d: &Vec<(CK_ATTRIBUTE_TYPE, AttrValue)>| d.iter().any(|(t, _)| *t == rule.attr);
            if defaults[..imported].iter().any(|(t, _)| *t == rule.attr) {
                // As if the template gave it.
                continue;
            }
            let needed = match origin {
                Origin::Create => rule.flags & REQ_CREATE != 0,
                Origin::Generate => rule.flags & REQ_GENERATE != 0,
                _ => false,
            };
            // An earlier table's default answers a later table's requirement.
            if needed && !has_default(&defaults) && !required.contains(&rule.attr) {
                required.push(rule.attr);
            }
            let value = match rule.default {
                D::None => continue,
                D::Bool(b) => AttrValue::bool(b),
                D::Ulong(v) => AttrValue::ulong(v),
                D::Empty => AttrValue::Bytes(Default::default()),
                D::EmptyTemplate => AttrValue::Template(Vec::new()),
            };
            if !has_default(&defaults) {
                defaults.push((rule.attr, value));
            }
        }
        if !defaults.iter().any(|(t, _)| *t == CKA_PRIVATE) {
            defaults.push((CKA_PRIVATE, AttrValue::bool(private_default(class))));
        }
        defaults.sort_by_key(|(t, _)| *t);
        BuildPlan {
            rules,
            defaults,
            required,
        }
    }

    /// The default of a boolean attribute, if it has one.
    fn default_flag(&self, attr: CK_ATTRIBUTE_TYPE) -> Option<bool> {
        let i = self
            .defaults
            .binary_search_by_key(&attr, |(t, _)| *t)
            .ok()?;
        self.defaults[i].1.as_bytes()?.first().map(|b| *b != 0)
    }

    fn rule(&self, attr: CK_ATTRIBUTE_TYPE) -> Option<Rule> {
        self.rules
            .binary_search_by_key(&attr, |r| r.attr)
            .ok()
            .map(|i| self.rules[i])
    }
}

/// Checks a caller's template for a new object of this class/type and returns the object's
/// full attribute set: the caller's values, then `computed` (key values from a mechanism), then
/// defaults. `CKA_LOCAL`, `CKA_ALWAYS_SENSITIVE` and `CKA_NEVER_EXTRACTABLE` are set here.
/// Every path that makes an object from a template goes through here (the engine's
/// `new_object_attrs`); `role` is who asks.
pub fn build_object(
    origin: Origin,
    template: &Attributes,
    computed: &Attributes,
    class: CK_OBJECT_CLASS,
    key_type: Option<CK_KEY_TYPE>,
    role: Role,
) -> Result<Attributes> {
    let plan = BuildPlan::of(origin, class, key_type)?;
    for (attr, value) in template.iter() {
        let rule = plan.rule(*attr).ok_or_else(|| {
            err(
                CKR_TEMPLATE_INCONSISTENT,
                format!("attribute 0x{attr:X} does not apply to this kind of object"),
            )
        })?;
        let forbidden = match origin {
            Origin::Create => rule.flags & NO_CREATE != 0,
            Origin::Generate => rule.flags & NO_GENERATE != 0,
            Origin::Unwrap | Origin::Derive => rule.flags & NO_UNWRAP != 0,
        };
        if forbidden {
            // The token's own attributes (CKA_LOCAL, CKA_UNIQUE_ID, ...) are read-only
            // (PKCS#11 3.0 §4.4.1 says so of CKA_UNIQUE_ID in any creating template); other
            // attributes the path does not take contradict it.
            let rv = if rule.flags & TOKEN_SET == TOKEN_SET {
                CKR_ATTRIBUTE_READ_ONLY
            } else {
                CKR_TEMPLATE_INCONSISTENT
            };
            return Err(err(
                rv,
                format!("attribute 0x{attr:X} may not be given here"),
            ));
        }
        check_given(&rule, value, role)?;
    }
    // A requirement no default answers must be met by the template or `computed`.
    if let Some(missing) = plan
        .required
        .iter()
        .find(|t| !template.contains(**t) && !computed.contains(**t))
    {
        return Err(err(
            CKR_TEMPLATE_INCOMPLETE,
            format!("attribute 0x{missing:X} is required"),
        ));
    }
    // What the token sets whatever the template says: the class, and for keys CKA_LOCAL,
    // CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE (from the values the key will have).
    let mut token_set: smallvec::SmallVec<[(CK_ATTRIBUTE_TYPE, AttrValue); 4]> =
        smallvec::smallvec![(CKA_CLASS, AttrValue::ulong(class))];
    if matches!(class, CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_SECRET_KEY) {
        token_set.push((CKA_LOCAL, AttrValue::bool(origin == Origin::Generate)));
        if class != CKO_PUBLIC_KEY {
            let flag = |t| {
                computed
                    .bool(t)
                    .or_else(|| template.bool(t))
                    .or_else(|| plan.default_flag(t))
                    .unwrap_or(false)
            };
            let (sensitive, extractable) = (flag(CKA_SENSITIVE), flag(CKA_EXTRACTABLE));
            // Derived keys refine these with the base key's values (engine::derive_key).
            let generated = matches!(origin, Origin::Generate | Origin::Derive);
            token_set.push((
                CKA_ALWAYS_SENSITIVE,
                AttrValue::bool(generated && sensitive),
            ));
            token_set.push((
                CKA_NEVER_EXTRACTABLE,
                AttrValue::bool(generated && !extractable),
            ));
        }
        token_set.sort_unstable_by_key(|(t, _)| *t);
    }
    // Those, `computed`, the template and the defaults of what all leave out, in one pass
    // (`plan.defaults` already holds the first default of each attribute).
    let mut out = Attributes::layered(
        &[
            &token_set,
            computed.as_slice(),
            template.as_slice(),
            &plan.defaults,
        ],
        NEW_OBJECT_ROOM,
    );
    if class == CKO_CERTIFICATE && out.ulong(CKA_CERTIFICATE_TYPE) != Some(CKC_X_509) {
        return Err(err(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "only X.509 public key certificates (CKC_X_509) are supported",
        ));
    }
    if class == CKO_SECRET_KEY
        && let (Some(len), Some(value)) = (out.ulong(CKA_VALUE_LEN), out.bytes(CKA_VALUE))
        && len as usize != value.len()
    {
        return Err(err(
            CKR_TEMPLATE_INCONSISTENT,
            "CKA_VALUE_LEN differs from the value's length",
        ));
    }
    check_key_values(class, key_type, &out).map_err(|why| {
        // Create: the template's value is invalid (§4.1.1). Unwrap: the decrypted blob is
        // recognisably not a key of the template's type (CKR_WRAPPED_KEY_INVALID, §5.18.7).
        // Generate / derive: the length asked for (CKA_VALUE_LEN or the mechanism's output)
        // is outside the key type's sizes, as the key generators answer (CKR_KEY_SIZE_RANGE).
        let rv = match origin {
            Origin::Create => CKR_ATTRIBUTE_VALUE_INVALID,
            Origin::Unwrap => CKR_WRAPPED_KEY_INVALID,
            Origin::Generate | Origin::Derive => CKR_KEY_SIZE_RANGE,
        };
        err(rv, why)
    })?;
    if class == CKO_SECRET_KEY && !out.contains(CKA_VALUE_LEN) {
        let len = out.bytes(CKA_VALUE).map(<[u8]>::len).unwrap_or(0);
        out.set_ulong(CKA_VALUE_LEN, len as CK_ULONG);
    }
    Ok(out)
}

/// CKA_PRIVATE when the template is silent (simulator-defined, as SoftHSMv2): keys that hold
/// secrets are private, everything else public.
pub fn private_default(class: CK_OBJECT_CLASS) -> bool {
    matches!(class, CKO_PRIVATE_KEY | CKO_SECRET_KEY)
}

/// Whether the value of `attr` must be withheld from `C_GetAttributeValue`.
pub fn is_hidden(object: &Attributes, attr: CK_ATTRIBUTE_TYPE) -> bool {
    let class = object.ulong(CKA_CLASS).unwrap_or(CKO_DATA);
    if !matches!(class, CKO_PRIVATE_KEY | CKO_SECRET_KEY) {
        return false;
    }
    let Ok(tables) = tables(class, object.ulong(CKA_KEY_TYPE)) else {
        return true;
    };
    let sensitive_attr = rule_for(&tables, attr).is_some_and(|r| r.flags & SENSITIVE != 0);
    sensitive_attr && (object.flag(CKA_SENSITIVE, true) || !object.flag(CKA_EXTRACTABLE, false))
}

/// Why a change is being made to an existing object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Set,
    Copy,
}

/// Checks one attribute change of an existing object (`C_SetAttributeValue`, `C_CopyObject`).
/// An attribute that cannot be changed is refused even when the value given is the one it has
/// (PKCS#11: read-only attributes cannot be set); a changeable one given its current value is
/// no change.
pub fn check_change(
    object: &Attributes,
    attr: CK_ATTRIBUTE_TYPE,
    new: &AttrValue,
    change: Change,
    role: Role,
) -> Result<()> {
    let class = object.ulong(CKA_CLASS).unwrap_or(CKO_DATA);
    let tables = tables(class, object.ulong(CKA_KEY_TYPE))?;
    let rule = rule_for(&tables, attr).ok_or_else(|| {
        err(
            CKR_ATTRIBUTE_TYPE_INVALID,
            format!("attribute 0x{attr:X} does not apply to this object"),
        )
    })?;
    let read_only = |why: &str| {
        Err(err(
            CKR_ATTRIBUTE_READ_ONLY,
            format!("attribute 0x{attr:X} {why}"),
        ))
    };
    let allowed =
        rule.flags & MODIFIABLE != 0 || (change == Change::Copy && rule.flags & COPY_ONLY != 0);
    if !allowed {
        return read_only("cannot be changed");
    }
    check_given(&rule, new, role)?;
    let current = object.get(attr);
    if current == Some(new) {
        return Ok(());
    }
    let new_true = is_true(new);
    let was_true = current.is_some_and(is_true);
    if rule.flags & STICKY_TRUE != 0 && was_true && !new_true {
        return read_only("cannot be changed back to false");
    }
    if rule.flags & STICKY_FALSE != 0 && !was_true && new_true {
        return read_only("cannot be changed back to true");
    }
    if attr == CKA_MODIFIABLE && change == Change::Copy && new_true && !was_true {
        return read_only("cannot be made modifiable again");
    }
    Ok(())
}

/// Completes the attributes of an object read from the store with the common key attributes
/// a store written by an earlier version lacks: `CKA_ALLOWED_MECHANISMS` (the empty list) and
/// `CKA_KEY_GEN_MECHANISM` (`CK_UNAVAILABLE_INFORMATION`, the key's provenance not recorded).
pub fn complete_stored(attrs: &mut Attributes) {
    let class = attrs.ulong(CKA_CLASS).unwrap_or(CKO_DATA);
    if !matches!(class, CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_SECRET_KEY) {
        return;
    }
    if !attrs.contains(CKA_ALLOWED_MECHANISMS) {
        attrs.set_bytes(CKA_ALLOWED_MECHANISMS, Vec::new());
    }
    if !attrs.contains(CKA_KEY_GEN_MECHANISM) {
        attrs.set_ulong(CKA_KEY_GEN_MECHANISM, CK_UNAVAILABLE_INFORMATION);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aes_template() -> Attributes {
        let mut t = Attributes::new();
        t.set_ulong(CKA_CLASS, CKO_SECRET_KEY);
        t.set_ulong(CKA_KEY_TYPE, CKK_AES);
        t
    }

    #[test]
    fn generated_secret_key_gets_defaults_and_provenance() {
        let mut computed = Attributes::new();
        computed.set_bytes(CKA_VALUE, vec![7u8; 16]);
        let o = build_object(
            Origin::Generate,
            &aes_template(),
            &computed,
            CKO_SECRET_KEY,
            Some(CKK_AES),
            Role::Other,
        )
        .unwrap();
        assert_eq!(o.bool(CKA_LOCAL), Some(true));
        assert_eq!(o.bool(CKA_SENSITIVE), Some(true));
        assert_eq!(o.bool(CKA_ALWAYS_SENSITIVE), Some(true));
        assert_eq!(o.bool(CKA_NEVER_EXTRACTABLE), Some(true));
        assert_eq!(o.ulong(CKA_VALUE_LEN), Some(16));
        assert_eq!(o.bool(CKA_PRIVATE), Some(true));
        assert!(is_hidden(&o, CKA_VALUE));
        assert!(!is_hidden(&o, CKA_LABEL));
    }

    #[test]
    fn created_key_is_not_local_and_value_is_required() {
        let t = aes_template();
        let e = build_object(
            Origin::Create,
            &t,
            &Attributes::new(),
            CKO_SECRET_KEY,
            Some(CKK_AES),
            Role::Other,
        );
        assert_eq!(e.unwrap_err().rv, CKR_TEMPLATE_INCOMPLETE);
        let mut t = aes_template();
        t.set_bytes(CKA_VALUE, vec![1u8; 32]);
        t.set_bool(CKA_SENSITIVE, false);
        t.set_bool(CKA_EXTRACTABLE, true);
        let o = build_object(
            Origin::Create,
            &t,
            &Attributes::new(),
            CKO_SECRET_KEY,
            Some(CKK_AES),
            Role::Other,
        )
        .unwrap();
        assert_eq!(o.bool(CKA_LOCAL), Some(false));
        assert_eq!(o.bool(CKA_ALWAYS_SENSITIVE), Some(false));
        assert!(!is_hidden(&o, CKA_VALUE));
    }

    #[test]
    fn imported_keys_default_to_not_sensitive_generated_ones_to_sensitive() {
        let mut t = aes_template();
        t.set_bytes(CKA_VALUE, vec![1u8; 16]);
        let imported = build_object(
            Origin::Create,
            &t,
            &Attributes::new(),
            CKO_SECRET_KEY,
            Some(CKK_AES),
            Role::Other,
        )
        .unwrap();
        assert_eq!(imported.bool(CKA_SENSITIVE), Some(false));
        let mut computed = Attributes::new();
        computed.set_bytes(CKA_VALUE, vec![1u8; 16]);
        let generated = build_object(
            Origin::Generate,
            &aes_template(),
            &computed,
            CKO_SECRET_KEY,
            Some(CKK_AES),
            Role::Other,
        )
        .unwrap();
        assert_eq!(generated.bool(CKA_SENSITIVE), Some(true));
    }

    #[test]
    fn token_set_attributes_are_read_only_and_foreign_ones_inconsistent() {
        let mut t = aes_template();
        t.set_bytes(CKA_VALUE, vec![1u8; 16]);
        t.set_bool(CKA_LOCAL, true);
        let e = build_object(
            Origin::Create,
            &t,
            &Attributes::new(),
            CKO_SECRET_KEY,
            Some(CKK_AES),
            Role::Other,
        );
        assert_eq!(e.unwrap_err().rv, CKR_ATTRIBUTE_READ_ONLY);
        let mut t = aes_template();
        t.set_bytes(CKA_VALUE, vec![1u8; 16]);
        t.set_bytes(CKA_MODULUS, vec![1u8; 16]);
        let e = build_object(
            Origin::Create,
            &t,
            &Attributes::new(),
            CKO_SECRET_KEY,
            Some(CKK_AES),
            Role::Other,
        );
        assert_eq!(e.unwrap_err().rv, CKR_TEMPLATE_INCONSISTENT);
    }

    #[test]
    fn sticky_and_so_only_changes_are_refused() {
        let mut t = aes_template();
        t.set_bytes(CKA_VALUE, vec![1u8; 16]);
        t.set_bool(CKA_SENSITIVE, true);
        t.set_bool(CKA_EXTRACTABLE, false);
        let o = build_object(
            Origin::Create,
            &t,
            &Attributes::new(),
            CKO_SECRET_KEY,
            Some(CKK_AES),
            Role::Other,
        )
        .unwrap();
        let to_false = AttrValue::bool(false);
        let to_true = AttrValue::bool(true);
        assert_eq!(
            check_change(&o, CKA_SENSITIVE, &to_false, Change::Set, Role::Other)
                .unwrap_err()
                .rv,
            CKR_ATTRIBUTE_READ_ONLY
        );
        assert_eq!(
            check_change(&o, CKA_EXTRACTABLE, &to_true, Change::Set, Role::Other)
                .unwrap_err()
                .rv,
            CKR_ATTRIBUTE_READ_ONLY
        );
        assert_eq!(
            check_change(&o, CKA_TRUSTED, &to_true, Change::Set, Role::Other)
                .unwrap_err()
                .rv,
            CKR_ATTRIBUTE_READ_ONLY
        );
        assert!(check_change(&o, CKA_TRUSTED, &to_true, Change::Set, Role::So).is_ok());
        assert_eq!(
            check_change(
                &o,
                CKA_VALUE,
                &AttrValue::Bytes(smallvec::smallvec![2; 16]),
                Change::Set,
                Role::Other
            )
            .unwrap_err()
            .rv,
            CKR_ATTRIBUTE_READ_ONLY
        );
        assert_eq!(
            check_change(&o, CKA_TOKEN, &to_true, Change::Set, Role::Other)
                .unwrap_err()
                .rv,
            CKR_ATTRIBUTE_READ_ONLY
        );
        assert!(check_change(&o, CKA_TOKEN, &to_true, Change::Copy, Role::Other).is_ok());
        assert!(
            check_change(
                &o,
                CKA_LABEL,
                &AttrValue::Bytes(b"k".as_slice().into()),
                Change::Set,
                Role::Other
            )
            .is_ok()
        );
    }

    #[test]
    fn key_values_must_suit_their_key_type() {
        let mut a = aes_template();
        for (len, ok) in [
            (0, false),
            (7, false),
            (16, true),
            (24, true),
            (32, true),
            (33, false),
        ] {
            a.set_bytes(CKA_VALUE, vec![1; len]);
            assert_eq!(
                check_key_values(CKO_SECRET_KEY, Some(CKK_AES), &a).is_ok(),
                ok,
                "{len}"
            );
        }
        a.set_bytes(CKA_VALUE, vec![1; 1]);
        assert!(check_key_values(CKO_SECRET_KEY, Some(CKK_GENERIC_SECRET), &a).is_ok());
        let mut rsa = Attributes::new();
        // 512 bits with a leading zero byte: the bit count ignores it.
        let mut n = vec![0u8, 0x80];
        n.extend([0u8; 62]);
        n.push(1);
        rsa.set_bytes(CKA_MODULUS, n.clone());
        rsa.set_bytes(CKA_PUBLIC_EXPONENT, vec![1, 0, 1]);
        assert!(check_key_values(CKO_PUBLIC_KEY, Some(CKK_RSA), &rsa).is_ok());
        n[1] = 0x40;
        rsa.set_bytes(CKA_MODULUS, n);
        assert!(check_key_values(CKO_PUBLIC_KEY, Some(CKK_RSA), &rsa).is_err());
    }

    #[test]
    fn stored_keys_are_completed_and_other_objects_left_alone() {
        let mut key = aes_template();
        complete_stored(&mut key);
        assert_eq!(key.bytes(CKA_ALLOWED_MECHANISMS), Some(&[][..]));
        assert_eq!(
            key.ulong(CKA_KEY_GEN_MECHANISM),
            Some(CK_UNAVAILABLE_INFORMATION)
        );
        key.set_ulong(CKA_KEY_GEN_MECHANISM, CKM_AES_KEY_GEN);
        complete_stored(&mut key);
        assert_eq!(key.ulong(CKA_KEY_GEN_MECHANISM), Some(CKM_AES_KEY_GEN));
        let mut data = Attributes::new();
        data.set_ulong(CKA_CLASS, CKO_DATA);
        complete_stored(&mut data);
        assert!(!data.contains(CKA_ALLOWED_MECHANISMS));
    }
}
