//! Through the C ABI: `C_Initialize`'s arguments as PKCS#11 defines them (`pReserved` must be
//! NULL: any other value, a bad pointer or a string, is `CKR_ARGUMENTS_BAD` and never read; the
//! mutex callbacks all or none; the locking flags), precise errors for a broken lab chosen by
//! the environment, and `C_WaitForSlotEvent` (CKF_DONT_BLOCK, blocking until another process —
//! here a second engine on the same lab — changes a token, and woken by `C_Finalize`).
use cryptoki_sys::*;
use hsmsim::engine::Engine;
use hsmsim::estate;
use hsmsim::estate::Choice;
use hsmsim::pkcs11::*;
use parking_lot::{Mutex, MutexGuard};
use std::ffi::{CString, c_void};
use std::path::Path;
use std::ptr::null_mut;
use std::time::{Duration, Instant};

/// The module and the environment are process-global: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds SERIAL and selects a lab file through the environment (`HSMSIM_CONF`, state beside
/// it, `HSMSIM_HOST` if given), as the module reads it at `C_Initialize`.
fn serial_with_lab(file: Option<&str>, host: Option<&str>) -> MutexGuard<'static, ()> {
    let serial = SERIAL.lock();
    // SAFETY: every test of this binary touches the environment only while holding SERIAL.
    unsafe {
        std::env::remove_var("HSMSIM_STATE_DIR");
        std::env::remove_var("HSMSIM_LAB");
        match file {
            Some(f) => std::env::set_var("HSMSIM_CONF", f),
            None => std::env::remove_var("HSMSIM_CONF"),
        }
        match host {
            Some(h) => std::env::set_var("HSMSIM_HOST", h),
            None => std::env::remove_var("HSMSIM_HOST"),
        }
    }
    serial
}

/// Sets one variable; the caller holds SERIAL.
fn set_env(_serial: &MutexGuard<'static, ()>, key: &str, value: &str) {
    // SAFETY: the caller holds SERIAL (see `serial_with_lab`).
    unsafe { std::env::set_var(key, value) };
}

fn mutex_args(
    flags: CK_FLAGS,
    callbacks: [bool; 4],
    reserved: *mut c_void,
) -> CK_C_INITIALIZE_ARGS {
    unsafe extern "C" fn create(_: *mut *mut c_void) -> CK_RV {
        CKR_OK
    }
    unsafe extern "C" fn other(_: *mut c_void) -> CK_RV {
        CKR_OK
    }
    CK_C_INITIALIZE_ARGS {
        CreateMutex: callbacks[0].then_some(create as _),
        DestroyMutex: callbacks[1].then_some(other as _),
        LockMutex: callbacks[2].then_some(other as _),
        UnlockMutex: callbacks[3].then_some(other as _),
        flags,
        pReserved: reserved,
    }
}

fn initialize_with(mut args: CK_C_INITIALIZE_ARGS) -> CK_RV {
    // SAFETY: a valid CK_C_INITIALIZE_ARGS; the module must not read pReserved.
    unsafe { C_Initialize(&mut args as *mut _ as *mut c_void) }
}

fn initialize() -> CK_RV {
    initialize_with(mutex_args(CKF_OS_LOCKING_OK, [false; 4], null_mut()))
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
    estate::init_from_fixture(fixture, dir, false)
        .unwrap()
        .display()
        .to_string()
}

fn other_process(file: &str) -> Engine {
    let config = hsmsim::estate::resolve_config(&Choice {
        lab_file: Some(file.into()),
        host: None,
        state_dir: None,
    })
    .unwrap();
    Engine::open(&config).unwrap()
}

#[test]
fn a_non_null_preserved_is_refused_and_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = lab(dir.path(), "luna-usb-to-network7");
    let _serial = serial_with_lab(Some(&file), None);
    let _ = finalize();
    // A pointer that is not a string (reading it crashed the process before).
    for bad in [1usize, 0x10, usize::MAX - 7] {
        let args = mutex_args(
            CKF_OS_LOCKING_OK,
            [false; 4],
            std::ptr::without_provenance_mut(bad),
        );
        assert_eq!(
            initialize_with(args),
            CKR_ARGUMENTS_BAD,
            "pReserved = {bad:#x}"
        );
    }
    // The former configuration-string extension is gone too: the environment chooses.
    let text = CString::new(format!("conf={file}; host=new-host")).unwrap();
    let args = mutex_args(CKF_OS_LOCKING_OK, [false; 4], text.as_ptr() as *mut c_void);
    assert_eq!(initialize_with(args), CKR_ARGUMENTS_BAD);
    // Nothing was left initialised by the refusals.
    assert_eq!(finalize(), CKR_CRYPTOKI_NOT_INITIALIZED);
    assert_eq!(initialize(), CKR_OK);
    assert_eq!(slot_list(), vec![0, 2], "the lab's first host: old-host");
    assert_eq!(finalize(), CKR_OK);
}

#[test]
fn mutex_callbacks_and_locking_flags_follow_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let file = lab(dir.path(), "default");
    let _serial = serial_with_lab(Some(&file), None);
    let _ = finalize();
    // Some of the four callbacks but not all.
    for given in 1..15u8 {
        let callbacks = [0, 1, 2, 3].map(|i| given & (1 << i) != 0);
        for flags in [0, CKF_OS_LOCKING_OK] {
            assert_eq!(
                initialize_with(mutex_args(flags, callbacks, null_mut())),
                CKR_ARGUMENTS_BAD,
                "callbacks {callbacks:?}, flags {flags:#x}"
            );
        }
    }
    assert_eq!(finalize(), CKR_CRYPTOKI_NOT_INITIALIZED);
    // All four without CKF_OS_LOCKING_OK: the module would have to lock with the caller's
    // functions, which it cannot.
    assert_eq!(
        initialize_with(mutex_args(0, [true; 4], null_mut())),
        CKR_CANT_LOCK
    );
    assert_eq!(finalize(), CKR_CRYPTOKI_NOT_INITIALIZED);
    // Every accepted combination; the module creates no threads of its own, so
    // CKF_LIBRARY_CANT_CREATE_OS_THREADS is fine too.
    for (flags, callbacks) in [
        (0, false),
        (CKF_OS_LOCKING_OK, false),
        (CKF_OS_LOCKING_OK, true),
        (CKF_LIBRARY_CANT_CREATE_OS_THREADS, false),
        (CKF_LIBRARY_CANT_CREATE_OS_THREADS | CKF_OS_LOCKING_OK, true),
    ] {
        let args = mutex_args(flags, [callbacks; 4], null_mut());
        assert_eq!(initialize_with(args), CKR_OK, "flags {flags:#x}");
        assert_eq!(
            initialize_with(args),
            CKR_CRYPTOKI_ALREADY_INITIALIZED,
            "flags {flags:#x}"
        );
        assert_eq!(slot_list(), vec![0, 1, 2]);
        assert_eq!(finalize(), CKR_OK);
    }
    // NULL arguments: single-threaded use, OS locking.
    // SAFETY: null is a valid argument.
    assert_eq!(unsafe { C_Initialize(null_mut()) }, CKR_OK);
    // C_Finalize's pReserved must be NULL as well (a bad pointer is not read).
    // SAFETY: the module must not read the pointer.
    let rv = unsafe { C_Finalize(std::ptr::without_provenance_mut(1)) };
    assert_eq!(rv, CKR_ARGUMENTS_BAD);
    assert_eq!(finalize(), CKR_OK);
}

#[test]
fn a_broken_lab_has_a_precise_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let serial = serial_with_lab(Some(&missing.display().to_string()), None);
    let _ = finalize();
    assert_eq!(initialize(), CKR_DEVICE_ERROR);
    let file = lab(dir.path(), "default");
    set_env(&serial, "HSMSIM_CONF", &file);
    set_env(&serial, "HSMSIM_HOST", "nobody");
    assert_eq!(initialize(), CKR_DEVICE_ERROR);
    // Nothing was left initialised by the failures.
    assert_eq!(finalize(), CKR_CRYPTOKI_NOT_INITIALIZED);
}

#[test]
fn wait_for_slot_event_reports_a_token_initialised_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let file = lab(dir.path(), "generic");
    let _serial = serial_with_lab(Some(&file), None);
    let _ = finalize();
    assert_eq!(initialize(), CKR_OK);
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
    let dir = tempfile::tempdir().unwrap();
    let file = lab(dir.path(), "generic");
    let _serial = serial_with_lab(Some(&file), None);
    let _ = finalize();
    assert_eq!(initialize(), CKR_OK);
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
