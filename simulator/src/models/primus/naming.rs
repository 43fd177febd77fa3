//! HSM-internal object names (Primus §1.6): an object's name from its label, and finding an
//! object by name as Primus Tools and JCE address keys.
use crate::base::error::{Result, err};
use cryptoki_sys::*;

pub use crate::base::vendor_codes::CKR_PRIMUS_KEY_NOT_FOUND;

/// The provider's hidden differentiator between a label and an object's unique id
/// (Primus §1.6: `"label"@?!<uid>`).
pub const NAME_DIFFERENTIATOR: &str = "@?!";

pub use crate::base::vendor_codes::CKA_HSMSIM_PRIMUS_NAME;

/// An object's HSM-internal name: its label when no other object of the partition (of the
/// same class; simulator-defined, so that a key pair and its certificate share a name) already
/// has that name, else `label@?!<unique id>` (Primus §1.6).
pub fn hsm_name(label: &str, unique_id: &str, taken: bool) -> String {
    if taken {
        format!("{label}{NAME_DIFFERENTIATOR}{unique_id}")
    } else {
        label.to_string()
    }
}

/// Finds an object by HSM name among `(item, hsm name, label)` entries, as Primus Tools and
/// JCE address keys: the object with exactly that name; else the one object whose label it is;
/// several such objects (objects of several classes sharing the name, or several labelled so
/// with none named so) are ambiguous (`CKR_ARGUMENTS_BAD` naming them, simulator-defined);
/// none is 0x80000012 "key not found" (documented).
pub fn find_by_name<T: Clone>(entries: &[(T, String, String)], name: &str) -> Result<T> {
    let named: Vec<&(T, String, String)> = entries.iter().filter(|(_, n, _)| n == name).collect();
    let labelled: Vec<&(T, String, String)> = if named.is_empty() {
        entries.iter().filter(|(_, _, l)| l == name).collect()
    } else {
        named
    };
    match labelled.as_slice() {
        [] => Err(err(
            CKR_PRIMUS_KEY_NOT_FOUND,
            format!("no key is named \"{name}\""),
        )),
        [(item, _, _)] => Ok(item.clone()),
        many => Err(err(
            CKR_ARGUMENTS_BAD,
            format!(
                "the name \"{name}\" is ambiguous: {} objects have it as name or label; name one of {} (or give the object class)",
                many.len(),
                many.iter()
                    .map(|(_, n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}
