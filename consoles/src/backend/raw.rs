//! The few PKCS#11 calls cryptoki 0.12 cannot express, made through the module's own
//! `C_GetFunctionList` table: the raw mechanism list (cryptoki drops mechanisms it does not
//! know, such as `CKM_RSA_AES_KEY_WRAP` and `CKM_AES_KEY_WRAP_KWP`), and `C_WrapKey` /
//! `C_UnwrapKey` with those mechanisms. Sessions and objects are cryptoki's, by handle. This is
//! the crate's only C ABI boundary.
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;
use std::path::Path;

/// A module's function table, loaded beside cryptoki's (same process, same initialisation).
pub struct RawModule {
    _library: libloading::Library,
    list: *const CK_FUNCTION_LIST,
}

// SAFETY: the function table is static data of the loaded module, which stays loaded while
// `_library` lives; PKCS#11 modules initialised with CKF_OS_LOCKING_OK are callable from any
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
        Ok(RawModule {
            _library: library,
            list,
        })
    }

    fn functions(&self) -> &CK_FUNCTION_LIST {
        // SAFETY: checked non-null at load; the table lives as long as the library.
        unsafe { &*self.list }
    }

    /// Every mechanism the slot's token lists, including those cryptoki does not know.
    pub fn mechanisms(&self, slot: CK_SLOT_ID) -> Result<Vec<CK_MECHANISM_TYPE>, CK_RV> {
        let f = self
            .functions()
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
            .functions()
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
            .functions()
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
