//! Luna's object usage count (Luna §1.6: thalesdocs `sdk/design/operation_count.htm`): a
//! key with `CKA_USAGE_LIMIT` counts its operations in `CKA_USAGE_COUNT` and answers
//! `CKR_KEY_NOT_ACTIVE` once the count reaches the limit. Documented: the two attributes, the
//! code, the limit's range (1 to 0xFFFFFFFF), setting it on an existing key (CKDEMO's "Set
//! Attribute" as the Crypto Officer) and the count starting at 0 when the limit is set;
//! pycryptoki's functional tests also set it in the generation template and lower it later.
//! Simulator-defined: which calls count (below), that the limit may be raised or lowered at
//! any time by whoever may change the key (the count is kept), that the count is read-only to
//! PKCS#11 callers (`CA_ModifyUsageCount` is not modelled), and that only keys carry them.
use crate::base::attribute::Attributes;
use crate::base::error::{Result, err};
use crate::base::vendor_codes::{CKA_USAGE_COUNT, CKA_USAGE_LIMIT, CKR_KEY_NOT_ACTIVE};
use cryptoki_sys::*;

/// The largest limit CKDEMO accepts (documented range 1 - 0xFFFFFFFF).
const MAX_USAGE_LIMIT: CK_ULONG = 0xFFFF_FFFF;

/// Checks the usage attributes a caller gives (create, generate, unwrap, derive, copy, set):
/// a limit of 1 to 0xFFFFFFFF (`CKR_ATTRIBUTE_VALUE_INVALID` otherwise, simulator-defined
/// code). `CKA_USAGE_COUNT` is refused by the attribute rules (read-only).
pub fn check_usage_template(template: &Attributes) -> Result<()> {
    match template.ulong(CKA_USAGE_LIMIT) {
        Some(limit) if limit == 0 || limit > MAX_USAGE_LIMIT => Err(err(
            CKR_ATTRIBUTE_VALUE_INVALID,
            format!("CKA_USAGE_LIMIT must be 1 to 0xFFFFFFFF (given {limit})"),
        )),
        _ => Ok(()),
    }
}

/// A key given a limit gets its count, 0, unless it already has one (the count is kept when
/// the limit changes: simulator-defined).
pub fn complete_usage(attrs: &mut Attributes) {
    if attrs.contains(CKA_USAGE_LIMIT) && !attrs.contains(CKA_USAGE_COUNT) {
        attrs.set_ulong(CKA_USAGE_COUNT, 0);
    }
}

/// Whether operations with this key count towards a limit.
pub fn limits_uses(attrs: &Attributes) -> bool {
    attrs.contains(CKA_USAGE_LIMIT)
}

/// One use of a key: the attribute change that records it (`CKA_USAGE_COUNT` + 1), or
/// `CKR_KEY_NOT_ACTIVE` when the count has reached the limit (the count stays). A use is
/// every operation started with the key (simulator-defined: `C_EncryptInit`,
/// `C_DecryptInit`, `C_SignInit`, `C_SignRecoverInit`, `C_VerifyInit`, `C_VerifyRecoverInit`,
/// `C_MessageEncryptInit`/`C_MessageDecryptInit`, and `C_WrapKey`, `C_UnwrapKey`,
/// `C_DeriveKey` for the wrapping, unwrapping or base key), counted once its checks pass.
pub fn count_use(attrs: &Attributes) -> Result<Attributes> {
    let mut change = Attributes::new();
    let Some(limit) = attrs.ulong(CKA_USAGE_LIMIT) else {
        return Ok(change);
    };
    let count = attrs.ulong(CKA_USAGE_COUNT).unwrap_or(0);
    if count >= limit {
        return Err(err(
            CKR_KEY_NOT_ACTIVE,
            format!("the key's usage limit is reached ({count} of {limit} uses)"),
        ));
    }
    change.set_ulong(CKA_USAGE_COUNT, count + 1);
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uses_count_up_to_the_limit_then_the_key_is_not_active() {
        let mut key = Attributes::new();
        key.set_ulong(CKA_USAGE_LIMIT, 2);
        complete_usage(&mut key);
        assert_eq!(key.ulong(CKA_USAGE_COUNT), Some(0));
        for expected in 1..=2 {
            let change = count_use(&key).unwrap();
            assert_eq!(change.ulong(CKA_USAGE_COUNT), Some(expected));
            key.set_ulong(CKA_USAGE_COUNT, expected);
        }
        assert_eq!(count_use(&key).unwrap_err().rv, CKR_KEY_NOT_ACTIVE);
        // A new limit keeps the count.
        key.set_ulong(CKA_USAGE_LIMIT, 3);
        complete_usage(&mut key);
        assert_eq!(key.ulong(CKA_USAGE_COUNT), Some(2));
        assert!(count_use(&key).is_ok());
    }

    #[test]
    fn limits_out_of_range_are_refused() {
        let mut t = Attributes::new();
        t.set_ulong(CKA_USAGE_LIMIT, 0);
        assert_eq!(
            check_usage_template(&t).unwrap_err().rv,
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        t.set_ulong(CKA_USAGE_LIMIT, 1);
        assert!(check_usage_template(&t).is_ok());
    }
}
