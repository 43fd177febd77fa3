//! The Luna model through the C ABI: roles by firmware era (a 6.21.2 partition has no Crypto
//! User; on PPSO partitions only the PO initialises the CO and only the CO the CU), forced PIN
//! change, password length, lockout after partition policy 20's count, partition policies
//! (dependencies, HSM ceilings, destructive changes that empty the partition), the `CA_*`
//! information calls, and `CKA_OUID`.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::ffi::CString;
use std::ptr::{null, null_mut};

const CKU_CRYPTO_USER: CK_USER_TYPE = 0x8000_0001;
const CKU_LIMITED_CRYPTO_OFFICER: CK_USER_TYPE = 0x8000_0003;
const CKR_USER_NOT_AUTHORIZED: CK_RV = 0x8000_001A;
const CKR_CONFIG_FAILS_DEPENDENCIES: CK_RV = 0x8000_007D;
const CKR_CONFIG_ILLEGAL: CK_RV = 0x8000_007C;
const CKR_CERTIFICATE_INVALID: CK_RV = 0x8000_000C;
const CKR_POLICY_ID_INVALID: CK_RV = 0x8000_007B;
const CKA_OUID: CK_ATTRIBUTE_TYPE = 0x8000_0005;

const PO: &[u8] = b"po-pin-0001";
const CO: &[u8] = b"co-pin-0001";
const CU: &[u8] = b"cu-pin-0001";

/// Slots: 0 a 6.21.2 partition (pre-PPSO), 1 a 7.4.2 partition with PO, CO and CU, 2 a blank
/// 7.4.2 partition, 3 a 7.7.1 partition on an HSM without cloning, 4 a 6.22.0 PPSO partition,
/// 5 a soft token, 6 a 7.4.2 PED partition, 7 a small 7.4.2 partition, 8 the 7.4.2 HSM's admin
/// partition, 9 a 7.4.2 partition on an HSM with policy 15 (SO can reset partition PIN) on,
/// 10 and 11 the admin and an application partition of another 7.4.2 HSM, 12 a 7.8.4 partition
/// with two cloning domains.
const LAB: &str = r#"
[lab]
name = "luna-test"

[[device]]
name = "sa5"
kind = "luna-network"
firmware = "6.21.2"
  [[device.partition]]
  name = "legacy"
  label = "legacy"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"

[[device]]
name = "sa7"
kind = "luna-network"
firmware = "7.4.2"
  [[device.partition]]
  name = "app"
  label = "app"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  crypto_user_pin = "cu-pin-0001"
  domain = "test-domain"
  policies = { 20 = 3 }
  [[device.partition]]
  name = "blank"
  [[device.partition]]
  name = "admin"
  label = "admin"
  so_pin = "hso-pin-0001"
  admin = true
  [[device.partition]]
  name = "small"
  label = "small"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  size = 1500

[[device]]
name = "k7"
kind = "luna-pcie"
firmware = "7.7.1"
hsm_policies = { 7 = 0 }
  [[device.partition]]
  name = "nocloning"
  label = "nocloning"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"

[[device]]
name = "sa6"
kind = "luna-network"
firmware = "6.22.0"
  [[device.partition]]
  name = "ppso"
  label = "ppso"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "domain-old"

[[device]]
name = "soft"
kind = "soft"
  [[device.partition]]
  name = "t"
  label = "soft"
  so_pin = "so-pin-0001"
  user_pin = "co-pin-0001"

[[device]]
name = "ped7"
kind = "luna-usb"
firmware = "7.4.2"
auth = "ped"
  [[device.partition]]
  name = "p"
  label = "ped"
  so_ped_key = "ped/blue.key"
  user_ped_key = "ped/black.key"

[[device]]
name = "reset7"
kind = "luna-network"
firmware = "7.4.2"
hsm_policies = { 15 = 1 }
  [[device.partition]]
  name = "app"
  label = "resettable"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  crypto_user_pin = "cu-pin-0001"
  policies = { 20 = 3 }

[[device]]
name = "hso7"
kind = "luna-pcie"
firmware = "7.4.2"
  [[device.partition]]
  name = "admin"
  label = "admin"
  so_pin = "hso-pin-0001"
  admin = true
  [[device.partition]]
  name = "app"
  label = "app"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"

[[device]]
name = "sa78"
kind = "luna-network"
firmware = "7.8.4"
  [[device.partition]]
  name = "multi"
  label = "multi"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "domain-new"
  other_domains = ["domain-old"]

[[host]]
name = "client"
slot = [
  { id = 0, partition = "sa5/legacy" },
  { id = 1, partition = "sa7/app" },
  { id = 2, partition = "sa7/blank" },
  { id = 3, partition = "k7/nocloning" },
  { id = 4, partition = "sa6/ppso" },
  { id = 5, partition = "soft/t" },
  { id = 6, partition = "ped7/p" },
  { id = 7, partition = "sa7/small" },
  { id = 8, partition = "sa7/admin" },
  { id = 9, partition = "reset7/app" },
  { id = 10, partition = "hso7/admin" },
  { id = 11, partition = "hso7/app" },
  { id = 12, partition = "sa78/multi" },
]
"#;

/// `CA_CreateLoginChallenge` for `user`, with a zero output length as pycryptoki passes it.
fn create_login_challenge(s: CK_SESSION_HANDLE, user: CK_USER_TYPE, challenge: &[u8]) -> CK_RV {
    let (mut out_len, mut out) = (0, [0u8; 1]);
    // SAFETY: valid buffers that outlive the call.
    unsafe {
        CA_CreateLoginChallenge(
            s,
            user,
            challenge.len() as CK_ULONG,
            challenge.as_ptr() as *mut _,
            &mut out_len,
            out.as_mut_ptr(),
        )
    }
}

/// `CA_GetConfigurationElementDescription` of partition (`is_container` 1) or HSM element `id`,
/// by the SDK's 8-argument call (pycryptoki's signature: no description length; the buffer
/// holds `ELEMENT_DESCRIPTION_ROOM` bytes): (bit length, destructive, NUL-terminated
/// description).
fn element_description(
    slot: CK_SLOT_ID,
    is_container: CK_ULONG,
    id: CK_ULONG,
) -> Result<(CK_ULONG, CK_ULONG, Vec<u8>), CK_RV> {
    let (mut bits, mut destructive, mut restricted) = (0, 0, 0);
    let mut text = vec![0xFFu8; ELEMENT_DESCRIPTION_ROOM];
    // SAFETY: valid out-pointers; `text` holds `ELEMENT_DESCRIPTION_ROOM` bytes.
    let rv = unsafe {
        CA_GetConfigurationElementDescription(
            slot,
            is_container,
            0,
            id,
            &mut bits,
            &mut destructive,
            &mut restricted,
            text.as_mut_ptr(),
        )
    };
    if rv != CKR_OK {
        return Err(rv);
    }
    let end = text.iter().position(|b| *b == 0).expect("NUL-terminated");
    text.truncate(end + 1);
    Ok((bits, destructive, text))
}

fn rw_session(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap()
}

fn init_role_pin(s: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> CK_RV {
    // SAFETY: a valid PIN buffer.
    unsafe { CA_InitRolePIN(s, user, pin.as_ptr() as *mut _, pin.len() as CK_ULONG) }
}

fn set_pin(s: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> CK_RV {
    // SAFETY: valid PIN buffers.
    unsafe {
        C_SetPIN(
            s,
            old.as_ptr() as *mut _,
            old.len() as CK_ULONG,
            new.as_ptr() as *mut _,
            new.len() as CK_ULONG,
        )
    }
}

fn role_state(slot: CK_SLOT_ID, user: CK_USER_TYPE) -> Result<CA_ROLE_STATE, CK_RV> {
    let mut state = CA_ROLE_STATE {
        flags: 0xEE,
        loginAttemptsLeft: 0xEE,
        primaryAuthMech: 0xEE,
        secondaryAuthMech: 0xEE,
    };
    // SAFETY: a valid out-pointer.
    match unsafe { CA_RoleStateGet(slot, user, &mut state) } {
        CKR_OK => Ok(state),
        rv => Err(rv),
    }
}

fn set_policies(s: CK_SESSION_HANDLE, slot: CK_SLOT_ID, changes: &[(CK_ULONG, CK_ULONG)]) -> CK_RV {
    let mut ids: Vec<CK_ULONG> = changes.iter().map(|c| c.0).collect();
    let mut vals: Vec<CK_ULONG> = changes.iter().map(|c| c.1).collect();
    // SAFETY: both arrays hold `changes.len()` elements.
    unsafe {
        CA_SetTokenPolicies(
            s,
            slot,
            changes.len() as CK_ULONG,
            ids.as_mut_ptr(),
            vals.as_mut_ptr(),
        )
    }
}

fn data_object(s: CK_SESSION_HANDLE, label: &str) -> CK_OBJECT_HANDLE {
    create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, true)
            .bytes(CKA_LABEL, label.as_bytes())
            .bytes(CKA_VALUE, b"payload"),
    )
    .unwrap()
}

#[test]
fn a_pre_ppso_partition_has_no_crypto_user_or_limited_officer() {
    let _lab = TextLab::new(LAB);
    let s = rw_session(0);
    assert_eq!(login(s, CKU_CRYPTO_USER, CU), CKR_USER_TYPE_INVALID);
    assert_eq!(
        login(s, CKU_LIMITED_CRYPTO_OFFICER, CU),
        CKR_USER_TYPE_INVALID
    );
    assert_eq!(
        role_state(0, CKU_CRYPTO_USER).unwrap_err(),
        CKR_USER_TYPE_INVALID
    );
    // The owner logs in as CKU_USER; it cannot create a Crypto User either.
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    assert_eq!(init_role_pin(s, CKU_CRYPTO_USER, CU), CKR_USER_TYPE_INVALID);
    // 6.22.0 PPSO has a Crypto User but no Limited Crypto Officer (7.x adds it).
    let s4 = rw_session(4);
    assert_eq!(
        login(s4, CKU_LIMITED_CRYPTO_OFFICER, CU),
        CKR_USER_TYPE_INVALID
    );
    assert_eq!(login(s4, CKU_USER, CO), CKR_OK);
    assert_eq!(init_role_pin(s4, CKU_CRYPTO_USER, CU), CKR_OK);
}

#[test]
fn on_a_ppso_partition_po_initialises_co_and_co_initialises_cu() {
    let _lab = TextLab::new(LAB);
    // A blank 7.4.2 partition: the PO initialises it and the CO.
    let label = *b"fresh                           ";
    // SAFETY: valid buffers; the label is 32 bytes.
    let rv = unsafe {
        C_InitToken(
            2,
            PO.as_ptr() as *mut _,
            PO.len() as CK_ULONG,
            label.as_ptr() as *mut _,
        )
    };
    assert_eq!(rv, CKR_OK);
    let s = rw_session(2);
    assert_eq!(login(s, CKU_SO, PO), CKR_OK);
    assert_eq!(
        init_role_pin(s, CKU_CRYPTO_USER, CU),
        CKR_USER_NOT_AUTHORIZED,
        "the PO cannot make a CU"
    );
    assert_eq!(init_role_pin(s, CKU_USER, CO), CKR_OK);
    assert_eq!(logout(s), CKR_OK);
    // The CO's PIN was set by the PO: HSM policy 21 forces a change at first login.
    assert_eq!(role_state(2, CKU_USER).unwrap().flags & 0x10, 0x10);
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    // SAFETY: an empty template.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_FindObjectsInit(s, null_mut(), 0) },
        CKR_PIN_EXPIRED
    );
    assert_eq!(init_role_pin(s, CKU_CRYPTO_USER, CU), CKR_PIN_EXPIRED);
    assert_eq!(
        set_pin(s, CO, b"short"),
        CKR_PIN_LEN_RANGE,
        "Luna passwords are 8-255"
    );
    assert_eq!(set_pin(s, CO, b"co-pin-0002"), CKR_OK);
    assert_eq!(role_state(2, CKU_USER).unwrap().flags & 0x10, 0);
    // SAFETY: an empty template.
    assert_eq!(unsafe { C_FindObjectsInit(s, null_mut(), 0) }, CKR_OK);
    // SAFETY: ends the search.
    assert_eq!(unsafe { C_FindObjectsFinal(s) }, CKR_OK);
    // The CO makes the CU and the LCO, not another CO.
    assert_eq!(init_role_pin(s, CKU_USER, CO), CKR_USER_NOT_AUTHORIZED);
    assert_eq!(init_role_pin(s, CKU_CRYPTO_USER, CU), CKR_OK);
    assert_eq!(
        init_role_pin(s, CKU_LIMITED_CRYPTO_OFFICER, b"lco-pin-001"),
        CKR_OK
    );
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(login(s, CKU_CRYPTO_USER, CU), CKR_OK);
    let state = role_state(2, CKU_CRYPTO_USER).unwrap();
    assert_eq!(state.flags & 0x01, 0x01, "initialised");
    assert_eq!(state.primaryAuthMech, 1, "password");
}

#[test]
fn partition_policy_20_sets_the_lockout_and_the_status_calls_report_it() {
    let _lab = TextLab::new(LAB);
    assert_eq!(policy(1, 20), 3);
    let s = rw_session(1);
    assert_eq!(login(s, CKU_USER, b"wrong-pin-1"), CKR_PIN_INCORRECT);
    assert_eq!(role_state(1, CKU_USER).unwrap().loginAttemptsLeft, 2);
    assert_eq!(login(s, CKU_USER, b"wrong-pin-2"), CKR_PIN_INCORRECT);
    assert_eq!(login(s, CKU_USER, b"wrong-pin-3"), CKR_PIN_LOCKED);
    assert_eq!(
        login(s, CKU_USER, CO),
        CKR_PIN_LOCKED,
        "locked: even the right PIN"
    );
    let state = role_state(1, CKU_USER).unwrap();
    assert_eq!(state.flags & 0x02, 0x02);
    assert_eq!(state.loginAttemptsLeft, 0);
    let (mut flags, mut so, mut user, mut limited) = (0, 0, 0, 0);
    let mut container = 0;
    // SAFETY: valid out-pointers.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { CA_GetUserContainerNumber(1, &mut container) },
        CKR_OK
    );
    // SAFETY: valid out-pointers.
    let rv = unsafe {
        CA_GetContainerStatus(1, container, &mut flags, &mut so, &mut user, &mut limited)
    };
    assert_eq!(rv, CKR_OK);
    assert_ne!(flags & 0x4_0000, 0, "LUNA_CF_USER_PIN_LOCKED");
    assert_ne!(flags & 0x20_0000, 0, "LUNA_CF_LIMITED_USER_CREATED");
    assert_eq!((so, user, limited), (0, 3, 0));
    // SAFETY: valid out-pointers.
    let rv = unsafe {
        CA_GetContainerStatus(
            1,
            container + 100,
            &mut flags,
            &mut so,
            &mut user,
            &mut limited,
        )
    };
    assert_eq!(rv, 0x8000_0005, "CKR_CONTAINER_HANDLE_INVALID");
    // The locked-out CO locks the CU out too.
    assert_eq!(login(s, CKU_CRYPTO_USER, CU), CKR_PIN_LOCKED);
    assert_eq!(role_state(1, CKU_CRYPTO_USER).unwrap().flags & 0x02, 0x02);
    // HSM policy 15 is off by default: the PO may not reset the CO's PIN.
    assert_eq!(hsm_policy(1, 15), 0);
    assert_eq!(login(s, CKU_SO, PO), CKR_OK);
    assert_eq!(
        init_role_pin(s, CKU_USER, b"co-pin-0003"),
        CKR_USER_NOT_AUTHORIZED
    );
    assert_eq!(login_error_after_logout(s, CKU_USER, CO), CKR_PIN_LOCKED);
}

fn login_error_after_logout(s: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> CK_RV {
    let _ = logout(s);
    login(s, user, pin)
}

#[test]
fn with_hsm_policy_15_the_po_resets_a_locked_co_and_the_co_resets_the_cu() {
    let _lab = TextLab::new(LAB);
    assert_eq!(hsm_policy(9, 15), 1);
    let s = rw_session(9);
    for pin in [b"wrong-pin-1", b"wrong-pin-2", b"wrong-pin-3"] {
        let _ = login(s, CKU_USER, pin);
    }
    assert_eq!(login(s, CKU_USER, CO), CKR_PIN_LOCKED);
    assert_eq!(login(s, CKU_SO, PO), CKR_OK);
    assert_eq!(init_role_pin(s, CKU_USER, b"co-pin-0002"), CKR_OK);
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(
        login(s, CKU_USER, CO),
        CKR_PIN_INCORRECT,
        "the old PIN is gone"
    );
    assert_eq!(login(s, CKU_USER, b"co-pin-0002"), CKR_OK);
    assert_eq!(set_pin(s, b"co-pin-0002", b"co-pin-0003"), CKR_OK);
    assert_eq!(logout(s), CKR_OK);
    // The CU locks itself out; the CO resets it whatever policy 15 says.
    for pin in [b"wrong-pin-1", b"wrong-pin-2", b"wrong-pin-3"] {
        let _ = login(s, CKU_CRYPTO_USER, pin);
    }
    assert_eq!(login(s, CKU_CRYPTO_USER, CU), CKR_PIN_LOCKED);
    assert_eq!(login(s, CKU_USER, b"co-pin-0003"), CKR_OK);
    assert_eq!(init_role_pin(s, CKU_CRYPTO_USER, b"cu-pin-0002"), CKR_OK);
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(login(s, CKU_CRYPTO_USER, b"cu-pin-0002"), CKR_OK);
}

#[test]
fn before_firmware_7_a_locked_role_waits_ten_minutes() {
    let lab = TextLab::new(LAB);
    let s = rw_session(4);
    for i in 0..9 {
        assert_eq!(
            login(s, CKU_USER, b"wrong-pin-0"),
            CKR_PIN_INCORRECT,
            "try {i}"
        );
    }
    assert_eq!(login(s, CKU_USER, b"wrong-pin-0"), CKR_PIN_LOCKED);
    assert_eq!(
        login(s, CKU_USER, CO),
        CKR_PIN_LOCKED,
        "locked: even the right PIN"
    );
    lab.set_env("HSMSIM_CLOCK_OFFSET", "590");
    assert_eq!(
        login(s, CKU_USER, CO),
        CKR_PIN_LOCKED,
        "nine minutes 50 later"
    );
    lab.set_env("HSMSIM_CLOCK_OFFSET", "601");
    let flags = token_info(4).flags;
    assert_eq!(
        flags & CKF_USER_PIN_LOCKED,
        0,
        "the lock has ended: no longer shown"
    );
    assert_eq!(role_state(4, CKU_USER).unwrap().loginAttemptsLeft, 10);
    assert_eq!(login(s, CKU_USER, CO), CKR_OK, "ten minutes later");
    assert_eq!(logout(s), CKR_OK);
    // The count starts again: one wrong PIN does not lock.
    assert_eq!(login(s, CKU_USER, b"wrong-pin-0"), CKR_PIN_INCORRECT);
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
}

#[test]
fn three_wrong_hsm_so_logins_zeroise_the_hsm() {
    let lab = TextLab::new(LAB);
    let app = rw_session(11);
    assert_eq!(login(app, CKU_USER, CO), CKR_OK);
    data_object(app, "doomed");
    let admin = rw_session(10);
    assert_eq!(login(admin, CKU_SO, b"wrong-pin-1"), CKR_PIN_INCORRECT);
    assert_eq!(login(admin, CKU_SO, b"wrong-pin-2"), CKR_PIN_INCORRECT);
    assert_eq!(login(admin, CKU_SO, b"wrong-pin-3"), CKR_PIN_LOCKED);
    for slot in [10, 11] {
        let info = token_info(slot);
        assert_eq!(
            info.flags & CKF_TOKEN_INITIALIZED,
            0,
            "slot {slot} is blank"
        );
    }
    let mut info = std::mem::MaybeUninit::<CK_SESSION_INFO>::zeroed();
    // SAFETY: a valid out-pointer.
    let rv = unsafe { C_GetSessionInfo(app, info.as_mut_ptr()) };
    assert_eq!(
        rv, CKR_SESSION_HANDLE_INVALID,
        "the partition's sessions are closed"
    );
    assert_eq!(lab.stored_objects("hso7/app"), 0, "the objects are gone");
    // Another HSM's partitions are untouched; a pre-PPSO partition's SO is the HSM SO.
    let legacy = rw_session(0);
    assert_eq!(login(legacy, CKU_USER, CO), CKR_OK);
    data_object(legacy, "legacy-object");
    assert_eq!(lab.stored_objects("sa5/legacy"), 1);
    assert_eq!(logout(legacy), CKR_OK);
    for _ in 0..2 {
        assert_eq!(login(legacy, CKU_SO, b"wrong-pin-0"), CKR_PIN_INCORRECT);
    }
    assert_eq!(role_state(0, CKU_SO).unwrap().loginAttemptsLeft, 1);
    assert_eq!(login(legacy, CKU_SO, b"wrong-pin-0"), CKR_PIN_LOCKED);
    assert_eq!(lab.stored_objects("sa5/legacy"), 0);
    let s1 = rw_session(1);
    assert_eq!(login(s1, CKU_USER, CO), CKR_OK, "sa7 is another HSM");
}

#[test]
fn policies_0_and_1_are_exclusive_and_a_destructive_change_empties_the_partition() {
    let _lab = TextLab::new(LAB);
    assert_eq!((policy(1, 0), policy(1, 1)), (1, 0));
    let s = rw_session(1);
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    let kept = data_object(s, "before");
    assert_eq!(
        set_policies(s, 1, &[(0, 0)]),
        CKR_USER_NOT_AUTHORIZED,
        "the CO cannot"
    );
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(login(s, CKU_SO, PO), CKR_OK);
    assert_eq!(set_policies(s, 1, &[(1, 1)]), CKR_CONFIG_FAILS_DEPENDENCIES);
    assert_eq!(set_policies(s, 1, &[(99, 1)]), CKR_POLICY_ID_INVALID);
    assert_eq!(set_policies(s, 1, &[(20, 300)]), CKR_CONFIG_ILLEGAL);
    // 0 off is not destructive: the object stays.
    assert_eq!(set_policies(s, 1, &[(0, 0)]), CKR_OK);
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    assert_eq!(
        find(s, Template::new().bytes(CKA_LABEL, b"before")),
        vec![kept]
    );
    assert_eq!(logout(s), CKR_OK);
    // 1 on (key export mode) is destructive: every object goes.
    assert_eq!(login(s, CKU_SO, PO), CKR_OK);
    assert_eq!(set_policies(s, 1, &[(1, 1)]), CKR_OK);
    assert_eq!((policy(1, 0), policy(1, 1)), (0, 1));
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    // Only the token's profile objects (never stored) are left.
    let profile = CKO_PROFILE.to_ne_bytes().to_vec();
    assert!(
        find(s, Template::new())
            .iter()
            .all(|h| get_attr(s, *h, CKA_CLASS) == Ok(profile.clone()))
    );
    assert_eq!(
        get_attr(s, kept, CKA_LABEL).unwrap_err().0,
        CKR_OBJECT_HANDLE_INVALID
    );
}

#[test]
fn partition_policies_cannot_be_looser_than_the_hsm() {
    let _lab = TextLab::new(LAB);
    // Slot 3's HSM has cloning (HSM policy 7) off: cloning policies 0 and 4 are capped at 0.
    let mut value = 9;
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { CA_GetHSMPolicySetting(3, 7, &mut value) }, CKR_OK);
    assert_eq!(value, 0);
    assert_eq!((policy(3, 0), policy(3, 4)), (0, 0));
    let s = rw_session(3);
    assert_eq!(login(s, CKU_SO, PO), CKR_OK);
    assert_eq!(set_policies(s, 3, &[(4, 1)]), CKR_CONFIG_ILLEGAL);
    // 7.7.1 has partition versions (policy 41), 7.4.2 does not.
    assert!(token_policies(3).iter().any(|(id, _)| *id == 41));
    assert!(!token_policies(1).iter().any(|(id, _)| *id == 41));
}

#[test]
fn information_calls_report_firmware_descriptions_and_token_identity() {
    let _lab = TextLab::new(LAB);
    let (mut major, mut minor, mut sub) = (0, 0, 0);
    // SAFETY: valid out-pointers.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { CA_GetFirmwareVersion(0, &mut major, &mut minor, &mut sub) },
        CKR_OK
    );
    assert_eq!((major, minor, sub), (6, 21, 2));
    // SAFETY: valid out-pointers.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { CA_GetFirmwareVersion(5, &mut major, &mut minor, &mut sub) },
        CKR_FUNCTION_NOT_SUPPORTED,
        "a soft token is not a Luna partition"
    );
    let (bits, destructive, text) = element_description(1, 1, 0).unwrap();
    assert_eq!(&text[..], b"Allow private key cloning\0");
    assert_eq!((bits, destructive), (1, 1));
    let info = token_info(1);
    assert!(info.manufacturerID.starts_with(b"Safenet, Inc."));
    assert!(info.model.starts_with(b"LunaSA 7"));
    assert_eq!(
        (info.firmwareVersion.major, info.firmwareVersion.minor),
        (7, 4)
    );
    assert_eq!(info.ulMinPinLen, 8);
    assert_eq!(info.flags & CKF_PROTECTED_AUTHENTICATION_PATH, 0);
    let ped = token_info(6);
    assert_ne!(ped.flags & CKF_PROTECTED_AUTHENTICATION_PATH, 0);
    assert_eq!(role_state(6, CKU_SO).unwrap().primaryAuthMech, 2, "PED");
    let mut slot = std::mem::MaybeUninit::<CK_SLOT_INFO>::zeroed();
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { C_GetSlotInfo(1, slot.as_mut_ptr()) }, CKR_OK);
    // SAFETY: filled by C_GetSlotInfo.
    let slot = unsafe { slot.assume_init() };
    assert!(slot.slotDescription.starts_with(b"Net Token Slot"));
    assert!(slot.manufacturerID.starts_with(b"Safenet, Inc."));
}

#[test]
fn every_object_has_a_12_byte_ouid_that_finds_it_again() {
    let _lab = TextLab::new(LAB);
    let s = rw_session(1);
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    let a = data_object(s, "a");
    let b = data_object(s, "b");
    let ouid_a = get_attr(s, a, CKA_OUID).unwrap();
    assert_eq!(ouid_a.len(), 12);
    assert_ne!(ouid_a, get_attr(s, b, CKA_OUID).unwrap());
    let mut via_ca = [0u8; 12];
    // SAFETY: a 12-byte buffer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { CA_GetObjectUID(1, 1, 0, a, via_ca.as_mut_ptr()) },
        CKR_OK
    );
    assert_eq!(via_ca.to_vec(), ouid_a);
    let (mut kind, mut handle) = (9, 0);
    // SAFETY: a 12-byte OUID and valid out-pointers.
    let rv = unsafe { CA_GetObjectHandle(1, 1, via_ca.as_mut_ptr(), &mut kind, &mut handle) };
    assert_eq!((rv, kind, handle), (CKR_OK, 0, a));
    // The token sets it: a template may not.
    let refused = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bytes(CKA_OUID, &[1; 12]),
    );
    assert_eq!(refused.unwrap_err(), CKR_ATTRIBUTE_READ_ONLY);
    let _ = null::<u8>();
}

#[test]
fn ca_init_token_sets_the_domain_and_policies_with_their_destructiveness() {
    let _lab = TextLab::new(LAB);
    let label = b"via-ca";
    let domain = b"shared-domain";
    let mut policies = [CK_POLICY_INFO {
        ulId: 0,
        ulValue: 0,
        ulOffToOnDestructive: 0,
        ulOnToOffDestructive: 0,
    }];
    let label = CString::new(&label[..]).unwrap();
    // SAFETY: valid buffers with their lengths; the label is NUL-terminated.
    let rv = unsafe {
        CA_InitToken(
            2,
            PO.as_ptr() as *mut _,
            PO.len() as CK_ULONG,
            label.as_ptr() as *mut _,
            domain.as_ptr() as *mut _,
            domain.len() as CK_ULONG,
            1,
            policies.as_mut_ptr(),
            0,
            null_mut(),
        )
    };
    assert_eq!(rv, CKR_OK);
    assert_eq!(policy(2, 0), 0);
    // Policy 0 was made non-destructive off -> on for this partition: turning it on keeps objects.
    let s = rw_session(2);
    assert_eq!(login(s, CKU_SO, PO), CKR_OK);
    assert_eq!(init_role_pin(s, CKU_USER, CO), CKR_OK);
    assert_eq!(element_description(2, 1, 0).unwrap().1, 0);
    assert_eq!(set_policies(s, 2, &[(0, 1)]), CKR_OK);
    assert_eq!(policy(2, 0), 1);
}

#[test]
fn a_ped_login_needs_the_right_key_and_an_activated_role_its_challenge() {
    let lab = TextLab::new(LAB);
    let s = rw_session(6);
    // The lab's own black key is presented: the CO logs in without a PIN.
    assert_eq!(login(s, CKU_USER, b""), CKR_OK);
    assert_eq!(logout(s), CKR_OK);
    // Another black key: a wrong key, counted as a failed login.
    let other = lab.dir.path().join("other-black.key");
    std::fs::write(
        &other,
        r#"{"colour":"black","secret":"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}"#,
    )
    .unwrap();
    lab.present_ped_keys(Some(&format!("black={}", other.display())));
    assert_eq!(login(s, CKU_USER, b""), CKR_PIN_INCORRECT);
    assert_eq!(role_state(6, CKU_USER).unwrap().loginAttemptsLeft, 9);
    // A blue key offered for the black prompt is a wrong key too.
    let blue = lab.dir.path().join("ped/blue.key");
    lab.present_ped_keys(Some(&format!("black={}", blue.display())));
    assert_eq!(login(s, CKU_USER, b""), CKR_PIN_INCORRECT);
    // No key at all: the PED reports it.
    lab.present_ped_keys(Some("black=/nonexistent/black.key"));
    assert_eq!(login(s, CKU_USER, b""), 0x8000_009E, "CKR_PED_ERROR");
    lab.present_ped_keys(None);
    // A password is no PED key: before activation it is refused.
    assert_eq!(login(s, CKU_USER, b"co-pin-0001"), CKR_USER_NOT_AUTHORIZED);

    // The PO allows activation (policy 22) and sets the CO's challenge secret.
    assert_eq!(login(s, CKU_SO, b""), CKR_OK);
    assert_eq!(set_policies(s, 6, &[(22, 1)]), CKR_OK);
    let challenge = b"chal-secret";
    assert_eq!(create_login_challenge(s, CKU_USER, challenge), CKR_OK);
    assert_eq!(logout(s), CKR_OK);
    // The first login with the PED key activates the CO; then the challenge alone works.
    assert_eq!(login(s, CKU_USER, b""), CKR_OK);
    assert_eq!(
        role_state(6, CKU_USER).unwrap().flags & 0x04,
        0x04,
        "activated"
    );
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(login(s, CKU_USER, b"wrong-chal"), CKR_PIN_INCORRECT);
    assert_eq!(login(s, CKU_USER, challenge), CKR_OK);
    assert_eq!(logout(s), CKR_OK);
    // SAFETY: plain arguments.
    assert_eq!(unsafe { CA_Deactivate(6, CKU_USER) }, CKR_OK);
    assert_eq!(role_state(6, CKU_USER).unwrap().flags & 0x04, 0);
    assert_eq!(login(s, CKU_USER, challenge), CKR_USER_NOT_AUTHORIZED);
}

/// The PO turns activation on (and auto-activation when `auto`) on the PED partition of slot
/// 6, sets the CO's challenge, and the CO's first PED login activates it.
fn activate_ped_co(s: CK_SESSION_HANDLE, auto: bool, challenge: &[u8]) {
    assert_eq!(login(s, CKU_SO, b""), CKR_OK);
    assert_eq!(
        set_policies(s, 6, &[(22, 1), (23, CK_ULONG::from(auto))]),
        CKR_OK
    );
    assert_eq!(create_login_challenge(s, CKU_USER, challenge), CKR_OK);
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(login(s, CKU_USER, b""), CKR_OK);
    assert_eq!(logout(s), CKR_OK);
}

fn restart_device(lab: &TextLab, device: &str, outage_secs: u64) -> Vec<CK_USER_TYPE> {
    let selection = hsmsim::estate::select(&hsmsim::estate::Choice {
        lab_file: Some(lab.dir.path().join("lab.toml")),
        host: None,
        state_dir: None,
    })
    .unwrap();
    hsmsim::estate::restart_device(&selection, &device.parse().unwrap(), outage_secs)
        .unwrap()
        .into_iter()
        .flat_map(|p| p.deactivated)
        .collect()
}

#[test]
fn a_restart_ends_activation_unless_auto_activation_covers_the_outage() {
    let lab = TextLab::new(LAB);
    let challenge = b"chal-secret";
    let s = rw_session(6);
    activate_ped_co(s, false, challenge);
    // Without auto-activation a reboot drops the cached PED secret; sessions end.
    assert_eq!(restart_device(&lab, "ped7", 0), vec![CKU_USER]);
    assert_eq!(login(s, CKU_USER, challenge), CKR_SESSION_HANDLE_INVALID);
    let s = rw_session(6);
    assert_eq!(role_state(6, CKU_USER).unwrap().flags & 0x04, 0);
    assert_eq!(login(s, CKU_USER, challenge), CKR_USER_NOT_AUTHORIZED);
    // With auto-activation it survives a reboot and an outage of up to two hours.
    activate_ped_co(s, true, challenge);
    assert!(restart_device(&lab, "ped7", 0).is_empty());
    let s = rw_session(6);
    assert_eq!(login(s, CKU_USER, challenge), CKR_OK);
    assert_eq!(logout(s), CKR_OK);
    assert!(restart_device(&lab, "ped7", 2 * 3600).is_empty());
    let s = rw_session(6);
    assert_eq!(login(s, CKU_USER, challenge), CKR_OK);
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(restart_device(&lab, "ped7", 2 * 3600 + 1), vec![CKU_USER]);
    let s = rw_session(6);
    assert_eq!(login(s, CKU_USER, challenge), CKR_USER_NOT_AUTHORIZED);
}

#[test]
fn a_full_partition_answers_storage_full_and_reports_its_memory() {
    let _lab = TextLab::new(LAB);
    let memory = |slot| {
        let info = token_info(slot);
        (info.ulTotalPublicMemory, info.ulFreePublicMemory)
    };
    assert_eq!(memory(7), (1500, 1500));
    assert_eq!(
        memory(1).0,
        CK_UNAVAILABLE_INFORMATION,
        "no size: unlimited"
    );
    let s = rw_session(7);
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    let mut made = Vec::new();
    let full = loop {
        let r = create(
            s,
            Template::new()
                .ulong(CKA_CLASS, CKO_DATA)
                .bool(CKA_TOKEN, true)
                .bytes(CKA_LABEL, format!("obj{}", made.len()).as_bytes())
                .bytes(CKA_VALUE, &[7u8; 100]),
        );
        match r {
            Ok(h) => made.push(h),
            Err(rv) => break rv,
        }
        assert!(made.len() < 100, "the partition never filled up");
    };
    assert_eq!(full, 0x8000_002C, "CKR_CONTAINER_OBJECT_STORAGE_FULL");
    assert!(!made.is_empty());
    let (_, free) = memory(7);
    assert!(free < 400, "free {free}");
    // Session objects do not use the partition's space.
    assert!(
        create(
            s,
            Template::new()
                .ulong(CKA_CLASS, CKO_DATA)
                .bytes(CKA_VALUE, &[7u8; 100])
        )
        .is_ok()
    );
    // Destroying one makes room again.
    // SAFETY: a handle this session made.
    assert_eq!(unsafe { C_DestroyObject(s, made[0]) }, CKR_OK);
    assert!(memory(7).1 > free);
}

fn set_hsm_policy(s: CK_SESSION_HANDLE, id: CK_ULONG, value: CK_ULONG, destructive: bool) -> CK_RV {
    // SAFETY: plain arguments.
    unsafe {
        if destructive {
            CA_SetDestructiveHSMPolicy(s, id, value)
        } else {
            CA_SetHSMPolicy(s, id, value)
        }
    }
}

fn hsm_policy(slot: CK_SLOT_ID, id: CK_ULONG) -> CK_ULONG {
    let mut value = 99;
    // SAFETY: a valid out-pointer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { CA_GetHSMPolicySetting(slot, id, &mut value) },
        CKR_OK
    );
    value
}

#[test]
fn the_hsm_so_changes_hsm_policies_and_a_destructive_one_zeroises_the_partitions() {
    let lab = TextLab::new(LAB);
    let other = lab.other_process();
    // The PO of a PPSO partition is not the HSM SO.
    let po = rw_session(1);
    assert_eq!(login(po, CKU_SO, PO), CKR_OK);
    assert_eq!(set_hsm_policy(po, 21, 0, false), CKR_USER_NOT_AUTHORIZED);
    assert_eq!(logout(po), CKR_OK);
    assert_eq!(login(po, CKU_USER, CO), CKR_OK);
    let kept = data_object(po, "on the partition");
    // The HSM SO, on the admin partition.
    let hso = rw_session(8);
    assert_eq!(login(hso, CKU_SO, b"hso-pin-0001"), CKR_OK);
    assert_eq!(set_hsm_policy(hso, 21, 0, false), CKR_OK);
    assert_eq!(
        hsm_policy(1, 21),
        0,
        "every partition of the device sees it"
    );
    assert_eq!(
        other
            .partition_view(1, |p| hsmsim::models::luna_ca::hsm_policy(p, 21))
            .unwrap(),
        0,
        "and other processes"
    );
    assert_eq!(set_hsm_policy(hso, 99, 1, false), CKR_POLICY_ID_INVALID);
    assert_eq!(set_hsm_policy(hso, 21, 2, false), CKR_CONFIG_ILLEGAL);
    // Cloning (7) off is destructive: refused without the destructive call.
    assert_eq!(
        set_hsm_policy(hso, 7, 0, false),
        0x8000_0077,
        "CKR_CONFIG_CHANGE_ILLEGAL"
    );
    assert_eq!(
        find(po, Template::new().bytes(CKA_LABEL, b"on the partition")),
        vec![kept]
    );
    assert_eq!(set_hsm_policy(hso, 7, 0, true), CKR_OK);
    let profile = CKO_PROFILE.to_ne_bytes().to_vec();
    assert!(
        find(po, Template::new())
            .iter()
            .all(|h| get_attr(po, *h, CKA_CLASS) == Ok(profile.clone())),
        "the device's partitions are zeroised (the token's profile objects are never stored)"
    );
    // The ceiling follows: partition cloning policies are capped at 0 now.
    assert_eq!((policy(1, 0), policy(1, 4)), (0, 0));
    assert_eq!(logout(po), CKR_OK);
    assert_eq!(login(po, CKU_SO, PO), CKR_OK);
    assert_eq!(set_policies(po, 1, &[(4, 1)]), CKR_CONFIG_ILLEGAL);
    // A pre-PPSO partition belongs to the HSM SO: its SO may change its device's policies.
    let legacy = rw_session(0);
    assert_eq!(login(legacy, CKU_SO, PO), CKR_OK);
    assert_eq!(set_hsm_policy(legacy, 16, 0, false), CKR_OK);
    assert_eq!(hsm_policy(0, 16), 0);
    assert_eq!(hsm_policy(1, 16), 1, "another device is not affected");
}

#[test]
fn ca_get_function_list_gives_every_entry_and_the_implemented_ones_work() {
    let _lab = TextLab::new(LAB);
    let mut list: *mut CK_SFNT_CA_FUNCTION_LIST = null_mut();
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { CA_GetFunctionList(&mut list) }, CKR_OK);
    assert!(!list.is_null());
    // SAFETY: the module returned a pointer to its static table.
    let table = unsafe { &*list };
    assert!(
        table.functions.iter().all(|f| !f.is_null()),
        "no null entry"
    );
    let index = |name: &str| CA_FUNCTION_NAMES.iter().position(|n| *n == name).unwrap();
    // pycryptoki's CK_SFNT_CA_FUNCTION_LIST ends with CA_PerformSelfTest, CA_GetFirmwareVersion.
    let at = index("CA_GetFirmwareVersion");
    assert_eq!(at, CA_FUNCTION_COUNT - 1);
    type FirmwareFn =
        unsafe extern "C" fn(CK_SLOT_ID, *mut CK_ULONG, *mut CK_ULONG, *mut CK_ULONG) -> CK_RV;
    // SAFETY: entry `at` is CA_GetFirmwareVersion, whose signature this is.
    let firmware: FirmwareFn = unsafe { std::mem::transmute(table.functions[at]) };
    let (mut a, mut b, mut c) = (0, 0, 0);
    // SAFETY: valid out-pointers.
    assert_eq!(unsafe { firmware(1, &mut a, &mut b, &mut c) }, CKR_OK);
    assert_eq!((a, b, c), (7, 4, 2));
    // Entries hsmsim does not model are their own exports, with their C signature.
    let restart = table.functions[index("CA_Restart")];
    assert_eq!(restart, CA_Restart as *const std::ffi::c_void);
    assert_ne!(restart, table.functions[index("CA_Zeroize")]);
    type RestartFn = unsafe extern "C" fn(CK_SLOT_ID) -> CK_RV;
    // SAFETY: the entry is CA_Restart, whose signature this is.
    let restart: RestartFn = unsafe { std::mem::transmute(restart) };
    // SAFETY: a scalar argument.
    assert_eq!(unsafe { restart(1) }, CKR_FUNCTION_NOT_SUPPORTED);
}

#[test]
fn the_crypto_user_uses_objects_but_does_not_change_them() {
    let _lab = TextLab::new(LAB);
    let s = rw_session(1);
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    let mut keygen = mech(CKM_AES_KEY_GEN);
    let mut t = Template::new()
        .bool(CKA_TOKEN, true)
        .ulong(CKA_VALUE_LEN, 16)
        .bytes(CKA_LABEL, b"shared-key");
    let mut raw = t.raw();
    let mut key = 0;
    // SAFETY: valid mechanism, template and out-pointer.
    let rv = unsafe {
        C_GenerateKey(
            s,
            &mut keygen,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            &mut key,
        )
    };
    assert_eq!(rv, CKR_OK);
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(login(s, CKU_CRYPTO_USER, CU), CKR_OK);
    assert_eq!(
        find(s, Template::new().bytes(CKA_LABEL, b"shared-key")),
        vec![key]
    );
    let mut ecb = mech(CKM_AES_ECB);
    assert_eq!(init(C_EncryptInit, s, &mut ecb, key), CKR_OK);
    assert_eq!(produce(C_Encrypt, s, &[1u8; 16]).unwrap().len(), 16);
    let refused = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_PRIVATE, true)
            .bytes(CKA_VALUE, b"x"),
    );
    assert_eq!(refused.unwrap_err(), CKR_USER_NOT_AUTHORIZED);
    // SAFETY: a handle visible to this session.
    assert_eq!(unsafe { C_DestroyObject(s, key) }, CKR_USER_NOT_AUTHORIZED);
    // Public objects it may create and destroy.
    let public = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, true)
            .bool(CKA_PRIVATE, false)
            .bytes(CKA_VALUE, b"x"),
    )
    .unwrap();
    // SAFETY: a handle visible to this session.
    assert_eq!(unsafe { C_DestroyObject(s, public) }, CKR_OK);
    // The Limited Crypto Officer has the same rights (simulator-defined).
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    assert_eq!(
        init_role_pin(s, CKU_LIMITED_CRYPTO_OFFICER, b"lco-pin-001"),
        CKR_OK
    );
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(login(s, CKU_LIMITED_CRYPTO_OFFICER, b"lco-pin-001"), CKR_OK);
    assert_eq!(set_pin(s, b"lco-pin-001", b"lco-pin-002"), CKR_OK);
    assert_eq!(init(C_EncryptInit, s, &mut ecb, key), CKR_OK);
    assert_eq!(produce(C_Encrypt, s, &[1u8; 16]).unwrap().len(), 16);
    // SAFETY: a handle visible to this session.
    assert_eq!(unsafe { C_DestroyObject(s, key) }, CKR_USER_NOT_AUTHORIZED);
    assert!(
        create(
            s,
            Template::new()
                .ulong(CKA_CLASS, CKO_DATA)
                .bool(CKA_PRIVATE, false)
                .bytes(CKA_VALUE, b"y"),
        )
        .is_ok()
    );
}

#[test]
fn a_locked_out_partition_so_zeroises_the_partition() {
    let _lab = TextLab::new(LAB);
    let s = rw_session(1);
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    data_object(s, "doomed");
    assert_eq!(logout(s), CKR_OK);
    // Partition policy 20 is 3 on this partition.
    assert_eq!(login(s, CKU_SO, b"wrong-pin-1"), CKR_PIN_INCORRECT);
    assert_eq!(login(s, CKU_SO, b"wrong-pin-2"), CKR_PIN_INCORRECT);
    assert_eq!(login(s, CKU_SO, b"wrong-pin-3"), CKR_PIN_LOCKED);
    let info = token_info(1);
    assert_eq!(
        info.flags & CKF_TOKEN_INITIALIZED,
        0,
        "zeroised: blank again"
    );
    assert_eq!(
        open_session(1, CKF_SERIAL_SESSION).unwrap_err(),
        CKR_TOKEN_NOT_RECOGNIZED
    );
    // The Crypto Officer's lockout, by contrast, only locks the CO (see the policy 20 test).
}

#[test]
fn a_partition_zeroised_while_another_session_holds_a_session_object_answers() {
    let _lab = TextLab::new(LAB);
    // A public session object in a second session: zeroising closes that session and
    // destroys its objects, which once waited for the object table the zeroisation held.
    let holder = rw_session(1);
    create(
        holder,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, false)
            .bytes(CKA_VALUE, b"session"),
    )
    .unwrap();
    let s = rw_session(1);
    assert_eq!(login(s, CKU_SO, b"wrong-pin-1"), CKR_PIN_INCORRECT);
    assert_eq!(login(s, CKU_SO, b"wrong-pin-2"), CKR_PIN_INCORRECT);
    let (done, answered) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(login(s, CKU_SO, b"wrong-pin-3"));
    });
    let rv = answered
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the third wrong SO login (which zeroises) never answered: a deadlock");
    assert_eq!(rv, CKR_PIN_LOCKED);
    assert_eq!(token_info(1).flags & CKF_TOKEN_INITIALIZED, 0);
}

#[test]
fn on_7_8_a_partition_has_several_domains_and_older_peers_need_the_primary_one() {
    use hsmsim::models::luna_ca::DomainChange;
    let lab = TextLab::new(LAB);
    let engine = lab.other_process();
    assert_eq!(
        engine
            .partition_view(12, hsmsim::models::luna_ca::domain_count)
            .unwrap(),
        2
    );
    // The 6.22 partition's domain is the 7.8 partition's second one, not its primary.
    let e = engine
        .partition_view(12, |a| {
            engine.partition_view(4, |b| hsmsim::models::luna_ca::check_shared_domain(a, b))
        })
        .unwrap_err();
    assert_eq!(e.rv, CKR_CERTIFICATE_INVALID, "{}", e.detail);
    assert!(e.detail.contains("primary"), "{}", e.detail);
    let s = engine
        .open_session(12, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    let co_only = engine.change_cloning_domain(s, DomainChange::MakePrimary(b"domain-old"));
    assert_eq!(co_only.unwrap_err().rv, CKR_USER_NOT_AUTHORIZED);
    engine.login(s, CKU_SO, PO).unwrap();
    engine
        .change_cloning_domain(s, DomainChange::MakePrimary(b"domain-old"))
        .unwrap();
    engine
        .partition_view(12, |a| {
            engine.partition_view(4, |b| hsmsim::models::luna_ca::check_shared_domain(a, b))
        })
        .unwrap();
    engine
        .partition_view(4, |a| {
            engine.partition_view(12, |b| hsmsim::models::luna_ca::check_shared_domain(a, b))
        })
        .unwrap();
    assert_eq!(
        engine
            .change_cloning_domain(s, DomainChange::Remove(b"domain-old"))
            .unwrap_err()
            .rv,
        0x8000_0030,
        "CKR_OPERATION_NOT_ALLOWED: the primary stays"
    );
    engine
        .change_cloning_domain(s, DomainChange::Add(b"domain-third"))
        .unwrap();
    assert_eq!(
        engine
            .partition_view(12, hsmsim::models::luna_ca::domain_count)
            .unwrap(),
        3
    );
    // A 7.4 partition has one domain only.
    let s1 = engine
        .open_session(1, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    engine.login(s1, CKU_SO, PO).unwrap();
    let e = engine
        .change_cloning_domain(s1, DomainChange::Add(b"domain-second"))
        .unwrap_err();
    assert_eq!(e.rv, 0x8000_0030, "{}", e.detail);
    // A second engine (another process) sees the new primary.
    let again = lab.other_process();
    again
        .partition_view(4, |a| {
            again.partition_view(12, |b| hsmsim::models::luna_ca::check_shared_domain(a, b))
        })
        .unwrap();
    assert_eq!(
        again
            .partition_view(12, hsmsim::models::luna_ca::domain_count)
            .unwrap(),
        3
    );
}

#[test]
fn a_7_7_partition_converts_from_v0_to_v1_in_place_and_back_destructively() {
    use hsmsim::models::luna::PartitionVersion;
    let lab = TextLab::new(LAB);
    let engine = lab.other_process();
    assert_eq!(
        engine
            .partition_view(3, hsmsim::models::luna_ca::partition_version)
            .unwrap(),
        (PartitionVersion::V0, None)
    );
    assert_eq!(
        engine
            .partition_view(1, hsmsim::models::luna_ca::partition_version)
            .unwrap()
            .0,
        PartitionVersion::Legacy
    );
    let s = rw_session(3);
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    assert_eq!(set_pin(s, CO, b"co-pin-0002"), CKR_OK);
    data_object(s, "kept");
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(login(s, CKU_SO, PO), CKR_OK);
    assert_eq!(set_policies(s, 3, &[(41, 1)]), CKR_OK);
    assert_eq!(policy(3, 41), 1);
    assert_eq!(
        lab.stored_objects("k7/nocloning"),
        1,
        "V0 -> V1 keeps the objects"
    );
    let engine = lab.other_process();
    let (version, smk) = engine
        .partition_view(3, hsmsim::models::luna_ca::partition_version)
        .unwrap();
    assert_eq!(version, PartitionVersion::V1);
    assert_eq!(
        smk.as_ref().map(String::len),
        Some(16),
        "a V1 partition has an SMK"
    );
    assert_eq!(set_policies(s, 3, &[(41, 0)]), CKR_OK);
    assert_eq!(
        lab.stored_objects("k7/nocloning"),
        0,
        "V1 -> V0 erases the partition"
    );
    let engine = lab.other_process();
    assert_eq!(
        engine
            .partition_view(3, hsmsim::models::luna_ca::partition_version)
            .unwrap(),
        (PartitionVersion::V0, None)
    );
}
