//! Benchmark support: a thin client of a PKCS#11 module loaded at run time.
//!
//! [`Module`] loads a shared library (normally `libhsmsim.so`) with `libloading`, obtains its
//! function list the way real applications do (`C_GetInterface("PKCS 11", 3.0)`, falling back
//! to `C_GetFunctionList`) and makes every call through the function-list pointers. Only the
//! handful of calls the benchmarks need are wrapped (signing; token set-up, object creation
//! and finds for the store benchmark; Luna's `CA_CloneObject` and `CA_MigrateKeys`, looked up
//! by name, for the cloning benchmark). This file is the C ABI boundary: all `unsafe` of the
//! crate lives here.
use cryptoki_sys::*;
use std::ffi::c_void;
use std::fmt;
use std::path::{Path, PathBuf};
use std::ptr;

/// The workspace root (this crate lives in `<workspace>/benches`).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` if set, else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("target"))
}

/// Where to find the module: `$HSMSIM_MODULE`, else `<target>/release/libhsmsim.so`.
pub fn module_path() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("HSMSIM_MODULE") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("HSMSIM_MODULE={} is not a file", p.display()))
        };
    }
    let p = target_dir().join("release").join("libhsmsim.so");
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found: run `cargo build --release -p hsmsim` first, \
             or point HSMSIM_MODULE at a libhsmsim.so",
            p.display()
        ))
    }
}

/// How a bench binary runs: `cargo bench` passes `--bench` (`cargo test` runs bench targets
/// without it, for a quick check of the path); `HSMSIM_BENCH_QUICK` asks for the short run.
pub struct RunMode {
    pub bench: bool,
    pub quick: bool,
}

impl RunMode {
    pub fn from_env() -> RunMode {
        RunMode {
            bench: std::env::args().any(|a| a == "--bench"),
            quick: std::env::var("HSMSIM_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0"),
        }
    }
}

/// The module a bench measures (`module_path`). Without one, a bench run under `cargo test`
/// is skipped (`Err(SUCCESS)`, saying so) and a `cargo bench` run fails.
pub fn module_for(bench: &str, mode: &RunMode) -> Result<PathBuf, std::process::ExitCode> {
    module_path().map_err(|msg| {
        if mode.bench {
            eprintln!("error: {msg}");
            std::process::ExitCode::FAILURE
        } else {
            println!("{bench} bench: skipped under test: {msg}");
            std::process::ExitCode::SUCCESS
        }
    })
}

/// Writes a bench's summary (JSON text) to `<target>/<file>` and says where.
pub fn write_summary(file: &str, json_text: String) {
    let out = target_dir().join(file);
    match std::fs::create_dir_all(target_dir()).and_then(|_| std::fs::write(&out, json_text + "\n"))
    {
        Ok(()) => println!("summary written to {}", out.display()),
        Err(e) => eprintln!("could not write {}: {e}", out.display()),
    }
}

/// Bytes of heap in use in this process (glibc's `mallinfo2`: `uordblks + hblkhd`, over
/// every arena): what is live, without the freed memory the allocator keeps. `None` where the
/// C library has no `mallinfo2` (not glibc, or glibc before 2.33).
pub fn heap_in_use() -> Option<u64> {
    /// glibc's `struct mallinfo2`: ten `size_t`.
    #[repr(C)]
    #[allow(dead_code)]
    struct MallInfo2 {
        arena: usize,
        ordblks: usize,
        smblks: usize,
        hblks: usize,
        hblkhd: usize,
        usmblks: usize,
        fsmblks: usize,
        uordblks: usize,
        fordblks: usize,
        keepcost: usize,
    }
    #[cfg(unix)]
    {
        let this = libloading::os::unix::Library::this();
        // SAFETY: glibc's `mallinfo2` takes no argument and returns `struct mallinfo2` by
        // value, which `MallInfo2` lays out exactly; looked up by name, so a C library without
        // it gives `None` instead of a link failure.
        let f = unsafe { this.get::<unsafe extern "C" fn() -> MallInfo2>(b"mallinfo2\0") }.ok()?;
        // SAFETY: see above; `mallinfo2` only reads the allocator's statistics.
        let m = unsafe { f() };
        Some((m.uordblks + m.hblkhd) as u64)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// A failed PKCS#11 call (or a missing function in the list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub function: &'static str,
    pub rv: CK_RV,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed: {} (0x{:X})",
            self.function,
            rv_name(self.rv),
            self.rv
        )
    }
}

impl std::error::Error for Error {}

/// The name of common return values, for messages.
pub fn rv_name(rv: CK_RV) -> &'static str {
    match rv {
        CKR_OK => "CKR_OK",
        CKR_GENERAL_ERROR => "CKR_GENERAL_ERROR",
        CKR_FUNCTION_FAILED => "CKR_FUNCTION_FAILED",
        CKR_ARGUMENTS_BAD => "CKR_ARGUMENTS_BAD",
        CKR_FUNCTION_NOT_SUPPORTED => "CKR_FUNCTION_NOT_SUPPORTED",
        CKR_MECHANISM_INVALID => "CKR_MECHANISM_INVALID",
        CKR_KEY_HANDLE_INVALID => "CKR_KEY_HANDLE_INVALID",
        CKR_KEY_TYPE_INCONSISTENT => "CKR_KEY_TYPE_INCONSISTENT",
        CKR_OPERATION_ACTIVE => "CKR_OPERATION_ACTIVE",
        CKR_OPERATION_NOT_INITIALIZED => "CKR_OPERATION_NOT_INITIALIZED",
        CKR_PIN_INCORRECT => "CKR_PIN_INCORRECT",
        CKR_SESSION_HANDLE_INVALID => "CKR_SESSION_HANDLE_INVALID",
        CKR_TEMPLATE_INCOMPLETE => "CKR_TEMPLATE_INCOMPLETE",
        CKR_TEMPLATE_INCONSISTENT => "CKR_TEMPLATE_INCONSISTENT",
        CKR_ATTRIBUTE_TYPE_INVALID => "CKR_ATTRIBUTE_TYPE_INVALID",
        CKR_ATTRIBUTE_VALUE_INVALID => "CKR_ATTRIBUTE_VALUE_INVALID",
        CKR_USER_NOT_LOGGED_IN => "CKR_USER_NOT_LOGGED_IN",
        CKR_USER_ALREADY_LOGGED_IN => "CKR_USER_ALREADY_LOGGED_IN",
        CKR_BUFFER_TOO_SMALL => "CKR_BUFFER_TOO_SMALL",
        CKR_CRYPTOKI_NOT_INITIALIZED => "CKR_CRYPTOKI_NOT_INITIALIZED",
        CKR_CRYPTOKI_ALREADY_INITIALIZED => "CKR_CRYPTOKI_ALREADY_INITIALIZED",
        CKR_CANT_LOCK => "CKR_CANT_LOCK",
        CKR_SLOT_ID_INVALID => "CKR_SLOT_ID_INVALID",
        CKR_TOKEN_NOT_PRESENT => "CKR_TOKEN_NOT_PRESENT",
        CKR_DEVICE_ERROR => "CKR_DEVICE_ERROR",
        CKR_DEVICE_MEMORY => "CKR_DEVICE_MEMORY",
        CKR_HOST_MEMORY => "CKR_HOST_MEMORY",
        CKR_OBJECT_HANDLE_INVALID => "CKR_OBJECT_HANDLE_INVALID",
        CKR_SESSION_READ_ONLY => "CKR_SESSION_READ_ONLY",
        CKR_SESSION_EXISTS => "CKR_SESSION_EXISTS",
        CKR_ATTRIBUTE_READ_ONLY => "CKR_ATTRIBUTE_READ_ONLY",
        CKR_ATTRIBUTE_SENSITIVE => "CKR_ATTRIBUTE_SENSITIVE",
        CKR_USER_PIN_NOT_INITIALIZED => "CKR_USER_PIN_NOT_INITIALIZED",
        CKR_USER_TYPE_INVALID => "CKR_USER_TYPE_INVALID",
        CKR_PIN_INVALID => "CKR_PIN_INVALID",
        CKR_PIN_LEN_RANGE => "CKR_PIN_LEN_RANGE",
        CKR_TOKEN_WRITE_PROTECTED => "CKR_TOKEN_WRITE_PROTECTED",
        _ => "CKR_?",
    }
}

fn check(function: &'static str, rv: CK_RV) -> Result<(), Error> {
    if rv == CKR_OK {
        Ok(())
    } else {
        Err(Error { function, rv })
    }
}

/// Which entry point produced the function list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// `C_GetInterface("PKCS 11", {3, 0})`: a `CK_FUNCTION_LIST_3_0`.
    Interface3_0,
    /// `C_GetFunctionList`: a 2.40 `CK_FUNCTION_LIST`.
    FunctionList,
}

/// The DER encoding of the P-256 curve's OID (prime256v1, 1.2.840.10045.3.1.7), as
/// `CKA_EC_PARAMS`.
pub const P256_EC_PARAMS: [u8; 10] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

/// A loaded PKCS#11 module and its function list.
///
/// The 2.40 functions are reached through `*const CK_FUNCTION_LIST` whichever entry point
/// produced the list: `CK_FUNCTION_LIST_3_0` starts with exactly the same fields in the same
/// order (its version then the 68 2.40 functions), which is how PKCS#11 3.0 keeps old callers
/// working.
pub struct Module {
    list: *const CK_FUNCTION_LIST,
    /// The module's PKCS#11 3.2 list (`C_GetInterface("PKCS 11", {3, 2})`), or null.
    list_3_2: *const CK_FUNCTION_LIST_3_2,
    entry: Entry,
    version: CK_VERSION,
    initialized: bool,
    path: PathBuf,
    // Declared last so it is dropped last: `list` points into the library's memory.
    _lib: libloading::Library,
}

// SAFETY: the function list is immutable static data of the module, and the module is
// initialised with CKF_OS_LOCKING_OK (see `initialize`), so its functions may be called from
// any thread concurrently (PKCS#11 §5.1.6 "multi-threaded" applications).
unsafe impl Send for Module {}
// SAFETY: as for Send: every `&self` method only calls into the thread-safe module.
unsafe impl Sync for Module {}

macro_rules! func {
    ($self:ident, $name:ident) => {
        // SAFETY: `list` is non-null and points to the module's function list, which stays
        // valid while `_lib` is loaded (it is, for as long as `self` lives).
        unsafe { (*$self.list).$name }.ok_or(Error {
            function: stringify!($name),
            rv: CKR_FUNCTION_NOT_SUPPORTED,
        })?
    };
}

impl Module {
    /// Loads the module and gets its function list (`C_GetInterface` for PKCS#11 3.0 first,
    /// `C_GetFunctionList` if the module has no `C_GetInterface` or refuses).
    pub fn load(path: &Path) -> Result<Module, String> {
        // SAFETY: loading a PKCS#11 module runs its initialisers; hsmsim's (Rust statics
        // only) have no preconditions. The caller chose the library.
        let lib = unsafe { libloading::Library::new(path) }
            .map_err(|e| format!("cannot load {}: {e}", path.display()))?;
        let mut found: Option<(*const CK_FUNCTION_LIST, Entry)> = None;
        // SAFETY: the symbol has the C_GetInterface type of PKCS#11 3.0 (CK_C_GetInterface).
        let get_interface = unsafe { lib.get::<CK_C_GetInterface>(b"C_GetInterface\0") }
            .ok()
            .and_then(|s| *s);
        if let Some(get_interface) = get_interface {
            let mut name = *b"PKCS 11\0";
            let mut version = CK_VERSION { major: 3, minor: 0 };
            let mut iface: *mut CK_INTERFACE = ptr::null_mut();
            // SAFETY: name is NUL-terminated, version and iface are valid for the call.
            let rv = unsafe { get_interface(name.as_mut_ptr(), &mut version, &mut iface, 0) };
            if rv == CKR_OK && !iface.is_null() {
                // SAFETY: on success the module wrote a pointer to one of its static
                // CK_INTERFACE records.
                let list = unsafe { (*iface).pFunctionList } as *const CK_FUNCTION_LIST;
                if !list.is_null() {
                    found = Some((list, Entry::Interface3_0));
                }
            }
        }
        if found.is_none() {
            // SAFETY: the symbol has the C_GetFunctionList type of PKCS#11 (all versions).
            let get_list = unsafe { lib.get::<CK_C_GetFunctionList>(b"C_GetFunctionList\0") }
                .map_err(|e| format!("{}: no C_GetFunctionList: {e}", path.display()))?;
            let get_list = (*get_list)
                .ok_or_else(|| format!("{}: C_GetFunctionList is null", path.display()))?;
            let mut list: *mut CK_FUNCTION_LIST = ptr::null_mut();
            // SAFETY: `list` is a valid out-pointer.
            let rv = unsafe { get_list(&mut list) };
            if rv != CKR_OK || list.is_null() {
                return Err(format!(
                    "{}: C_GetFunctionList returned {} (0x{rv:X})",
                    path.display(),
                    rv_name(rv)
                ));
            }
            found = Some((list, Entry::FunctionList));
        }
        let mut list_3_2: *const CK_FUNCTION_LIST_3_2 = ptr::null();
        if let Some(get_interface) = get_interface {
            let mut name = *b"PKCS 11\0";
            let mut version = CK_VERSION { major: 3, minor: 2 };
            let mut iface: *mut CK_INTERFACE = ptr::null_mut();
            // SAFETY: name is NUL-terminated, version and iface are valid for the call.
            let rv = unsafe { get_interface(name.as_mut_ptr(), &mut version, &mut iface, 0) };
            if rv == CKR_OK && !iface.is_null() {
                // SAFETY: on success the module wrote a pointer to its static 3.2 record.
                list_3_2 = unsafe { (*iface).pFunctionList } as *const CK_FUNCTION_LIST_3_2;
            }
        }
        let (list, entry) = found.expect("set above");
        // SAFETY: `list` is non-null and points to a function list starting with CK_VERSION.
        let version = unsafe { (*list).version };
        Ok(Module {
            list,
            list_3_2,
            entry,
            version,
            initialized: false,
            path: path.to_path_buf(),
            _lib: lib,
        })
    }

    /// Which entry point gave the function list.
    pub fn entry(&self) -> Entry {
        self.entry
    }

    /// The function list's version (3.0 through `C_GetInterface`, 2.40 otherwise).
    pub fn version(&self) -> CK_VERSION {
        self.version
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `C_Initialize` with `CKF_OS_LOCKING_OK`: the benchmark calls from several threads.
    pub fn initialize(&mut self) -> Result<(), Error> {
        let f = func!(self, C_Initialize);
        let mut args = CK_C_INITIALIZE_ARGS {
            CreateMutex: None,
            DestroyMutex: None,
            LockMutex: None,
            UnlockMutex: None,
            flags: CKF_OS_LOCKING_OK,
            pReserved: ptr::null_mut(),
        };
        // SAFETY: `args` is a valid CK_C_INITIALIZE_ARGS for the duration of the call.
        check("C_Initialize", unsafe {
            f(&mut args as *mut CK_C_INITIALIZE_ARGS as *mut c_void)
        })?;
        self.initialized = true;
        Ok(())
    }

    /// `C_Finalize` (also done on drop if still initialised).
    pub fn finalize(&mut self) -> Result<(), Error> {
        let f = func!(self, C_Finalize);
        // SAFETY: pReserved must be null.
        check("C_Finalize", unsafe { f(ptr::null_mut()) })?;
        self.initialized = false;
        Ok(())
    }

    /// `C_GetInfo`: (manufacturer, library description, library version).
    pub fn info(&self) -> Result<(String, String, CK_VERSION), Error> {
        let f = func!(self, C_GetInfo);
        // SAFETY: CK_INFO is plain data; all-zero is a valid value.
        let mut info: CK_INFO = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is writable.
        check("C_GetInfo", unsafe { f(&mut info) })?;
        let text = |b: &[u8]| String::from_utf8_lossy(b).trim_end().to_string();
        Ok((
            text(&info.manufacturerID),
            text(&info.libraryDescription),
            info.libraryVersion,
        ))
    }

    /// `C_GetSlotList(tokenPresent = true)`.
    pub fn slots_with_token(&self) -> Result<Vec<CK_SLOT_ID>, Error> {
        let f = func!(self, C_GetSlotList);
        let mut n: CK_ULONG = 0;
        // SAFETY: null list: a length query into `n`.
        check("C_GetSlotList", unsafe {
            f(CK_TRUE, ptr::null_mut(), &mut n)
        })?;
        let mut slots = vec![0 as CK_SLOT_ID; n as usize];
        // SAFETY: `slots` holds `n` elements.
        check("C_GetSlotList", unsafe {
            f(CK_TRUE, slots.as_mut_ptr(), &mut n)
        })?;
        slots.truncate(n as usize);
        Ok(slots)
    }

    /// `C_GetSlotList(tokenPresent = false)`: every slot.
    pub fn all_slots(&self) -> Result<Vec<CK_SLOT_ID>, Error> {
        let f = func!(self, C_GetSlotList);
        let mut n: CK_ULONG = 0;
        // SAFETY: null list: a length query into `n`.
        check("C_GetSlotList", unsafe {
            f(CK_FALSE, ptr::null_mut(), &mut n)
        })?;
        let mut slots = vec![0 as CK_SLOT_ID; n as usize];
        // SAFETY: `slots` holds `n` elements.
        check("C_GetSlotList", unsafe {
            f(CK_FALSE, slots.as_mut_ptr(), &mut n)
        })?;
        slots.truncate(n as usize);
        Ok(slots)
    }

    /// Whether the token in `slot` is initialised (`CKF_TOKEN_INITIALIZED` in
    /// `C_GetTokenInfo`).
    pub fn token_initialized(&self, slot: CK_SLOT_ID) -> Result<bool, Error> {
        let f = func!(self, C_GetTokenInfo);
        // SAFETY: CK_TOKEN_INFO is plain data; all-zero is a valid value.
        let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is writable.
        check("C_GetTokenInfo", unsafe { f(slot, &mut info) })?;
        Ok(info.flags & CKF_TOKEN_INITIALIZED != 0)
    }

    /// `C_InitToken`: `label` is padded with blanks to 32 bytes.
    pub fn init_token(&self, slot: CK_SLOT_ID, so_pin: &[u8], label: &str) -> Result<(), Error> {
        let f = func!(self, C_InitToken);
        let mut padded = [b' '; 32];
        let n = label.len().min(32);
        padded[..n].copy_from_slice(&label.as_bytes()[..n]);
        // SAFETY: the module reads `so_pin.len()` bytes of the PIN and 32 bytes of the label.
        check("C_InitToken", unsafe {
            f(
                slot,
                so_pin.as_ptr() as *mut CK_UTF8CHAR,
                so_pin.len() as CK_ULONG,
                padded.as_mut_ptr(),
            )
        })
    }

    /// `C_InitPIN` (the SO logged in on `session`).
    pub fn init_pin(&self, session: CK_SESSION_HANDLE, pin: &[u8]) -> Result<(), Error> {
        let f = func!(self, C_InitPIN);
        // SAFETY: the module reads `pin.len()` bytes of the PIN.
        check("C_InitPIN", unsafe {
            f(
                session,
                pin.as_ptr() as *mut CK_UTF8CHAR,
                pin.len() as CK_ULONG,
            )
        })
    }

    /// `C_Logout`.
    pub fn logout(&self, session: CK_SESSION_HANDLE) -> Result<(), Error> {
        let f = func!(self, C_Logout);
        // SAFETY: plain value argument.
        check("C_Logout", unsafe { f(session) })
    }

    /// `C_CreateObject` with a raw template (attribute type, value bytes).
    pub fn create_object(
        &self,
        session: CK_SESSION_HANDLE,
        template: &[(CK_ATTRIBUTE_TYPE, &[u8])],
    ) -> Result<CK_OBJECT_HANDLE, Error> {
        let f = func!(self, C_CreateObject);
        let mut attrs = raw_template(template);
        let mut h = CK_INVALID_HANDLE;
        // SAFETY: the template points to `template`'s values, alive for the call, which the
        // module only reads; `h` is a valid out-pointer.
        check("C_CreateObject", unsafe {
            f(session, attrs.as_mut_ptr(), attrs.len() as CK_ULONG, &mut h)
        })?;
        Ok(h)
    }

    /// One complete find: `C_FindObjectsInit(template)`, one `C_FindObjects` for up to
    /// `out.len()` handles, `C_FindObjectsFinal`. Returns how many handles were written to
    /// `out`. The search is finalised even when `C_FindObjects` fails.
    #[inline]
    pub fn find(
        &self,
        session: CK_SESSION_HANDLE,
        template: &[(CK_ATTRIBUTE_TYPE, &[u8])],
        out: &mut [CK_OBJECT_HANDLE],
    ) -> Result<usize, Error> {
        let init = func!(self, C_FindObjectsInit);
        let find = func!(self, C_FindObjects);
        let fin = func!(self, C_FindObjectsFinal);
        let mut attrs = raw_template(template);
        // SAFETY: the template points to `template`'s values, alive for the call, which the
        // module only reads (and copies: the search outlives this call in the module).
        check("C_FindObjectsInit", unsafe {
            init(session, attrs.as_mut_ptr(), attrs.len() as CK_ULONG)
        })?;
        let mut n: CK_ULONG = 0;
        // SAFETY: `out` holds `out.len()` handles; `n` is a valid out-pointer.
        let found = check("C_FindObjects", unsafe {
            find(session, out.as_mut_ptr(), out.len() as CK_ULONG, &mut n)
        });
        // SAFETY: plain value argument.
        let finished = check("C_FindObjectsFinal", unsafe { fin(session) });
        found?;
        finished?;
        Ok((n as usize).min(out.len()))
    }

    /// The label of the token in `slot` (`C_GetTokenInfo`), trailing blanks removed.
    pub fn token_label(&self, slot: CK_SLOT_ID) -> Result<String, Error> {
        let f = func!(self, C_GetTokenInfo);
        // SAFETY: CK_TOKEN_INFO is plain data; all-zero is a valid value.
        let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is writable.
        check("C_GetTokenInfo", unsafe { f(slot, &mut info) })?;
        Ok(String::from_utf8_lossy(&info.label).trim_end().to_string())
    }

    /// `C_OpenSession` (serial; read/write if `rw`).
    pub fn open_session(&self, slot: CK_SLOT_ID, rw: bool) -> Result<CK_SESSION_HANDLE, Error> {
        let f = func!(self, C_OpenSession);
        let flags = CKF_SERIAL_SESSION | if rw { CKF_RW_SESSION } else { 0 };
        let mut h: CK_SESSION_HANDLE = CK_INVALID_HANDLE;
        // SAFETY: no notify callback; `h` is a valid out-pointer.
        check("C_OpenSession", unsafe {
            f(slot, flags, ptr::null_mut(), None, &mut h)
        })?;
        Ok(h)
    }

    /// `C_CloseSession`.
    pub fn close_session(&self, session: CK_SESSION_HANDLE) -> Result<(), Error> {
        let f = func!(self, C_CloseSession);
        // SAFETY: plain value argument.
        check("C_CloseSession", unsafe { f(session) })
    }

    /// `C_CloseAllSessions`.
    pub fn close_all_sessions(&self, slot: CK_SLOT_ID) -> Result<(), Error> {
        let f = func!(self, C_CloseAllSessions);
        // SAFETY: plain value argument.
        check("C_CloseAllSessions", unsafe { f(slot) })
    }

    /// `C_Login`.
    pub fn login(
        &self,
        session: CK_SESSION_HANDLE,
        user: CK_USER_TYPE,
        pin: &[u8],
    ) -> Result<(), Error> {
        let f = func!(self, C_Login);
        // SAFETY: the module only reads `pin.len()` bytes of the PIN.
        check("C_Login", unsafe {
            f(
                session,
                user,
                pin.as_ptr() as *mut CK_UTF8CHAR,
                pin.len() as CK_ULONG,
            )
        })
    }

    /// `C_GenerateKeyPair` with raw templates; returns (public, private).
    ///
    /// Each template entry is (attribute type, value bytes).
    pub fn generate_key_pair(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: CK_MECHANISM_TYPE,
        public: &[(CK_ATTRIBUTE_TYPE, &[u8])],
        private: &[(CK_ATTRIBUTE_TYPE, &[u8])],
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE), Error> {
        let f = func!(self, C_GenerateKeyPair);
        let to_attrs = |t: &[(CK_ATTRIBUTE_TYPE, &[u8])]| -> Vec<CK_ATTRIBUTE> {
            t.iter()
                .map(|(ty, v)| CK_ATTRIBUTE {
                    type_: *ty,
                    pValue: v.as_ptr() as *mut c_void,
                    ulValueLen: v.len() as CK_ULONG,
                })
                .collect()
        };
        let mut pub_t = to_attrs(public);
        let mut priv_t = to_attrs(private);
        let mut mech = CK_MECHANISM {
            mechanism,
            pParameter: ptr::null_mut(),
            ulParameterLen: 0,
        };
        let (mut hpub, mut hpriv) = (CK_INVALID_HANDLE, CK_INVALID_HANDLE);
        // SAFETY: the templates point to `public`/`private` values, alive for the call, which
        // the module only reads; the out-pointers are valid.
        check("C_GenerateKeyPair", unsafe {
            f(
                session,
                &mut mech,
                pub_t.as_mut_ptr(),
                pub_t.len() as CK_ULONG,
                priv_t.as_mut_ptr(),
                priv_t.len() as CK_ULONG,
                &mut hpub,
                &mut hpriv,
            )
        })?;
        Ok((hpub, hpriv))
    }

    /// An RSA key pair for signing: session objects unless `token`.
    pub fn generate_rsa(
        &self,
        session: CK_SESSION_HANDLE,
        bits: CK_ULONG,
        token: bool,
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE), Error> {
        let (t, f) = ([CK_TRUE], [CK_FALSE]);
        let tok: &[u8] = if token { &t } else { &f };
        let bits = bits.to_ne_bytes();
        let exponent = [0x01u8, 0x00, 0x01];
        self.generate_key_pair(
            session,
            CKM_RSA_PKCS_KEY_PAIR_GEN,
            &[
                (CKA_TOKEN, tok),
                (CKA_VERIFY, &t),
                (CKA_MODULUS_BITS, &bits),
                (CKA_PUBLIC_EXPONENT, &exponent),
            ],
            &[
                (CKA_TOKEN, tok),
                (CKA_PRIVATE, &t),
                (CKA_SIGN, &t),
                (CKA_SENSITIVE, &t),
            ],
        )
    }

    /// An EC P-256 key pair for signing: session objects unless `token`.
    pub fn generate_ec_p256(
        &self,
        session: CK_SESSION_HANDLE,
        token: bool,
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE), Error> {
        let (t, f) = ([CK_TRUE], [CK_FALSE]);
        let tok: &[u8] = if token { &t } else { &f };
        self.generate_key_pair(
            session,
            CKM_EC_KEY_PAIR_GEN,
            &[
                (CKA_TOKEN, tok),
                (CKA_VERIFY, &t),
                (CKA_EC_PARAMS, &P256_EC_PARAMS),
            ],
            &[
                (CKA_TOKEN, tok),
                (CKA_PRIVATE, &t),
                (CKA_SIGN, &t),
                (CKA_SENSITIVE, &t),
            ],
        )
    }

    /// One attribute's value (`C_GetAttributeValue`: length query, then the value).
    pub fn attribute(
        &self,
        session: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
        attr: CK_ATTRIBUTE_TYPE,
    ) -> Result<Vec<u8>, Error> {
        let f = func!(self, C_GetAttributeValue);
        let mut a = CK_ATTRIBUTE {
            type_: attr,
            pValue: ptr::null_mut(),
            ulValueLen: 0,
        };
        // SAFETY: one template entry with a null value: a length query.
        check("C_GetAttributeValue", unsafe {
            f(session, object, &mut a, 1)
        })?;
        let mut value = vec![0u8; a.ulValueLen as usize];
        a.pValue = value.as_mut_ptr() as *mut c_void;
        // SAFETY: the buffer holds `ulValueLen` bytes.
        check("C_GetAttributeValue", unsafe {
            f(session, object, &mut a, 1)
        })?;
        value.truncate(a.ulValueLen as usize);
        Ok(value)
    }

    /// `C_SignInit(mechanism without parameter, key)` then one-shot `C_Sign(data)` into
    /// `signature`, whose length must be enough (no length query: that is what an application
    /// that knows its key size does). Returns the signature's length.
    #[inline]
    pub fn sign(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: CK_MECHANISM_TYPE,
        key: CK_OBJECT_HANDLE,
        data: &[u8],
        signature: &mut [u8],
    ) -> Result<usize, Error> {
        let sign_init = func!(self, C_SignInit);
        let sign = func!(self, C_Sign);
        let mut mech = CK_MECHANISM {
            mechanism,
            pParameter: ptr::null_mut(),
            ulParameterLen: 0,
        };
        // SAFETY: `mech` is valid for the call; the module copies what it needs.
        check("C_SignInit", unsafe { sign_init(session, &mut mech, key) })?;
        let mut len = signature.len() as CK_ULONG;
        // SAFETY: the module reads `data.len()` bytes of `data` and writes at most `len`
        // bytes into `signature` (then sets `len`).
        check("C_Sign", unsafe {
            sign(
                session,
                data.as_ptr() as *mut CK_BYTE,
                data.len() as CK_ULONG,
                signature.as_mut_ptr(),
                &mut len,
            )
        })?;
        Ok(len as usize)
    }
}

/// PKCS#11 3.2 calls, through the module's 3.2 function list.
impl Module {
    /// `C_EncapsulateKey(CKM_ML_KEM, public)` into `ciphertext` (long enough: no length query)
    /// making a secret key from `template`; returns the ciphertext length and the new key.
    #[inline]
    pub fn encapsulate(
        &self,
        session: CK_SESSION_HANDLE,
        public: CK_OBJECT_HANDLE,
        template: &[(CK_ATTRIBUTE_TYPE, &[u8])],
        ciphertext: &mut [u8],
    ) -> Result<(usize, CK_OBJECT_HANDLE), Error> {
        let missing = Error {
            function: "C_EncapsulateKey",
            rv: CKR_FUNCTION_NOT_SUPPORTED,
        };
        // SAFETY: null or the module's static 3.2 list, valid while `_lib` is loaded.
        let list = unsafe { self.list_3_2.as_ref() }.ok_or(missing)?;
        let f = list.C_EncapsulateKey.ok_or(Error {
            function: "C_EncapsulateKey",
            rv: CKR_FUNCTION_NOT_SUPPORTED,
        })?;
        let mut attrs: Vec<CK_ATTRIBUTE> = template
            .iter()
            .map(|(ty, v)| CK_ATTRIBUTE {
                type_: *ty,
                pValue: v.as_ptr() as *mut c_void,
                ulValueLen: v.len() as CK_ULONG,
            })
            .collect();
        let mut mech = CK_MECHANISM {
            mechanism: CKM_ML_KEM,
            pParameter: ptr::null_mut(),
            ulParameterLen: 0,
        };
        let mut len = ciphertext.len() as CK_ULONG;
        let mut key = CK_INVALID_HANDLE;
        // SAFETY: the template points to `template`'s values, alive for the call; the module
        // writes at most `len` bytes into `ciphertext`, and the out-pointers are valid.
        check("C_EncapsulateKey", unsafe {
            f(
                session,
                &mut mech,
                public,
                attrs.as_mut_ptr(),
                attrs.len() as CK_ULONG,
                ciphertext.as_mut_ptr(),
                &mut len,
                &mut key,
            )
        })?;
        Ok((len as usize, key))
    }

    /// `C_DestroyObject`.
    pub fn destroy(
        &self,
        session: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
    ) -> Result<(), Error> {
        let f = func!(self, C_DestroyObject);
        // SAFETY: plain handles.
        check("C_DestroyObject", unsafe { f(session, object) })
    }
}

/// pycryptoki's `CK_OBJECT_MIGRATION_DATA` (one object of Luna's `CA_MigrateKeys`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct MigrationData {
    object_type: CK_ULONG,
    source_handle: CK_OBJECT_HANDLE,
    target_handle: CK_OBJECT_HANDLE,
    rv: CK_RV,
}

/// Luna's vendor calls (outside the PKCS#11 function list: looked up by name, with the C
/// signatures Thales's pycryptoki binds), for the cloning benchmark.
impl Module {
    /// A vendor function of the module by name, as type `F`.
    ///
    /// # Safety
    /// `F` must be the C type of the function `name` (NUL-terminated).
    unsafe fn vendor<F: Copy>(&self, name: &'static str) -> Result<F, Error> {
        // SAFETY: forwarded: `F` is the function's type.
        unsafe { self._lib.get::<F>(name.as_bytes()) }
            .map(|f| *f)
            .map_err(|_| Error {
                function: name,
                rv: CKR_FUNCTION_NOT_SUPPORTED,
            })
    }

    /// Luna's `CA_CloneObject`: the object on `source`'s partition cloned to `target`'s;
    /// returns the clone's handle.
    pub fn ca_clone_object(
        &self,
        target: CK_SESSION_HANDLE,
        source: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
    ) -> Result<CK_OBJECT_HANDLE, Error> {
        type CloneObject = unsafe extern "C" fn(
            CK_SESSION_HANDLE,
            CK_SESSION_HANDLE,
            CK_ULONG,
            CK_OBJECT_HANDLE,
            *mut CK_OBJECT_HANDLE,
        ) -> CK_RV;
        // SAFETY: pycryptoki's signature of CA_CloneObject.
        let f = unsafe { self.vendor::<CloneObject>("CA_CloneObject\0") }?;
        let mut cloned = CK_INVALID_HANDLE;
        // SAFETY: scalar arguments and a valid out-pointer.
        check("CA_CloneObject", unsafe {
            f(target, source, 0, object, &mut cloned)
        })?;
        Ok(cloned)
    }

    /// Luna's `CA_MigrateKeys` (Cloning Protocol v4) of `objects` (`CK_CRYPTOKI_ELEMENT`
    /// handles) from `source`'s partition to `target`'s: each object's `(rv, new handle)`.
    pub fn ca_migrate_keys(
        &self,
        source: CK_SESSION_HANDLE,
        target: CK_SESSION_HANDLE,
        flags: CK_ULONG,
        objects: &[CK_OBJECT_HANDLE],
    ) -> Result<Vec<(CK_RV, CK_OBJECT_HANDLE)>, Error> {
        type MigrateKeys = unsafe extern "C" fn(
            CK_SESSION_HANDLE,
            CK_SESSION_HANDLE,
            CK_ULONG,
            CK_ULONG,
            *mut MigrationData,
        ) -> CK_RV;
        // SAFETY: pycryptoki's signature of CA_MigrateKeys.
        let f = unsafe { self.vendor::<MigrateKeys>("CA_MigrateKeys\0") }?;
        let mut records: Vec<MigrationData> = objects
            .iter()
            .map(|&source_handle| MigrationData {
                source_handle,
                ..MigrationData::default()
            })
            .collect();
        // SAFETY: an array of `records.len()` records the module reads and writes.
        check("CA_MigrateKeys", unsafe {
            f(
                source,
                target,
                flags,
                records.len() as CK_ULONG,
                records.as_mut_ptr(),
            )
        })?;
        Ok(records.iter().map(|r| (r.rv, r.target_handle)).collect())
    }
}

/// A raw `CK_ATTRIBUTE` template over borrowed values (the module only reads them).
fn raw_template(template: &[(CK_ATTRIBUTE_TYPE, &[u8])]) -> Vec<CK_ATTRIBUTE> {
    template
        .iter()
        .map(|(ty, v)| CK_ATTRIBUTE {
            type_: *ty,
            pValue: v.as_ptr() as *mut c_void,
            ulValueLen: v.len() as CK_ULONG,
        })
        .collect()
}

impl Drop for Module {
    fn drop(&mut self) {
        if self.initialized {
            let _ = self.finalize();
        }
    }
}

/// The key values the backup benches' created objects carry: an RSA-2048 and an EC P-256 private key (read
/// from extractable keys the module generated) and an AES-256 value.
pub struct Material {
    pub rsa: Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>,
    pub ec: Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>,
    pub aes: Vec<u8>,
}

pub fn material(m: &Module, s: CK_SESSION_HANDLE) -> Result<Material, String> {
    let t = [CK_TRUE];
    let f = [CK_FALSE];
    let extractable: &[(CK_ATTRIBUTE_TYPE, &[u8])] = &[
        (CKA_TOKEN, &f),
        (CKA_SIGN, &t),
        (CKA_SENSITIVE, &f),
        (CKA_EXTRACTABLE, &t),
    ];
    let bits = (2048 as CK_ULONG).to_ne_bytes();
    let (_, rsa) = m
        .generate_key_pair(
            s,
            CKM_RSA_PKCS_KEY_PAIR_GEN,
            &[(CKA_MODULUS_BITS, &bits), (CKA_VERIFY, &t)],
            extractable,
        )
        .map_err(|e| e.to_string())?;
    let (_, ec) = m
        .generate_key_pair(
            s,
            CKM_EC_KEY_PAIR_GEN,
            &[(CKA_EC_PARAMS, &P256_EC_PARAMS), (CKA_VERIFY, &t)],
            extractable,
        )
        .map_err(|e| e.to_string())?;
    let read = |key, attrs: &[CK_ATTRIBUTE_TYPE]| -> Result<Vec<_>, String> {
        attrs
            .iter()
            .map(|a| Ok((*a, m.attribute(s, key, *a).map_err(|e| e.to_string())?)))
            .collect()
    };
    Ok(Material {
        rsa: read(
            rsa,
            &[
                CKA_MODULUS,
                CKA_PUBLIC_EXPONENT,
                CKA_PRIVATE_EXPONENT,
                CKA_PRIME_1,
                CKA_PRIME_2,
                CKA_EXPONENT_1,
                CKA_EXPONENT_2,
                CKA_COEFFICIENT,
            ],
        )?,
        ec: read(ec, &[CKA_EC_PARAMS, CKA_VALUE])?,
        aes: vec![0x5A; 32],
    })
}

/// Creates `count` token objects on the session's partition (RSA, EC, AES in turn) with
/// `C_CreateObject`, labelled `obj-<i>`; seconds. What the backup benches compare against.
pub fn create_objects(
    m: &Module,
    s: CK_SESSION_HANDLE,
    keys: &Material,
    count: usize,
) -> Result<f64, String> {
    let t = [CK_TRUE];
    let started = std::time::Instant::now();
    for i in 0..count {
        let label = format!("obj-{i}").into_bytes();
        let mut template: Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)> = vec![
            (CKA_TOKEN, t.to_vec()),
            (CKA_PRIVATE, t.to_vec()),
            (CKA_SENSITIVE, t.to_vec()),
            (CKA_LABEL, label),
        ];
        match i % 3 {
            0 => {
                template.push((CKA_CLASS, CKO_PRIVATE_KEY.to_ne_bytes().to_vec()));
                template.push((CKA_KEY_TYPE, CKK_RSA.to_ne_bytes().to_vec()));
                template.push((CKA_SIGN, t.to_vec()));
                template.extend(keys.rsa.iter().cloned());
            }
            1 => {
                template.push((CKA_CLASS, CKO_PRIVATE_KEY.to_ne_bytes().to_vec()));
                template.push((CKA_KEY_TYPE, CKK_EC.to_ne_bytes().to_vec()));
                template.push((CKA_SIGN, t.to_vec()));
                template.extend(keys.ec.iter().cloned());
            }
            _ => {
                template.push((CKA_CLASS, CKO_SECRET_KEY.to_ne_bytes().to_vec()));
                template.push((CKA_KEY_TYPE, CKK_AES.to_ne_bytes().to_vec()));
                template.push((CKA_ENCRYPT, t.to_vec()));
                template.push((CKA_VALUE, keys.aes.clone()));
            }
        }
        let raw: Vec<(CK_ATTRIBUTE_TYPE, &[u8])> =
            template.iter().map(|(a, v)| (*a, v.as_slice())).collect();
        m.create_object(s, &raw).map_err(|e| e.to_string())?;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// A bench lab: `lab` written as `dir/lab.toml` and chosen for this process (`HSMSIM_CONF`;
/// under test the suites' PIN cost `HSMSIM_PIN_KDF_ITERATIONS=10000`, else the default), the
/// module at `module` loaded, and `count` objects created on slot 0's partition as its user
/// (`user_pin`) with `create_objects`. Returns the seconds the creation took; the module is
/// finalised, so the estate's operations that follow open the lab as another process would.
pub fn lab_with_objects(
    module: &Path,
    dir: &Path,
    lab: &str,
    test: bool,
    user_pin: &[u8],
    count: usize,
) -> Result<f64, String> {
    let file = dir.join("lab.toml");
    std::fs::write(&file, lab).map_err(|e| e.to_string())?;
    // SAFETY: the benches are single-threaded here; nothing else reads the environment
    // meanwhile.
    unsafe {
        std::env::set_var("HSMSIM_CONF", &file);
        if test {
            std::env::set_var("HSMSIM_PIN_KDF_ITERATIONS", "10000");
        } else {
            std::env::remove_var("HSMSIM_PIN_KDF_ITERATIONS");
        }
        std::env::remove_var("HSMSIM_STATE_DIR");
        std::env::remove_var("HSMSIM_HOST");
    }
    let mut m = Module::load(module)?;
    m.initialize().map_err(|e| e.to_string())?;
    let s = m.open_session(0, true).map_err(|e| e.to_string())?;
    m.login(s, CKU_USER, user_pin).map_err(|e| e.to_string())?;
    let keys = material(&m, s)?;
    let create_s = create_objects(&m, s, &keys, count)?;
    m.finalize().map_err(|e| e.to_string())?;
    Ok(create_s)
}
