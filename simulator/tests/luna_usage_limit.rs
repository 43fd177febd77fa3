//! Luna's key usage limit through the C ABI (issue 13 item 4): `CKA_USAGE_LIMIT` set at
//! creation or later, `CKA_USAGE_COUNT` counting each operation started with the key and
//! read-only, `CKR_KEY_NOT_ACTIVE` once the limit is reached (the count stays), the count kept
//! across engines (a restarted module) and shared by processes (two processes using a key of
//! limit N get exactly N uses together), and neither attribute on a non-Luna slot. On an HA
//! slot: luna_ha.rs.
mod common;
mod procs;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use procs::{Op, Proc, Tpl, hex, role, rv_name, scenario, serve_rpc, ulong_of};

const CKA_USAGE_COUNT: CK_ATTRIBUTE_TYPE = 0x8000_0101;
const CKA_USAGE_LIMIT: CK_ATTRIBUTE_TYPE = 0x8000_0200;
const CKR_KEY_NOT_ACTIVE: CK_RV = 0x8000_0136;

const CO: &[u8] = b"co-pin-0001";

/// Slot 0 a Luna 7.4.2 partition, slot 1 a soft token.
const LAB: &str = r#"
[lab]
name = "usage-limit"

[[device]]
name = "sa7"
kind = "luna-network"
firmware = "7.4.2"
  [[device.partition]]
  name = "app"
  label = "app"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"

[[device]]
name = "soft"
kind = "soft"
  [[device.partition]]
  name = "t"
  label = "soft"
  so_pin = "so-pin-0001"
  user_pin = "co-pin-0001"

[[host]]
name = "client"
slot = [
  { id = 0, partition = "sa7/app" },
  { id = 1, partition = "soft/t" },
]
"#;

#[test]
fn worker() {
    let Some(role) = role() else { return };
    match role.as_str() {
        "rpc" => serve_rpc(),
        other => panic!("unknown worker role {other}"),
    }
}

fn co_session(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    let s = open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    s
}

fn ulong_attr(s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, t: CK_ATTRIBUTE_TYPE) -> CK_ULONG {
    let bytes = get_attr(s, o, t).unwrap_or_else(|(rv, _)| panic!("attribute 0x{t:X}: {rv:#x}"));
    CK_ULONG::from_ne_bytes(bytes.try_into().unwrap())
}

fn set_attr(s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, t: Template) -> CK_RV {
    let mut t = t;
    let mut raw = t.raw();
    // SAFETY: the template is valid for the call.
    unsafe { C_SetAttributeValue(s, o, raw.as_mut_ptr(), raw.len() as CK_ULONG) }
}

fn encrypt_once(s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> CK_RV {
    let mut m = mech(CKM_AES_ECB);
    let rv = init(C_EncryptInit, s, &mut m, key);
    if rv != CKR_OK {
        return rv;
    }
    produce(C_Encrypt, s, &[7u8; 32]).err().unwrap_or(CKR_OK)
}

fn sign_once(s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> CK_RV {
    let mut m = mech(CKM_SHA256_RSA_PKCS);
    let rv = init(C_SignInit, s, &mut m, key);
    if rv != CKR_OK {
        return rv;
    }
    produce(C_Sign, s, b"limited").err().unwrap_or(CKR_OK)
}

#[test]
fn a_key_answers_key_not_active_at_its_limit_and_its_count_stays() {
    let _lab = TextLab::new(LAB);
    let s = co_session(0);
    let key = aes_key(s, |t| t.ulong(CKA_USAGE_LIMIT, 3));
    assert_eq!(ulong_attr(s, key, CKA_USAGE_LIMIT), 3);
    assert_eq!(
        ulong_attr(s, key, CKA_USAGE_COUNT),
        0,
        "the count starts at 0"
    );
    for n in 1..=3 {
        assert_eq!(encrypt_once(s, key), CKR_OK, "use {n}");
        assert_eq!(ulong_attr(s, key, CKA_USAGE_COUNT), n);
    }
    assert_eq!(encrypt_once(s, key), CKR_KEY_NOT_ACTIVE);
    assert_eq!(
        ulong_attr(s, key, CKA_USAGE_COUNT),
        3,
        "a refused use is not counted"
    );
    // Raising the limit later keeps the count; lowering it to the count stops the key again.
    assert_eq!(
        set_attr(s, key, Template::new().ulong(CKA_USAGE_LIMIT, 4)),
        CKR_OK
    );
    assert_eq!(encrypt_once(s, key), CKR_OK);
    assert_eq!(encrypt_once(s, key), CKR_KEY_NOT_ACTIVE);
    assert_eq!(ulong_attr(s, key, CKA_USAGE_COUNT), 4);

    // A limit set after creation on a private key counts its signatures (pycryptoki's
    // "setattr" case); keys without a limit have no count.
    let (public, private) = rsa_pair(s, 2048);
    assert_eq!(
        get_attr(s, private, CKA_USAGE_COUNT).unwrap_err().0,
        CKR_ATTRIBUTE_TYPE_INVALID
    );
    assert_eq!(sign_once(s, private), CKR_OK, "no limit yet");
    assert_eq!(
        set_attr(s, private, Template::new().ulong(CKA_USAGE_LIMIT, 2)),
        CKR_OK
    );
    assert_eq!(ulong_attr(s, private, CKA_USAGE_COUNT), 0);
    assert_eq!(sign_once(s, private), CKR_OK);
    assert_eq!(sign_once(s, private), CKR_OK);
    assert_eq!(sign_once(s, private), CKR_KEY_NOT_ACTIVE);
    assert_eq!(ulong_attr(s, private, CKA_USAGE_COUNT), 2);
    // The public key has no limit of its own.
    let mut m = mech(CKM_SHA256_RSA_PKCS);
    assert_eq!(init(C_VerifyInit, s, &mut m, public), CKR_OK);
    assert_eq!(verify(s, b"limited", &[0u8; 256]), CKR_SIGNATURE_INVALID);
}

#[test]
fn the_count_is_read_only_and_the_limit_within_range() {
    let _lab = TextLab::new(LAB);
    let s = co_session(0);
    let key = aes_key(s, |t| t.ulong(CKA_USAGE_LIMIT, 5));
    assert_eq!(encrypt_once(s, key), CKR_OK);
    assert_eq!(
        set_attr(s, key, Template::new().ulong(CKA_USAGE_COUNT, 0)),
        CKR_ATTRIBUTE_READ_ONLY
    );
    assert_eq!(ulong_attr(s, key, CKA_USAGE_COUNT), 1);
    let given_count = generate_key(
        s,
        CKM_AES_KEY_GEN,
        Template::new()
            .ulong(CKA_VALUE_LEN, 16)
            .ulong(CKA_USAGE_LIMIT, 5)
            .ulong(CKA_USAGE_COUNT, 0),
    );
    assert_eq!(given_count.unwrap_err(), CKR_ATTRIBUTE_READ_ONLY);
    for limit in [0, 0x1_0000_0000] {
        let rv = generate_key(
            s,
            CKM_AES_KEY_GEN,
            Template::new()
                .ulong(CKA_VALUE_LEN, 16)
                .ulong(CKA_USAGE_LIMIT, limit),
        );
        assert_eq!(
            rv.unwrap_err(),
            CKR_ATTRIBUTE_VALUE_INVALID,
            "limit {limit:#x}"
        );
    }
    assert_eq!(
        set_attr(s, key, Template::new().ulong(CKA_USAGE_LIMIT, 0)),
        CKR_ATTRIBUTE_VALUE_INVALID
    );
}

#[test]
fn a_token_keys_count_persists_in_a_second_engine() {
    let lab = TextLab::new(LAB);
    let s = co_session(0);
    let key = aes_key(s, |t| {
        t.bool(CKA_TOKEN, true)
            .bytes(CKA_LABEL, b"limited")
            .ulong(CKA_USAGE_LIMIT, 2)
    });
    assert_eq!(encrypt_once(s, key), CKR_OK);
    lab.reload(LAB);
    let s = co_session(0);
    let found = find(s, Template::new().bytes(CKA_LABEL, b"limited"));
    assert_eq!(found.len(), 1);
    let key = found[0];
    assert_eq!(
        ulong_attr(s, key, CKA_USAGE_COUNT),
        1,
        "the count survived the restart"
    );
    assert_eq!(encrypt_once(s, key), CKR_OK);
    assert_eq!(encrypt_once(s, key), CKR_KEY_NOT_ACTIVE);
    lab.reload(LAB);
    let s = co_session(0);
    let key = find(s, Template::new().bytes(CKA_LABEL, b"limited"))[0];
    assert_eq!(ulong_attr(s, key, CKA_USAGE_COUNT), 2);
    assert_eq!(encrypt_once(s, key), CKR_KEY_NOT_ACTIVE);
}

#[test]
fn a_non_luna_slot_does_not_know_the_attributes() {
    let _lab = TextLab::new(LAB);
    let s = co_session(1);
    let rv = generate_key(
        s,
        CKM_AES_KEY_GEN,
        Template::new()
            .ulong(CKA_VALUE_LEN, 16)
            .ulong(CKA_USAGE_LIMIT, 5),
    );
    assert_eq!(rv.unwrap_err(), CKR_ATTRIBUTE_TYPE_INVALID);
    let key = aes_key(s, |t| t);
    for t in [CKA_USAGE_LIMIT, CKA_USAGE_COUNT] {
        assert_eq!(
            get_attr(s, key, t).unwrap_err().0,
            CKR_ATTRIBUTE_TYPE_INVALID
        );
        assert_eq!(
            set_attr(s, key, Template::new().ulong(t, 5)),
            CKR_ATTRIBUTE_TYPE_INVALID
        );
    }
    assert_eq!(encrypt_once(s, key), CKR_OK);
}

/// Two processes encrypt with the same token key (limit 25) in lock-step, 20 attempts each:
/// exactly 25 succeed, the rest answer `CKR_KEY_NOT_ACTIVE`, and both see the count 25.
#[test]
fn two_processes_share_a_limit_and_get_exactly_its_uses() {
    const LIMIT: CK_ULONG = 25;
    const CO_PIN: &[u8] = b"CO-sa6-2020";
    let _g = scenario();
    let dir = tempfile::tempdir().unwrap();
    let lab = "luna-network-to-network7";
    let mut workers = [
        Proc::spawn("A", "rpc", dir.path(), lab, &[]),
        Proc::spawn("B", "rpc", dir.path(), lab, &[]),
    ];
    let key_template = Tpl::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .bool(CKA_TOKEN, true)
        .bool(CKA_ENCRYPT, true)
        .bytes(CKA_LABEL, b"shared-limited")
        .bytes(CKA_VALUE, &[0x42; 16])
        .ulong(CKA_USAGE_LIMIT, LIMIT);
    let mut sessions = Vec::new();
    for w in &mut workers {
        assert_eq!(w.init(), CKR_OK);
        let s = w.open(0, true).expect("C_OpenSession");
        assert_eq!(w.login(s, CKU_USER, CO_PIN), CKR_OK);
        sessions.push(s);
    }
    workers[0]
        .create(sessions[0], &key_template)
        .expect("C_CreateObject");
    let keys: Vec<CK_OBJECT_HANDLE> = workers
        .iter_mut()
        .zip(&sessions)
        .map(|(w, s)| {
            let found = w
                .find(*s, &Tpl::new().bytes(CKA_LABEL, b"shared-limited"))
                .expect("C_FindObjects");
            assert_eq!(found.len(), 1);
            found[0]
        })
        .collect();
    let mut successes = 0;
    let mut refusals = 0;
    for _ in 0..20 {
        let commands: Vec<String> = (0..2)
            .map(|i| {
                format!(
                    "encrypt {} {CKM_AES_ECB} {} {} {}",
                    sessions[i],
                    hex(&[]),
                    keys[i],
                    hex(&[1u8; 16])
                )
            })
            .collect();
        for (w, c) in workers.iter_mut().zip(&commands) {
            w.send(c);
        }
        for (w, c) in workers.iter_mut().zip(&commands) {
            match w.reply(c).rv {
                CKR_OK => successes += 1,
                CKR_KEY_NOT_ACTIVE => refusals += 1,
                rv => panic!("an encryption answered {}", rv_name(rv)),
            }
        }
    }
    assert_eq!(successes, LIMIT, "uses in total across both processes");
    assert_eq!(refusals, 40 - LIMIT);
    for (i, w) in workers.iter_mut().enumerate() {
        let count = w
            .get(sessions[i], keys[i], CKA_USAGE_COUNT)
            .expect("CKA_USAGE_COUNT");
        assert_eq!(
            ulong_of(&count),
            Some(LIMIT),
            "the count as worker {i} sees it"
        );
        let refused = w.crypt(
            Op::Encrypt,
            sessions[i],
            CKM_AES_ECB,
            &[],
            keys[i],
            &[1u8; 16],
        );
        assert_eq!(refused.unwrap_err().1, CKR_KEY_NOT_ACTIVE);
    }
    for w in &mut workers {
        assert_eq!(w.finalize(), CKR_OK);
    }
}
