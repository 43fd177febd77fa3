//! The C ABI boundary: the exported `C_*` symbols, the 2.40 function list, the 3.0 and 3.2
//! interfaces (each table's `C_GetInfo` reports its own version),
//! the module state of the process (made afresh in a forked child) and the `fork` handlers.
//! Every call runs inside `guard`, which catches panics (answering `CKR_GENERAL_ERROR`) and
//! logs failures through `tracing` (`HSMSIM_LOG`). All `unsafe` of the crate (outside the
//! crypto FFI files) lives in this module. `host`: a program that links the crate and loads
//! `libhsmsim.so` too makes the module serve the program's engine (one engine, one SQLite).
/// Defines one exported PKCS#11 function whose body returns `Result<CK_RV>`.
macro_rules! export {
    ($name:ident ( $($a:ident : $t:ty),* $(,)? ) $body:block) => {
        #[doc = concat!("`", stringify!($name), "`.")]
        ///
        /// # Safety
        /// Pointer arguments must be null or valid as PKCS#11 specifies for this function.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($($a: $t),*) -> CK_RV {
            guard(stringify!($name), || $body)
        }
    };
}

/// Defines an exported function this module does not support (`CKR_FUNCTION_NOT_SUPPORTED`
/// after the usual initialisation check).
macro_rules! unsupported {
    ($name:ident ( $($t:ty),* $(,)? )) => {
        #[doc = concat!("`", stringify!($name), "`: not supported by hsmsim.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $name($(_: $t),*) -> CK_RV {
            guard(stringify!($name), || {
                ensure_initialized()?;
                Ok(CKR_FUNCTION_NOT_SUPPORTED)
            })
        }
    };
}

pub mod args;
pub mod host;
pub mod keys;
pub mod luna;
pub mod message;
pub mod objects;
pub mod operations;
pub mod sessions;
pub mod slots;
pub mod v3_2;
pub use keys::*;
pub use luna::*;
pub use message::*;
pub use objects::*;
pub use operations::*;
pub use sessions::*;
pub use slots::*;
pub use v3_2::*;

use crate::base::error::{Result, err};
use crate::engine::Engine;
use cryptoki_sys::*;
use parking_lot::{Condvar, Mutex, RwLock, RwLockReadGuard};
use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use crate::base::identity::LIBRARY_VERSION;

/// The module state of one process: the engine (`None` until `C_Initialize`) and the
/// `C_WaitForSlotEvent` wake-up. A forked child never touches its parent's state (its locks
/// may be held by threads that do not exist in the child, and SQLite forbids using a
/// connection across `fork`): the child gets a fresh state and the parent's is leaked.
struct ModuleState {
    /// The process that made this state.
    pid: u32,
    /// `FORKS` when it was made: a child's handler counts every fork.
    epoch: u64,
    engine: RwLock<Option<Arc<Engine>>>,
    /// Counts `C_Finalize` calls; waiters of `C_WaitForSlotEvent` are woken by it.
    slot_events: (Mutex<u64>, Condvar),
}

/// The current module state (never freed: a state left behind by `fork` is leaked on purpose).
static STATE: AtomicPtr<ModuleState> = AtomicPtr::new(std::ptr::null_mut());

/// Forks this process has gone through (in the child: `pthread_atfork`'s child handler). A
/// state from an earlier epoch belongs to an ancestor process.
static FORKS: AtomicU64 = AtomicU64::new(0);

/// Whether the `pthread_atfork` handlers were registered.
static FORK_HANDLERS: AtomicBool = AtomicBool::new(false);

/// Before `fork`: no thread may be inside the module (a lock inside aws-lc or SQLite held by a
/// thread the child does not have would never be released there: aws-lc's fork detection
/// takes a process-wide lock in every `RAND_bytes`), and no store connection may be open.
extern "C" fn before_fork() {
    gate::close();
    crate::store::connection::before_fork();
}

/// In the parent after `fork`.
extern "C" fn after_fork_in_parent() {
    crate::store::connection::after_fork_in_parent();
    gate::open();
}

/// In the child right after `fork`: every later call sees the module state as its parent's
/// (one atomic increment), and the store's connections open again.
extern "C" fn after_fork_in_child() {
    FORKS.fetch_add(1, Ordering::AcqRel);
    crate::store::connection::after_fork_in_child();
    gate::reopen_in_child();
}

/// The fork gate: every C call counts itself in while it runs (per-thread shards, so that
/// threads calling at once do not share a counter); `fork`'s prepare handler closes the gate,
/// new calls wait at it, and the fork happens once no call is inside. Nested entries (a call
/// made while the same thread is inside) count once.
mod gate {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    const SHARDS: usize = 16;

    /// A counter alone on its cache line.
    #[repr(align(128))]
    struct Shard(AtomicUsize);

    static INSIDE: [Shard; SHARDS] = [const { Shard(AtomicUsize::new(0)) }; SHARDS];
    static CLOSED: AtomicBool = AtomicBool::new(false);
    static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

    thread_local! {
        /// This thread's shard, and how deep it is inside the module.
        static MINE: (usize, Cell<u32>) =
            (NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS, Cell::new(0));
    }

    /// A C call inside the module, until dropped.
    pub(super) struct Inside(());

    /// Enters the module (waits while a fork is being prepared).
    pub(super) fn enter() -> Inside {
        MINE.with(|(shard, depth)| {
            if depth.get() == 0 {
                let counter = &INSIDE[*shard].0;
                loop {
                    while CLOSED.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    // Either this sees the fork starting, or the fork sees this call.
                    if !CLOSED.load(Ordering::SeqCst) {
                        break;
                    }
                    counter.fetch_sub(1, Ordering::SeqCst);
                }
            }
            depth.set(depth.get() + 1);
        });
        Inside(())
    }

    impl Drop for Inside {
        fn drop(&mut self) {
            MINE.with(|(shard, depth)| {
                depth.set(depth.get() - 1);
                if depth.get() == 0 {
                    INSIDE[*shard].0.fetch_sub(1, Ordering::SeqCst);
                }
            });
        }
    }

    /// Runs `wait` outside the module, for a call that blocks for a long time
    /// (`C_WaitForSlotEvent`): a fork may happen meanwhile. Not for nested entries.
    pub(super) fn outside<T>(wait: impl FnOnce() -> T) -> T {
        MINE.with(|(shard, depth)| {
            let counted = depth.get() == 1;
            if counted {
                INSIDE[*shard].0.fetch_sub(1, Ordering::SeqCst);
                depth.set(0);
            }
            let value = wait();
            if counted {
                std::mem::forget(enter());
            }
            value
        })
    }

    /// Closes the gate and waits until no call is inside (the forking thread is not: the
    /// module never forks).
    pub(super) fn close() {
        CLOSED.store(true, Ordering::SeqCst);
        while INSIDE
            .iter()
            .map(|s| s.0.load(Ordering::SeqCst))
            .sum::<usize>()
            != 0
        {
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    pub(super) fn open() {
        CLOSED.store(false, Ordering::SeqCst);
    }

    /// In the child: only the forking thread exists, and it was not inside.
    pub(super) fn reopen_in_child() {
        for shard in &INSIDE {
            shard.0.store(0, Ordering::SeqCst);
        }
        CLOSED.store(false, Ordering::SeqCst);
    }
}

/// Registers the `fork` handlers once per process, on the first call into the module (every
/// store the module opens is opened after it). A program that links the crate as a library and
/// opens stores without the C ABI (the CLI) registers none: it does not fork with a store open.
pub(crate) fn register_fork_handlers() {
    if FORK_HANDLERS.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: the handlers are plain functions of this library, which is never unloaded
    // (linked with -z nodelete; glibc also drops a library's handlers when it is unloaded).
    let rv = unsafe {
        libc::pthread_atfork(
            Some(before_fork),
            Some(after_fork_in_parent),
            Some(after_fork_in_child),
        )
    };
    if rv != 0 {
        tracing::warn!(target: "hsmsim::pkcs11", "pthread_atfork failed ({rv}): a forked child relies on its pid check");
    }
}

/// This process's module state, made fresh when there is none or it is an ancestor's. Cheap
/// on every call: two atomic loads and a compare.
fn state() -> &'static ModuleState {
    let current = STATE.load(Ordering::Acquire);
    // SAFETY: STATE is null or points to a leaked ModuleState that is never freed.
    match unsafe { current.as_ref() } {
        Some(s) if s.epoch == FORKS.load(Ordering::Acquire) => s,
        _ => replace_state(current),
    }
}

/// Installs a fresh state in place of `stale` (null, or a state this process must not touch),
/// unless another thread did first.
#[cold]
fn replace_state(stale: *mut ModuleState) -> &'static ModuleState {
    register_fork_handlers();
    let fresh = Box::into_raw(Box::new(ModuleState {
        pid: std::process::id(),
        epoch: FORKS.load(Ordering::Acquire),
        engine: RwLock::new(None),
        slot_events: (Mutex::new(0), Condvar::new()),
    }));
    match STATE.compare_exchange(stale, fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: `fresh` was just leaked from a Box and is never freed.
        Ok(_) => unsafe { &*fresh },
        Err(_) => {
            // SAFETY: `fresh` was never shared: take the Box back.
            drop(unsafe { Box::from_raw(fresh) });
            state()
        }
    }
}

/// The module state for `C_Initialize` and `C_Finalize`, which also compare the pid: a child
/// forked while the handler was not registered yet still starts afresh (a `getpid` per call
/// is too dear for every function, not for these two).
fn state_checked() -> &'static ModuleState {
    let s = state();
    if s.pid == std::process::id() {
        s
    } else {
        replace_state(s as *const ModuleState as *mut ModuleState)
    }
}

/// Runs `wait` outside the fork gate (a blocking `C_WaitForSlotEvent`'s wait).
pub(crate) fn outside_the_module<T>(wait: impl FnOnce() -> T) -> T {
    gate::outside(wait)
}

/// Wakes `C_WaitForSlotEvent` callers (on `C_Finalize` and on slot events).
pub(crate) fn slot_events() -> &'static (Mutex<u64>, Condvar) {
    &state().slot_events
}

/// The engine for the duration of one call; `CKR_CRYPTOKI_NOT_INITIALIZED` before
/// `C_Initialize` (and in a forked child before its own `C_Initialize`). Holding the read
/// guard makes `C_Finalize` wait for calls in flight.
pub(crate) fn engine() -> Result<parking_lot::MappedRwLockReadGuard<'static, Engine>> {
    RwLockReadGuard::try_map(state().engine.read(), |e| e.as_deref())
        .map_err(|_| err(CKR_CRYPTOKI_NOT_INITIALIZED, "call C_Initialize first"))
}

/// `CKR_CRYPTOKI_NOT_INITIALIZED` before `C_Initialize`.
pub(crate) fn ensure_initialized() -> Result<()> {
    engine().map(drop)
}

/// Runs one C call: converts errors to their `CK_RV`, logs them, and never lets a panic out.
pub(crate) fn guard(name: &'static str, body: impl FnOnce() -> Result<CK_RV>) -> CK_RV {
    let _inside = gate::enter();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(rv)) => rv,
        Ok(Err(e)) => {
            tracing::debug!(target: "hsmsim::pkcs11", "{name}: {e}");
            e.rv
        }
        Err(_) => {
            tracing::error!(target: "hsmsim::pkcs11", "{name}: internal panic caught at the C boundary");
            CKR_GENERAL_ERROR
        }
    }
}

fn init_logging() {
    if let Ok(filter) = std::env::var("HSMSIM_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
}

/// `C_Initialize`.
///
/// # Safety
/// `init_args` must be null or point to a valid `CK_C_INITIALIZE_ARGS`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Initialize(init_args: *mut c_void) -> CK_RV {
    guard("C_Initialize", || {
        if !init_args.is_null() {
            // SAFETY: non-null; the caller passes a CK_C_INITIALIZE_ARGS per the spec.
            let a: CK_C_INITIALIZE_ARGS =
                unsafe { args::read(init_args as *const CK_C_INITIALIZE_ARGS) }?;
            check_initialize_args(&a)?;
        }
        let mut state = state_checked().engine.write();
        if host::serving().is_some() {
            return Err(err(
                CKR_FUNCTION_FAILED,
                "this libhsmsim.so serves the engine of the program that loaded it: call \
                 C_Initialize through its function list (see pkcs11::host)",
            ));
        }
        if state.is_some() {
            return Err(err(
                CKR_CRYPTOKI_ALREADY_INITIALIZED,
                "C_Initialize was already called",
            ));
        }
        init_logging();
        let config = crate::estate::config_from_environment().map_err(|e| {
            tracing::error!(target: "hsmsim::pkcs11", "C_Initialize: {e}");
            err(CKR_DEVICE_ERROR, format!("the lab is not usable: {e}"))
        })?;
        let engine = Engine::open(&config).map_err(|e| {
            tracing::error!(target: "hsmsim::pkcs11", "C_Initialize: {e}");
            e
        })?;
        *state = Some(Arc::new(engine));
        Ok(CKR_OK)
    })
}

/// `C_Initialize`'s arguments as PKCS#11 (3.0 §5.4) defines them. `pReserved` must be NULL:
/// anything else is `CKR_ARGUMENTS_BAD` and is never read (it is not even known to point
/// anywhere). The lab is chosen by the environment only (`HSMSIM_CONF`, `HSMSIM_HOST`,
/// `HSMSIM_STATE_DIR`, `HSMSIM_LAB`). The mutex callbacks come all four or none; the engine
/// locks with the OS's primitives only, so callbacks without `CKF_OS_LOCKING_OK` (the caller
/// demands its own locks) are `CKR_CANT_LOCK`. The module never creates threads, so
/// `CKF_LIBRARY_CANT_CREATE_OS_THREADS` needs nothing. Other flag bits are ignored
/// (simulator-defined: the specification gives them no meaning and no error).
fn check_initialize_args(a: &CK_C_INITIALIZE_ARGS) -> Result<()> {
    if !a.pReserved.is_null() {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            "pReserved must be NULL (hsmsim takes its lab from HSMSIM_CONF, HSMSIM_HOST and HSMSIM_STATE_DIR)",
        ));
    }
    let given = [
        a.CreateMutex.is_some(),
        a.DestroyMutex.is_some(),
        a.LockMutex.is_some(),
        a.UnlockMutex.is_some(),
    ];
    if given.iter().any(|g| *g) && !given.iter().all(|g| *g) {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            "give all four mutex functions or none",
        ));
    }
    if given[0] && a.flags & CKF_OS_LOCKING_OK == 0 {
        return Err(err(
            CKR_CANT_LOCK,
            "hsmsim needs CKF_OS_LOCKING_OK to use its own locks",
        ));
    }
    Ok(())
}

/// `C_Finalize`.
///
/// # Safety
/// Any pointer is accepted; only null is valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Finalize(reserved: *mut c_void) -> CK_RV {
    guard("C_Finalize", || {
        if !reserved.is_null() {
            return Err(err(CKR_ARGUMENTS_BAD, "pReserved must be null"));
        }
        let state = state_checked();
        let engine = state
            .engine
            .write()
            .take()
            .ok_or_else(|| err(CKR_CRYPTOKI_NOT_INITIALIZED, "C_Initialize was not called"))?;
        engine.close_everything();
        let (lock, cv) = &state.slot_events;
        *lock.lock() += 1;
        cv.notify_all();
        Ok(CKR_OK)
    })
}

/// `C_GetInfo` as the exported symbol and in the 2.40 table (`C_GetFunctionList`): reports
/// Cryptoki 2.40. Each interface's table has its own `C_GetInfo` entry reporting the version
/// of that interface (PKCS#11 3.0 §5.4: the version "of the interface"); a program calling
/// the exported symbol directly gets the 2.40 answer (simulator-defined: the symbols are the
/// 2.40 way of reaching the module).
///
/// # Safety
/// `info` must be null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetInfo(info: *mut CK_INFO) -> CK_RV {
    // SAFETY: forwarded caller contract.
    unsafe {
        get_info(
            "C_GetInfo",
            info,
            CK_VERSION {
                major: 2,
                minor: 40,
            },
        )
    }
}

/// The `C_GetInfo` entry of the 3.0 interface's table.
unsafe extern "C" fn get_info_3_0(info: *mut CK_INFO) -> CK_RV {
    // SAFETY: forwarded caller contract.
    unsafe { get_info("C_GetInfo", info, CK_VERSION { major: 3, minor: 0 }) }
}

/// The `C_GetInfo` entry of the 3.2 interface's table.
unsafe extern "C" fn get_info_3_2(info: *mut CK_INFO) -> CK_RV {
    // SAFETY: forwarded caller contract.
    unsafe { get_info("C_GetInfo", info, CK_VERSION { major: 3, minor: 2 }) }
}

/// `C_GetInfo` reporting `version` as the Cryptoki version.
///
/// # Safety
/// `info` must be null or writable.
unsafe fn get_info(name: &'static str, info: *mut CK_INFO, version: CK_VERSION) -> CK_RV {
    guard(name, || {
        ensure_initialized()?;
        let value = CK_INFO {
            cryptokiVersion: version,
            manufacturerID: args::pad(crate::base::identity::MANUFACTURER),
            flags: 0,
            libraryDescription: args::pad("hsmsim PKCS#11 module"),
            libraryVersion: LIBRARY_VERSION,
        };
        // SAFETY: out-pointer from the caller.
        unsafe { args::write(info, value) }?;
        Ok(CKR_OK)
    })
}

/// A static table of function pointers (or pointers to other such tables) handed to callers.
/// It sits in writable memory (`UnsafeCell` keeps it out of read-only data) because some
/// clients write into the tables they receive: OpenSC 0.23's pkcs11-spy does, and crashed on
/// read-only tables. The module itself never writes to them.
#[repr(transparent)]
struct Shared<T>(UnsafeCell<T>);
// SAFETY: the module only ever reads these tables; a caller that writes into the table it was
// given does so under its own synchronisation, as with any PKCS#11 module's tables.
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    const fn new(value: T) -> Self {
        Shared(UnsafeCell::new(value))
    }
    const fn ptr(&self) -> *mut T {
        self.0.get()
    }
}

/// Builds a function-list struct with every entry pointing at the function of the same name.
macro_rules! function_list {
    ($ty:ident, $major:expr, $minor:expr, [$($f:ident),* $(,)?]) => {
        $ty {
            version: CK_VERSION { major: $major, minor: $minor },
            $( $f: Some($f), )*
        }
    };
}

/// Expands `$then!($ty, $major, $minor, [every 2.40 function, $extra...])`: the 2.40 names are
/// written once and shared by both tables.
macro_rules! with_v2_40_functions {
    ($then:ident, $ty:ident, $major:expr, $minor:expr, [$($extra:ident),* $(,)?]) => {
        $then!($ty, $major, $minor, [
            C_GetFunctionList, C_Initialize, C_Finalize, C_GetInfo, C_GetSlotList, C_GetSlotInfo,
            C_GetTokenInfo, C_GetMechanismList, C_GetMechanismInfo, C_InitToken, C_InitPIN,
            C_SetPIN, C_OpenSession, C_CloseSession, C_CloseAllSessions, C_GetSessionInfo,
            C_GetOperationState, C_SetOperationState, C_Login, C_Logout, C_CreateObject,
            C_CopyObject, C_DestroyObject, C_GetObjectSize, C_GetAttributeValue,
            C_SetAttributeValue, C_FindObjectsInit, C_FindObjects, C_FindObjectsFinal,
            C_EncryptInit, C_Encrypt, C_EncryptUpdate, C_EncryptFinal, C_DecryptInit, C_Decrypt,
            C_DecryptUpdate, C_DecryptFinal, C_DigestInit, C_Digest, C_DigestUpdate, C_DigestKey,
            C_DigestFinal, C_SignInit, C_Sign, C_SignUpdate, C_SignFinal, C_SignRecoverInit,
            C_SignRecover, C_VerifyInit, C_Verify, C_VerifyUpdate, C_VerifyFinal,
            C_VerifyRecoverInit, C_VerifyRecover, C_DigestEncryptUpdate, C_DecryptDigestUpdate,
            C_SignEncryptUpdate, C_DecryptVerifyUpdate, C_GenerateKey, C_GenerateKeyPair,
            C_WrapKey, C_UnwrapKey, C_DeriveKey, C_SeedRandom, C_GenerateRandom,
            C_GetFunctionStatus, C_CancelFunction, C_WaitForSlotEvent, $($extra),*
        ])
    };
}

static FUNCTION_LIST: Shared<CK_FUNCTION_LIST> = Shared::new(with_v2_40_functions!(
    function_list,
    CK_FUNCTION_LIST,
    2,
    40,
    []
));

/// The functions PKCS#11 3.0 adds to 2.40, in the order of `CK_FUNCTION_LIST_3_0`.
macro_rules! with_v3_0_functions {
    ($then:ident, $ty:ident, $major:expr, $minor:expr, [$($extra:ident),* $(,)?]) => {
        with_v2_40_functions!($then, $ty, $major, $minor, [
            C_GetInterfaceList, C_GetInterface, C_LoginUser, C_SessionCancel,
            C_MessageEncryptInit, C_EncryptMessage, C_EncryptMessageBegin, C_EncryptMessageNext,
            C_MessageEncryptFinal, C_MessageDecryptInit, C_DecryptMessage, C_DecryptMessageBegin,
            C_DecryptMessageNext, C_MessageDecryptFinal, C_MessageSignInit, C_SignMessage,
            C_SignMessageBegin, C_SignMessageNext, C_MessageSignFinal, C_MessageVerifyInit,
            C_VerifyMessage, C_VerifyMessageBegin, C_VerifyMessageNext, C_MessageVerifyFinal,
            $($extra),*
        ])
    };
}

static FUNCTION_LIST_3_0: Shared<CK_FUNCTION_LIST_3_0> = Shared::new({
    let mut list = with_v3_0_functions!(function_list, CK_FUNCTION_LIST_3_0, 3, 0, []);
    list.C_GetInfo = Some(get_info_3_0);
    list
});

static FUNCTION_LIST_3_2: Shared<CK_FUNCTION_LIST_3_2> = Shared::new({
    let mut list = with_v3_0_functions!(
        function_list,
        CK_FUNCTION_LIST_3_2,
        3,
        2,
        [
            C_EncapsulateKey,
            C_DecapsulateKey,
            C_VerifySignatureInit,
            C_VerifySignature,
            C_VerifySignatureUpdate,
            C_VerifySignatureFinal,
            C_GetSessionValidationFlags,
            C_AsyncComplete,
            C_AsyncGetID,
            C_AsyncJoin,
            C_WrapKeyAuthenticated,
            C_UnwrapKeyAuthenticated,
        ]
    );
    list.C_GetInfo = Some(get_info_3_2);
    list
});

static INTERFACE_NAME: &[u8] = b"PKCS 11\0";

/// The interfaces this module offers, newest first: "PKCS 11" 3.2 (the default: a null version
/// in `C_GetInterface` picks it), 3.0 and 2.40.
static INTERFACES: Shared<[CK_INTERFACE; 3]> = Shared::new([
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: FUNCTION_LIST_3_2.ptr() as *mut c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: FUNCTION_LIST_3_0.ptr() as *mut c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: FUNCTION_LIST.ptr() as *mut c_void,
        flags: 0,
    },
]);

/// A copy of the interface table.
fn interfaces() -> [CK_INTERFACE; 3] {
    // SAFETY: INTERFACES is a valid static table; the module never writes it, and a copy is
    // taken so no reference outlives this read.
    unsafe { INTERFACES.ptr().read() }
}

fn interface_version(i: &CK_INTERFACE) -> CK_VERSION {
    // SAFETY: every pFunctionList in INTERFACES points to a static list starting with a
    // CK_VERSION.
    unsafe { (i.pFunctionList as *const CK_VERSION).read() }
}

/// `C_GetFunctionList`: the 2.40 table.
///
/// # Safety
/// `list` must be null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetFunctionList(list: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    if let Some(host) = host::serving() {
        // SAFETY: the program's C_GetFunctionList, with the caller's argument.
        return unsafe { (host.get_function_list)(list) };
    }
    guard("C_GetFunctionList", || {
        // SAFETY: out-pointer from the caller.
        unsafe { args::write(list, FUNCTION_LIST.ptr()) }?;
        Ok(CKR_OK)
    })
}

/// `C_GetInterfaceList`.
///
/// # Safety
/// `list` must be null or writable for `*count` interfaces; `count` must be valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetInterfaceList(
    list: *mut CK_INTERFACE,
    count: *mut CK_ULONG,
) -> CK_RV {
    if let Some(host) = host::serving() {
        // SAFETY: the program's C_GetInterfaceList, with the caller's arguments.
        return unsafe { (host.get_interface_list)(list, count) };
    }
    guard("C_GetInterfaceList", || {
        let all = interfaces();
        let n = all.len();
        // SAFETY: caller's in/out count pointer.
        let capacity = unsafe { args::read(count as *const CK_ULONG) }?;
        // SAFETY: caller's out-pointer.
        unsafe { args::write(count, n as CK_ULONG) }?;
        if list.is_null() {
            return Ok(CKR_OK);
        }
        if (capacity as usize) < n {
            return Ok(CKR_BUFFER_TOO_SMALL);
        }
        for (i, iface) in all.into_iter().enumerate() {
            // SAFETY: the caller's array holds at least `n` elements (checked above).
            unsafe { list.add(i).write_unaligned(iface) };
        }
        Ok(CKR_OK)
    })
}

/// `C_GetInterface`: by name ("PKCS 11" or null), version (or null for the newest) and flags.
///
/// # Safety
/// `name` must be null or a NUL-terminated string; `version` null or readable; `interface`
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetInterface(
    name: *mut CK_UTF8CHAR,
    version: *mut CK_VERSION,
    interface: *mut *mut CK_INTERFACE,
    flags: CK_FLAGS,
) -> CK_RV {
    if let Some(host) = host::serving() {
        // SAFETY: the program's C_GetInterface, with the caller's arguments.
        return unsafe { (host.get_interface)(name, version, interface, flags) };
    }
    guard("C_GetInterface", || {
        if interface.is_null() {
            return Err(err(CKR_ARGUMENTS_BAD, "ppInterface is null"));
        }
        if !name.is_null() {
            // SAFETY: the caller passes a NUL-terminated string.
            let wanted = unsafe { std::ffi::CStr::from_ptr(name as *const std::ffi::c_char) };
            if wanted.to_bytes_with_nul() != INTERFACE_NAME {
                return Err(err(
                    CKR_ARGUMENTS_BAD,
                    "hsmsim offers only the \"PKCS 11\" interface",
                ));
            }
        }
        let wanted_version = if version.is_null() {
            None
        } else {
            // SAFETY: version is non-null and readable, per the caller.
            Some(unsafe { args::read(version) }?)
        };
        let found = interfaces().iter().position(|i| {
            let v = interface_version(i);
            wanted_version.is_none_or(|w| w.major == v.major && w.minor == v.minor)
                && i.flags & flags == flags
        });
        let found = found
            .ok_or_else(|| err(CKR_ARGUMENTS_BAD, "no interface of that version and flags"))?;
        let entry = INTERFACES.ptr().cast::<CK_INTERFACE>().wrapping_add(found);
        // SAFETY: caller's out-pointer (checked non-null above).
        unsafe { args::write(interface, entry) }?;
        Ok(CKR_OK)
    })
}
