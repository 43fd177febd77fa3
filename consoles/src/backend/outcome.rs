//! How token operations end when they do not succeed: `Stop` (a failure with its detail, or
//! a capability the token lacks), and the `CKR_*` names the details and call records use
//! (`ckr_name`, `describe_error`), vendor codes by their vendor name where the simulator knows it.
/// A return code's name, vendor codes included (Luna, Primus): the simulator's table, the
/// one line that ties the backend to the simulator crate.
pub use hsmsim::base::error::rv_name;

/// Why an operation (a console command, a scenario's step) stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The operation failed; `step` names the documented step it was, filled in by the
    /// conformance runner (`None` elsewhere).
    Fail {
        step: Option<String>,
        detail: String,
    },
    /// A token lacks what the operation needs.
    NotApplicable(String),
}

impl Stop {
    pub fn fail(detail: impl Into<String>) -> Stop {
        Stop::Fail {
            step: None,
            detail: detail.into(),
        }
    }
}

impl From<cryptoki::error::Error> for Stop {
    fn from(e: cryptoki::error::Error) -> Self {
        Stop::fail(describe_error(&e))
    }
}

/// A cryptoki error with the `CKR_*` name ("C_WrapKey: CKR_KEY_UNEXTRACTABLE").
pub fn describe_error(e: &cryptoki::error::Error) -> String {
    match e {
        cryptoki::error::Error::Pkcs11(rv, function) => {
            // cryptoki writes `Function::WrapKey`; PKCS#11 names it `C_WrapKey`.
            let function = function.to_string();
            let call = function
                .strip_prefix("Function::")
                .map_or(function.clone(), |f| format!("C_{f}"));
            format!("{call}: {}", ckr_name(rv))
        }
        other => other.to_string(),
    }
}

/// `RvError::KeyUnextractable` -> "CKR_KEY_UNEXTRACTABLE"; vendor codes by their vendor name
/// where the simulator knows it (Luna, Primus), else "CKR_VENDOR_DEFINED+0x..".
pub fn ckr_name(rv: &cryptoki::error::RvError) -> String {
    use cryptoki::error::RvError;
    if let RvError::VendorDefined(code) | RvError::UnknownErrorCode(code) = rv {
        return match rv_name(*code) {
            "CKR_VENDOR_DEFINED" | "CKR_UNKNOWN" => format!("CKR 0x{code:08X}"),
            name => format!("{name} (0x{code:08X})"),
        };
    }
    let debug = format!("{rv:?}");
    let (name, rest) = debug.split_once('(').unwrap_or((&debug, ""));
    let mut out = String::from("CKR");
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    if rest.is_empty() {
        out
    } else {
        format!("{out}({}", rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_the_ckr_names() {
        use cryptoki::error::RvError;
        assert_eq!(
            ckr_name(&RvError::KeyUnextractable),
            "CKR_KEY_UNEXTRACTABLE"
        );
        assert_eq!(ckr_name(&RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(
            ckr_name(&RvError::VendorDefined(0x8000_002A)),
            "CKR_PRIMUS_KEY_IMPORT_NOT_ALLOWED (0x8000002A)"
        );
        assert_eq!(
            ckr_name(&RvError::VendorDefined(0x8000_4242)),
            "CKR 0x80004242"
        );
    }
}
