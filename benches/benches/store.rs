//! Store scale: finds among many token objects, opening a lab with very many objects, and the
//! memory an idle token object costs, for libhsmsim.so through its C ABI, against SoftHSMv2 in
//! the same run where it applies (issue 3, item 7 "Scale").
//!
//! `cargo bench -p hsmsim-benches --bench store` measures
//! - finds per second, single-threaded (one find = `C_FindObjectsInit` + `C_FindObjects` +
//!   `C_FindObjectsFinal`, exactly one match, checked) by `CKA_LABEL`, `CKA_ID`, `CKA_CLASS`
//!   (and the usual `CKA_CLASS` + `CKA_LABEL`), among 1,000 token objects for hsmsim and
//!   SoftHSMv2 alike (interleaved slices, median of 3 rounds), then among 10,000 for hsmsim;
//! - in fresh child processes (this binary run again, the module is process-global):
//!   `C_Initialize` + the first `C_GetSlotList` with 100,000 token objects in the lab, the first
//!   find after it (hsmsim loads a slot's objects then), and the RSS growth per object that
//!   find causes (and the heap in use, glibc's `mallinfo2`, to tell live data from allocator
//!   slack), for AES-256 keys and for data objects;
//! - the same at 1,000 objects for hsmsim and SoftHSMv2, per-object memory taken against a
//!   process on an empty token (SoftHSMv2 reads its objects at `C_Initialize`);
//! - session close (issue 10, item 15): open 100,000 sessions (16,000 in quick mode), then one
//!   `C_CloseAllSessions`, for hsmsim and SoftHSMv2 in this process, median of 3 rounds.
//!
//! It prints a summary with the goals (PASS/MISS, reported, not enforced) and writes it to
//! `target/hsmsim-bench-store.json`. It fails only when a call fails or a find returns the
//! wrong objects. `HSMSIM_BENCH_QUICK=1` (CI) uses 20,000 objects for the lab-opening
//! measurements instead of 100,000, and shorter loops. Under `cargo test` (no `--bench`
//! argument) it runs the same path with tiny counts and writes nothing; it skips if the module
//! is not built. The module is `$HSMSIM_MODULE`, else `target/release/libhsmsim.so`;
//! SoftHSMv2 is `$SOFTHSM2_MODULE`, else `/usr/lib/softhsm/libsofthsm2.so`.
use cryptoki_sys::*;
use hsmsim_benches::{Module, RunMode, heap_in_use, module_for, write_summary};
use serde_json::{Value, json};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const USER_PIN: &[u8] = b"12345678";
/// SoftHSMv2's tokens are initialised here with this SO PIN.
const SO_PIN: &[u8] = b"87654321";
const HSMSIM_TOKEN: &str = "hsmsim-default";
const SOFTHSM_TOKEN: &str = "bench";
const SOFTHSM_EMPTY_TOKEN: &str = "bench-empty";
const SOFTHSM_DEFAULT_LIB: &str = "/usr/lib/softhsm/libsofthsm2.so";
const FIND_GOAL: f64 = 50_000.0;
const INIT_GOAL_S: f64 = 0.2;
const MEMORY_GOAL_BYTES: f64 = 2048.0;
/// The object counts the goals are set for.
const FIND_GOAL_OBJECTS: usize = 10_000;
const OPEN_GOAL_OBJECTS: usize = 100_000;
/// Slices per measuring round (see `measure_finds`).
const SLICES: u32 = 5;
const MARKER_LABEL: &[u8] = b"bench-marker";
const APPLICATION: &[u8] = b"hsmsim-bench";

// A child process's role and parameters (see `child_main`).
const ROLE_VAR: &str = "HSMSIM_BENCH_STORE_ROLE";
const MODULE_VAR: &str = "HSMSIM_BENCH_STORE_MODULE";
const TOKEN_VAR: &str = "HSMSIM_BENCH_STORE_TOKEN";
const KIND_VAR: &str = "HSMSIM_BENCH_STORE_KIND";
const COUNT_VAR: &str = "HSMSIM_BENCH_STORE_COUNT";
const TARGET_VAR: &str = "HSMSIM_BENCH_STORE_TARGET";
/// A child prints its result as one line starting with this.
const RESULT_TAG: &str = "hsmsim-store-bench-result: ";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Full,
    Quick,
    Test,
}

/// How much to measure in each mode.
struct Plan {
    mode: Mode,
    /// Objects for the hsmsim-vs-SoftHSMv2 finds (SoftHSMv2 is slow to populate).
    find_small: usize,
    /// Objects for hsmsim's finds against the goal.
    find_large: usize,
    /// Objects in the labs opened by fresh processes.
    open_objects: usize,
    loop_time: Duration,
    rounds: usize,
    /// Fresh processes per lab-opening measurement (median).
    open_runs: usize,
    /// Sessions open when `C_CloseAllSessions` is measured.
    sessions: usize,
}

impl Plan {
    fn new(mode: Mode) -> Plan {
        match mode {
            Mode::Full => Plan {
                mode,
                find_small: 1_000,
                find_large: FIND_GOAL_OBJECTS,
                open_objects: OPEN_GOAL_OBJECTS,
                loop_time: Duration::from_millis(1_000),
                rounds: 3,
                open_runs: 3,
                sessions: 100_000,
            },
            Mode::Quick => Plan {
                mode,
                find_small: 1_000,
                find_large: FIND_GOAL_OBJECTS,
                open_objects: 20_000,
                loop_time: Duration::from_millis(250),
                rounds: 3,
                open_runs: 3,
                sessions: 16_000,
            },
            Mode::Test => Plan {
                mode,
                find_small: 50,
                find_large: 200,
                open_objects: 300,
                loop_time: Duration::from_millis(20),
                rounds: 1,
                open_runs: 1,
                sessions: 300,
            },
        }
    }

    fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::Full => "full",
            Mode::Quick => "quick",
            Mode::Test => "test",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The objects

/// What a lab is filled with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// AES-256 secret keys with `CKA_LABEL` and `CKA_ID`, private and sensitive: what a CI
    /// application holds.
    Aes,
    /// Data objects with `CKA_LABEL`, `CKA_APPLICATION` and a 64-byte value.
    Data,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Aes => "aes",
            Kind::Data => "data",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "aes" => Some(Kind::Aes),
            "data" => Some(Kind::Data),
            _ => None,
        }
    }

    fn label(self, i: usize) -> Vec<u8> {
        match self {
            Kind::Aes => format!("key-{i:06}").into_bytes(),
            Kind::Data => format!("data-{i:06}").into_bytes(),
        }
    }
}

/// splitmix64: deterministic filler bytes and find targets.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn filler<const N: usize>(seed: u64) -> [u8; N] {
    let mut out = [0u8; N];
    for (k, chunk) in out.chunks_mut(8).enumerate() {
        let v = mix(seed.wrapping_mul(31).wrapping_add(k as u64)).to_be_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    out
}

/// Key `i`'s `CKA_ID`: 16 bytes, like a truncated key-hash identifier.
fn key_id(i: usize) -> [u8; 16] {
    filler::<16>(i as u64 ^ 0x1D)
}

fn ul(v: CK_ULONG) -> [u8; std::mem::size_of::<CK_ULONG>()] {
    v.to_ne_bytes()
}

/// Creates object `i` of `kind` as a token object.
fn create(
    m: &Module,
    session: CK_SESSION_HANDLE,
    kind: Kind,
    i: usize,
) -> Result<CK_OBJECT_HANDLE, hsmsim_benches::Error> {
    let label = kind.label(i);
    match kind {
        Kind::Aes => {
            let (t, f) = ([CK_TRUE], [CK_FALSE]);
            let value = filler::<32>(i as u64);
            let id = key_id(i);
            m.create_object(
                session,
                &[
                    (CKA_CLASS, &ul(CKO_SECRET_KEY)),
                    (CKA_KEY_TYPE, &ul(CKK_AES)),
                    (CKA_TOKEN, &t),
                    (CKA_PRIVATE, &t),
                    (CKA_SENSITIVE, &t),
                    (CKA_EXTRACTABLE, &f),
                    (CKA_ENCRYPT, &t),
                    (CKA_DECRYPT, &t),
                    (CKA_LABEL, &label),
                    (CKA_ID, &id),
                    (CKA_VALUE, &value),
                ],
            )
        }
        Kind::Data => create_data(m, session, &label, i as u64),
    }
}

fn create_data(
    m: &Module,
    session: CK_SESSION_HANDLE,
    label: &[u8],
    seed: u64,
) -> Result<CK_OBJECT_HANDLE, hsmsim_benches::Error> {
    let (t, f) = ([CK_TRUE], [CK_FALSE]);
    let value = filler::<64>(seed ^ 0xDA7A);
    m.create_object(
        session,
        &[
            (CKA_CLASS, &ul(CKO_DATA)),
            (CKA_TOKEN, &t),
            (CKA_PRIVATE, &f),
            (CKA_LABEL, label),
            (CKA_APPLICATION, APPLICATION),
            (CKA_VALUE, &value),
        ],
    )
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Finds in this process

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum FindKind {
    Label,
    Id,
    /// `CKO_DATA`: the one data object among the keys.
    Class,
    /// `CKO_SECRET_KEY` + label: what applications usually pass (informative).
    ClassLabel,
}

const FIND_KINDS: [FindKind; 4] = [
    FindKind::Label,
    FindKind::Id,
    FindKind::Class,
    FindKind::ClassLabel,
];

impl FindKind {
    fn name(self) -> &'static str {
        match self {
            FindKind::Label => "CKA_LABEL",
            FindKind::Id => "CKA_ID",
            FindKind::Class => "CKA_CLASS",
            FindKind::ClassLabel => "CKA_CLASS+CKA_LABEL",
        }
    }

    fn key(self) -> &'static str {
        match self {
            FindKind::Label => "label",
            FindKind::Id => "id",
            FindKind::Class => "class",
            FindKind::ClassLabel => "class_label",
        }
    }
}

/// Labels and ids of the keys, made once so the find loop does not format.
struct Names {
    labels: Vec<Vec<u8>>,
    ids: Vec<[u8; 16]>,
}

impl Names {
    fn new(n: usize) -> Names {
        Names {
            labels: (0..n).map(|i| Kind::Aes.label(i)).collect(),
            ids: (0..n).map(key_id).collect(),
        }
    }
}

/// One module in this process with a token of `keys` AES keys plus one data object (the
/// marker that `CKA_CLASS = CKO_DATA` finds).
struct Side {
    name: &'static str,
    /// The label of its token.
    token: &'static str,
    module: Module,
    session: CK_SESSION_HANDLE,
    keys: Vec<CK_OBJECT_HANDLE>,
    marker: CK_OBJECT_HANDLE,
    created: usize,
    create_seconds: f64,
}

impl Side {
    /// A R/W session on the token labelled `token`, the user logged in.
    fn open(name: &'static str, module: Module, token: &'static str) -> Result<Side, String> {
        let e = |e: hsmsim_benches::Error| format!("{name}: {e}");
        let slot = slot_of(&module, token)?;
        let session = module.open_session(slot, true).map_err(e)?;
        module.login(session, CKU_USER, USER_PIN).map_err(e)?;
        Ok(Side {
            name,
            token,
            module,
            session,
            keys: Vec::new(),
            marker: CK_INVALID_HANDLE,
            created: 0,
            create_seconds: 0.0,
        })
    }

    /// Adds the marker and keys until the token holds `total` objects.
    fn grow_to(&mut self, total: usize) -> Result<(), String> {
        let start = Instant::now();
        let before = self.objects();
        if self.marker == CK_INVALID_HANDLE {
            self.marker = create_data(&self.module, self.session, MARKER_LABEL, u64::MAX)
                .map_err(|e| format!("{}: marker: {e}", self.name))?;
        }
        while self.objects() < total {
            let i = self.keys.len();
            let h = create(&self.module, self.session, Kind::Aes, i)
                .map_err(|e| format!("{}: creating key {i}: {e}", self.name))?;
            self.keys.push(h);
        }
        self.created += self.objects() - before;
        self.create_seconds += start.elapsed().as_secs_f64();
        Ok(())
    }

    fn objects(&self) -> usize {
        self.keys.len() + usize::from(self.marker != CK_INVALID_HANDLE)
    }

    /// One checked find of key `i` (or of the marker).
    #[inline]
    fn find_once(&self, kind: FindKind, i: usize, names: &Names) -> Result<(), String> {
        let mut out = [CK_INVALID_HANDLE; 2];
        let secret = ul(CKO_SECRET_KEY);
        let data = ul(CKO_DATA);
        let label: &[u8] = &names.labels[i];
        let template: &[(CK_ATTRIBUTE_TYPE, &[u8])] = match kind {
            FindKind::Label => &[(CKA_LABEL, label)],
            FindKind::Id => &[(CKA_ID, &names.ids[i])],
            FindKind::Class => &[(CKA_CLASS, &data)],
            FindKind::ClassLabel => &[(CKA_CLASS, &secret), (CKA_LABEL, label)],
        };
        let n = self
            .module
            .find(self.session, template, &mut out)
            .map_err(|e| format!("{}: find by {}: {e}", self.name, kind.name()))?;
        let expected = if kind == FindKind::Class {
            self.marker
        } else {
            self.keys[i]
        };
        if n != 1 || out[0] != expected {
            return Err(format!(
                "{}: find by {} (key {i}) returned {:?}, expected [{expected}]",
                self.name,
                kind.name(),
                &out[..n]
            ));
        }
        Ok(())
    }

    /// Checked finds for about `duration`: (finds, seconds).
    fn run_for(
        &self,
        kind: FindKind,
        names: &Names,
        rng: &mut u64,
        duration: Duration,
    ) -> Result<(u64, f64), String> {
        let keys = self.keys.len() as u64;
        let start = Instant::now();
        let deadline = start + duration;
        let mut n = 0u64;
        loop {
            *rng = mix(*rng);
            self.find_once(kind, (*rng % keys) as usize, names)?;
            n += 1;
            let now = Instant::now();
            if now >= deadline {
                return Ok((n, (now - start).as_secs_f64()));
            }
        }
    }

    /// Opens `n` sessions on the side's slot (every other one read-only), then closes them
    /// all with one `C_CloseAllSessions`, which also closes the side's own session: it is
    /// opened again (logged in) after. Returns the seconds (opening, closing).
    fn open_and_close_all(&mut self, n: usize) -> Result<(f64, f64), String> {
        let e = |e: hsmsim_benches::Error| format!("{}: {e}", self.name);
        let slot = slot_of(&self.module, self.token)?;
        let start = Instant::now();
        for i in 0..n {
            self.module.open_session(slot, i % 2 == 0).map_err(e)?;
        }
        let opened = start.elapsed().as_secs_f64();
        let start = Instant::now();
        self.module.close_all_sessions(slot).map_err(e)?;
        let closed = start.elapsed().as_secs_f64();
        // Every session is gone, the side's own one too.
        if self.module.close_session(self.session).is_ok() {
            return Err(format!(
                "{}: C_CloseAllSessions left a session open",
                self.name
            ));
        }
        self.session = self.module.open_session(slot, true).map_err(e)?;
        self.module
            .login(self.session, CKU_USER, USER_PIN)
            .map_err(e)?;
        Ok((opened, closed))
    }

    fn create_rate(&self) -> Option<f64> {
        (self.created > 0 && self.create_seconds > 0.0)
            .then(|| self.created as f64 / self.create_seconds)
    }
}

/// The slot holding the token labelled `token`.
fn slot_of(m: &Module, token: &str) -> Result<CK_SLOT_ID, String> {
    let e = |e: hsmsim_benches::Error| e.to_string();
    for slot in m.slots_with_token().map_err(e)? {
        if m.token_label(slot).map_err(e)? == token {
            return Ok(slot);
        }
    }
    Err(format!("no slot holds a token labelled {token:?}"))
}

/// Finds/s per (side, kind): every round's loop is cut into slices alternating between the
/// cases, so background load hits every case alike; the median of the rounds.
fn measure_finds(
    sides: &[&Side],
    names: &Names,
    plan: &Plan,
    rng: &mut u64,
) -> Result<Vec<Vec<f64>>, String> {
    let mut samples = vec![vec![Vec::new(); FIND_KINDS.len()]; sides.len()];
    let slice = plan.loop_time / SLICES;
    for _ in 0..plan.rounds {
        let mut acc = vec![vec![(0u64, 0f64); FIND_KINDS.len()]; sides.len()];
        for _ in 0..SLICES {
            for (k, kind) in FIND_KINDS.iter().enumerate() {
                for (s, side) in sides.iter().enumerate() {
                    let (n, secs) = side.run_for(*kind, names, rng, slice)?;
                    acc[s][k].0 += n;
                    acc[s][k].1 += secs;
                }
            }
        }
        for (s, per_kind) in acc.into_iter().enumerate() {
            for (k, (n, secs)) in per_kind.into_iter().enumerate() {
                samples[s][k].push(n as f64 / secs);
            }
        }
    }
    Ok(samples
        .into_iter()
        .map(|per_kind| per_kind.into_iter().map(median).collect())
        .collect())
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

// ---------------------------------------------------------------------------------------------
// SoftHSMv2

/// SoftHSMv2 with a fresh token directory holding the benchmark's token, and another one
/// holding an empty token (the memory baseline: SoftHSMv2 reads every token of its directory
/// at `C_Initialize`), both with the user PIN set.
struct SoftHsm {
    lib: PathBuf,
    conf: PathBuf,
    empty_conf: PathBuf,
    version: String,
    _dirs: [tempfile::TempDir; 2],
}

fn softhsm_lib() -> PathBuf {
    std::env::var_os("SOFTHSM2_MODULE")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(SOFTHSM_DEFAULT_LIB), PathBuf::from)
}

/// Prepares a SoftHSMv2 configuration with an empty token directory (`SOFTHSM2_CONF` must be
/// set before a process loads SoftHSMv2). Returns the directory and the configuration file.
fn softhsm_config() -> Result<(tempfile::TempDir, PathBuf), String> {
    let dir = temp_dir("hsmsim-bench-softhsm-")?;
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).map_err(|e| format!("{}: {e}", tokens.display()))?;
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
             slots.removable = false\n",
            tokens.display()
        ),
    )
    .map_err(|e| format!("{}: {e}", conf.display()))?;
    Ok((dir, conf))
}

/// Initialises the first uninitialised token (`label`, `SO_PIN`) and its user PIN.
fn init_softhsm_token(module: &Module, label: &str) -> Result<(), String> {
    let e = |e: hsmsim_benches::Error| e.to_string();
    // SoftHSMv2 always offers one slot with an uninitialised token; C_InitToken moves the
    // token to a new slot id.
    let mut free = None;
    for slot in module.all_slots().map_err(e)? {
        if !module.token_initialized(slot).map_err(e)? {
            free = Some(slot);
            break;
        }
    }
    let free = free.ok_or("no slot with an uninitialised token")?;
    module.init_token(free, SO_PIN, label).map_err(e)?;
    let slot = slot_of(module, label)?;
    let s = module.open_session(slot, true).map_err(e)?;
    module.login(s, CKU_SO, SO_PIN).map_err(e)?;
    module.init_pin(s, USER_PIN).map_err(e)?;
    module.logout(s).map_err(e)?;
    module.close_session(s).map_err(e)
}

/// Loads SoftHSMv2 (configured by `SOFTHSM2_CONF` = `conf`) and initialises the benchmark's
/// token, and the empty token of `empty_conf` in a child process.
fn open_softhsm(
    (dir, conf): (tempfile::TempDir, PathBuf),
    (empty_dir, empty_conf): (tempfile::TempDir, PathBuf),
) -> Result<(Side, SoftHsm), String> {
    let lib = softhsm_lib();
    if !lib.is_file() {
        return Err(format!(
            "{} not found (apt-get install softhsm2, or set SOFTHSM2_MODULE)",
            lib.display()
        ));
    }
    let mut module = Module::load(&lib)?;
    let e = |e: hsmsim_benches::Error| e.to_string();
    module.initialize().map_err(e)?;
    let (manufacturer, description, v) = module.info().map_err(e)?;
    let version = format!("{manufacturer} {description} {}.{}", v.major, v.minor);
    init_softhsm_token(&module, SOFTHSM_TOKEN)?;
    let side = Side::open("SoftHSMv2", module, SOFTHSM_TOKEN)?;
    let empty = Target::SoftHsm {
        module: lib.clone(),
        conf: empty_conf.clone(),
        token: SOFTHSM_EMPTY_TOKEN,
    };
    run_child("init-token", &empty.envs())?;
    Ok((
        side,
        SoftHsm {
            lib,
            conf,
            empty_conf,
            version,
            _dirs: [dir, empty_dir],
        },
    ))
}

// ---------------------------------------------------------------------------------------------
// Child processes

/// A measurement in a fresh process: this binary again, with `ROLE_VAR` set.
fn run_child(role: &str, envs: &[(&str, OsString)]) -> Result<Value, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.env_remove("HSMSIM_CONF")
        .env_remove("HSMSIM_HOST")
        .env(ROLE_VAR, role)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run the {role} child: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "the {role} child failed ({}): {}",
            out.status,
            stdout.trim()
        ));
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_TAG))
        .ok_or_else(|| format!("the {role} child printed no result: {}", stdout.trim()))?;
    serde_json::from_str(line).map_err(|e| format!("the {role} child's result: {e}: {line}"))
}

/// Where a child finds its module and token.
#[derive(Clone)]
enum Target {
    Hsmsim {
        module: PathBuf,
        state: PathBuf,
    },
    SoftHsm {
        module: PathBuf,
        conf: PathBuf,
        token: &'static str,
    },
}

impl Target {
    fn envs(&self) -> Vec<(&'static str, OsString)> {
        match self {
            Target::Hsmsim { module, state } => vec![
                (MODULE_VAR, module.into()),
                (TOKEN_VAR, HSMSIM_TOKEN.into()),
                ("HSMSIM_STATE_DIR", state.into()),
                ("HSMSIM_LAB", "default".into()),
            ],
            Target::SoftHsm {
                module,
                conf,
                token,
            } => vec![
                (MODULE_VAR, module.into()),
                (TOKEN_VAR, (*token).into()),
                ("SOFTHSM2_CONF", conf.into()),
            ],
        }
    }
}

/// Fills the token of `target` with `count` objects of `kind` in a child process:
/// (created, seconds).
fn populate(target: &Target, kind: Kind, count: usize) -> Result<(usize, f64), String> {
    let mut envs = target.envs();
    envs.push((KIND_VAR, kind.name().into()));
    envs.push((COUNT_VAR, count.to_string().into()));
    let v = run_child("populate", &envs)?;
    Ok((
        v["created"].as_u64().unwrap_or(0) as usize,
        v["seconds"].as_f64().unwrap_or(f64::NAN),
    ))
}

/// What one fresh process measured while opening a lab.
#[derive(Clone, Debug, Default)]
struct OpenRun {
    init_s: f64,
    first_find_s: f64,
    warm_find_s: f64,
    /// VmRSS after loading the library, after C_Initialize + C_GetSlotList, after the login,
    /// after the first find (KiB).
    rss_loaded: f64,
    rss_init: f64,
    rss_login: f64,
    rss_found: f64,
    /// Heap bytes in use (glibc `mallinfo2`) after the login and after the first find; NaN
    /// where not available.
    heap_login: f64,
    heap_found: f64,
}

/// Opens the lab of `target` in `runs` fresh processes; each finds object `target_index` of
/// `kind` (or, with `count == 0`, checks that nothing is found).
fn open_runs(
    target: &Target,
    kind: Kind,
    count: usize,
    target_index: usize,
    runs: usize,
) -> Result<Vec<OpenRun>, String> {
    let mut envs = target.envs();
    envs.push((KIND_VAR, kind.name().into()));
    envs.push((COUNT_VAR, count.to_string().into()));
    envs.push((TARGET_VAR, target_index.to_string().into()));
    let mut out = Vec::new();
    for _ in 0..runs {
        let v = run_child("open", &envs)?;
        let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        out.push(OpenRun {
            init_s: f("init_s"),
            first_find_s: f("first_find_s"),
            warm_find_s: f("warm_find_s"),
            rss_loaded: f("rss_loaded_kib"),
            rss_init: f("rss_init_kib"),
            rss_login: f("rss_login_kib"),
            rss_found: f("rss_found_kib"),
            heap_login: f("heap_login_bytes"),
            heap_found: f("heap_found_bytes"),
        });
    }
    Ok(out)
}

/// The median of each field over fresh-process runs.
fn median_run(runs: &[OpenRun]) -> OpenRun {
    let m = |f: fn(&OpenRun) -> f64| median(runs.iter().map(f).collect());
    OpenRun {
        init_s: m(|r| r.init_s),
        first_find_s: m(|r| r.first_find_s),
        warm_find_s: m(|r| r.warm_find_s),
        rss_loaded: m(|r| r.rss_loaded),
        rss_init: m(|r| r.rss_init),
        rss_login: m(|r| r.rss_login),
        rss_found: m(|r| r.rss_found),
        heap_login: m(|r| r.heap_login),
        heap_found: m(|r| r.heap_found),
    }
}

/// Bytes per object of the RSS growth at the first find (the definition: hsmsim loads
/// a slot's objects then), median over the runs.
fn growth_per_object(runs: &[OpenRun], count: usize) -> f64 {
    median(
        runs.iter()
            .map(|r| (r.rss_found - r.rss_login) * 1024.0 / count as f64)
            .collect(),
    )
}

/// Heap bytes in use per object after the first find (live data, without the allocator's
/// free memory), median over the runs.
fn heap_per_object(runs: &[OpenRun], count: usize) -> f64 {
    median(
        runs.iter()
            .map(|r| (r.heap_found - r.heap_login) / count as f64)
            .collect(),
    )
}

/// Bytes per object of a process's whole RSS growth from loading the library to after the first
/// find, less that of the same process on an empty token (like for like whenever a module
/// reads its objects).
fn marginal_per_object(runs: &[OpenRun], empty: &[OpenRun], count: usize) -> f64 {
    (whole_growth(runs) - whole_growth(empty)) * 1024.0 / count as f64
}

/// The RSS growth (KiB) from loading the library to after the first find, median.
fn whole_growth(runs: &[OpenRun]) -> f64 {
    median(runs.iter().map(|r| r.rss_found - r.rss_loaded).collect())
}

fn child_env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

fn child_main(role: &str) -> ExitCode {
    let result = child_env(MODULE_VAR).and_then(|module| {
        let module = PathBuf::from(module);
        let token = child_env(TOKEN_VAR)?;
        if role == "init-token" {
            return child_init_token(&module, &token);
        }
        let kind = Kind::parse(&child_env(KIND_VAR)?).ok_or("bad kind")?;
        let count: usize = child_env(COUNT_VAR)?
            .parse()
            .map_err(|e| format!("{COUNT_VAR}: {e}"))?;
        match role {
            "populate" => child_populate(&module, &token, kind, count),
            "open" => {
                let target: usize = child_env(TARGET_VAR)?
                    .parse()
                    .map_err(|e| format!("{TARGET_VAR}: {e}"))?;
                child_open(&module, &token, kind, count, target)
            }
            other => Err(format!("unknown role {other:?}")),
        }
    });
    match result {
        Ok(v) => {
            println!("{RESULT_TAG}{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn child_init_token(module: &Path, token: &str) -> Result<Value, String> {
    let mut m = Module::load(module)?;
    m.initialize().map_err(|e| e.to_string())?;
    init_softhsm_token(&m, token)?;
    m.finalize().map_err(|e| e.to_string())?;
    Ok(json!({"initialized": token}))
}

fn child_populate(module: &Path, token: &str, kind: Kind, count: usize) -> Result<Value, String> {
    let mut m = Module::load(module)?;
    let e = |e: hsmsim_benches::Error| e.to_string();
    m.initialize().map_err(e)?;
    let slot = slot_of(&m, token)?;
    let s = m.open_session(slot, true).map_err(e)?;
    m.login(s, CKU_USER, USER_PIN).map_err(e)?;
    let start = Instant::now();
    for i in 0..count {
        create(&m, s, kind, i).map_err(|x| format!("creating {} {i}: {x}", kind.name()))?;
    }
    let seconds = start.elapsed().as_secs_f64();
    m.close_session(s).map_err(e)?;
    m.finalize().map_err(e)?;
    Ok(json!({"created": count, "seconds": seconds}))
}

fn child_open(
    module: &Path,
    token: &str,
    kind: Kind,
    count: usize,
    target: usize,
) -> Result<Value, String> {
    let e = |e: hsmsim_benches::Error| e.to_string();
    let rss = || rss_kib().ok_or("no VmRSS in /proc/self/status");
    let mut m = Module::load(module)?;
    let rss_loaded = rss()?;
    let start = Instant::now();
    m.initialize().map_err(e)?;
    let slots = m.slots_with_token().map_err(e)?;
    let init_s = start.elapsed().as_secs_f64();
    let rss_init = rss()?;
    if slots.is_empty() {
        return Err("no slot with a token".into());
    }
    let slot = slot_of(&m, token)?;
    let s = m.open_session(slot, false).map_err(e)?;
    m.login(s, CKU_USER, USER_PIN).map_err(e)?;
    let rss_login = rss()?;
    let heap_login = heap_in_use();

    let label = kind.label(target);
    let mut out = [CK_INVALID_HANDLE; 2];
    let start = Instant::now();
    let n = m.find(s, &[(CKA_LABEL, &label)], &mut out).map_err(e)?;
    let first_find_s = start.elapsed().as_secs_f64();
    let rss_found = rss()?;
    let heap_found = heap_in_use();
    let want = usize::from(count > 0);
    if n != want {
        return Err(format!(
            "the first find by label {:?} found {n} objects, expected {want}",
            String::from_utf8_lossy(&label)
        ));
    }
    if n == 1 {
        let got = m.attribute(s, out[0], CKA_LABEL).map_err(e)?;
        if got != label {
            return Err(format!(
                "the first find by label {:?} returned an object labelled {:?}",
                String::from_utf8_lossy(&label),
                String::from_utf8_lossy(&got)
            ));
        }
    }
    let other = kind.label(if count > 1 { (target + 1) % count } else { 0 });
    let start = Instant::now();
    let n2 = m.find(s, &[(CKA_LABEL, &other)], &mut out).map_err(e)?;
    let warm_find_s = start.elapsed().as_secs_f64();
    if n2 != want {
        return Err(format!(
            "the second find by label {:?} found {n2} objects, expected {want}",
            String::from_utf8_lossy(&other)
        ));
    }
    m.close_session(s).map_err(e)?;
    m.finalize().map_err(e)?;
    Ok(json!({
        "init_s": init_s,
        "first_find_s": first_find_s,
        "warm_find_s": warm_find_s,
        "rss_loaded_kib": rss_loaded,
        "rss_init_kib": rss_init,
        "rss_login_kib": rss_login,
        "rss_found_kib": rss_found,
        "heap_login_bytes": heap_login,
        "heap_found_bytes": heap_found,
    }))
}

// ---------------------------------------------------------------------------------------------
// The whole run

/// Measured finds/s.
struct FindRow {
    module: &'static str,
    objects: usize,
    kind: FindKind,
    ops: f64,
}

/// A lab opened by fresh processes.
struct OpenResult {
    module: &'static str,
    kind: Kind,
    objects: usize,
    runs: Vec<OpenRun>,
    /// Bytes per object of the RSS growth at the first find.
    growth_bytes: f64,
    /// Bytes per object against an empty token, where measured.
    marginal_bytes: Option<f64>,
    /// The RSS growth (KiB) from loading the library to after the first find, with these
    /// objects and on an empty token (where measured).
    growth_kib: (f64, Option<f64>),
    /// Bytes per object of the store on disk (hsmsim).
    disk_bytes: Option<f64>,
    populate_rate: Option<f64>,
}

/// Opening `sessions` sessions, then `C_CloseAllSessions` (medians, seconds).
struct CloseRow {
    module: &'static str,
    sessions: usize,
    open_s: f64,
    close_s: f64,
}

struct Results {
    finds: Vec<FindRow>,
    opens: Vec<OpenResult>,
    closes: Vec<CloseRow>,
    hsmsim_create_rate: Option<f64>,
    softhsm_create_rate: Option<f64>,
    softhsm: Result<String, String>,
    module_path: PathBuf,
}

impl Results {
    fn find(&self, module: &str, objects: usize, kind: FindKind) -> Option<f64> {
        self.finds
            .iter()
            .find(|r| r.module == module && r.objects == objects && r.kind == kind)
            .map(|r| r.ops)
    }

    fn open(&self, module: &str, kind: Kind, objects: usize) -> Option<&OpenResult> {
        self.opens
            .iter()
            .find(|r| r.module == module && r.kind == kind && r.objects == objects)
    }
}

fn temp_dir(prefix: &str) -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))
}

fn store_bytes(state: &Path) -> Option<u64> {
    let mut total = 0;
    let mut any = false;
    for suffix in ["", "-wal"] {
        if let Ok(m) = std::fs::metadata(state.join(format!("hsmsim.sqlite{suffix}"))) {
            total += m.len();
            any = true;
        }
    }
    any.then_some(total)
}

/// Sets this process's environment for both modules. Called (through `run`) from `main`
/// before any thread is started and before either module (the only readers) is loaded.
fn set_env(state: &Path, softhsm_conf: &Path) {
    // SAFETY: single-threaded at this point (see above): nothing reads the environment
    // concurrently.
    unsafe {
        std::env::remove_var("HSMSIM_CONF");
        std::env::remove_var("HSMSIM_HOST");
        std::env::set_var("HSMSIM_STATE_DIR", state);
        std::env::set_var("HSMSIM_LAB", "default");
        std::env::set_var("SOFTHSM2_CONF", softhsm_conf);
    }
}

fn run(plan: &Plan, module: &Path) -> Result<Results, String> {
    let find_state = temp_dir("hsmsim-bench-store-")?;
    let softhsm_main = softhsm_config()?;
    let softhsm_empty = softhsm_config()?;
    set_env(find_state.path(), &softhsm_main.1);
    let names = Names::new(plan.find_large);
    let mut rng = 0x5EED_u64;
    let mut finds = Vec::new();
    let mut opens = Vec::new();

    // hsmsim and SoftHSMv2 side by side in this process.
    let mut m = Module::load(module)?;
    m.initialize().map_err(|e| e.to_string())?;
    let (manufacturer, description, v) = m.info().map_err(|e| e.to_string())?;
    eprintln!(
        "module: {} ({manufacturer} / {description} {}.{})",
        module.display(),
        v.major,
        v.minor
    );
    let mut hsmsim = Side::open("hsmsim", m, HSMSIM_TOKEN)?;
    let (mut softhsm, softhsm_info) = match open_softhsm(softhsm_main, softhsm_empty) {
        Ok((side, info)) => {
            eprintln!("SoftHSMv2: {} ({})", info.lib.display(), info.version);
            (Some(side), Ok(info))
        }
        Err(e) => {
            println!("SoftHSMv2 not available: {e}");
            (None, Err(e))
        }
    };

    eprintln!(
        "populating {} token objects on each module",
        plan.find_small
    );
    hsmsim.grow_to(plan.find_small)?;
    if let Some(s) = softhsm.as_mut() {
        s.grow_to(plan.find_small)?;
    }
    let softhsm_create_rate = softhsm.as_ref().and_then(Side::create_rate);
    eprintln!(
        "  hsmsim {:.0} creates/s, SoftHSMv2 {}",
        hsmsim.create_rate().unwrap_or(f64::NAN),
        softhsm_create_rate.map_or("n/a".into(), |r| format!("{r:.0} creates/s"))
    );
    let mut sides: Vec<&Side> = vec![&hsmsim];
    sides.extend(softhsm.as_ref());
    eprintln!("finds among {} objects", plan.find_small);
    let ops = measure_finds(&sides, &names, plan, &mut rng)?;
    for (side, per_kind) in sides.iter().zip(ops) {
        for (kind, ops) in FIND_KINDS.iter().zip(per_kind) {
            finds.push(FindRow {
                module: side.name,
                objects: plan.find_small,
                kind: *kind,
                ops,
            });
        }
    }

    // Session close: many sessions, one C_CloseAllSessions, the modules taking turns.
    eprintln!(
        "opening {} sessions, then C_CloseAllSessions, on each module",
        plan.sessions
    );
    let mut closes = Vec::new();
    {
        let mut sides: Vec<&mut Side> = vec![&mut hsmsim];
        sides.extend(softhsm.as_mut());
        let mut samples = vec![(Vec::new(), Vec::new()); sides.len()];
        for _ in 0..plan.rounds {
            for (side, (open, close)) in sides.iter_mut().zip(samples.iter_mut()) {
                let (o, c) = side.open_and_close_all(plan.sessions)?;
                open.push(o);
                close.push(c);
            }
        }
        for (side, (open, close)) in sides.iter().zip(samples) {
            closes.push(CloseRow {
                module: side.name,
                sessions: plan.sessions,
                open_s: median(open),
                close_s: median(close),
            });
        }
    }

    // Fresh processes on the same labs, like for like at the small count.
    eprintln!(
        "opening the {}-object labs in fresh processes",
        plan.find_small
    );
    let hs_target = Target::Hsmsim {
        module: module.to_path_buf(),
        state: find_state.path().to_path_buf(),
    };
    let empty_state = temp_dir("hsmsim-bench-store-empty-")?;
    let hs_empty = Target::Hsmsim {
        module: module.to_path_buf(),
        state: empty_state.path().to_path_buf(),
    };
    populate(&hs_empty, Kind::Aes, 0)?;
    let middle = (plan.find_small - 1) / 2;
    let runs = open_runs(
        &hs_target,
        Kind::Aes,
        plan.find_small,
        middle,
        plan.open_runs,
    )?;
    let empty = open_runs(&hs_empty, Kind::Aes, 0, 0, plan.open_runs)?;
    opens.push(OpenResult {
        module: "hsmsim",
        kind: Kind::Aes,
        objects: plan.find_small,
        growth_bytes: growth_per_object(&runs, plan.find_small),
        marginal_bytes: Some(marginal_per_object(&runs, &empty, plan.find_small)),
        growth_kib: (whole_growth(&runs), Some(whole_growth(&empty))),
        disk_bytes: store_bytes(find_state.path()).map(|b| b as f64 / plan.find_small as f64),
        runs,
        populate_rate: hsmsim.create_rate(),
    });
    if let Ok(info) = &softhsm_info {
        let target = |conf: &PathBuf, token| Target::SoftHsm {
            module: info.lib.clone(),
            conf: conf.clone(),
            token,
        };
        let runs = open_runs(
            &target(&info.conf, SOFTHSM_TOKEN),
            Kind::Aes,
            plan.find_small,
            middle,
            plan.open_runs,
        )?;
        let empty = open_runs(
            &target(&info.empty_conf, SOFTHSM_EMPTY_TOKEN),
            Kind::Aes,
            0,
            0,
            plan.open_runs,
        )?;
        opens.push(OpenResult {
            module: "SoftHSMv2",
            kind: Kind::Aes,
            objects: plan.find_small,
            growth_bytes: growth_per_object(&runs, plan.find_small),
            marginal_bytes: Some(marginal_per_object(&runs, &empty, plan.find_small)),
            growth_kib: (whole_growth(&runs), Some(whole_growth(&empty))),
            disk_bytes: None,
            runs,
            populate_rate: softhsm_create_rate,
        });
    }
    drop(softhsm);

    eprintln!("populating hsmsim to {} token objects", plan.find_large);
    hsmsim.grow_to(plan.find_large)?;
    eprintln!("finds among {} objects", plan.find_large);
    let ops = measure_finds(&[&hsmsim], &names, plan, &mut rng)?;
    for (kind, ops) in FIND_KINDS.iter().zip(&ops[0]) {
        finds.push(FindRow {
            module: "hsmsim",
            objects: plan.find_large,
            kind: *kind,
            ops: *ops,
        });
    }
    let hsmsim_create_rate = hsmsim.create_rate();
    drop(hsmsim);

    // The big labs, each filled by a child process and opened by fresh ones.
    for kind in [Kind::Aes, Kind::Data] {
        let n = plan.open_objects;
        let state = temp_dir("hsmsim-bench-store-open-")?;
        let target = Target::Hsmsim {
            module: module.to_path_buf(),
            state: state.path().to_path_buf(),
        };
        eprintln!("populating a lab with {n} {} objects", kind.name());
        let (created, secs) = populate(&target, kind, n)?;
        eprintln!(
            "  {created} objects in {secs:.1} s ({:.0} creates/s); opening it {} time(s) in fresh processes",
            created as f64 / secs,
            plan.open_runs
        );
        let runs = open_runs(&target, kind, n, n / 2, plan.open_runs)?;
        opens.push(OpenResult {
            module: "hsmsim",
            kind,
            objects: n,
            growth_bytes: growth_per_object(&runs, n),
            marginal_bytes: None,
            growth_kib: (whole_growth(&runs), None),
            disk_bytes: store_bytes(state.path()).map(|b| b as f64 / n as f64),
            runs,
            populate_rate: Some(created as f64 / secs),
        });
    }

    Ok(Results {
        finds,
        opens,
        closes,
        hsmsim_create_rate,
        softhsm_create_rate,
        softhsm: softhsm_info.map(|i| i.version),
        module_path: module.to_path_buf(),
    })
}

// ---------------------------------------------------------------------------------------------
// Report

fn thousands(n: f64) -> String {
    if !n.is_finite() {
        return "n/a".into();
    }
    let s = format!("{:.0}", n.abs());
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0.0 { format!("-{out}") } else { out }
}

fn opt_ops(o: Option<f64>) -> String {
    o.map_or("n/a".into(), thousands)
}

fn ms(s: f64) -> String {
    if s < 0.01 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.1} ms", s * 1e3)
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?).filter(|r| r.is_finite())
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |r| format!("x{r:.1}"))
}

/// PASS/MISS of `value` against `goal` (`higher` is better or not).
fn verdict(value: Option<f64>, goal: f64, higher: bool) -> &'static str {
    match value {
        Some(v) if v.is_finite() && (if higher { v >= goal } else { v <= goal }) => "PASS",
        Some(v) if v.is_finite() => "MISS",
        _ => "not measured",
    }
}

struct Goal {
    key: &'static str,
    what: String,
    goal: String,
    value: String,
    verdict: &'static str,
    note: String,
}

fn report(plan: &Plan, r: &Results) -> Value {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let small = plan.find_small;
    let large = plan.find_large;
    let n_open = plan.open_objects;
    let soft = r.softhsm.is_ok();

    println!();
    println!(
        "hsmsim store-scale summary ({} mode; {} cores; finds: {:.2} s per case per round in \
         {SLICES} interleaved slices, median of {} rounds; fresh processes: median of {})",
        plan.mode_name(),
        cores,
        plan.loop_time.as_secs_f64(),
        plan.rounds,
        plan.open_runs
    );
    println!("module: {}", r.module_path.display());
    match &r.softhsm {
        Ok(v) => println!("SoftHSMv2: {v}, file object store"),
        Err(e) => println!("SoftHSMv2 not available: {e}"),
    }
    println!();
    println!(
        "finds/s, single-threaded (one find = C_FindObjectsInit + C_FindObjects + \
         C_FindObjectsFinal, exactly one match, checked; token AES-256 keys + one data object)"
    );
    let h_small = format!("hsmsim {}", thousands(small as f64));
    let s_small = format!("SoftHSMv2 {}", thousands(small as f64));
    let h_large = format!("hsmsim {}", thousands(large as f64));
    println!(
        "  {:<22} {:>14} {:>16} {:>10} {:>14} {:>10}",
        "template", h_small, s_small, "ratio", h_large, "us/find"
    );
    for kind in FIND_KINDS {
        let hs = r.find("hsmsim", small, kind);
        let sh = r.find("SoftHSMv2", small, kind);
        let hl = r.find("hsmsim", large, kind);
        println!(
            "  {:<22} {:>14} {:>16} {:>10} {:>14} {:>10}",
            kind.name(),
            opt_ops(hs),
            opt_ops(sh),
            fmt_ratio(ratio(hs, sh)),
            opt_ops(hl),
            hl.map_or("n/a".into(), |o| format!("{:.2}", 1e6 / o)),
        );
    }
    println!(
        "  (ratio: hsmsim / SoftHSMv2 at {}; CKA_CLASS = CKO_DATA finds the one data object; \
         CKA_CLASS+CKA_LABEL is informative)",
        thousands(small as f64)
    );

    println!();
    let quick_note = if n_open < OPEN_GOAL_OBJECTS {
        format!(
            " ({} mode: the goals are set for {})",
            plan.mode_name(),
            thousands(OPEN_GOAL_OBJECTS as f64)
        )
    } else {
        String::new()
    };
    println!(
        "opening a lab with {} token objects in a fresh process{quick_note}",
        thousands(n_open as f64)
    );
    println!("  {:<40} {:>16} {:>16}", "", "AES-256 keys", "data objects");
    let aes = r.open("hsmsim", Kind::Aes, n_open);
    let data = r.open("hsmsim", Kind::Data, n_open);
    let row = |what: &str, f: &dyn Fn(&OpenResult) -> String| {
        println!(
            "  {:<40} {:>16} {:>16}",
            what,
            aes.map_or("n/a".into(), f),
            data.map_or("n/a".into(), f)
        );
    };
    row("C_Initialize + first C_GetSlotList", &|o| {
        ms(median_run(&o.runs).init_s)
    });
    row("first find (loads the slot's objects)", &|o| {
        ms(median_run(&o.runs).first_find_s)
    });
    row("second find", &|o| ms(median_run(&o.runs).warm_find_s));
    row("RSS growth at the first find / object", &|o| {
        format!("{:.0} B", o.growth_bytes)
    });
    row("heap in use after it / object", &|o| {
        let b = heap_per_object(&o.runs, o.objects);
        if b.is_finite() {
            format!("{b:.0} B")
        } else {
            "n/a".into()
        }
    });
    row("store on disk / object", &|o| {
        o.disk_bytes.map_or("n/a".into(), |b| format!("{b:.0} B"))
    });
    row("populate (C_CreateObject, one process)", &|o| {
        o.populate_rate
            .map_or("n/a".into(), |r| format!("{}/s", thousands(r)))
    });

    println!();
    println!(
        "opening a lab with {} AES-256 keys in a fresh process, like for like",
        thousands(small as f64)
    );
    println!(
        "  {:<40} {:>12} {:>12} {:>8}",
        "", "hsmsim", "SoftHSMv2", "ratio"
    );
    let hs1 = r.open("hsmsim", Kind::Aes, small);
    let sh1 = r.open("SoftHSMv2", Kind::Aes, small);
    let both = |what: &str, f: &dyn Fn(&OpenResult) -> f64, show: &dyn Fn(f64) -> String| {
        let a = hs1.map(f);
        let b = sh1.map(f);
        println!(
            "  {:<40} {:>12} {:>12} {:>8}",
            what,
            a.map_or("n/a".into(), show),
            b.map_or("n/a".into(), show),
            fmt_ratio(ratio(b, a))
        );
    };
    both(
        "C_Initialize + first C_GetSlotList",
        &|o| median_run(&o.runs).init_s,
        &ms,
    );
    both("first find", &|o| median_run(&o.runs).first_find_s, &ms);
    both(
        "RSS / object (vs. an empty token)",
        &|o| o.marginal_bytes.unwrap_or(f64::NAN),
        &|b| format!("{b:.0} B"),
    );
    both(
        "populate (C_CreateObject)",
        &|o| 1.0 / o.populate_rate.unwrap_or(f64::NAN),
        &|s| format!("{}/s", thousands(1.0 / s)),
    );
    println!("  (ratio: SoftHSMv2 / hsmsim, time or bytes: above 1 means hsmsim is better)");

    println!();
    println!(
        "session close: {} sessions opened (every other one R/O), then one C_CloseAllSessions \
         (median of {} rounds)",
        thousands(plan.sessions as f64),
        plan.rounds
    );
    println!(
        "  {:<40} {:>12} {:>12} {:>8}",
        "", "hsmsim", "SoftHSMv2", "ratio"
    );
    let close_of = |module: &str| r.closes.iter().find(|c| c.module == module);
    let (hc, sc) = (close_of("hsmsim"), close_of("SoftHSMv2"));
    for (what, f) in [
        (
            "C_CloseAllSessions",
            &(|c: &CloseRow| c.close_s) as &dyn Fn(&CloseRow) -> f64,
        ),
        ("C_OpenSession, all of them", &|c: &CloseRow| c.open_s),
    ] {
        let (a, b) = (hc.map(f), sc.map(f));
        println!(
            "  {:<40} {:>12} {:>12} {:>8}",
            what,
            a.map_or("n/a".into(), ms),
            b.map_or("n/a".into(), ms),
            fmt_ratio(ratio(b, a))
        );
    }
    println!(
        "  {:<40} {:>12} {:>12}",
        "C_CloseAllSessions per session",
        hc.map_or("n/a".into(), |c| format!(
            "{:.2} us",
            c.close_s * 1e6 / c.sessions as f64
        )),
        sc.map_or("n/a".into(), |c| format!(
            "{:.2} us",
            c.close_s * 1e6 / c.sessions as f64
        )),
    );
    println!("  (ratio: SoftHSMv2 / hsmsim time: above 1 means hsmsim is faster)");

    // Goals.
    let mut goals = Vec::new();
    for kind in [FindKind::Label, FindKind::Id, FindKind::Class] {
        let v = r.find("hsmsim", large, kind);
        let note = if large < FIND_GOAL_OBJECTS {
            format!("measured at {} objects, test mode", thousands(large as f64))
        } else {
            String::new()
        };
        goals.push(Goal {
            key: match kind {
                FindKind::Label => "find_label",
                FindKind::Id => "find_id",
                _ => "find_class",
            },
            what: format!(
                "find by {} among {} objects",
                kind.name(),
                thousands(FIND_GOAL_OBJECTS as f64)
            ),
            goal: format!(">= {}/s", thousands(FIND_GOAL)),
            value: format!("{}/s", opt_ops(v)),
            verdict: verdict(v, FIND_GOAL, true),
            note,
        });
    }
    let open_note = if n_open < OPEN_GOAL_OBJECTS {
        format!(
            "measured at {} objects, {} mode",
            thousands(n_open as f64),
            plan.mode_name()
        )
    } else {
        String::new()
    };
    let init = aes.map(|o| median_run(&o.runs).init_s);
    goals.push(Goal {
        key: "init",
        what: format!(
            "C_Initialize + C_GetSlotList with {} objects",
            thousands(OPEN_GOAL_OBJECTS as f64)
        ),
        goal: format!("<= {INIT_GOAL_S} s"),
        value: init.map_or("n/a".into(), |s| format!("{s:.4} s")),
        verdict: verdict(init, INIT_GOAL_S, false),
        note: open_note.clone(),
    });
    for (key, name, o) in [
        ("memory_aes", "AES-256 key", aes),
        ("memory_data", "data object", data),
    ] {
        let b = o.map(|o| o.growth_bytes);
        goals.push(Goal {
            key,
            what: format!("memory per idle {name}"),
            goal: "<= 2 KiB".into(),
            value: b.map_or("n/a".into(), |b| format!("{b:.0} B")),
            verdict: verdict(b, MEMORY_GOAL_BYTES, false),
            note: open_note.clone(),
        });
    }
    println!();
    println!("goals (issue 3, item 7; reported, not enforced)");
    for g in &goals {
        println!(
            "  {:<52} {:>12} {:>14}  {}{}",
            g.what,
            g.goal,
            g.value,
            g.verdict,
            if g.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", g.note)
            }
        );
    }
    if !soft {
        println!("  (SoftHSMv2 not measured: hsmsim alone)");
    }

    let find_json = |module: &str, objects: usize| -> Value {
        FIND_KINDS
            .iter()
            .map(|k| (k.key().to_string(), json!(r.find(module, objects, *k))))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let open_json = |o: Option<&OpenResult>| -> Value {
        o.map_or(Value::Null, |o| {
            let m = median_run(&o.runs);
            json!({
                "objects": o.objects,
                "init_s": m.init_s,
                "first_find_s": m.first_find_s,
                "second_find_s": m.warm_find_s,
                "rss_growth_at_first_find_bytes_per_object": o.growth_bytes,
                "rss_vs_empty_token_bytes_per_object": o.marginal_bytes,
                "rss_growth_from_load_to_first_find_kib": o.growth_kib.0,
                "rss_growth_from_load_to_first_find_empty_token_kib": o.growth_kib.1,
                "heap_in_use_bytes_per_object": Some(heap_per_object(&o.runs, o.objects))
                    .filter(|b| b.is_finite()),
                "store_bytes_per_object": o.disk_bytes,
                "creates_per_s": o.populate_rate,
                "rss_kib": {"loaded": m.rss_loaded, "init": m.rss_init,
                            "login": m.rss_login, "found": m.rss_found},
                "runs": o.runs.len(),
            })
        })
    };
    json!({
        "mode": plan.mode_name(),
        "cores": cores,
        "module": r.module_path,
        "softhsm": match &r.softhsm { Ok(v) => json!(v), Err(_) => Value::Null },
        "softhsm_error": r.softhsm.as_ref().err(),
        "finds_per_s": {
            format!("hsmsim_{small}"): find_json("hsmsim", small),
            format!("softhsm_{small}"): find_json("SoftHSMv2", small),
            format!("hsmsim_{large}"): find_json("hsmsim", large),
        },
        "find_ratio_vs_softhsm": FIND_KINDS.iter().map(|k| (k.key().to_string(),
            json!(ratio(r.find("hsmsim", small, *k), r.find("SoftHSMv2", small, *k)))))
            .collect::<serde_json::Map<_, _>>(),
        "open": {
            "hsmsim_aes": open_json(aes),
            "hsmsim_data": open_json(data),
            format!("hsmsim_aes_{small}"): open_json(hs1),
            format!("softhsm_aes_{small}"): open_json(sh1),
        },
        "creates_per_s": {"hsmsim": r.hsmsim_create_rate, "softhsm": r.softhsm_create_rate},
        "close_all_sessions": {
            "sessions": plan.sessions,
            "hsmsim_s": hc.map(|c| c.close_s),
            "softhsm_s": sc.map(|c| c.close_s),
            "hsmsim_open_s": hc.map(|c| c.open_s),
            "softhsm_open_s": sc.map(|c| c.open_s),
            "ratio_softhsm_over_hsmsim": ratio(sc.map(|c| c.close_s), hc.map(|c| c.close_s)),
        },
        "goals": goals.iter().map(|g| (g.key.to_string(), json!({
            "what": g.what, "goal": g.goal, "value": g.value, "verdict": g.verdict,
            "note": g.note,
        }))).collect::<serde_json::Map<_, _>>(),
        "find_objects": {"small": small, "large": large},
        "open_objects": n_open,
        "loop_seconds": plan.loop_time.as_secs_f64(),
        "rounds": plan.rounds,
        "open_runs": plan.open_runs,
    })
}

fn main() -> ExitCode {
    if let Ok(role) = std::env::var(ROLE_VAR) {
        return child_main(&role);
    }
    let mode = RunMode::from_env();
    let (bench_mode, quick) = (mode.bench, mode.quick);
    let plan = Plan::new(match (bench_mode, quick) {
        (false, _) => Mode::Test,
        (true, true) => Mode::Quick,
        (true, false) => Mode::Full,
    });
    let path = match module_for("store", &mode) {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    let started = Instant::now();
    let results = match run(&plan, &path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            println!("store bench FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = report(&plan, &results);
    println!("({:.0} s in all)", started.elapsed().as_secs_f64());
    if plan.mode == Mode::Test {
        println!("store bench: test-mode check passed (every find returned its object)");
        return ExitCode::SUCCESS;
    }
    write_summary(
        "hsmsim-bench-store.json",
        serde_json::to_string_pretty(&json).expect("JSON"),
    );
    ExitCode::SUCCESS
}
