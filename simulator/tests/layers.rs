//! The crate's layers depend one way (README, Architecture): each top-level module of
//! `simulator/src` is a layer, and a file may name only its own layer and the ones below it.
//! This test reads every `crate::...` and `super::...` path of every source file (comments
//! left out), resolves it to the layer it reaches, and fails on an edge that points up, naming
//! the file, the line and the rule. It also keeps the crates above the simulator (the CLI, the
//! conformance suite, the consoles, the benchmarks) off the store.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers, bottom first.
const LAYERS: &[&str] = &[
    "base", "crypto", "object", "store", "models", "lab", "estate", "engine", "pkcs11",
];

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == layer)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `.rs` file below `dir`, sorted.
fn sorted_rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    files.sort();
    files
}

/// A line without its `//` comment (string literals holding `//` are rare enough in this
/// crate's paths; a literal `"://"` keeps the line whole up to it, which can only add paths).
fn code_of(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed.starts_with("//") {
        return "";
    }
    match line.find(" //") {
        Some(i) if !line[..i].contains('"') => &line[..i],
        _ => line,
    }
}

/// The module path of a source file relative to `src` (`crypto/ffi/ec.rs` -> crypto, ffi, ec;
/// `crypto/mod.rs` -> crypto).
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The first module every `crate::` or `super::` path of `code` reaches from module `here`.
fn reached(code: &str, here: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if boundary && rest.starts_with("crate::") {
            let after = &rest["crate::".len()..];
            if let Some(first) = first_segment(after) {
                out.extend(first);
            }
            i += "crate::".len();
        } else if boundary && rest.starts_with("super::") {
            let mut up = 0;
            let mut after = rest;
            while let Some(r) = after.strip_prefix("super::") {
                up += 1;
                after = r;
            }
            let base = &here[..here.len().saturating_sub(up)];
            match base.first() {
                Some(layer) => out.push(layer.clone()),
                None => {
                    if let Some(first) = first_segment(after) {
                        out.extend(first);
                    }
                }
            }
            i += "super::".len() * up;
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    out
}

/// The first path segment(s) after `crate::`: one name, or each name of a `{a, b::c}` group.
fn first_segment(after: &str) -> Option<Vec<String>> {
    if let Some(group) = after.strip_prefix('{') {
        let inner = &group[..group.find('}')?];
        return Some(
            inner
                .split(',')
                .filter_map(|item| {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    (!name.is_empty()).then_some(name)
                })
                .collect(),
        );
    }
    let name: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then(|| vec![name])
}

#[test]
fn every_layer_imports_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = sorted_rust_files(&src);
    let mut violations = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        if relative == Path::new("lib.rs") {
            continue;
        }
        let here = module_path(relative);
        let layer = &here[0];
        let Some(own) = rank(layer) else {
            violations.push(format!(
                "{}: the top-level module {layer:?} is no layer; add it to LAYERS (and the README) or move it into one",
                relative.display()
            ));
            continue;
        };
        *seen.entry(layer.clone()).or_default() += 1;
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for target in reached(code_of(line), &here) {
                match rank(&target) {
                    Some(r) if r > own => violations.push(format!(
                        "{}:{}: layer {layer} uses {target}, a layer above it: {}",
                        relative.display(),
                        n + 1,
                        line.trim()
                    )),
                    Some(_) => {}
                    // `crate::SomeMacro` or a name re-exported at the root: not a layer.
                    None => {}
                }
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    // Every layer exists and holds code (a renamed folder must be renamed here too).
    for layer in LAYERS {
        assert!(seen.contains_key(*layer), "no files in layer {layer}");
    }
}

#[test]
fn the_crates_above_the_simulator_never_reach_into_the_store() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut violations = Vec::new();
    for krate in ["cli", "conformance", "consoles", "benches"] {
        let dir = workspace.join(krate);
        if !dir.exists() {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&dir, &mut files);
        for file in files
            .iter()
            .filter(|f| !f.components().any(|c| c.as_os_str() == "target"))
        {
            let text = std::fs::read_to_string(file).unwrap();
            for (n, line) in text.lines().enumerate() {
                if code_of(line).contains("hsmsim::store") {
                    violations.push(format!(
                        "{}:{}: {}",
                        file.strip_prefix(workspace).unwrap().display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// The vendor models whose rules the engine must not name: it asks the vendor-model interface
/// (`models::TokenModel`) instead, so a new vendor or a changed rule touches the models only.
const VENDOR_MODELS: &[&str] = &["luna", "primus", "ped"];

/// The one engine file that may name them: the dispatch of the vendor's own extension calls
/// (`CA_*`), which hands a view of a partition to `models::luna_ca`.
const EXTENSION_CALLS: &str = "extension_calls.rs";

/// Every vendor model a `models::...` path of `code` names (`models::luna::X`,
/// `models::{luna, primus}`, `models::luna_ca`), with the byte offset of the path.
fn vendor_models_named(code: &str) -> Vec<(usize, String)> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    for (i, _) in code.match_indices("models::") {
        if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
            continue;
        }
        for name in first_segment(&code[i + "models::".len()..]).unwrap_or_default() {
            if VENDOR_MODELS
                .iter()
                .any(|v| name == *v || name.starts_with(&format!("{v}_")))
            {
                out.push((i, name));
            }
        }
    }
    out
}

/// Issue 12 item 2: the engine keeps no vendor logic. Its files reach the vendor models only
/// through `models::TokenModel` (and the model-neutral types beside it), never
/// `models::luna`, `models::primus` or `models::ped` directly, except the `CA_*` dispatch file.
/// A vendor rule that creeps back into the engine shows up here as an import of its model.
#[test]
fn engine_names_no_vendor_model() {
    let engine = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine");
    let files = sorted_rust_files(&engine);
    let mut violations = Vec::new();
    for file in files
        .iter()
        .filter(|f| f.file_name().is_none_or(|n| n != EXTENSION_CALLS))
    {
        let text = std::fs::read_to_string(file).unwrap();
        // Whole-file code (comments left out), so a `use` group over several lines counts.
        let code: String = text.lines().map(|l| format!("{}\n", code_of(l))).collect();
        for (at, name) in vendor_models_named(&code) {
            let line = code[..at].matches('\n').count() + 1;
            violations.push(format!(
                "engine/{}:{line}: names models::{name}; ask models::TokenModel instead",
                file.strip_prefix(&engine).unwrap().display()
            ));
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_path_reader_finds_what_it_must() {
    let here = module_path(Path::new("crypto/ffi/ec.rs"));
    assert_eq!(here, ["crypto", "ffi", "ec"]);
    assert_eq!(module_path(Path::new("crypto/mod.rs")), ["crypto"]);
    assert_eq!(reached("use crate::engine::Engine;", &here), ["engine"]);
    assert_eq!(reached("use super::super::x;", &here), ["crypto"]);
    assert_eq!(
        reached("use crate::{base::error, models::luna};", &here),
        ["base", "models"]
    );
    assert!(reached("use my_crate::engine;", &here).is_empty());
    assert_eq!(code_of("    // crate::engine in a comment"), "");
    assert_eq!(code_of("let x = 1; // crate::engine"), "let x = 1;");
    let top = module_path(Path::new("engine/mod.rs"));
    assert_eq!(reached("use super::x;", &top), ["x"]);
    assert_eq!(
        vendor_models_named("use crate::models::{\n    TokenModel,\n    luna::X, ped};"),
        [(11, "luna".to_string()), (11, "ped".to_string())]
    );
    assert_eq!(
        vendor_models_named("crate::models::luna_ca::f(); crate::models::Consequence"),
        [(7, "luna_ca".to_string())]
    );
    assert!(vendor_models_named("my_models::luna").is_empty());
}
