//! Where the workspace may use `unsafe` (README, Architecture): at the C ABI, on either side of
//! it, and in the crypto FFI folder. The module's side is `simulator/src/pkcs11/`; the client
//! sides are the consoles' backend that loads any PKCS#11 library (`consoles/src/backend/raw.rs`
//! for the `CA_*` calls cryptoki does not bind, `module.rs` for probing a library's symbols),
//! the OASIS replayer (`conformance/src/oasis/replay.rs`, which makes each call of a profile's
//! XML file as written: NULL buffers, length queries and raw templates cryptoki cannot express),
//! the benchmark harness (`benches/src/lib.rs`) and the tests and benchmarks that call the C
//! ABI; aws-lc's C functions are called only from `simulator/src/crypto/ffi/`. This test reads
//! every Rust file of the workspace and fails on an `unsafe` anywhere else, and on any unsafe
//! block or `unsafe impl` without a `// SAFETY:` comment in the lines just above it.
use std::path::{Path, PathBuf};

/// Source files and folders (relative to the workspace root) where `unsafe` may appear.
const ALLOWED: &[&str] = &[
    "simulator/src/pkcs11/",
    "simulator/src/crypto/ffi/",
    "consoles/src/backend/raw.rs",
    "consoles/src/backend/module.rs",
    "conformance/src/oasis/replay.rs",
    "benches/src/lib.rs",
];

/// Test and benchmark folders: they drive the C ABI as a client does.
fn is_client_code(relative: &str) -> bool {
    relative
        .split('/')
        .nth(1)
        .is_some_and(|part| part == "tests" || part == "benches")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A line without its `//` comment and without string literals' contents.
fn code_of(line: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_string => {
                chars.next();
            }
            '"' => in_string = !in_string,
            '/' if !in_string && chars.peek() == Some(&'/') => break,
            _ if in_string => {}
            _ => out.push(c),
        }
    }
    out
}

fn has_word(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + word.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        boundary(before) && boundary(after)
    })
}

/// An unsafe block or impl (not an `unsafe extern "C" fn` type or an exported function's
/// signature, whose contract is the C standard's).
fn opens_unsafe_block(code: &str) -> bool {
    code.match_indices("unsafe").any(|(i, _)| {
        let rest = code[i + "unsafe".len()..].trim_start();
        rest.starts_with('{') || rest.starts_with("impl")
    })
}

/// The problems of one file: each names the file, the line and the rule.
fn problems_of(relative: &str, text: &str) -> Vec<String> {
    let allowed = is_client_code(relative) || ALLOWED.iter().any(|a| relative.starts_with(a));
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let code = code_of(line);
        if !has_word(&code, "unsafe") {
            continue;
        }
        if !allowed {
            out.push(format!(
                "{relative}:{}: `unsafe` outside the C ABI and the crypto FFI folder: {}",
                i + 1,
                line.trim()
            ));
        }
        let above = &lines[i.saturating_sub(8)..=i];
        if opens_unsafe_block(&code) && !above.iter().any(|l| l.contains("SAFETY:")) {
            out.push(format!(
                "{relative}:{}: an unsafe block without a `// SAFETY:` comment above it: {}",
                i + 1,
                line.trim()
            ));
        }
    }
    out
}

#[test]
fn unsafe_code_stays_at_the_c_abi_and_says_why_it_is_sound() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let mut problems = Vec::new();
    let mut seen_unsafe = 0;
    for file in &files {
        let relative = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(file).unwrap();
        seen_unsafe += text
            .lines()
            .filter(|l| has_word(&code_of(l), "unsafe"))
            .count();
        problems.extend(problems_of(&relative, &text));
    }
    // The C ABI is unsafe by nature: a reader that finds none is broken.
    assert!(seen_unsafe > 100, "only {seen_unsafe} unsafe lines found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_reader_finds_what_it_must() {
    let misplaced = problems_of(
        "simulator/src/engine/x.rs",
        "// SAFETY: fine\nlet x = unsafe { f() };\n",
    );
    assert_eq!(misplaced.len(), 1, "{misplaced:?}");
    assert!(misplaced[0].contains("outside the C ABI"));
    let unexplained = problems_of(
        "simulator/src/pkcs11/x.rs",
        "fn a() {}\nlet x = unsafe { f() };\nunsafe impl Send for X {}\n",
    );
    assert_eq!(unexplained.len(), 2, "{unexplained:?}");
    assert!(
        unexplained
            .iter()
            .all(|p| p.contains("without a `// SAFETY:`"))
    );
    let fine = problems_of(
        "simulator/src/pkcs11/x.rs",
        "// SAFETY: the caller passes a valid list.\nlet x = unsafe { f() };\npub unsafe extern \"C\" fn C_X() {}\n",
    );
    assert!(fine.is_empty(), "{fine:?}");
    // Comments and strings do not count; tests are client code.
    assert!(problems_of("cli/src/main.rs", "// unsafe\nlet s = \"unsafe { }\";\n").is_empty());
    assert!(problems_of("cli/tests/t.rs", "// SAFETY: ok\nunsafe { f() };\n").is_empty());
}
