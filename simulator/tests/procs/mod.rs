//! Multi-process test support. A test binary re-executes itself as worker processes
//! (`HSMSIM_TEST_WORKER=<role>`, running only its `worker` test), talks to them over pipes
//! (lines tagged `@@hsmsim ` on the worker's stdout; everything else there is libtest noise),
//! kills them, and checks the store they leave behind. Also: a line-based remote-control worker
//! (`rpc`) whose commands are single C ABI calls, small C ABI wrappers for workers, a PRNG
//! seeded from std's `RandomState`, and an FNV-1a checksum — so no extra crates are needed.
//!
//! Every wait here has a deadline; a worker that does not answer in time is killed and the
//! test fails with the tail of the worker's stderr.
#![allow(dead_code)]

use crate::common::{self, Template};
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use parking_lot::{Mutex, MutexGuard};
use std::collections::VecDeque;
use std::collections::hash_map::RandomState;
use std::ffi::c_void;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::ptr::null_mut;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// Marks the lines of a worker's stdout meant for the parent.
pub const TAG: &str = "@@hsmsim ";
/// Names the role a re-executed test binary plays.
pub const WORKER_ENV: &str = "HSMSIM_TEST_WORKER";
/// How long one remote call may take (generous: the machine is small and shared).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

pub const SO_PIN: &[u8] = common::SO_PIN;
pub const USER_PIN: &[u8] = common::USER_PIN;

/// One multi-process scenario at a time per test binary: they are timing-sensitive and the
/// machine has few cores. (parking_lot's mutex is not poisoned by a failed test.)
static SCENARIO: Mutex<()> = Mutex::new(());

pub fn scenario() -> MutexGuard<'static, ()> {
    SCENARIO.lock()
}

/// The role this process plays, when it is a worker.
pub fn role() -> Option<String> {
    std::env::var(WORKER_ENV).ok().filter(|r| !r.is_empty())
}

/// Sends one tagged line to the parent (stdout is line-buffered: the line is written at once,
/// so it survives a later SIGKILL).
pub fn emit(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{TAG}{}", line.as_ref());
    let _ = out.flush();
}

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------------
// Names, hex, checksums, randomness

/// `CKR_…` name of a return value, for messages.
pub fn rv_name(rv: CK_RV) -> String {
    format!("{} (0x{rv:X})", hsmsim::base::error::rv_name(rv))
}

pub fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".into();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(text: &str) -> Vec<u8> {
    if text == "-" {
        return Vec::new();
    }
    assert!(text.len() & 1 == 0, "odd-length hex {text:?}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digits"))
        .collect()
}

/// 64-bit FNV-1a.
pub fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `n` bytes derived deterministically from `seed` (so any process can recompute a value
/// from a label).
pub fn expand(seed: &[u8], n: usize) -> Vec<u8> {
    let base = fnv1a(seed);
    let mut out = Vec::with_capacity(n + 8);
    let mut i = 0u64;
    while out.len() < n {
        out.extend_from_slice(&mix64(base ^ mix64(i)).to_le_bytes());
        i += 1;
    }
    out.truncate(n);
    out
}

/// splitmix64, seeded from std's randomly keyed hasher, the clock and the pid.
pub struct Rng(u64);

impl Rng {
    pub fn new(salt: u64) -> Rng {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_u32(std::process::id());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        h.write_u128(nanos);
        Rng(h.finish())
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn range(&mut self, lo: usize, hi_inclusive: usize) -> usize {
        lo + self.below((hi_inclusive - lo + 1) as u64) as usize
    }
    pub fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(n);
        out
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len() as u64) as usize])
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Templates that can cross a pipe

/// A template as (type, value bytes) pairs; `CK_ULONG` values native-endian, `CK_BBOOL` one
/// byte, as the C caller passes them.
#[derive(Clone, Default, Debug)]
pub struct Tpl(pub Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>);

impl Tpl {
    pub fn new() -> Tpl {
        Tpl::default()
    }
    pub fn bytes(mut self, t: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Tpl {
        self.0.push((t, v.to_vec()));
        self
    }
    pub fn bool(self, t: CK_ATTRIBUTE_TYPE, v: bool) -> Tpl {
        self.bytes(t, &[v as u8])
    }
    pub fn ulong(self, t: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Tpl {
        self.bytes(t, &v.to_ne_bytes())
    }
    pub fn template(&self) -> Template {
        self.0
            .iter()
            .fold(Template::new(), |t, (ty, v)| t.bytes(*ty, v))
    }
    pub fn encode(&self) -> String {
        self.0
            .iter()
            .map(|(t, v)| format!("{t}:{}", hex(v)))
            .collect::<Vec<_>>()
            .join(" ")
    }
    pub fn decode(words: &[&str]) -> Tpl {
        Tpl(words
            .iter()
            .map(|w| {
                let (t, v) = w.split_once(':').expect("type:hex");
                (t.parse().expect("attribute type"), unhex(v))
            })
            .collect())
    }
}

pub fn ulong_of(bytes: &[u8]) -> Option<CK_ULONG> {
    Some(CK_ULONG::from_ne_bytes(bytes.try_into().ok()?))
}

// ---------------------------------------------------------------------------------------------
// C ABI wrappers used inside workers (each returns the raw CK_RV so callers can judge it)

pub fn initialize() -> CK_RV {
    // SAFETY: null arguments request default (OS) locking.
    unsafe { C_Initialize(null_mut()) }
}

pub fn finalize() -> CK_RV {
    // SAFETY: null is the valid argument.
    unsafe { C_Finalize(null_mut()) }
}

pub fn slot_list() -> Result<Vec<CK_SLOT_ID>, CK_RV> {
    let mut n: CK_ULONG = 0;
    // SAFETY: valid count pointer; a null list asks for the count.
    let rv = unsafe { C_GetSlotList(CK_FALSE, null_mut(), &mut n) };
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut ids = vec![0 as CK_SLOT_ID; n as usize];
    // SAFETY: the list holds `n` ids.
    let rv = unsafe { C_GetSlotList(CK_FALSE, ids.as_mut_ptr(), &mut n) };
    if rv != CKR_OK {
        return Err(rv);
    }
    ids.truncate(n as usize);
    Ok(ids)
}

pub fn token_info(slot: CK_SLOT_ID) -> Result<CK_TOKEN_INFO, CK_RV> {
    // SAFETY: CK_TOKEN_INFO is plain data; all-zero is a valid value.
    let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    let rv = unsafe { C_GetTokenInfo(slot, &mut info) };
    if rv == CKR_OK { Ok(info) } else { Err(rv) }
}

pub fn init_token(slot: CK_SLOT_ID, so_pin: &[u8], label: &[u8]) -> CK_RV {
    let mut padded = [b' '; 32];
    padded[..label.len().min(32)].copy_from_slice(&label[..label.len().min(32)]);
    let mut pin = so_pin.to_vec();
    // SAFETY: the PIN buffer is valid for its length; the label is 32 bytes.
    unsafe {
        C_InitToken(
            slot,
            pin.as_mut_ptr(),
            pin.len() as CK_ULONG,
            padded.as_mut_ptr(),
        )
    }
}

pub fn init_pin(s: CK_SESSION_HANDLE, pin: &[u8]) -> CK_RV {
    let mut pin = pin.to_vec();
    // SAFETY: the PIN buffer is valid for its length.
    unsafe { C_InitPIN(s, pin.as_mut_ptr(), pin.len() as CK_ULONG) }
}

pub fn set_pin(s: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> CK_RV {
    let (mut old, mut new) = (old.to_vec(), new.to_vec());
    // SAFETY: both PIN buffers are valid for their lengths.
    unsafe {
        C_SetPIN(
            s,
            old.as_mut_ptr(),
            old.len() as CK_ULONG,
            new.as_mut_ptr(),
            new.len() as CK_ULONG,
        )
    }
}

pub fn close_session(s: CK_SESSION_HANDLE) -> CK_RV {
    // SAFETY: no pointers.
    unsafe { C_CloseSession(s) }
}

pub fn destroy(s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE) -> CK_RV {
    // SAFETY: no pointers.
    unsafe { C_DestroyObject(s, h) }
}

pub fn set_attrs(s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE, t: &Tpl) -> CK_RV {
    let mut t = t.template();
    let mut raw = t.raw();
    // SAFETY: the template and its value buffers are valid for the call.
    unsafe { C_SetAttributeValue(s, h, raw.as_mut_ptr(), raw.len() as CK_ULONG) }
}

/// One attribute value, or the CK_RV of the failing call.
pub fn get(
    s: CK_SESSION_HANDLE,
    h: CK_OBJECT_HANDLE,
    t: CK_ATTRIBUTE_TYPE,
) -> Result<Vec<u8>, CK_RV> {
    common::get_attr(s, h, t).map_err(|(rv, _)| rv)
}

/// `C_FindObjectsInit` / `C_FindObjects` / `C_FindObjectsFinal`, reporting the first failing
/// call instead of panicking.
pub fn find_objects(
    s: CK_SESSION_HANDLE,
    t: &Tpl,
) -> Result<Vec<CK_OBJECT_HANDLE>, (&'static str, CK_RV)> {
    let mut t = t.template();
    let mut raw = t.raw();
    // SAFETY: the template is valid for the call.
    let rv = unsafe { C_FindObjectsInit(s, raw.as_mut_ptr(), raw.len() as CK_ULONG) };
    if rv != CKR_OK {
        return Err(("C_FindObjectsInit", rv));
    }
    let mut out = Vec::new();
    loop {
        let mut buf = [0 as CK_OBJECT_HANDLE; 64];
        let mut n: CK_ULONG = 0;
        // SAFETY: a buffer of 64 handles and a valid count pointer.
        let rv = unsafe { C_FindObjects(s, buf.as_mut_ptr(), 64, &mut n) };
        if rv != CKR_OK {
            // SAFETY: no pointers.
            let _ = unsafe { C_FindObjectsFinal(s) };
            return Err(("C_FindObjects", rv));
        }
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    // SAFETY: no pointers.
    let rv = unsafe { C_FindObjectsFinal(s) };
    if rv != CKR_OK {
        return Err(("C_FindObjectsFinal", rv));
    }
    Ok(out)
}

pub fn create(s: CK_SESSION_HANDLE, t: &Tpl) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    common::create(s, t.template())
}

/// `C_WaitForSlotEvent`.
pub fn wait_for_slot_event(flags: CK_FLAGS) -> Result<CK_SLOT_ID, CK_RV> {
    let mut slot: CK_SLOT_ID = CK_SLOT_ID::MAX;
    // SAFETY: valid out-pointer; null reserved.
    let rv = unsafe { C_WaitForSlotEvent(flags, &mut slot, null_mut()) };
    if rv == CKR_OK { Ok(slot) } else { Err(rv) }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Encrypt,
    Decrypt,
    Sign,
}

impl Op {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Op::Encrypt => ("C_EncryptInit", "C_Encrypt"),
            Op::Decrypt => ("C_DecryptInit", "C_Decrypt"),
            Op::Sign => ("C_SignInit", "C_Sign"),
        }
    }
}

fn mechanism(m: CK_MECHANISM_TYPE, param: &mut [u8]) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: m,
        pParameter: if param.is_empty() {
            null_mut()
        } else {
            param.as_mut_ptr() as *mut c_void
        },
        ulParameterLen: param.len() as CK_ULONG,
    }
}

/// A single-part encrypt, decrypt or sign: init then the one-shot call (length query first).
/// The error names the call that failed.
pub fn crypt(
    op: Op,
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_TYPE,
    param: &[u8],
    key: CK_OBJECT_HANDLE,
    data: &[u8],
) -> Result<Vec<u8>, (&'static str, CK_RV)> {
    let mut p = param.to_vec();
    let mut mech = mechanism(m, &mut p);
    let (init_name, op_name) = op.names();
    let (init_fn, data_fn): (common::InitFn, common::DataFn) = match op {
        Op::Encrypt => (C_EncryptInit, C_Encrypt),
        Op::Decrypt => (C_DecryptInit, C_Decrypt),
        Op::Sign => (C_SignInit, C_Sign),
    };
    let rv = common::init(init_fn, s, &mut mech, key);
    if rv != CKR_OK {
        return Err((init_name, rv));
    }
    common::produce(data_fn, s, data).map_err(|rv| (op_name, rv))
}

/// `C_VerifyInit` + `C_Verify`.
pub fn verify_sig(
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_TYPE,
    param: &[u8],
    key: CK_OBJECT_HANDLE,
    data: &[u8],
    sig: &[u8],
) -> Result<(), (&'static str, CK_RV)> {
    let mut p = param.to_vec();
    let mut mech = mechanism(m, &mut p);
    let rv = common::init(C_VerifyInit, s, &mut mech, key);
    if rv != CKR_OK {
        return Err(("C_VerifyInit", rv));
    }
    match common::verify(s, data, sig) {
        CKR_OK => Ok(()),
        rv => Err(("C_Verify", rv)),
    }
}

// ---------------------------------------------------------------------------------------------
// Store checks (from the parent, while no worker runs)

/// `PRAGMA integrity_check` on the lab's SQLite file, opened read-only (the WAL is read, never
/// checkpointed, so what a later process recovers is what is checked).
pub fn integrity_check(dir: &Path) -> Result<(), String> {
    use rusqlite::{Connection, OpenFlags};
    let path = dir.join("hsmsim.sqlite");
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open {} read-only: {e}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(20))
        .map_err(|e| e.to_string())?;
    let mut stmt = conn
        .prepare("PRAGMA integrity_check")
        .map_err(|e| format!("PRAGMA integrity_check on {}: {e}", path.display()))?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| format!("PRAGMA integrity_check on {}: {e}", path.display()))?;
    if rows == ["ok"] {
        Ok(())
    } else {
        Err(format!(
            "PRAGMA integrity_check on {} reported: {}",
            path.display(),
            rows.join("; ")
        ))
    }
}

/// Copies every file of a state directory (database, -wal, -shm and anything else).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copying {} failed: {e}", entry.path().display()));
        }
    }
}

/// Formats up to `n` problems (and how many more there are) for an assertion message.
pub fn first_few(problems: &[String], n: usize) -> String {
    let mut out: Vec<String> = problems
        .iter()
        .take(n)
        .map(|p| format!("  - {p}"))
        .collect();
    if problems.len() > n {
        out.push(format!("  … and {} more", problems.len() - n));
    }
    out.join("\n")
}

// ---------------------------------------------------------------------------------------------
// Worker processes, seen from the parent

pub enum End {
    Timeout,
    Eof,
}

/// A worker process: tagged stdout lines arrive on a channel, stderr is kept (last 32 KiB) for
/// failure messages. Dropping it ends the process (stdin closed, then SIGKILL).
pub struct Proc {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    /// Lines that arrived while waiting for a reply (asynchronous events).
    pub events: VecDeque<String>,
    exited: Option<ExitStatus>,
}

impl Proc {
    /// Starts this test binary as a worker playing `role` on the lab in `dir`.
    pub fn spawn(name: &str, role: &str, dir: &Path, lab: &str, env: &[(&str, String)]) -> Proc {
        let exe = std::env::current_exe().expect("the test binary's own path");
        let mut cmd = Command::new(exe);
        cmd.args(["--exact", "worker", "--nocapture", "--test-threads=1"])
            .env(WORKER_ENV, role)
            .env("HSMSIM_STATE_DIR", dir)
            .env("HSMSIM_LAB", lab)
            .env("HSMSIM_PIN_KDF_ITERATIONS", common::TEST_PIN_KDF_ITERATIONS)
            .env_remove("HSMSIM_CONF")
            .env_remove("HSMSIM_HOST")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start worker {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end_matches(['\n', '\r']);
                // libtest may have written "test worker ... " on the same line first.
                if let Some(at) = line.find(TAG)
                    && tx.send(line[at + TAG.len()..].to_string()).is_err()
                {
                    break;
                }
            }
        });
        let stderr_buf = Arc::new(Mutex::new(String::new()));
        let sink = stderr_buf.clone();
        let mut stderr = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let mut s = sink.lock();
                s.push_str(&String::from_utf8_lossy(&chunk[..n]));
                if s.len() > 64 * 1024 {
                    let cut = s.len() - 32 * 1024;
                    let cut = (cut..s.len()).find(|i| s.is_char_boundary(*i)).unwrap_or(0);
                    s.replace_range(..cut, "");
                }
            }
        });
        let stdin = child.stdin.take();
        Proc {
            name: name.to_string(),
            child,
            stdin,
            lines: rx,
            stderr: stderr_buf,
            events: VecDeque::new(),
            exited: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last part of the worker's stderr.
    pub fn stderr_tail(&self) -> String {
        let s = self.stderr.lock();
        let start = s.len().saturating_sub(6000);
        let start = (start..s.len())
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(0);
        s[start..].to_string()
    }

    /// The next tagged line, if one comes before `deadline`.
    pub fn next_line(&mut self, deadline: Instant) -> Result<String, End> {
        if let Some(l) = self.events.pop_front() {
            return Ok(l);
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok(l) => Ok(l),
            Err(RecvTimeoutError::Timeout) => Err(End::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(End::Eof),
        }
    }

    /// Waits for a line equal to `want`; the lines before it are returned.
    pub fn expect_line(&mut self, want: &str, timeout: Duration) -> Result<Vec<String>, String> {
        let deadline = Instant::now() + timeout;
        let mut before = Vec::new();
        loop {
            match self.next_line(deadline) {
                Ok(l) if l == want => return Ok(before),
                Ok(l) => before.push(l),
                Err(End::Timeout) => {
                    return Err(format!(
                        "worker {} did not say {want:?} within {timeout:?} (said {before:?}); stderr:\n{}",
                        self.name,
                        self.stderr_tail()
                    ));
                }
                Err(End::Eof) => {
                    let status = self.wait_exit(Duration::from_secs(5));
                    return Err(format!(
                        "worker {} ended ({status:?}) before saying {want:?} (said {before:?}); stderr:\n{}",
                        self.name,
                        self.stderr_tail()
                    ));
                }
            }
        }
    }

    /// Every remaining tagged line until the worker closes its stdout (or the deadline).
    pub fn drain(&mut self, timeout: Duration) -> (Vec<String>, bool) {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        loop {
            match self.next_line(deadline) {
                Ok(l) => out.push(l),
                Err(End::Eof) => return (out, true),
                Err(End::Timeout) => return (out, false),
            }
        }
    }

    /// SIGKILL (std's `Child::kill` on Unix) and reap.
    pub fn kill(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
    }

    /// Polls for the exit until `timeout`; kills the worker when it is still running then.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.exited.is_some() {
            return self.exited;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(status);
                return self.exited;
            }
            if Instant::now() >= deadline {
                self.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Writes one command line to the worker's stdin without waiting for the answer.
    pub fn send(&mut self, cmd: &str) {
        let name = self.name.clone();
        let stdin = self.stdin.as_mut().expect("the worker's stdin is open");
        if let Err(e) = writeln!(stdin, "{cmd}").and_then(|_| stdin.flush()) {
            let status = self.wait_exit(Duration::from_secs(5));
            panic!(
                "worker {name} cannot take `{}`: {e} (exit {status:?}); stderr:\n{}",
                short(cmd),
                self.stderr_tail()
            );
        }
    }

    /// Waits for the answer to the command sent last.
    pub fn reply(&mut self, cmd: &str) -> Reply {
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(l) => {
                    if let Some(r) = l.strip_prefix("R ") {
                        return Reply::parse(r);
                    }
                    self.events.push_back(l);
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.kill();
                    panic!(
                        "worker {} gave no answer to `{}` within {CALL_TIMEOUT:?}; stderr:\n{}",
                        self.name,
                        short(cmd),
                        self.stderr_tail()
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.wait_exit(Duration::from_secs(5));
                    panic!(
                        "worker {} ended ({status:?}) while answering `{}`; stderr:\n{}",
                        self.name,
                        short(cmd),
                        self.stderr_tail()
                    );
                }
            }
        }
    }

    /// One remote call: the command and its answer.
    pub fn call(&mut self, cmd: &str) -> Reply {
        self.send(cmd);
        self.reply(cmd)
    }

    /// Closes stdin (an `rpc` worker then returns) and waits a little before killing.
    pub fn finish(&mut self) -> Option<ExitStatus> {
        self.stdin = None;
        self.wait_exit(Duration::from_secs(10))
    }

    // -- typed remote calls (`rpc` role) --

    pub fn init(&mut self) -> CK_RV {
        self.call("init").rv
    }
    pub fn finalize(&mut self) -> CK_RV {
        self.call("finalize").rv
    }
    pub fn slots(&mut self) -> Vec<CK_SLOT_ID> {
        let r = self.call("slots");
        r.expect_ok(&format!("{}: C_GetSlotList", self.name));
        r.fields.iter().map(|f| f.parse().unwrap()).collect()
    }
    /// (flags, 32-byte label)
    pub fn token_info(&mut self, slot: CK_SLOT_ID) -> Result<(CK_FLAGS, Vec<u8>), CK_RV> {
        let r = self.call(&format!("tokinfo {slot}"));
        r.result().map(|f| (f[0].parse().unwrap(), unhex(&f[1])))
    }
    pub fn open(&mut self, slot: CK_SLOT_ID, rw: bool) -> Result<CK_SESSION_HANDLE, CK_RV> {
        let r = self.call(&format!("open {slot} {}", rw as u8));
        r.result().map(|f| f[0].parse().unwrap())
    }
    pub fn close(&mut self, s: CK_SESSION_HANDLE) -> CK_RV {
        self.call(&format!("close {s}")).rv
    }
    pub fn login(&mut self, s: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> CK_RV {
        self.call(&format!("login {s} {user} {}", hex(pin))).rv
    }
    pub fn logout(&mut self, s: CK_SESSION_HANDLE) -> CK_RV {
        self.call(&format!("logout {s}")).rv
    }
    pub fn set_pin(&mut self, s: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> CK_RV {
        self.call(&format!("setpin {s} {} {}", hex(old), hex(new)))
            .rv
    }
    pub fn init_token(&mut self, slot: CK_SLOT_ID, so_pin: &[u8], label: &[u8]) -> CK_RV {
        self.call(&format!("inittoken {slot} {} {}", hex(so_pin), hex(label)))
            .rv
    }
    pub fn init_pin(&mut self, s: CK_SESSION_HANDLE, pin: &[u8]) -> CK_RV {
        self.call(&format!("initpin {s} {}", hex(pin))).rv
    }
    pub fn create(&mut self, s: CK_SESSION_HANDLE, t: &Tpl) -> Result<CK_OBJECT_HANDLE, CK_RV> {
        let r = self.call(&format!("create {s} {}", t.encode()));
        r.result().map(|f| f[0].parse().unwrap())
    }
    pub fn generate_key(
        &mut self,
        s: CK_SESSION_HANDLE,
        m: CK_MECHANISM_TYPE,
        t: &Tpl,
    ) -> Result<CK_OBJECT_HANDLE, CK_RV> {
        let r = self.call(&format!("genkey {s} {m} {}", t.encode()));
        r.result().map(|f| f[0].parse().unwrap())
    }
    pub fn generate_key_pair(
        &mut self,
        s: CK_SESSION_HANDLE,
        m: CK_MECHANISM_TYPE,
        public: &Tpl,
        private: &Tpl,
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE), CK_RV> {
        let r = self.call(&format!(
            "genpair {s} {m} {} / {}",
            public.encode(),
            private.encode()
        ));
        r.result()
            .map(|f| (f[0].parse().unwrap(), f[1].parse().unwrap()))
    }
    pub fn find(&mut self, s: CK_SESSION_HANDLE, t: &Tpl) -> Result<Vec<CK_OBJECT_HANDLE>, CK_RV> {
        let r = self.call(&format!("find {s} {}", t.encode()));
        r.result()
            .map(|f| f.iter().map(|h| h.parse().unwrap()).collect())
    }
    pub fn get(
        &mut self,
        s: CK_SESSION_HANDLE,
        h: CK_OBJECT_HANDLE,
        t: CK_ATTRIBUTE_TYPE,
    ) -> Result<Vec<u8>, CK_RV> {
        let r = self.call(&format!("get {s} {h} {t}"));
        r.result().map(|f| unhex(&f[0]))
    }
    pub fn set(&mut self, s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE, t: &Tpl) -> CK_RV {
        self.call(&format!("set {s} {h} {}", t.encode())).rv
    }
    pub fn destroy(&mut self, s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE) -> CK_RV {
        self.call(&format!("destroy {s} {h}")).rv
    }
    /// Encrypt, decrypt or sign: Ok(output) or (failing call, CK_RV).
    pub fn crypt(
        &mut self,
        op: Op,
        s: CK_SESSION_HANDLE,
        m: CK_MECHANISM_TYPE,
        param: &[u8],
        key: CK_OBJECT_HANDLE,
        data: &[u8],
    ) -> Result<Vec<u8>, (String, CK_RV)> {
        let verb = match op {
            Op::Encrypt => "encrypt",
            Op::Decrypt => "decrypt",
            Op::Sign => "sign",
        };
        let r = self.call(&format!(
            "{verb} {s} {m} {} {key} {}",
            hex(param),
            hex(data)
        ));
        if r.rv == CKR_OK {
            Ok(unhex(&r.fields[1]))
        } else {
            Err((r.fields[0].clone(), r.rv))
        }
    }
    /// `C_WaitForSlotEvent` in the worker's command thread (use with `CKF_DONT_BLOCK`).
    pub fn wait_event(&mut self, flags: CK_FLAGS) -> Result<CK_SLOT_ID, CK_RV> {
        let r = self.call(&format!("wait {flags}"));
        r.result().map(|f| f[0].parse().unwrap())
    }
    /// `C_WaitForSlotEvent` in a new thread of the worker; its answer comes as an event line,
    /// see `next_event`.
    pub fn wait_event_in_background(&mut self, flags: CK_FLAGS) {
        self.call(&format!("waitbg {flags}"))
            .expect_ok("starting a background C_WaitForSlotEvent");
    }
    /// The answer of a background `C_WaitForSlotEvent`: (CK_RV, slot), if it comes in time.
    pub fn next_event(&mut self, timeout: Duration) -> Option<(CK_RV, CK_SLOT_ID)> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_line(deadline) {
                Ok(l) => {
                    if let Some(ev) = l.strip_prefix("EV ") {
                        let mut w = ev.split(' ');
                        let rv = CK_RV::from_str_radix(w.next().unwrap(), 16).unwrap();
                        let slot = w.next().unwrap().parse().unwrap();
                        return Some((rv, slot));
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// C_Initialize, a R/W session on `slot`, user login — asserting each step.
    pub fn start_user(&mut self, slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
        let rv = self.init();
        assert_eq!(
            rv,
            CKR_OK,
            "{}: C_Initialize answered {}",
            self.name,
            rv_name(rv)
        );
        self.user_session(slot)
    }

    /// A R/W session on `slot` logged in as the user (module already initialised).
    pub fn user_session(&mut self, slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
        let s = self
            .open(slot, true)
            .unwrap_or_else(|rv| panic!("{}: C_OpenSession answered {}", self.name, rv_name(rv)));
        let rv = self.login(s, CKU_USER, USER_PIN);
        assert_eq!(
            rv,
            CKR_OK,
            "{}: C_Login(user) answered {}",
            self.name,
            rv_name(rv)
        );
        s
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited.is_none() {
            self.stdin = None;
            if let Ok(None) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(20));
            }
            self.kill();
        }
    }
}

fn short(cmd: &str) -> String {
    if cmd.len() > 120 {
        format!("{}…", &cmd[..120])
    } else {
        cmd.to_string()
    }
}

/// The answer to one remote call: the CK_RV and the call's outputs.
#[derive(Debug, Clone)]
pub struct Reply {
    pub rv: CK_RV,
    pub fields: Vec<String>,
}

impl Reply {
    fn parse(text: &str) -> Reply {
        let mut words = text.split(' ').filter(|w| !w.is_empty());
        let rv = CK_RV::from_str_radix(words.next().expect("a CK_RV"), 16).expect("hex CK_RV");
        Reply {
            rv,
            fields: words.map(str::to_string).collect(),
        }
    }
    pub fn result(&self) -> Result<&[String], CK_RV> {
        if self.rv == CKR_OK {
            Ok(&self.fields)
        } else {
            Err(self.rv)
        }
    }
    pub fn expect_ok(&self, what: &str) -> &Reply {
        assert_eq!(self.rv, CKR_OK, "{what} answered {}", rv_name(self.rv));
        self
    }
}

// ---------------------------------------------------------------------------------------------
// The `rpc` worker: one command per stdin line, one `R <rv hex> <fields>` line per answer

/// Serves commands until stdin closes or `exit`.
pub fn serve_rpc() {
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        line.clear();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        if words[0] == "exit" {
            emit("R 0");
            break;
        }
        let (rv, fields) = dispatch(&words);
        let mut out = format!("R {rv:x}");
        for f in fields {
            out.push(' ');
            out.push_str(&f);
        }
        emit(out);
    }
}

fn n(w: &str) -> u64 {
    w.parse()
        .unwrap_or_else(|_| panic!("a decimal number, not {w:?}"))
}

fn answer<T: ToString>(r: Result<T, CK_RV>) -> (CK_RV, Vec<String>) {
    match r {
        Ok(v) => (CKR_OK, vec![v.to_string()]),
        Err(rv) => (rv, vec![]),
    }
}

fn dispatch(w: &[&str]) -> (CK_RV, Vec<String>) {
    match w[0] {
        "init" => (initialize(), vec![]),
        "finalize" => (finalize(), vec![]),
        "slots" => match slot_list() {
            Ok(ids) => (CKR_OK, ids.iter().map(|i| i.to_string()).collect()),
            Err(rv) => (rv, vec![]),
        },
        "tokinfo" => match token_info(n(w[1])) {
            Ok(info) => (CKR_OK, vec![info.flags.to_string(), hex(&info.label)]),
            Err(rv) => (rv, vec![]),
        },
        "open" => {
            let rw = if w[2] == "1" { CKF_RW_SESSION } else { 0 };
            answer(common::open_session(n(w[1]), CKF_SERIAL_SESSION | rw))
        }
        "close" => (close_session(n(w[1])), vec![]),
        "login" => (common::login(n(w[1]), n(w[2]), &unhex(w[3])), vec![]),
        "logout" => (common::logout(n(w[1])), vec![]),
        "setpin" => (set_pin(n(w[1]), &unhex(w[2]), &unhex(w[3])), vec![]),
        "inittoken" => (init_token(n(w[1]), &unhex(w[2]), &unhex(w[3])), vec![]),
        "initpin" => (init_pin(n(w[1]), &unhex(w[2])), vec![]),
        "create" => answer(create(n(w[1]), &Tpl::decode(&w[2..]))),
        "genkey" => answer(common::generate_key(
            n(w[1]),
            n(w[2]),
            Tpl::decode(&w[3..]).template(),
        )),
        "genpair" => {
            let rest = &w[3..];
            let cut = rest
                .iter()
                .position(|x| *x == "/")
                .expect("a / between templates");
            match common::generate_key_pair(
                n(w[1]),
                n(w[2]),
                Tpl::decode(&rest[..cut]).template(),
                Tpl::decode(&rest[cut + 1..]).template(),
            ) {
                Ok((p, v)) => (CKR_OK, vec![p.to_string(), v.to_string()]),
                Err(rv) => (rv, vec![]),
            }
        }
        "find" => match find_objects(n(w[1]), &Tpl::decode(&w[2..])) {
            Ok(hs) => (CKR_OK, hs.iter().map(|h| h.to_string()).collect()),
            Err((_, rv)) => (rv, vec![]),
        },
        "get" => match get(n(w[1]), n(w[2]), n(w[3])) {
            Ok(v) => (CKR_OK, vec![hex(&v)]),
            Err(rv) => (rv, vec![]),
        },
        "set" => (set_attrs(n(w[1]), n(w[2]), &Tpl::decode(&w[3..])), vec![]),
        "destroy" => (destroy(n(w[1]), n(w[2])), vec![]),
        "encrypt" | "decrypt" | "sign" => {
            let op = match w[0] {
                "encrypt" => Op::Encrypt,
                "decrypt" => Op::Decrypt,
                _ => Op::Sign,
            };
            match crypt(op, n(w[1]), n(w[2]), &unhex(w[3]), n(w[4]), &unhex(w[5])) {
                Ok(out) => (CKR_OK, vec!["-".into(), hex(&out)]),
                Err((call, rv)) => (rv, vec![call.to_string()]),
            }
        }
        "wait" => answer(wait_for_slot_event(n(w[1]))),
        "waitbg" => {
            let flags = n(w[1]);
            std::thread::spawn(move || {
                let (rv, slot) = match wait_for_slot_event(flags) {
                    Ok(slot) => (CKR_OK, slot),
                    Err(rv) => (rv, CK_SLOT_ID::MAX),
                };
                emit(format!("EV {rv:x} {slot}"));
            });
            (CKR_OK, vec![])
        }
        other => panic!("unknown rpc command {other:?}"),
    }
}

/// The lab directory of a worker (`HSMSIM_STATE_DIR`).
pub fn state_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("HSMSIM_STATE_DIR").expect("HSMSIM_STATE_DIR"))
}
