//! Luna's `CA_*` extension calls (and `C_Login` with Luna's vendor user types, which cryptoki
//! cannot name), made by symbol on any module that exports them: this simulator's
//! `libhsmsim.so` or a real Luna client library. C signatures as the SafeNet SDK declares them
//! (pycryptoki's bindings). A module without a symbol answers `CKR_FUNCTION_NOT_SUPPORTED`
//! here. Like `raw`, this file is a C ABI boundary of the crate; every answer is a `CK_RV`.
use cryptoki_sys::*;
use std::path::Path;

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

/// A module's Luna extension calls (the module stays loaded while this lives).
pub struct LunaCalls {
    library: libloading::Library,
}

impl LunaCalls {
    /// Opens the module file (already loaded and initialised by cryptoki) for its `CA_*`
    /// symbols.
    pub fn load(path: &Path) -> Result<LunaCalls, String> {
        // SAFETY: the module is loaded and initialised already; this only adds a reference,
        // its initialisers ran then.
        let library = unsafe { libloading::Library::new(path) }
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        Ok(LunaCalls { library })
    }

    /// The symbol `name` (NUL-terminated) as a function of type `F`.
    ///
    /// # Safety
    /// `F` must be the symbol's C signature.
    unsafe fn function<F: Copy>(&self, name: &[u8]) -> Result<F, CK_RV> {
        // SAFETY: the caller names the symbol's signature.
        unsafe { self.library.get::<F>(name) }
            .map(|f| *f)
            .map_err(|_| CKR_FUNCTION_NOT_SUPPORTED)
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
        // SAFETY: the PKCS#11 signature.
        let f: LoginFn = unsafe { self.function(b"C_Login\0") }?;
        let mut pin = pin.map(|p| p.as_bytes().to_vec());
        let (ptr, len) = match pin.as_mut() {
            Some(p) => (p.as_mut_ptr(), p.len() as CK_ULONG),
            None => (std::ptr::null_mut(), 0),
        };
        // SAFETY: the PIN buffer (or null with length 0) outlives the call.
        check(unsafe { f(session, user, ptr, len) })
    }
}

fn check(rv: CK_RV) -> Result<(), CK_RV> {
    if rv == CKR_OK { Ok(()) } else { Err(rv) }
}
