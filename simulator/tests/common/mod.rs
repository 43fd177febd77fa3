//! Test harness for whole flows through the C ABI: a fresh lab per test (a temporary state
//! directory), serialised because module state is process-global, and thin safe wrappers over
//! the exported `C_*` functions that return the raw `CK_RV` so tests can assert exact codes.
#![allow(dead_code)]

use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use parking_lot::{Mutex, MutexGuard};
use std::ffi::c_void;
use std::ptr::{null, null_mut};

pub mod luna;

static SERIAL: Mutex<()> = Mutex::new(());

/// The cost (`HSMSIM_PIN_KDF_ITERATIONS`) at which the suites' labs seal PINs: the cost before
/// issue 10, so thousands of logins stay cheap. The strong default is proven by
/// `tests/pin_seal.rs`, whose workers run without it.
pub const TEST_PIN_KDF_ITERATIONS: &str = "10000";

pub const SO_PIN: &[u8] = b"87654321";
pub const USER_PIN: &[u8] = b"12345678";

/// One test's module: initialised on a fresh default lab, finalised on drop.
pub struct Lab {
    _serial: MutexGuard<'static, ()>,
    pub dir: tempfile::TempDir,
}

impl Lab {
    pub fn new() -> Lab {
        Lab::with_lab("default")
    }

    /// `lab` is "default" (slot 0 initialised) or "generic" (blank tokens).
    pub fn with_lab(lab: &str) -> Lab {
        let serial = SERIAL.lock();
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: every test that touches the environment holds SERIAL, so no other thread of
        // this process reads or writes these variables concurrently.
        unsafe {
            std::env::set_var("HSMSIM_STATE_DIR", dir.path());
            std::env::set_var("HSMSIM_LAB", lab);
            std::env::set_var("HSMSIM_PIN_KDF_ITERATIONS", TEST_PIN_KDF_ITERATIONS);
            std::env::remove_var("HSMSIM_CONF");
            std::env::remove_var("HSMSIM_HOST");
        }
        // A previous test that panicked may have left the module initialised.
        // SAFETY: null is the valid argument.
        let _ = unsafe { C_Finalize(null_mut()) };
        // SAFETY: null arguments request default (OS) locking.
        assert_eq!(unsafe { C_Initialize(null_mut()) }, CKR_OK);
        Lab {
            _serial: serial,
            dir,
        }
    }

    /// Sets an environment variable for the next `C_Initialize` (the lab lock is held).
    pub fn set_env(&self, key: &str, value: &str) {
        // SAFETY: this test holds SERIAL, so no other thread of this process touches the
        // environment concurrently.
        unsafe { std::env::set_var(key, value) };
    }

    /// Re-opens the same lab directory as a new process would.
    pub fn restart(&self) {
        // SAFETY: null is the valid argument.
        assert_eq!(unsafe { C_Finalize(null_mut()) }, CKR_OK);
        // SAFETY: null requests default locking.
        assert_eq!(unsafe { C_Initialize(null_mut()) }, CKR_OK);
    }

    /// A R/W session on slot 0, logged in as the user.
    pub fn user_session(&self) -> CK_SESSION_HANDLE {
        let s = open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
        assert_eq!(login(s, CKU_USER, USER_PIN), CKR_OK);
        s
    }
}

/// A module initialised on a lab written in TOML, chosen by `HSMSIM_CONF` (a fresh directory
/// holds the file and its state); finalised on drop.
pub struct TextLab {
    _serial: MutexGuard<'static, ()>,
    pub dir: tempfile::TempDir,
}

impl TextLab {
    pub fn new(toml: &str) -> TextLab {
        let serial = SERIAL.lock();
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: this test holds SERIAL, so no other thread of this process reads or writes
        // the environment meanwhile.
        unsafe { std::env::set_var("HSMSIM_PIN_KDF_ITERATIONS", TEST_PIN_KDF_ITERATIONS) };
        let lab = TextLab {
            _serial: serial,
            dir,
        };
        lab.reload(toml);
        lab
    }

    /// Rewrites the lab file with `toml` and re-initialises the module on it, keeping the
    /// state directory (as after editing the lab and restarting the application).
    pub fn reload(&self, toml: &str) {
        let file = self.dir.path().join("lab.toml");
        std::fs::write(&file, toml).unwrap();
        // SAFETY: null is the valid argument.
        let _ = unsafe { C_Finalize(null_mut()) };
        // SAFETY: this test holds SERIAL, so no other thread of this process reads or writes
        // the environment meanwhile.
        unsafe {
            std::env::set_var("HSMSIM_CONF", &file);
            std::env::remove_var("HSMSIM_STATE_DIR");
            std::env::remove_var("HSMSIM_HOST");
            std::env::remove_var("HSMSIM_LAB");
        }
        let mut args = CK_C_INITIALIZE_ARGS {
            CreateMutex: None,
            DestroyMutex: None,
            LockMutex: None,
            UnlockMutex: None,
            flags: CKF_OS_LOCKING_OK,
            pReserved: null_mut(),
        };
        // SAFETY: valid arguments.
        let rv = unsafe { C_Initialize(&mut args as *mut _ as *mut c_void) };
        assert_eq!(rv, CKR_OK);
    }

    /// Presents PED keys for the next prompts (`HSMSIM_PED_KEYS`); `None` removes them.
    pub fn present_ped_keys(&self, keys: Option<&str>) {
        // SAFETY: this test holds SERIAL, so no other thread of this process reads or writes
        // the environment meanwhile.
        unsafe {
            match keys {
                Some(k) => std::env::set_var("HSMSIM_PED_KEYS", k),
                None => std::env::remove_var("HSMSIM_PED_KEYS"),
            }
        }
    }

    /// Sets an environment variable the module reads at call time (`HSMSIM_CLOCK_OFFSET`, ...);
    /// removed again when the lab is dropped.
    pub fn set_env(&self, key: &'static str, value: &str) {
        // SAFETY: this test holds SERIAL, so no other thread of this process reads or writes
        // the environment meanwhile.
        unsafe { std::env::set_var(key, value) };
    }

    /// How many token objects the lab's store holds for a partition ("device/partition").
    pub fn stored_objects(&self, partition: &str) -> usize {
        let config = hsmsim::estate::resolve_config(&hsmsim::estate::Choice {
            lab_file: Some(self.dir.path().join("lab.toml")),
            host: None,
            state_dir: None,
        })
        .unwrap();
        let store = hsmsim::store::Store::open(&config.state_dir).unwrap();
        store.objects(&partition.parse().unwrap()).unwrap().len()
    }

    /// The lab as the estate operations (`hsmsim lab ...`) select it.
    pub fn selection(&self) -> hsmsim::estate::LabSelection {
        hsmsim::estate::select(&hsmsim::estate::Choice {
            lab_file: Some(self.dir.path().join("lab.toml")),
            host: None,
            state_dir: None,
        })
        .unwrap()
    }

    /// The `CKA_OUID`s (Luna's shared object identity) of a partition's stored token objects.
    pub fn stored_ouids(&self, partition: &str) -> std::collections::BTreeSet<Vec<u8>> {
        hsmsim::store::Store::open(&self.selection().state_dir)
            .unwrap()
            .objects(&partition.parse().unwrap())
            .unwrap()
            .iter()
            .filter_map(|o| {
                o.public
                    .bytes(hsmsim::base::vendor_codes::CKA_OUID)
                    .map(<[u8]>::to_vec)
            })
            .collect()
    }

    /// A second engine on the same lab, as another process would open it.
    pub fn other_process(&self) -> hsmsim::engine::Engine {
        let config = hsmsim::estate::resolve_config(&hsmsim::estate::Choice {
            lab_file: Some(self.dir.path().join("lab.toml")),
            host: None,
            state_dir: None,
        })
        .unwrap();
        hsmsim::engine::Engine::open(&config).unwrap()
    }
}

impl Drop for TextLab {
    fn drop(&mut self) {
        self.present_ped_keys(None);
        // SAFETY: this test still holds SERIAL (released after this body).
        unsafe { std::env::remove_var(hsmsim::base::clock::OFFSET_VARIABLE) };
        // SAFETY: null is the valid argument.
        let _ = unsafe { C_Finalize(null_mut()) };
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // SAFETY: null is the valid argument.
        let _ = unsafe { C_Finalize(null_mut()) };
    }
}

/// A template built by tests; keeps the value buffers alive.
#[derive(Default)]
pub struct Template {
    values: Vec<Vec<u8>>,
    types: Vec<CK_ATTRIBUTE_TYPE>,
}

impl Template {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn bytes(mut self, t: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Self {
        self.types.push(t);
        self.values.push(v.to_vec());
        self
    }
    pub fn bool(self, t: CK_ATTRIBUTE_TYPE, v: bool) -> Self {
        self.bytes(t, &[v as u8])
    }
    pub fn ulong(self, t: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Self {
        self.bytes(t, &v.to_ne_bytes())
    }
    pub fn raw(&mut self) -> Vec<CK_ATTRIBUTE> {
        self.types
            .iter()
            .zip(self.values.iter_mut())
            .map(|(t, v)| CK_ATTRIBUTE {
                type_: *t,
                pValue: if v.is_empty() {
                    null_mut()
                } else {
                    v.as_mut_ptr() as *mut c_void
                },
                ulValueLen: v.len() as CK_ULONG,
            })
            .collect()
    }
}

pub fn mech(m: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: m,
        pParameter: null_mut(),
        ulParameterLen: 0,
    }
}

/// A mechanism with a parameter buffer (the buffer must outlive the call).
pub fn mech_with<T>(m: CK_MECHANISM_TYPE, param: &mut T) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: m,
        pParameter: param as *mut T as *mut c_void,
        ulParameterLen: size_of::<T>() as CK_ULONG,
    }
}

pub fn open_session(slot: CK_SLOT_ID, flags: CK_FLAGS) -> Result<CK_SESSION_HANDLE, CK_RV> {
    let mut h = 0;
    // SAFETY: valid out-pointer; null application/notify are allowed.
    let rv = unsafe { C_OpenSession(slot, flags, null_mut(), None, &mut h) };
    if rv == CKR_OK { Ok(h) } else { Err(rv) }
}

/// `C_GetTokenInfo` of a slot, which must answer `CKR_OK`.
pub fn token_info(slot: CK_SLOT_ID) -> CK_TOKEN_INFO {
    let mut info = std::mem::MaybeUninit::<CK_TOKEN_INFO>::zeroed();
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { C_GetTokenInfo(slot, info.as_mut_ptr()) }, CKR_OK);
    // SAFETY: filled by C_GetTokenInfo (and zeroed before).
    unsafe { info.assume_init() }
}

pub fn login(s: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> CK_RV {
    // SAFETY: the PIN buffer is valid for its length.
    unsafe { C_Login(s, user, pin.as_ptr() as *mut u8, pin.len() as CK_ULONG) }
}

pub fn logout(s: CK_SESSION_HANDLE) -> CK_RV {
    // SAFETY: no pointers.
    unsafe { C_Logout(s) }
}

pub fn create(s: CK_SESSION_HANDLE, mut t: Template) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut raw = t.raw();
    let mut h = 0;
    // SAFETY: the template and out-pointer are valid.
    let rv = unsafe { C_CreateObject(s, raw.as_mut_ptr(), raw.len() as CK_ULONG, &mut h) };
    if rv == CKR_OK { Ok(h) } else { Err(rv) }
}

pub fn generate_key(
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_TYPE,
    mut t: Template,
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut raw = t.raw();
    let mut mm = mech(m);
    let mut h = 0;
    // SAFETY: mechanism, template and out-pointer are valid.
    let rv = unsafe { C_GenerateKey(s, &mut mm, raw.as_mut_ptr(), raw.len() as CK_ULONG, &mut h) };
    if rv == CKR_OK { Ok(h) } else { Err(rv) }
}

pub fn generate_key_pair(
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_TYPE,
    mut public: Template,
    mut private: Template,
) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE), CK_RV> {
    let (mut p, mut v) = (public.raw(), private.raw());
    let mut mm = mech(m);
    let (mut ph, mut vh) = (0, 0);
    // SAFETY: mechanism, templates and out-pointers are valid.
    let rv = unsafe {
        C_GenerateKeyPair(
            s,
            &mut mm,
            p.as_mut_ptr(),
            p.len() as CK_ULONG,
            v.as_mut_ptr(),
            v.len() as CK_ULONG,
            &mut ph,
            &mut vh,
        )
    };
    if rv == CKR_OK { Ok((ph, vh)) } else { Err(rv) }
}

/// Reads one attribute: Ok(value) or the CK_RV and the length field left by the call.
pub fn get_attr(
    s: CK_SESSION_HANDLE,
    o: CK_OBJECT_HANDLE,
    t: CK_ATTRIBUTE_TYPE,
) -> Result<Vec<u8>, (CK_RV, CK_ULONG)> {
    let mut a = CK_ATTRIBUTE {
        type_: t,
        pValue: null_mut(),
        ulValueLen: 0,
    };
    // SAFETY: one valid attribute with a null value pointer (length query).
    let rv = unsafe { C_GetAttributeValue(s, o, &mut a, 1) };
    if rv != CKR_OK {
        return Err((rv, a.ulValueLen));
    }
    let mut buf = vec![0u8; a.ulValueLen as usize];
    a.pValue = buf.as_mut_ptr() as *mut c_void;
    // SAFETY: the buffer holds ulValueLen bytes.
    let rv = unsafe { C_GetAttributeValue(s, o, &mut a, 1) };
    if rv != CKR_OK {
        return Err((rv, a.ulValueLen));
    }
    buf.truncate(a.ulValueLen as usize);
    Ok(buf)
}

pub fn find(s: CK_SESSION_HANDLE, mut t: Template) -> Vec<CK_OBJECT_HANDLE> {
    let mut raw = t.raw();
    // SAFETY: the template is valid.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_FindObjectsInit(s, raw.as_mut_ptr(), raw.len() as CK_ULONG) },
        CKR_OK
    );
    let mut out = Vec::new();
    loop {
        let mut buf = [0 as CK_OBJECT_HANDLE; 3];
        let mut n = 0;
        // SAFETY: buffer of 3 handles and a valid count pointer.
        assert_eq!(
            // SAFETY: arguments are valid for the call, as the comment above says.
            unsafe { C_FindObjects(s, buf.as_mut_ptr(), 3, &mut n) },
            CKR_OK
        );
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_FindObjectsFinal(s) }, CKR_OK);
    out
}

pub type InitFn =
    unsafe extern "C" fn(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE) -> CK_RV;
pub type DataFn =
    unsafe extern "C" fn(CK_SESSION_HANDLE, *mut u8, CK_ULONG, *mut u8, *mut CK_ULONG) -> CK_RV;

pub fn init(f: InitFn, s: CK_SESSION_HANDLE, m: &mut CK_MECHANISM, key: CK_OBJECT_HANDLE) -> CK_RV {
    // SAFETY: the mechanism (and its parameter) is valid for the call.
    unsafe { f(s, m, key) }
}

/// Calls an output-producing function with a length query first, then a right-sized buffer.
pub fn produce(f: DataFn, s: CK_SESSION_HANDLE, input: &[u8]) -> Result<Vec<u8>, CK_RV> {
    let mut len = 0;
    // SAFETY: input valid for its length; null output requests the length.
    let rv = unsafe {
        f(
            s,
            input.as_ptr() as *mut u8,
            input.len() as CK_ULONG,
            null_mut(),
            &mut len,
        )
    };
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut out = vec![0u8; len as usize];
    // SAFETY: the output buffer holds `len` bytes.
    let rv = unsafe {
        f(
            s,
            input.as_ptr() as *mut u8,
            input.len() as CK_ULONG,
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

/// `C_*Final` with a length query first.
pub fn finish(
    f: unsafe extern "C" fn(CK_SESSION_HANDLE, *mut u8, *mut CK_ULONG) -> CK_RV,
    s: CK_SESSION_HANDLE,
) -> Result<Vec<u8>, CK_RV> {
    let mut len = 0;
    // SAFETY: null output requests the length.
    let rv = unsafe { f(s, null_mut(), &mut len) };
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut out = vec![0u8; len as usize];
    // SAFETY: the buffer holds `len` bytes.
    let rv = unsafe { f(s, out.as_mut_ptr(), &mut len) };
    if rv != CKR_OK {
        return Err(rv);
    }
    out.truncate(len as usize);
    Ok(out)
}

pub fn verify(s: CK_SESSION_HANDLE, data: &[u8], sig: &[u8]) -> CK_RV {
    // SAFETY: both buffers are valid for their lengths.
    unsafe {
        C_Verify(
            s,
            data.as_ptr() as *mut u8,
            data.len() as CK_ULONG,
            sig.as_ptr() as *mut u8,
            sig.len() as CK_ULONG,
        )
    }
}

pub fn update(
    f: unsafe extern "C" fn(CK_SESSION_HANDLE, *mut u8, CK_ULONG) -> CK_RV,
    s: CK_SESSION_HANDLE,
    data: &[u8],
) -> CK_RV {
    // SAFETY: the buffer is valid for its length.
    unsafe { f(s, data.as_ptr() as *mut u8, data.len() as CK_ULONG) }
}

pub fn null_ptr<T>() -> *const T {
    null()
}

/// DER OID of prime256v1.
pub const P256: &[u8] = &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

pub fn aes_key(s: CK_SESSION_HANDLE, extra: impl FnOnce(Template) -> Template) -> CK_OBJECT_HANDLE {
    let t = Template::new().ulong(CKA_VALUE_LEN, 32);
    generate_key(s, CKM_AES_KEY_GEN, extra(t)).expect("AES key generation")
}

pub fn rsa_pair(s: CK_SESSION_HANDLE, bits: CK_ULONG) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    generate_key_pair(
        s,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        Template::new().ulong(CKA_MODULUS_BITS, bits),
        Template::new(),
    )
    .expect("RSA key pair generation")
}

/// A R/W session on `slot`, logged in as the user (Luna: the Crypto Officer) with `pin`.
pub fn user_session_on(slot: CK_SLOT_ID, pin: &[u8]) -> CK_SESSION_HANDLE {
    let s = open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(login(s, CKU_USER, pin), CKR_OK, "user login on slot {slot}");
    s
}

/// Luna's `CA_GetTokenPolicies`: the partition policies of `slot`, by id.
pub fn token_policies(slot: CK_SLOT_ID) -> Vec<(CK_ULONG, CK_ULONG)> {
    let (mut n_ids, mut n_vals) = (0, 0);
    // SAFETY: null arrays ask for the counts.
    let rv = unsafe { CA_GetTokenPolicies(slot, null_mut(), &mut n_ids, null_mut(), &mut n_vals) };
    assert_eq!(rv, CKR_OK);
    assert_eq!(n_ids, n_vals);
    let mut ids = vec![0; n_ids as usize];
    let mut vals = vec![0; n_vals as usize];
    // SAFETY: the arrays hold the counts given.
    let rv = unsafe {
        CA_GetTokenPolicies(
            slot,
            ids.as_mut_ptr(),
            &mut n_ids,
            vals.as_mut_ptr(),
            &mut n_vals,
        )
    };
    assert_eq!(rv, CKR_OK);
    ids.into_iter().zip(vals).collect()
}

/// One partition policy of `slot` (`token_policies`).
pub fn policy(slot: CK_SLOT_ID, id: CK_ULONG) -> CK_ULONG {
    token_policies(slot)
        .into_iter()
        .find(|(i, _)| *i == id)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no policy {id}"))
}

/// `libhsmsim.so` of this build (next to the test binary in `target/<profile>/deps`, or one
/// directory up).
pub fn module_file() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [deps, deps.parent().unwrap()]
        .iter()
        .map(|d| d.join("libhsmsim.so"))
        .find(|p| p.exists())
        .expect("libhsmsim.so is built next to the tests")
}
