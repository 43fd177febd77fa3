//! The PKCS#11 XML representation of the OASIS profile test cases, read into calls: each call
//! is the request element (named after the function, inputs as children) and the same-named
//! response element that follows it (`rv="OK"`, outputs as children). Element and attribute
//! names are kept as written; namespaces are ignored (local names).
//!
//! Quirks of the published files tolerated here (simulator-defined, so that both published
//! shapes read into one):
//! - the 3.2 files' bare text line `# use "fake" OASIS information ...` inside `<Info>` (text,
//!   not a comment) is ignored, as is any text between elements;
//! - the 3.1 files' `<Info ...>` for `SlotInfo`, `TokenInfo` and `MechanismInfo` is renamed
//!   after the function's output (`C_GetSlotInfo` -> `SlotInfo`, ...), and its counts given as
//!   XML attributes (`<Info MaxSessionCount="0" ...>`) become child elements
//!   (`<MaxSessionCount value="0"/>`), the 3.2 shape;
//! - XML comments (the 3.1 files' licence header, pkcs11-test's commented-out `SlotID[1]`)
//!   are skipped.
use std::fmt;

/// The XML attributes the representation gives an element's own meaning; any other attribute
/// is a 3.1-style count, read as a child element.
const OWN_ATTRIBUTES: &[&str] = &["type", "value", "length", "major", "minor", "rv"];

/// One element of a call's inputs or outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub name: String,
    /// `type`, `value`, `length`, `major`, `minor`, as written.
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Item>,
}

impl Item {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn value(&self) -> Option<&str> {
        self.attr("value")
    }

    pub fn length(&self) -> Option<&str> {
        self.attr("length")
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Item> {
        self.children.iter().find(|c| c.name == name)
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}", self.name)?;
        for (k, v) in &self.attrs {
            let v = if v.len() > 40 {
                format!("{}...({} chars)", &v[..32], v.len())
            } else {
                v.clone()
            };
            write!(f, " {k}=\"{v}\"")?;
        }
        if self.children.is_empty() {
            return f.write_str("/>");
        }
        f.write_str(">")?;
        for c in &self.children {
            write!(f, "{c}")?;
        }
        write!(f, "</{}>", self.name)
    }
}

/// One PKCS#11 call of a test case: what goes in, the return code and what comes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `C_GetSlotList`.
    pub function: String,
    pub inputs: Vec<Item>,
    /// The expected return code without its `CKR_` prefix (`OK`).
    pub rv: String,
    pub outputs: Vec<Item>,
    /// The request's line in the file.
    pub line: u32,
}

impl Call {
    pub fn input(&self, name: &str) -> Option<&Item> {
        self.inputs.iter().find(|c| c.name == name)
    }

    pub fn output(&self, name: &str) -> Option<&Item> {
        self.outputs.iter().find(|c| c.name == name)
    }

    /// The request as one line: `C_GetSlotList(<TokenPresent value="true"/><SlotList/>)`.
    pub fn describe(&self) -> String {
        let inputs: Vec<String> = self.inputs.iter().map(|i| i.to_string()).collect();
        format!("{}({})", self.function, inputs.join(""))
    }
}

/// A test case file: its calls in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    pub calls: Vec<Call>,
}

/// Reads a test case file; the error names the line and what is wrong.
pub fn parse(text: &str) -> Result<TestCase, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "PKCS11" {
        return Err(format!(
            "the root element is <{}>, not <PKCS11>",
            root.tag_name().name()
        ));
    }
    let line = |n: roxmltree::Node<'_, '_>| doc.text_pos_at(n.range().start).row;
    let mut calls = Vec::new();
    let mut pending: Option<(String, Vec<Item>, u32)> = None;
    for node in root.children().filter(|n| n.is_element()) {
        let name = node.tag_name().name().to_string();
        match (node.attribute("rv"), pending.take()) {
            (None, None) => {
                let inputs = node.children().filter(|c| c.is_element());
                pending = Some((name, inputs.map(|c| item(c, None)).collect(), line(node)));
            }
            (None, Some((request, _, at))) => {
                return Err(format!(
                    "line {}: <{name}> follows the request <{request}> of line {at}, which has no response (rv=...)",
                    line(node)
                ));
            }
            (Some(_), None) => {
                return Err(format!(
                    "line {}: the response <{name} rv=...> has no request before it",
                    line(node)
                ));
            }
            (Some(rv), Some((request, inputs, at))) => {
                if request != name {
                    return Err(format!(
                        "line {}: the response <{name}> answers the request <{request}> of line {at}",
                        line(node)
                    ));
                }
                let outputs = node
                    .children()
                    .filter(|c| c.is_element())
                    .map(|c| item(c, Some(&name)))
                    .collect();
                calls.push(Call {
                    function: name,
                    inputs,
                    rv: rv.trim().trim_start_matches("CKR_").to_string(),
                    outputs,
                    line: at,
                });
            }
        }
    }
    if let Some((request, _, at)) = pending {
        return Err(format!(
            "the request <{request}> of line {at} has no response"
        ));
    }
    if calls.is_empty() {
        return Err("the file has no call".into());
    }
    Ok(TestCase { calls })
}

/// An element as an [`Item`]; `response_of` is the function when the element is a direct
/// output of a response (where the 3.1 `<Info>` is renamed).
fn item(node: roxmltree::Node<'_, '_>, response_of: Option<&str>) -> Item {
    let mut name = node.tag_name().name().to_string();
    if name == "Info" {
        match response_of {
            Some("C_GetSlotInfo") => name = "SlotInfo".into(),
            Some("C_GetTokenInfo") => name = "TokenInfo".into(),
            Some("C_GetMechanismInfo") => name = "MechanismInfo".into(),
            _ => {}
        }
    }
    let mut attrs = Vec::new();
    let mut children = Vec::new();
    for a in node.attributes() {
        if OWN_ATTRIBUTES.contains(&a.name()) {
            attrs.push((a.name().to_string(), a.value().to_string()));
        } else {
            children.push(Item {
                name: a.name().to_string(),
                attrs: vec![("value".into(), a.value().to_string())],
                children: Vec::new(),
            });
        }
    }
    children.extend(
        node.children()
            .filter(|c| c.is_element())
            .map(|c| item(c, None)),
    );
    Item {
        name,
        attrs,
        children,
    }
}

/// The symbolic identifier a value names (`${Session}` -> `Session`), if it is one.
pub fn symbol(text: &str) -> Option<&str> {
    text.trim()
        .strip_prefix("${")
        .and_then(|s| s.strip_suffix('}'))
}
