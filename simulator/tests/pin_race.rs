//! A PIN change or a login racing `C_InitToken` in another process (issue 10, item 4). Process
//! A holds a session on the token (with a token key it created) and runs `C_SetPIN` (logged in,
//! or in a public session), `C_Login` or `C_CreateObject`; at the same moment process B
//! re-initialises the token. Whatever the interleaving, the new token must have no user PIN
//! (neither the old one nor the one A was setting opens it) and no object, A's session must be
//! closed and A's key unusable once B's `C_InitToken` has returned, and the store must check
//! sound (no PIN seal of another token generation). A's call itself succeeds (it came first) or answers `CKR_SESSION_CLOSED` (the
//! token was replaced during it) or `CKR_SESSION_HANDLE_INVALID` (before it). Hundreds of trials with a random offset between the two calls; bounded by
//! `HSMSIM_PIN_RACE_TRIALS` (default 300) and `HSMSIM_PIN_RACE_SECONDS` (default 120).
mod common;
mod procs;

use cryptoki_sys::*;
use procs::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[test]
fn worker() {
    let Some(role) = role() else { return };
    match role.as_str() {
        "rpc" => serve_rpc(),
        other => panic!("unknown worker role {other}"),
    }
}

const OLD_PIN: &[u8] = USER_PIN;
const NEW_PIN: &[u8] = b"a-new-user-pin";
const IV: [u8; 16] = *b"pin-race-iv-16b!";
/// The cost of PIN seals in the workers: the pre-fix default, so the race windows (two key
/// derivations on each side) are as wide as in the reported trials.
const KDF_ITERATIONS: &str = "10000";

#[derive(Clone, Copy, Debug)]
enum Racer {
    /// `C_SetPIN` while logged in as the user.
    SetPinLoggedIn,
    /// `C_SetPIN` in a public session (changes the user's PIN).
    SetPinPublic,
    /// `C_Login` as the user.
    Login,
    /// `C_CreateObject` of a token key while logged in (its value sealed under the token key).
    Create,
}

/// A's state before a trial: a fresh module, a R/W session, a token AES key created while
/// logged in, and logged in or not as the variant needs.
fn prepare_a(a: &mut Proc, racer: Racer, trial: usize) -> (CK_SESSION_HANDLE, CK_OBJECT_HANDLE) {
    // A fresh module each trial, whatever the previous one left behind.
    let _ = a.finalize();
    assert_eq!(a.init(), CKR_OK, "A: C_Initialize");
    let s = a.user_session(0);
    let key = a
        .create(s, &token_key(&format!("race-key-{trial}")))
        .unwrap_or_else(|rv| panic!("A: C_CreateObject answered {}", rv_name(rv)));
    if !matches!(racer, Racer::SetPinLoggedIn | Racer::Create) {
        assert_eq!(a.logout(s), CKR_OK, "A: C_Logout");
    }
    (s, key)
}

fn token_key(label: &str) -> Tpl {
    Tpl::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .bool(CKA_TOKEN, true)
        .bool(CKA_PRIVATE, true)
        .bytes(CKA_LABEL, label.as_bytes())
        .bytes(CKA_VALUE, &expand(label.as_bytes(), 32))
        .bool(CKA_ENCRYPT, true)
}

/// B gives the (re-initialised) token its user PIN again, then holds no session.
fn restore_user_pin(b: &mut Proc) {
    let s = b
        .open(0, true)
        .unwrap_or_else(|rv| panic!("B: C_OpenSession answered {}", rv_name(rv)));
    assert_eq!(b.login(s, CKU_SO, SO_PIN), CKR_OK, "B: C_Login(SO)");
    assert_eq!(b.init_pin(s, OLD_PIN), CKR_OK, "B: C_InitPIN");
    assert_eq!(b.logout(s), CKR_OK, "B: C_Logout");
    assert_eq!(b.close(s), CKR_OK, "B: C_CloseSession");
}

#[test]
fn pin_changes_and_logins_racing_init_token_never_reach_the_new_token() {
    let _g = scenario();
    let dir = tempfile::tempdir().unwrap();
    let env = [("HSMSIM_PIN_KDF_ITERATIONS", KDF_ITERATIONS.to_string())];
    let mut a = Proc::spawn("A", "rpc", dir.path(), "default", &env);
    let mut b = Proc::spawn("B", "rpc", dir.path(), "default", &env);
    assert_eq!(b.init(), CKR_OK, "B: C_Initialize");
    let trials: usize = env_or("HSMSIM_PIN_RACE_TRIALS", 300);
    let deadline = Instant::now() + Duration::from_secs(env_or("HSMSIM_PIN_RACE_SECONDS", 120));
    let mut rng = Rng::new(0x9171);
    // What went wrong, by kind: the trials it happened in.
    let mut wrong: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut note = |what: String, trial: usize| wrong.entry(what).or_default().push(trial);
    let mut ran = 0;
    let mut a_succeeded = 0;
    let mut a_answers: BTreeMap<String, usize> = BTreeMap::new();
    for trial in 0..trials {
        if Instant::now() >= deadline {
            break;
        }
        let racer = [
            Racer::SetPinLoggedIn,
            Racer::SetPinPublic,
            Racer::Login,
            Racer::Create,
        ][trial % 4];
        let (sa, key) = prepare_a(&mut a, racer, trial);
        let cmd_a = match racer {
            Racer::SetPinLoggedIn | Racer::SetPinPublic => {
                format!("setpin {sa} {} {}", hex(OLD_PIN), hex(NEW_PIN))
            }
            Racer::Login => format!("login {sa} {CKU_USER} {}", hex(OLD_PIN)),
            Racer::Create => format!(
                "create {sa} {}",
                token_key(&format!("racing-key-{trial}")).encode()
            ),
        };
        let label = format!("{:<32}", format!("race-{trial}"));
        let cmd_b = format!("inittoken 0 {} {}", hex(SO_PIN), hex(label.as_bytes()));
        // Either call first, the other after 0 to 8 ms.
        let gap = Duration::from_micros(rng.below(8_000));
        let a_first = rng.percent(50);
        if a_first {
            a.send(&cmd_a);
            std::thread::sleep(gap);
            b.send(&cmd_b);
        } else {
            b.send(&cmd_b);
            std::thread::sleep(gap);
            a.send(&cmd_a);
        }
        let rv_a = a.reply(&cmd_a).rv;
        let rv_b = b.reply(&cmd_b).rv;
        ran += 1;
        *a_answers
            .entry(format!("{racer:?}: {}", rv_name(rv_a)))
            .or_default() += 1;
        if ![CKR_OK, CKR_SESSION_CLOSED, CKR_SESSION_HANDLE_INVALID].contains(&rv_a) {
            note(format!("A's {racer:?} answered {}", rv_name(rv_a)), trial);
        }
        if rv_a == CKR_OK {
            a_succeeded += 1;
        }
        if rv_b != CKR_OK {
            note(format!("B's C_InitToken answered {}", rv_name(rv_b)), trial);
        }

        // The new token as B (no session of its own) sees it.
        let (flags, _) = b.token_info(0).expect("B: C_GetTokenInfo");
        if flags & CKF_USER_PIN_INITIALIZED != 0 {
            note("the new token shows CKF_USER_PIN_INITIALIZED".into(), trial);
        }
        let s = b.open(0, true).expect("B: C_OpenSession");
        for (pin, what) in [(OLD_PIN, "the old user PIN"), (NEW_PIN, "the PIN A set")] {
            if b.login(s, CKU_USER, pin) == CKR_OK {
                note(format!("the new token accepts {what}"), trial);
                let _ = b.logout(s);
            }
        }
        assert_eq!(b.close(s), CKR_OK, "B: C_CloseSession");

        // A, after B's C_InitToken returned: its session and key are gone.
        match a.crypt(
            Op::Encrypt,
            sa,
            CKM_AES_CBC_PAD,
            &IV,
            key,
            b"after C_InitToken",
        ) {
            Ok(_) => note("A encrypts with a key C_InitToken destroyed".into(), trial),
            Err((_, rv)) if rv != CKR_SESSION_HANDLE_INVALID => note(
                format!("A's encryption on its old session answered {}", rv_name(rv)),
                trial,
            ),
            Err(_) => {}
        }
        if a.close(sa) != CKR_SESSION_HANDLE_INVALID {
            note("A's session survived C_InitToken".into(), trial);
        }
        let (flags, _) = a.token_info(0).expect("A: C_GetTokenInfo");
        if flags & CKF_USER_PIN_INITIALIZED != 0 {
            note(
                "A sees CKF_USER_PIN_INITIALIZED on the new token".into(),
                trial,
            );
        }

        // `hsmsim lab check` on the result, and no object of A's on the new token.
        let store = hsmsim::store::Store::open(dir.path()).expect("the store opens");
        let left = store
            .objects(&"hsm1/default".parse().unwrap())
            .expect("the store lists objects");
        if !left.is_empty() {
            note(
                format!("{} object(s) of the old token on the new one", left.len()),
                trial,
            );
        }
        let problems = store.check().expect("the store checks");
        if !problems.is_empty() {
            note(format!("lab check: {}", problems.join("; ")), trial);
        }
        drop(store);

        restore_user_pin(&mut b);
    }
    assert!(ran >= 30, "only {ran} trials ran before the time limit");
    // The offsets covered both orders: A's call finished first in some trials, B's in others.
    assert!(
        a_succeeded > 0 && a_succeeded < ran,
        "A's call succeeded in {a_succeeded} of {ran} trials: the calls never raced ({a_answers:?})"
    );
    let report: Vec<String> = wrong
        .iter()
        .map(|(what, at)| {
            format!(
                "  {what}: {} of {ran} trials ({:.0} %), first in trials {:?}",
                at.len(),
                100.0 * at.len() as f64 / ran as f64,
                &at[..at.len().min(8)]
            )
        })
        .collect();
    eprintln!("{ran} trials; A's answers: {a_answers:?}");
    assert!(
        wrong.is_empty(),
        "C_SetPIN / C_Login racing C_InitToken in {ran} trials:\n{}\nA's answers: {a_answers:?}",
        report.join("\n")
    );
}

/// Operations begun before another process re-initialises the token end with their sessions:
/// the next call on them answers `CKR_SESSION_HANDLE_INVALID`, even a call that continues an
/// operation (which reads no token state of its own).
#[test]
fn operations_begun_before_another_process_reinitialises_the_token_cannot_go_on() {
    use common::*;
    use hsmsim::pkcs11::*;
    let lab = TextLab::new(hsmsim::lab::built_in_text("default").unwrap());
    let rw = CKF_SERIAL_SESSION | CKF_RW_SESSION;
    let s1 = open_session(0, rw).unwrap();
    assert_eq!(login(s1, CKU_USER, USER_PIN), CKR_OK);
    let key = aes_key(s1, |t| {
        t.bool(CKA_TOKEN, true)
            .bool(CKA_ENCRYPT, true)
            .bool(CKA_SIGN, true)
    });
    let s2 = open_session(0, rw).unwrap();
    let s3 = open_session(0, rw).unwrap();
    let mut iv = IV;
    let mut cbc = mech_with(CKM_AES_CBC_PAD, &mut iv);
    assert_eq!(init(C_EncryptInit, s1, &mut cbc, key), CKR_OK);
    assert!(produce(C_EncryptUpdate, s1, &[7; 32]).is_ok());
    assert_eq!(init(C_SignInit, s2, &mut mech(CKM_AES_CMAC), key), CKR_OK);
    assert_eq!(update(C_SignUpdate, s2, b"part one"), CKR_OK);
    let mut cbc = mech_with(CKM_AES_CBC_PAD, &mut iv);
    assert_eq!(init(C_EncryptInit, s3, &mut cbc, key), CKR_OK);

    let other = lab.other_process();
    other
        .init_token(0, SO_PIN, b"replaced by another process")
        .expect("the other process re-initialises the token");

    assert_eq!(
        produce(C_EncryptUpdate, s1, &[7; 32]),
        Err(CKR_SESSION_HANDLE_INVALID),
        "C_EncryptUpdate with a key C_InitToken destroyed"
    );
    assert_eq!(
        update(C_SignUpdate, s2, b"part two"),
        CKR_SESSION_HANDLE_INVALID,
        "C_SignUpdate with a key C_InitToken destroyed"
    );
    assert_eq!(
        produce(C_Encrypt, s3, b"one-shot"),
        Err(CKR_SESSION_HANDLE_INVALID),
        "C_Encrypt with a key C_InitToken destroyed"
    );
    let info = token_info(0);
    assert_eq!(
        info.ulSessionCount, 0,
        "no session is left on the new token"
    );
    assert_eq!(info.flags & CKF_USER_PIN_INITIALIZED, 0);
}
