//! Through the C ABI: choosing the lab with `C_Initialize`'s `pReserved` string, precise errors
//! for a bad string or a broken lab, and `C_WaitForSlotEvent` (CKF_DONT_BLOCK, blocking until
//! another process — here a second engine on the same lab — changes a token, and woken by
//! `C_Finalize`).
use cryptoki_sys::*;
use hsmsim::engine::{Choice, Config, Engine};
use hsmsim::lab_state;
use hsmsim::pkcs11::*;
use parking_lot::Mutex;
use std::ffi::{CString, c_void};
use std::path::Path;
use std::ptr::null_mut;
use std::time::{Duration, Instant};

/// The module is process-global: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn initialize(reserved: Option<&str>) -> CK_RV {
    let text = reserved.map(|r| CString::new(r).unwrap());
    let mut args = CK_C_INITIALIZE_ARGS {
        CreateMutex: None,
        DestroyMutex: None,
        LockMutex: None,
        UnlockMutex: None,
        flags: CKF_OS_LOCKING_OK,
        pReserved: text
            .as_ref()
            .map_or(null_mut(), |t| t.as_ptr() as *mut c_void),
    };
    // SAFETY: a valid CK_C_INITIALIZE_ARGS whose pReserved string outlives the call.
    unsafe { C_Initialize(&mut args as *mut _ as *mut c_void) }
}

fn finalize() -> CK_RV {
    // SAFETY: null is the valid argument.
    unsafe { C_Finalize(null_mut()) }
}

fn slot_list() -> Vec<CK_SLOT_ID> {
    let mut n: CK_ULONG = 0;
    // SAFETY: a null list asks for the count only.
    let rv = unsafe { C_GetSlotList(CK_FALSE, null_mut(), &mut n) };
    assert_eq!(rv, CKR_OK);
    let mut ids = vec![0; n as usize];
    // SAFETY: `ids` holds `n` elements.
    let rv = unsafe { C_GetSlotList(CK_FALSE, ids.as_mut_ptr(), &mut n) };
    assert_eq!(rv, CKR_OK);
    ids
}

fn wait(flags: CK_FLAGS) -> (CK_RV, CK_SLOT_ID) {
    let mut slot = CK_UNAVAILABLE_INFORMATION;
    // SAFETY: valid out-pointer, null reserved.
    let rv = unsafe { C_WaitForSlotEvent(flags, &mut slot, null_mut()) };
    (rv, slot)
}

fn lab(dir: &Path, fixture: &str) -> String {
    lab_state::init_from_fixture(fixture, dir, false)
        .unwrap()
        .display()
        .to_string()
}

fn other_process(file: &str) -> Engine {
    let config = Config::resolve(&Choice {
        lab_file: Some(file.into()),
        host: None,
        state_dir: None,
    })
    .unwrap();
    Engine::open(&config).unwrap()
}

#[test]
fn preserved_names_the_lab_and_the_host() {
    let _serial = SERIAL.lock();
    let _ = finalize();
    let dir = tempfile::tempdir().unwrap();
    let file = lab(dir.path(), "luna-usb-to-network7");
    assert_eq!(initialize(Some(&file)), CKR_OK);
    assert_eq!(slot_list(), vec![0, 2], "the lab's first host: old-host");
    assert_eq!(finalize(), CKR_OK);
    assert_eq!(
        initialize(Some(&format!("conf={file}; host=new-host"))),
        CKR_OK
    );
    assert_eq!(slot_list(), vec![1, 2]);
    assert_eq!(finalize(), CKR_OK);
}

#[test]
fn a_bad_configuration_string_or_lab_has_a_precise_error() {
    let _serial = SERIAL.lock();
    let _ = finalize();
    assert_eq!(initialize(Some("colour=blue")), CKR_ARGUMENTS_BAD);
    assert_eq!(initialize(Some("   ")), CKR_ARGUMENTS_BAD);
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    assert_eq!(
        initialize(Some(&missing.display().to_string())),
        CKR_DEVICE_ERROR
    );
    let file = lab(dir.path(), "default");
    assert_eq!(
        initialize(Some(&format!("conf={file};host=nobody"))),
        CKR_DEVICE_ERROR
    );
    // Nothing was left initialised by the failures.
    assert_eq!(finalize(), CKR_CRYPTOKI_NOT_INITIALIZED);
}

#[test]
fn wait_for_slot_event_reports_a_token_initialised_elsewhere() {
    let _serial = SERIAL.lock();
    let _ = finalize();
    let dir = tempfile::tempdir().unwrap();
    let file = lab(dir.path(), "generic");
    assert_eq!(initialize(Some(&file)), CKR_OK);
    assert_eq!(wait(CKF_DONT_BLOCK).0, CKR_NO_EVENT);
    // Another process initialises slot 1's token while this one blocks.
    let other = other_process(&file);
    let waiter = std::thread::spawn(|| {
        let start = Instant::now();
        let got = wait(0);
        (got, start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    other.init_token(1, b"87654321", b"elsewhere").unwrap();
    let ((rv, slot), waited) = waiter.join().unwrap();
    assert_eq!((rv, slot), (CKR_OK, 1));
    assert!(
        waited >= Duration::from_millis(250),
        "it blocked: {waited:?}"
    );
    assert_eq!(wait(CKF_DONT_BLOCK).0, CKR_NO_EVENT);
    // The token is visible without re-initialising; slot ids unchanged.
    assert_eq!(slot_list(), vec![0, 1]);
    let mut info: CK_TOKEN_INFO = blank_token_info();
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { C_GetTokenInfo(1, &mut info) }, CKR_OK);
    assert_ne!(info.flags & CKF_TOKEN_INITIALIZED, 0);
    assert!(info.label.starts_with(b"elsewhere"));
    // A second change is reported without blocking.
    other.init_token(0, b"87654321", b"also").unwrap();
    assert_eq!(wait(CKF_DONT_BLOCK), (CKR_OK, 0));
    assert_eq!(finalize(), CKR_OK);
}

#[test]
fn c_finalize_wakes_a_blocked_wait() {
    let _serial = SERIAL.lock();
    let _ = finalize();
    let dir = tempfile::tempdir().unwrap();
    let file = lab(dir.path(), "generic");
    assert_eq!(initialize(Some(&file)), CKR_OK);
    let waiter = std::thread::spawn(|| wait(0).0);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(finalize(), CKR_OK);
    assert_eq!(waiter.join().unwrap(), CKR_CRYPTOKI_NOT_INITIALIZED);
    assert_eq!(wait(CKF_DONT_BLOCK).0, CKR_CRYPTOKI_NOT_INITIALIZED);
}

fn blank_token_info() -> CK_TOKEN_INFO {
    CK_TOKEN_INFO {
        label: [0; 32],
        manufacturerID: [0; 32],
        model: [0; 16],
        serialNumber: [0; 16],
        flags: 0,
        ulMaxSessionCount: 0,
        ulSessionCount: 0,
        ulMaxRwSessionCount: 0,
        ulRwSessionCount: 0,
        ulMaxPinLen: 0,
        ulMinPinLen: 0,
        ulTotalPublicMemory: 0,
        ulFreePublicMemory: 0,
        ulTotalPrivateMemory: 0,
        ulFreePrivateMemory: 0,
        hardwareVersion: CK_VERSION { major: 0, minor: 0 },
        firmwareVersion: CK_VERSION { major: 0, minor: 0 },
        utcTime: [0; 16],
    }
}
