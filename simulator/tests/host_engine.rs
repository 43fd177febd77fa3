//! `libhsmsim.so` loaded by a program that links the `hsmsim` crate serves the program's engine
//! once handed its entry points (`hsmsim_serve_host_engine`, `pkcs11::host`): every table
//! getter of the file answers with the program's table, the file's own `C_Initialize` refuses
//! (its engine never opens a store), and a hook of another layout is refused. One process, one
//! test: the file stays loaded (`-z nodelete`) with the entry points it was given.
mod common;

use cryptoki_sys::*;
use hsmsim::pkcs11::CK_SFNT_CA_FUNCTION_LIST;
use hsmsim::pkcs11::host::{HOST_ENTRY_POINTS, HostEntryPoints};
use libloading::Library;
use std::ffi::c_void;

/// `libhsmsim.so` of this build, loaded.
fn library() -> Library {
    // SAFETY: loading the module runs no initialiser with preconditions.
    unsafe { Library::new(common::module_file()) }.unwrap()
}

type Hook = unsafe extern "C" fn(*const HostEntryPoints) -> CK_RV;
type GetList = unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV;
type GetCaList = unsafe extern "C" fn(*mut *mut CK_SFNT_CA_FUNCTION_LIST) -> CK_RV;
type GetInterface = unsafe extern "C" fn(
    *mut CK_UTF8CHAR,
    *mut CK_VERSION,
    *mut *mut CK_INTERFACE,
    CK_FLAGS,
) -> CK_RV;
type Initialize = unsafe extern "C" fn(*mut c_void) -> CK_RV;

fn sym<F: Copy>(library: &Library, name: &[u8]) -> F {
    // SAFETY: every caller names `F` as the C signature of `name`.
    unsafe { *library.get::<F>(name).unwrap() }
}

/// The 2.40 table a getter answers with.
fn list(get: GetList) -> *mut CK_FUNCTION_LIST {
    let mut list = std::ptr::null_mut();
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { get(&mut list) }, CKR_OK);
    list
}

/// The Luna table a getter answers with.
fn ca_list(get: GetCaList) -> *mut CK_SFNT_CA_FUNCTION_LIST {
    let mut list = std::ptr::null_mut();
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { get(&mut list) }, CKR_OK);
    list
}

/// The newest interface a getter answers with.
fn interface(get: GetInterface) -> *mut CK_INTERFACE {
    let mut interface = std::ptr::null_mut();
    // SAFETY: null name and version ask for the default; a valid out-pointer.
    let rv = unsafe {
        get(
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut interface,
            0,
        )
    };
    assert_eq!(rv, CKR_OK);
    interface
}

#[test]
fn the_module_file_serves_the_program_s_engine_once_handed_its_entry_points() {
    let file = library();
    let file_list: GetList = sym(&file, b"C_GetFunctionList\0");
    let file_ca_list: GetCaList = sym(&file, b"CA_GetFunctionList\0");
    let file_interface: GetInterface = sym(&file, b"C_GetInterface\0");
    let hook: Hook = sym(&file, b"hsmsim_serve_host_engine\0");
    let program_list = list(hsmsim::pkcs11::C_GetFunctionList);
    let program_ca_list = ca_list(hsmsim::pkcs11::CA_GetFunctionList);
    let program_interface = interface(hsmsim::pkcs11::C_GetInterface);
    // Before the hook the file answers with its own tables: two copies of the simulator.
    assert_ne!(list(file_list), program_list);
    assert_ne!(ca_list(file_ca_list), program_ca_list);
    assert_ne!(interface(file_interface), program_interface);

    // A null or other-layout hook is refused and changes nothing.
    // SAFETY: null is allowed.
    assert_eq!(unsafe { hook(std::ptr::null()) }, CKR_ARGUMENTS_BAD);
    let other_layout = HostEntryPoints {
        version: 99,
        ..HOST_ENTRY_POINTS
    };
    // SAFETY: a valid pointer for the call (refused before it is kept).
    assert_eq!(unsafe { hook(&other_layout) }, CKR_ARGUMENTS_BAD);
    assert_ne!(list(file_list), program_list);

    // SAFETY: the program's static entry points, valid for the process.
    assert_eq!(unsafe { hook(&HOST_ENTRY_POINTS) }, CKR_OK);
    // SAFETY: as above; handing them again is accepted.
    assert_eq!(unsafe { hook(&HOST_ENTRY_POINTS) }, CKR_OK);
    assert_eq!(list(file_list), program_list);
    assert_eq!(ca_list(file_ca_list), program_ca_list);
    assert_eq!(interface(file_interface), program_interface);
    let file_interfaces: unsafe extern "C" fn(*mut CK_INTERFACE, *mut CK_ULONG) -> CK_RV =
        sym(&file, b"C_GetInterfaceList\0");
    let mut count: CK_ULONG = 0;
    // SAFETY: a null list with a valid count asks for the count.
    let rv = unsafe { file_interfaces(std::ptr::null_mut(), &mut count) };
    assert_eq!(rv, CKR_OK);
    assert_eq!(count, 3);

    // The file's own engine cannot start beside the program's.
    let file_initialize: Initialize = sym(&file, b"C_Initialize\0");
    // SAFETY: null arguments are allowed.
    let rv = unsafe { file_initialize(std::ptr::null_mut()) };
    assert_eq!(rv, CKR_FUNCTION_FAILED);
}
