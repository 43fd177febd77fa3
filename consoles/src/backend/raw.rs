//! The few PKCS#11 calls cryptoki 0.12 cannot express, made through the module's own
//! `C_GetFunctionList` table: the raw mechanism list (cryptoki drops mechanisms it does not
//! know, such as `CKM_RSA_AES_KEY_WRAP` and `CKM_AES_KEY_WRAP_KWP`), and `C_WrapKey` /
//! `C_UnwrapKey` with those mechanisms, and Luna's `CA_*` extension calls (SafeNet SDK
//! signatures as pycryptoki binds them) with `C_Login` for Luna's vendor user types. Sessions
//! and objects are cryptoki's, by handle. This is the crate's only C ABI boundary.
//!
//! A module may hand out a new, separately initialised instance at every `C_GetFunctionList`
//! call (p11-kit's `p11-kit-client.so` does: each instance is its own connection to the
//! `p11-kit server`). Its table here is then not the one cryptoki initialised: `load` sees that
//! (`C_GetInfo` answers `CKR_CRYPTOKI_NOT_INITIALIZED`), initialises this instance of its own for
//! the session-less mechanism list, finalises it when dropped, and refuses every call that takes
//! cryptoki's session handles or changes a token (`CKR_FUNCTION_NOT_SUPPORTED`): those handles
//! mean nothing in another instance.
//!
//! The simulator's module is served by the engine linked into this program
//! (`serve_host_engine`, `RawModule::in_process`): a second engine in the process, the one
//! inside `libhsmsim.so`, would open the lab's database with its own SQLite beside the
//! estate operations' (`hsmsim::pkcs11::host` says why that corrupts it).
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;
use std::path::Path;

/// A module's function table, loaded beside cryptoki's (same process, same initialisation).
pub struct RawModule {
    /// The table is an instance of the module of its own, initialised here and finalised when
    /// dropped (see the module comment): only the mechanism list is read through it. Declared
    /// before `library`, so it is finalised before the module unloads.
    own_instance: Option<SeparateInstance>,
    /// The module file; `None` for the simulator linked into this program.
    library: Option<libloading::Library>,
    list: *const CK_FUNCTION_LIST,
    /// The simulator's Luna table: its `CA_*` functions are found there by name
    /// (`hsmsim::pkcs11::CA_FUNCTION_NAMES`), not among the module file's symbols.
    ca_list: *const hsmsim::pkcs11::CK_SFNT_CA_FUNCTION_LIST,
}

// SAFETY: the function table is static data of the loaded module, which stays loaded while
// `library` lives; PKCS#11 modules initialised with CKF_OS_LOCKING_OK are callable from any
// thread.
unsafe impl Send for RawModule {}
// SAFETY: as above; the table is only read.
unsafe impl Sync for RawModule {}

/// A call's mechanism: its type and, borrowed for the call, its `#[repr(C)]` parameter.
pub struct RawMechanism<'a> {
    mechanism: CK_MECHANISM_TYPE,
    parameter: Option<(*mut std::ffi::c_void, usize)>,
    _borrow: std::marker::PhantomData<&'a mut ()>,
}

impl<'a> RawMechanism<'a> {
    /// A mechanism without a parameter.
    pub fn new(mechanism: CK_MECHANISM_TYPE) -> Self {
        RawMechanism {
            mechanism,
            parameter: None,
            _borrow: std::marker::PhantomData,
        }
    }

    /// A mechanism with a PKCS#11 parameter struct, borrowed (and kept in place) for the call.
    pub fn with_parameter<T>(mechanism: CK_MECHANISM_TYPE, parameter: &'a mut T) -> Self {
        RawMechanism {
            mechanism,
            parameter: Some(((parameter as *mut T).cast(), std::mem::size_of::<T>())),
            _borrow: std::marker::PhantomData,
        }
    }

    fn as_ck(&self) -> CK_MECHANISM {
        let (ptr, len) = self.parameter.unwrap_or((std::ptr::null_mut(), 0));
        CK_MECHANISM {
            mechanism: self.mechanism,
            pParameter: ptr,
            ulParameterLen: len as CK_ULONG,
        }
    }
}

/// Makes the simulator's module file (`libhsmsim.so`) serve the engine linked into this
/// program: loads it and hands it this program's entry points (its private
/// `hsmsim_serve_host_engine`), before anything calls into it. From then on every table
/// cryptoki or anyone gets from the file is this program's.
pub fn serve_host_engine(path: &Path) -> Result<(), String> {
    // SAFETY: loading the module runs its initialisers (Rust statics only); it links with
    // -z nodelete, so it stays mapped, and its state holds the entry points, after `library`
    // is dropped.
    let library = unsafe { libloading::Library::new(path) }
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    // SAFETY: the simulator's hook has this signature (hsmsim::pkcs11::host).
    let hook: libloading::Symbol<
        unsafe extern "C" fn(*const hsmsim::pkcs11::host::HostEntryPoints) -> CK_RV,
    > = unsafe { library.get(b"hsmsim_serve_host_engine\0") }.map_err(|_| {
        format!(
            "{} is not this build's libhsmsim.so (it has no hsmsim_serve_host_engine): rebuild it (cargo build) or set HSMSIM_MODULE to this build's",
            path.display()
        )
    })?;
    // SAFETY: a pointer to this program's static entry points, valid for the process.
    let rv = unsafe { hook(&hsmsim::pkcs11::host::HOST_ENTRY_POINTS) };
    if rv != CKR_OK {
        return Err(format!(
            "{} cannot serve this program's engine (0x{rv:X}): it was initialised on its own first",
            path.display()
        ));
    }
    Ok(())
}

impl RawModule {
    /// Opens the module file and asks it for its function table.
    pub fn load(path: &Path) -> Result<RawModule, String> {
        // SAFETY: the module is already loaded and initialised by cryptoki; this only adds a
        // reference. Its initialisers ran then.
        let library = unsafe { libloading::Library::new(path) }
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        // SAFETY: C_GetFunctionList has this signature in every PKCS#11 module.
        let get: libloading::Symbol<unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV> =
            unsafe { library.get(b"C_GetFunctionList\0") }
                .map_err(|e| format!("{} has no C_GetFunctionList: {e}", path.display()))?;
        let mut list: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
        // SAFETY: a valid out-pointer.
        let rv = unsafe { get(&mut list) };
        if rv != CKR_OK || list.is_null() {
            return Err(format!(
                "C_GetFunctionList of {} answered 0x{rv:X}",
                path.display()
            ));
        }
        let mut raw = RawModule {
            library: Some(library),
            list,
            ca_list: std::ptr::null(),
            own_instance: None,
        };
        raw.own_instance = raw.initialise_if_separate().map_err(|rv| {
            format!(
                "{} hands out a new instance per C_GetFunctionList, and C_Initialize of the second answered 0x{rv:X}",
                path.display()
            )
        })?;
        Ok(raw)
    }

    /// Whether this table is a second, uninitialised instance of the module (see the module
    /// comment); if so, initialises it and answers true.
    fn initialise_if_separate(&self) -> Result<Option<SeparateInstance>, CK_RV> {
        // SAFETY: the table of the module `library` holds loaded.
        unsafe { initialise_separate_instance(self.list) }
    }

    /// The tables of the simulator linked into this program (the engine `libhsmsim.so` serves
    /// after `serve_host_engine`).
    pub fn in_process() -> Result<RawModule, String> {
        let mut list: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
        // SAFETY: a valid out-pointer; the function only writes its static table's address.
        let rv = unsafe { hsmsim::pkcs11::C_GetFunctionList(&mut list) };
        let mut ca_list: *mut hsmsim::pkcs11::CK_SFNT_CA_FUNCTION_LIST = std::ptr::null_mut();
        // SAFETY: as above.
        let ca_rv = unsafe { hsmsim::pkcs11::CA_GetFunctionList(&mut ca_list) };
        if rv != CKR_OK || ca_rv != CKR_OK || list.is_null() || ca_list.is_null() {
            return Err(format!(
                "the simulator's function lists: C_GetFunctionList 0x{rv:X}, CA_GetFunctionList 0x{ca_rv:X}"
            ));
        }
        Ok(RawModule {
            library: None,
            list,
            ca_list,
            own_instance: None,
        })
    }

    /// The table, for the calls any instance answers alike (the mechanism list).
    fn table(&self) -> &CK_FUNCTION_LIST {
        // SAFETY: checked non-null at load; the table lives as long as the library (the
        // simulator's in this program is static).
        unsafe { &*self.list }
    }

    /// The table, for the calls on cryptoki's sessions or a token: refused on an instance of
    /// its own (see the module comment).
    fn functions(&self) -> Result<&CK_FUNCTION_LIST, CK_RV> {
        if self.own_instance.is_some() {
            return Err(CKR_FUNCTION_NOT_SUPPORTED);
        }
        Ok(self.table())
    }

    /// Every mechanism the slot's token lists, including those cryptoki does not know.
    pub fn mechanisms(&self, slot: CK_SLOT_ID) -> Result<Vec<CK_MECHANISM_TYPE>, CK_RV> {
        let f = self
            .table()
            .C_GetMechanismList
            .ok_or(CKR_FUNCTION_NOT_SUPPORTED)?;
        let mut count: CK_ULONG = 0;
        // SAFETY: a null list with a valid count pointer asks for the count.
        let rv = unsafe { f(slot, std::ptr::null_mut(), &mut count) };
        if rv != CKR_OK {
            return Err(rv);
        }
        let mut list = vec![0 as CK_MECHANISM_TYPE; count as usize];
        // SAFETY: the buffer holds `count` elements.
        let rv = unsafe { f(slot, list.as_mut_ptr(), &mut count) };
        if rv != CKR_OK {
            return Err(rv);
        }
        list.truncate(count as usize);
        Ok(list)
    }

    /// `C_WrapKey` with any mechanism (two-call convention for the length).
    pub fn wrap_key(
        &self,
        session: &Session,
        mechanism: RawMechanism<'_>,
        wrapping: ObjectHandle,
        key: ObjectHandle,
    ) -> Result<Vec<u8>, CK_RV> {
        let f = self
            .functions()?
            .C_WrapKey
            .ok_or(CKR_FUNCTION_NOT_SUPPORTED)?;
        let mut mech = mechanism.as_ck();
        let mut len: CK_ULONG = 0;
        // SAFETY: valid session and object handles, a mechanism whose parameter outlives the
        // call, a null output asking for the length.
        let rv = unsafe {
            f(
                session.handle(),
                &mut mech,
                wrapping.handle(),
                key.handle(),
                std::ptr::null_mut(),
                &mut len,
            )
        };
        if rv != CKR_OK {
            return Err(rv);
        }
        let mut out = vec![0u8; len as usize];
        // SAFETY: as above, with an output buffer of `len` bytes.
        let rv = unsafe {
            f(
                session.handle(),
                &mut mech,
                wrapping.handle(),
                key.handle(),
                out.as_mut_ptr(),
                &mut len,
            )
        };
        if rv != CKR_OK {
            return Err(rv);
        }
        out.truncate(len as usize);
        Ok(out)
    }

    /// `C_UnwrapKey` with any mechanism.
    pub fn unwrap_key(
        &self,
        session: &Session,
        mechanism: RawMechanism<'_>,
        unwrapping: ObjectHandle,
        wrapped: &[u8],
        template: &[Attribute],
    ) -> Result<ObjectHandle, CK_RV> {
        let f = self
            .functions()?
            .C_UnwrapKey
            .ok_or(CKR_FUNCTION_NOT_SUPPORTED)?;
        let mut mech = mechanism.as_ck();
        let mut attrs: Vec<CK_ATTRIBUTE> = template.iter().map(CK_ATTRIBUTE::from).collect();
        let mut wrapped = wrapped.to_vec();
        let mut handle: CK_OBJECT_HANDLE = 0;
        // SAFETY: valid handles; the mechanism, the wrapped bytes and the template (whose
        // values `template` owns) outlive the call; a valid out-pointer.
        let rv = unsafe {
            f(
                session.handle(),
                &mut mech,
                unwrapping.handle(),
                wrapped.as_mut_ptr(),
                wrapped.len() as CK_ULONG,
                attrs.as_mut_ptr(),
                attrs.len() as CK_ULONG,
                &mut handle,
            )
        };
        if rv != CKR_OK {
            return Err(rv);
        }
        // SAFETY: the module just returned this handle for the session's token.
        Ok(unsafe { ObjectHandle::new_from_raw(handle) })
    }
}

type FirmwareFn =
    unsafe extern "C" fn(CK_SLOT_ID, *mut CK_ULONG, *mut CK_ULONG, *mut CK_ULONG) -> CK_RV;
type SettingFn = unsafe extern "C" fn(CK_SLOT_ID, CK_ULONG, *mut CK_ULONG) -> CK_RV;
type PairsFn = unsafe extern "C" fn(
    CK_SLOT_ID,
    *mut CK_ULONG,
    *mut CK_ULONG,
    *mut CK_ULONG,
    *mut CK_ULONG,
) -> CK_RV;
type SetPoliciesFn = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    CK_SLOT_ID,
    CK_ULONG,
    *mut CK_ULONG,
    *mut CK_ULONG,
) -> CK_RV;
type DescriptionFn = unsafe extern "C" fn(
    CK_SLOT_ID,
    CK_ULONG,
    CK_ULONG,
    CK_ULONG,
    *mut CK_ULONG,
    *mut CK_ULONG,
    *mut CK_ULONG,
    *mut CK_CHAR,
) -> CK_RV;
type CloneFn = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    CK_SESSION_HANDLE,
    CK_ULONG,
    CK_OBJECT_HANDLE,
    *mut CK_OBJECT_HANDLE,
) -> CK_RV;
type ContainerFn = unsafe extern "C" fn(CK_SLOT_ID, *mut CK_ULONG) -> CK_RV;
type ObjectUidFn =
    unsafe extern "C" fn(CK_SLOT_ID, CK_ULONG, CK_ULONG, CK_ULONG, *mut CK_BYTE) -> CK_RV;
type LoginFn =
    unsafe extern "C" fn(CK_SESSION_HANDLE, CK_USER_TYPE, *mut CK_UTF8CHAR, CK_ULONG) -> CK_RV;

/// The buffer `CA_GetConfigurationElementDescription` writes into (the SDK passes no length;
/// the simulator writes at most 128 bytes, NUL included).
const DESCRIPTION_ROOM: usize = 256;

/// `CA_CloneObject`'s object type for PKCS#11 objects (`CK_CRYPTOKI_ELEMENT`).
pub const CK_CRYPTOKI_ELEMENT: CK_ULONG = 0;

/// A configuration element's description (`CA_GetConfigurationElementDescription`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementDescription {
    pub destructive: bool,
    pub description: String,
}

// Luna's `CA_*` extension calls (and `C_Login` with Luna's vendor user types, which cryptoki
// cannot name), made by symbol: a module without one answers `CKR_FUNCTION_NOT_SUPPORTED`.
impl RawModule {
    /// The symbol `name` (NUL-terminated) as a function of type `F`.
    ///
    /// # Safety
    /// `F` must be the symbol's C signature.
    unsafe fn function<F: Copy>(&self, name: &[u8]) -> Result<F, CK_RV> {
        let Some(library) = &self.library else {
            return self.in_process_function(name);
        };
        // SAFETY: the caller names the symbol's signature.
        unsafe { library.get::<F>(name) }
            .map(|f| *f)
            .map_err(|_| CKR_FUNCTION_NOT_SUPPORTED)
    }

    /// The simulator's `CA_*` function `name` (NUL-terminated), from its Luna table, or one
    /// it exports outside that table (`CA_InitToken`: pycryptoki's layout has no entry).
    fn in_process_function<F: Copy>(&self, name: &[u8]) -> Result<F, CK_RV> {
        let name = name.strip_suffix(b"\0").unwrap_or(name);
        let entry = match hsmsim::pkcs11::CA_FUNCTION_NAMES
            .iter()
            .position(|n| n.as_bytes() == name)
        {
            // SAFETY: `ca_list` is the simulator's static table (set with `library` None),
            // which holds `CA_FUNCTION_COUNT` entries in `CA_FUNCTION_NAMES`' order, none null.
            Some(index) => unsafe { (*self.ca_list).functions[index] },
            None if name == b"CA_InitToken" => {
                hsmsim::pkcs11::CA_InitToken as *const std::ffi::c_void
            }
            None => return Err(CKR_FUNCTION_NOT_SUPPORTED),
        };
        if std::mem::size_of::<F>() != std::mem::size_of::<*const std::ffi::c_void>() {
            return Err(CKR_GENERAL_ERROR);
        }
        // SAFETY: `F` is the entry's C signature (the caller names it, as for a symbol) and
        // a function pointer of pointer size (checked above).
        Ok(unsafe { std::mem::transmute_copy::<*const std::ffi::c_void, F>(&entry) })
    }

    /// `CA_GetFirmwareVersion`: (major, minor, subminor).
    pub fn firmware(&self, slot: CK_SLOT_ID) -> Result<(u64, u64, u64), CK_RV> {
        // SAFETY: the SDK's signature.
        let f: FirmwareFn = unsafe { self.function(b"CA_GetFirmwareVersion\0") }?;
        let (mut major, mut minor, mut sub) = (0, 0, 0);
        // SAFETY: three valid out-pointers.
        check(unsafe { f(slot, &mut major, &mut minor, &mut sub) })?;
        Ok((major, minor, sub))
    }

    /// `CA_GetHSMPolicySetting`: one HSM policy of the slot's device.
    pub fn hsm_policy(&self, slot: CK_SLOT_ID, id: CK_ULONG) -> Result<CK_ULONG, CK_RV> {
        // SAFETY: the SDK's signature.
        let f: SettingFn = unsafe { self.function(b"CA_GetHSMPolicySetting\0") }?;
        let mut value = 0;
        // SAFETY: a valid out-pointer.
        check(unsafe { f(slot, id, &mut value) })?;
        Ok(value)
    }

    /// `CA_GetTokenPolicies`: the partition's policies, by id.
    pub fn token_policies(&self, slot: CK_SLOT_ID) -> Result<Vec<(u64, u64)>, CK_RV> {
        self.pairs(b"CA_GetTokenPolicies\0", slot)
    }

    /// `CA_GetTokenCapabilities`: the largest value each partition policy may take.
    pub fn token_capabilities(&self, slot: CK_SLOT_ID) -> Result<Vec<(u64, u64)>, CK_RV> {
        self.pairs(b"CA_GetTokenCapabilities\0", slot)
    }

    fn pairs(&self, name: &[u8], slot: CK_SLOT_ID) -> Result<Vec<(u64, u64)>, CK_RV> {
        // SAFETY: both functions have the SDK's id/value-array signature.
        let f: PairsFn = unsafe { self.function(name) }?;
        let (mut id_count, mut value_count) = (0, 0);
        // SAFETY: null arrays with valid counts ask for the counts.
        check(unsafe {
            f(
                slot,
                std::ptr::null_mut(),
                &mut id_count,
                std::ptr::null_mut(),
                &mut value_count,
            )
        })?;
        let mut ids = vec![0; id_count as usize];
        let mut values = vec![0; value_count as usize];
        // SAFETY: the arrays hold the counts announced.
        check(unsafe {
            f(
                slot,
                ids.as_mut_ptr(),
                &mut id_count,
                values.as_mut_ptr(),
                &mut value_count,
            )
        })?;
        let n = (id_count.min(value_count) as usize)
            .min(ids.len())
            .min(values.len());
        Ok(ids[..n]
            .iter()
            .copied()
            .zip(values[..n].iter().copied())
            .collect())
    }

    /// `CA_GetConfigurationElementDescription` of a partition policy (`capability` false) or
    /// capability.
    pub fn partition_element(
        &self,
        slot: CK_SLOT_ID,
        capability: bool,
        id: CK_ULONG,
    ) -> Result<ElementDescription, CK_RV> {
        // SAFETY: the SDK's 8-argument signature.
        let f: DescriptionFn =
            unsafe { self.function(b"CA_GetConfigurationElementDescription\0") }?;
        let (mut bits, mut destructive, mut restricted) = (0, 0, 0);
        let mut text = vec![0u8; DESCRIPTION_ROOM];
        // SAFETY: valid out-pointers; the description buffer is larger than the module writes.
        check(unsafe {
            f(
                slot,
                1,
                CK_ULONG::from(capability),
                id,
                &mut bits,
                &mut destructive,
                &mut restricted,
                text.as_mut_ptr(),
            )
        })?;
        let end = text.iter().position(|b| *b == 0).unwrap_or(text.len());
        Ok(ElementDescription {
            destructive: destructive != 0,
            description: String::from_utf8_lossy(&text[..end]).trim().to_string(),
        })
    }

    /// `CA_SetTokenPolicies`: the Partition SO (or the HSM SO of a pre-PPSO partition)
    /// changes partition policies, all or none.
    pub fn set_token_policies(
        &self,
        session: CK_SESSION_HANDLE,
        slot: CK_SLOT_ID,
        changes: &[(u64, u64)],
    ) -> Result<(), CK_RV> {
        // SAFETY: the SDK's signature.
        let f: SetPoliciesFn = unsafe { self.function(b"CA_SetTokenPolicies\0") }?;
        let mut ids: Vec<CK_ULONG> = changes.iter().map(|(id, _)| *id).collect();
        let mut values: Vec<CK_ULONG> = changes.iter().map(|(_, v)| *v).collect();
        // SAFETY: two arrays of `changes.len()` elements.
        check(unsafe {
            f(
                session,
                slot,
                changes.len() as CK_ULONG,
                ids.as_mut_ptr(),
                values.as_mut_ptr(),
            )
        })
    }

    /// `CA_CloneObject`: the object of the source session's partition cloned to the target
    /// session's; the new handle.
    pub fn clone_object(
        &self,
        target: CK_SESSION_HANDLE,
        source: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
    ) -> Result<CK_OBJECT_HANDLE, CK_RV> {
        // SAFETY: the SDK's signature.
        let f: CloneFn = unsafe { self.function(b"CA_CloneObject\0") }?;
        let mut cloned = 0;
        // SAFETY: a valid out-pointer.
        check(unsafe { f(target, source, CK_CRYPTOKI_ELEMENT, object, &mut cloned) })?;
        Ok(cloned)
    }

    /// The object's unique id (`CA_GetUserContainerNumber`, then `CA_GetObjectUID`).
    pub fn object_uid(
        &self,
        slot: CK_SLOT_ID,
        object: CK_OBJECT_HANDLE,
    ) -> Result<[u8; 12], CK_RV> {
        // SAFETY: the SDK's signatures.
        let container_of: ContainerFn = unsafe { self.function(b"CA_GetUserContainerNumber\0") }?;
        // SAFETY: as above.
        let uid_of: ObjectUidFn = unsafe { self.function(b"CA_GetObjectUID\0") }?;
        let mut container = 0;
        // SAFETY: a valid out-pointer.
        check(unsafe { container_of(slot, &mut container) })?;
        let mut uid = [0u8; 12];
        // SAFETY: a 12-byte buffer, the size of an OUID.
        check(unsafe {
            uid_of(
                slot,
                container,
                CK_CRYPTOKI_ELEMENT,
                object,
                uid.as_mut_ptr(),
            )
        })?;
        Ok(uid)
    }

    /// `C_Login` with any user type (Luna's Crypto User is `0x80000001`); no PIN for a PED.
    pub fn login(
        &self,
        session: CK_SESSION_HANDLE,
        user: CK_USER_TYPE,
        pin: Option<&str>,
    ) -> Result<(), CK_RV> {
        // The function list's (as for every standard function), not the symbol's.
        let f: LoginFn = self
            .functions()?
            .C_Login
            .ok_or(CKR_FUNCTION_NOT_SUPPORTED)?;
        let mut pin = pin.map(|p| p.as_bytes().to_vec());
        let (ptr, len) = match pin.as_mut() {
            Some(p) => (p.as_mut_ptr(), p.len() as CK_ULONG),
            None => (std::ptr::null_mut(), 0),
        };
        // SAFETY: the PIN buffer (or null with length 0) outlives the call.
        check(unsafe { f(session, user, ptr, len) })
    }
}

/// Initialises `table` when it is a second, uninitialised instance of a module this process
/// has initialised already: a module that hands out a new instance per `C_GetFunctionList`, as
/// p11-kit's `p11-kit-client.so` does (`C_GetInfo` then answers `CKR_CRYPTOKI_NOT_INITIALIZED`).
/// Answers the instance when it did (finalised when dropped: keep the module loaded until
/// then); the caller never uses another instance's session or object handles on it. Anyone
/// who enters a module through its own `C_GetFunctionList` beside cryptoki's needs this.
///
/// # Safety
/// `table` is the function table of a module that stays loaded during the call and for as long
/// as the answered instance lives.
pub unsafe fn initialise_separate_instance(
    table: *const CK_FUNCTION_LIST,
) -> Result<Option<SeparateInstance>, CK_RV> {
    let list = table;
    // SAFETY: the caller's promise.
    let table = unsafe { table.as_ref() }.ok_or(CKR_ARGUMENTS_BAD)?;
    let get_info = table.C_GetInfo.ok_or(CKR_FUNCTION_NOT_SUPPORTED)?;
    let mut info = std::mem::MaybeUninit::<CK_INFO>::zeroed();
    // SAFETY: a valid out-pointer to a CK_INFO.
    if unsafe { get_info(info.as_mut_ptr()) } != CKR_CRYPTOKI_NOT_INITIALIZED {
        return Ok(None);
    }
    let initialize = table.C_Initialize.ok_or(CKR_FUNCTION_NOT_SUPPORTED)?;
    let mut args = CK_C_INITIALIZE_ARGS {
        CreateMutex: None,
        DestroyMutex: None,
        LockMutex: None,
        UnlockMutex: None,
        flags: CKF_OS_LOCKING_OK,
        pReserved: std::ptr::null_mut(),
    };
    // SAFETY: valid initialisation arguments that outlive the call.
    check(unsafe { initialize((&mut args as *mut CK_C_INITIALIZE_ARGS).cast()) })?;
    Ok(Some(SeparateInstance(list)))
}

/// A module instance of its own that `initialise_separate_instance` initialised: finalised
/// (`C_Finalize`) when dropped, which must happen before the module unloads.
pub struct SeparateInstance(*const CK_FUNCTION_LIST);

impl Drop for SeparateInstance {
    fn drop(&mut self) {
        // SAFETY: the table of a module still loaded (`initialise_separate_instance`'s
        // contract); the instance was initialised there and is no longer used.
        if let Some(finalize) = unsafe { self.0.as_ref() }.and_then(|t| t.C_Finalize) {
            // SAFETY: as above; a null reserved argument.
            unsafe { finalize(std::ptr::null_mut()) };
        }
    }
}

fn check(rv: CK_RV) -> Result<(), CK_RV> {
    if rv == CKR_OK { Ok(()) } else { Err(rv) }
}

type InitTokenFn = unsafe extern "C" fn(
    CK_SLOT_ID,
    *mut CK_UTF8CHAR,
    CK_ULONG,
    *mut CK_UTF8CHAR,
    *mut CK_BYTE,
    CK_ULONG,
    CK_ULONG,
    *mut std::ffi::c_void,
    CK_ULONG,
    *mut std::ffi::c_void,
) -> CK_RV;
type InitPinFn = unsafe extern "C" fn(CK_SESSION_HANDLE, *mut CK_UTF8CHAR, CK_ULONG) -> CK_RV;
type InitRolePinFn =
    unsafe extern "C" fn(CK_SESSION_HANDLE, CK_USER_TYPE, *mut CK_UTF8CHAR, CK_ULONG) -> CK_RV;
type SetPinFn = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    *mut CK_UTF8CHAR,
    CK_ULONG,
    *mut CK_UTF8CHAR,
    CK_ULONG,
) -> CK_RV;
type LoginChallengeFn = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    CK_USER_TYPE,
    CK_ULONG,
    *mut CK_CHAR,
    *mut CK_ULONG,
    *mut CK_CHAR,
) -> CK_RV;

/// A PIN as the C calls take it: its bytes, or none (a PED presents the key).
fn pin_buffer(pin: Option<&str>) -> Vec<u8> {
    pin.map(|p| p.as_bytes().to_vec()).unwrap_or_default()
}

/// A buffer's pointer and length; null with length 0 when empty.
fn pointer(buffer: &mut [u8]) -> (*mut u8, CK_ULONG) {
    if buffer.is_empty() {
        (std::ptr::null_mut(), 0)
    } else {
        (buffer.as_mut_ptr(), buffer.len() as CK_ULONG)
    }
}

// Initialising partitions and roles (LunaCM `partition init`, `role init|changepw|createchallenge`).
impl RawModule {
    /// `CA_InitToken` (with a cloning domain) or, without a domain, `C_InitToken`: the
    /// partition initialised with `label` and the SO credential `pin` (none on a PED).
    pub fn init_token(
        &self,
        slot: CK_SLOT_ID,
        pin: Option<&str>,
        label: &str,
        domain: Option<&str>,
    ) -> Result<(), CK_RV> {
        let mut pin = pin_buffer(pin);
        let (pin_ptr, pin_len) = pointer(&mut pin);
        // The 32-byte label, padded with spaces (PKCS#11), cut to 32 bytes.
        let mut padded = [b' '; 32];
        let bytes = label.as_bytes();
        padded[..bytes.len().min(32)].copy_from_slice(&bytes[..bytes.len().min(32)]);
        match domain {
            Some(domain) => {
                // SAFETY: the SDK's signature.
                let f: InitTokenFn = unsafe { self.function(b"CA_InitToken\0") }?;
                let mut domain = domain.as_bytes().to_vec();
                let (domain_ptr, domain_len) = pointer(&mut domain);
                // SAFETY: the buffers outlive the call; no policy arrays (counts 0, null).
                check(unsafe {
                    f(
                        slot,
                        pin_ptr,
                        pin_len,
                        padded.as_mut_ptr(),
                        domain_ptr,
                        domain_len,
                        0,
                        std::ptr::null_mut(),
                        0,
                        std::ptr::null_mut(),
                    )
                })
            }
            None => {
                let f = self
                    .functions()?
                    .C_InitToken
                    .ok_or(CKR_FUNCTION_NOT_SUPPORTED)?;
                // SAFETY: the buffers outlive the call.
                check(unsafe { f(slot, pin_ptr, pin_len, padded.as_mut_ptr()) })
            }
        }
    }

    /// A role's first PIN set by the role above it: `C_InitPIN` for the Crypto Officer (by
    /// the Partition SO), `CA_InitRolePIN` for the others (by the Crypto Officer).
    pub fn init_role_pin(
        &self,
        session: CK_SESSION_HANDLE,
        user: CK_USER_TYPE,
        pin: Option<&str>,
    ) -> Result<(), CK_RV> {
        let mut pin = pin_buffer(pin);
        let (ptr, len) = pointer(&mut pin);
        if user == CKU_USER {
            let f: InitPinFn = self
                .functions()?
                .C_InitPIN
                .ok_or(CKR_FUNCTION_NOT_SUPPORTED)?;
            // SAFETY: the PIN buffer outlives the call.
            return check(unsafe { f(session, ptr, len) });
        }
        // SAFETY: the SDK's signature.
        let f: InitRolePinFn = unsafe { self.function(b"CA_InitRolePIN\0") }?;
        // SAFETY: the PIN buffer outlives the call.
        check(unsafe { f(session, user, ptr, len) })
    }

    /// `C_SetPIN`: the logged-in role changes its own PIN.
    pub fn set_pin(
        &self,
        session: CK_SESSION_HANDLE,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<(), CK_RV> {
        let f: SetPinFn = self
            .functions()?
            .C_SetPIN
            .ok_or(CKR_FUNCTION_NOT_SUPPORTED)?;
        let (mut old, mut new) = (pin_buffer(old), pin_buffer(new));
        let (old_ptr, old_len) = pointer(&mut old);
        let (new_ptr, new_len) = pointer(&mut new);
        // SAFETY: both buffers outlive the call.
        check(unsafe { f(session, old_ptr, old_len, new_ptr, new_len) })
    }

    /// `CA_CreateLoginChallenge`: the challenge secret an activated role logs in with.
    pub fn create_login_challenge(
        &self,
        session: CK_SESSION_HANDLE,
        user: CK_USER_TYPE,
        secret: &str,
    ) -> Result<(), CK_RV> {
        // SAFETY: the SDK's signature.
        let f: LoginChallengeFn = unsafe { self.function(b"CA_CreateLoginChallenge\0") }?;
        let mut secret = secret.as_bytes().to_vec();
        let (mut out_len, mut out) = (0, [0u8; 1]);
        // SAFETY: the secret outlives the call; a one-byte output buffer with a zero length,
        // as pycryptoki passes.
        check(unsafe {
            f(
                session,
                user,
                secret.len() as CK_ULONG,
                secret.as_mut_ptr(),
                &mut out_len,
                out.as_mut_ptr(),
            )
        })
    }
}
