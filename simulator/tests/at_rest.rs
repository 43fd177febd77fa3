//! Encryption at rest. Token secret and private key values — an AES-256 key, a 3DES key, a
//! 64-byte generic secret, an imported RSA private key — and the value of a private data object
//! never reach the state directory in a recognisable form: not as raw bytes, not as hex (either
//! case), base64 (standard or URL-safe) or decimal byte lists (JSON arrays); any 16-byte window
//! of a value counts as found. Both a copy taken while the creating process still runs and one
//! taken after its C_Finalize are searched (database, -wal, -shm, everything). The values are
//! still there, encrypted: a process on the copied directory logs in and the keys decrypt what
//! the originals encrypted. The lab works after C_Finalize/C_Initialize, and a process must log
//! in before it creates or uses a token secret key, even one with CKA_PRIVATE false (the
//! per-token key that decrypts key values is unlocked by a login; simulator-defined: PKCS#11
//! lets anyone use a non-private key).
mod common;
mod procs;

use cryptoki_sys::*;
use procs::*;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

#[test]
fn worker() {
    let Some(role) = role() else { return };
    match role.as_str() {
        "rpc" => serve_rpc(),
        other => panic!("unknown worker role {other}"),
    }
}

const PLAIN: &[u8] = b"encrypted by the process that made the keys";
const AES_IV: [u8; 16] = *b"at-rest-aes-iv16";
const DES_IV: [u8; 8] = *b"des-iv-8";

fn secret_key(key_type: CK_KEY_TYPE, label: &str, value: &[u8]) -> Tpl {
    Tpl::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, key_type)
        .bool(CKA_TOKEN, true)
        .bytes(CKA_LABEL, label.as_bytes())
        .bytes(CKA_VALUE, value)
}

fn by_label(label: &str) -> Tpl {
    Tpl::new().bytes(CKA_LABEL, label.as_bytes())
}

fn odd_parity(key: &mut [u8]) {
    for b in key {
        if b.count_ones() % 2 == 0 {
            *b ^= 1;
        }
    }
}

/// What the creating process proved with its keys, for a later process to reproduce.
struct Proofs {
    aes_ct: Vec<u8>,
    des_ct: Vec<u8>,
    rsa_ct: Vec<u8>,
    hmac: Vec<u8>,
    data_value: Vec<u8>,
}

/// A lab holding the secrets, and two copies of its state directory.
struct Made {
    _dir: tempfile::TempDir,
    /// Copied while the creating process still ran (after its last write).
    live: tempfile::TempDir,
    /// Copied after the creating process's C_Finalize.
    copy: tempfile::TempDir,
    secrets: Vec<(String, Vec<u8>)>,
    proofs: Proofs,
}

fn make_lab() -> Made {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Proc::spawn("maker", "rpc", dir.path(), "default", &[]);
    let s = a.start_user(0);
    let mut rng = Rng::new(0xA7);

    let aes = rng.bytes(32);
    let mut des = rng.bytes(24);
    odd_parity(&mut des);
    let mut generic = b"HSMSIM-AT-REST-GENERIC-SECRET:".to_vec();
    generic.extend_from_slice(hex(&rng.bytes(17)).as_bytes());
    assert_eq!(generic.len(), 64);
    let mut data_value = b"hsmsim private data object, known value: ".to_vec();
    data_value.extend_from_slice(&rng.bytes(100));

    // CKA_PRIVATE false on purpose: key values are encrypted whatever the object's visibility.
    let aes_key = a
        .create(
            s,
            &secret_key(CKK_AES, "at-rest-aes", &aes)
                .bool(CKA_PRIVATE, false)
                .bool(CKA_SENSITIVE, true)
                .bool(CKA_ENCRYPT, true)
                .bool(CKA_DECRYPT, true),
        )
        .unwrap();
    // Readable by the application (not sensitive), still encrypted at rest.
    let des_key = a
        .create(
            s,
            &secret_key(CKK_DES3, "at-rest-des3", &des)
                .bool(CKA_SENSITIVE, false)
                .bool(CKA_EXTRACTABLE, true)
                .bool(CKA_ENCRYPT, true)
                .bool(CKA_DECRYPT, true),
        )
        .unwrap();
    let generic_key = a
        .create(
            s,
            &secret_key(CKK_GENERIC_SECRET, "at-rest-generic", &generic)
                .bool(CKA_SIGN, true)
                .bool(CKA_VERIFY, true),
        )
        .unwrap();

    // An RSA key with known values: generated as session objects, read out, imported.
    let (sp, sv) = a
        .generate_key_pair(
            s,
            CKM_RSA_PKCS_KEY_PAIR_GEN,
            &Tpl::new()
                .bool(CKA_TOKEN, false)
                .ulong(CKA_MODULUS_BITS, 2048)
                .bytes(CKA_PUBLIC_EXPONENT, &[1, 0, 1]),
            &Tpl::new()
                .bool(CKA_TOKEN, false)
                .bool(CKA_SENSITIVE, false)
                .bool(CKA_EXTRACTABLE, true),
        )
        .unwrap();
    let parts = [
        (CKA_MODULUS, "CKA_MODULUS"),
        (CKA_PUBLIC_EXPONENT, "CKA_PUBLIC_EXPONENT"),
        (CKA_PRIVATE_EXPONENT, "CKA_PRIVATE_EXPONENT"),
        (CKA_PRIME_1, "CKA_PRIME_1"),
        (CKA_PRIME_2, "CKA_PRIME_2"),
        (CKA_EXPONENT_1, "CKA_EXPONENT_1"),
        (CKA_EXPONENT_2, "CKA_EXPONENT_2"),
        (CKA_COEFFICIENT, "CKA_COEFFICIENT"),
    ];
    let values: Vec<Vec<u8>> = parts
        .iter()
        .map(|(t, _)| a.get(s, sv, *t).unwrap())
        .collect();
    assert_eq!(a.destroy(s, sp), CKR_OK);
    assert_eq!(a.destroy(s, sv), CKR_OK);
    let mut private = Tpl::new()
        .ulong(CKA_CLASS, CKO_PRIVATE_KEY)
        .ulong(CKA_KEY_TYPE, CKK_RSA)
        .bool(CKA_TOKEN, true)
        .bool(CKA_PRIVATE, true)
        .bool(CKA_SENSITIVE, true)
        .bool(CKA_DECRYPT, true)
        .bool(CKA_SIGN, true)
        .bytes(CKA_LABEL, b"at-rest-rsa");
    for ((t, _), v) in parts.iter().zip(&values) {
        private = private.bytes(*t, v);
    }
    a.create(s, &private).unwrap();
    let public_key = a
        .create(
            s,
            &Tpl::new()
                .ulong(CKA_CLASS, CKO_PUBLIC_KEY)
                .ulong(CKA_KEY_TYPE, CKK_RSA)
                .bool(CKA_TOKEN, true)
                .bool(CKA_ENCRYPT, true)
                .bytes(CKA_LABEL, b"at-rest-rsa-public")
                .bytes(CKA_MODULUS, &values[0])
                .bytes(CKA_PUBLIC_EXPONENT, &values[1]),
        )
        .unwrap();
    a.create(
        s,
        &Tpl::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, true)
            .bool(CKA_PRIVATE, true)
            .bytes(CKA_LABEL, b"at-rest-data")
            .bytes(CKA_APPLICATION, b"hsmsim-at-rest")
            .bytes(CKA_VALUE, &data_value),
    )
    .unwrap();

    let proofs = Proofs {
        aes_ct: a
            .crypt(Op::Encrypt, s, CKM_AES_CBC_PAD, &AES_IV, aes_key, PLAIN)
            .unwrap(),
        des_ct: a
            .crypt(Op::Encrypt, s, CKM_DES3_CBC_PAD, &DES_IV, des_key, PLAIN)
            .unwrap(),
        rsa_ct: a
            .crypt(Op::Encrypt, s, CKM_RSA_PKCS, &[], public_key, PLAIN)
            .unwrap(),
        hmac: a
            .crypt(Op::Sign, s, CKM_SHA256_HMAC, &[], generic_key, PLAIN)
            .unwrap(),
        data_value: data_value.clone(),
    };

    let live = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), live.path());
    assert_eq!(a.finalize(), CKR_OK);
    a.finish();
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());

    let mut secrets = vec![
        ("AES-256 CKA_VALUE".to_string(), aes),
        ("DES3 CKA_VALUE".to_string(), des),
        ("generic secret CKA_VALUE".to_string(), generic),
        ("private data object CKA_VALUE".to_string(), data_value),
    ];
    for ((_, name), v) in parts.iter().zip(values).skip(2) {
        secrets.push((format!("RSA {name}"), v));
    }
    Made {
        _dir: dir,
        live,
        copy,
        secrets,
        proofs,
    }
}

// ---------------------------------------------------------------------------------------------
// Searching files for secrets

const WINDOW: usize = 16;

/// The byte strings a file may hide a value in, each with the encoding that produced it: the
/// raw bytes; hex runs decoded at both nibble alignments; base64 runs (standard and URL-safe)
/// decoded at all four alignments; runs of decimal numbers 0-255 separated by commas (JSON byte
/// arrays). Runs too short to hold a 16-byte window are skipped.
fn decodings(file: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut out = vec![("raw bytes", file.to_vec())];
    for (start, end) in runs(file, |b| b.is_ascii_hexdigit(), 2 * WINDOW) {
        let run = &file[start..end];
        for align in 0..2 {
            let bytes = run[align..]
                .chunks_exact(2)
                .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
                .collect();
            out.push(("hex", bytes));
        }
    }
    for (name, url) in [("base64", false), ("base64url", true)] {
        let in_alphabet = |b: u8| b64_value(b, url).is_some();
        for (start, end) in runs(file, in_alphabet, WINDOW * 4 / 3 + 4) {
            let run = &file[start..end];
            for align in 0..4 {
                let mut bytes = Vec::new();
                for group in run[align..].chunks_exact(4) {
                    let v = group.iter().fold(0u32, |acc, c| {
                        (acc << 6) | u32::from(b64_value(*c, url).unwrap())
                    });
                    bytes.extend_from_slice(&v.to_be_bytes()[1..]);
                }
                out.push((name, bytes));
            }
        }
    }
    out.extend(decimal_lists(file).into_iter().map(|l| ("decimal list", l)));
    out
}

fn b64_value(c: u8, url: bool) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' if !url => Some(62),
        b'/' if !url => Some(63),
        b'-' if url => Some(62),
        b'_' if url => Some(63),
        _ => None,
    }
}

/// Maximal runs of bytes satisfying `keep`, at least `min` long, as (start, end).
fn runs(data: &[u8], keep: impl Fn(u8) -> bool, min: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, b) in data.iter().enumerate() {
        match (keep(*b), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s >= min {
                    out.push((s, i));
                }
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start
        && data.len() - s >= min
    {
        out.push((s, data.len()));
    }
    out
}

/// Runs of at least 16 decimal numbers 0-255 separated by commas (spaces allowed).
fn decimal_lists(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut i = 0;
    let flush = |current: &mut Vec<u8>, out: &mut Vec<Vec<u8>>| {
        if current.len() >= WINDOW {
            out.push(std::mem::take(current));
        }
        current.clear();
    };
    while i < data.len() {
        if !data[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A number: up to 3 digits and at most 255.
        let start = i;
        while i < data.len() && data[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &data[start..i];
        let value = std::str::from_utf8(digits)
            .ok()
            .filter(|d| d.len() <= 3)
            .and_then(|d| d.parse::<u16>().ok())
            .filter(|v| *v <= 255);
        let Some(value) = value else {
            flush(&mut current, &mut out);
            continue;
        };
        current.push(value as u8);
        // Separator: spaces, one comma, spaces; anything else ends the list.
        let mut j = i;
        while j < data.len() && data[j] == b' ' {
            j += 1;
        }
        if j < data.len() && data[j] == b',' {
            j += 1;
            while j < data.len() && matches!(data[j], b' ' | b'\n') {
                j += 1;
            }
            if j < data.len() && data[j].is_ascii_digit() {
                i = j;
                continue;
            }
        }
        flush(&mut current, &mut out);
    }
    flush(&mut current, &mut out);
    out
}

/// Every (secret, file, encoding) where some 16-byte window of a secret occurs.
fn search_dir(dir: &Path, secrets: &[(String, Vec<u8>)], when: &str) -> Vec<String> {
    let mut windows: HashMap<&[u8], &str> = HashMap::new();
    for (name, value) in secrets {
        assert!(value.len() >= WINDOW, "{name} is shorter than a window");
        for w in value.windows(WINDOW) {
            windows.insert(w, name);
        }
    }
    let mut hits = BTreeSet::new();
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        files += 1;
        let data = std::fs::read(&path).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for (encoding, bytes) in decodings(&data) {
            for w in bytes.windows(WINDOW) {
                if let Some(name) = windows.get(w) {
                    hits.insert(format!("{name} as {encoding} in {file} ({when})"));
                }
            }
        }
    }
    assert!(
        files > 0,
        "no files in the state directory {}",
        dir.display()
    );
    hits.into_iter().collect()
}

#[test]
fn the_search_finds_a_value_in_every_encoding_it_claims() {
    let mut rng = Rng::new(3);
    let secret = rng.bytes(40);
    // Only one window's worth in hex: a window is enough.
    let hexed: String = hex(&secret[7..7 + WINDOW]);
    let b64 = base64(&secret[5..], false);
    let encodings: Vec<(&str, Vec<u8>)> = vec![
        ("raw bytes", secret.clone()),
        ("hex", hexed.as_bytes().to_vec()),
        ("hex", format!("x{}", hexed.to_uppercase()).into_bytes()),
        ("base64", b64.into_bytes()),
        ("base64url", base64(&secret[1..], true).into_bytes()),
        (
            "decimal list",
            format!(
                "{{\"Bytes\":[{}]}}",
                secret
                    .iter()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )
            .into_bytes(),
        ),
        (
            "decimal list",
            secret
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", ")
                .into_bytes(),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (encoding, bytes)) in encodings.iter().enumerate() {
        let mut file = rng.bytes(100);
        file.extend_from_slice(bytes);
        file.extend_from_slice(&rng.bytes(100));
        let path = dir.path().join(format!("f{i}"));
        std::fs::write(&path, &file).unwrap();
        let hits = search_dir(dir.path(), &[("s".into(), secret.clone())], "test");
        assert!(
            hits.iter()
                .any(|h| h.starts_with(&format!("s as {encoding} in f{i}"))),
            "{encoding} (#{i}) not found: {hits:?}"
        );
        std::fs::remove_file(&path).unwrap();
    }
    // Random data does not match.
    std::fs::write(dir.path().join("noise"), rng.bytes(100_000)).unwrap();
    assert!(search_dir(dir.path(), &[("s".into(), secret)], "test").is_empty());
}

fn base64(data: &[u8], url: bool) -> String {
    let alphabet: &[u8] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let mut b = [0u8; 3];
        b[..chunk.len()].copy_from_slice(chunk);
        let v = u32::from_be_bytes([0, b[0], b[1], b[2]]);
        for i in 0..=chunk.len() {
            out.push(alphabet[((v >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The tests

#[test]
fn secret_values_are_not_stored_in_the_clear_in_any_encoding() {
    let _g = scenario();
    let made = make_lab();
    assert!(made.copy.path().join("hsmsim.sqlite").is_file());
    let mut hits = search_dir(
        made.live.path(),
        &made.secrets,
        "copied while the process ran",
    );
    hits.extend(search_dir(
        made.copy.path(),
        &made.secrets,
        "copied after C_Finalize",
    ));
    let names: Vec<&str> = made.secrets.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        hits.is_empty(),
        "{} findings of secret values in the state directory (searched for {names:?}):\n{}",
        hits.len(),
        first_few(&hits, 20)
    );
}

#[test]
fn a_copy_of_the_state_directory_decrypts_what_the_originals_encrypted_after_login() {
    let _g = scenario();
    let made = make_lab();
    let mut b = Proc::spawn("copy user", "rpc", made.copy.path(), "default", &[]);
    let s = b.start_user(0);
    let one = |b: &mut Proc, label: &str| {
        let found = b.find(s, &by_label(label)).unwrap();
        assert_eq!(found.len(), 1, "{label} in the copied lab: {found:?}");
        found[0]
    };
    let aes = one(&mut b, "at-rest-aes");
    let des = one(&mut b, "at-rest-des3");
    let generic = one(&mut b, "at-rest-generic");
    let rsa = one(&mut b, "at-rest-rsa");
    let data = one(&mut b, "at-rest-data");
    let p = &made.proofs;
    assert_eq!(
        b.crypt(Op::Decrypt, s, CKM_AES_CBC_PAD, &AES_IV, aes, &p.aes_ct),
        Ok(PLAIN.to_vec()),
        "AES-256"
    );
    assert_eq!(
        b.crypt(Op::Decrypt, s, CKM_DES3_CBC_PAD, &DES_IV, des, &p.des_ct),
        Ok(PLAIN.to_vec()),
        "DES3"
    );
    assert_eq!(
        b.crypt(Op::Decrypt, s, CKM_RSA_PKCS, &[], rsa, &p.rsa_ct),
        Ok(PLAIN.to_vec()),
        "RSA"
    );
    assert_eq!(
        b.crypt(Op::Sign, s, CKM_SHA256_HMAC, &[], generic, PLAIN),
        Ok(p.hmac.clone()),
        "HMAC with the generic secret"
    );
    assert_eq!(b.get(s, data, CKA_VALUE), Ok(p.data_value.clone()));
    let des_value = &made.secrets[1].1;
    assert_eq!(
        b.get(s, des, CKA_VALUE).as_ref(),
        Ok(des_value),
        "a non-sensitive key's value reads back"
    );
}

#[test]
fn the_lab_works_after_a_restart_with_the_keys_usable_after_login() {
    let _g = scenario();
    let dir = tempfile::tempdir().unwrap();
    let mut a = Proc::spawn("restarter", "rpc", dir.path(), "default", &[]);
    let s = a.start_user(0);
    let mut rng = Rng::new(5);
    let aes = a
        .create(
            s,
            &secret_key(CKK_AES, "restart-aes", &rng.bytes(32))
                .bool(CKA_ENCRYPT, true)
                .bool(CKA_DECRYPT, true),
        )
        .unwrap();
    let generic = a
        .create(
            s,
            &secret_key(CKK_GENERIC_SECRET, "restart-generic", &rng.bytes(64)).bool(CKA_SIGN, true),
        )
        .unwrap();
    let ct = a
        .crypt(Op::Encrypt, s, CKM_AES_CBC_PAD, &AES_IV, aes, PLAIN)
        .unwrap();
    let mac = a
        .crypt(Op::Sign, s, CKM_SHA256_HMAC, &[], generic, PLAIN)
        .unwrap();

    assert_eq!(a.finalize(), CKR_OK);
    let s = a.start_user(0);
    let aes = a.find(s, &by_label("restart-aes")).unwrap();
    let generic = a.find(s, &by_label("restart-generic")).unwrap();
    assert_eq!((aes.len(), generic.len()), (1, 1));
    assert_eq!(
        a.crypt(Op::Decrypt, s, CKM_AES_CBC_PAD, &AES_IV, aes[0], &ct),
        Ok(PLAIN.to_vec())
    );
    assert_eq!(
        a.crypt(Op::Sign, s, CKM_SHA256_HMAC, &[], generic[0], PLAIN),
        Ok(mac)
    );
}

/// Simulator-defined: a token secret key's value is encrypted under the token's key, which only
/// a login unlocks, so even a key with CKA_PRIVATE false (visible without login) cannot be used
/// by a process that has not logged in.
#[test]
fn using_a_token_secret_key_needs_a_login_even_when_it_is_not_private() {
    let _g = scenario();
    let dir = tempfile::tempdir().unwrap();
    let mut a = Proc::spawn("maker", "rpc", dir.path(), "default", &[]);
    let s = a.start_user(0);
    let key = a
        .create(
            s,
            &secret_key(CKK_AES, "public-aes", &Rng::new(6).bytes(32))
                .bool(CKA_PRIVATE, false)
                .bool(CKA_ENCRYPT, true)
                .bool(CKA_DECRYPT, true),
        )
        .unwrap();
    let ct = a
        .crypt(Op::Encrypt, s, CKM_AES_CBC_PAD, &AES_IV, key, PLAIN)
        .unwrap();
    a.finish();

    let mut b = Proc::spawn("not logged in", "rpc", dir.path(), "default", &[]);
    assert_eq!(b.init(), CKR_OK);
    let s = b.open(0, true).unwrap();
    let found = b.find(s, &by_label("public-aes")).unwrap();
    assert_eq!(
        found.len(),
        1,
        "a CKA_PRIVATE false key is visible without login: {found:?}"
    );
    let enc = b.crypt(Op::Encrypt, s, CKM_AES_CBC_PAD, &AES_IV, found[0], PLAIN);
    assert_eq!(
        enc.as_ref()
            .map(|ct| format!("{} bytes of ciphertext", ct.len()))
            .map_err(|(call, rv)| (call.as_str(), rv_name(*rv))),
        Err(("C_EncryptInit", rv_name(CKR_USER_NOT_LOGGED_IN))),
        "encrypting with a token secret key before any login in this process"
    );
    let dec = b.crypt(Op::Decrypt, s, CKM_AES_CBC_PAD, &AES_IV, found[0], &ct);
    assert_eq!(
        dec.as_ref()
            .map(|pt| format!("{} bytes of plaintext", pt.len()))
            .map_err(|(call, rv)| (call.as_str(), rv_name(*rv))),
        Err(("C_DecryptInit", rv_name(CKR_USER_NOT_LOGGED_IN))),
        "decrypting with a token secret key before any login in this process"
    );
    assert_eq!(b.login(s, CKU_USER, USER_PIN), CKR_OK);
    assert_eq!(
        b.crypt(Op::Decrypt, s, CKM_AES_CBC_PAD, &AES_IV, found[0], &ct),
        Ok(PLAIN.to_vec()),
        "after the login the key works"
    );
}

/// Simulator-defined, as above: a new token secret key is encrypted under the token's key, so
/// creating or generating one needs a login, whatever its CKA_PRIVATE.
#[test]
fn creating_a_token_secret_key_needs_a_login() {
    let _g = scenario();
    let dir = tempfile::tempdir().unwrap();
    let mut a = Proc::spawn("creator", "rpc", dir.path(), "default", &[]);
    assert_eq!(a.init(), CKR_OK);
    let s = a.open(0, true).unwrap();
    let imported = secret_key(CKK_AES, "early-aes", &Rng::new(8).bytes(16))
        .bool(CKA_PRIVATE, false)
        .bool(CKA_ENCRYPT, true);
    let generated = Tpl::new()
        .bool(CKA_TOKEN, true)
        .bool(CKA_PRIVATE, false)
        .ulong(CKA_VALUE_LEN, 32)
        .bytes(CKA_LABEL, b"early-generated");
    let created = a.create(s, &imported).map_err(rv_name);
    let made = a
        .generate_key(s, CKM_AES_KEY_GEN, &generated)
        .map_err(rv_name);
    assert_eq!(
        (created.clone().err(), made.clone().err()),
        (
            Some(rv_name(CKR_USER_NOT_LOGGED_IN)),
            Some(rv_name(CKR_USER_NOT_LOGGED_IN))
        ),
        "C_CreateObject ({created:?}) and C_GenerateKey ({made:?}) of a token secret key with \
         CKA_PRIVATE false before any login"
    );
    assert_eq!(a.login(s, CKU_USER, USER_PIN), CKR_OK);
    assert!(a.create(s, &imported).is_ok());
    assert!(a.generate_key(s, CKM_AES_KEY_GEN, &generated).is_ok());
}
