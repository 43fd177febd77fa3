//! Crash safety under kill -9. Hundreds of times (HSMSIM_CRASH_RUNS, default 300; no new run
//! starts after HSMSIM_CRASH_SECONDS, default 90, and at least 100 must have run), a writer
//! process works on one shared lab (the default lab, slot 0) and is SIGKILLed at a random moment
//! 0–80 ms after it starts C_Initialize (a quarter of the runs) or after its login (the rest):
//! during C_Initialize, during login, or in the middle of creating token AES keys and data
//! objects, generating key pairs, relabelling and destroying objects. Afterwards the store passes SQLite's integrity check, the module initialises, and
//! every object is whole and consistent with what the writers reported.
//!
//! Every object a writer makes describes itself in its label, `crash|<kind>|<id>|<gen>|<check>`:
//! - `aes`: a token AES key, CKA_VALUE random (16, 24 or 32 bytes), extractable and not
//!   sensitive, CKA_ID = FNV-1a-64 of the value (8 bytes big-endian), `<check>` the same
//!   checksum in hex;
//! - `data`: a token data object, CKA_VALUE random (1–12 KiB), CKA_APPLICATION "hsmsim-crash",
//!   `<check>` = FNV-1a-64 of the value in hex;
//! - `pair`: one C_GenerateKeyPair (RSA-1024 or EC P-256, `<check>` = `rsa` or `ec`); both
//!   halves carry the same label and CKA_ID;
//! - `<id>` is unique across runs; `<gen>` counts C_SetAttributeValue(CKA_LABEL) changes.
//!
//! The writer reports on stdout — a pipe, so what it wrote survives the SIGKILL — `c <kind> <id>`
//! before and `C <kind> <id>` after a create or key-pair generation answered CKR_OK; `l <id> <g>`
//! / `L <id> <g>` around relabelling to generation g; `d <id>` / `D <id>` around destroying (a
//! pair: private half first, then public). Any answer other than CKR_OK is a failure (`X`).
//!
//! The invariant, checked after the last run:
//! 1. `PRAGMA integrity_check` says ok (also every 50 runs); C_Initialize, C_OpenSession and
//!    C_Login succeed.
//! 2. Every object on the token: every attribute of its class and key type (tables below) reads
//!    with CKR_OK; its label parses and its kind matches its class and key type; aes: value
//!    length 16/24/32 = CKA_VALUE_LEN, CKA_ID and label checksum match the value, and
//!    CKM_AES_CBC_PAD decrypt inverts encrypt; data: checksum and CKA_APPLICATION match; pair:
//!    the private half signs and the public half with the same label verifies (RSA: the same
//!    modulus and exponent in both; EC: the same CKA_EC_PARAMS).
//! 3. Nothing appears from nowhere: every object's id was announced with `c`, and its `<gen>` is
//!    at least the last `L` and at most the last `l` reported for it.
//! 4. aes and data ids: at most one object; exactly one if `C` was reported and no destroy was
//!    started (a create that answered CKR_OK survives kill -9); none once `D` was reported.
//! 5. pair ids: at most one public and one private half. No destroy started: both halves or
//!    neither (C_GenerateKeyPair is atomic), and both if `C` was reported. Destroy started but
//!    not reported done: both, the public half alone, or neither — never a private half alone.
//!    `D` reported: neither.
mod common;
mod procs;

use cryptoki_sys::*;
use procs::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const RW: CK_FLAGS = CKF_SERIAL_SESSION | CKF_RW_SESSION;
const IV: [u8; 16] = *b"crash-test-iv-16";
const APPLICATION: &[u8] = b"hsmsim-crash";

#[test]
fn worker() {
    let Some(role) = role() else { return };
    match role.as_str() {
        "writer" => writer(),
        "checker" => checker(),
        other => panic!("unknown worker role {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Labels

#[derive(Debug, Clone, PartialEq, Eq)]
struct Label {
    kind: String,
    id: String,
    generation: u32,
    check: String,
}

impl Label {
    fn text(&self) -> String {
        format!(
            "crash|{}|{}|{}|{}",
            self.kind, self.id, self.generation, self.check
        )
    }
    fn parse(bytes: &[u8]) -> Option<Label> {
        let text = std::str::from_utf8(bytes).ok()?;
        let parts: Vec<&str> = text.split('|').collect();
        if parts.len() != 5 || parts[0] != "crash" {
            return None;
        }
        if !matches!(parts[1], "aes" | "data" | "pair") {
            return None;
        }
        Some(Label {
            kind: parts[1].into(),
            id: parts[2].into(),
            generation: parts[3].parse().ok()?,
            check: parts[4].into(),
        })
    }
}

fn checksum(value: &[u8]) -> String {
    format!("{:016x}", fnv1a(value))
}

fn shown(label: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(label))
}

// ---------------------------------------------------------------------------------------------
// The writer

/// An object this writer may change or destroy; `handles` private half first for pairs.
struct Live {
    label: Label,
    handles: Vec<CK_OBJECT_HANDLE>,
}

struct Writer {
    run: u64,
    s: CK_SESSION_HANDLE,
    rng: Rng,
    live: Vec<Live>,
    next: u64,
}

fn writer() {
    let run: u64 = env_or("HSMSIM_CRASH_RUN", 0);
    emit("started");
    let rv = initialize();
    if rv != CKR_OK {
        emit(format!("X C_Initialize answered {}", rv_name(rv)));
        return;
    }
    emit("initialized");
    let s = match common::open_session(0, RW) {
        Ok(s) => s,
        Err(rv) => {
            emit(format!("X C_OpenSession answered {}", rv_name(rv)));
            return;
        }
    };
    let rv = common::login(s, CKU_USER, USER_PIN);
    if rv != CKR_OK {
        emit(format!("X C_Login answered {}", rv_name(rv)));
        return;
    }
    emit("ready");
    let mut w = Writer {
        run,
        s,
        rng: Rng::new(run),
        live: Vec::new(),
        next: 0,
    };
    w.discover();
    // The parent kills the writer long before this; the bound only stops a runaway.
    let stop = Instant::now() + Duration::from_secs(10);
    while Instant::now() < stop {
        w.step();
    }
    emit("finished");
}

impl Writer {
    fn x(&self, call: &str, rv: CK_RV, what: &str) {
        emit(format!("X {call} answered {} ({what})", rv_name(rv)));
    }

    /// Picks up to 12 objects of earlier runs to relabel or destroy.
    fn discover(&mut self) {
        let all = match find_objects(self.s, &Tpl::new()) {
            Ok(v) => v,
            Err((call, rv)) => return self.x(call, rv, "finding earlier objects"),
        };
        for _ in 0..12 {
            let Some(h) = self.rng.pick(&all).copied() else {
                return;
            };
            let Ok(bytes) = get(self.s, h, CKA_LABEL) else {
                continue;
            };
            let Some(label) = Label::parse(&bytes) else {
                continue;
            };
            if self.live.iter().any(|l| l.label.id == label.id) {
                continue;
            }
            let mut handles = vec![h];
            if label.kind == "pair" {
                let Ok(halves) = find_objects(self.s, &Tpl::new().bytes(CKA_LABEL, &bytes)) else {
                    continue;
                };
                // Private half first.
                let mut halves: Vec<(CK_OBJECT_HANDLE, bool)> = halves
                    .into_iter()
                    .map(|h| {
                        let private = get(self.s, h, CKA_CLASS)
                            .is_ok_and(|c| c == CKO_PRIVATE_KEY.to_ne_bytes());
                        (h, private)
                    })
                    .collect();
                halves.sort_by_key(|(_, private)| !*private);
                handles = halves.into_iter().map(|(h, _)| h).collect();
            }
            self.live.push(Live { label, handles });
        }
    }

    fn new_id(&mut self) -> String {
        self.next += 1;
        format!("r{}n{}", self.run, self.next)
    }

    fn step(&mut self) {
        match self.rng.below(100) {
            // Destroys nearly balance creates: the store grows to a few hundred objects, so
            // C_Initialize stays quick.
            0..27 => self.create_aes(),
            27..42 => self.create_data(),
            42..48 => self.create_pair(),
            48..65 => self.relabel(),
            _ => self.destroy(),
        }
    }

    fn create_aes(&mut self) {
        let id = self.new_id();
        let len = [16, 24, 32][self.rng.below(3) as usize];
        let value = self.rng.bytes(len);
        let label = Label {
            kind: "aes".into(),
            id: id.clone(),
            generation: 0,
            check: checksum(&value),
        };
        let t = Tpl::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
            .bool(CKA_TOKEN, true)
            .bool(CKA_PRIVATE, self.rng.percent(50))
            .bytes(CKA_LABEL, label.text().as_bytes())
            .bytes(CKA_ID, &fnv1a(&value).to_be_bytes())
            .bytes(CKA_VALUE, &value)
            .bool(CKA_ENCRYPT, true)
            .bool(CKA_DECRYPT, true)
            .bool(CKA_EXTRACTABLE, true)
            .bool(CKA_SENSITIVE, false);
        emit(format!("c aes {id}"));
        match create(self.s, &t) {
            Ok(h) => {
                emit(format!("C aes {id}"));
                self.live.push(Live {
                    label,
                    handles: vec![h],
                });
            }
            Err(rv) => self.x("C_CreateObject", rv, &id),
        }
    }

    fn create_data(&mut self) {
        let id = self.new_id();
        let len = self.rng.range(1024, 12 * 1024);
        let value = self.rng.bytes(len);
        let label = Label {
            kind: "data".into(),
            id: id.clone(),
            generation: 0,
            check: checksum(&value),
        };
        let t = Tpl::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, true)
            .bool(CKA_PRIVATE, self.rng.percent(50))
            .bytes(CKA_LABEL, label.text().as_bytes())
            .bytes(CKA_APPLICATION, APPLICATION)
            .bytes(CKA_VALUE, &value);
        emit(format!("c data {id}"));
        match create(self.s, &t) {
            Ok(h) => {
                emit(format!("C data {id}"));
                self.live.push(Live {
                    label,
                    handles: vec![h],
                });
            }
            Err(rv) => self.x("C_CreateObject", rv, &id),
        }
    }

    fn create_pair(&mut self) {
        let id = self.new_id();
        let rsa = self.rng.percent(50);
        let label = Label {
            kind: "pair".into(),
            id: id.clone(),
            generation: 0,
            check: if rsa { "rsa" } else { "ec" }.into(),
        };
        let text = label.text();
        let key_id = fnv1a(id.as_bytes()).to_be_bytes();
        let mut public = Tpl::new()
            .bool(CKA_TOKEN, true)
            .bytes(CKA_LABEL, text.as_bytes())
            .bytes(CKA_ID, &key_id)
            .bool(CKA_VERIFY, true);
        let private = Tpl::new()
            .bool(CKA_TOKEN, true)
            .bool(CKA_PRIVATE, true)
            .bytes(CKA_LABEL, text.as_bytes())
            .bytes(CKA_ID, &key_id)
            .bool(CKA_SIGN, true)
            .bool(CKA_SENSITIVE, false)
            .bool(CKA_EXTRACTABLE, true);
        let mech = if rsa {
            public = public
                .ulong(CKA_MODULUS_BITS, 1024)
                .bytes(CKA_PUBLIC_EXPONENT, &[1, 0, 1]);
            CKM_RSA_PKCS_KEY_PAIR_GEN
        } else {
            public = public.bytes(CKA_EC_PARAMS, common::P256);
            CKM_EC_KEY_PAIR_GEN
        };
        emit(format!("c pair {id}"));
        match common::generate_key_pair(self.s, mech, public.template(), private.template()) {
            Ok((pu, pr)) => {
                emit(format!("C pair {id}"));
                self.live.push(Live {
                    label,
                    handles: vec![pr, pu],
                });
            }
            Err(rv) => self.x("C_GenerateKeyPair", rv, &id),
        }
    }

    fn relabel(&mut self) {
        let candidates: Vec<usize> = (0..self.live.len())
            .filter(|i| self.live[*i].label.kind != "pair")
            .collect();
        let Some(&i) = self.rng.pick(&candidates) else {
            return;
        };
        let mut label = self.live[i].label.clone();
        label.generation += 1;
        let (id, g) = (label.id.clone(), label.generation);
        emit(format!("l {id} {g}"));
        let t = Tpl::new().bytes(CKA_LABEL, label.text().as_bytes());
        match set_attrs(self.s, self.live[i].handles[0], &t) {
            CKR_OK => {
                emit(format!("L {id} {g}"));
                self.live[i].label = label;
            }
            rv => {
                self.x("C_SetAttributeValue", rv, &id);
                self.live.swap_remove(i);
            }
        }
    }

    fn destroy(&mut self) {
        if self.live.is_empty() {
            return;
        }
        let i = self.rng.below(self.live.len() as u64) as usize;
        let live = self.live.swap_remove(i);
        let id = &live.label.id;
        emit(format!("d {id}"));
        for h in &live.handles {
            let rv = destroy(self.s, *h);
            if rv != CKR_OK {
                return self.x("C_DestroyObject", rv, id);
            }
        }
        emit(format!("D {id}"));
    }
}

// ---------------------------------------------------------------------------------------------
// The checker

const COMMON: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_CLASS,
    CKA_TOKEN,
    CKA_PRIVATE,
    CKA_MODIFIABLE,
    CKA_LABEL,
    CKA_COPYABLE,
    CKA_DESTROYABLE,
    CKA_UNIQUE_ID,
];
const DATA: &[CK_ATTRIBUTE_TYPE] = &[CKA_APPLICATION, CKA_OBJECT_ID, CKA_VALUE];
const KEY: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_KEY_TYPE,
    CKA_ID,
    CKA_START_DATE,
    CKA_END_DATE,
    CKA_DERIVE,
    CKA_LOCAL,
];
const SECRET: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_SENSITIVE,
    CKA_ENCRYPT,
    CKA_DECRYPT,
    CKA_SIGN,
    CKA_VERIFY,
    CKA_WRAP,
    CKA_UNWRAP,
    CKA_EXTRACTABLE,
    CKA_ALWAYS_SENSITIVE,
    CKA_NEVER_EXTRACTABLE,
    CKA_VALUE,
    CKA_VALUE_LEN,
];
const PUBLIC: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_SUBJECT,
    CKA_ENCRYPT,
    CKA_VERIFY,
    CKA_VERIFY_RECOVER,
    CKA_WRAP,
    CKA_TRUSTED,
    CKA_KEY_GEN_MECHANISM,
];
const PRIVATE: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_SUBJECT,
    CKA_SENSITIVE,
    CKA_DECRYPT,
    CKA_SIGN,
    CKA_SIGN_RECOVER,
    CKA_UNWRAP,
    CKA_EXTRACTABLE,
    CKA_ALWAYS_SENSITIVE,
    CKA_NEVER_EXTRACTABLE,
    CKA_WRAP_WITH_TRUSTED,
    CKA_ALWAYS_AUTHENTICATE,
    CKA_KEY_GEN_MECHANISM,
];
const RSA_PUBLIC: &[CK_ATTRIBUTE_TYPE] = &[CKA_MODULUS, CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT];
const RSA_PRIVATE: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_MODULUS,
    CKA_PUBLIC_EXPONENT,
    CKA_PRIVATE_EXPONENT,
    CKA_PRIME_1,
    CKA_PRIME_2,
    CKA_EXPONENT_1,
    CKA_EXPONENT_2,
    CKA_COEFFICIENT,
];
const EC_PUBLIC: &[CK_ATTRIBUTE_TYPE] = &[CKA_EC_PARAMS, CKA_EC_POINT];
const EC_PRIVATE: &[CK_ATTRIBUTE_TYPE] = &[CKA_EC_PARAMS, CKA_VALUE];

fn class_name(class: CK_OBJECT_CLASS) -> &'static str {
    match class {
        CKO_DATA => "data",
        CKO_SECRET_KEY => "secret",
        CKO_PUBLIC_KEY => "public",
        CKO_PRIVATE_KEY => "private",
        _ => "other",
    }
}

/// The attributes an object of this class and key type must answer.
fn attributes_of(class: CK_OBJECT_CLASS, key_type: Option<CK_KEY_TYPE>) -> Vec<CK_ATTRIBUTE_TYPE> {
    let mut all = COMMON.to_vec();
    let parts: &[&[CK_ATTRIBUTE_TYPE]] = match (class, key_type) {
        (CKO_DATA, _) => &[DATA],
        (CKO_SECRET_KEY, _) => &[KEY, SECRET],
        (CKO_PUBLIC_KEY, Some(CKK_RSA)) => &[KEY, PUBLIC, RSA_PUBLIC],
        (CKO_PUBLIC_KEY, Some(CKK_EC)) => &[KEY, PUBLIC, EC_PUBLIC],
        (CKO_PRIVATE_KEY, Some(CKK_RSA)) => &[KEY, PRIVATE, RSA_PRIVATE],
        (CKO_PRIVATE_KEY, Some(CKK_EC)) => &[KEY, PRIVATE, EC_PRIVATE],
        _ => &[KEY],
    };
    for p in parts {
        all.extend_from_slice(p);
    }
    all
}

/// Emits `O <class> <label hex>` for every object and `P <problem>` for every violation of
/// point 2 of the invariant; then `DONE <count>`.
fn checker() {
    let rv = initialize();
    if rv != CKR_OK {
        emit(format!(
            "P C_Initialize after the last kill answered {}",
            rv_name(rv)
        ));
        return;
    }
    let s = match common::open_session(0, RW) {
        Ok(s) => s,
        Err(rv) => return emit(format!("P C_OpenSession answered {}", rv_name(rv))),
    };
    let rv = common::login(s, CKU_USER, USER_PIN);
    if rv != CKR_OK {
        return emit(format!("P C_Login answered {}", rv_name(rv)));
    }
    let all = match find_objects(s, &Tpl::new()) {
        Ok(v) => v,
        Err((call, rv)) => return emit(format!("P {call} answered {}", rv_name(rv))),
    };
    let mut pairs: BTreeMap<Vec<u8>, Vec<(CK_OBJECT_CLASS, CK_OBJECT_HANDLE)>> = BTreeMap::new();
    for &h in &all {
        let class = match get(s, h, CKA_CLASS).ok().and_then(|c| ulong_of(&c)) {
            Some(c) => c,
            None => {
                emit(format!("P object handle {h}: CKA_CLASS unreadable"));
                continue;
            }
        };
        if class == CKO_PROFILE {
            // The token's own profile objects (never stored), not a writer's.
            continue;
        }
        let label = match get(s, h, CKA_LABEL) {
            Ok(l) => l,
            Err(rv) => {
                emit(format!(
                    "P object handle {h}: CKA_LABEL answered {}",
                    rv_name(rv)
                ));
                continue;
            }
        };
        emit(format!("O {} {}", class_name(class), hex(&label)));
        let name = shown(&label);
        let key_type = get(s, h, CKA_KEY_TYPE).ok().and_then(|k| ulong_of(&k));
        for t in attributes_of(class, key_type) {
            if let Err(rv) = get(s, h, t) {
                emit(format!(
                    "P {name}: attribute 0x{t:X} answered {} (class {}, key type {key_type:?})",
                    rv_name(rv),
                    class_name(class)
                ));
            }
        }
        let Some(parsed) = Label::parse(&label) else {
            emit(format!("P {name}: not a label any writer makes"));
            continue;
        };
        let problem = match (parsed.kind.as_str(), class, key_type) {
            ("aes", CKO_SECRET_KEY, Some(CKK_AES)) => check_aes(s, h, &parsed),
            ("data", CKO_DATA, _) => check_data(s, h, &parsed),
            ("pair", CKO_PUBLIC_KEY | CKO_PRIVATE_KEY, Some(CKK_RSA | CKK_EC)) => {
                pairs.entry(label.clone()).or_default().push((class, h));
                let expected = if key_type == Some(CKK_RSA) {
                    "rsa"
                } else {
                    "ec"
                };
                (parsed.check != expected)
                    .then(|| format!("the label says {} but the key is {expected}", parsed.check))
            }
            (kind, class, key_type) => Some(format!(
                "a {kind} label on a {} object of key type {key_type:?}",
                class_name(class)
            )),
        };
        if let Some(p) = problem {
            emit(format!("P {name}: {p}"));
        }
    }
    for (label, halves) in &pairs {
        let public: Vec<_> = halves
            .iter()
            .filter(|(c, _)| *c == CKO_PUBLIC_KEY)
            .collect();
        let private: Vec<_> = halves
            .iter()
            .filter(|(c, _)| *c == CKO_PRIVATE_KEY)
            .collect();
        // Lone and duplicated halves are judged by the parent, which knows what was reported.
        if let ([(_, public)], [(_, private)]) = (public.as_slice(), private.as_slice())
            && let Some(p) = check_pair(s, *public, *private)
        {
            emit(format!("P {}: {p}", shown(label)));
        }
    }
    emit(format!("DONE {}", all.len()));
    let _ = finalize();
}

fn check_aes(s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE, label: &Label) -> Option<String> {
    let value = match get(s, h, CKA_VALUE) {
        Ok(v) => v,
        Err(rv) => return Some(format!("CKA_VALUE answered {}", rv_name(rv))),
    };
    if ![16, 24, 32].contains(&value.len()) {
        return Some(format!("CKA_VALUE has {} bytes", value.len()));
    }
    let value_len = get(s, h, CKA_VALUE_LEN).ok().and_then(|v| ulong_of(&v));
    if value_len != Some(value.len() as CK_ULONG) {
        return Some(format!(
            "CKA_VALUE_LEN {value_len:?} for {} bytes",
            value.len()
        ));
    }
    if get(s, h, CKA_ID).ok() != Some(fnv1a(&value).to_be_bytes().to_vec()) {
        return Some("CKA_ID is not the value's checksum".into());
    }
    if label.check != checksum(&value) {
        return Some("the label's checksum does not match CKA_VALUE".into());
    }
    let data = b"crash-test round trip";
    match crypt(Op::Encrypt, s, CKM_AES_CBC_PAD, &IV, h, data)
        .and_then(|ct| crypt(Op::Decrypt, s, CKM_AES_CBC_PAD, &IV, h, &ct))
    {
        Ok(pt) if pt == data => None,
        Ok(_) => Some("decrypt does not invert encrypt".into()),
        Err((call, rv)) => Some(format!("{call} answered {}", rv_name(rv))),
    }
}

fn check_data(s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE, label: &Label) -> Option<String> {
    let value = match get(s, h, CKA_VALUE) {
        Ok(v) => v,
        Err(rv) => return Some(format!("CKA_VALUE answered {}", rv_name(rv))),
    };
    if label.check != checksum(&value) {
        return Some(format!(
            "the label's checksum does not match the {}-byte CKA_VALUE",
            value.len()
        ));
    }
    if get(s, h, CKA_APPLICATION).ok().as_deref() != Some(APPLICATION) {
        return Some("CKA_APPLICATION changed".into());
    }
    None
}

fn check_pair(
    s: CK_SESSION_HANDLE,
    public: CK_OBJECT_HANDLE,
    private: CK_OBJECT_HANDLE,
) -> Option<String> {
    let rsa = get(s, public, CKA_KEY_TYPE).ok() == Some(CKK_RSA.to_ne_bytes().to_vec());
    let shared: &[CK_ATTRIBUTE_TYPE] = if rsa {
        &[CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_ID]
    } else {
        &[CKA_EC_PARAMS, CKA_ID]
    };
    for t in shared {
        if get(s, public, *t).ok() != get(s, private, *t).ok() {
            return Some(format!("the halves differ in attribute 0x{t:X}"));
        }
    }
    let mech = if rsa {
        CKM_SHA256_RSA_PKCS
    } else {
        CKM_ECDSA_SHA256
    };
    let data = b"crash-test signature";
    let sig = match crypt(Op::Sign, s, mech, &[], private, data) {
        Ok(sig) => sig,
        Err((call, rv)) => return Some(format!("{call} answered {}", rv_name(rv))),
    };
    verify_sig(s, mech, &[], public, data, &sig)
        .err()
        .map(|(call, rv)| {
            format!(
                "{call} answered {} for the private half's signature",
                rv_name(rv)
            )
        })
}

// ---------------------------------------------------------------------------------------------
// The parent's book of what writers reported

#[derive(Debug, Default)]
struct Reported {
    kind: String,
    /// `C`: the create answered CKR_OK.
    created: bool,
    /// `d`: a destroy started.
    destroying: bool,
    /// `D`: the destroy finished.
    destroyed: bool,
    /// Last `L` generation (0 at creation).
    gen_done: u32,
    /// Highest `l` generation.
    gen_max: u32,
}

#[derive(Default)]
struct Book {
    ids: BTreeMap<String, Reported>,
    created: usize,
    destroyed: usize,
    relabelled: usize,
}

impl Book {
    /// Takes one run's lines; returns how far the writer got before the kill.
    fn apply(&mut self, run: usize, lines: &[String], problems: &mut Vec<String>) -> &'static str {
        let mut stage = "before C_Initialize";
        for line in lines {
            let w: Vec<&str> = line.split(' ').collect();
            let known =
                |ids: &mut BTreeMap<String, Reported>, id: &str, problems: &mut Vec<String>| {
                    if !ids.contains_key(id) {
                        problems.push(format!(
                            "run {run}: `{line}` names an object no writer announced creating"
                        ));
                        ids.insert(id.to_string(), Reported::default());
                    }
                };
            match w[0] {
                "started" => stage = "in C_Initialize",
                "initialized" => stage = "in C_OpenSession/C_Login",
                "ready" => stage = "while writing",
                "finished" => stage = "after its last write (not killed)",
                "c" => {
                    let entry = self.ids.entry(w[2].to_string()).or_default();
                    entry.kind = w[1].to_string();
                }
                "C" => {
                    self.created += 1;
                    known(&mut self.ids, w[2], problems);
                    self.ids.get_mut(w[2]).unwrap().created = true;
                }
                "l" | "L" => {
                    known(&mut self.ids, w[1], problems);
                    let g: u32 = w[2].parse().unwrap();
                    let entry = self.ids.get_mut(w[1]).unwrap();
                    entry.gen_max = entry.gen_max.max(g);
                    if w[0] == "L" {
                        self.relabelled += 1;
                        entry.gen_done = g;
                    }
                }
                "d" => {
                    known(&mut self.ids, w[1], problems);
                    self.ids.get_mut(w[1]).unwrap().destroying = true;
                }
                "D" => {
                    self.destroyed += 1;
                    known(&mut self.ids, w[1], problems);
                    self.ids.get_mut(w[1]).unwrap().destroyed = true;
                }
                "X" => problems.push(format!("run {run}: {}", &line[2..])),
                _ => problems.push(format!("run {run}: unreadable report {line:?}")),
            }
        }
        stage
    }

    /// Points 3–5 of the invariant, given the checker's `O` lines (class, label).
    fn judge(&self, objects: &[(String, Vec<u8>)], problems: &mut Vec<String>) {
        // id -> (class, generation) of every object found
        let mut found: BTreeMap<String, Vec<(String, u32)>> = BTreeMap::new();
        for (class, label) in objects {
            match Label::parse(label) {
                // The checker reported these already.
                None => {}
                Some(l) => {
                    let Some(r) = self.ids.get(&l.id) else {
                        problems.push(format!(
                            "{} is on the token but no writer announced creating it",
                            shown(label)
                        ));
                        continue;
                    };
                    if l.kind != r.kind {
                        problems.push(format!(
                            "{} is a {} but was announced as a {}",
                            shown(label),
                            l.kind,
                            r.kind
                        ));
                    }
                    if l.generation < r.gen_done || l.generation > r.gen_max {
                        problems.push(format!(
                            "{} has label generation {} but the writers reported generations \
                             {} (done) to {} (started)",
                            shown(label),
                            l.generation,
                            r.gen_done,
                            r.gen_max
                        ));
                    }
                    found
                        .entry(l.id)
                        .or_default()
                        .push((class.clone(), l.generation));
                }
            }
        }
        for (id, r) in &self.ids {
            let objs = found.get(id).map(Vec::as_slice).unwrap_or(&[]);
            let count = |c: &str| objs.iter().filter(|(class, _)| class == c).count();
            let state = format!(
                "{} {id} (created: {}, destroy started: {}, destroyed: {})",
                r.kind, r.created, r.destroying, r.destroyed
            );
            if r.kind == "pair" {
                let (public, private) = (count("public"), count("private"));
                let (ok, rule) = match (r.destroying, r.destroyed) {
                    (_, true) => (
                        (public, private) == (0, 0),
                        "both destroys answered CKR_OK, so no half may remain",
                    ),
                    (true, false) => (
                        matches!((public, private), (1, 1) | (1, 0) | (0, 0)),
                        "an interrupted destroy (private half first) may leave both halves, the \
                         public one, or none",
                    ),
                    (false, false) if r.created => (
                        (public, private) == (1, 1),
                        "C_GenerateKeyPair answered CKR_OK, so both halves must survive",
                    ),
                    (false, false) => (
                        matches!((public, private), (1, 1) | (0, 0)),
                        "an interrupted C_GenerateKeyPair must leave both halves or neither",
                    ),
                };
                if !ok {
                    problems.push(format!(
                        "{state}: {public} public and {private} private halves on the token; \
                         {rule}"
                    ));
                }
            } else {
                let n = objs.len();
                let (ok, rule) = match (r.destroying, r.destroyed) {
                    (_, true) => (
                        n == 0,
                        "C_DestroyObject answered CKR_OK, so it must be gone",
                    ),
                    (false, false) if r.created => (
                        n == 1,
                        "C_CreateObject answered CKR_OK, so it must survive, once",
                    ),
                    _ => (
                        n <= 1,
                        "an interrupted create or destroy leaves one object or none",
                    ),
                };
                if !ok {
                    problems.push(format!("{state}: {n} objects on the token; {rule}"));
                }
            }
        }
    }
}

#[test]
fn kill_9_at_random_moments_leaves_a_sound_store() {
    use std::os::unix::process::ExitStatusExt;
    let _g = scenario();
    let runs: usize = env_or("HSMSIM_CRASH_RUNS", 300);
    let budget = Duration::from_secs(env_or("HSMSIM_CRASH_SECONDS", 90));
    let min_runs = runs.min(100);
    let dir = tempfile::tempdir().unwrap();
    let mut book = Book::default();
    let mut problems: Vec<String> = Vec::new();
    let mut stages: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rng = Rng::new(0xC7A5);
    let start = Instant::now();
    let mut done = 0;
    while done < runs && start.elapsed() < budget {
        let run = done;
        done += 1;
        let mut w = Proc::spawn(
            &format!("writer {run}"),
            "writer",
            dir.path(),
            "default",
            &[("HSMSIM_CRASH_RUN", run.to_string())],
        );
        // A quarter of the kills count from the start of C_Initialize (most land in it or in
        // the login), the rest from the end of the login (they land among the writes).
        let anchor = if rng.percent(25) { "started" } else { "ready" };
        let mut lines = Vec::new();
        match w.expect_line(anchor, Duration::from_secs(60)) {
            Ok(before) => {
                lines.extend(before);
                lines.push(anchor.to_string());
                std::thread::sleep(Duration::from_micros(rng.below(80_001)));
            }
            Err(e) => problems.push(format!("run {run}: {e}")),
        }
        w.kill();
        lines.extend(w.drain(Duration::from_secs(10)).0);
        let stage = book.apply(run, &lines, &mut problems);
        *stages.entry(stage).or_default() += 1;
        let status = w.wait_exit(Duration::from_secs(5));
        if status.is_some_and(|s| s.signal() != Some(9)) {
            problems.push(format!(
                "run {run}: the writer exited by itself ({status:?}) before the kill; stderr:\n{}",
                w.stderr_tail()
            ));
        }
        if done % 50 == 0
            && let Err(e) = integrity_check(dir.path())
        {
            problems.push(format!("after run {run}: {e}"));
        }
    }
    let writing = start.elapsed();
    if let Err(e) = integrity_check(dir.path()) {
        problems.push(format!("after the last run: {e}"));
    }

    let mut checker = Proc::spawn("checker", "checker", dir.path(), "default", &[]);
    let (lines, ended) = checker.drain(Duration::from_secs(180));
    if !ended {
        checker.kill();
        problems.push("the checker did not finish within 180 s".into());
    }
    let status = checker.wait_exit(Duration::from_secs(10));
    if !status.is_some_and(|s| s.success()) {
        problems.push(format!(
            "the checker exited with {status:?}; stderr:\n{}",
            checker.stderr_tail()
        ));
    }
    let mut objects = Vec::new();
    let mut checked = None;
    for line in &lines {
        let w: Vec<&str> = line.splitn(3, ' ').collect();
        match w[0] {
            "O" => objects.push((w[1].to_string(), unhex(w[2]))),
            "P" => problems.push(format!("checker: {}", &line[2..])),
            "DONE" => checked = Some(w[1].to_string()),
            _ => problems.push(format!("checker said {line:?}")),
        }
    }
    if checked.is_none() {
        problems.push("the checker did not get through the token (no DONE)".into());
    }
    book.judge(&objects, &mut problems);

    println!(
        "{done} runs in {writing:?} (killed: {stages:?}); writers reported {} creates, {} \
         relabels, {} destroys; {} objects on the token at the end; total {:?}",
        book.created,
        book.relabelled,
        book.destroyed,
        objects.len(),
        start.elapsed()
    );
    assert!(
        problems.is_empty(),
        "{} problems after {done} kill -9 runs ({} creates, {} destroys reported, {} objects \
         left):\n{}",
        problems.len(),
        book.created,
        book.destroyed,
        objects.len(),
        first_few(&problems, 25)
    );
    assert!(
        done >= min_runs,
        "only {done} runs fitted in {budget:?}; at least {min_runs} are needed"
    );
    assert!(
        stages.get("while writing").copied().unwrap_or(0) > 0 && book.created > 0,
        "no writer got to write anything before its kill ({stages:?})"
    );
}

/// The parent's judgement itself: each kind of violation is noticed (no worker involved).
#[test]
fn the_invariant_check_flags_lost_resurrected_half_made_and_stray_objects() {
    let lines: Vec<String> = [
        "started",
        "ready",
        "c aes r0n1",
        "C aes r0n1",
        "c aes r0n2",
        "C aes r0n2",
        "d r0n2",
        "D r0n2",
        "c pair r0n3",
        "c pair r0n4",
        "C pair r0n4",
        "d r0n4",
        "c data r0n5",
        "C data r0n5",
        "l r0n5 1",
        "L r0n5 1",
        "c aes r0n6",
        "C aes r0n6",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut book = Book::default();
    let mut problems = Vec::new();
    assert_eq!(book.apply(0, &lines, &mut problems), "while writing");
    assert_eq!(problems, Vec::<String>::new());
    let label = |kind: &str, id: &str, generation: u32| {
        Label {
            kind: kind.into(),
            id: id.into(),
            generation,
            check: "x".into(),
        }
        .text()
        .into_bytes()
    };
    let objects = vec![
        // r0n1 lost: not here.
        ("secret".to_string(), label("aes", "r0n2", 0)), // destroyed, still here
        ("private".to_string(), label("pair", "r0n3", 0)), // interrupted generate, half
        ("private".to_string(), label("pair", "r0n4", 0)), // interrupted destroy, private left
        ("data".to_string(), label("data", "r0n5", 0)),  // relabel to 1 was done
        ("secret".to_string(), label("aes", "r9n9", 0)), // never announced
        ("secret".to_string(), label("aes", "r0n6", 0)), // fine
    ];
    book.judge(&objects, &mut problems);
    for id in ["r0n1", "r0n2", "r0n3", "r0n4", "r0n5", "r9n9"] {
        assert!(
            problems.iter().any(|p| p.contains(id)),
            "{id} not flagged: {problems:#?}"
        );
    }
    assert!(
        !problems.iter().any(|p| p.contains("r0n6")),
        "{problems:#?}"
    );
    assert_eq!(problems.len(), 6, "{problems:#?}");
}
