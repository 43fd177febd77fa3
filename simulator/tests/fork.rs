//! A process test of `fork()`: the parent has threads hammering the module (sessions opened
//! and closed, signatures, finds, session objects, token info: always inside some call, so
//! holding the module's locks), and forks at random moments. Each child must, within a
//! deadline: get `CKR_CRYPTOKI_NOT_INITIALIZED` from calls before its own `C_Initialize`
//! (the parent's state is not the child's), then `C_Initialize`, log in, find the parent's
//! token key, sign and verify, leave a token object, `C_Finalize`, and exit 0; the parent
//! then sees every child's object. Many trials, bounded time
//! (`HSMSIM_FORK_TRIALS`, default 120, at most `HSMSIM_FORK_SECONDS`, default 60, at least
//! 10 trials). `HSMSIM_FORK_GDB=1` prints a hung child's threads (gdb) before killing it.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::ptr::null_mut;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const KEY_LABEL: &[u8] = b"fork-test-key";
const MESSAGE: &[u8] = b"signed in a forked child";
/// The label of the token object each child leaves.
const CHILD_MARK: &[u8] = b"made-by-a-forked-child";
/// How long a child may take (generous: the machine is small and shared, and a login's PIN
/// derivation is deliberately slow).
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The parent's token key pair (EC P-256), made once.
fn make_key(s: CK_SESSION_HANDLE) {
    generate_key_pair(
        s,
        CKM_EC_KEY_PAIR_GEN,
        Template::new()
            .bytes(CKA_EC_PARAMS, P256)
            .bool(CKA_TOKEN, true)
            .bytes(CKA_LABEL, KEY_LABEL),
        Template::new()
            .bool(CKA_TOKEN, true)
            .bool(CKA_SIGN, true)
            .bytes(CKA_LABEL, KEY_LABEL),
    )
    .expect("EC key pair");
}

fn find_key(s: CK_SESSION_HANDLE, class: CK_OBJECT_CLASS) -> Option<CK_OBJECT_HANDLE> {
    let mut t = Template::new()
        .ulong(CKA_CLASS, class)
        .bytes(CKA_LABEL, KEY_LABEL);
    let mut raw = t.raw();
    // SAFETY: the template is valid.
    if unsafe { C_FindObjectsInit(s, raw.as_mut_ptr(), raw.len() as CK_ULONG) } != CKR_OK {
        return None;
    }
    let mut h = 0;
    let mut n = 0;
    // SAFETY: one handle's room and a count.
    let rv = unsafe { C_FindObjects(s, &mut h, 1, &mut n) };
    // SAFETY: no pointers.
    unsafe { C_FindObjectsFinal(s) };
    (rv == CKR_OK && n == 1).then_some(h)
}

fn sign(s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> Result<Vec<u8>, CK_RV> {
    let mut m = mech(CKM_ECDSA_SHA256);
    match init(C_SignInit, s, &mut m, key) {
        CKR_OK => produce(C_Sign, s, MESSAGE),
        rv => Err(rv),
    }
}

/// One round of the parent's hammering; errors are ignored (only the child is judged).
fn hammer_once(i: u64) {
    let Ok(s) = open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION) else {
        return;
    };
    if let Some(key) = find_key(s, CKO_PRIVATE_KEY) {
        let _ = sign(s, key);
    }
    let data = Template::new()
        .ulong(CKA_CLASS, CKO_DATA)
        .bytes(CKA_LABEL, format!("hammer-{i}").as_bytes());
    if let Ok(h) = create(s, data) {
        // SAFETY: no pointers.
        unsafe { C_DestroyObject(s, h) };
    }
    if i.is_multiple_of(8) {
        // A token object: a store write.
        let data = Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, true)
            .bytes(CKA_VALUE, &i.to_be_bytes());
        if let Ok(h) = create(s, data) {
            // SAFETY: no pointers.
            unsafe { C_DestroyObject(s, h) };
        }
    }
    let mut info = std::mem::MaybeUninit::<CK_TOKEN_INFO>::zeroed();
    // SAFETY: a valid out-pointer.
    unsafe { C_GetTokenInfo(0, info.as_mut_ptr()) };
    // SAFETY: no pointers.
    unsafe { C_CloseSession(s) };
}

/// The child's work: returns 0, or the number of the step that went wrong.
fn child_steps(progress: libc::c_int) -> u8 {
    let step = |n: u8| {
        // SAFETY: one byte from a valid buffer to the pipe's write end.
        unsafe { libc::write(progress, [n].as_ptr().cast(), 1) };
    };
    let mut n = 0;
    // SAFETY: valid out-pointer for the count.
    if unsafe { C_GetSlotList(CK_FALSE, null_mut(), &mut n) } != CKR_CRYPTOKI_NOT_INITIALIZED {
        return 1;
    }
    step(1);
    // SAFETY: null is the valid argument.
    if unsafe { C_Finalize(null_mut()) } != CKR_CRYPTOKI_NOT_INITIALIZED {
        return 2;
    }
    step(2);
    // SAFETY: null requests default locking.
    if unsafe { C_Initialize(null_mut()) } != CKR_OK {
        return 3;
    }
    step(3);
    let Ok(s) = open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION) else {
        return 4;
    };
    step(4);
    if login(s, CKU_USER, USER_PIN) != CKR_OK {
        return 5;
    }
    step(5);
    let (Some(private), Some(public)) = (find_key(s, CKO_PRIVATE_KEY), find_key(s, CKO_PUBLIC_KEY))
    else {
        return 6;
    };
    step(6);
    let Ok(signature) = sign(s, private) else {
        return 7;
    };
    step(7);
    let mut m = mech(CKM_ECDSA_SHA256);
    if init(C_VerifyInit, s, &mut m, public) != CKR_OK || verify(s, MESSAGE, &signature) != CKR_OK {
        return 8;
    }
    step(8);
    // A token object the parent must see afterwards.
    let mark = Template::new()
        .ulong(CKA_CLASS, CKO_DATA)
        .bool(CKA_TOKEN, true)
        .bytes(CKA_LABEL, CHILD_MARK)
        .bytes(CKA_VALUE, &std::process::id().to_be_bytes());
    if create(s, mark).is_err() {
        return 9;
    }
    step(9);
    // SAFETY: null is the valid argument.
    if unsafe { C_Finalize(null_mut()) } != CKR_OK {
        return 10;
    }
    step(10);
    0
}

/// What became of one child.
enum Outcome {
    Exited(i32),
    Signalled(i32),
    Hung,
}

/// Waits for `pid` until the deadline, then kills it.
fn wait_child(pid: libc::pid_t) -> Outcome {
    let deadline = Instant::now() + CHILD_DEADLINE;
    loop {
        let mut status = 0;
        // SAFETY: a valid status out-pointer; our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return if libc::WIFEXITED(status) {
                Outcome::Exited(libc::WEXITSTATUS(status))
            } else {
                Outcome::Signalled(libc::WTERMSIG(status))
            };
        }
        assert_eq!(r, 0, "waitpid failed");
        if Instant::now() > deadline {
            if std::env::var_os("HSMSIM_FORK_GDB").is_some() {
                let _ = std::process::Command::new("gdb")
                    .args([
                        "-p",
                        &pid.to_string(),
                        "-batch",
                        "-ex",
                        "thread apply all bt",
                    ])
                    .status();
            }
            // SAFETY: our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return Outcome::Hung;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The last step a child reported on its progress pipe.
fn last_step(read_end: libc::c_int) -> u8 {
    let mut buf = [0u8; 16];
    let mut last = 0;
    loop {
        // SAFETY: reads into a valid buffer; the write ends are closed, so this ends.
        let n = unsafe { libc::read(read_end, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return last;
        }
        last = buf[n as usize - 1];
    }
}

#[test]
fn a_child_forked_while_threads_are_inside_the_module_starts_afresh() {
    let trials = env_or("HSMSIM_FORK_TRIALS", 120);
    let budget = Duration::from_secs(env_or("HSMSIM_FORK_SECONDS", 60));
    let lab = Lab::new();
    // A session that stays open keeps the parent logged in while the hammer's come and go.
    let keep = lab.user_session();
    make_key(keep);

    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let hammers: Vec<_> = (0..2)
        .map(|_| {
            let (stop, rounds) = (stop.clone(), rounds.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    hammer_once(rounds.fetch_add(1, Ordering::Relaxed));
                }
            })
        })
        .collect();

    let started = Instant::now();
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64 ^ u64::from(std::process::id());
    let mut failures = Vec::new();
    let mut done = 0;
    while done < trials && (started.elapsed() < budget || done < 10) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % 3000));
        let mut pipe = [0; 2];
        // SAFETY: a valid array of two descriptors.
        assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
        // SAFETY: the child only calls the module and async-signal-safe functions it needs
        // (write, _exit); a panic in it is caught and becomes an exit status.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: the child's copy of the read end.
            unsafe { libc::close(pipe[0]) };
            let code = std::panic::catch_unwind(|| child_steps(pipe[1])).unwrap_or(100);
            // SAFETY: ends the child without running the parent's atexit handlers or
            // unwinding into the test harness.
            unsafe { libc::_exit(i32::from(code)) };
        }
        // SAFETY: the parent's copy of the write end.
        unsafe { libc::close(pipe[1]) };
        let outcome = wait_child(pid);
        let step = last_step(pipe[0]);
        // SAFETY: our read end.
        unsafe { libc::close(pipe[0]) };
        match outcome {
            Outcome::Exited(0) => {}
            Outcome::Exited(code) => {
                failures.push(format!("trial {done}: the child failed at step {code}"))
            }
            Outcome::Signalled(sig) => failures.push(format!(
                "trial {done}: the child died of signal {sig} after step {step}"
            )),
            Outcome::Hung => failures.push(format!(
                "trial {done}: the child hung after step {step} (killed after {CHILD_DEADLINE:?})"
            )),
        }
        done += 1;
        if failures.len() >= 3 {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for h in hammers {
        h.join().unwrap();
    }
    eprintln!(
        "{done} forks in {:.1?}, {} hammer rounds",
        started.elapsed(),
        rounds.load(Ordering::Relaxed)
    );
    assert!(
        failures.is_empty(),
        "{} of {done} children failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The parent carries on (its store connection was closed for each fork and reopened),
    // and sees every child's token object.
    assert!(find_key(keep, CKO_PRIVATE_KEY).is_some());
    let marks = find(keep, Template::new().bytes(CKA_LABEL, CHILD_MARK));
    assert_eq!(marks.len(), done as usize, "one object per child");
}
