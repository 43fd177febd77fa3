//! Several processes on one lab. Proves that each process sees the others' committed changes on
//! its next call without re-initialising — objects created, destroyed and changed, a token
//! initialised, a PIN changed — that handles of objects another process destroyed answer
//! CKR_OBJECT_HANDLE_INVALID / CKR_KEY_HANDLE_INVALID, that slot ids never change, that
//! C_WaitForSlotEvent reports a token initialised by another process (polling and blocking) and
//! is woken by C_Finalize, and that 4 processes x 2 threads working on one token for a while
//! leave exactly the objects created minus those destroyed, intact, with no error codes other
//! than the handle-invalid ones a concurrent destroy explains.
//!
//! Processes are this test binary re-executed (`procs::Proc`): `rpc` workers run one C call per
//! command from the test; `mp` workers run the load; `mpcheck` verifies the token afterwards.
mod common;
mod procs;

use cryptoki_sys::*;
use procs::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DEFAULT: &str = "default";
const GENERIC: &str = "generic";
const RW: CK_FLAGS = CKF_SERIAL_SESSION | CKF_RW_SESSION;

#[test]
fn worker() {
    let Some(role) = role() else { return };
    match role.as_str() {
        "rpc" => serve_rpc(),
        "mp" => mp_worker(),
        "mpcheck" => mp_check(),
        other => panic!("unknown worker role {other}"),
    }
}

fn lab() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn rpc(name: &str, dir: &Path, lab: &str) -> Proc {
    Proc::spawn(name, "rpc", dir, lab, &[])
}

/// A token AES key that anyone may read back (extractable, not sensitive).
fn aes_template(label: &str, value: &[u8]) -> Tpl {
    Tpl::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .bool(CKA_TOKEN, true)
        .bool(CKA_PRIVATE, true)
        .bytes(CKA_LABEL, label.as_bytes())
        .bytes(CKA_ID, &key_id(label))
        .bytes(CKA_VALUE, value)
        .bool(CKA_ENCRYPT, true)
        .bool(CKA_DECRYPT, true)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true)
}

fn data_template(label: &str, value: &[u8]) -> Tpl {
    Tpl::new()
        .ulong(CKA_CLASS, CKO_DATA)
        .bool(CKA_TOKEN, true)
        .bool(CKA_PRIVATE, false)
        .bytes(CKA_LABEL, label.as_bytes())
        .bytes(CKA_APPLICATION, b"hsmsim-multiprocess")
        .bytes(CKA_VALUE, value)
}

fn key_id(label: &str) -> Vec<u8> {
    fnv1a(format!("id:{label}").as_bytes())
        .to_be_bytes()
        .to_vec()
}

fn by_label(label: &str) -> Tpl {
    Tpl::new().bytes(CKA_LABEL, label.as_bytes())
}

const IV: [u8; 16] = *b"multiprocess-iv!";
const NONE: &[CK_OBJECT_HANDLE] = &[];

fn padded_label(label: &str) -> Vec<u8> {
    let mut l = label.as_bytes().to_vec();
    l.resize(32, b' ');
    l
}

// ---------------------------------------------------------------------------------------------
// Deterministic two-process scenarios

/// Baseline: what a process committed before another process initialised is visible there.
#[test]
fn objects_committed_before_another_process_starts_are_visible_to_it() {
    let _g = scenario();
    let dir = lab();
    let mut a = rpc("A", dir.path(), DEFAULT);
    let sa = a.start_user(0);
    let value = Rng::new(1).bytes(32);
    let key = a.create(sa, &aes_template("before-start", &value)).unwrap();
    let ct = a
        .crypt(Op::Encrypt, sa, CKM_AES_CBC_PAD, &IV, key, b"sealed by A")
        .unwrap();

    let mut b = rpc("B", dir.path(), DEFAULT);
    let sb = b.start_user(0);
    let found = b.find(sb, &by_label("before-start")).unwrap();
    assert_eq!(
        found.len(),
        1,
        "process B, started after A committed the key, finds {found:?}"
    );
    assert_eq!(b.get(sb, found[0], CKA_VALUE).unwrap(), value);
    assert_eq!(
        b.crypt(Op::Decrypt, sb, CKM_AES_CBC_PAD, &IV, found[0], &ct)
            .unwrap(),
        b"sealed by A"
    );
}

#[test]
fn an_object_created_in_one_process_is_visible_to_another_on_its_next_call() {
    let _g = scenario();
    let dir = lab();
    let mut a = rpc("A", dir.path(), DEFAULT);
    let mut b = rpc("B", dir.path(), DEFAULT);
    let sa = a.start_user(0);
    let sb = b.start_user(0);
    assert_eq!(b.find(sb, &by_label("made-by-A")).unwrap(), NONE);

    let value = Rng::new(2).bytes(32);
    let key = a.create(sa, &aes_template("made-by-A", &value)).unwrap();
    let data_value = Rng::new(3).bytes(3000);
    a.create(sa, &data_template("data-by-A", &data_value))
        .unwrap();

    let found = b.find(sb, &by_label("made-by-A")).unwrap();
    assert_eq!(
        found.len(),
        1,
        "process B must find the key process A created (C_FindObjectsInit on B's next call, no \
         re-initialisation); found {found:?}"
    );
    let hb = found[0];
    assert_eq!(b.get(sb, hb, CKA_VALUE).unwrap(), value);
    assert_eq!(
        b.find(sb, &Tpl::new().bytes(CKA_ID, &key_id("made-by-A")))
            .unwrap(),
        vec![hb],
        "find by CKA_ID in B"
    );
    let ct_b = b
        .crypt(Op::Encrypt, sb, CKM_AES_CBC_PAD, &IV, hb, b"from B")
        .unwrap();
    assert_eq!(
        a.crypt(Op::Decrypt, sa, CKM_AES_CBC_PAD, &IV, key, &ct_b)
            .unwrap(),
        b"from B",
        "A and B hold the same key"
    );
    let data = b.find(sb, &by_label("data-by-A")).unwrap();
    assert_eq!(data.len(), 1, "B must find A's data object; found {data:?}");
    assert_eq!(b.get(sb, data[0], CKA_VALUE).unwrap(), data_value);
}

#[test]
fn an_object_destroyed_in_one_process_is_gone_in_another_on_its_next_call() {
    let _g = scenario();
    let dir = lab();
    let mut a = rpc("A", dir.path(), DEFAULT);
    let sa = a.start_user(0);
    let key = a
        .create(sa, &aes_template("doomed-key", &Rng::new(4).bytes(16)))
        .unwrap();
    let data = a
        .create(sa, &data_template("doomed-data", b"soon gone"))
        .unwrap();

    // B starts after both were committed, so it has handles for them.
    let mut b = rpc("B", dir.path(), DEFAULT);
    let sb = b.start_user(0);
    let bk = b.find(sb, &by_label("doomed-key")).unwrap();
    let bd = b.find(sb, &by_label("doomed-data")).unwrap();
    assert_eq!((bk.len(), bd.len()), (1, 1), "B sees A's objects at start");
    let (bk, bd) = (bk[0], bd[0]);

    assert_eq!(a.destroy(sa, key), CKR_OK);
    assert_eq!(a.destroy(sa, data), CKR_OK);

    let after = b.find(sb, &by_label("doomed-key")).unwrap();
    assert_eq!(
        after, NONE,
        "B must no longer find the key A destroyed (on its next C_FindObjectsInit)"
    );
    let rv = b.get(sb, bk, CKA_LABEL).err().unwrap_or(CKR_OK);
    assert_eq!(
        rv,
        CKR_OBJECT_HANDLE_INVALID,
        "C_GetAttributeValue in B on a key A destroyed answered {}",
        rv_name(rv)
    );
    let enc = b.crypt(Op::Encrypt, sb, CKM_AES_CBC_PAD, &IV, bk, b"x");
    assert_eq!(
        enc.as_ref().err().map(|(call, rv)| (call.as_str(), *rv)),
        Some(("C_EncryptInit", CKR_KEY_HANDLE_INVALID)),
        "C_EncryptInit in B with a key A destroyed: got {enc:?}"
    );
    let rv = b.destroy(sb, bk);
    assert_eq!(
        rv,
        CKR_OBJECT_HANDLE_INVALID,
        "C_DestroyObject in B on a key A already destroyed answered {}",
        rv_name(rv)
    );
    let rv = b.get(sb, bd, CKA_VALUE).err().unwrap_or(CKR_OK);
    assert_eq!(
        rv,
        CKR_OBJECT_HANDLE_INVALID,
        "C_GetAttributeValue in B on a data object A destroyed answered {}",
        rv_name(rv)
    );
    assert_eq!(b.destroy(sb, bd), CKR_OBJECT_HANDLE_INVALID);
}

#[test]
fn an_attribute_changed_in_one_process_is_seen_by_another_on_its_next_call() {
    let _g = scenario();
    let dir = lab();
    let mut a = rpc("A", dir.path(), DEFAULT);
    let sa = a.start_user(0);
    let key = a
        .create(sa, &aes_template("old-label", &Rng::new(5).bytes(16)))
        .unwrap();
    let mut b = rpc("B", dir.path(), DEFAULT);
    let sb = b.start_user(0);
    let found = b.find(sb, &by_label("old-label")).unwrap();
    assert_eq!(found.len(), 1);

    assert_eq!(a.set(sa, key, &by_label("new-label")), CKR_OK);
    let label = b.get(sb, found[0], CKA_LABEL).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&label),
        "new-label",
        "C_GetAttributeValue(CKA_LABEL) in B must give the label A set"
    );
    assert_eq!(b.find(sb, &by_label("new-label")).unwrap(), found);
    assert_eq!(b.find(sb, &by_label("old-label")).unwrap(), NONE);
}

#[test]
fn a_token_initialised_by_another_process_is_usable_there_and_slot_ids_do_not_change() {
    let _g = scenario();
    let dir = lab();
    let mut a = rpc("A", dir.path(), GENERIC);
    let mut b = rpc("B", dir.path(), GENERIC);
    assert_eq!(a.init(), CKR_OK);
    assert_eq!(b.init(), CKR_OK);
    let slots_a = a.slots();
    let slots_b = b.slots();
    assert_eq!(slots_a, slots_b, "both processes see the same slots");
    assert!(
        slots_a.contains(&1),
        "the generic lab has slot 1: {slots_a:?}"
    );
    let (flags, _) = b.token_info(1).unwrap();
    assert_eq!(flags & CKF_TOKEN_INITIALIZED, 0, "slot 1 starts blank");

    assert_eq!(a.init_token(1, SO_PIN, b"made-elsewhere"), CKR_OK);
    let (flags, label) = a.token_info(1).unwrap();
    assert!(flags & CKF_TOKEN_INITIALIZED != 0, "A's own C_InitToken");
    assert_eq!(label, padded_label("made-elsewhere"));

    let (flags, label) = b.token_info(1).unwrap();
    assert!(
        flags & CKF_TOKEN_INITIALIZED != 0,
        "C_GetTokenInfo in B must report CKF_TOKEN_INITIALIZED after A's C_InitToken \
         (flags 0x{flags:X})"
    );
    assert_eq!(
        String::from_utf8_lossy(&label),
        String::from_utf8_lossy(&padded_label("made-elsewhere")),
        "B must see the label A gave the token"
    );
    let s = b.open(1, true).unwrap_or_else(|rv| {
        panic!(
            "C_OpenSession in B on the token A initialised answered {}",
            rv_name(rv)
        )
    });
    assert_eq!(
        b.login(s, CKU_SO, SO_PIN),
        CKR_OK,
        "B logs in with A's SO PIN"
    );
    assert_eq!(b.init_pin(s, USER_PIN), CKR_OK);
    assert_eq!(b.logout(s), CKR_OK);

    let (flags, _) = a.token_info(1).unwrap();
    assert!(
        flags & CKF_USER_PIN_INITIALIZED != 0,
        "A must see the user PIN B set (flags 0x{flags:X})"
    );
    let sa = a.open(1, true).unwrap();
    assert_eq!(a.login(sa, CKU_USER, USER_PIN), CKR_OK);
    assert_eq!(a.slots(), slots_a, "slot ids never change (A)");
    assert_eq!(b.slots(), slots_b, "slot ids never change (B)");
}

#[test]
fn a_pin_changed_by_another_process_takes_effect_there() {
    let _g = scenario();
    let dir = lab();
    let mut a = rpc("A", dir.path(), DEFAULT);
    let mut b = rpc("B", dir.path(), DEFAULT);
    assert_eq!(a.init(), CKR_OK);
    assert_eq!(b.init(), CKR_OK);
    let sb = b.open(0, true).unwrap();
    let sa = a.user_session(0);
    assert_eq!(a.set_pin(sa, USER_PIN, b"new-user-pin"), CKR_OK);
    assert_eq!(a.logout(sa), CKR_OK);

    let rv = b.login(sb, CKU_USER, USER_PIN);
    assert_eq!(
        rv,
        CKR_PIN_INCORRECT,
        "B logging in with the PIN A replaced answered {}",
        rv_name(rv)
    );
    let rv = b.login(sb, CKU_USER, b"new-user-pin");
    assert_eq!(
        rv,
        CKR_OK,
        "B logging in with the PIN A set answered {}",
        rv_name(rv)
    );
    // And in A itself (same process).
    assert_eq!(a.login(sa, CKU_USER, USER_PIN), CKR_PIN_INCORRECT);
    assert_eq!(a.login(sa, CKU_USER, b"new-user-pin"), CKR_OK);
}

#[test]
fn wait_for_slot_event_without_blocking_reports_a_token_initialised_by_another_process() {
    let _g = scenario();
    let dir = lab();
    let mut a = rpc("A", dir.path(), GENERIC);
    let mut b = rpc("B", dir.path(), GENERIC);
    assert_eq!(b.init(), CKR_OK);
    assert_eq!(
        b.wait_event(CKF_DONT_BLOCK),
        Err(CKR_NO_EVENT),
        "nothing happened yet"
    );
    assert_eq!(a.init(), CKR_OK);
    assert_eq!(a.init_token(1, SO_PIN, b"event"), CKR_OK);

    // The change is committed; B may notice it on this call or, at the latest, within 10 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let r = b.wait_event(CKF_DONT_BLOCK);
        if r != Err(CKR_NO_EVENT) || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        answer.map_err(rv_name),
        Ok(1),
        "C_WaitForSlotEvent(CKF_DONT_BLOCK) in B after A initialised the token in slot 1"
    );
    assert_eq!(
        b.wait_event(CKF_DONT_BLOCK),
        Err(CKR_NO_EVENT),
        "the event was reported once"
    );
    assert_eq!(b.slots(), a.slots(), "slot ids unchanged");
}

#[test]
fn a_blocking_wait_for_slot_event_returns_when_another_process_initialises_a_token() {
    let _g = scenario();
    let dir = lab();
    let mut a = rpc("A", dir.path(), GENERIC);
    let mut b = rpc("B", dir.path(), GENERIC);
    assert_eq!(b.init(), CKR_OK);
    assert_eq!(a.init(), CKR_OK);
    b.wait_event_in_background(0);
    let early = b.next_event(Duration::from_millis(300));
    assert_eq!(
        early, None,
        "a blocking wait returned before anything happened"
    );

    assert_eq!(a.init_token(1, SO_PIN, b"event"), CKR_OK);
    let got = b.next_event(Duration::from_secs(10));
    if got.is_none() {
        // Unblock the waiting thread before failing (C_Finalize wakes it).
        b.finalize();
    }
    let got = got.map(|(rv, slot)| (rv_name(rv), slot));
    assert_eq!(
        got,
        Some((rv_name(CKR_OK), 1)),
        "a blocking C_WaitForSlotEvent in B must return slot 1 within 10 s of A's C_InitToken \
         (None: it did not return)"
    );
}

#[test]
fn c_finalize_in_another_thread_wakes_a_blocked_wait_for_slot_event() {
    let _g = scenario();
    let dir = lab();
    let mut b = rpc("B", dir.path(), GENERIC);
    assert_eq!(b.init(), CKR_OK);
    b.wait_event_in_background(0);
    assert_eq!(
        b.next_event(Duration::from_millis(300)),
        None,
        "a blocking wait returned before anything happened"
    );
    assert_eq!(b.finalize(), CKR_OK);
    let got = b
        .next_event(Duration::from_secs(10))
        .map(|(rv, _)| rv_name(rv));
    assert_eq!(
        got,
        Some(rv_name(CKR_CRYPTOKI_NOT_INITIALIZED)),
        "the blocked C_WaitForSlotEvent must return CKR_CRYPTOKI_NOT_INITIALIZED within 10 s of \
         C_Finalize in another thread"
    );
}

#[test]
fn processes_starting_together_on_a_fresh_lab_all_initialise() {
    let _g = scenario();
    let dir = lab();
    let mut ps: Vec<Proc> = (0..4)
        .map(|i| rpc(&format!("P{i}"), dir.path(), DEFAULT))
        .collect();
    for p in &mut ps {
        p.send("init");
    }
    for p in &mut ps {
        let r = p.reply("init");
        assert_eq!(
            r.rv,
            CKR_OK,
            "{}: C_Initialize on a fresh lab, alongside three other processes, answered {}",
            p.name,
            rv_name(r.rv)
        );
    }
    for (i, p) in ps.iter_mut().enumerate() {
        let s = p.user_session(0);
        p.create(s, &data_template(&format!("together-{i}"), b"x"))
            .unwrap();
    }
    for p in &mut ps {
        p.finish();
    }
    let mut q = rpc("Q", dir.path(), DEFAULT);
    let s = q.start_user(0);
    for i in 0..4 {
        assert_eq!(
            q.find(s, &by_label(&format!("together-{i}")))
                .unwrap()
                .len(),
            1
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Load: 4 processes x 2 threads

const PROCS: usize = 4;
const THREADS: usize = 2;

/// The value of a stress key, recomputable by anyone from its label.
fn value_for(label: &str) -> Vec<u8> {
    let len = [16, 24, 32][(fnv1a(label.as_bytes()) % 3) as usize];
    expand(label.as_bytes(), len)
}

fn log_path(dir: &Path, p: usize, t: usize) -> PathBuf {
    dir.join(format!("mp-p{p}-t{t}.log"))
}

/// What each thread logs, one line per event:
/// `C label` created (after CKR_OK); `D label` destroyed (after CKR_OK); `S label` found and
/// used an object of another process; `M label` a find by label found nothing; `G call rv
/// label` a handle-invalid answer (allowed only if someone destroyed the object); `X call rv
/// label detail` anything else that is wrong; `END ops` the thread finished.
#[test]
fn four_processes_of_two_threads_share_a_token_and_see_each_others_changes() {
    let _g = scenario();
    let secs: f64 = env_or("HSMSIM_MP_SECONDS", 8.0);
    let dir = lab();
    {
        // The lab exists before the load starts (starting together is tested above).
        let mut setup = rpc("setup", dir.path(), DEFAULT);
        setup.start_user(0);
        assert_eq!(setup.finalize(), CKR_OK);
        setup.finish();
    }
    let started = Instant::now();
    let mut workers: Vec<Proc> = (0..PROCS)
        .map(|p| {
            Proc::spawn(
                &format!("mp{p}"),
                "mp",
                dir.path(),
                DEFAULT,
                &[
                    ("HSMSIM_MP_PROC", p.to_string()),
                    ("HSMSIM_MP_SECONDS", secs.to_string()),
                ],
            )
        })
        .collect();
    for w in &mut workers {
        if let Err(e) = w.expect_line("ready", Duration::from_secs(120)) {
            panic!("{e}");
        }
    }
    std::fs::write(dir.path().join("go"), b"go").unwrap();
    let mut problems: Vec<String> = Vec::new();
    let limit = Duration::from_secs_f64(secs) + Duration::from_secs(120);
    for w in &mut workers {
        if let Err(e) = w.expect_line("done", limit) {
            problems.push(e);
            w.kill();
            continue;
        }
        match w.wait_exit(Duration::from_secs(30)) {
            Some(st) if st.success() => {}
            other => problems.push(format!(
                "worker {} exited with {other:?}; stderr:\n{}",
                w.name,
                w.stderr_tail()
            )),
        }
    }
    let load_time = started.elapsed();
    drop(workers);

    // The logs.
    let mut created: BTreeMap<String, String> = BTreeMap::new();
    let mut destroyed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut tolerated: Vec<(String, String)> = Vec::new();
    let mut unexpected: Vec<String> = Vec::new();
    let mut seen_foreign = [0usize; PROCS];
    let mut ops = 0u64;
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (p, seen) in seen_foreign.iter_mut().enumerate() {
        for t in 0..THREADS {
            let who = format!("p{p}/t{t}");
            let text = std::fs::read_to_string(log_path(dir.path(), p, t)).unwrap_or_default();
            let mut ended = false;
            for line in text.lines() {
                let words: Vec<&str> = line.splitn(5, ' ').collect();
                match words[0] {
                    "C" => {
                        *counts.entry("created").or_default() += 1;
                        if let Some(first) = created.insert(words[1].into(), who.clone()) {
                            problems.push(format!("{} created twice ({first}, {who})", words[1]));
                        }
                    }
                    "D" => {
                        *counts.entry("destroyed").or_default() += 1;
                        destroyed
                            .entry(words[1].into())
                            .or_default()
                            .push(who.clone());
                    }
                    "S" => {
                        *counts.entry("used foreign").or_default() += 1;
                        *seen += 1;
                    }
                    "M" => {
                        *counts.entry("find found nothing").or_default() += 1;
                        tolerated.push((
                            words[1].into(),
                            format!(
                                "{who}: a find by label found no object {}, though its creator \
                                 logged it after CKR_OK",
                                words[1]
                            ),
                        ));
                    }
                    "G" => {
                        *counts.entry("handle invalid").or_default() += 1;
                        tolerated.push((
                            words[3].into(),
                            format!("{who}: {} answered {} for {}", words[1], words[2], words[3]),
                        ));
                    }
                    "X" => unexpected.push(format!("{who}: {}", &line[2..])),
                    "END" => {
                        ended = true;
                        ops += words[1].parse::<u64>().unwrap_or(0);
                    }
                    _ => unexpected.push(format!("{who}: unreadable log line {line:?}")),
                }
            }
            if !ended {
                problems.push(format!("thread {who} did not finish (no END in its log)"));
            }
        }
    }
    if !unexpected.is_empty() {
        problems.push(format!(
            "{} unexpected results (call, CK_RV, label, detail):\n{}",
            unexpected.len(),
            first_few(&unexpected, 8)
        ));
    }
    for (label, by) in &destroyed {
        if by.len() > 1 {
            problems.push(format!(
                "{label} was destroyed with CKR_OK by {by:?}: after the first destroy every other \
                 C_DestroyObject must answer CKR_OBJECT_HANDLE_INVALID"
            ));
        }
        if !created.contains_key(label) {
            problems.push(format!("{label} destroyed by {by:?} but nobody created it"));
        }
    }
    let unexplained: Vec<String> = tolerated
        .iter()
        .filter(|(label, _)| !destroyed.contains_key(label))
        .map(|(_, what)| format!("{what} — but nobody destroyed it"))
        .collect();
    if !unexplained.is_empty() {
        problems.push(format!(
            "{} answers only a destroy by another process could explain, for objects nobody \
             destroyed:\n{}",
            unexplained.len(),
            first_few(&unexplained, 8)
        ));
    }
    for (p, n) in seen_foreign.iter().enumerate() {
        if *n == 0 {
            problems.push(format!(
                "process {p} never found and used an object another process created while it ran \
                 (cross-process visibility)"
            ));
        }
    }

    // The token afterwards.
    if let Err(e) = integrity_check(dir.path()) {
        problems.push(e);
    }
    let mut checker = Proc::spawn("mpcheck", "mpcheck", dir.path(), DEFAULT, &[]);
    let (lines, ended) = checker.drain(Duration::from_secs(120));
    if !ended {
        checker.kill();
        problems.push("the checker did not finish within 120 s".into());
    }
    let status = checker.wait_exit(Duration::from_secs(10));
    if !status.is_some_and(|s| s.success()) {
        problems.push(format!(
            "the checker exited with {status:?}; stderr:\n{}",
            checker.stderr_tail()
        ));
    }
    let mut on_token: BTreeMap<String, usize> = BTreeMap::new();
    let mut check_problems = Vec::new();
    for line in &lines {
        if let Some(label) = line.strip_prefix("O ") {
            *on_token.entry(label.to_string()).or_default() += 1;
        } else if let Some(p) = line.strip_prefix("P ") {
            check_problems.push(p.to_string());
        }
    }
    if !check_problems.is_empty() {
        problems.push(format!(
            "{} objects on the token are not intact:\n{}",
            check_problems.len(),
            first_few(&check_problems, 8)
        ));
    }
    let expected: BTreeSet<&String> = created
        .keys()
        .filter(|l| !destroyed.contains_key(*l))
        .collect();
    let missing: Vec<String> = expected
        .iter()
        .filter(|l| !on_token.contains_key(**l))
        .map(|l| {
            format!(
                "{l} (created by {}, never destroyed) is not on the token",
                created[*l]
            )
        })
        .collect();
    let extra: Vec<String> = on_token
        .iter()
        .filter(|(l, _)| !expected.contains(l))
        .map(|(l, _)| match destroyed.get(l) {
            Some(by) => format!("{l} is on the token though {by:?} destroyed it with CKR_OK"),
            None => format!("{l} is on the token but nobody logged creating it"),
        })
        .collect();
    let doubles: Vec<String> = on_token
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(l, n)| format!("{l} is on the token {n} times"))
        .collect();
    for (what, list) in [
        ("objects missing", missing),
        ("objects that should not exist", extra),
        ("duplicated objects", doubles),
    ] {
        if !list.is_empty() {
            problems.push(format!("{} {what}:\n{}", list.len(), first_few(&list, 8)));
        }
    }
    println!(
        "load: {PROCS} processes x {THREADS} threads for {secs} s ({load_time:?} with start-up): \
         {ops} operations, {counts:?}, {} objects on the token at the end",
        on_token.len()
    );
    assert!(
        problems.is_empty(),
        "{} problems with 4 processes x 2 threads on one token ({ops} operations, {counts:?}):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn mp_worker() {
    let p: usize = env_or("HSMSIM_MP_PROC", 0);
    let secs: f64 = env_or("HSMSIM_MP_SECONDS", 8.0);
    let dir = state_dir();
    let rv = initialize();
    assert_eq!(rv, CKR_OK, "mp{p}: C_Initialize answered {}", rv_name(rv));
    let s = common::open_session(0, RW).expect("C_OpenSession");
    let rv = common::login(s, CKU_USER, USER_PIN);
    assert_eq!(rv, CKR_OK, "mp{p}: C_Login answered {}", rv_name(rv));
    emit("ready");
    let go = dir.join("go");
    let wait_until = Instant::now() + Duration::from_secs(120);
    while !go.exists() {
        assert!(Instant::now() < wait_until, "mp{p}: no go signal");
        std::thread::sleep(Duration::from_millis(5));
    }
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let dir = dir.clone();
            std::thread::spawn(move || Actor::new(p, t, &dir).run(deadline))
        })
        .collect();
    for t in threads {
        t.join().expect("a load thread panicked");
    }
    emit("done");
    let _ = close_session(s);
    let _ = finalize();
}

/// Labels other processes logged as created (and not yet seen destroyed), read incrementally.
struct Foreign {
    files: Vec<(PathBuf, u64, String)>,
    labels: Vec<String>,
}

impl Foreign {
    fn new(dir: &Path, me: usize) -> Foreign {
        let files = (0..PROCS)
            .filter(|q| *q != me)
            .flat_map(|q| (0..THREADS).map(move |t| (q, t)))
            .map(|(q, t)| (log_path(dir, q, t), 0, String::new()))
            .collect();
        Foreign {
            files,
            labels: Vec::new(),
        }
    }

    fn refresh(&mut self) {
        let mut created = Vec::new();
        let mut gone = Vec::new();
        for (path, offset, partial) in &mut self.files {
            let Ok(mut f) = std::fs::File::open(&*path) else {
                continue;
            };
            if f.seek(SeekFrom::Start(*offset)).is_err() {
                continue;
            }
            let mut text = String::new();
            let Ok(n) = f.read_to_string(&mut text) else {
                continue;
            };
            *offset += n as u64;
            partial.push_str(&text);
            let complete = match partial.rfind('\n') {
                Some(i) => partial.drain(..=i).collect::<String>(),
                None => continue,
            };
            for line in complete.lines() {
                if let Some(label) = line.strip_prefix("C ") {
                    created.push(label.to_string());
                } else if let Some(label) = line.strip_prefix("D ") {
                    gone.push(label.to_string());
                }
            }
        }
        self.labels.extend(created);
        for label in gone {
            self.forget(&label);
        }
    }

    fn forget(&mut self, label: &str) {
        if let Some(i) = self.labels.iter().position(|l| l == label) {
            self.labels.swap_remove(i);
        }
    }
}

/// One load thread: its own session, its own keys, and other processes' keys.
struct Actor {
    p: usize,
    t: usize,
    s: CK_SESSION_HANDLE,
    rng: Rng,
    log: std::fs::File,
    own: Vec<(String, CK_OBJECT_HANDLE)>,
    foreign: Foreign,
    next: u64,
    ops: u64,
}

/// Why an object cannot be used any more.
enum Lost {
    /// An allowed handle-invalid answer or an empty find (logged as G / M).
    Gone,
    /// Something unexpected (logged as X).
    Bad,
}

impl Actor {
    fn new(p: usize, t: usize, dir: &Path) -> Actor {
        let s = common::open_session(0, RW).expect("C_OpenSession in a load thread");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path(dir, p, t))
            .expect("the thread's log file");
        Actor {
            p,
            t,
            s,
            rng: Rng::new((p * 10 + t) as u64),
            log,
            own: Vec::new(),
            foreign: Foreign::new(dir, p),
            next: 0,
            ops: 0,
        }
    }

    fn log(&mut self, line: String) {
        let _ = self.log.write_all(format!("{line}\n").as_bytes());
    }

    fn bad(&mut self, call: &str, rv: CK_RV, label: &str, detail: &str) -> Lost {
        self.log(format!(
            "X {call} {} {label} {detail}",
            rv_name(rv).replace(' ', "")
        ));
        Lost::Bad
    }

    /// A failed call on an object: a handle-invalid answer is allowed (if someone destroyed
    /// the object — the parent checks), anything else is not.
    fn failed(&mut self, call: &str, rv: CK_RV, label: &str) -> Lost {
        let allowed = match call {
            "C_GetAttributeValue" | "C_DestroyObject" | "C_SetAttributeValue" => {
                CKR_OBJECT_HANDLE_INVALID
            }
            "C_EncryptInit" | "C_DecryptInit" | "C_Encrypt" | "C_Decrypt" => CKR_KEY_HANDLE_INVALID,
            _ => CK_RV::MAX,
        };
        if rv == allowed {
            self.log(format!("G {call} {} {label}", rv_name(rv).replace(' ', "")));
            Lost::Gone
        } else {
            self.bad(call, rv, label, "")
        }
    }

    fn run(mut self, deadline: Instant) {
        while Instant::now() < deadline {
            self.ops += 1;
            if self.ops % 8 == 1 {
                self.foreign.refresh();
            }
            let roll = self.rng.below(100);
            if self.own.is_empty() || roll < 25 {
                self.create();
                continue;
            }
            let i = self.rng.below(self.own.len() as u64) as usize;
            let (label, h) = self.own[i].clone();
            let result = match roll {
                25..40 => self.round_trip(h, &label),
                40..50 => self.find_own(h, &label),
                50..60 => self.read(h, &label),
                60..70 => self.destroy(h, &label),
                _ => {
                    self.foreign_op();
                    continue;
                }
            };
            // Destroyed here or elsewhere, or broken: either way no longer ours to use.
            if result.is_err() || roll >= 60 {
                self.own.swap_remove(i);
            }
        }
        let ops = self.ops;
        self.log(format!("END {ops}"));
        let _ = close_session(self.s);
    }

    fn create(&mut self) {
        let label = format!("mp-p{}-t{}-n{}", self.p, self.t, self.next);
        self.next += 1;
        match create(self.s, &aes_template(&label, &value_for(&label))) {
            Ok(h) => {
                self.log(format!("C {label}"));
                self.own.push((label, h));
            }
            Err(rv) => {
                self.bad("C_CreateObject", rv, &label, "");
            }
        }
    }

    fn round_trip(&mut self, h: CK_OBJECT_HANDLE, label: &str) -> Result<(), Lost> {
        let iv = self.rng.bytes(16);
        let n = self.rng.range(1, 100);
        let data = self.rng.bytes(n);
        let ct = crypt(Op::Encrypt, self.s, CKM_AES_CBC_PAD, &iv, h, &data)
            .map_err(|(call, rv)| self.failed(call, rv, label))?;
        let pt = crypt(Op::Decrypt, self.s, CKM_AES_CBC_PAD, &iv, h, &ct)
            .map_err(|(call, rv)| self.failed(call, rv, label))?;
        if pt != data {
            return Err(self.bad(
                "C_Decrypt",
                CKR_OK,
                label,
                "does not give back the plaintext",
            ));
        }
        Ok(())
    }

    /// A find that should give exactly `[h]`: an empty answer means the object was destroyed
    /// (logged as M for the parent to confirm).
    fn find_exactly(
        &mut self,
        t: &Tpl,
        h: CK_OBJECT_HANDLE,
        label: &str,
        how: &str,
    ) -> Result<(), Lost> {
        match find_objects(self.s, t) {
            Err((call, rv)) => Err(self.bad(call, rv, label, how)),
            Ok(v) if v == [h] => Ok(()),
            Ok(v) if v.is_empty() => {
                self.log(format!("M {label}"));
                Err(Lost::Gone)
            }
            Ok(v) => Err(self.bad(
                "C_FindObjects",
                CKR_OK,
                label,
                &format!("{how} gave {v:?}, expected [{h}]"),
            )),
        }
    }

    fn find_own(&mut self, h: CK_OBJECT_HANDLE, label: &str) -> Result<(), Lost> {
        self.find_exactly(&by_label(label), h, label, "find by CKA_LABEL")?;
        let by_id = Tpl::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .bytes(CKA_ID, &key_id(label));
        self.find_exactly(&by_id, h, label, "find by CKA_CLASS+CKA_ID")?;
        let by_class = Tpl::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
            .bool(CKA_TOKEN, true);
        match find_objects(self.s, &by_class) {
            Err((call, rv)) => Err(self.bad(call, rv, label, "find by class")),
            Ok(v) if v.contains(&h) => Ok(()),
            // Not among them: destroyed meanwhile? Then the label find is empty too.
            Ok(_) => self.find_exactly(&by_label(label), h, label, "find by CKA_LABEL again"),
        }
    }

    fn read(&mut self, h: CK_OBJECT_HANDLE, label: &str) -> Result<(), Lost> {
        let value = value_for(label);
        let expect: [(CK_ATTRIBUTE_TYPE, Vec<u8>); 6] = [
            (CKA_CLASS, CKO_SECRET_KEY.to_ne_bytes().to_vec()),
            (CKA_KEY_TYPE, CKK_AES.to_ne_bytes().to_vec()),
            (CKA_LABEL, label.as_bytes().to_vec()),
            (CKA_ID, key_id(label)),
            (
                CKA_VALUE_LEN,
                (value.len() as CK_ULONG).to_ne_bytes().to_vec(),
            ),
            (CKA_VALUE, value),
        ];
        for (t, want) in expect {
            match get(self.s, h, t) {
                Ok(v) if v == want => {}
                Ok(v) => {
                    return Err(self.bad(
                        "C_GetAttributeValue",
                        CKR_OK,
                        label,
                        &format!("attribute 0x{t:X} is {} not {}", hex(&v), hex(&want)),
                    ));
                }
                Err(rv) => return Err(self.failed("C_GetAttributeValue", rv, label)),
            }
        }
        Ok(())
    }

    fn destroy(&mut self, h: CK_OBJECT_HANDLE, label: &str) -> Result<(), Lost> {
        match destroy(self.s, h) {
            CKR_OK => {
                self.log(format!("D {label}"));
                Ok(())
            }
            rv => Err(self.failed("C_DestroyObject", rv, label)),
        }
    }

    /// Finds a key another process created (by its label), checks and uses it, and sometimes
    /// destroys it.
    fn foreign_op(&mut self) {
        let Some(label) = self.rng.pick(&self.foreign.labels).cloned() else {
            return;
        };
        let h = match find_objects(self.s, &by_label(&label)) {
            Err((call, rv)) => {
                self.bad(call, rv, &label, "find by label (foreign)");
                return;
            }
            Ok(v) if v.is_empty() => {
                self.log(format!("M {label}"));
                self.foreign.forget(&label);
                return;
            }
            Ok(v) if v.len() > 1 => {
                self.bad(
                    "C_FindObjects",
                    CKR_OK,
                    &label,
                    &format!("{} objects", v.len()),
                );
                return;
            }
            Ok(v) => v[0],
        };
        match get(self.s, h, CKA_VALUE) {
            Ok(v) if v == value_for(&label) => {}
            Ok(v) => {
                self.bad(
                    "C_GetAttributeValue",
                    CKR_OK,
                    &label,
                    &format!("CKA_VALUE is {}", hex(&v)),
                );
                return;
            }
            Err(rv) => {
                self.failed("C_GetAttributeValue", rv, &label);
                self.foreign.forget(&label);
                return;
            }
        }
        if self.round_trip(h, &label).is_err() {
            self.foreign.forget(&label);
            return;
        }
        self.log(format!("S {label}"));
        if self.rng.percent(30) {
            let _ = self.destroy(h, &label);
            self.foreign.forget(&label);
        }
    }
}

/// Checks every stress key on the token: readable, value as its label says, usable.
fn mp_check() {
    let rv = initialize();
    assert_eq!(rv, CKR_OK, "checker: C_Initialize answered {}", rv_name(rv));
    let s = common::open_session(0, RW).expect("C_OpenSession");
    assert_eq!(common::login(s, CKU_USER, USER_PIN), CKR_OK);
    let all = find_objects(s, &Tpl::new().ulong(CKA_CLASS, CKO_SECRET_KEY))
        .unwrap_or_else(|(call, rv)| panic!("checker: {call} answered {}", rv_name(rv)));
    for h in &all {
        let label = match get(s, *h, CKA_LABEL) {
            Ok(l) => String::from_utf8_lossy(&l).into_owned(),
            Err(rv) => {
                emit(format!(
                    "P handle {h}: CKA_LABEL unreadable: {}",
                    rv_name(rv)
                ));
                continue;
            }
        };
        if !label.starts_with("mp-") {
            continue;
        }
        emit(format!("O {label}"));
        match get(s, *h, CKA_VALUE) {
            Ok(v) if v == value_for(&label) => {}
            Ok(v) => emit(format!("P {label}: CKA_VALUE is {}", hex(&v))),
            Err(rv) => emit(format!("P {label}: CKA_VALUE unreadable: {}", rv_name(rv))),
        }
        let data = b"checker round trip";
        let ok = crypt(Op::Encrypt, s, CKM_AES_CBC_PAD, &IV, *h, data)
            .and_then(|ct| crypt(Op::Decrypt, s, CKM_AES_CBC_PAD, &IV, *h, &ct));
        match ok {
            Ok(pt) if pt == data => {}
            Ok(_) => emit(format!("P {label}: decrypt does not invert encrypt")),
            Err((call, rv)) => emit(format!("P {label}: {call} answered {}", rv_name(rv))),
        }
    }
    emit(format!("DONE {}", all.len()));
    let _ = finalize();
}
