//! `CA_GetHAState` as Thales's pycryptoki calls it: `libhsmsim.so` loaded with `dlopen`, the
//! function looked up by name with pycryptoki's signature (`CA_GetHAState(CK_SLOT_ID,
//! CK_HA_STATE_PTR)`, `func_defs.py`) and its `CK_HA_STATUS` laid out as pycryptoki's ctypes
//! structures (`ck_defs.py`: `groupSerial` CK_CHAR[20], `memberList` 32 x (`memberSerial`
//! CK_CHAR[20], `memberStatus` CK_RV), `listSize` CK_ULONG). The group serial, the members'
//! serials and their status follow a member's failure and recovery (`hsmsim lab
//! fail|recover`, written to the store by this test as another process would).
use cryptoki_sys::*;
use hsmsim::base::ids::DeviceId;
use hsmsim::estate::{self, Choice};
use libloading::Library;
use std::ffi::c_void;
use std::ptr::null_mut;

/// The HA tests' lab (`tests/ha/lab.toml`: slots 0 to 3) with group "web-ha" (sa-a/web1,
/// sa-b/web2, serial 1777) on slot 4.
fn lab_text() -> String {
    format!(
        "{}\n[[ha_group]]\nlabel = \"web-ha\"\nmembers = [\"sa-a/web1\", \"sa-b/web2\"]\nhosts = [\"app\"]\nserial = \"1777\"\n",
        include_str!("ha/lab.toml")
    )
}

const HA: CK_SLOT_ID = 4;

/// pycryptoki's `CK_HA_MEMBER` (ctypes `Structure`: C layout).
#[repr(C)]
#[derive(Clone, Copy)]
struct PyHaMember {
    member_serial: [u8; 20],
    member_status: CK_ULONG,
}

/// pycryptoki's `CK_HA_STATUS` (what `CK_HA_STATE_PTR` points to).
#[repr(C)]
struct PyHaStatus {
    group_serial: [u8; 20],
    member_list: [PyHaMember; 32],
    list_size: CK_ULONG,
}

type GetHaState = unsafe extern "C" fn(CK_SLOT_ID, *mut PyHaStatus) -> CK_RV;

fn library() -> Library {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let path = [deps, deps.parent().unwrap()]
        .iter()
        .map(|d| d.join("libhsmsim.so"))
        .find(|p| p.exists())
        .expect("libhsmsim.so is built next to the tests");
    // SAFETY: loading the module runs no initialiser with preconditions.
    unsafe { Library::new(path) }.unwrap()
}

/// Held by each test of this file while it reads or writes the environment.
static SERIAL: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// Runs `health_change_in_another_process` in a child process: it fails or recovers sa-a as
/// `hsmsim lab fail|recover` does. (Another process, not this one: the test's own copy of
/// the store and the module's are two SQLite libraries in one process, whose POSIX locks
/// would clash.)
fn other_process(lab: &std::path::Path, action: &str) {
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "health_change_in_another_process", "--nocapture"])
        .env("HSMSIM_TEST_HEALTH", action)
        .env("HSMSIM_CONF", lab)
        .status()
        .unwrap();
    assert!(status.success(), "{action} in the child process");
}

/// The child process of `other_process` (does nothing in a normal test run).
#[test]
fn health_change_in_another_process() {
    let _serial = SERIAL.lock();
    let Ok(action) = std::env::var("HSMSIM_TEST_HEALTH") else {
        return;
    };
    let selection = estate::select(&Choice::default()).unwrap();
    let device = DeviceId::new("sa-a");
    match action.as_str() {
        "fail" => estate::fail_device(&selection, &device).unwrap(),
        _ => estate::recover_device(&selection, &device).unwrap(),
    }
}

fn text(field: &[u8]) -> String {
    String::from_utf8_lossy(field)
        .trim_end_matches(['\0', ' '])
        .to_string()
}

#[test]
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn ca_get_ha_state_lists_the_members_and_follows_their_health() {
    let _serial = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lab.toml");
    std::fs::write(&file, lab_text()).unwrap();
    // SAFETY: this test holds SERIAL, so no other thread of this process reads or writes the
    // environment meanwhile.
    unsafe {
        std::env::set_var("HSMSIM_CONF", &file);
        std::env::set_var("HSMSIM_PIN_KDF_ITERATIONS", "10000");
        std::env::remove_var("HSMSIM_STATE_DIR");
        std::env::remove_var("HSMSIM_LAB");
        std::env::remove_var("HSMSIM_HOST");
    }
    let lib = library();
    // SAFETY: each symbol is looked up with its C signature (PKCS#11's, pycryptoki's).
    let (initialize, finalize, get_ha_state, token_info) = unsafe {
        (
            *lib.get::<unsafe extern "C" fn(*mut c_void) -> CK_RV>(b"C_Initialize")
                .unwrap(),
            *lib.get::<unsafe extern "C" fn(*mut c_void) -> CK_RV>(b"C_Finalize")
                .unwrap(),
            *lib.get::<GetHaState>(b"CA_GetHAState").unwrap(),
            *lib.get::<unsafe extern "C" fn(CK_SLOT_ID, *mut CK_TOKEN_INFO) -> CK_RV>(
                b"C_GetTokenInfo",
            )
            .unwrap(),
        )
    };
    // SAFETY: a null argument.
    assert_eq!(unsafe { initialize(null_mut()) }, CKR_OK);
    let state = |slot| {
        // SAFETY: an all-zero CK_HA_STATUS is valid (plain data).
        let mut status: PyHaStatus = unsafe { std::mem::zeroed() };
        // SAFETY: a valid out-pointer of pycryptoki's layout.
        let rv = unsafe { get_ha_state(slot, &mut status) };
        (rv, status)
    };
    let serial = |slot| {
        // SAFETY: an all-zero CK_TOKEN_INFO is valid (plain data).
        let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
        // SAFETY: a valid out-pointer.
        assert_eq!(unsafe { token_info(slot, &mut info) }, CKR_OK);
        text(&info.serialNumber)
    };
    let (rv, status) = state(HA);
    assert_eq!(rv, CKR_OK);
    assert_eq!(text(&status.group_serial), "1777");
    assert_eq!(status.list_size, 2);
    let members = |status: &PyHaStatus| -> Vec<(String, CK_RV)> {
        status.member_list[..status.list_size as usize]
            .iter()
            .map(|m| (text(&m.member_serial), m.member_status))
            .collect()
    };
    let (web1, web2) = (serial(0), serial(1));
    assert_eq!(
        members(&status),
        [(web1.clone(), CKR_OK), (web2.clone(), CKR_OK)]
    );
    // A physical slot is not an HA slot.
    assert_eq!(state(0).0, CKR_SLOT_ID_INVALID);
    assert_eq!(state(HA + 1).0, CKR_SLOT_ID_INVALID);
    // web1's device fails, then recovers (`hsmsim lab fail|recover` in another process).
    other_process(&file, "fail");
    assert_eq!(
        members(&state(HA).1),
        [(web1.clone(), CKR_DEVICE_REMOVED), (web2.clone(), CKR_OK)]
    );
    other_process(&file, "recover");
    assert_eq!(members(&state(HA).1), [(web1, CKR_OK), (web2, CKR_OK)]);
    // SAFETY: a null argument.
    assert_eq!(unsafe { finalize(null_mut()) }, CKR_OK);
}
