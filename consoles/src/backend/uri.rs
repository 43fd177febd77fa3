//! Naming a token to run against: `sim` (a scratch lab of this simulator that the runner
//! creates) or a PKCS#11 URI (RFC 7512), e.g.
//! `pkcs11:token=peer?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234`.
//! Path attributes select the token (`token`, `manufacturer`, `serial`, `model`, `slot-id`,
//! `slot-description`, `slot-manufacturer`); query attributes say how to reach it
//! (`module-path`, `module-name`, `pin-value`, `pin-source`). Values are percent-decoded.
//! Unknown standard attributes are errors; vendor attributes (`x-...`) are ignored.
use percent_encoding::percent_decode_str;
use std::fmt;
use std::path::PathBuf;

/// What selects a token among a module's slots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenSelector {
    pub token: Option<String>,
    pub manufacturer: Option<String>,
    pub serial: Option<String>,
    pub model: Option<String>,
    pub slot_id: Option<u64>,
    pub slot_description: Option<String>,
    pub slot_manufacturer: Option<String>,
}

impl fmt::Display for TokenSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (name, value) in [
            ("token", &self.token),
            ("manufacturer", &self.manufacturer),
            ("serial", &self.serial),
            ("model", &self.model),
            ("slot-description", &self.slot_description),
            ("slot-manufacturer", &self.slot_manufacturer),
        ] {
            if let Some(v) = value {
                parts.push(format!("{name}={v:?}"));
            }
        }
        if let Some(id) = self.slot_id {
            parts.push(format!("slot-id={id}"));
        }
        if parts.is_empty() {
            f.write_str("any token")
        } else {
            f.write_str(&parts.join(";"))
        }
    }
}

impl TokenSelector {
    /// Whether nothing narrows the choice.
    pub fn is_empty(&self) -> bool {
        *self == TokenSelector::default()
    }
}

/// A parsed target name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetName {
    /// The simulator on a scratch lab; the procedure picks the partition unless `token` is
    /// given (`sim` or `sim:token=ACME-CLOUD`).
    Sim { selector: TokenSelector },
    /// A PKCS#11 module and one of its tokens.
    Uri(Pkcs11Uri),
}

/// A PKCS#11 URI (RFC 7512).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    pub selector: TokenSelector,
    pub module_path: Option<PathBuf>,
    pub module_name: Option<String>,
    pub pin_value: Option<String>,
    pub pin_source: Option<PathBuf>,
}

/// A target name that could not be read, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriError(pub String);

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UriError {}

fn decode(value: &str, attribute: &str) -> Result<String, UriError> {
    percent_decode_str(value)
        .decode_utf8()
        .map(|v| v.into_owned())
        .map_err(|_| UriError(format!("`{attribute}` is not UTF-8 after percent-decoding")))
}

fn set_path_attribute(
    selector: &mut TokenSelector,
    name: &str,
    value: String,
) -> Result<(), UriError> {
    let slot = match name {
        "token" => &mut selector.token,
        "manufacturer" => &mut selector.manufacturer,
        "serial" => &mut selector.serial,
        "model" => &mut selector.model,
        "slot-description" => &mut selector.slot_description,
        "slot-manufacturer" => &mut selector.slot_manufacturer,
        "slot-id" => {
            let id = value
                .parse()
                .map_err(|_| UriError(format!("slot-id must be a number, not {value:?}")))?;
            if selector.slot_id.replace(id).is_some() {
                return Err(UriError("slot-id is given twice".into()));
            }
            return Ok(());
        }
        // Object attributes select objects, not tokens: accepted and unused here.
        "object"
        | "id"
        | "type"
        | "library-manufacturer"
        | "library-description"
        | "library-version" => return Ok(()),
        x if x.starts_with("x-") => return Ok(()),
        other => {
            return Err(UriError(format!(
                "unknown path attribute `{other}` (RFC 7512 has token, manufacturer, serial, model, slot-id, slot-description, slot-manufacturer, object, id, type, library-*)"
            )));
        }
    };
    if slot.replace(value).is_some() {
        return Err(UriError(format!("`{name}` is given twice")));
    }
    Ok(())
}

/// Reads `sim`, `sim:<path attributes>` or `pkcs11:<path>?<query>`.
pub fn parse(text: &str) -> Result<TargetName, UriError> {
    let text = text.trim();
    if text == "sim" {
        return Ok(TargetName::Sim {
            selector: TokenSelector::default(),
        });
    }
    if let Some(path) = text.strip_prefix("sim:") {
        let mut selector = TokenSelector::default();
        for part in path.split(';').filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| UriError(format!("`{part}` is not name=value")))?;
            set_path_attribute(&mut selector, name, decode(value, name)?)?;
        }
        return Ok(TargetName::Sim { selector });
    }
    let Some(rest) = text.strip_prefix("pkcs11:") else {
        return Err(UriError(format!(
            "{text:?} is neither `sim` nor a PKCS#11 URI (pkcs11:token=NAME?module-path=/path/to/module.so&pin-value=PIN)"
        )));
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut uri = Pkcs11Uri::default();
    for part in path.split(';').filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| UriError(format!("path attribute `{part}` is not name=value")))?;
        set_path_attribute(&mut uri.selector, name, decode(value, name)?)?;
    }
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| UriError(format!("query attribute `{part}` is not name=value")))?;
        let value = decode(value, name)?;
        let duplicate = match name {
            "module-path" => uri.module_path.replace(PathBuf::from(value)).is_some(),
            "module-name" => uri.module_name.replace(value).is_some(),
            "pin-value" => uri.pin_value.replace(value).is_some(),
            "pin-source" => {
                let file = value.strip_prefix("file:").unwrap_or(&value);
                uri.pin_source.replace(PathBuf::from(file)).is_some()
            }
            x if x.starts_with("x-") => false,
            other => {
                return Err(UriError(format!(
                    "unknown query attribute `{other}` (RFC 7512 has module-path, module-name, pin-value, pin-source)"
                )));
            }
        };
        if duplicate {
            return Err(UriError(format!("`{name}` is given twice")));
        }
    }
    if uri.module_path.is_none() && uri.module_name.is_none() {
        return Err(UriError(
            "the URI names no module: add ?module-path=/path/to/module.so (or module-name=NAME)"
                .into(),
        ));
    }
    if uri.pin_value.is_some() && uri.pin_source.is_some() {
        return Err(UriError(
            "give either pin-value or pin-source, not both".into(),
        ));
    }
    Ok(TargetName::Uri(uri))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sim_and_uris_with_percent_encoding() {
        assert_eq!(
            parse("sim").unwrap(),
            TargetName::Sim {
                selector: TokenSelector::default()
            }
        );
        let TargetName::Sim { selector } = parse("sim:token=ACME-CLOUD").unwrap() else {
            panic!("sim")
        };
        assert_eq!(selector.token.as_deref(), Some("ACME-CLOUD"));
        let TargetName::Uri(u) = parse(
            "pkcs11:token=My%20Token;slot-id=3?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=12%3B34",
        )
        .unwrap() else {
            panic!("uri")
        };
        assert_eq!(u.selector.token.as_deref(), Some("My Token"));
        assert_eq!(u.selector.slot_id, Some(3));
        assert_eq!(
            u.module_path.as_deref(),
            Some(std::path::Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(u.pin_value.as_deref(), Some("12;34"));
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        for (text, why) in [
            ("pkcs11:token=a", "names no module"),
            (
                "pkcs11:colour=red?module-path=/x.so",
                "unknown path attribute",
            ),
            ("pkcs11:token=a;token=b?module-path=/x.so", "given twice"),
            ("pkcs11:slot-id=x?module-path=/x.so", "must be a number"),
            ("pkcs11:?module-path=/x.so&pin=1", "unknown query attribute"),
            (
                "pkcs11:?module-path=/x.so&pin-value=1&pin-source=/p",
                "either pin-value or pin-source",
            ),
            ("softhsm", "neither `sim` nor a PKCS#11 URI"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.0.contains(why), "{text}: {e}");
        }
    }
}
