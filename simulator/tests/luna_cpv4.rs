//! Luna Cloning Protocol v4 and the clone-to-many calls through the C ABI, called with
//! pycryptoki's C signatures (`cryptoki/func_defs.py`, `ca_extensions/cpv4.py`; the records are
//! its `CK_OBJECT_MIGRATION_DATA`): `CA_MigrateKeys` clones RSA, EC and AES keys and data
//! objects between two 7.8+ partitions keeping `CKA_OUID`, answers one result per object
//! (`CKR_OBJECT_HANDLE_INVALID`, `CKR_OBJECT_TYPE_INVALID`, `CKR_CERTIFICATE_INVALID`, a
//! refused private key), goes on after a failure with `CKF_CPV4_CONTINUE_ON_ERR` and stops at it
//! without (the rest `CKR_CLONE_NOT_ATTEMPTED`), writes nothing for a failed object, is
//! refused below firmware 7.8 on either side (`CKR_PROTOCOL_DISABLED`); signing on the target
//! goes on while many objects migrate; `CA_CloneAllObjectsToSession` and
//! `CA_CloneObjectToAllSessions` clone a partition's objects to a session and an object to
//! every other logged-in partition; the migration-session negotiation runs as pycryptoki's
//! `TestHello` drives it, and `CA_Extract` / `CA_Insert` with `CKM_CPV4_EXTRACT` /
//! `CKM_CPV4_INSERT` migrate objects over the negotiated session, a tampered, truncated or
//! other-domain blob refused per object with nothing written.
mod common;

use common::luna::*;
use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const CKA_OUID: CK_ATTRIBUTE_TYPE = 0x8000_0005;
const CKR_CERTIFICATE_INVALID: CK_RV = 0x8000_000C;
const CKR_OPERATION_NOT_ALLOWED: CK_RV = 0x8000_0030;
const CKR_FAILED_TO_CLONE_AN_OBJECT: CK_RV = 0x8000_0106;
const CKR_CLONE_NOT_ATTEMPTED: CK_RV = 0x8000_0107;
const CKR_PROTOCOL_DISABLED: CK_RV = 0x8000_0111;
const CKR_OBJECT_TYPE_INVALID: CK_RV = 0x8000_0112;
const CKF_CPV4_CONTINUE_ON_ERR: CK_ULONG = 0x01;
const CK_CRYPTOKI_ELEMENT: CK_ULONG = 0;
const CK_PARAM_ELEMENT: CK_ULONG = 1;
const CK_NULL_ELEMENT: CK_ULONG = CK_ULONG::MAX;

/// Slots: 0 m78/src, 1 m78/nopriv (partition policy 0 off), 2 n78/dst, 3 n78/other (another
/// domain), 4 n77/v0 (7.7.1), 5 a7/old (7.4.2), 6 n78/second (primary "dom-2", secondary
/// "dom-1"), 7 n78/small (3,000 bytes). Every partition is in domain "dom-1" unless said
/// otherwise.
const LAB: &str = r#"
[lab]
name = "luna-cpv4"

[[device]]
name = "m78"
kind = "luna-network"
firmware = "7.8.4"
  [[device.partition]]
  name = "src"
  label = "src"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"
  [[device.partition]]
  name = "nopriv"
  label = "nopriv"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"
  policies = { 0 = 0 }

[[device]]
name = "n78"
kind = "luna-pcie"
firmware = "7.8.1"
  [[device.partition]]
  name = "dst"
  label = "dst"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"
  [[device.partition]]
  name = "other"
  label = "other"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-2"
  [[device.partition]]
  name = "second"
  label = "second"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-2"
  other_domains = ["dom-1"]
  [[device.partition]]
  name = "small"
  label = "small"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"
  size = 3000

[[device]]
name = "n77"
kind = "luna-network"
firmware = "7.7.1"
  [[device.partition]]
  name = "v0"
  label = "v0"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"

[[device]]
name = "a7"
kind = "luna-network"
firmware = "7.4.2"
  [[device.partition]]
  name = "old"
  label = "old"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"

[[host]]
name = "client"
slot = [
  { id = 0, partition = "m78/src" },
  { id = 1, partition = "m78/nopriv" },
  { id = 2, partition = "n78/dst" },
  { id = 3, partition = "n78/other" },
  { id = 4, partition = "n77/v0" },
  { id = 5, partition = "a7/old" },
  { id = 6, partition = "n78/second" },
  { id = 7, partition = "n78/small" },
]
"#;

/// pycryptoki's `CK_OBJECT_MIGRATION_DATA` (`cryptoki/ck_defs.py`), laid out as its ctypes
/// structure.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct MigrationData {
    object_type: CK_ULONG,
    source_handle: CK_OBJECT_HANDLE,
    target_handle: CK_OBJECT_HANDLE,
    rv: CK_RV,
}

/// pycryptoki's bindings (`cryptoki/func_defs.py`).
type MigrateKeysFn = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    CK_SESSION_HANDLE,
    CK_ULONG,
    CK_ULONG,
    *mut MigrationData,
) -> CK_RV;
type CloneObjectToAllSessionsFn =
    unsafe extern "C" fn(CK_SESSION_HANDLE, CK_OBJECT_HANDLE) -> CK_RV;
type CloneAllObjectsToSessionFn = unsafe extern "C" fn(CK_SESSION_HANDLE, CK_SLOT_ID) -> CK_RV;

/// `ca_migrate_keys` of pycryptoki's `ca_extensions/cpv4.py`: the call's rv and each record's
/// `(rv, targetHandle)`.
fn ca_migrate_keys(
    source: CK_SESSION_HANDLE,
    target: CK_SESSION_HANDLE,
    flags: CK_ULONG,
    objects: &[(CK_ULONG, CK_OBJECT_HANDLE)],
) -> (CK_RV, Vec<(CK_RV, CK_OBJECT_HANDLE)>) {
    let mut records: Vec<MigrationData> = objects
        .iter()
        .map(|&(object_type, source_handle)| MigrationData {
            object_type,
            source_handle,
            ..Default::default()
        })
        .collect();
    // SAFETY: `MigrationData` has the layout of `CK_OBJECT_MIGRATION_DATA` (four CK_ULONGs),
    // so pycryptoki's signature and the export's are the same C function type.
    let f: MigrateKeysFn = unsafe { std::mem::transmute(CA_MigrateKeys as *const ()) };
    // SAFETY: an array of `records.len()` records.
    let rv = unsafe {
        f(
            source,
            target,
            flags,
            records.len() as CK_ULONG,
            records.as_mut_ptr(),
        )
    };
    (
        rv,
        records.iter().map(|r| (r.rv, r.target_handle)).collect(),
    )
}

fn co_session(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    co_session_with(slot, CO)
}

fn token_data(s: CK_SESSION_HANDLE, label: &[u8]) -> CK_OBJECT_HANDLE {
    create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, true)
            .bytes(CKA_LABEL, label)
            .bytes(CKA_VALUE, b"some data"),
    )
    .unwrap()
}

fn ouid_of(s: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE) -> Vec<u8> {
    get_attr(s, object, CKA_OUID).expect("CKA_OUID")
}

fn elements(objects: &[CK_OBJECT_HANDLE]) -> Vec<(CK_ULONG, CK_OBJECT_HANDLE)> {
    objects.iter().map(|&o| (CK_CRYPTOKI_ELEMENT, o)).collect()
}

/// pycryptoki's `test_migrate_one_obj` / `test_migrate_mix_obj` / the invalid handle and type
/// cases in one run, with `CKF_CPV4_CONTINUE_ON_ERR`: the call succeeds, each record answers.
#[test]
fn migrate_keys_clones_each_object_and_answers_per_object() {
    let lab = TextLab::new(LAB);
    let (src, dst) = (co_session(0), co_session(2));
    let aes = token_aes(src, b"aes");
    let (rsa_pub, rsa_priv) = token_pair(
        src,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        Template::new().ulong(CKA_MODULUS_BITS, 2048),
        b"rsa",
    );
    let (ec_pub, ec_priv) = token_pair(
        src,
        CKM_EC_KEY_PAIR_GEN,
        Template::new().bytes(CKA_EC_PARAMS, P256),
        b"ec",
    );
    let data = token_data(src, b"data");
    let good = [aes, rsa_pub, rsa_priv, ec_pub, ec_priv, data];
    let mut wanted = elements(&good);
    wanted.extend([
        (CK_CRYPTOKI_ELEMENT, 11111),
        (CK_PARAM_ELEMENT, aes),
        (CK_NULL_ELEMENT, data),
    ]);
    let before = lab.stored_objects("n78/dst");
    let (rv, results) = ca_migrate_keys(src, dst, CKF_CPV4_CONTINUE_ON_ERR, &wanted);
    assert_eq!(rv, CKR_OK);
    let rvs: Vec<CK_RV> = results.iter().map(|r| r.0).collect();
    assert_eq!(
        rvs,
        [
            CKR_OK,
            CKR_OK,
            CKR_OK,
            CKR_OK,
            CKR_OK,
            CKR_OK,
            CKR_OBJECT_HANDLE_INVALID,
            CKR_OBJECT_TYPE_INVALID,
            CKR_OBJECT_TYPE_INVALID
        ]
    );
    assert_eq!(lab.stored_objects("n78/dst"), before + good.len());
    for (&original, &(_, clone)) in good.iter().zip(&results) {
        assert_ne!(clone, 0);
        assert_eq!(ouid_of(dst, clone), ouid_of(src, original), "CKA_OUID kept");
        for attr in [CKA_LABEL, CKA_CLASS, CKA_TOKEN] {
            assert_eq!(get_attr(dst, clone, attr), get_attr(src, original, attr));
        }
        assert_ne!(
            get_attr(dst, clone, CKA_UNIQUE_ID),
            get_attr(src, original, CKA_UNIQUE_ID)
        );
    }
    for failed in &results[good.len()..] {
        assert_eq!(failed.1, 0, "no handle for a failed object");
    }
    // The clones work across: sign on the target, verify on the source.
    let clone = |i: usize| results[i].1;
    sign_across(
        CKM_SHA256_RSA_PKCS,
        dst,
        clone(2),
        src,
        rsa_pub,
        &[0x42; 32],
    );
    sign_across(CKM_ECDSA, dst, clone(4), src, ec_pub, &[0x42; 32]);
    let plain = [7u8; 16];
    assert_eq!(
        init(C_EncryptInit, src, &mut mech(CKM_AES_ECB), aes),
        CKR_OK
    );
    let sealed = produce(C_Encrypt, src, &plain).unwrap();
    assert_eq!(
        init(C_DecryptInit, dst, &mut mech(CKM_AES_ECB), clone(0)),
        CKR_OK
    );
    assert_eq!(produce(C_Decrypt, dst, &sealed).unwrap(), plain);
}

#[test]
fn without_continue_on_err_the_run_stops_at_the_first_failure() {
    let lab = TextLab::new(LAB);
    let (src, dst) = (co_session(0), co_session(2));
    let (k1, k2) = (token_aes(src, b"k1"), token_aes(src, b"k2"));
    let before = lab.stored_objects("n78/dst");
    let (rv, results) = ca_migrate_keys(src, dst, 0, &elements(&[k1, 0xDEAD, k2]));
    assert_eq!(rv, CKR_OBJECT_HANDLE_INVALID, "the failure it stopped at");
    let rvs: Vec<CK_RV> = results.iter().map(|r| r.0).collect();
    assert_eq!(
        rvs,
        [CKR_OK, CKR_OBJECT_HANDLE_INVALID, CKR_CLONE_NOT_ATTEMPTED]
    );
    assert_eq!(lab.stored_objects("n78/dst"), before + 1);
    assert!(labelled(dst, b"k2").is_empty(), "k2 not attempted");
    // With the flag, the same run tries k2 too.
    let (rv, results) =
        ca_migrate_keys(src, dst, CKF_CPV4_CONTINUE_ON_ERR, &elements(&[0xDEAD, k2]));
    assert_eq!(rv, CKR_OK);
    assert_eq!(results[0].0, CKR_OBJECT_HANDLE_INVALID);
    assert_eq!(results[1].0, CKR_OK);
    assert_eq!(labelled(dst, b"k2"), [results[1].1]);
}

#[test]
fn a_domain_mismatch_fails_per_object_at_the_target_and_writes_nothing() {
    let lab = TextLab::new(LAB);
    let (src, other) = (co_session(0), co_session(3));
    let keys = [token_aes(src, b"m1"), token_aes(src, b"m2")];
    let before = lab.stored_objects("n78/other");
    let (rv, results) = ca_migrate_keys(src, other, CKF_CPV4_CONTINUE_ON_ERR, &elements(&keys));
    assert_eq!(rv, CKR_OK);
    assert!(results.iter().all(|r| *r == (CKR_CERTIFICATE_INVALID, 0)));
    let (rv, results) = ca_migrate_keys(src, other, 0, &elements(&keys));
    assert_eq!(rv, CKR_CERTIFICATE_INVALID);
    assert_eq!(results[1].0, CKR_CLONE_NOT_ATTEMPTED);
    assert_eq!(lab.stored_objects("n78/other"), before, "nothing written");
    // Two 7.8+ partitions negotiate a shared domain: the target's secondary one serves.
    let second = co_session(6);
    let (rv, results) = ca_migrate_keys(src, second, 0, &elements(&keys));
    assert_eq!(rv, CKR_OK);
    assert_eq!(ouid_of(second, results[0].1), ouid_of(src, keys[0]));
}

#[test]
fn cpv4_is_refused_below_firmware_7_8_on_either_side() {
    let lab = TextLab::new(LAB);
    let (src, dst, v0, old) = (co_session(0), co_session(2), co_session(4), co_session(5));
    let key = token_aes(src, b"k");
    for (source, target, partition) in [
        (src, v0, "n77/v0"),
        (v0, dst, "n78/dst"),
        (old, dst, "n78/dst"),
    ] {
        let object = token_aes(source, b"x");
        let before = lab.stored_objects(partition);
        let (rv, results) = ca_migrate_keys(
            source,
            target,
            CKF_CPV4_CONTINUE_ON_ERR,
            &elements(&[object]),
        );
        assert_eq!(rv, CKR_PROTOCOL_DISABLED);
        assert_eq!(results, [(CKR_PROTOCOL_DISABLED, 0)]);
        assert_eq!(lab.stored_objects(partition), before);
    }
    // CA_CloneObject still clones from 7.8 to 7.7 (the older protocol).
    let mut cloned = 0;
    // SAFETY: a valid out-pointer.
    let rv = unsafe { CA_CloneObject(v0, src, 0, key, &mut cloned) };
    assert_eq!(rv, CKR_OK);
}

#[test]
fn policies_logins_flags_and_arguments() {
    let _lab = TextLab::new(LAB);
    let (nopriv, dst) = (co_session(1), co_session(2));
    let (public, private) = token_pair(
        nopriv,
        CKM_EC_KEY_PAIR_GEN,
        Template::new().bytes(CKA_EC_PARAMS, P256),
        b"p0",
    );
    let (rv, results) = ca_migrate_keys(
        nopriv,
        dst,
        CKF_CPV4_CONTINUE_ON_ERR,
        &elements(&[private, public]),
    );
    assert_eq!(rv, CKR_OK);
    assert_eq!(results[0], (CKR_OPERATION_NOT_ALLOWED, 0));
    assert_eq!(results[1].0, CKR_OK);
    // A target session without the Crypto Officer: the call is refused.
    let anonymous = open_session(3, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    let (rv, _) = ca_migrate_keys(nopriv, anonymous, 0, &elements(&[public]));
    assert_eq!(rv, CKR_USER_NOT_LOGGED_IN);
    // An unknown flag, a null array, no objects.
    let (rv, _) = ca_migrate_keys(nopriv, dst, 0x2, &elements(&[public]));
    assert_eq!(rv, CKR_ARGUMENTS_BAD);
    // SAFETY: a null array with a count: the module must refuse it.
    let rv = unsafe { CA_MigrateKeys(nopriv, dst, 0, 1, std::ptr::null_mut()) };
    assert_eq!(rv, CKR_ARGUMENTS_BAD);
    assert_eq!(ca_migrate_keys(nopriv, dst, 0, &[]).0, CKR_OK);
    // The same partition on both sides.
    let again = open_session(1, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(
        ca_migrate_keys(nopriv, again, 0, &elements(&[public])).0,
        CKR_ARGUMENTS_BAD
    );
}

/// Signing on the target partition goes on while another thread migrates many objects to it:
/// the clone holds the target's object table only for each object's own write.
#[test]
fn signing_progresses_while_many_objects_migrate() {
    let _lab = TextLab::new(LAB);
    let (src, dst) = (co_session(0), co_session(2));
    let signer = open_session(2, CKF_SERIAL_SESSION).unwrap();
    let (_, private) = token_pair(
        dst,
        CKM_EC_KEY_PAIR_GEN,
        Template::new().bytes(CKA_EC_PARAMS, P256),
        b"signer",
    );
    let keys: Vec<CK_OBJECT_HANDLE> = (0..400).map(|_| token_aes(src, b"many")).collect();
    let signed = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Acquire) {
                assert_eq!(
                    init(C_SignInit, signer, &mut mech(CKM_ECDSA), private),
                    CKR_OK
                );
                produce(C_Sign, signer, &[1; 32]).expect("signature");
                signed.fetch_add(1, Ordering::Release);
            }
        });
        while signed.load(Ordering::Acquire) == 0 {
            std::thread::yield_now();
        }
        let at_start = signed.load(Ordering::Acquire);
        let (rv, results) = ca_migrate_keys(src, dst, 0, &elements(&keys));
        let at_end = signed.load(Ordering::Acquire);
        done.store(true, Ordering::Release);
        assert_eq!(rv, CKR_OK);
        assert!(results.iter().all(|r| r.0 == CKR_OK));
        assert!(
            at_end > at_start,
            "signing made progress during the clone ({at_start} -> {at_end})"
        );
    });
}

#[test]
fn clone_all_objects_to_session_copies_every_token_object_of_a_slot() {
    let lab = TextLab::new(LAB);
    let (src, dst) = (co_session(0), co_session(2));
    let aes = token_aes(src, b"all-aes");
    let (ec_pub, ec_priv) = token_pair(
        src,
        CKM_EC_KEY_PAIR_GEN,
        Template::new().bytes(CKA_EC_PARAMS, P256),
        b"all-ec",
    );
    let data = token_data(src, b"all-data");
    let before = lab.stored_objects("n78/dst");
    // pycryptoki's signature (`func_defs.py`): the export coerces to it.
    let f: CloneAllObjectsToSessionFn = CA_CloneAllObjectsToSession;
    // SAFETY: scalar arguments only.
    assert_eq!(unsafe { f(dst, 0) }, CKR_OK);
    assert_eq!(lab.stored_objects("n78/dst"), before + 4);
    for (original, label) in [
        (aes, &b"all-aes"[..]),
        (ec_pub, b"all-ec"),
        (ec_priv, b"all-ec"),
        (data, b"all-data"),
    ] {
        assert!(
            labelled(dst, label)
                .iter()
                .any(|&c| ouid_of(dst, c) == ouid_of(src, original)),
            "{}",
            String::from_utf8_lossy(label)
        );
    }
    // To another domain: every object fails at the target, nothing written.
    let other = co_session(3);
    let before = lab.stored_objects("n78/other");
    // SAFETY: scalar arguments only.
    assert_eq!(unsafe { f(other, 0) }, CKR_FAILED_TO_CLONE_AN_OBJECT);
    assert_eq!(lab.stored_objects("n78/other"), before);
    // From the session's own slot: refused.
    // SAFETY: scalar arguments only.
    assert_eq!(unsafe { f(dst, 2) }, CKR_ARGUMENTS_BAD);
}

#[test]
fn clone_object_to_all_sessions_reaches_every_logged_in_partition() {
    let lab = TextLab::new(LAB);
    let src = co_session(0);
    let key = token_aes(src, b"everywhere");
    // Sessions on the target partitions: 2 and 6 with the Crypto Officer, 5 (7.4.2, dom-1) too;
    // none on 3, so it is left alone.
    let (dst, second, old) = (co_session(2), co_session(6), co_session(5));
    let f: CloneObjectToAllSessionsFn = CA_CloneObjectToAllSessions;
    // SAFETY: scalar arguments only.
    let rv = unsafe { f(src, key) };
    // A 7.8 (V0) source never goes to the 7.4.2 partition: one failure among three.
    assert_eq!(rv, CKR_FAILED_TO_CLONE_AN_OBJECT);
    for s in [dst, second] {
        let clones = labelled(s, b"everywhere");
        assert_eq!(clones.len(), 1);
        assert_eq!(ouid_of(s, clones[0]), ouid_of(src, key));
    }
    assert!(labelled(old, b"everywhere").is_empty());
    assert_eq!(lab.stored_objects("n78/other"), 0);
    // Once the 7.4.2 partition's sessions are gone, every remaining one succeeds.
    // SAFETY: scalar arguments only.
    assert_eq!(unsafe { C_CloseSession(old) }, CKR_OK);
    let key2 = token_aes(src, b"everywhere-2");
    // SAFETY: scalar arguments only.
    assert_eq!(unsafe { f(src, key2) }, CKR_OK);
    assert_eq!(labelled(dst, b"everywhere-2").len(), 1);
    assert_eq!(labelled(second, b"everywhere-2").len(), 1);
}

const CKR_SESSION_NEGOTIATION_INVALID: CK_RV = 0x8000_010C;
const CKR_SESSION_ID_INVALID: CK_RV = 0x8000_010D;
const CKM_CPV4_EXTRACT: CK_MECHANISM_TYPE = 0x8000_0208;
const CKM_CPV4_INSERT: CK_MECHANISM_TYPE = 0x8000_0209;
/// pycryptoki's `PCPROT_MAX_BUFFER_SIZE` (`ca_extensions/cpv4.py`).
const PCPROT_MAX_BUFFER_SIZE: usize = 64000;

type StartFn = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    CK_ULONG,
    *mut CK_BYTE,
    *mut CK_ULONG,
    *mut CK_ULONG,
    *mut CK_BYTE,
) -> CK_RV;
type ContinueFn = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    CK_ULONG,
    CK_ULONG,
    *mut CK_BYTE,
    CK_ULONG,
    *mut CK_BYTE,
    *mut CK_ULONG,
    *mut CK_ULONG,
    *mut CK_BYTE,
    *mut CK_ULONG,
    *mut CK_ULONG,
    *mut CK_BYTE,
) -> CK_RV;
type CloseFn = unsafe extern "C" fn(CK_SESSION_HANDLE, CK_ULONG, *mut CK_BYTE) -> CK_RV;
type ExtractInsertFn = unsafe extern "C" fn(CK_SESSION_HANDLE, *mut CK_MECHANISM) -> CK_RV;

/// `ca_migration_start_session_negotiation`: (rv, output, step).
fn start_negotiation(target: CK_SESSION_HANDLE) -> (CK_RV, Vec<u8>, CK_ULONG) {
    let f: StartFn = CA_MigrationStartSessionNegotiation;
    let mut output = vec![0u8; PCPROT_MAX_BUFFER_SIZE];
    let mut output_len = output.len() as CK_ULONG;
    let mut step = 0;
    // SAFETY: pycryptoki's buffers: no input, a 64000-byte output.
    let rv = unsafe {
        f(
            target,
            0,
            std::ptr::null_mut(),
            &mut step,
            &mut output_len,
            output.as_mut_ptr(),
        )
    };
    output.truncate(output_len as usize);
    (rv, output, step)
}

/// What `ca_migration_continue_session_negotiation` answers.
#[derive(Debug)]
struct Continued {
    rv: CK_RV,
    output: Vec<u8>,
    step: CK_ULONG,
    status: CK_ULONG,
    session_ouid: Option<Vec<u8>>,
}

/// `ca_migration_continue_session_negotiation`: without a session OUID it asks for one.
fn continue_negotiation(
    session: CK_SESSION_HANDLE,
    step: CK_ULONG,
    input: &[u8],
    session_ouid: Option<&[u8]>,
) -> Continued {
    let f: ContinueFn = CA_MigrationContinueSessionNegotiation;
    let mut input = input.to_vec();
    let mut given = session_ouid.map(<[u8]>::to_vec).unwrap_or_default();
    let mut output = vec![0u8; PCPROT_MAX_BUFFER_SIZE];
    let mut output_len = output.len() as CK_ULONG;
    let mut ouid = vec![0u8; PCPROT_MAX_BUFFER_SIZE];
    let mut ouid_len = ouid.len() as CK_ULONG;
    let (mut out_step, mut status) = (0, 0);
    let asks = session_ouid.is_none();
    // SAFETY: pycryptoki's buffers and out-pointers; the OUID output only when it asks.
    let rv = unsafe {
        f(
            session,
            step,
            input.len() as CK_ULONG,
            input.as_mut_ptr(),
            given.len() as CK_ULONG,
            if asks {
                std::ptr::null_mut()
            } else {
                given.as_mut_ptr()
            },
            &mut out_step,
            &mut output_len,
            output.as_mut_ptr(),
            &mut status,
            if asks {
                &mut ouid_len
            } else {
                std::ptr::null_mut()
            },
            if asks {
                ouid.as_mut_ptr()
            } else {
                std::ptr::null_mut()
            },
        )
    };
    output.truncate(output_len as usize);
    ouid.truncate(ouid_len as usize);
    Continued {
        rv,
        output,
        step: out_step,
        status,
        session_ouid: asks.then_some(ouid),
    }
}

fn close_migration(session: CK_SESSION_HANDLE, ouid: &[u8]) -> CK_RV {
    let f: CloseFn = CA_MigrationCloseSession;
    let mut ouid = ouid.to_vec();
    // SAFETY: a buffer of the length given.
    unsafe { f(session, ouid.len() as CK_ULONG, ouid.as_mut_ptr()) }
}

/// The negotiation of pycryptoki's `test_extract_insert_*`: the target's hello, the source's
/// answer (with the session OUID), the target's confirmation. Returns (OUID, the answer).
fn negotiate(source: CK_SESSION_HANDLE, target: CK_SESSION_HANDLE) -> (Vec<u8>, Vec<u8>) {
    let (rv, hello, step) = start_negotiation(target);
    assert_eq!((rv, step), (CKR_OK, 2));
    let answer = continue_negotiation(source, step, &hello, None);
    assert_eq!((answer.rv, answer.step, answer.status), (CKR_OK, 3, 0));
    let ouid = answer.session_ouid.clone().unwrap();
    let done = continue_negotiation(target, answer.step, &answer.output, Some(&ouid));
    assert_eq!((done.rv, done.step, done.status), (CKR_OK, 4, 1));
    (ouid, answer.output)
}

/// pycryptoki's `CK_CPV4_EXTRACT_PARAMS`.
#[repr(C)]
struct ExtractParams {
    input_length: CK_ULONG,
    input: *mut CK_BYTE,
    session_ouid_len: CK_ULONG,
    session_ouid: *mut CK_BYTE,
    extraction_flags: CK_ULONG,
    number_of_objects: CK_ULONG,
    object_type: *mut CK_ULONG,
    object_handle: *mut CK_ULONG,
    result: *mut CK_ULONG,
    key_blob_len: *mut CK_ULONG,
    key_blob: *mut *mut CK_BYTE,
}

/// pycryptoki's `CK_CPV4_INSERT_PARAMS`.
#[repr(C)]
struct InsertParams {
    input_length: CK_ULONG,
    input: *mut CK_BYTE,
    session_ouid_len: CK_ULONG,
    session_ouid: *mut CK_BYTE,
    insertion_flags: CK_ULONG,
    number_of_objects: CK_ULONG,
    object_type: *mut CK_ULONG,
    storage_type: *mut CK_ULONG,
    key_blob_len: *mut CK_ULONG,
    key_blob: *mut *mut CK_BYTE,
    result: *mut CK_ULONG,
    object_handle: *mut CK_ULONG,
}

/// `ca_extract` with pycryptoki's `generate_cpv4_extract_mech_params`: (rv, results, blobs).
fn cpv4_extract(
    source: CK_SESSION_HANDLE,
    ouid: &[u8],
    input: &[u8],
    flags: CK_ULONG,
    objects: &[CK_OBJECT_HANDLE],
) -> (CK_RV, Vec<CK_RV>, Vec<Vec<u8>>) {
    let n = objects.len();
    let (mut input, mut ouid) = (input.to_vec(), ouid.to_vec());
    let mut types = vec![CK_CRYPTOKI_ELEMENT; n];
    let mut handles = objects.to_vec();
    let mut results = vec![0; n];
    let mut lens = vec![PCPROT_MAX_BUFFER_SIZE as CK_ULONG; n];
    let mut buffers: Vec<Vec<u8>> = vec![vec![0; PCPROT_MAX_BUFFER_SIZE]; n];
    let mut pointers: Vec<*mut u8> = buffers.iter_mut().map(|b| b.as_mut_ptr()).collect();
    let mut params = ExtractParams {
        input_length: input.len() as CK_ULONG,
        input: input.as_mut_ptr(),
        session_ouid_len: ouid.len() as CK_ULONG,
        session_ouid: ouid.as_mut_ptr(),
        extraction_flags: flags,
        number_of_objects: n as CK_ULONG,
        object_type: types.as_mut_ptr(),
        object_handle: handles.as_mut_ptr(),
        result: results.as_mut_ptr(),
        key_blob_len: lens.as_mut_ptr(),
        key_blob: pointers.as_mut_ptr(),
    };
    let mut mechanism = mech_with(CKM_CPV4_EXTRACT, &mut params);
    let f: ExtractInsertFn = CA_Extract;
    // SAFETY: the parameters point at live arrays of `n` entries and 64000-byte buffers.
    let rv = unsafe { f(source, &mut mechanism) };
    let blobs = buffers
        .into_iter()
        .zip(&lens)
        .map(|(mut b, &len)| {
            b.truncate(len as usize);
            b
        })
        .collect();
    (rv, results, blobs)
}

/// `ca_insert` with pycryptoki's `generate_cpv4_insert_mech`: (rv, results, handles).
fn cpv4_insert(
    target: CK_SESSION_HANDLE,
    ouid: &[u8],
    input: &[u8],
    flags: CK_ULONG,
    blobs: &[Vec<u8>],
) -> (CK_RV, Vec<CK_RV>, Vec<CK_OBJECT_HANDLE>) {
    let n = blobs.len();
    let (mut input, mut ouid) = (input.to_vec(), ouid.to_vec());
    let mut types = vec![CK_CRYPTOKI_ELEMENT; n];
    let mut storage = vec![1; n];
    let mut blobs = blobs.to_vec();
    let mut lens: Vec<CK_ULONG> = blobs.iter().map(|b| b.len() as CK_ULONG).collect();
    let mut pointers: Vec<*mut u8> = blobs.iter_mut().map(|b| b.as_mut_ptr()).collect();
    let (mut results, mut handles) = (vec![0; n], vec![0; n]);
    let mut params = InsertParams {
        input_length: input.len() as CK_ULONG,
        input: input.as_mut_ptr(),
        session_ouid_len: ouid.len() as CK_ULONG,
        session_ouid: ouid.as_mut_ptr(),
        insertion_flags: flags,
        number_of_objects: n as CK_ULONG,
        object_type: types.as_mut_ptr(),
        storage_type: storage.as_mut_ptr(),
        key_blob_len: lens.as_mut_ptr(),
        key_blob: pointers.as_mut_ptr(),
        result: results.as_mut_ptr(),
        object_handle: handles.as_mut_ptr(),
    };
    let mut mechanism = mech_with(CKM_CPV4_INSERT, &mut params);
    let f: ExtractInsertFn = CA_Insert;
    // SAFETY: the parameters point at live arrays of `n` entries and the blobs.
    let rv = unsafe { f(target, &mut mechanism) };
    (rv, results, handles)
}

/// pycryptoki's `TestHello`: start, continue at the source, continue at the target, close.
#[test]
fn the_session_negotiation_runs_as_pycryptoki_drives_it() {
    let _lab = TextLab::new(LAB);
    let (src, dst) = (co_session(0), co_session(2));
    let (ouid, _) = negotiate(src, dst);
    assert_eq!(ouid.len(), 12);
    assert_eq!(close_migration(dst, &ouid), CKR_OK);
    assert_eq!(close_migration(dst, &ouid), CKR_SESSION_ID_INVALID);
    // test_close_session: the target answers its own hello, then closes.
    let (rv, hello, step) = start_negotiation(dst);
    assert_eq!(rv, CKR_OK);
    let own = continue_negotiation(dst, step, &hello, None);
    assert_eq!(own.rv, CKR_OK);
    let own_ouid = own.session_ouid.unwrap();
    // Only a party closes it.
    assert_eq!(
        close_migration(co_session(3), &own_ouid),
        CKR_SESSION_ID_INVALID
    );
    assert_eq!(close_migration(dst, &own_ouid), CKR_OK);
    // A hello joined twice, a damaged hello, an unknown step.
    let (_, hello, _) = start_negotiation(dst);
    assert_eq!(continue_negotiation(src, 2, &hello, None).rv, CKR_OK);
    assert_eq!(
        continue_negotiation(co_session(6), 2, &hello, None).rv,
        CKR_SESSION_NEGOTIATION_INVALID
    );
    let mut damaged = hello.clone();
    damaged[0] ^= 1;
    assert_eq!(
        continue_negotiation(src, 2, &damaged, None).rv,
        CKR_SESSION_NEGOTIATION_INVALID
    );
    assert_eq!(
        continue_negotiation(src, 7, &hello, None).rv,
        CKR_SESSION_NEGOTIATION_INVALID
    );
    // Below firmware 7.8, on either side.
    let (v0, old) = (co_session(4), co_session(5));
    assert_eq!(start_negotiation(v0).0, CKR_PROTOCOL_DISABLED);
    let (_, hello, _) = start_negotiation(dst);
    assert_eq!(
        continue_negotiation(old, 2, &hello, None).rv,
        CKR_PROTOCOL_DISABLED
    );
}

/// pycryptoki's `test_extract_insert_mix_objects`, then blobs damaged, cut short, or opened at
/// another domain's partition: refused per object at `CA_Insert`, nothing written.
#[test]
fn extract_and_insert_migrate_over_a_negotiated_session_and_refuse_bad_blobs() {
    let lab = TextLab::new(LAB);
    let (src, dst) = (co_session(0), co_session(2));
    let aes = token_aes(src, b"x-aes");
    let (rsa_pub, rsa_priv) = token_pair(
        src,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        Template::new().ulong(CKA_MODULUS_BITS, 2048),
        b"x-rsa",
    );
    let data = token_data(src, b"x-data");
    let objects = [aes, rsa_pub, rsa_priv, data];
    let (ouid, answer) = negotiate(src, dst);
    let (rv, results, blobs) =
        cpv4_extract(src, &ouid, &answer, CKF_CPV4_CONTINUE_ON_ERR, &objects);
    assert_eq!(rv, CKR_OK);
    assert_eq!(results, [CKR_OK; 4]);
    // Damaged, truncated: refused per object, nothing written.
    let before = lab.stored_objects("n78/dst");
    let mut damaged = blobs[0].clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x40;
    let truncated = blobs[1][..blobs[1].len() - 3].to_vec();
    let (rv, results, handles) = cpv4_insert(
        dst,
        &ouid,
        &answer,
        CKF_CPV4_CONTINUE_ON_ERR,
        &[damaged, truncated, Vec::new()],
    );
    assert_eq!(rv, CKR_OK);
    assert_eq!(results, [CKR_ENCRYPTED_DATA_INVALID; 3]);
    assert_eq!(handles, [0; 3]);
    assert_eq!(lab.stored_objects("n78/dst"), before, "nothing written");
    // The good blobs.
    let (rv, results, handles) = cpv4_insert(dst, &ouid, &answer, 0, &blobs);
    assert_eq!(rv, CKR_OK);
    assert_eq!(results, [CKR_OK; 4]);
    for (&original, &clone) in objects.iter().zip(&handles) {
        assert_eq!(ouid_of(dst, clone), ouid_of(src, original));
    }
    sign_across(
        CKM_SHA256_RSA_PKCS,
        dst,
        handles[2],
        src,
        rsa_pub,
        &[0x42; 32],
    );
    // A closed session takes no more blobs.
    assert_eq!(close_migration(src, &ouid), CKR_OK);
    assert_eq!(
        cpv4_insert(dst, &ouid, &answer, 0, &blobs[..1]).0,
        CKR_SESSION_ID_INVALID
    );
    // Negotiated with a partition of another domain: the blobs do not open there.
    let other = co_session(3);
    let (ouid, answer) = negotiate(src, other);
    let (rv, _, blobs) = cpv4_extract(src, &ouid, &answer, 0, &[aes, data]);
    assert_eq!(rv, CKR_OK);
    let (rv, results, _) = cpv4_insert(other, &ouid, &answer, 0, &blobs);
    assert_eq!(rv, CKR_CERTIFICATE_INVALID);
    assert_eq!(results, [CKR_CERTIFICATE_INVALID, CKR_CLONE_NOT_ATTEMPTED]);
    assert_eq!(lab.stored_objects("n78/other"), 0);
    // Per-object extraction failures; only the source extracts, only the target inserts.
    let (rv, results, _) =
        cpv4_extract(src, &ouid, &answer, CKF_CPV4_CONTINUE_ON_ERR, &[11111, aes]);
    assert_eq!(rv, CKR_OK);
    assert_eq!(results, [CKR_OBJECT_HANDLE_INVALID, CKR_OK]);
    assert_eq!(
        cpv4_extract(other, &ouid, &answer, 0, &[aes]).0,
        CKR_SESSION_NEGOTIATION_INVALID
    );
    assert_eq!(
        cpv4_insert(src, &ouid, &answer, 0, &blobs).0,
        CKR_SESSION_NEGOTIATION_INVALID
    );
    // Another mechanism is not modelled.
    let f: ExtractInsertFn = CA_Extract;
    // SAFETY: a mechanism without parameter.
    let rv = unsafe { f(src, &mut mech(CKM_AES_KEY_WRAP)) };
    assert_eq!(rv, CKR_MECHANISM_INVALID);
}

/// A target that fills up part-way: the objects that fit are stored, each of the others fails
/// on its own (with the flag) or the run stops there (without); no object is half-written.
#[test]
fn a_target_that_fills_up_fails_per_object() {
    let lab = TextLab::new(LAB);
    let (src, small) = (co_session(0), co_session(7));
    let keys: Vec<CK_OBJECT_HANDLE> = (0..40).map(|_| token_aes(src, b"fill")).collect();
    let (rv, results) = ca_migrate_keys(src, small, CKF_CPV4_CONTINUE_ON_ERR, &elements(&keys));
    assert_eq!(rv, CKR_OK);
    let stored = results.iter().take_while(|r| r.0 == CKR_OK).count();
    assert!(
        stored > 0 && stored < keys.len(),
        "{stored} of {} fit",
        keys.len()
    );
    let full = results[stored].0;
    assert!(results[stored..].iter().all(|r| *r == (full, 0)));
    assert_eq!(lab.stored_objects("n78/small"), stored);
    assert_eq!(labelled(small, b"fill").len(), stored);
    // Without the flag: the first object that does not fit stops the run.
    let (rv, results) = ca_migrate_keys(src, small, 0, &elements(&keys[..3]));
    assert_eq!(rv, full);
    let rvs: Vec<CK_RV> = results.iter().map(|r| r.0).collect();
    assert_eq!(
        rvs,
        [full, CKR_CLONE_NOT_ATTEMPTED, CKR_CLONE_NOT_ATTEMPTED]
    );
    assert_eq!(lab.stored_objects("n78/small"), stored);
}
