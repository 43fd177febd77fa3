//! One engine per process. A program that links this crate (the `hsmsim` command runs the
//! lab's estate operations through it) and also loads `libhsmsim.so` as its PKCS#11 module
//! (the consoles drive whatever module they are given through its C ABI) would otherwise hold
//! two copies of the simulator, each with its own SQLite, on the same lab database. SQLite's
//! unix locks are POSIX record locks, which belong to the process and the file, not to a
//! copy: the two copies never exclude each other, and when one closes its last connection
//! it drops the other's locks too, checkpoints the write-ahead log and deletes it under the
//! other's feet (sqlite.org/howtocorrupt.html §2.2.1, "multiple copies of SQLite linked into
//! the same application"): the other then reads "database disk image is malformed", or loses
//! what it writes. So such a program hands the module its own entry points
//! (`hsmsim_serve_host_engine` with [`HOST_ENTRY_POINTS`], before anything else calls into the
//! module): from then on the module's table getters (`C_GetFunctionList`, `C_GetInterface`,
//! `C_GetInterfaceList`, `CA_GetFunctionList`) answer with the program's tables, so every
//! call lands in the program's engine, and the module's own `C_Initialize` refuses (its
//! engine never opens a store). An application that does not link the crate never calls the
//! hook: the module serves it with its own engine, as before.
use super::{C_GetFunctionList, C_GetInterface, C_GetInterfaceList, CA_GetFunctionList};
use super::{CK_SFNT_CA_FUNCTION_LIST, guard, state};
use crate::base::error::err;
use cryptoki_sys::*;
use std::sync::atomic::{AtomicPtr, Ordering};

/// The layout version of [`HostEntryPoints`]; a module of another layout refuses the hook.
pub const HOST_ENTRY_POINTS_VERSION: CK_ULONG = 1;

/// The table getters of the copy of the simulator linked into the program.
#[repr(C)]
pub struct HostEntryPoints {
    /// [`HOST_ENTRY_POINTS_VERSION`].
    pub version: CK_ULONG,
    pub get_function_list: unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV,
    pub get_interface_list: unsafe extern "C" fn(*mut CK_INTERFACE, *mut CK_ULONG) -> CK_RV,
    pub get_interface: unsafe extern "C" fn(
        *mut CK_UTF8CHAR,
        *mut CK_VERSION,
        *mut *mut CK_INTERFACE,
        CK_FLAGS,
    ) -> CK_RV,
    pub ca_get_function_list: unsafe extern "C" fn(*mut *mut CK_SFNT_CA_FUNCTION_LIST) -> CK_RV,
}

/// This copy's entry points, which a program linking the crate hands to `libhsmsim.so`.
pub static HOST_ENTRY_POINTS: HostEntryPoints = HostEntryPoints {
    version: HOST_ENTRY_POINTS_VERSION,
    get_function_list: C_GetFunctionList,
    get_interface_list: C_GetInterfaceList,
    get_interface: C_GetInterface,
    ca_get_function_list: CA_GetFunctionList,
};

/// The program's entry points this copy serves with (null: it serves with its own engine).
static HOST: AtomicPtr<HostEntryPoints> = AtomicPtr::new(std::ptr::null_mut());

/// The program's entry points, when this copy is a module serving the program's engine.
pub(crate) fn serving() -> Option<&'static HostEntryPoints> {
    // SAFETY: HOST is null or was set from a pointer to the program's static
    // `HOST_ENTRY_POINTS`, which lives as long as the process.
    unsafe { HOST.load(Ordering::Acquire).as_ref() }
}

/// `hsmsim_serve_host_engine` (hsmsim's own, not PKCS#11): this module answers with the
/// program's tables from now on. `CKR_ARGUMENTS_BAD` for a null pointer or another layout
/// version; `CKR_CRYPTOKI_ALREADY_INITIALIZED` if this module's own engine is already in use
/// (the program would hold two engines on the lab: it must hand its entry points first);
/// `CKR_FUNCTION_FAILED` if it already serves another program copy. Handing the same entry
/// points again, or this copy's own, is `CKR_OK`.
///
/// # Safety
/// `host` must be null or point to a `HostEntryPoints` that lives as long as the process.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hsmsim_serve_host_engine(host: *const HostEntryPoints) -> CK_RV {
    guard("hsmsim_serve_host_engine", || {
        // SAFETY: null or valid for the process's lifetime, per the caller.
        let given =
            unsafe { host.as_ref() }.ok_or_else(|| err(CKR_ARGUMENTS_BAD, "no entry points"))?;
        if given.version != HOST_ENTRY_POINTS_VERSION {
            return Err(err(
                CKR_ARGUMENTS_BAD,
                format!(
                    "entry points of layout {} (this module has {HOST_ENTRY_POINTS_VERSION}): \
                     the program and libhsmsim.so come from different builds",
                    given.version
                ),
            ));
        }
        if std::ptr::eq(given, &HOST_ENTRY_POINTS) {
            return Ok(CKR_OK);
        }
        // Held until the entry points are set: `C_Initialize` takes it to check `serving`.
        let engine = state().engine.write();
        if engine.is_some() {
            return Err(err(
                CKR_CRYPTOKI_ALREADY_INITIALIZED,
                "this module's own engine is initialised: a program's engine can no longer \
                 take its place",
            ));
        }
        match HOST.compare_exchange(
            std::ptr::null_mut(),
            host.cast_mut(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Ok(CKR_OK),
            Err(current) if std::ptr::eq(current, host) => Ok(CKR_OK),
            Err(_) => Err(err(
                CKR_FUNCTION_FAILED,
                "this module already serves another copy of the simulator",
            )),
        }
    })
}
