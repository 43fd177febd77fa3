//! The attribute rules through the C ABI, on every path that takes a template (create,
//! generate, generate pair, unwrap, derive, copy, set): `CKA_TRUSTED` only set by the SO, the
//! one-way and never-settable attributes, `CKA_ALLOWED_MECHANISMS` and `CKA_KEY_GEN_MECHANISM`
//! on every key, key values of the right size for their key type, and the token's read-only
//! `CKO_PROFILE` objects.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::ptr::null_mut;

/// A R/W session on slot 0 logged in as the SO.
fn so_session() -> CK_SESSION_HANDLE {
    let s = open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(login(s, CKU_SO, SO_PIN), CKR_OK);
    s
}

fn set(s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, mut t: Template) -> CK_RV {
    let mut raw = t.raw();
    // SAFETY: a valid template.
    unsafe { C_SetAttributeValue(s, o, raw.as_mut_ptr(), raw.len() as CK_ULONG) }
}

fn copy(
    s: CK_SESSION_HANDLE,
    o: CK_OBJECT_HANDLE,
    mut t: Template,
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut raw = t.raw();
    let mut h = 0;
    // SAFETY: a valid template and out-pointer.
    let rv = unsafe { C_CopyObject(s, o, raw.as_mut_ptr(), raw.len() as CK_ULONG, &mut h) };
    if rv == CKR_OK { Ok(h) } else { Err(rv) }
}

fn destroy(s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE) -> CK_RV {
    // SAFETY: no pointers.
    unsafe { C_DestroyObject(s, o) }
}

fn wrap(
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_TYPE,
    wrapping: CK_OBJECT_HANDLE,
    key: CK_OBJECT_HANDLE,
) -> Result<Vec<u8>, CK_RV> {
    let mut mm = mech(m);
    let mut len = 0;
    // SAFETY: a valid mechanism; a null output asks for the length.
    let rv = unsafe { C_WrapKey(s, &mut mm, wrapping, key, null_mut(), &mut len) };
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut out = vec![0u8; len as usize];
    // SAFETY: the buffer holds `len` bytes.
    let rv = unsafe { C_WrapKey(s, &mut mm, wrapping, key, out.as_mut_ptr(), &mut len) };
    if rv != CKR_OK {
        return Err(rv);
    }
    out.truncate(len as usize);
    Ok(out)
}

fn unwrap(
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_TYPE,
    unwrapping: CK_OBJECT_HANDLE,
    wrapped: &[u8],
    mut t: Template,
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut mm = mech(m);
    let mut raw = t.raw();
    let mut h = 0;
    // SAFETY: valid mechanism, wrapped buffer, template and out-pointer.
    let rv = unsafe {
        C_UnwrapKey(
            s,
            &mut mm,
            unwrapping,
            wrapped.as_ptr() as *mut u8,
            wrapped.len() as CK_ULONG,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            &mut h,
        )
    };
    if rv == CKR_OK { Ok(h) } else { Err(rv) }
}

/// `CKM_CONCATENATE_BASE_AND_DATA` of `base` and `data`.
fn derive(
    s: CK_SESSION_HANDLE,
    base: CK_OBJECT_HANDLE,
    data: &[u8],
    mut t: Template,
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut data = data.to_vec();
    let mut p = CK_KEY_DERIVATION_STRING_DATA {
        pData: data.as_mut_ptr(),
        ulLen: data.len() as CK_ULONG,
    };
    let mut m = mech_with(CKM_CONCATENATE_BASE_AND_DATA, &mut p);
    let mut raw = t.raw();
    let mut h = 0;
    // SAFETY: valid mechanism (parameter alive), template and out-pointer.
    let rv = unsafe {
        C_DeriveKey(
            s,
            &mut m,
            base,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            &mut h,
        )
    };
    if rv == CKR_OK { Ok(h) } else { Err(rv) }
}

fn secret(key_type: CK_KEY_TYPE, value: &[u8]) -> Template {
    Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, key_type)
        .bytes(CKA_VALUE, value)
}

fn certificate() -> Template {
    Template::new()
        .ulong(CKA_CLASS, CKO_CERTIFICATE)
        .ulong(CKA_CERTIFICATE_TYPE, CKC_X_509)
        .bytes(CKA_SUBJECT, b"0\x0b1\t0\x07\x06\x03U\x04\x03\x0c\x00")
        .bytes(CKA_VALUE, b"not parsed")
}

fn ec_pair(
    s: CK_SESSION_HANDLE,
    public: Template,
) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE), CK_RV> {
    generate_key_pair(
        s,
        CKM_EC_KEY_PAIR_GEN,
        public.bytes(CKA_EC_PARAMS, P256),
        Template::new(),
    )
}

fn ulong(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

/// How many objects this session sees.
fn count(s: CK_SESSION_HANDLE) -> usize {
    find(s, Template::new()).len()
}

// ---- Item 2: CKA_TRUSTED is the SO's, on every path ----

#[test]
fn a_user_cannot_create_a_trusted_object() {
    let lab = Lab::new();
    let s = lab.user_session();
    let before = count(s);
    assert_eq!(
        create(s, secret(CKK_AES, &[1; 16]).bool(CKA_TRUSTED, true)),
        Err(CKR_ATTRIBUTE_READ_ONLY)
    );
    assert_eq!(
        create(s, certificate().bool(CKA_TRUSTED, true)),
        Err(CKR_ATTRIBUTE_READ_ONLY)
    );
    assert_eq!(count(s), before, "nothing was made");
    // FALSE is anyone's to give.
    let k = create(s, secret(CKK_AES, &[1; 16]).bool(CKA_TRUSTED, false)).unwrap();
    assert_eq!(get_attr(s, k, CKA_TRUSTED).unwrap(), [0]);
}

#[test]
fn a_user_cannot_generate_a_trusted_key() {
    let lab = Lab::new();
    let s = lab.user_session();
    let before = count(s);
    assert_eq!(
        generate_key(
            s,
            CKM_AES_KEY_GEN,
            Template::new()
                .ulong(CKA_VALUE_LEN, 32)
                .bool(CKA_TRUSTED, true)
        ),
        Err(CKR_ATTRIBUTE_READ_ONLY)
    );
    assert_eq!(count(s), before, "no key was made");
}

#[test]
fn a_user_cannot_generate_a_trusted_key_pair() {
    let lab = Lab::new();
    let s = lab.user_session();
    let before = count(s);
    assert_eq!(
        ec_pair(s, Template::new().bool(CKA_TRUSTED, true)),
        Err(CKR_ATTRIBUTE_READ_ONLY)
    );
    assert_eq!(count(s), before, "neither key was made");
}

#[test]
fn a_user_cannot_unwrap_a_trusted_key() {
    let lab = Lab::new();
    let s = lab.user_session();
    let kek = aes_key(s, |t| t);
    let target = aes_key(s, |t| t.bool(CKA_EXTRACTABLE, true));
    let blob = wrap(s, CKM_AES_KEY_WRAP, kek, target).unwrap();
    let before = count(s);
    let as_aes = || {
        Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
    };
    assert_eq!(
        unwrap(
            s,
            CKM_AES_KEY_WRAP,
            kek,
            &blob,
            as_aes().bool(CKA_TRUSTED, true)
        ),
        Err(CKR_ATTRIBUTE_READ_ONLY)
    );
    // Nor through an unwrapping key whose CKA_UNWRAP_TEMPLATE asks for it.
    let trusted = true as u8;
    let mut inner = [CK_ATTRIBUTE {
        type_: CKA_TRUSTED,
        pValue: &trusted as *const u8 as *mut std::ffi::c_void,
        ulValueLen: 1,
    }];
    let mut t = Template::new()
        .ulong(CKA_VALUE_LEN, 32)
        .bytes(CKA_LABEL, b"kek with a template");
    let mut raw = t.raw();
    raw.push(CK_ATTRIBUTE {
        type_: CKA_UNWRAP_TEMPLATE,
        pValue: inner.as_mut_ptr() as *mut std::ffi::c_void,
        ulValueLen: size_of_val(&inner) as CK_ULONG,
    });
    let mut mm = mech(CKM_AES_KEY_GEN);
    let mut templated = 0;
    // SAFETY: a valid mechanism, template (the nested array outlives the call) and out-pointer.
    let rv = unsafe {
        C_GenerateKey(
            s,
            &mut mm,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            &mut templated,
        )
    };
    assert_eq!(rv, CKR_OK);
    let blob = wrap(s, CKM_AES_KEY_WRAP, templated, target).unwrap();
    let before_templated = count(s);
    assert_eq!(
        unwrap(s, CKM_AES_KEY_WRAP, templated, &blob, as_aes()),
        Err(CKR_ATTRIBUTE_READ_ONLY)
    );
    assert_eq!(count(s), before_templated);
    assert_eq!(before + 1, before_templated, "no key was unwrapped");
    // Without TRUSTED the unwrap works.
    let k = unwrap(
        s,
        CKM_AES_KEY_WRAP,
        kek,
        &wrap(s, CKM_AES_KEY_WRAP, kek, target).unwrap(),
        as_aes(),
    )
    .unwrap();
    assert_eq!(get_attr(s, k, CKA_TRUSTED).unwrap(), [0]);
}

#[test]
fn a_user_cannot_derive_a_trusted_key() {
    let lab = Lab::new();
    let s = lab.user_session();
    let base = create(
        s,
        secret(CKK_GENERIC_SECRET, &[7; 16]).bool(CKA_DERIVE, true),
    )
    .unwrap();
    let before = count(s);
    assert_eq!(
        derive(
            s,
            base,
            &[1; 16],
            Template::new()
                .ulong(CKA_CLASS, CKO_SECRET_KEY)
                .ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
                .bool(CKA_TRUSTED, true)
        ),
        Err(CKR_ATTRIBUTE_READ_ONLY)
    );
    assert_eq!(count(s), before, "no key was derived");
}

#[test]
fn a_user_cannot_copy_or_set_trusted_true() {
    let lab = Lab::new();
    let s = lab.user_session();
    let k = create(s, secret(CKK_AES, &[1; 16])).unwrap();
    let c = create(s, certificate()).unwrap();
    for o in [k, c] {
        assert_eq!(
            copy(s, o, Template::new().bool(CKA_TRUSTED, true)),
            Err(CKR_ATTRIBUTE_READ_ONLY)
        );
        assert_eq!(
            set(s, o, Template::new().bool(CKA_TRUSTED, true)),
            CKR_ATTRIBUTE_READ_ONLY
        );
        assert_eq!(get_attr(s, o, CKA_TRUSTED).unwrap(), [0]);
    }
}

#[test]
fn the_so_trusts_public_objects_and_the_user_may_only_clear_it() {
    let lab = Lab::new();
    // The SO may create public objects with CKA_TRUSTED true, not private ones.
    let so = so_session();
    let public_kek = |t: Template| t.bool(CKA_PRIVATE, false).bool(CKA_TOKEN, true);
    let trusted = create(
        so,
        public_kek(secret(CKK_AES, &[4; 32])).bool(CKA_TRUSTED, true),
    )
    .unwrap();
    assert_eq!(get_attr(so, trusted, CKA_TRUSTED).unwrap(), [1]);
    assert_eq!(
        create(so, secret(CKK_AES, &[4; 32]).bool(CKA_TRUSTED, true)),
        Err(CKR_USER_NOT_LOGGED_IN),
        "an SO session cannot create private objects"
    );
    let generated = generate_key(
        so,
        CKM_AES_KEY_GEN,
        public_kek(Template::new().ulong(CKA_VALUE_LEN, 16)).bool(CKA_TRUSTED, true),
    )
    .unwrap();
    assert_eq!(get_attr(so, generated, CKA_TRUSTED).unwrap(), [1]);
    let cert = create(
        so,
        certificate().bool(CKA_TOKEN, true).bool(CKA_TRUSTED, true),
    )
    .unwrap();
    assert_eq!(get_attr(so, cert, CKA_TRUSTED).unwrap(), [1]);
    assert_eq!(logout(so), CKR_OK);

    // The trusted key wraps a CKA_WRAP_WITH_TRUSTED key; an untrusted one may not.
    let user = lab.user_session();
    let guarded = aes_key(user, |t| {
        t.bool(CKA_EXTRACTABLE, true)
            .bool(CKA_WRAP_WITH_TRUSTED, true)
    });
    assert!(wrap(user, CKM_AES_KEY_WRAP, trusted, guarded).is_ok());
    let untrusted = aes_key(user, |t| t);
    assert_eq!(
        wrap(user, CKM_AES_KEY_WRAP, untrusted, guarded),
        Err(CKR_KEY_NOT_WRAPPABLE)
    );
    // The user cannot set it again, even to the value it has.
    assert_eq!(
        set(user, trusted, Template::new().bool(CKA_TRUSTED, true)),
        CKR_ATTRIBUTE_READ_ONLY
    );
    // A user's copy keeps the SO's trust (the same key), but cannot ask for it.
    let kept = copy(user, trusted, Template::new().bytes(CKA_LABEL, b"copy")).unwrap();
    assert_eq!(get_attr(user, kept, CKA_TRUSTED).unwrap(), [1]);
    // Clearing is allowed (simulator-defined, as SoftHSMv2: only setting TRUE is the SO's).
    assert_eq!(
        set(user, trusted, Template::new().bool(CKA_TRUSTED, false)),
        CKR_OK
    );
    assert_eq!(get_attr(user, trusted, CKA_TRUSTED).unwrap(), [0]);
    assert_eq!(
        set(user, trusted, Template::new().bool(CKA_TRUSTED, true)),
        CKR_ATTRIBUTE_READ_ONLY
    );
    assert_eq!(
        wrap(user, CKM_AES_KEY_WRAP, trusted, guarded),
        Err(CKR_KEY_NOT_WRAPPABLE)
    );
    // The SO sets it on an existing public object.
    assert_eq!(logout(user), CKR_OK);
    let so = so_session();
    assert_eq!(
        set(so, trusted, Template::new().bool(CKA_TRUSTED, true)),
        CKR_OK
    );
    assert_eq!(get_attr(so, trusted, CKA_TRUSTED).unwrap(), [1]);
}

// ---- The other one-way and never-settable attributes ----

#[test]
fn one_way_attributes_move_only_their_way_on_set_and_copy() {
    let lab = Lab::new();
    let s = lab.user_session();
    let k = create(
        s,
        secret(CKK_AES, &[1; 16])
            .bool(CKA_SENSITIVE, false)
            .bool(CKA_EXTRACTABLE, true)
            .bool(CKA_WRAP_WITH_TRUSTED, false),
    )
    .unwrap();
    // Only to TRUE: CKA_SENSITIVE, CKA_WRAP_WITH_TRUSTED. Only to FALSE: CKA_EXTRACTABLE,
    // CKA_COPYABLE.
    for (attr, allowed) in [
        (CKA_SENSITIVE, true),
        (CKA_WRAP_WITH_TRUSTED, true),
        (CKA_EXTRACTABLE, false),
    ] {
        let c = copy(s, k, Template::new().bool(attr, allowed)).unwrap();
        assert_eq!(
            get_attr(s, c, attr).map_err(|e| e.0),
            Ok(vec![allowed as u8])
        );
        assert_eq!(
            copy(s, c, Template::new().bool(attr, !allowed)),
            Err(CKR_ATTRIBUTE_READ_ONLY),
            "copy back of 0x{attr:X}"
        );
        assert_eq!(set(s, k, Template::new().bool(attr, allowed)), CKR_OK);
        assert_eq!(
            set(s, k, Template::new().bool(attr, !allowed)),
            CKR_ATTRIBUTE_READ_ONLY,
            "set back of 0x{attr:X}"
        );
        // Giving the value it already has is no change.
        assert_eq!(set(s, k, Template::new().bool(attr, allowed)), CKR_OK);
    }
    // CKA_ALWAYS_SENSITIVE / CKA_NEVER_EXTRACTABLE keep the history.
    assert_eq!(get_attr(s, k, CKA_ALWAYS_SENSITIVE).unwrap(), [0]);
    assert_eq!(get_attr(s, k, CKA_NEVER_EXTRACTABLE).unwrap(), [0]);

    let d = create(s, Template::new().ulong(CKA_CLASS, CKO_DATA)).unwrap();
    assert_eq!(set(s, d, Template::new().bool(CKA_COPYABLE, false)), CKR_OK);
    assert_eq!(
        set(s, d, Template::new().bool(CKA_COPYABLE, true)),
        CKR_ATTRIBUTE_READ_ONLY
    );
    assert_eq!(copy(s, d, Template::new()), Err(CKR_ACTION_PROHIBITED));
    // CKA_DESTROYABLE may be changed; false prohibits C_DestroyObject.
    assert_eq!(
        set(s, d, Template::new().bool(CKA_DESTROYABLE, false)),
        CKR_OK
    );
    assert_eq!(destroy(s, d), CKR_ACTION_PROHIBITED);
    assert_eq!(
        set(s, d, Template::new().bool(CKA_DESTROYABLE, true)),
        CKR_OK
    );
    assert_eq!(destroy(s, d), CKR_OK);
}

#[test]
fn copy_only_attributes_are_read_only_to_set_and_modifiable_only_goes_false() {
    let lab = Lab::new();
    let s = lab.user_session();
    let d = create(s, Template::new().ulong(CKA_CLASS, CKO_DATA)).unwrap();
    // Even to the value they have (PKCS#11: read-only attributes cannot be set at all).
    for (attr, value) in [
        (CKA_TOKEN, false),
        (CKA_PRIVATE, false),
        (CKA_MODIFIABLE, true),
    ] {
        assert_eq!(
            set(s, d, Template::new().bool(attr, value)),
            CKR_ATTRIBUTE_READ_ONLY,
            "0x{attr:X}"
        );
    }
    let fixed = copy(s, d, Template::new().bool(CKA_MODIFIABLE, false)).unwrap();
    assert_eq!(get_attr(s, fixed, CKA_MODIFIABLE).unwrap(), [0]);
    assert_eq!(
        copy(s, fixed, Template::new().bool(CKA_MODIFIABLE, true)),
        Err(CKR_ATTRIBUTE_READ_ONLY)
    );
    assert_eq!(
        set(s, fixed, Template::new().bytes(CKA_LABEL, b"x")),
        CKR_ACTION_PROHIBITED
    );
    let on_token = copy(s, d, Template::new().bool(CKA_TOKEN, true)).unwrap();
    assert_eq!(get_attr(s, on_token, CKA_TOKEN).unwrap(), [1]);
}

#[test]
fn token_set_attributes_are_never_settable_even_to_their_value() {
    let lab = Lab::new();
    let s = lab.user_session();
    let generated = aes_key(s, |t| t);
    let made = create(s, secret(CKK_AES, &[2; 16])).unwrap();
    let never = [
        CKA_LOCAL,
        CKA_ALWAYS_SENSITIVE,
        CKA_NEVER_EXTRACTABLE,
        CKA_KEY_GEN_MECHANISM,
        CKA_UNIQUE_ID,
        CKA_CLASS,
        CKA_KEY_TYPE,
        CKA_VALUE_LEN,
    ];
    for o in [generated, made] {
        for attr in never {
            let current = get_attr(s, o, attr).unwrap();
            assert_eq!(
                set(s, o, Template::new().bytes(attr, &current)),
                CKR_ATTRIBUTE_READ_ONLY,
                "C_SetAttributeValue of 0x{attr:X} to its own value"
            );
            assert_eq!(
                copy(s, o, Template::new().bytes(attr, &current)),
                Err(CKR_ATTRIBUTE_READ_ONLY),
                "C_CopyObject of 0x{attr:X} to its own value"
            );
        }
    }
    // No path that makes a key takes them from the caller.
    for (attr, value) in [
        (CKA_LOCAL, vec![1]),
        (CKA_ALWAYS_SENSITIVE, vec![1]),
        (CKA_NEVER_EXTRACTABLE, vec![1]),
        (CKA_KEY_GEN_MECHANISM, ulong(CKM_AES_KEY_GEN)),
        (CKA_UNIQUE_ID, b"0123456789abcdef".to_vec()),
    ] {
        assert_eq!(
            create(s, secret(CKK_AES, &[2; 16]).bytes(attr, &value)),
            Err(CKR_ATTRIBUTE_READ_ONLY),
            "C_CreateObject with 0x{attr:X}"
        );
        assert_eq!(
            generate_key(
                s,
                CKM_AES_KEY_GEN,
                Template::new().ulong(CKA_VALUE_LEN, 16).bytes(attr, &value)
            ),
            Err(CKR_ATTRIBUTE_READ_ONLY),
            "C_GenerateKey with 0x{attr:X}"
        );
    }
}

// ---- Item 9: CKA_ALLOWED_MECHANISMS on every key ----

#[test]
fn allowed_mechanisms_never_set_is_an_empty_list_on_every_key() {
    let lab = Lab::new();
    let s = lab.user_session();
    let created = create(s, secret(CKK_AES, &[3; 16]).bool(CKA_DERIVE, true)).unwrap();
    let generated = aes_key(s, |t| t.bool(CKA_EXTRACTABLE, true));
    let (public, private) = ec_pair(s, Template::new()).unwrap();
    let (rsa_public, rsa_private) = rsa_pair(s, 2048);
    let blob = wrap(s, CKM_AES_KEY_WRAP, generated, created).unwrap();
    let unwrapped = unwrap(
        s,
        CKM_AES_KEY_WRAP,
        generated,
        &blob,
        Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES),
    )
    .unwrap();
    let derived = derive(
        s,
        created,
        &[0; 8],
        Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES),
    )
    .unwrap();
    for k in [
        created,
        generated,
        public,
        private,
        rsa_public,
        rsa_private,
        unwrapped,
        derived,
    ] {
        assert_eq!(
            get_attr(s, k, CKA_ALLOWED_MECHANISMS),
            Ok(Vec::new()),
            "key {k}: CKR_OK with ulValueLen 0"
        );
        // And it restricts nothing: the empty list matches in a search too.
        assert!(
            find(s, Template::new().bytes(CKA_ALLOWED_MECHANISMS, &[])).contains(&k),
            "key {k}"
        );
    }
    // A list that was given is kept.
    let only = aes_key(s, |t| t.bytes(CKA_ALLOWED_MECHANISMS, &ulong(CKM_AES_GCM)));
    assert_eq!(
        get_attr(s, only, CKA_ALLOWED_MECHANISMS),
        Ok(ulong(CKM_AES_GCM))
    );
    // Token keys keep it across a restart.
    let token = aes_key(s, |t| {
        t.bool(CKA_TOKEN, true).bytes(CKA_LABEL, b"persisted")
    });
    let _ = token;
    lab.restart();
    let s = lab.user_session();
    let token = find(s, Template::new().bytes(CKA_LABEL, b"persisted"));
    assert_eq!(
        get_attr(s, token[0], CKA_ALLOWED_MECHANISMS),
        Ok(Vec::new())
    );
}

// ---- Item 12: CKA_KEY_GEN_MECHANISM on every key ----

#[test]
fn key_gen_mechanism_is_unavailable_information_on_keys_the_token_did_not_generate() {
    let lab = Lab::new();
    let s = lab.user_session();
    let created = create(s, secret(CKK_AES, &[3; 16]).bool(CKA_DERIVE, true)).unwrap();
    let generated = aes_key(s, |t| t);
    let (public, private) = ec_pair(s, Template::new()).unwrap();
    let blob = wrap(s, CKM_AES_KEY_WRAP, generated, created).unwrap();
    let as_aes = || {
        Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
    };
    let unwrapped = unwrap(s, CKM_AES_KEY_WRAP, generated, &blob, as_aes()).unwrap();
    let derived = derive(s, created, &[0; 8], as_aes()).unwrap();
    let unavailable = ulong(CK_UNAVAILABLE_INFORMATION);
    for k in [created, unwrapped, derived] {
        assert_eq!(
            get_attr(s, k, CKA_KEY_GEN_MECHANISM),
            Ok(unavailable.clone()),
            "key {k}"
        );
        assert_eq!(get_attr(s, k, CKA_LOCAL).unwrap(), [0]);
        assert_eq!(
            set(
                s,
                k,
                Template::new().bytes(CKA_KEY_GEN_MECHANISM, &unavailable)
            ),
            CKR_ATTRIBUTE_READ_ONLY
        );
    }
    assert_eq!(
        get_attr(s, generated, CKA_KEY_GEN_MECHANISM),
        Ok(ulong(CKM_AES_KEY_GEN))
    );
    for k in [public, private] {
        assert_eq!(
            get_attr(s, k, CKA_KEY_GEN_MECHANISM),
            Ok(ulong(CKM_EC_KEY_PAIR_GEN))
        );
    }
    // A public key imported from its point.
    let point = get_attr(s, public, CKA_EC_POINT).unwrap();
    let imported = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_PUBLIC_KEY)
            .ulong(CKA_KEY_TYPE, CKK_EC)
            .bytes(CKA_EC_PARAMS, P256)
            .bytes(CKA_EC_POINT, &point),
    )
    .unwrap();
    assert_eq!(
        get_attr(s, imported, CKA_KEY_GEN_MECHANISM),
        Ok(unavailable)
    );
    // A copy of a generated key keeps its provenance.
    let c = copy(s, generated, Template::new()).unwrap();
    assert_eq!(
        get_attr(s, c, CKA_KEY_GEN_MECHANISM),
        Ok(ulong(CKM_AES_KEY_GEN))
    );
    assert_eq!(get_attr(s, c, CKA_LOCAL).unwrap(), [1]);
}

// ---- Item 13: key values of the right size, on every path ----

#[test]
fn created_secret_keys_must_have_a_value_their_type_allows() {
    let lab = Lab::new();
    let s = lab.user_session();
    let before = count(s);
    for (key_type, bad) in [
        (CKK_AES, 7),
        (CKK_AES, 15),
        (CKK_AES, 17),
        (CKK_AES, 33),
        (CKK_AES, 0),
        (CKK_DES2, 8),
        (CKK_DES2, 24),
        (CKK_DES3, 16),
        (CKK_DES3, 23),
        (CKK_GENERIC_SECRET, 0),
        (CKK_SHA256_HMAC, 0),
    ] {
        assert_eq!(
            create(s, secret(key_type, &vec![1; bad])),
            Err(CKR_ATTRIBUTE_VALUE_INVALID),
            "key type 0x{key_type:X} with {bad} bytes"
        );
    }
    assert_eq!(count(s), before, "nothing was made");
    for (key_type, good) in [
        (CKK_AES, 16),
        (CKK_AES, 24),
        (CKK_AES, 32),
        (CKK_DES2, 16),
        (CKK_DES3, 24),
        (CKK_GENERIC_SECRET, 1),
        (CKK_SHA256_HMAC, 100),
    ] {
        assert!(create(s, secret(key_type, &vec![1; good])).is_ok());
    }
    // CKA_VALUE_LEN, when given, must agree with the value.
    assert_eq!(
        create(
            s,
            secret(CKK_GENERIC_SECRET, &[1; 20]).ulong(CKA_VALUE_LEN, 16)
        ),
        Err(CKR_TEMPLATE_INCONSISTENT)
    );
    let k = create(
        s,
        secret(CKK_GENERIC_SECRET, &[1; 20]).ulong(CKA_VALUE_LEN, 20),
    )
    .unwrap();
    assert_eq!(get_attr(s, k, CKA_VALUE_LEN), Ok(ulong(20)));
}

#[test]
fn generated_secret_keys_must_have_a_length_their_type_allows() {
    let lab = Lab::new();
    let s = lab.user_session();
    let before = count(s);
    // The generic generator makes keys of the template's type: the length must suit it.
    for (key_type, len) in [(CKK_AES, 7), (CKK_AES, 20), (CKK_DES3, 5), (CKK_DES2, 24)] {
        assert_eq!(
            generate_key(
                s,
                CKM_GENERIC_SECRET_KEY_GEN,
                Template::new()
                    .ulong(CKA_KEY_TYPE, key_type)
                    .ulong(CKA_VALUE_LEN, len)
            ),
            Err(CKR_KEY_SIZE_RANGE),
            "key type 0x{key_type:X} of {len} bytes"
        );
    }
    assert_eq!(
        generate_key(s, CKM_AES_KEY_GEN, Template::new().ulong(CKA_VALUE_LEN, 7)),
        Err(CKR_KEY_SIZE_RANGE)
    );
    assert_eq!(count(s), before, "nothing was made");
    let k = generate_key(
        s,
        CKM_GENERIC_SECRET_KEY_GEN,
        Template::new()
            .ulong(CKA_KEY_TYPE, CKK_AES)
            .ulong(CKA_VALUE_LEN, 24),
    )
    .unwrap();
    assert_eq!(get_attr(s, k, CKA_VALUE_LEN), Ok(ulong(24)));
}

#[test]
fn unwrapped_and_derived_secret_keys_must_have_a_length_their_type_allows() {
    let lab = Lab::new();
    let s = lab.user_session();
    let kek = aes_key(s, |t| t);
    let long = create(
        s,
        secret(CKK_GENERIC_SECRET, &[5; 40])
            .bool(CKA_EXTRACTABLE, true)
            .bool(CKA_DERIVE, true),
    )
    .unwrap();
    let blob = wrap(s, CKM_AES_KEY_WRAP, kek, long).unwrap();
    let before = count(s);
    let as_type = |kt| {
        Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, kt)
    };
    // A decrypted blob of 40 bytes is recognisably not an AES or DES3 key.
    assert_eq!(
        unwrap(s, CKM_AES_KEY_WRAP, kek, &blob, as_type(CKK_AES)),
        Err(CKR_WRAPPED_KEY_INVALID)
    );
    assert_eq!(
        unwrap(s, CKM_AES_KEY_WRAP, kek, &blob, as_type(CKK_DES3)),
        Err(CKR_WRAPPED_KEY_INVALID)
    );
    // 40 + 1 bytes is no AES key either.
    assert_eq!(
        derive(s, long, &[1], as_type(CKK_AES)),
        Err(CKR_KEY_SIZE_RANGE)
    );
    assert_eq!(count(s), before, "nothing was made");
    assert!(unwrap(s, CKM_AES_KEY_WRAP, kek, &blob, as_type(CKK_GENERIC_SECRET)).is_ok());
}

#[test]
fn created_asymmetric_keys_must_be_sane() {
    let lab = Lab::new();
    let s = lab.user_session();
    let ec_private = |value: &[u8]| {
        Template::new()
            .ulong(CKA_CLASS, CKO_PRIVATE_KEY)
            .ulong(CKA_KEY_TYPE, CKK_EC)
            .bytes(CKA_EC_PARAMS, P256)
            .bytes(CKA_VALUE, value)
    };
    let ec_public = |point: &[u8]| {
        Template::new()
            .ulong(CKA_CLASS, CKO_PUBLIC_KEY)
            .ulong(CKA_KEY_TYPE, CKK_EC)
            .bytes(CKA_EC_PARAMS, P256)
            .bytes(CKA_EC_POINT, point)
    };
    // Zero and values at or above the group order are no private keys.
    for bad in [&[0u8; 32][..], &[0xFF; 32][..], &[0x01; 33][..]] {
        assert_eq!(
            create(s, ec_private(bad)),
            Err(CKR_ATTRIBUTE_VALUE_INVALID),
            "EC private value {bad:02X?}"
        );
    }
    assert!(create(s, ec_private(&[0x11; 32])).is_ok());
    // A point that is not on the curve.
    let mut off = vec![0x04];
    off.extend([0x01; 64]);
    assert_eq!(create(s, ec_public(&off)), Err(CKR_ATTRIBUTE_VALUE_INVALID));
    // RSA: a modulus of 64 bits, an even modulus, exponent 1 or an even exponent.
    let rsa_public = |n: &[u8], e: &[u8]| {
        Template::new()
            .ulong(CKA_CLASS, CKO_PUBLIC_KEY)
            .ulong(CKA_KEY_TYPE, CKK_RSA)
            .bytes(CKA_MODULUS, n)
            .bytes(CKA_PUBLIC_EXPONENT, e)
    };
    let (good_public, _) = rsa_pair(s, 2048);
    let n = get_attr(s, good_public, CKA_MODULUS).unwrap();
    let mut even = n.clone();
    *even.last_mut().unwrap() &= 0xFE;
    for (modulus, exponent) in [
        (&[0xC3u8; 8][..], &[1u8, 0, 1][..]),
        (&even[..], &[1, 0, 1][..]),
        (&n[..], &[1][..]),
        (&n[..], &[1, 0, 0][..]),
        (&[][..], &[1, 0, 1][..]),
    ] {
        assert_eq!(
            create(s, rsa_public(modulus, exponent)),
            Err(CKR_ATTRIBUTE_VALUE_INVALID),
            "RSA modulus of {} bytes, exponent {exponent:?}",
            modulus.len()
        );
    }
    assert!(create(s, rsa_public(&n, &[1, 0, 1])).is_ok());
    // Ed25519 and X25519 values are 32 bytes.
    let curve_key = |kt, class, attr, oid: &[u8], v: &[u8]| {
        Template::new()
            .ulong(CKA_CLASS, class)
            .ulong(CKA_KEY_TYPE, kt)
            .bytes(CKA_EC_PARAMS, oid)
            .bytes(attr, v)
    };
    const ED25519: &[u8] = &[0x06, 0x03, 0x2B, 0x65, 0x70];
    const X25519: &[u8] = &[0x06, 0x03, 0x2B, 0x65, 0x6E];
    for (kt, class, attr, oid) in [
        (CKK_EC_EDWARDS, CKO_PRIVATE_KEY, CKA_VALUE, ED25519),
        (CKK_EC_EDWARDS, CKO_PUBLIC_KEY, CKA_EC_POINT, ED25519),
        (CKK_EC_MONTGOMERY, CKO_PRIVATE_KEY, CKA_VALUE, X25519),
        (CKK_EC_MONTGOMERY, CKO_PUBLIC_KEY, CKA_EC_POINT, X25519),
    ] {
        assert_eq!(
            create(s, curve_key(kt, class, attr, oid, &[9; 31])),
            Err(CKR_ATTRIBUTE_VALUE_INVALID),
            "key type 0x{kt:X} class {class} with 31 bytes"
        );
    }
}

// ---- Item 19: CKO_PROFILE objects ----

fn profile_ids(s: CK_SESSION_HANDLE) -> Vec<(CK_OBJECT_HANDLE, CK_ULONG)> {
    find(s, Template::new().ulong(CKA_CLASS, CKO_PROFILE))
        .into_iter()
        .map(|h| {
            let v = get_attr(s, h, CKA_PROFILE_ID).unwrap();
            (h, CK_ULONG::from_ne_bytes(v.try_into().unwrap()))
        })
        .collect()
}

#[test]
fn each_token_exposes_the_profiles_it_meets() {
    let lab = Lab::new();
    // Without a login, in a read-only session: profile objects are public token objects.
    let s = open_session(0, CKF_SERIAL_SESSION).unwrap();
    let profiles = profile_ids(s);
    let mut ids: Vec<_> = profiles.iter().map(|(_, id)| *id).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            CKP_BASELINE_PROVIDER,
            CKP_EXTENDED_PROVIDER,
            CKP_AUTHENTICATION_TOKEN
        ]
    );
    let all = find(s, Template::new());
    let token = find(s, Template::new().bool(CKA_TOKEN, true));
    for (h, id) in &profiles {
        assert!(all.contains(h) && token.contains(h));
        assert_eq!(get_attr(s, *h, CKA_CLASS), Ok(ulong(CKO_PROFILE)));
        assert_eq!(get_attr(s, *h, CKA_TOKEN).unwrap(), [1]);
        assert_eq!(get_attr(s, *h, CKA_PRIVATE).unwrap(), [0]);
        assert_eq!(get_attr(s, *h, CKA_MODIFIABLE).unwrap(), [0]);
        assert_eq!(get_attr(s, *h, CKA_COPYABLE).unwrap(), [0]);
        assert_eq!(get_attr(s, *h, CKA_DESTROYABLE).unwrap(), [0]);
        assert!(!get_attr(s, *h, CKA_UNIQUE_ID).unwrap().is_empty());
        assert_eq!(
            find(
                s,
                Template::new()
                    .ulong(CKA_CLASS, CKO_PROFILE)
                    .ulong(CKA_PROFILE_ID, *id)
            ),
            [*h]
        );
        let mut size = 0;
        // SAFETY: a valid out-pointer.
        assert_eq!(unsafe { C_GetObjectSize(s, *h, &mut size) }, CKR_OK);
        assert!(size > 0);
    }
    assert!(
        find(
            s,
            Template::new().ulong(CKA_PROFILE_ID, CKP_PUBLIC_CERTIFICATES_TOKEN)
        )
        .is_empty()
    );
    // The same handles for every session, after objects come and go, and after a restart.
    let user = lab.user_session();
    let made: Vec<_> = (0..5)
        .map(|_| create(user, Template::new().ulong(CKA_CLASS, CKO_DATA)).unwrap())
        .collect();
    assert_eq!(profile_ids(user), profiles);
    for h in &made {
        assert!(
            profiles.iter().all(|(p, _)| p != h),
            "handles never collide"
        );
    }
    lab.restart();
    let s = open_session(0, CKF_SERIAL_SESSION).unwrap();
    assert_eq!(profile_ids(s), profiles);
}

#[test]
fn profile_objects_cannot_be_changed_copied_destroyed_or_created() {
    let lab = Lab::new();
    let s = lab.user_session();
    let profiles = profile_ids(s);
    assert_eq!(profiles.len(), 3);
    for (h, _) in &profiles {
        assert_eq!(destroy(s, *h), CKR_ACTION_PROHIBITED);
        assert_eq!(
            set(s, *h, Template::new().bytes(CKA_LABEL, b"mine")),
            CKR_ACTION_PROHIBITED
        );
        assert_eq!(copy(s, *h, Template::new()), Err(CKR_ACTION_PROHIBITED));
    }
    assert_eq!(profile_ids(s), profiles);
    assert_eq!(
        create(
            s,
            Template::new()
                .ulong(CKA_CLASS, CKO_PROFILE)
                .ulong(CKA_PROFILE_ID, CKP_PUBLIC_CERTIFICATES_TOKEN)
        ),
        Err(CKR_ATTRIBUTE_VALUE_INVALID)
    );
    assert_eq!(profile_ids(s).len(), 3);
}

#[test]
fn every_slot_has_its_own_profile_objects() {
    let lab = Lab::new();
    let so_pin = SO_PIN;
    let mut label = [b' '; 32];
    label[..5].copy_from_slice(b"other");
    // SAFETY: a valid PIN buffer and a 32-byte label.
    let rv = unsafe {
        C_InitToken(
            1,
            so_pin.as_ptr() as *mut u8,
            so_pin.len() as CK_ULONG,
            label.as_mut_ptr(),
        )
    };
    assert_eq!(rv, CKR_OK);
    let s0 = open_session(0, CKF_SERIAL_SESSION).unwrap();
    let s1 = open_session(1, CKF_SERIAL_SESSION).unwrap();
    let (p0, p1) = (profile_ids(s0), profile_ids(s1));
    assert_eq!(p1.len(), 3);
    for (h, _) in &p1 {
        assert!(
            p0.iter().all(|(h0, _)| h0 != h),
            "distinct handles per slot"
        );
        assert_eq!(
            get_attr(s0, *h, CKA_PROFILE_ID),
            Err((CKR_OBJECT_HANDLE_INVALID, 0)),
            "a slot's profile objects are not another slot's"
        );
    }
    drop(lab);
}

#[test]
fn keys_stored_before_these_attributes_existed_answer_them() {
    let lab = Lab::new();
    let s = lab.user_session();
    let (public, _) = ec_pair(s, Template::new()).unwrap();
    let point = get_attr(s, public, CKA_EC_POINT).unwrap();
    // A public key as an earlier version stored it: no CKA_ALLOWED_MECHANISMS, no
    // CKA_KEY_GEN_MECHANISM.
    let mut old = hsmsim::base::attribute::Attributes::new();
    old.set_ulong(CKA_CLASS, CKO_PUBLIC_KEY);
    old.set_ulong(CKA_KEY_TYPE, CKK_EC);
    old.set_bool(CKA_TOKEN, true);
    old.set_bool(CKA_PRIVATE, false);
    old.set_bool(CKA_LOCAL, false);
    old.set_bool(CKA_VERIFY, true);
    old.set_bytes(CKA_LABEL, b"from an old store".to_vec());
    old.set_bytes(CKA_EC_PARAMS, P256.to_vec());
    old.set_bytes(CKA_EC_POINT, point);
    old.set_bytes(CKA_UNIQUE_ID, b"00000000000000aa".to_vec());
    let store = hsmsim::store::Store::open(lab.dir.path()).unwrap();
    let incarnation = store
        .token(&"hsm1/default".parse().unwrap())
        .unwrap()
        .expect("the default token is stored")
        .record
        .incarnation();
    store
        .insert_objects(
            &"hsm1/default".parse().unwrap(),
            incarnation,
            &[hsmsim::store::StoredObject {
                unique_id: b"00000000000000aa".to_vec(),
                public: old,
                sealed: None,
            }],
        )
        .unwrap();
    drop(store);
    lab.restart();
    let s = lab.user_session();
    let found = find(s, Template::new().bytes(CKA_LABEL, b"from an old store"));
    assert_eq!(found.len(), 1);
    assert_eq!(
        get_attr(s, found[0], CKA_ALLOWED_MECHANISMS),
        Ok(Vec::new())
    );
    assert_eq!(
        get_attr(s, found[0], CKA_KEY_GEN_MECHANISM),
        Ok(ulong(CK_UNAVAILABLE_INFORMATION))
    );
}
