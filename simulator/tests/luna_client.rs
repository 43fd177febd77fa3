//! Luna's `CA_*` surface as Thales's pycryptoki reaches it: `libhsmsim.so` loaded with
//! `dlopen`, every function looked up by name and called with pycryptoki's C signatures
//! (`tests/pycryptoki/ca_functions.txt` holds its names, argument counts and the order of
//! `CK_SFNT_CA_FUNCTION_LIST`). Every name resolves, the exports declare pycryptoki's argument
//! counts, `CA_GetFunctionList` follows pycryptoki's order, the functions hsmsim does not model
//! answer `CKR_FUNCTION_NOT_SUPPORTED`, and the modelled ones (policy sets, session
//! information, several objects destroyed at once, the CO PIN reset, the factory reset, the
//! self-test, the time, container storage, the 8-argument element description) behave on
//! Luna partitions and answer `CKR_FUNCTION_NOT_SUPPORTED` on a soft token.
use cryptoki_sys::*;
use libloading::Library;
use parking_lot::{Mutex, MutexGuard};
use std::ffi::c_void;
use std::ptr::null_mut;
use std::sync::OnceLock;

use hsmsim::base::vendor_codes::{
    CKR_CONFIG_CHANGE_ILLEGAL, CKR_CONTAINER_HANDLE_INVALID, CKR_POLICY_ID_INVALID,
    CKR_USER_NOT_AUTHORIZED,
};

const PO: &[u8] = b"po-pin-0001";
const CO: &[u8] = b"co-pin-0001";
const HSO: &[u8] = b"hso-pin-0001";

/// The lab (shared with `.ci/external/pycryptoki.sh`; its comments say what each device is).
const LAB: &str = include_str!("pycryptoki/lab.toml");

/// One pycryptoki binding: name, argument count, index in `CK_SFNT_CA_FUNCTION_LIST`.
struct Binding {
    name: &'static str,
    arguments: usize,
    list_index: Option<usize>,
}

fn bindings() -> Vec<Binding> {
    include_str!("pycryptoki/ca_functions.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split_whitespace();
            let name = f.next().unwrap();
            let arguments = f.next().unwrap().parse().unwrap();
            let list_index = f.next().unwrap().parse().ok();
            Binding {
                name,
                arguments,
                list_index,
            }
        })
        .collect()
}

/// The functions hsmsim models (the others answer `CKR_FUNCTION_NOT_SUPPORTED`).
const MODELLED: &[&str] = &[
    "CA_GetFunctionList",
    "CA_GetFirmwareVersion",
    "CA_GetUserContainerNumber",
    "CA_InitToken",
    "CA_InitRolePIN",
    "CA_RoleStateGet",
    "CA_GetContainerStatus",
    "CA_GetTokenPolicies",
    "CA_GetTokenCapabilities",
    "CA_SetTokenPolicies",
    "CA_GetHSMPolicySetting",
    "CA_GetHSMCapabilitySetting",
    "CA_GetConfigurationElementDescription",
    "CA_GetObjectUID",
    "CA_GetObjectHandle",
    "CA_CreateLoginChallenge",
    "CA_Deactivate",
    "CA_SetHSMPolicy",
    "CA_SetDestructiveHSMPolicy",
    "CA_GetSessionInfo",
    "CA_GetContainerPolicySet",
    "CA_GetContainerPolicySetting",
    "CA_GetContainerCapabilitySet",
    "CA_GetContainerCapabilitySetting",
    "CA_SetContainerPolicy",
    "CA_SetContainerPolicies",
    "CA_GetHSMPolicySet",
    "CA_GetHSMCapabilitySet",
    "CA_SetHSMPolicies",
    "CA_SetDestructiveHSMPolicies",
    "CA_DestroyMultipleObjects",
    "CA_ResetPIN",
    "CA_FactoryReset",
    "CA_PerformSelfTest",
    "CA_GetTime",
    "CA_GetContainerStorageInformation",
    "CA_CloneObject",
    "CA_GenerateCloningKEV",
    "CA_CloneAsTargetInit",
    "CA_CloneAsSource",
    "CA_CloneAsTarget",
    "CA_GetHAState",
    "CA_MigrateKeys",
    "CA_CloneObjectToAllSessions",
    "CA_CloneAllObjectsToSession",
    "CA_MigrationStartSessionNegotiation",
    "CA_MigrationContinueSessionNegotiation",
    "CA_MigrationCloseSession",
    "CA_Extract",
    "CA_Insert",
];

/// `libhsmsim.so` of this build (next to the test binary in `target/<profile>/deps`).
fn library() -> &'static Library {
    static LIBRARY: OnceLock<Library> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let deps = exe.parent().unwrap();
        let path = [deps, deps.parent().unwrap()]
            .iter()
            .map(|d| d.join("libhsmsim.so"))
            .find(|p| p.exists())
            .expect("libhsmsim.so is built next to the tests");
        // SAFETY: loading the module runs no initialiser with preconditions.
        unsafe { Library::new(path) }.unwrap()
    })
}

/// The function `name` of the library, as type `F` (pycryptoki's signature for it).
fn sym<F: Copy>(name: &str) -> F {
    // SAFETY: every caller names `F` as the C signature of `name` (pycryptoki's).
    unsafe { *library().get::<F>(name.as_bytes()).unwrap() }
}

fn address(name: &str) -> *const c_void {
    sym::<unsafe extern "C" fn()>(name) as *const c_void
}

static SERIAL: Mutex<()> = Mutex::new(());

/// The library initialised on `LAB` in a fresh state directory; finalised on drop.
struct Module {
    _serial: MutexGuard<'static, ()>,
    _dir: tempfile::TempDir,
}

impl Module {
    fn new() -> Module {
        let serial = SERIAL.lock();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lab.toml");
        std::fs::write(&file, LAB).unwrap();
        // SAFETY: the tests of this file hold SERIAL, so no other thread of this process
        // reads or writes the environment meanwhile.
        unsafe {
            std::env::set_var("HSMSIM_CONF", &file);
            std::env::set_var("HSMSIM_PIN_KDF_ITERATIONS", "10000");
            std::env::remove_var("HSMSIM_STATE_DIR");
            std::env::remove_var("HSMSIM_LAB");
            std::env::remove_var("HSMSIM_HOST");
        }
        let finalize = sym::<unsafe extern "C" fn(*mut c_void) -> CK_RV>("C_Finalize");
        let initialize = sym::<unsafe extern "C" fn(*mut c_void) -> CK_RV>("C_Initialize");
        // SAFETY: null arguments.
        unsafe {
            let _ = finalize(null_mut());
            assert_eq!(initialize(null_mut()), CKR_OK);
        }
        Module {
            _serial: serial,
            _dir: dir,
        }
    }

    /// The slot whose token has this label.
    fn slot(&self, label: &str) -> CK_SLOT_ID {
        let list = sym::<unsafe extern "C" fn(CK_BBOOL, *mut CK_SLOT_ID, *mut CK_ULONG) -> CK_RV>(
            "C_GetSlotList",
        );
        let mut slots = [0; 64];
        let mut n = slots.len() as CK_ULONG;
        // SAFETY: a buffer of `n` slot ids.
        assert_eq!(unsafe { list(CK_TRUE, slots.as_mut_ptr(), &mut n) }, CKR_OK);
        slots[..n as usize]
            .iter()
            .copied()
            .find(|s| {
                let label_of = token_info(*s).label;
                label_of.starts_with(label.as_bytes())
                    && label_of[label.len()..].iter().all(|b| *b == b' ')
            })
            .unwrap_or_else(|| panic!("no token labelled {label}"))
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        let finalize = sym::<unsafe extern "C" fn(*mut c_void) -> CK_RV>("C_Finalize");
        // SAFETY: a null argument.
        let _ = unsafe { finalize(null_mut()) };
    }
}

fn token_info(slot: CK_SLOT_ID) -> CK_TOKEN_INFO {
    let f = sym::<unsafe extern "C" fn(CK_SLOT_ID, *mut CK_TOKEN_INFO) -> CK_RV>("C_GetTokenInfo");
    // SAFETY: an all-zero CK_TOKEN_INFO is valid (plain data).
    let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { f(slot, &mut info) }, CKR_OK);
    info
}

fn session(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    type OpenSession = unsafe extern "C" fn(
        CK_SLOT_ID,
        CK_FLAGS,
        *mut c_void,
        CK_NOTIFY,
        *mut CK_SESSION_HANDLE,
    ) -> CK_RV;
    let f = sym::<OpenSession>("C_OpenSession");
    let mut h = 0;
    let flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { f(slot, flags, null_mut(), None, &mut h) }, CKR_OK);
    h
}

fn login(s: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> CK_RV {
    let f = sym::<
        unsafe extern "C" fn(CK_SESSION_HANDLE, CK_USER_TYPE, *const u8, CK_ULONG) -> CK_RV,
    >("C_Login");
    // SAFETY: a valid PIN buffer.
    unsafe { f(s, user, pin.as_ptr(), pin.len() as CK_ULONG) }
}

fn logout(s: CK_SESSION_HANDLE) -> CK_RV {
    // SAFETY: a scalar argument.
    unsafe { sym::<unsafe extern "C" fn(CK_SESSION_HANDLE) -> CK_RV>("C_Logout")(s) }
}

/// A data object (token or session) labelled `label`.
fn data_object(s: CK_SESSION_HANDLE, token: bool, label: &[u8]) -> CK_OBJECT_HANDLE {
    type CreateObject = unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        *mut CK_ATTRIBUTE,
        CK_ULONG,
        *mut CK_OBJECT_HANDLE,
    ) -> CK_RV;
    let mut class = CKO_DATA;
    let mut token = if token { CK_TRUE } else { CK_FALSE };
    let mut private = CK_FALSE;
    let mut value = [7u8; 64];
    let mut template = [
        attribute(CKA_CLASS, &mut class),
        attribute(CKA_TOKEN, &mut token),
        attribute(CKA_PRIVATE, &mut private),
        CK_ATTRIBUTE {
            type_: CKA_LABEL,
            pValue: label.as_ptr() as *mut c_void,
            ulValueLen: label.len() as CK_ULONG,
        },
        CK_ATTRIBUTE {
            type_: CKA_VALUE,
            pValue: value.as_mut_ptr() as *mut c_void,
            ulValueLen: value.len() as CK_ULONG,
        },
    ];
    let mut h = 0;
    // SAFETY: a valid template and out-pointer.
    let rv = unsafe { sym::<CreateObject>("C_CreateObject")(s, template.as_mut_ptr(), 5, &mut h) };
    assert_eq!(rv, CKR_OK);
    h
}

fn attribute<T>(type_: CK_ATTRIBUTE_TYPE, value: &mut T) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_,
        pValue: value as *mut T as *mut c_void,
        ulValueLen: std::mem::size_of::<T>() as CK_ULONG,
    }
}

/// Whether the object still exists (its class is readable).
fn exists(s: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE) -> bool {
    type GetAttributeValue = unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        CK_OBJECT_HANDLE,
        *mut CK_ATTRIBUTE,
        CK_ULONG,
    ) -> CK_RV;
    let mut class = 0 as CK_OBJECT_CLASS;
    let mut t = [attribute(CKA_CLASS, &mut class)];
    // SAFETY: a valid template.
    let rv =
        unsafe { sym::<GetAttributeValue>("C_GetAttributeValue")(s, object, t.as_mut_ptr(), 1) };
    rv == CKR_OK
}

type PairSet = unsafe extern "C" fn(
    CK_SLOT_ID,
    *mut CK_ULONG,
    *mut CK_ULONG,
    *mut CK_ULONG,
    *mut CK_ULONG,
) -> CK_RV;
type ContainerPairSet = unsafe extern "C" fn(
    CK_SLOT_ID,
    CK_ULONG,
    *mut CK_ULONG,
    *mut CK_ULONG,
    *mut CK_ULONG,
    *mut CK_ULONG,
) -> CK_RV;

/// An id/value set by the SDK's two calls (pycryptoki's `AutoCArray` retry).
fn pair_set(
    call: impl Fn(*mut CK_ULONG, *mut CK_ULONG, *mut CK_ULONG, *mut CK_ULONG) -> CK_RV,
) -> Result<Vec<(CK_ULONG, CK_ULONG)>, CK_RV> {
    let (mut id_count, mut value_count) = (0, 0);
    let rv = call(null_mut(), &mut id_count, null_mut(), &mut value_count);
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut ids = vec![0; id_count as usize];
    let mut values = vec![0; value_count as usize];
    let rv = call(
        ids.as_mut_ptr(),
        &mut id_count,
        values.as_mut_ptr(),
        &mut value_count,
    );
    if rv != CKR_OK {
        return Err(rv);
    }
    Ok(ids.into_iter().zip(values).collect())
}

fn hsm_policy_set(slot: CK_SLOT_ID, name: &str) -> Result<Vec<(CK_ULONG, CK_ULONG)>, CK_RV> {
    let f = sym::<PairSet>(name);
    // SAFETY: null arrays or arrays of the announced counts, valid counts.
    pair_set(|a, b, c, d| unsafe { f(slot, a, b, c, d) })
}

fn container_set(
    slot: CK_SLOT_ID,
    container: CK_ULONG,
    name: &str,
) -> Result<Vec<(CK_ULONG, CK_ULONG)>, CK_RV> {
    let f = sym::<ContainerPairSet>(name);
    // SAFETY: null arrays or arrays of the announced counts, valid counts.
    pair_set(|a, b, c, d| unsafe { f(slot, container, a, b, c, d) })
}

fn container_setting(
    slot: CK_SLOT_ID,
    container: CK_ULONG,
    id: CK_ULONG,
) -> Result<CK_ULONG, CK_RV> {
    let f = sym::<unsafe extern "C" fn(CK_SLOT_ID, CK_ULONG, CK_ULONG, *mut CK_ULONG) -> CK_RV>(
        "CA_GetContainerPolicySetting",
    );
    let mut value = 0;
    // SAFETY: a valid out-pointer.
    match unsafe { f(slot, container, id, &mut value) } {
        CKR_OK => Ok(value),
        rv => Err(rv),
    }
}

fn hsm_setting(slot: CK_SLOT_ID, id: CK_ULONG) -> CK_ULONG {
    let f = sym::<unsafe extern "C" fn(CK_SLOT_ID, CK_ULONG, *mut CK_ULONG) -> CK_RV>(
        "CA_GetHSMPolicySetting",
    );
    let mut value = 0;
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { f(slot, id, &mut value) }, CKR_OK);
    value
}

fn container_number(slot: CK_SLOT_ID) -> CK_ULONG {
    let f = sym::<unsafe extern "C" fn(CK_SLOT_ID, *mut CK_ULONG) -> CK_RV>(
        "CA_GetUserContainerNumber",
    );
    let mut n = 0;
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { f(slot, &mut n) }, CKR_OK);
    n
}

/// `CA_SetHSMPolicies` / `CA_SetContainerPolicies`-shaped calls: a count and two arrays.
fn set_pairs(
    call: impl Fn(CK_ULONG, *mut CK_ULONG, *mut CK_ULONG) -> CK_RV,
    pairs: &[(CK_ULONG, CK_ULONG)],
) -> CK_RV {
    let mut ids: Vec<CK_ULONG> = pairs.iter().map(|p| p.0).collect();
    let mut values: Vec<CK_ULONG> = pairs.iter().map(|p| p.1).collect();
    call(
        pairs.len() as CK_ULONG,
        ids.as_mut_ptr(),
        values.as_mut_ptr(),
    )
}

/// The sources of the C exports without whitespace, for their declared argument counts.
fn export_sources() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/pkcs11/luna");
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        text += &std::fs::read_to_string(entry.unwrap().path()).unwrap();
    }
    text.retain(|c| !c.is_whitespace());
    text
}

/// The number of arguments `name` is declared with (`fn name(`, `export!(name(`,
/// `unsupported!(name(`) in `sources` (without whitespace).
fn declared_arguments(sources: &str, name: &str) -> Option<usize> {
    let at = [
        format!("fn{name}("),
        format!("export!({name}("),
        format!("unsupported!({name}("),
    ]
    .iter()
    .find_map(|p| sources.find(p.as_str()).map(|i| i + p.len()))?;
    // The text up to the matching parenthesis, split at the commas outside brackets.
    let (mut depth, mut arguments, mut current) = (0, 0, String::new());
    for c in sources[at..].chars() {
        match c {
            ')' if depth == 0 => break,
            '(' | '<' | '[' => depth += 1,
            ')' | '>' | ']' => depth -= 1,
            ',' if depth == 0 => {
                arguments += usize::from(!current.trim().is_empty());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    Some(arguments + usize::from(!current.trim().is_empty()))
}

#[test]
fn every_pycryptoki_binding_resolves_with_its_argument_count() {
    let bindings = bindings();
    assert_eq!(bindings.len(), 269, "pycryptoki binds 269 CA_ functions");
    let sources = export_sources();
    let mut missing = Vec::new();
    for b in &bindings {
        // SAFETY: a symbol lookup only.
        if unsafe { library().get::<unsafe extern "C" fn()>(b.name.as_bytes()) }.is_err() {
            missing.push(b.name);
            continue;
        }
        assert_eq!(
            declared_arguments(&sources, b.name),
            Some(b.arguments),
            "{} takes {} arguments in pycryptoki",
            b.name,
            b.arguments
        );
    }
    assert!(missing.is_empty(), "undefined symbols: {missing:?}");
}

#[test]
fn ca_get_function_list_follows_pycryptokis_order() {
    let _module = Module::new();
    let mut order: Vec<(usize, &str)> = bindings()
        .iter()
        .filter_map(|b| Some((b.list_index?, b.name)))
        .collect();
    order.sort();
    assert_eq!(order.len(), 241);
    assert!(order.iter().enumerate().all(|(i, (at, _))| i == *at));
    let get = sym::<unsafe extern "C" fn(*mut *mut c_void) -> CK_RV>("CA_GetFunctionList");
    let mut list: *mut c_void = null_mut();
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { get(&mut list) }, CKR_OK);
    assert!(!list.is_null());
    // SAFETY: the table is a CK_VERSION (two bytes, padded to a pointer) then the entries.
    let entries = unsafe {
        std::slice::from_raw_parts(
            (list as *const u8).add(std::mem::size_of::<*const c_void>()) as *const *const c_void,
            order.len(),
        )
    };
    for (i, (_, name)) in order.iter().enumerate() {
        assert!(!entries[i].is_null(), "entry {i} ({name}) is null");
        assert_eq!(entries[i], address(name), "entry {i} is not {name}");
    }
    assert_eq!(hsmsim::pkcs11::CA_FUNCTION_COUNT, order.len());
}

/// Calls a function with `n` zero arguments. Sound for any `n` up to 20 on the C ABIs hsmsim
/// builds for (x86-64 System V, AArch64): the caller passes and removes the arguments and a
/// callee that takes fewer ignores the rest; zero is a valid scalar and a null pointer.
fn call_with_zeros(name: &str) -> CK_RV {
    type Twenty = unsafe extern "C" fn(
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
    ) -> CK_RV;
    let f = sym::<Twenty>(name);
    // SAFETY: see above; the not-modelled functions read none of their arguments.
    unsafe { f(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) }
}

#[test]
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn functions_hsmsim_does_not_model_answer_not_supported() {
    let _module = Module::new();
    let bindings = bindings();
    assert!(
        MODELLED
            .iter()
            .all(|m| bindings.iter().any(|b| b.name == *m))
    );
    let not_modelled: Vec<&Binding> = bindings
        .iter()
        .filter(|b| !MODELLED.contains(&b.name))
        .collect();
    assert_eq!(not_modelled.len(), 269 - MODELLED.len());
    for b in not_modelled {
        assert!(b.arguments <= 20);
        assert_eq!(
            call_with_zeros(b.name),
            CKR_FUNCTION_NOT_SUPPORTED,
            "{}",
            b.name
        );
    }
}

#[test]
fn configuration_element_description_takes_pycryptokis_eight_arguments() {
    let module = Module::new();
    type Describe = unsafe extern "C" fn(
        CK_SLOT_ID,
        CK_ULONG,
        CK_ULONG,
        CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_CHAR,
    ) -> CK_RV;
    let f = sym::<Describe>("CA_GetConfigurationElementDescription");
    let describe = |slot, container, id| {
        let (mut bits, mut destructive, mut restricted) = (0, 0, 0);
        let mut text = [0xFFu8; 256];
        // SAFETY: valid out-pointers and a 256-byte buffer.
        let rv = unsafe {
            f(
                slot,
                container,
                0,
                id,
                &mut bits,
                &mut destructive,
                &mut restricted,
                text.as_mut_ptr(),
            )
        };
        (rv, bits, destructive, text)
    };
    let app = module.slot("app");
    let (rv, bits, destructive, text) = describe(app, 1, 0);
    assert_eq!((rv, bits, destructive), (CKR_OK, 1, 1));
    let end = text.iter().position(|b| *b == 0).unwrap();
    assert_eq!(&text[..end], b"Allow private key cloning");
    assert!(
        text[end + 1..].iter().all(|b| *b == 0xFF),
        "nothing written past the NUL"
    );
    let (rv, _, destructive, text) = describe(app, 0, 7);
    assert_eq!((rv, destructive), (CKR_OK, 1));
    assert!(text.starts_with(b"Allow cloning\0"));
    assert_eq!(describe(app, 1, 999).0, CKR_POLICY_ID_INVALID);
    assert_eq!(
        describe(module.slot("soft"), 1, 0).0,
        CKR_FUNCTION_NOT_SUPPORTED
    );
}

#[test]
fn session_info_time_and_self_test() {
    let module = Module::new();
    let app = module.slot("app");
    let s = session(app);
    type SessionInfo = unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
    ) -> CK_RV;
    let info = |s| {
        let (mut hi, mut lo, mut container, mut level) = (9, 9, 9, 9);
        // SAFETY: valid out-pointers.
        let rv = unsafe {
            sym::<SessionInfo>("CA_GetSessionInfo")(s, &mut hi, &mut lo, &mut container, &mut level)
        };
        (rv, hi, lo, container, level)
    };
    let container = container_number(app);
    assert_eq!(
        info(s),
        (CKR_OK, 0, 0, container, CK_UNAVAILABLE_INFORMATION),
        "nobody logged in"
    );
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    assert_eq!(info(s), (CKR_OK, 0, 0, container, CKU_USER));
    assert_eq!(info(0xDEAD).0, CKR_SESSION_HANDLE_INVALID);
    let soft = session(module.slot("soft"));
    assert_eq!(info(soft).0, CKR_FUNCTION_NOT_SUPPORTED);

    let time = |s| {
        let mut t = 0;
        // SAFETY: a valid out-pointer.
        let rv = unsafe {
            sym::<unsafe extern "C" fn(CK_SESSION_HANDLE, *mut CK_ULONG) -> CK_RV>("CA_GetTime")(
                s, &mut t,
            )
        };
        (rv, t)
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (rv, t) = time(s);
    assert_eq!(rv, CKR_OK);
    assert!(
        t.abs_diff(now) <= 5,
        "the HSM's clock is the host's: {t} vs {now}"
    );
    assert_eq!(time(soft).0, CKR_FUNCTION_NOT_SUPPORTED);

    type SelfTest = unsafe extern "C" fn(
        CK_SLOT_ID,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        *mut CK_ULONG,
    ) -> CK_RV;
    let self_test = sym::<SelfTest>("CA_PerformSelfTest");
    let mut input = *b"abc";
    let mut len = 0;
    // SAFETY: a valid input buffer; a null output asks for the length.
    let rv = unsafe { self_test(app, CKM_SHA256, input.as_mut_ptr(), 3, null_mut(), &mut len) };
    assert_eq!((rv, len), (CKR_OK, 32));
    let mut out = [0u8; 32];
    len = 0;
    // SAFETY: pycryptoki's form: a buffer and a zero length (nothing is written).
    let rv = unsafe {
        self_test(
            app,
            CKM_SHA256,
            input.as_mut_ptr(),
            3,
            out.as_mut_ptr(),
            &mut len,
        )
    };
    assert_eq!(
        (rv, len, out),
        (CKR_OK, 0, [0; 32]),
        "the test's result only"
    );
    len = 16;
    // SAFETY: `out` holds `len` bytes.
    let rv = unsafe {
        self_test(
            app,
            CKM_SHA256,
            input.as_mut_ptr(),
            3,
            out.as_mut_ptr(),
            &mut len,
        )
    };
    assert_eq!((rv, len), (CKR_BUFFER_TOO_SMALL, 32));
    // SAFETY: `out` holds `len` (32) bytes.
    let rv = unsafe {
        self_test(
            app,
            CKM_SHA256,
            input.as_mut_ptr(),
            3,
            out.as_mut_ptr(),
            &mut len,
        )
    };
    assert_eq!(rv, CKR_OK);
    assert_eq!(
        out[..4],
        [0xba, 0x78, 0x16, 0xbf],
        "SHA-256(\"abc\") (FIPS 180-4)"
    );
    len = 32;
    // SAFETY: as above.
    let rv = unsafe {
        self_test(
            app,
            CKM_AES_CBC,
            input.as_mut_ptr(),
            3,
            out.as_mut_ptr(),
            &mut len,
        )
    };
    assert_eq!(rv, CKR_MECHANISM_INVALID);
    let soft_slot = module.slot("soft");
    // SAFETY: as above.
    let rv = unsafe {
        self_test(
            soft_slot,
            CKM_SHA256,
            input.as_mut_ptr(),
            3,
            out.as_mut_ptr(),
            &mut len,
        )
    };
    assert_eq!(rv, CKR_FUNCTION_NOT_SUPPORTED);
}

#[test]
fn container_and_hsm_policy_sets() {
    let module = Module::new();
    let app = module.slot("app");
    let container = container_number(app);
    let token_policies = hsm_policy_set(app, "CA_GetTokenPolicies").unwrap();
    let policies = container_set(app, container, "CA_GetContainerPolicySet").unwrap();
    assert_eq!(policies, token_policies, "the partition is its container");
    assert!(policies.contains(&(20, 3)), "the lab's policy 20");
    assert_eq!(
        container_set(app, container, "CA_GetContainerCapabilitySet").unwrap(),
        hsm_policy_set(app, "CA_GetTokenCapabilities").unwrap()
    );
    assert_eq!(container_setting(app, container, 20), Ok(3));
    assert_eq!(
        container_setting(app, container, 999),
        Err(CKR_POLICY_ID_INVALID)
    );
    assert_eq!(
        container_setting(app, container + 100, 20),
        Err(CKR_CONTAINER_HANDLE_INVALID)
    );
    let soft = module.slot("soft");
    assert_eq!(
        container_set(soft, 0, "CA_GetContainerPolicySet"),
        Err(CKR_FUNCTION_NOT_SUPPORTED)
    );

    // The partition SO changes them; the CO may not.
    let set_one = sym::<
        unsafe extern "C" fn(CK_SESSION_HANDLE, CK_ULONG, CK_ULONG, CK_ULONG) -> CK_RV,
    >("CA_SetContainerPolicy");
    type SetMany = unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        CK_ULONG,
        CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
    ) -> CK_RV;
    let set_many = sym::<SetMany>("CA_SetContainerPolicies");
    let s = session(app);
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    let object = data_object(s, true, b"kept until the destructive change");
    assert_eq!(
        // SAFETY: scalar arguments.
        unsafe { set_one(s, container, 20, 5) },
        CKR_USER_NOT_AUTHORIZED
    );
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(login(s, CKU_SO, PO), CKR_OK);
    // SAFETY: scalar arguments.
    assert_eq!(unsafe { set_one(s, container, 20, 5) }, CKR_OK);
    assert_eq!(container_setting(app, container, 20), Ok(5));
    assert_eq!(
        // SAFETY: scalar arguments.
        unsafe { set_one(s, container + 100, 20, 6) },
        CKR_CONTAINER_HANDLE_INVALID
    );
    let many = |pairs: &[(CK_ULONG, CK_ULONG)]| {
        set_pairs(
            // SAFETY: arrays of `count` elements.
            |n, ids, values| unsafe { set_many(s, container, n, ids, values) },
            pairs,
        )
    };
    assert_eq!(many(&[(20, 7), (18, 0)]), CKR_OK);
    assert_eq!(container_setting(app, container, 20), Ok(7));
    assert_eq!(container_setting(app, container, 18), Ok(0));
    assert_ne!(
        many(&[(20, 8), (999, 1)]),
        CKR_OK,
        "an unknown policy refuses the set"
    );
    assert_eq!(container_setting(app, container, 20), Ok(7), "all or none");

    // HSM policies: the sets agree with the one-setting calls.
    let hsm = hsm_policy_set(app, "CA_GetHSMPolicySet").unwrap();
    assert!(hsm.contains(&(7, 1)) && hsm.contains(&(15, 1)) && hsm.contains(&(21, 0)));
    assert!(
        hsm.iter()
            .all(|(id, value)| hsm_setting(app, *id) == *value)
    );
    let capabilities = hsm_policy_set(app, "CA_GetHSMCapabilitySet").unwrap();
    let ids = |set: &[(CK_ULONG, CK_ULONG)]| set.iter().map(|p| p.0).collect::<Vec<_>>();
    assert_eq!(ids(&capabilities), ids(&hsm));
    assert_eq!(
        hsm_policy_set(soft, "CA_GetHSMPolicySet"),
        Err(CKR_FUNCTION_NOT_SUPPORTED)
    );

    // The HSM SO changes several at once, all or none; the PO may not.
    type SetHsm =
        unsafe extern "C" fn(CK_SESSION_HANDLE, CK_ULONG, *mut CK_ULONG, *mut CK_ULONG) -> CK_RV;
    let set_hsm = sym::<SetHsm>("CA_SetHSMPolicies");
    let set_destructive = sym::<SetHsm>("CA_SetDestructiveHSMPolicies");
    let hsm_set = |f: SetHsm, s, pairs: &[(CK_ULONG, CK_ULONG)]| {
        // SAFETY: arrays of `count` elements.
        set_pairs(|n, ids, values| unsafe { f(s, n, ids, values) }, pairs)
    };
    assert_eq!(hsm_set(set_hsm, s, &[(16, 0)]), CKR_USER_NOT_AUTHORIZED);
    let admin = session(module.slot("admin"));
    assert_eq!(login(admin, CKU_SO, HSO), CKR_OK);
    assert_eq!(hsm_set(set_hsm, admin, &[(16, 0), (12, 0)]), CKR_OK);
    assert_eq!((hsm_setting(app, 16), hsm_setting(app, 12)), (0, 0));
    assert_eq!(
        hsm_set(set_hsm, admin, &[(16, 1), (999, 1)]),
        CKR_POLICY_ID_INVALID
    );
    assert_eq!(hsm_setting(app, 16), 0, "all or none");
    // Turning cloning (7) off is destructive: refused unless asked for.
    assert_eq!(
        hsm_set(set_hsm, admin, &[(16, 1), (7, 0)]),
        CKR_CONFIG_CHANGE_ILLEGAL
    );
    assert_eq!((hsm_setting(app, 16), hsm_setting(app, 7)), (0, 1));
    assert!(exists(s, object));
    assert_eq!(hsm_set(set_destructive, admin, &[(16, 1), (7, 0)]), CKR_OK);
    assert_eq!((hsm_setting(app, 16), hsm_setting(app, 7)), (1, 0));
    assert!(!exists(s, object), "the device's partitions are zeroised");
}

#[test]
fn destroy_multiple_objects_stops_at_the_first_failure() {
    let module = Module::new();
    let s = session(module.slot("app"));
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    let (a, b, c) = (
        data_object(s, false, b"a"),
        data_object(s, true, b"b"),
        data_object(s, false, b"c"),
    );
    type Destroy = unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        CK_ULONG,
        *mut CK_OBJECT_HANDLE,
        *mut CK_ULONG,
    ) -> CK_RV;
    let destroy = sym::<Destroy>("CA_DestroyMultipleObjects");
    let mut handles = [a, b, 0xBAD, c];
    let mut index = 99;
    // SAFETY: an array of four handles, a valid out-pointer.
    let rv = unsafe { destroy(s, 4, handles.as_mut_ptr(), &mut index) };
    assert_eq!((rv, index), (CKR_OBJECT_HANDLE_INVALID, 2));
    assert!(
        !exists(s, a) && !exists(s, b),
        "the objects before it are destroyed"
    );
    assert!(exists(s, c), "the objects after it stay");
    let mut rest = [c];
    assert_eq!(
        // SAFETY: as above.
        unsafe { destroy(s, 1, rest.as_mut_ptr(), &mut index) },
        CKR_OK
    );
    assert!(!exists(s, c));
    let soft = session(module.slot("soft"));
    assert_eq!(login(soft, CKU_USER, CO), CKR_OK);
    let d = data_object(soft, false, b"d");
    let mut on_soft = [d];
    // SAFETY: as above.
    let rv = unsafe { destroy(soft, 1, on_soft.as_mut_ptr(), &mut index) };
    assert_eq!(rv, CKR_FUNCTION_NOT_SUPPORTED);
    assert!(exists(soft, d));
}

#[test]
fn the_so_resets_the_crypto_officers_pin_where_hsm_policy_15_allows() {
    let module = Module::new();
    let reset =
        sym::<unsafe extern "C" fn(CK_SESSION_HANDLE, *const u8, CK_ULONG) -> CK_RV>("CA_ResetPIN");
    let reset_pin =
        // SAFETY: a valid PIN buffer.
        |s, pin: &[u8]| unsafe { reset(s, pin.as_ptr(), pin.len() as CK_ULONG) };
    let s = session(module.slot("app"));
    assert_eq!(reset_pin(s, b"co-pin-0002"), CKR_USER_NOT_LOGGED_IN);
    assert_eq!(login(s, CKU_SO, PO), CKR_OK);
    assert_eq!(reset_pin(s, b"short"), CKR_PIN_LEN_RANGE);
    assert_eq!(reset_pin(s, b"co-pin-0002"), CKR_OK);
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(login(s, CKU_USER, CO), CKR_PIN_INCORRECT);
    assert_eq!(login(s, CKU_USER, b"co-pin-0002"), CKR_OK);
    // HSM policy 15 off (the default): the SO may not.
    let strict = session(module.slot("strict"));
    assert_eq!(login(strict, CKU_SO, PO), CKR_OK);
    assert_eq!(reset_pin(strict, b"co-pin-0002"), CKR_USER_NOT_AUTHORIZED);
    assert_eq!(logout(strict), CKR_OK);
    assert_eq!(
        login(strict, CKU_USER, CO),
        CKR_OK,
        "the CO's PIN is unchanged"
    );
    let soft = session(module.slot("soft"));
    assert_eq!(login(soft, CKU_SO, b"so-pin-0001"), CKR_OK);
    assert_eq!(reset_pin(soft, b"co-pin-0002"), CKR_FUNCTION_NOT_SUPPORTED);
}

#[test]
fn container_storage_and_the_factory_reset() {
    let module = Module::new();
    let app = module.slot("app");
    let container = container_number(app);
    type Storage = unsafe extern "C" fn(
        CK_SLOT_ID,
        CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
        *mut CK_ULONG,
    ) -> CK_RV;
    let storage = |slot, container| {
        let mut v = [9 as CK_ULONG; 5];
        let [o, t, u, f, n] = &mut v;
        // SAFETY: valid out-pointers.
        let rv = unsafe {
            sym::<Storage>("CA_GetContainerStorageInformation")(slot, container, o, t, u, f, n)
        };
        (rv, v)
    };
    assert_eq!(storage(app, container), (CKR_OK, [0, 4000, 0, 4000, 0]));
    let s = session(app);
    assert_eq!(login(s, CKU_USER, CO), CKR_OK);
    data_object(s, true, b"stored");
    data_object(s, false, b"a session object takes no storage");
    let (rv, [_, total, used, free, count]) = storage(app, container);
    assert_eq!((rv, total, count), (CKR_OK, 4000, 1));
    assert!(
        used > 64 && used + free == total,
        "used {used}, free {free}"
    );
    assert_eq!(
        storage(app, container + 100).0,
        CKR_CONTAINER_HANDLE_INVALID
    );
    assert_eq!(
        storage(module.slot("soft"), 0).0,
        CKR_FUNCTION_NOT_SUPPORTED
    );

    // Only the HSM SO, logged in on the device, resets it; every partition becomes blank.
    let factory_reset =
        sym::<unsafe extern "C" fn(CK_SLOT_ID, CK_FLAGS) -> CK_RV>("CA_FactoryReset");
    let admin_slot = module.slot("admin");
    assert_eq!(
        // SAFETY: scalar arguments.
        unsafe { factory_reset(admin_slot, 0) },
        CKR_USER_NOT_AUTHORIZED
    );
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(login(s, CKU_SO, PO), CKR_OK);
    assert_eq!(
        // SAFETY: scalar arguments.
        unsafe { factory_reset(app, 0) },
        CKR_USER_NOT_AUTHORIZED,
        "the PO is not the HSM SO"
    );
    let admin = session(admin_slot);
    assert_eq!(login(admin, CKU_SO, HSO), CKR_OK);
    // SAFETY: scalar arguments.
    assert_eq!(unsafe { factory_reset(admin_slot, 1) }, CKR_ARGUMENTS_BAD);
    let strict = module.slot("strict");
    let soft = module.slot("soft");
    assert_eq!(
        // SAFETY: scalar arguments.
        unsafe { factory_reset(soft, 0) },
        CKR_FUNCTION_NOT_SUPPORTED
    );
    // SAFETY: scalar arguments.
    assert_eq!(unsafe { factory_reset(admin_slot, 0) }, CKR_OK);
    assert_eq!(
        token_info(app).flags & CKF_TOKEN_INITIALIZED,
        0,
        "the partition is blank"
    );
    assert_eq!(token_info(admin_slot).flags & CKF_TOKEN_INITIALIZED, 0);
    assert_ne!(
        token_info(strict).flags & CKF_TOKEN_INITIALIZED,
        0,
        "another device is not affected"
    );
}
