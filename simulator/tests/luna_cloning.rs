//! Luna cloning through the C ABI (`CA_CloneObject` and the three-leg protocol): RSA, EC and AES
//! keys cloned between partitions of two devices of one lab that share a cloning domain are
//! usable across (sign here, verify there; encrypt here, decrypt there), keep `CKA_OUID` and
//! every attribute, get new handles; a domain mismatch fails at the target
//! (`CKR_CERTIFICATE_INVALID`) on a pre-7.7 and on a V0 source; source policies 0 and 4 off,
//! HSM policy 7 off, a PED target for a password source, a V0/V1 source to a pre-7.7 target and
//! a missing Crypto Officer login are refused; a tampered or truncated part 2 is refused and
//! writes nothing; 7.8+ partitions clone over a secondary domain, but from an older source only
//! the target's primary one counts; several objects (`Engine::clone_objects`) fail per object before 7.7 and
//! stop at the first failure from 7.7.
mod common;

use common::luna::*;
use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::ptr::null_mut;

const CKA_OUID: CK_ATTRIBUTE_TYPE = 0x8000_0005;
const CKR_CERTIFICATE_INVALID: CK_RV = 0x8000_000C;
const CKR_OPERATION_NOT_ALLOWED: CK_RV = 0x8000_0030;

/// Slots: 0 a7/src, 1 a7/nopriv (policy 0 off), 2 a7/nosecret (policy 4 off), 3 b7/dst,
/// 4 b7/other (another domain), 5 n77/v0, 6 n77/v1, 7 n77/v0other (another domain),
/// 8 nc/noclone (HSM policy 7 off), 9 ped/p (PED authentication, no domain), 10 m78/multi
/// (7.8.4, primary domain "dom-3", secondary "dom-1"), 11 m78/plain (7.8.4). Every other
/// partition is in domain "dom-1" unless said otherwise; a7 and b7 run 7.4.2, n77 7.7.1.
const LAB: &str = r#"
[lab]
name = "luna-cloning"

[[device]]
name = "a7"
kind = "luna-network"
firmware = "7.4.2"
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
  [[device.partition]]
  name = "nosecret"
  label = "nosecret"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"
  policies = { 4 = 0 }

[[device]]
name = "b7"
kind = "luna-pcie"
firmware = "7.4.2"
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
  [[device.partition]]
  name = "v1"
  label = "v1"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"
  policies = { 41 = 1 }
  [[device.partition]]
  name = "v0other"
  label = "v0other"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-2"

[[device]]
name = "nc"
kind = "luna-network"
firmware = "7.4.2"
hsm_policies = { 7 = 0 }
  [[device.partition]]
  name = "noclone"
  label = "noclone"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"

[[device]]
name = "ped"
kind = "luna-usb"
firmware = "7.4.2"
auth = "ped"
  [[device.partition]]
  name = "p"
  label = "ped"
  so_ped_key = "ped/blue.key"
  user_ped_key = "ped/black.key"

[[device]]
name = "m78"
kind = "luna-network"
firmware = "7.8.4"
  [[device.partition]]
  name = "multi"
  label = "multi"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-3"
  other_domains = ["dom-1"]
  [[device.partition]]
  name = "plain"
  label = "plain"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "dom-1"

[[host]]
name = "client"
slot = [
  { id = 0, partition = "a7/src" },
  { id = 1, partition = "a7/nopriv" },
  { id = 2, partition = "a7/nosecret" },
  { id = 3, partition = "b7/dst" },
  { id = 4, partition = "b7/other" },
  { id = 5, partition = "n77/v0" },
  { id = 6, partition = "n77/v1" },
  { id = 7, partition = "n77/v0other" },
  { id = 8, partition = "nc/noclone" },
  { id = 9, partition = "ped/p" },
  { id = 10, partition = "m78/multi" },
  { id = 11, partition = "m78/plain" },
]
"#;

fn co_session(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    co_session_with(slot, if slot == 9 { b"" } else { CO })
}

fn clone_object(
    target: CK_SESSION_HANDLE,
    source: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut cloned = 0;
    // SAFETY: a valid out-pointer.
    let rv = unsafe { CA_CloneObject(target, source, 0, object, &mut cloned) };
    if rv == CKR_OK { Ok(cloned) } else { Err(rv) }
}

#[test]
fn keys_cloned_between_devices_keep_ouid_and_attributes_and_work_across() {
    let _lab = TextLab::new(LAB);
    let (src, dst) = (co_session(0), co_session(3));
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
    let mut clones = Vec::new();
    for original in [aes, rsa_pub, rsa_priv, ec_pub, ec_priv] {
        let clone = clone_object(dst, src, original).expect("clone");
        for attr in [
            CKA_OUID,
            CKA_LABEL,
            CKA_CLASS,
            CKA_KEY_TYPE,
            CKA_SENSITIVE,
            CKA_TOKEN,
        ] {
            assert_eq!(
                get_attr(dst, clone, attr),
                get_attr(src, original, attr),
                "attribute 0x{attr:X} kept"
            );
        }
        assert_ne!(
            get_attr(dst, clone, CKA_UNIQUE_ID).unwrap(),
            get_attr(src, original, CKA_UNIQUE_ID).unwrap(),
            "a new object on the target"
        );
        clones.push(clone);
    }
    let [aes2, rsa_pub2, rsa_priv2, ec_pub2, ec_priv2] = clones[..] else {
        unreachable!()
    };
    // New handles on the target, each label found once there.
    for label in [&b"aes"[..], b"ec"] {
        assert!(!labelled(dst, label).is_empty());
    }
    assert_eq!(labelled(dst, b"aes"), [aes2]);
    // Encrypt on the source, decrypt with the clone.
    let plain = [9u8; 32];
    assert_eq!(
        init(C_EncryptInit, src, &mut mech(CKM_AES_ECB), aes),
        CKR_OK
    );
    let sealed = produce(C_Encrypt, src, &plain).unwrap();
    assert_eq!(
        init(C_DecryptInit, dst, &mut mech(CKM_AES_ECB), aes2),
        CKR_OK
    );
    assert_eq!(produce(C_Decrypt, dst, &sealed).unwrap(), plain);
    // Sign with a clone, verify with the original, and the other way round.
    sign_across(
        CKM_SHA256_RSA_PKCS,
        dst,
        rsa_priv2,
        src,
        rsa_pub,
        b"message",
    );
    sign_across(
        CKM_SHA256_RSA_PKCS,
        src,
        rsa_priv,
        dst,
        rsa_pub2,
        b"message",
    );
    sign_across(CKM_ECDSA, dst, ec_priv2, src, ec_pub, &[0x42; 32]);
    sign_across(CKM_ECDSA, src, ec_priv, dst, ec_pub2, &[0x42; 32]);
    // A 7.4.2 source clones to a 7.7.1 (V0) target too.
    let v0 = co_session(5);
    let aes3 = clone_object(v0, src, aes).unwrap();
    assert_eq!(
        get_attr(v0, aes3, CKA_OUID).unwrap(),
        get_attr(src, aes, CKA_OUID).unwrap()
    );
}

#[test]
fn a_domain_mismatch_fails_at_the_target_in_each_era() {
    let lab = TextLab::new(LAB);
    for (source, target, partition) in [(0, 4, "b7/other"), (5, 7, "n77/v0other")] {
        let (s, t) = (co_session(source), co_session(target));
        let key = token_aes(s, b"k");
        let before = lab.stored_objects(partition);
        assert_eq!(
            clone_object(t, s, key),
            Err(CKR_CERTIFICATE_INVALID),
            "slot {source} -> {target}"
        );
        assert_eq!(lab.stored_objects(partition), before, "nothing written");
        assert!(labelled(t, b"k").is_empty());
    }
}

#[test]
fn source_policies_0_and_4_gate_private_and_secret_keys() {
    let _lab = TextLab::new(LAB);
    let dst = co_session(3);
    // Policy 0 off: private keys stay, secret and public keys clone.
    let nopriv = co_session(1);
    let (public, private) = token_pair(
        nopriv,
        CKM_EC_KEY_PAIR_GEN,
        Template::new().bytes(CKA_EC_PARAMS, P256),
        b"p0",
    );
    assert_eq!(
        clone_object(dst, nopriv, private),
        Err(CKR_OPERATION_NOT_ALLOWED)
    );
    assert!(clone_object(dst, nopriv, public).is_ok());
    assert!(clone_object(dst, nopriv, token_aes(nopriv, b"s0")).is_ok());
    // Policy 4 off: secret keys stay, private keys clone.
    let nosecret = co_session(2);
    let secret = token_aes(nosecret, b"s4");
    assert_eq!(
        clone_object(dst, nosecret, secret),
        Err(CKR_OPERATION_NOT_ALLOWED)
    );
    let (_, private) = token_pair(
        nosecret,
        CKM_EC_KEY_PAIR_GEN,
        Template::new().bytes(CKA_EC_PARAMS, P256),
        b"p4",
    );
    assert!(clone_object(dst, nosecret, private).is_ok());
    assert!(labelled(dst, b"s4").is_empty());
}

#[test]
fn hsm_policy_7_auth_method_and_logins_are_checked_first() {
    let _lab = TextLab::new(LAB);
    let src = co_session(0);
    let key = token_aes(src, b"k");
    // HSM policy 7 off on the target's device.
    assert_eq!(
        clone_object(co_session(8), src, key),
        Err(CKR_OPERATION_NOT_ALLOWED)
    );
    // A PED target for a password source.
    assert_eq!(
        clone_object(co_session(9), src, key),
        Err(CKR_OPERATION_NOT_ALLOWED)
    );
    // No Crypto Officer on the target.
    let anonymous = open_session(3, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(
        clone_object(anonymous, src, key),
        Err(CKR_USER_NOT_LOGGED_IN)
    );
    // Same partition on both sides.
    let again = open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(clone_object(again, src, key), Err(CKR_ARGUMENTS_BAD));
}

#[test]
fn v0_and_v1_sources_never_clone_to_pre_7_7_targets() {
    let _lab = TextLab::new(LAB);
    let dst = co_session(3);
    assert_eq!(policy(5, 41), 0, "slot 5 is V0");
    assert_eq!(policy(6, 41), 1, "slot 6 is V1");
    for source in [5, 6] {
        let s = co_session(source);
        let key = token_aes(s, b"new");
        assert_eq!(
            clone_object(dst, s, key),
            Err(CKR_OPERATION_NOT_ALLOWED),
            "slot {source}"
        );
    }
    assert!(labelled(dst, b"new").is_empty());
}

/// The three legs: KEV, part 1 from the target, part 2 from the source, the clone at the target.
fn three_legs(
    src: CK_SESSION_HANDLE,
    dst: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
) -> (Vec<u8>, Vec<u8>) {
    let mut kev = vec![0u8; 64];
    let mut n = kev.len() as CK_ULONG;
    // SAFETY: a buffer of `n` bytes.
    let rv = unsafe { CA_GenerateCloningKEV(dst, kev.as_mut_ptr(), &mut n) };
    assert_eq!(rv, CKR_OK);
    kev.truncate(n as usize);
    let mut part1 = vec![0u8; 8192];
    let mut n1 = part1.len() as CK_ULONG;
    // SAFETY: valid buffers and lengths.
    let rv = unsafe {
        CA_CloneAsTargetInit(
            dst,
            null_mut(),
            0,
            kev.as_mut_ptr(),
            kev.len() as CK_ULONG,
            0,
            part1.as_mut_ptr(),
            &mut n1,
        )
    };
    assert_eq!(rv, CKR_OK);
    part1.truncate(n1 as usize);
    let mut n2 = 0;
    // SAFETY: a null buffer asks for the length.
    let rv = unsafe {
        CA_CloneAsSource(
            src,
            0,
            object,
            part1.as_mut_ptr(),
            n1,
            0,
            null_mut(),
            &mut n2,
        )
    };
    assert_eq!(rv, CKR_OK);
    let mut part2 = vec![0u8; n2 as usize];
    // SAFETY: a buffer of `n2` bytes.
    let rv = unsafe {
        CA_CloneAsSource(
            src,
            0,
            object,
            part1.as_mut_ptr(),
            n1,
            0,
            part2.as_mut_ptr(),
            &mut n2,
        )
    };
    assert_eq!(rv, CKR_OK);
    part2.truncate(n2 as usize);
    (kev, part2)
}

fn clone_as_target(
    dst: CK_SESSION_HANDLE,
    kev: &mut [u8],
    part2: &mut [u8],
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut cloned = 0;
    // SAFETY: valid buffers, lengths and out-pointer.
    let rv = unsafe {
        CA_CloneAsTarget(
            dst,
            kev.as_mut_ptr(),
            kev.len() as CK_ULONG,
            part2.as_mut_ptr(),
            part2.len() as CK_ULONG,
            0,
            0,
            0,
            &mut cloned,
        )
    };
    if rv == CKR_OK { Ok(cloned) } else { Err(rv) }
}

#[test]
fn the_three_leg_protocol_clones_and_refuses_tampered_or_truncated_parts() {
    let lab = TextLab::new(LAB);
    let (src, dst) = (co_session(0), co_session(3));
    let key = token_aes(src, b"legs");
    let (mut kev, part2) = three_legs(src, dst, key);
    let before = lab.stored_objects("b7/dst");
    for i in [part2.len() - 1, part2.len() - 20, part2.len() / 2 + 14] {
        let mut bad = part2.clone();
        bad[i] ^= 1;
        assert_eq!(
            clone_as_target(dst, &mut kev, &mut bad),
            Err(CKR_ENCRYPTED_DATA_INVALID),
            "byte {i} flipped"
        );
    }
    let mut short = part2[..part2.len() - 5].to_vec();
    assert_eq!(
        clone_as_target(dst, &mut kev, &mut short),
        Err(CKR_ENCRYPTED_DATA_INVALID)
    );
    assert_eq!(lab.stored_objects("b7/dst"), before, "nothing written");
    assert!(labelled(dst, b"legs").is_empty());
    let mut good = part2.clone();
    assert_eq!(
        clone_as_target(dst, &mut [], &mut good.clone()),
        Err(0x8000_0009)
    );
    let clone = clone_as_target(dst, &mut kev, &mut good).unwrap();
    assert_eq!(
        get_attr(dst, clone, CKA_OUID).unwrap(),
        get_attr(src, key, CKA_OUID).unwrap()
    );
    assert_eq!(lab.stored_objects("b7/dst"), before + 1);
    // Part 2 opened at a target of another domain: CKR_CERTIFICATE_INVALID.
    let other = co_session(4);
    assert_eq!(
        clone_as_target(other, &mut kev, &mut part2.clone()),
        Err(CKR_CERTIFICATE_INVALID)
    );
}

/// LunaCM's `partition clone -objects`: a pre-7.7 source goes on after a failed object (one
/// error per object), a V0 source stops at the first failure; each object all or nothing.
#[test]
fn several_objects_fail_per_object_before_7_7_and_stop_from_7_7() {
    let lab = TextLab::new(LAB);
    let engine = lab.other_process();
    let co = |slot| {
        let s = engine
            .open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
            .unwrap();
        engine.login(s, CKU_USER, CO).unwrap();
        s
    };
    let aes = |s, label: &str| {
        let mut t = hsmsim::base::attribute::Attributes::new();
        t.set_ulong(CKA_CLASS, CKO_SECRET_KEY);
        t.set_ulong(CKA_KEY_TYPE, CKK_AES);
        t.set_bytes(CKA_TOKEN, vec![1]);
        t.set_bytes(CKA_VALUE, vec![5; 32]);
        t.set_bytes(CKA_LABEL, label.as_bytes().to_vec());
        engine.create_object(s, &t).unwrap()
    };
    let rvs = |target, source, objects: &[CK_OBJECT_HANDLE]| -> Vec<CK_RV> {
        let results = engine.clone_objects(target, source, objects).unwrap();
        results
            .iter()
            .map(|r| r.as_ref().map_or_else(|e| e.rv, |_| CKR_OK))
            .collect()
    };
    const NO_SUCH: CK_OBJECT_HANDLE = 0xDEAD;
    const NOT_ATTEMPTED: CK_RV = 0x8000_0107;
    // 7.4.2 source: every object tried.
    let (old, dst, other) = (co(0), co(3), co(4));
    let (k1, k2) = (aes(old, "old-1"), aes(old, "old-2"));
    assert_eq!(
        rvs(dst, old, &[k1, NO_SUCH, k2]),
        [CKR_OK, CKR_OBJECT_HANDLE_INVALID, CKR_OK]
    );
    assert_eq!(
        rvs(other, old, &[k1, k2]),
        [CKR_CERTIFICATE_INVALID, CKR_CERTIFICATE_INVALID]
    );
    // 7.7.1 V0 source: stops at the first failure.
    let (v0, v1, v0other) = (co(5), co(6), co(7));
    let (n1, n2) = (aes(v0, "new-1"), aes(v0, "new-2"));
    assert_eq!(
        rvs(v1, v0, &[n1, NO_SUCH, n2]),
        [CKR_OK, CKR_OBJECT_HANDLE_INVALID, NOT_ATTEMPTED]
    );
    assert_eq!(
        rvs(v0other, v0, &[n1, n2]),
        [CKR_CERTIFICATE_INVALID, NOT_ATTEMPTED]
    );
    assert_eq!(lab.stored_objects("n77/v0other"), 0, "nothing written");
    assert_eq!(lab.stored_objects("n77/v1"), 1, "only the first object");
    // The pair's preconditions refuse the whole call.
    assert_eq!(
        engine.clone_objects(dst, v0, &[n1]).unwrap_err().rv,
        CKR_OPERATION_NOT_ALLOWED
    );
}

/// Firmware 7.8+: two 7.8+ partitions clone over any shared domain (here the source's
/// secondary one); with a peer older than 7.8 only the 7.8+ side's primary domain counts, so
/// a 7.4.2 source of that domain fails at the 7.8+ target that has it as a secondary one.
#[test]
fn a_secondary_domain_clones_between_7_8_partitions_only() {
    let lab = TextLab::new(LAB);
    let (multi, plain, old) = (co_session(10), co_session(11), co_session(3));
    let key = token_aes(multi, b"edm");
    let clone = clone_object(plain, multi, key).unwrap();
    assert_eq!(
        get_attr(plain, clone, CKA_OUID).unwrap(),
        get_attr(multi, key, CKA_OUID).unwrap()
    );
    // A 7.8+ (V0) source never goes to a pre-7.7 target, whatever the domains.
    let before = lab.stored_objects("b7/dst");
    assert_eq!(
        clone_object(old, multi, key),
        Err(CKR_OPERATION_NOT_ALLOWED)
    );
    assert_eq!(lab.stored_objects("b7/dst"), before);
    // A 7.7.1 target whose domain is the 7.8+ source's secondary one: refused at the target.
    let v0 = co_session(5);
    assert_eq!(clone_object(v0, multi, key), Err(CKR_CERTIFICATE_INVALID));
    assert!(labelled(v0, b"edm").is_empty());
    // An older source whose domain is the 7.8+ target's secondary one: refused at the target;
    // a 7.8+ target whose primary it is: cloned.
    let src = co_session(0);
    let from_old = token_aes(src, b"edm-old");
    assert_eq!(
        clone_object(multi, src, from_old),
        Err(CKR_CERTIFICATE_INVALID)
    );
    assert!(clone_object(plain, src, from_old).is_ok());
}
