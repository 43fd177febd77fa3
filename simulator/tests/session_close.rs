//! Through the C ABI: closing sessions in bulk (`C_CloseAllSessions`, `C_CloseSession` one by
//! one, `C_Finalize`) with thousands of sessions open, many owning session objects under the
//! same label: every session of the slot is gone, its session objects destroyed and the slot
//! logged out, while another slot's sessions, objects and login stay. (Its cost, O(1) per
//! session, is measured against SoftHSMv2 by the store benchmark.)
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::ptr::null_mut;

const LAB: &str = r#"
[lab]
name = "session-close"

[[device]]
name = "soft"
kind = "soft"
  [[device.partition]]
  name = "a"
  label = "a"
  so_pin = "87654321"
  user_pin = "12345678"
  [[device.partition]]
  name = "b"
  label = "b"
  so_pin = "87654321"
  user_pin = "12345678"

[[host]]
name = "h"
slot = [{ id = 0, partition = "soft/a" }, { id = 1, partition = "soft/b" }]
"#;

/// Sessions opened on slot 0 (every third one read-only; every other one owns a session
/// object, all labelled alike).
const MANY: usize = 3000;
const LABEL: &[u8] = b"per-session";

fn session_info(s: CK_SESSION_HANDLE) -> Result<CK_SESSION_INFO, CK_RV> {
    let mut info = CK_SESSION_INFO {
        slotID: 0,
        state: 0,
        flags: 0,
        ulDeviceError: 0,
    };
    // SAFETY: a valid out-pointer.
    match unsafe { C_GetSessionInfo(s, &mut info) } {
        CKR_OK => Ok(info),
        rv => Err(rv),
    }
}

fn session_object(s: CK_SESSION_HANDLE, private: bool) -> CK_OBJECT_HANDLE {
    create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_PRIVATE, private)
            .bytes(CKA_LABEL, LABEL),
    )
    .expect("a session object")
}

/// Opens the sessions: slot 0's many (logged in as the user) and slot 1's few (logged in).
fn open_all() -> (Vec<CK_SESSION_HANDLE>, Vec<CK_SESSION_HANDLE>) {
    let mut zero = Vec::new();
    for i in 0..MANY {
        let flags = CKF_SERIAL_SESSION | if i % 3 == 2 { 0 } else { CKF_RW_SESSION };
        let s = open_session(0, flags).unwrap();
        if i == 0 {
            assert_eq!(login(s, CKU_USER, USER_PIN), CKR_OK);
        }
        if i % 2 == 0 {
            session_object(s, i % 4 == 0);
        }
        zero.push(s);
    }
    let one: Vec<_> = (0..3)
        .map(|_| open_session(1, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap())
        .collect();
    assert_eq!(login(one[0], CKU_USER, USER_PIN), CKR_OK);
    for s in &one {
        session_object(*s, true);
    }
    let info = token_info(0);
    assert_eq!(info.ulSessionCount as usize, MANY);
    assert_eq!(info.ulRwSessionCount as usize, MANY - MANY / 3);
    (zero, one)
}

/// Slot 1 is untouched: its three sessions, their three objects, its login.
fn assert_slot_one_intact(one: &[CK_SESSION_HANDLE]) {
    for s in one {
        let info = session_info(*s).expect("slot 1's session is open");
        assert_eq!(info.slotID, 1);
        assert_eq!(info.state, CKS_RW_USER_FUNCTIONS);
    }
    assert_eq!(
        find(one[1], Template::new().bytes(CKA_LABEL, LABEL)).len(),
        3
    );
    let info = token_info(1);
    assert_eq!((info.ulSessionCount, info.ulRwSessionCount), (3, 3));
}

/// Slot 0 has no session, no session object, nobody logged in.
fn assert_slot_zero_empty(zero: &[CK_SESSION_HANDLE]) {
    for s in zero {
        assert_eq!(session_info(*s).unwrap_err(), CKR_SESSION_HANDLE_INVALID);
    }
    let info = token_info(0);
    assert_eq!((info.ulSessionCount, info.ulRwSessionCount), (0, 0));
    let s = open_session(0, CKF_SERIAL_SESSION).unwrap();
    assert_eq!(session_info(s).unwrap().state, CKS_RO_PUBLIC_SESSION);
    assert_eq!(login(s, CKU_USER, USER_PIN), CKR_OK);
    assert!(
        find(s, Template::new().bytes(CKA_LABEL, LABEL)).is_empty(),
        "the closed sessions' objects are destroyed"
    );
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_CloseSession(s) }, CKR_OK);
}

#[test]
fn close_all_sessions_closes_every_session_of_the_slot_and_only_those() {
    let _lab = TextLab::new(LAB);
    let (zero, one) = open_all();
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_CloseAllSessions(0) }, CKR_OK);
    assert_slot_zero_empty(&zero);
    assert_slot_one_intact(&one);
    // Nothing left to close on slot 0; a slot that does not exist is refused.
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_CloseAllSessions(0) }, CKR_OK);
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_CloseAllSessions(7) }, CKR_SLOT_ID_INVALID);
    assert_slot_one_intact(&one);
}

#[test]
fn closing_sessions_one_by_one_logs_out_with_the_last() {
    let _lab = TextLab::new(LAB);
    let (zero, one) = open_all();
    // Newest first, then the rest in order: the login lasts until the last one closes.
    let (last, rest) = zero.split_first().unwrap();
    for s in rest.iter().rev() {
        // SAFETY: no pointers.
        assert_eq!(unsafe { C_CloseSession(*s) }, CKR_OK);
        // SAFETY: no pointers.
        assert_eq!(unsafe { C_CloseSession(*s) }, CKR_SESSION_HANDLE_INVALID);
    }
    assert_eq!(session_info(*last).unwrap().state, CKS_RW_USER_FUNCTIONS);
    let info = token_info(0);
    assert_eq!((info.ulSessionCount, info.ulRwSessionCount), (1, 1));
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_CloseSession(*last) }, CKR_OK);
    assert_slot_zero_empty(&zero);
    assert_slot_one_intact(&one);
}

#[test]
fn finalize_closes_every_session() {
    let lab = TextLab::new(LAB);
    let (zero, one) = open_all();
    // SAFETY: null is the valid argument.
    assert_eq!(unsafe { C_Finalize(null_mut()) }, CKR_OK);
    lab.reload(LAB);
    for s in zero.iter().chain(&one) {
        assert_eq!(session_info(*s).unwrap_err(), CKR_SESSION_HANDLE_INVALID);
    }
    assert_slot_zero_empty(&zero);
    let info = token_info(1);
    assert_eq!(info.ulSessionCount, 0);
}

#[test]
fn counts_stay_exact_while_threads_open_and_close_and_all_are_closed() {
    let _lab = TextLab::new(LAB);
    let workers: Vec<_> = (0..2)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..1500 {
                    let rw = (i + t) % 2 == 0;
                    let flags = CKF_SERIAL_SESSION | if rw { CKF_RW_SESSION } else { 0 };
                    let s = open_session(0, flags).unwrap();
                    if i % 3 == 0 {
                        // Closed meanwhile by C_CloseAllSessions: refused, nothing else.
                        let _ = create(
                            s,
                            Template::new()
                                .ulong(CKA_CLASS, CKO_DATA)
                                .bytes(CKA_LABEL, LABEL),
                        );
                    }
                    // SAFETY: no pointers.
                    let rv = unsafe { C_CloseSession(s) };
                    assert!(rv == CKR_OK || rv == CKR_SESSION_HANDLE_INVALID, "{rv:#x}");
                }
            })
        })
        .collect();
    while !workers.iter().all(|w| w.is_finished()) {
        // SAFETY: no pointers.
        assert_eq!(unsafe { C_CloseAllSessions(0) }, CKR_OK);
        std::thread::yield_now();
    }
    for w in workers {
        w.join().unwrap();
    }
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_CloseAllSessions(0) }, CKR_OK);
    let info = token_info(0);
    assert_eq!((info.ulSessionCount, info.ulRwSessionCount), (0, 0));
    let opened: Vec<_> = (0..5)
        .map(|i| {
            open_session(
                0,
                CKF_SERIAL_SESSION | if i < 2 { CKF_RW_SESSION } else { 0 },
            )
        })
        .collect();
    let info = token_info(0);
    assert_eq!((info.ulSessionCount, info.ulRwSessionCount), (5, 2));
    for s in opened {
        // SAFETY: no pointers.
        assert_eq!(unsafe { C_CloseSession(s.unwrap()) }, CKR_OK);
    }
    assert_slot_zero_empty(&[]);
}
