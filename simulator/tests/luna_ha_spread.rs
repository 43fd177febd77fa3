//! Sessions on a Luna HA virtual slot spread over the live members (issue 13 item 3), through
//! the C ABI and the estate API: each new session is given the next live, synchronised
//! active member in turn, and its reads and operations use that member's copies (seen in the
//! `CKA_UNIQUE_ID` a session reads: each member's copy has its own, under the same handle);
//! a failed member's sessions move to a live one while the others keep theirs, signing going
//! on in several threads; a recovered member that missed writes gets no sessions until the
//! group is synchronised.
mod common;
#[path = "ha/web_ha.rs"]
mod web_ha;

use common::*;
use cryptoki_sys::*;
use hsmsim::estate;
use hsmsim::pkcs11::*;
use web_ha::*;

const WEB1: CK_SLOT_ID = 0;
const WEB2: CK_SLOT_ID = 1;

/// The `CKA_UNIQUE_ID` session `s` reads for the object labelled `label`.
fn unique_id(s: CK_SESSION_HANDLE, label: &str) -> Vec<u8> {
    let found = find(s, Template::new().bytes(CKA_LABEL, label.as_bytes()));
    assert_eq!(found.len(), 1, "one object labelled {label}");
    get_attr(s, found[0], CKA_UNIQUE_ID).unwrap()
}

/// Which member's copy of `label` session `s` reads: the physical slot holding it.
fn served_by(s: CK_SESSION_HANDLE, label: &str, members: &[(CK_SLOT_ID, Vec<u8>)]) -> CK_SLOT_ID {
    let uid = unique_id(s, label);
    members
        .iter()
        .find(|(_, u)| *u == uid)
        .map(|(slot, _)| *slot)
        .unwrap_or_else(|| panic!("session {s} reads a copy no member holds"))
}

/// Each member's unique id of `label`, read on its physical slot.
fn member_ids(label: &str) -> Vec<(CK_SLOT_ID, Vec<u8>)> {
    [WEB1, WEB2]
        .into_iter()
        .map(|slot| {
            let s = user_session_on(slot, CO.as_bytes());
            let uid = unique_id(s, label);
            // SAFETY: a session handle this test opened.
            assert_eq!(unsafe { C_CloseSession(s) }, CKR_OK);
            (slot, uid)
        })
        .collect()
}

fn ha_session() -> CK_SESSION_HANDLE {
    open_session(HA, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap()
}

/// A token AES key labelled "k" made on the HA slot (on every member), with the session
/// that made it (logged in).
fn key_on_every_member() -> CK_SESSION_HANDLE {
    let s = user_session_on(HA, CO.as_bytes());
    aes_key(s, |t| {
        t.bool(CKA_TOKEN, true)
            .bool(CKA_ENCRYPT, true)
            .bytes(CKA_LABEL, b"k")
    });
    s
}

fn encrypts(s: CK_SESSION_HANDLE) -> bool {
    let key = find(s, Template::new().bytes(CKA_LABEL, b"k"))[0];
    let mut m = mech(CKM_AES_ECB);
    init(C_EncryptInit, s, &mut m, key) == CKR_OK && produce(C_Encrypt, s, &[7u8; 16]).is_ok()
}

#[test]
fn sessions_on_the_ha_slot_are_spread_over_the_members() {
    let _lab = TextLab::new(&lab_text());
    let first = key_on_every_member();
    let members = member_ids("k");
    assert_ne!(
        members[0].1, members[1].1,
        "each member's copy has its own id"
    );
    let (second, third) = (ha_session(), ha_session());
    let served: Vec<CK_SLOT_ID> = [first, second, third]
        .iter()
        .map(|s| served_by(*s, "k", &members))
        .collect();
    // In turn: consecutive sessions are served by different members.
    assert_ne!(served[0], served[1]);
    assert_ne!(served[1], served[2]);
    // The handle is the same whichever member serves; each session uses its member's copy.
    let handles: Vec<_> = [first, second, third]
        .iter()
        .map(|s| find(*s, Template::new().bytes(CKA_LABEL, b"k")))
        .collect();
    assert!(handles.windows(2).all(|w| w[0] == w[1]));
    for s in [first, second, third] {
        assert!(encrypts(s), "session {s} encrypts with its member's copy");
        // A find by the unique id the session reads finds the object.
        let uid = unique_id(s, "k");
        assert_eq!(
            find(s, Template::new().bytes(CKA_UNIQUE_ID, &uid)),
            handles[0]
        );
    }
    // A write through a session of the second member still reaches every member at once.
    let written_by = served[1];
    let other = if written_by == WEB1 { WEB2 } else { WEB1 };
    aes_key(second, |t| t.bool(CKA_TOKEN, true).bytes(CKA_LABEL, b"k2"));
    let k2 = member_ids("k2");
    assert_ne!(k2[0].1, k2[1].1);
    assert_eq!(served_by(second, "k2", &k2), written_by);
    let on_other = [first, second, third]
        .into_iter()
        .find(|s| served_by(*s, "k", &members) == other)
        .unwrap();
    assert_eq!(served_by(on_other, "k2", &k2), other);
}

#[test]
fn only_the_failed_members_sessions_move() {
    let lab = TextLab::new(&lab_text());
    let selection = lab.selection();
    let first = key_on_every_member();
    let members = member_ids("k");
    let sessions = [first, ha_session(), ha_session(), ha_session()];
    let before: Vec<CK_SLOT_ID> = sessions
        .iter()
        .map(|s| served_by(*s, "k", &members))
        .collect();
    assert!(before.contains(&WEB1) && before.contains(&WEB2));
    // web2's device fails: its sessions move to web1, web1's keep it.
    estate::fail_device(&selection, &device("sa-b")).unwrap();
    for (s, was) in sessions.iter().zip(&before) {
        assert_eq!(
            served_by(*s, "k", &members),
            WEB1,
            "session {s} (was {was})"
        );
        assert!(encrypts(*s));
    }
    // web2 comes back in sync (nothing was written meanwhile): the moved sessions stay on
    // web1, new sessions are spread again.
    estate::recover_device(&selection, &device("sa-b")).unwrap();
    for s in sessions {
        assert_eq!(served_by(s, "k", &members), WEB1);
    }
    let new: Vec<CK_SLOT_ID> = (0..2)
        .map(|_| served_by(ha_session(), "k", &members))
        .collect();
    assert!(
        new.contains(&WEB2),
        "the recovered member takes new sessions: {new:?}"
    );
    // Now web1 fails: every session of the HA slot moves to web2 and goes on.
    estate::fail_device(&selection, &device("sa-a")).unwrap();
    for s in sessions {
        assert_eq!(served_by(s, "k", &members), WEB2);
        assert!(encrypts(s));
    }
}

#[test]
fn a_recovered_member_that_missed_writes_gets_no_sessions_until_synchronised() {
    let lab = TextLab::new(&lab_text());
    let selection = lab.selection();
    let first = key_on_every_member();
    let members = member_ids("k");
    estate::fail_device(&selection, &device("sa-a")).unwrap();
    // A write web1 misses.
    aes_key(first, |t| {
        t.bool(CKA_TOKEN, true).bytes(CKA_LABEL, b"missed")
    });
    estate::recover_device(&selection, &device("sa-a")).unwrap();
    assert!(
        estate::ha_groups::group_status(&selection, "web-ha")
            .unwrap()
            .needs_sync
    );
    // Back and live, but out of sync: every new session is web2's.
    for _ in 0..4 {
        let s = ha_session();
        assert_eq!(served_by(s, "k", &members), WEB2);
        assert_eq!(
            find(s, Template::new().bytes(CKA_LABEL, b"missed")).len(),
            1
        );
    }
    // Synchronised, web1 takes new sessions again (and holds the object it missed).
    estate::ha_groups::synchronise(&selection, "web-ha", CO).unwrap();
    let served: Vec<CK_SLOT_ID> = (0..2)
        .map(|_| served_by(ha_session(), "k", &members))
        .collect();
    assert!(served.contains(&WEB1), "{served:?}");
    let on_web1 = (0..2)
        .map(|_| ha_session())
        .find(|s| served_by(*s, "k", &members) == WEB1)
        .unwrap();
    let missed = member_ids("missed");
    assert_eq!(served_by(on_web1, "missed", &missed), WEB1);
}

#[test]
fn signing_in_several_threads_goes_on_when_a_sessions_member_fails() {
    let lab = TextLab::new(&lab_text());
    let selection = lab.selection();
    let first = user_session_on(HA, CO.as_bytes());
    let (_, private) = generate_key_pair(
        first,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        Template::new()
            .ulong(CKA_MODULUS_BITS, 2048)
            .bool(CKA_TOKEN, true)
            .bool(CKA_VERIFY, true)
            .bytes(CKA_LABEL, b"rsa"),
        Template::new()
            .bool(CKA_TOKEN, true)
            .bool(CKA_SIGN, true)
            .bytes(CKA_LABEL, b"rsa-private"),
    )
    .unwrap();
    let members = member_ids("rsa-private");
    // Four signing threads, each on its own HA session: spread over both members.
    let sessions: Vec<CK_SESSION_HANDLE> = std::iter::once(first)
        .chain((0..3).map(|_| ha_session()))
        .collect();
    let before: Vec<CK_SLOT_ID> = sessions
        .iter()
        .map(|s| served_by(*s, "rsa-private", &members))
        .collect();
    assert!(
        before.contains(&WEB1) && before.contains(&WEB2),
        "{before:?}"
    );
    let signers = Signers::start(&sessions, private);
    signers.wait_for(8);
    estate::fail_device(&selection, &device("sa-a")).unwrap();
    let after_failure = signers.signed();
    signers.wait_for(after_failure + 40);
    let failures = signers.stop();
    assert!(
        failures.is_empty(),
        "every signature was made: {failures:x?}"
    );
    // Every session is web2's now.
    for s in sessions {
        assert_eq!(served_by(s, "rsa-private", &members), WEB2);
    }
}
