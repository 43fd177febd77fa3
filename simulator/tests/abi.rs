//! Whole flows through the exported C ABI: initialisation rules, interfaces, slots and tokens,
//! sessions and login, objects and attribute rules, and the calling conventions of operations.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::ffi::c_void;
use std::ptr::null_mut;

#[test]
fn initialize_and_finalize_follow_the_spec() {
    let lab = Lab::new();
    // SAFETY: null args.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_Initialize(null_mut()) },
        CKR_CRYPTOKI_ALREADY_INITIALIZED
    );
    // SAFETY: a non-null reserved pointer is refused without being read.
    assert_eq!(unsafe { C_Finalize(8 as *mut c_void) }, CKR_ARGUMENTS_BAD);
    // SAFETY: null is the valid argument.
    assert_eq!(unsafe { C_Finalize(null_mut()) }, CKR_OK);
    // SAFETY: null is the valid argument.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_Finalize(null_mut()) },
        CKR_CRYPTOKI_NOT_INITIALIZED
    );
    let mut count = 0;
    // SAFETY: valid count pointer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetSlotList(0, null_mut(), &mut count) },
        CKR_CRYPTOKI_NOT_INITIALIZED
    );

    // CKF_OS_LOCKING_OK without mutex functions is accepted.
    let mut args = CK_C_INITIALIZE_ARGS {
        CreateMutex: None,
        DestroyMutex: None,
        LockMutex: None,
        UnlockMutex: None,
        flags: CKF_OS_LOCKING_OK,
        pReserved: null_mut(),
    };
    // SAFETY: valid args.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_Initialize(&mut args as *mut _ as *mut c_void) },
        CKR_OK
    );
    // SAFETY: null is the valid argument.
    assert_eq!(unsafe { C_Finalize(null_mut()) }, CKR_OK);

    unsafe extern "C" fn create(_: *mut *mut c_void) -> CK_RV {
        CKR_OK
    }
    // Only some of the mutex functions: CKR_ARGUMENTS_BAD.
    args.CreateMutex = Some(create);
    // SAFETY: valid args.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_Initialize(&mut args as *mut _ as *mut c_void) },
        CKR_ARGUMENTS_BAD
    );
    drop(lab);
}

#[test]
fn interfaces_offer_3_2_3_0_and_2_40() {
    let _lab = Lab::new();
    let mut n = 0;
    // SAFETY: valid count pointer, null list = length query.
    assert_eq!(unsafe { C_GetInterfaceList(null_mut(), &mut n) }, CKR_OK);
    assert_eq!(n, 3);
    let mut list = vec![
        CK_INTERFACE {
            pInterfaceName: null_mut(),
            pFunctionList: null_mut(),
            flags: 0
        };
        3
    ];
    let mut short = 2;
    // SAFETY: a buffer of 3, announced as 2.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetInterfaceList(list.as_mut_ptr(), &mut short) },
        CKR_BUFFER_TOO_SMALL
    );
    // SAFETY: a buffer of 3.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetInterfaceList(list.as_mut_ptr(), &mut n) },
        CKR_OK
    );
    let versions: Vec<(u8, u8)> = list
        .iter()
        .map(|i| {
            // SAFETY: every listed interface points to a static list starting with its version.
            let v = unsafe { *(i.pFunctionList as *const CK_VERSION) };
            (v.major, v.minor)
        })
        .collect();
    assert_eq!(versions, [(3, 2), (3, 0), (2, 40)]);

    let mut iface: *mut CK_INTERFACE = null_mut();
    // SAFETY: null name and version ask for the default interface.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetInterface(null_mut(), null_mut(), &mut iface, 0) },
        CKR_OK
    );
    // SAFETY: the module returned a pointer to its static interface.
    let version = unsafe { *((*iface).pFunctionList as *const CK_VERSION) };
    assert_eq!((version.major, version.minor), (3, 2));
    // SAFETY: the 3.2 interface points to a static CK_FUNCTION_LIST_3_2.
    let fl = unsafe { &*((*iface).pFunctionList as *const CK_FUNCTION_LIST_3_2) };
    assert!(fl.C_LoginUser.is_some() && fl.C_SessionCancel.is_some());
    assert!(fl.C_EncapsulateKey.is_some() && fl.C_VerifySignature.is_some());
    assert!(fl.C_UnwrapKeyAuthenticated.is_some() && fl.C_AsyncJoin.is_some());

    let mut v240 = CK_VERSION {
        major: 2,
        minor: 40,
    };
    let name = b"PKCS 11\0";
    // SAFETY: valid name, version and out-pointer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetInterface(name.as_ptr() as *mut u8, &mut v240, &mut iface, 0) },
        CKR_OK
    );
    // SAFETY: as above.
    let version = unsafe { *((*iface).pFunctionList as *const CK_VERSION) };
    assert_eq!((version.major, version.minor), (2, 40));
    let other = b"Vendor\0";
    // SAFETY: valid name and out-pointer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetInterface(other.as_ptr() as *mut u8, null_mut(), &mut iface, 0) },
        CKR_ARGUMENTS_BAD
    );

    let mut fl: *mut CK_FUNCTION_LIST = null_mut();
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { C_GetFunctionList(&mut fl) }, CKR_OK);
    // SAFETY: the module's static list.
    let fl = unsafe { &*fl };
    assert_eq!((fl.version.major, fl.version.minor), (2, 40));
    assert!(fl.C_WaitForSlotEvent.is_some() && fl.C_DigestKey.is_some());
    // SAFETY: a null out-pointer is refused.
    assert_eq!(unsafe { C_GetFunctionList(null_mut()) }, CKR_ARGUMENTS_BAD);
}

#[test]
fn slot_list_uses_the_length_convention_and_tokens_require_login() {
    let _lab = Lab::new();
    let mut n = 0;
    // SAFETY: length query.
    assert_eq!(unsafe { C_GetSlotList(1, null_mut(), &mut n) }, CKR_OK);
    assert_eq!(n, 3);
    let mut ids = [0 as CK_SLOT_ID; 3];
    let mut short = 2;
    // SAFETY: a buffer of 3, announced as 2.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetSlotList(1, ids.as_mut_ptr(), &mut short) },
        CKR_BUFFER_TOO_SMALL
    );
    assert_eq!(short, 3);
    // SAFETY: a buffer of 3.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetSlotList(1, ids.as_mut_ptr(), &mut n) },
        CKR_OK
    );
    assert_eq!(ids, [0, 1, 2]);

    // SAFETY: CK_TOKEN_INFO is plain data; all-zero is a valid value to overwrite.
    let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { C_GetTokenInfo(0, &mut info) }, CKR_OK);
    assert_ne!(info.flags & CKF_LOGIN_REQUIRED, 0);
    assert_ne!(info.flags & CKF_TOKEN_INITIALIZED, 0);
    assert_ne!(info.flags & CKF_USER_PIN_INITIALIZED, 0);
    assert_eq!(&info.label[..14], b"hsmsim-default");
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { C_GetTokenInfo(1, &mut info) }, CKR_OK);
    assert_eq!(info.flags & CKF_TOKEN_INITIALIZED, 0);
    // SAFETY: valid out-pointer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetTokenInfo(77, &mut info) },
        CKR_SLOT_ID_INVALID
    );
    // SAFETY: null out-pointer.
    assert_eq!(unsafe { C_GetTokenInfo(0, null_mut()) }, CKR_ARGUMENTS_BAD);
}

#[test]
fn init_token_and_pin_then_login_rules() {
    let _lab = Lab::new();
    let label = *b"migration source                ";
    let so = b"so-secret";
    // SAFETY: valid PIN and 32-byte label.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe {
            C_InitToken(
                1,
                so.as_ptr() as *mut u8,
                so.len() as CK_ULONG,
                label.as_ptr() as *mut u8,
            )
        },
        CKR_OK
    );
    // A blank token cannot be used before C_InitToken; now it can.
    let s = open_session(1, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    // SAFETY: valid PIN while a session is open.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe {
            C_InitToken(
                1,
                so.as_ptr() as *mut u8,
                so.len() as CK_ULONG,
                label.as_ptr() as *mut u8,
            )
        },
        CKR_SESSION_EXISTS
    );
    assert_eq!(
        login(s, CKU_USER, b"whatever"),
        CKR_USER_PIN_NOT_INITIALIZED
    );
    assert_eq!(login(s, CKU_SO, so), CKR_OK);
    assert_eq!(login(s, CKU_SO, so), CKR_USER_ALREADY_LOGGED_IN);
    assert_eq!(login(s, CKU_USER, so), CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
    // SAFETY: valid PIN buffer; a 2-byte PIN is too short.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_InitPIN(s, b"12".as_ptr() as *mut u8, 2) },
        CKR_PIN_LEN_RANGE
    );
    // SAFETY: valid PIN buffer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_InitPIN(s, b"user-pin".as_ptr() as *mut u8, 8) },
        CKR_OK
    );
    // An R/O session cannot be opened while the SO is logged in.
    assert_eq!(
        open_session(1, CKF_SERIAL_SESSION),
        Err(CKR_SESSION_READ_WRITE_SO_EXISTS)
    );
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(logout(s), CKR_USER_NOT_LOGGED_IN);
    assert_eq!(login(s, CKU_USER, b"wrong-pin"), CKR_PIN_INCORRECT);
    assert_eq!(login(s, CKU_USER, b"user-pin"), CKR_OK);
    // SAFETY: CK_SESSION_INFO is plain data.
    let mut info: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { C_GetSessionInfo(s, &mut info) }, CKR_OK);
    assert_eq!(info.state, CKS_RW_USER_FUNCTIONS);
    // SAFETY: new and old PIN buffers are valid.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe {
            C_SetPIN(
                s,
                b"user-pin".as_ptr() as *mut u8,
                8,
                b"new-pin!".as_ptr() as *mut u8,
                8,
            )
        },
        CKR_OK
    );
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(login(s, CKU_USER, b"user-pin"), CKR_PIN_INCORRECT);
    assert_eq!(login(s, CKU_USER, b"new-pin!"), CKR_OK);
    assert_eq!(login(s, 42, b"new-pin!"), CKR_USER_TYPE_INVALID);
}

#[test]
fn wrong_pins_lock_the_user_and_the_lock_persists() {
    let lab = Lab::new();
    let s = open_session(0, CKF_SERIAL_SESSION).unwrap();
    for _ in 0..9 {
        assert_eq!(login(s, CKU_USER, b"bad-pin"), CKR_PIN_INCORRECT);
    }
    // SAFETY: CK_TOKEN_INFO is plain data.
    let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { C_GetTokenInfo(0, &mut info) }, CKR_OK);
    assert_ne!(info.flags & CKF_USER_PIN_FINAL_TRY, 0);
    assert_eq!(login(s, CKU_USER, b"bad-pin"), CKR_PIN_LOCKED);
    assert_eq!(login(s, CKU_USER, USER_PIN), CKR_PIN_LOCKED);
    lab.restart();
    let s = open_session(0, CKF_SERIAL_SESSION).unwrap();
    assert_eq!(login(s, CKU_USER, USER_PIN), CKR_PIN_LOCKED);
    // The SO unlocks by setting a new user PIN.
    let rw = open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(login(rw, CKU_SO, SO_PIN), CKR_SESSION_READ_ONLY_EXISTS);
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_CloseSession(s) }, CKR_OK);
    assert_eq!(login(rw, CKU_SO, SO_PIN), CKR_OK);
    // SAFETY: valid PIN buffer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_InitPIN(rw, USER_PIN.as_ptr() as *mut u8, USER_PIN.len() as CK_ULONG) },
        CKR_OK
    );
    assert_eq!(logout(rw), CKR_OK);
    assert_eq!(login(rw, CKU_USER, USER_PIN), CKR_OK);
}

#[test]
fn private_objects_are_invisible_before_login_and_token_objects_need_rw() {
    let lab = Lab::new();
    let s = lab.user_session();
    let data = |token, private| {
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, token)
            .bool(CKA_PRIVATE, private)
            .bytes(CKA_LABEL, b"note")
            .bytes(CKA_VALUE, b"hello")
    };
    let private = create(s, data(true, true)).unwrap();
    let public = create(s, data(true, false)).unwrap();
    assert_eq!(find(s, Template::new().bytes(CKA_LABEL, b"note")).len(), 2);
    let ro = open_session(0, CKF_SERIAL_SESSION).unwrap();
    assert_eq!(create(ro, data(true, false)), Err(CKR_SESSION_READ_ONLY));
    let session_object = create(ro, data(false, false)).unwrap();
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(
        find(s, Template::new().bytes(CKA_LABEL, b"note")),
        vec![public, session_object]
    );
    assert_eq!(
        get_attr(s, private, CKA_VALUE),
        Err((CKR_OBJECT_HANDLE_INVALID, 0))
    );
    assert_eq!(create(s, data(false, true)), Err(CKR_USER_NOT_LOGGED_IN));
    // Token objects survive a restart; session objects do not.
    lab.restart();
    let s = lab.user_session();
    assert_eq!(find(s, Template::new().bytes(CKA_LABEL, b"note")).len(), 2);
}

#[test]
fn get_attribute_value_follows_every_return_rule() {
    let lab = Lab::new();
    let s = lab.user_session();
    let o = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bytes(CKA_LABEL, b"label-x")
            .bytes(CKA_VALUE, b"0123456789"),
    )
    .unwrap();
    assert_eq!(get_attr(s, o, CKA_VALUE).unwrap(), b"0123456789");
    assert_eq!(
        get_attr(s, o, CKA_MODULUS),
        Err((CKR_ATTRIBUTE_TYPE_INVALID, CK_UNAVAILABLE_INFORMATION))
    );
    // A short buffer: CKR_BUFFER_TOO_SMALL and CK_UNAVAILABLE_INFORMATION in the length.
    let mut buf = [0u8; 4];
    let mut a = [
        CK_ATTRIBUTE {
            type_: CKA_VALUE,
            pValue: buf.as_mut_ptr() as *mut c_void,
            ulValueLen: 4,
        },
        CK_ATTRIBUTE {
            type_: CKA_LABEL,
            pValue: null_mut(),
            ulValueLen: 0,
        },
    ];
    // SAFETY: two valid attributes with their buffers.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetAttributeValue(s, o, a.as_mut_ptr(), 2) },
        CKR_BUFFER_TOO_SMALL
    );
    assert_eq!(a[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_eq!(a[1].ulValueLen, 7, "the other attribute is still processed");

    // A sensitive key value is never returned.
    let key = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
            .bytes(CKA_VALUE, &[9u8; 16])
            .bool(CKA_SENSITIVE, true),
    )
    .unwrap();
    assert_eq!(
        get_attr(s, key, CKA_VALUE),
        Err((CKR_ATTRIBUTE_SENSITIVE, CK_UNAVAILABLE_INFORMATION))
    );
    assert_eq!(
        get_attr(s, key, CKA_VALUE_LEN).unwrap(),
        16u64.to_ne_bytes()
    );
    assert_eq!(get_attr(s, key, CKA_LOCAL).unwrap(), [0]);
    assert_eq!(get_attr(s, key, CKA_ALWAYS_SENSITIVE).unwrap(), [0]);
    assert_eq!(get_attr(s, key, CKA_UNIQUE_ID).map(|v| v.len()), Ok(16));
    // SAFETY: unknown object handle.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetAttributeValue(s, 999_999, a.as_mut_ptr(), 1) },
        CKR_OBJECT_HANDLE_INVALID
    );
}

#[test]
fn templates_with_wrong_types_sizes_or_contradictions_are_refused() {
    let lab = Lab::new();
    let s = lab.user_session();
    let base = || {
        Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
    };
    assert_eq!(create(s, base()), Err(CKR_TEMPLATE_INCOMPLETE));
    assert_eq!(
        create(
            s,
            base().bytes(CKA_VALUE, &[1; 16]).bytes(CKA_TOKEN, &[1, 0])
        ),
        Err(CKR_ATTRIBUTE_VALUE_INVALID)
    );
    assert_eq!(
        create(s, base().bytes(CKA_VALUE, &[1; 16]).bool(CKA_LOCAL, true)),
        Err(CKR_ATTRIBUTE_READ_ONLY)
    );
    assert_eq!(
        create(
            s,
            base().bytes(CKA_VALUE, &[1; 16]).bytes(CKA_MODULUS, &[1])
        ),
        Err(CKR_TEMPLATE_INCONSISTENT)
    );
    assert_eq!(
        create(s, base().bytes(CKA_VALUE, &[1; 16]).ulong(0x7FFF_0001, 1)),
        Err(CKR_ATTRIBUTE_TYPE_INVALID)
    );
    assert_eq!(
        create(
            s,
            base()
                .bytes(CKA_VALUE, &[1; 16])
                .bool(CKA_TOKEN, true)
                .bool(CKA_TOKEN, false)
        ),
        Err(CKR_TEMPLATE_INCONSISTENT)
    );
    assert_eq!(
        create(s, Template::new().bytes(CKA_LABEL, b"x")),
        Err(CKR_TEMPLATE_INCOMPLETE)
    );
    assert_eq!(
        create(s, Template::new().ulong(CKA_CLASS, 0x1234)),
        Err(CKR_ATTRIBUTE_VALUE_INVALID)
    );
    // A null template pointer with a count is a bad argument; a null out-pointer too.
    let mut h = 0;
    // SAFETY: a null template with count 2 is refused without being read.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_CreateObject(s, null_mut(), 2, &mut h) },
        CKR_ARGUMENTS_BAD
    );
    // Nothing half-made: no secret key exists.
    assert!(find(s, Template::new().ulong(CKA_CLASS, CKO_SECRET_KEY)).is_empty());
}

#[test]
fn set_copy_destroy_honour_the_attribute_rules() {
    let lab = Lab::new();
    let s = lab.user_session();
    let key = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
            .bytes(CKA_VALUE, &[3u8; 32])
            .bool(CKA_EXTRACTABLE, true)
            .bool(CKA_SENSITIVE, false),
    )
    .unwrap();
    let set = |o, mut t: Template| {
        let mut raw = t.raw();
        // SAFETY: a valid template.
        unsafe { C_SetAttributeValue(s, o, raw.as_mut_ptr(), raw.len() as CK_ULONG) }
    };
    assert_eq!(
        set(key, Template::new().bytes(CKA_LABEL, b"renamed")),
        CKR_OK
    );
    assert_eq!(get_attr(s, key, CKA_LABEL).unwrap(), b"renamed");
    assert_eq!(set(key, Template::new().bool(CKA_SENSITIVE, true)), CKR_OK);
    assert_eq!(
        set(key, Template::new().bool(CKA_SENSITIVE, false)),
        CKR_ATTRIBUTE_READ_ONLY
    );
    assert_eq!(
        set(key, Template::new().bool(CKA_EXTRACTABLE, false)),
        CKR_OK
    );
    assert_eq!(
        set(key, Template::new().bool(CKA_EXTRACTABLE, true)),
        CKR_ATTRIBUTE_READ_ONLY
    );
    assert_eq!(
        set(key, Template::new().bytes(CKA_VALUE, &[0; 32])),
        CKR_ATTRIBUTE_READ_ONLY
    );
    assert_eq!(
        set(key, Template::new().ulong(CKA_KEY_TYPE, CKK_DES3)),
        CKR_ATTRIBUTE_READ_ONLY
    );
    assert_eq!(
        set(key, Template::new().bool(CKA_TRUSTED, true)),
        CKR_ATTRIBUTE_READ_ONLY,
        "only the SO may trust"
    );
    // The key stays sensitive; CKA_ALWAYS_SENSITIVE stays false.
    assert_eq!(get_attr(s, key, CKA_ALWAYS_SENSITIVE).unwrap(), [0]);

    let mut copy = 0;
    let mut t = Template::new()
        .bool(CKA_TOKEN, true)
        .bytes(CKA_LABEL, b"copy");
    let mut raw = t.raw();
    // SAFETY: a valid template and out-pointer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_CopyObject(s, key, raw.as_mut_ptr(), raw.len() as CK_ULONG, &mut copy) },
        CKR_OK
    );
    assert_eq!(get_attr(s, copy, CKA_TOKEN).unwrap(), [1]);
    assert_ne!(
        get_attr(s, copy, CKA_UNIQUE_ID),
        get_attr(s, key, CKA_UNIQUE_ID)
    );

    let fixed = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_MODIFIABLE, false)
            .bool(CKA_COPYABLE, false)
            .bool(CKA_DESTROYABLE, false),
    )
    .unwrap();
    assert_eq!(
        set(fixed, Template::new().bytes(CKA_LABEL, b"x")),
        CKR_ACTION_PROHIBITED
    );
    let mut raw: Vec<CK_ATTRIBUTE> = Vec::new();
    // SAFETY: an empty template and a valid out-pointer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_CopyObject(s, fixed, raw.as_mut_ptr(), 0, &mut copy) },
        CKR_ACTION_PROHIBITED
    );
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_DestroyObject(s, fixed) }, CKR_ACTION_PROHIBITED);
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_DestroyObject(s, key) }, CKR_OK);
    // SAFETY: no pointers.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_DestroyObject(s, key) },
        CKR_OBJECT_HANDLE_INVALID
    );
}

#[test]
fn sessions_close_and_take_their_objects_with_them() {
    let lab = Lab::new();
    let s = lab.user_session();
    let other = open_session(0, CKF_SERIAL_SESSION).unwrap();
    let o = create(
        other,
        Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bytes(CKA_LABEL, b"temp"),
    )
    .unwrap();
    assert_eq!(find(s, Template::new().bytes(CKA_LABEL, b"temp")), vec![o]);
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_CloseSession(other) }, CKR_OK);
    assert!(find(s, Template::new().bytes(CKA_LABEL, b"temp")).is_empty());
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_CloseSession(other) }, CKR_SESSION_HANDLE_INVALID);
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_CloseAllSessions(0) }, CKR_OK);
    assert_eq!(open_session(0, 0), Err(CKR_SESSION_PARALLEL_NOT_SUPPORTED));
    assert_eq!(
        open_session(1, CKF_SERIAL_SESSION),
        Err(CKR_TOKEN_NOT_RECOGNIZED)
    );
    let s = open_session(0, CKF_SERIAL_SESSION).unwrap();
    // Closing the last session logged the user out.
    assert_eq!(logout(s), CKR_USER_NOT_LOGGED_IN);
}

#[test]
fn find_needs_init_and_refuses_a_second_init() {
    let lab = Lab::new();
    let s = lab.user_session();
    let mut n = 0;
    let mut h = [0; 1];
    // SAFETY: valid buffers.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_FindObjects(s, h.as_mut_ptr(), 1, &mut n) },
        CKR_OPERATION_NOT_INITIALIZED
    );
    // SAFETY: an empty template.
    assert_eq!(unsafe { C_FindObjectsInit(s, null_mut(), 0) }, CKR_OK);
    // SAFETY: an empty template.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_FindObjectsInit(s, null_mut(), 0) },
        CKR_OPERATION_ACTIVE
    );
    // SAFETY: null count pointer is refused.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_FindObjects(s, h.as_mut_ptr(), 1, null_mut()) },
        CKR_ARGUMENTS_BAD
    );
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_FindObjectsFinal(s) }, CKR_OK);
    // SAFETY: no pointers.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_FindObjectsFinal(s) },
        CKR_OPERATION_NOT_INITIALIZED
    );
}

#[test]
fn unsupported_functions_say_so_and_random_works() {
    let lab = Lab::new();
    let s = lab.user_session();
    let mut len = 0;
    // SAFETY: valid length pointer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetOperationState(s, null_mut(), &mut len) },
        CKR_FUNCTION_NOT_SUPPORTED
    );
    assert_eq!(C_MessageSignFinal(s), CKR_FUNCTION_NOT_SUPPORTED);
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    // SAFETY: valid buffers.
    assert_eq!(unsafe { C_GenerateRandom(s, a.as_mut_ptr(), 32) }, CKR_OK);
    // SAFETY: valid buffers.
    assert_eq!(unsafe { C_GenerateRandom(s, b.as_mut_ptr(), 32) }, CKR_OK);
    assert_ne!(a, b);
    // SAFETY: a null buffer with a length is refused.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GenerateRandom(s, null_mut(), 8) },
        CKR_ARGUMENTS_BAD
    );
    let mut slot = 0;
    // SAFETY: valid out-pointer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_WaitForSlotEvent(CKF_DONT_BLOCK, &mut slot, null_mut()) },
        CKR_NO_EVENT
    );
    let mut mi = CK_MECHANISM_INFO {
        ulMinKeySize: 0,
        ulMaxKeySize: 0,
        flags: 0,
    };
    // SAFETY: valid out-pointer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetMechanismInfo(0, CKM_RSA_PKCS_KEY_PAIR_GEN, &mut mi) },
        CKR_OK
    );
    assert_eq!((mi.ulMinKeySize, mi.ulMaxKeySize), (1024, 4096));
    // SAFETY: valid out-pointer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetMechanismInfo(0, 0x7777_7777, &mut mi) },
        CKR_MECHANISM_INVALID
    );
}

#[test]
fn a_lab_file_gives_each_host_its_slots_and_a_broken_one_is_refused() {
    let lab = Lab::new();
    let conf = lab.dir.path().join("lab.toml");
    std::fs::write(
        &conf,
        r#"
[lab]
name = "two hosts"

[[device]]
name = "old"
kind = "luna-pcie"
  [[device.partition]]
  name = "src"
  label = "source"
  so_pin = "so-pin-1"
  user_pin = "user-pin-1"

[[device]]
name = "backup"
kind = "luna-backup"
  [[device.partition]]
  name = "b"

[[host]]
name = "old-host"
slot = [{ id = 0, partition = "old/src" }, { id = 2, partition = "backup/b" }]

[[host]]
name = "new-host"
slot = [{ id = 5, partition = "backup/b" }]
"#,
    )
    .unwrap();
    lab.set_env("HSMSIM_CONF", conf.to_str().unwrap());
    lab.set_env("HSMSIM_HOST", "old-host");
    lab.restart();
    let mut ids = [0 as CK_SLOT_ID; 4];
    let mut n = 4;
    // SAFETY: a buffer of 4.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetSlotList(1, ids.as_mut_ptr(), &mut n) },
        CKR_OK
    );
    assert_eq!(&ids[..n as usize], &[0, 2]);
    let s = open_session(0, CKF_SERIAL_SESSION).unwrap();
    assert_eq!(login(s, CKU_USER, b"user-pin-1"), CKR_OK);

    // The backup partition, initialised through old-host's slot 2, is the same token that
    // new-host sees at slot 5: tokens belong to partitions, slot ids to a host's view.
    let label = *b"backup                          ";
    // SAFETY: valid PIN and 32-byte label.
    let rv = unsafe {
        C_InitToken(
            2,
            b"so-pin-2".as_ptr() as *mut u8,
            8,
            label.as_ptr() as *mut u8,
        )
    };
    assert_eq!(rv, CKR_OK);
    lab.set_env("HSMSIM_HOST", "new-host");
    lab.restart();
    let mut n = 4;
    // SAFETY: a buffer of 4.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetSlotList(1, ids.as_mut_ptr(), &mut n) },
        CKR_OK
    );
    assert_eq!(&ids[..n as usize], &[5]);
    // SAFETY: CK_TOKEN_INFO is plain data.
    let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { C_GetTokenInfo(5, &mut info) }, CKR_OK);
    assert_eq!(&info.label[..6], b"backup");

    lab.set_env("HSMSIM_HOST", "nobody");
    // SAFETY: null is the valid argument.
    assert_eq!(unsafe { C_Finalize(null_mut()) }, CKR_OK);
    // SAFETY: null requests default locking.
    assert_eq!(unsafe { C_Initialize(null_mut()) }, CKR_DEVICE_ERROR);
    lab.set_env("HSMSIM_HOST", "new-host");
    std::fs::write(&conf, "[lab]\nname = 3\n").unwrap();
    // SAFETY: null requests default locking.
    assert_eq!(unsafe { C_Initialize(null_mut()) }, CKR_DEVICE_ERROR);
}
