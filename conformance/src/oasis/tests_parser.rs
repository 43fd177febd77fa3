//! Tests of the OASIS test case reader and of the comparison rules (no module needed).
use super::replay::compare_item;
use super::xml::{self, Item, symbol};
use super::*;

fn case(procedure: &str, variant: &str) -> xml::TestCase {
    let f = file(procedure, variant).expect("vendored");
    xml::parse(f.text).unwrap_or_else(|e| panic!("{}: {e}", f.path))
}

#[test]
fn every_vendored_file_parses_and_matches_the_catalogue_steps() {
    let catalogue = crate::catalogue::procedures();
    assert_eq!(FILES.len(), 8);
    for f in FILES {
        let parsed = xml::parse(f.text).unwrap_or_else(|e| panic!("{}: {e}", f.path));
        assert_eq!(
            parsed.calls.first().map(|c| c.function.as_str()),
            Some("C_Initialize")
        );
        assert_eq!(
            parsed.calls.last().map(|c| c.function.as_str()),
            Some("C_Finalize")
        );
        assert!(parsed.calls.iter().all(|c| c.rv == "OK"), "{}", f.path);
        let want = if f.variant == "v3.1" { (3, 1) } else { (3, 2) };
        assert_eq!(file_version(&parsed), Some(want), "{}", f.path);
        // The catalogue's steps are the file's calls, in order.
        let p = catalogue
            .iter()
            .find(|p| p.id == f.procedure)
            .unwrap_or_else(|| panic!("{} is in the catalogue", f.procedure));
        let calls: Vec<&str> = parsed.calls.iter().map(|c| c.function.as_str()).collect();
        let steps: Vec<&str> = p.steps.iter().map(|s| s.calls.as_str()).collect();
        assert_eq!(calls, steps, "{}", f.path);
        assert!(p.variants.iter().any(|v| v.id == f.variant));
        assert!(p.tags.iter().any(|t| t == crate::runner::EXCLUSIVE_TAG));
    }
}

#[test]
fn the_3_1_and_3_2_shapes_read_alike() {
    // 3.1: <Info MaxSessionCount="0" ...> under C_GetTokenInfo; 3.2: <TokenInfo> with
    // children. Both read as TokenInfo with a MaxSessionCount child.
    for variant in ["v3.1", "v3.2"] {
        let c = case("oasis.extended", variant);
        let token = c
            .calls
            .iter()
            .find(|c| c.function == "C_GetTokenInfo")
            .and_then(|c| c.output("TokenInfo"))
            .unwrap_or_else(|| panic!("{variant}: TokenInfo"));
        assert_eq!(
            token.child("MaxPinLen").and_then(|i| i.value()),
            Some("255")
        );
        assert_eq!(
            token
                .child("label")
                .and_then(|i| i.value())
                .map(str::trim_end),
            Some("token1")
        );
        let mech = c
            .calls
            .iter()
            .filter(|c| c.function == "C_GetMechanismInfo")
            .nth(1)
            .and_then(|c| c.output("MechanismInfo"))
            .unwrap_or_else(|| panic!("{variant}: MechanismInfo"));
        assert_eq!(
            mech.child("MaxKeySize").and_then(|i| i.value()),
            Some("16384")
        );
        assert_eq!(
            mech.child("Flags").and_then(|i| i.value()),
            Some("GENERATE_KEY_PAIR")
        );
    }
    // The 3.2 files' stray text line inside <Info> is not an element.
    let info = case("oasis.baseline", "v3.2").calls[1]
        .output("Info")
        .cloned();
    let names: Vec<String> = info
        .map(|i| i.children.into_iter().map(|c| c.name).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        [
            "CryptokiVersion",
            "ManufacturerID",
            "Flags",
            "LibraryDescription",
            "LibraryVersion"
        ]
    );
}

#[test]
fn symbolic_identifiers_are_read_as_such() {
    assert_eq!(symbol("${SlotList.SlotID[0]}"), Some("SlotList.SlotID[0]"));
    assert_eq!(symbol(" ${Session} "), Some("Session"));
    assert_eq!(symbol("${Pin}"), Some("Pin"));
    assert_eq!(symbol("12"), None);
    assert_eq!(symbol("$Session"), None);
    let c = case("oasis.authentication-token", "v3.2");
    // The first GetSlotList's output binds ${SlotList.length}; the second's input uses it.
    assert_eq!(
        c.calls[2]
            .output("SlotList")
            .and_then(|s| s.length())
            .and_then(symbol),
        Some("SlotList.length")
    );
    assert_eq!(
        c.calls[3]
            .input("SlotList")
            .and_then(|s| s.length())
            .and_then(symbol),
        Some("SlotList.length")
    );
    let login = c
        .calls
        .iter()
        .find(|c| c.function == "C_Login")
        .expect("login");
    assert_eq!(
        login.input("Pin").and_then(|p| p.value()).and_then(symbol),
        Some("Pin")
    );
    // Both FindObjects outputs bind ${Object.Object[0]} (public, then private key).
    let bound: Vec<_> = c
        .calls
        .iter()
        .filter(|c| c.function == "C_FindObjects")
        .filter_map(|c| c.output("Object"))
        .flat_map(|o| o.children.iter().filter_map(|x| x.value().and_then(symbol)))
        .collect();
    assert_eq!(bound, ["Object.Object[0]", "Object.Object[0]"]);
}

#[test]
fn malformed_files_are_refused_with_the_line() {
    let e = xml::parse("<PKCS11><C_GetInfo/><C_Finalize/></PKCS11>").unwrap_err();
    assert!(e.contains("has no response"), "{e}");
    let e = xml::parse("<PKCS11><C_GetInfo rv=\"OK\"/></PKCS11>").unwrap_err();
    assert!(e.contains("has no request"), "{e}");
    let e = xml::parse("<PKCS11>\n<C_GetInfo/>\n<C_Finalize rv=\"OK\"/></PKCS11>").unwrap_err();
    assert!(
        e.contains("line 3") && e.contains("answers the request <C_GetInfo>"),
        "{e}"
    );
    assert!(xml::parse("<Other/>").unwrap_err().contains("not <PKCS11>"));
    assert!(xml::parse("<PKCS11>").unwrap_err().contains("not XML"));
}

fn item(name: &str, value: &str) -> Item {
    Item {
        name: name.into(),
        attrs: vec![("value".into(), value.into())],
        children: Vec::new(),
    }
}

#[test]
fn variable_items_may_differ_and_others_may_not() {
    // A variable item (provider information) that differs passes, and says so.
    let note = compare_item(
        &[],
        &item("ManufacturerID", "OASIS PKCS#11 TC                "),
        "Securosys SA",
    )
    .expect("variable");
    assert!(note.contains("variable item"), "{note}");
    let note = compare_item(
        &[],
        &item("label", "token1                          "),
        "ACME-DR",
    )
    .expect("variable");
    assert!(note.contains("variable item"), "{note}");
    // A non-variable item that differs fails, naming both values.
    let e = compare_item(&[], &item("Signature", "00ff"), "00fe").unwrap_err();
    assert!(
        e.contains("Signature") && e.contains("00fe") && e.contains("00ff"),
        "{e}"
    );
    // ... and passes when equal (blank padding aside).
    compare_item(&[], &item("Signature", "00ff"), "00ff").expect("equal");
    // A test case may add variable items (AUTH's generated fixture key).
    compare_item(&["Signature"], &item("Signature", "00ff"), "00fe").expect("made variable");
}

#[test]
fn names_numbers_and_flags_read_as_the_representation_writes_them() {
    use cryptoki_sys::*;
    assert_eq!(names::ulong("SHA512", names::MECHANISMS), Ok(CKM_SHA512));
    assert_eq!(names::ulong("0x10", &[]), Ok(16));
    assert_eq!(names::ulong("42", &[]), Ok(42));
    assert_eq!(
        names::ulong("UnavailableInformation", &[]),
        Ok(CK_UNAVAILABLE_INFORMATION)
    );
    assert!(names::ulong("NOT_A_NAME", names::MECHANISMS).is_err());
    assert_eq!(
        names::flags("RW_SESSION|SERIAL_SESSION", names::SESSION_FLAGS),
        Ok(CKF_RW_SESSION | CKF_SERIAL_SESSION)
    );
    assert_eq!(
        names::flags("ENCRYPT DECRYPT", names::MECHANISM_FLAGS),
        Ok(CKF_ENCRYPT | CKF_DECRYPT)
    );
    assert_eq!(names::flags("0x0", &[]), Ok(0));
    assert_eq!(names::boolean("TRUE"), Ok(true));
    assert_eq!(
        names::flag_names(CKF_RNG | CKF_TOKEN_INITIALIZED, names::TOKEN_FLAGS),
        "RNG|TOKEN_INITIALIZED"
    );
}

#[test]
fn the_vendored_certificate_is_the_files_object_value() {
    for variant in ["v3.1", "v3.2"] {
        let c = case("oasis.public-certificates-token", variant);
        let value = c
            .calls
            .iter()
            .filter(|c| c.function == "C_GetAttributeValue")
            .filter_map(|c| c.output("Template"))
            .flat_map(|t| t.children.iter())
            .find(|a| a.attr("type") == Some("VALUE") && a.value().is_some())
            .and_then(|a| a.value())
            .expect("VALUE");
        assert_eq!(
            hex::decode(value).ok().as_deref(),
            Some(GLOBALSIGN_ROOT_CA),
            "{variant}"
        );
    }
    assert_eq!(GLOBALSIGN_ROOT_CA.len(), 889);
}
