//! PKCS#11 3.2 authenticated key wrapping through the C ABI (the 3.2 function list of
//! `C_GetInterface`): `C_WrapKeyAuthenticated` / `C_UnwrapKeyAuthenticated` with `CKM_AES_GCM`
//! round-trip an AES key and an EC private key, the blob is AES-GCM over the key with the
//! associated data (checked with aws-lc-rs), wrong associated data and altered blobs are
//! refused, the length convention, the rules of `C_WrapKey` (extractable, `CKA_WRAP`), the
//! mechanism checks, and Luna and Primus partitions without the calls.
mod common;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::ptr::null_mut;

/// The module's PKCS#11 3.2 function list.
fn list_3_2() -> &'static CK_FUNCTION_LIST_3_2 {
    let mut version = CK_VERSION { major: 3, minor: 2 };
    let mut iface: *mut CK_INTERFACE = null_mut();
    let name = b"PKCS 11\0";
    // SAFETY: valid name, version and out-pointer.
    let rv = unsafe { C_GetInterface(name.as_ptr() as *mut u8, &mut version, &mut iface, 0) };
    assert_eq!(rv, CKR_OK);
    // SAFETY: the module's static 3.2 table.
    unsafe { &*((*iface).pFunctionList as *const CK_FUNCTION_LIST_3_2) }
}

const IV: [u8; 12] = [0x5A; 12];

/// `CK_GCM_PARAMS` over `IV` (and `aad` in the parameter), `tag_bits` long tags.
fn gcm_params(aad: &mut [u8], tag_bits: CK_ULONG) -> CK_GCM_PARAMS {
    CK_GCM_PARAMS {
        pIv: IV.as_ptr() as *mut u8,
        ulIvLen: IV.len() as CK_ULONG,
        ulIvBits: 96,
        pAAD: if aad.is_empty() {
            null_mut()
        } else {
            aad.as_mut_ptr()
        },
        ulAADLen: aad.len() as CK_ULONG,
        ulTagBits: tag_bits,
    }
}

/// `C_WrapKeyAuthenticated` with `m`: the length query, then a right-sized buffer.
fn wrap_auth(
    s: CK_SESSION_HANDLE,
    m: &mut CK_MECHANISM,
    wrapping: CK_OBJECT_HANDLE,
    key: CK_OBJECT_HANDLE,
    aad: &[u8],
) -> Result<Vec<u8>, CK_RV> {
    let f = list_3_2().C_WrapKeyAuthenticated.unwrap();
    let mut len = 0;
    // SAFETY: valid mechanism and associated data; a null output asks for the length.
    let rv = unsafe {
        f(
            s,
            m,
            wrapping,
            key,
            aad.as_ptr() as *mut u8,
            aad.len() as CK_ULONG,
            null_mut(),
            &mut len,
        )
    };
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut out = vec![0u8; len as usize];
    // SAFETY: the buffer holds `len` bytes.
    let rv = unsafe {
        f(
            s,
            m,
            wrapping,
            key,
            aad.as_ptr() as *mut u8,
            aad.len() as CK_ULONG,
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

/// `C_UnwrapKeyAuthenticated` with `m`.
fn unwrap_auth(
    s: CK_SESSION_HANDLE,
    m: &mut CK_MECHANISM,
    unwrapping: CK_OBJECT_HANDLE,
    wrapped: &[u8],
    mut template: Template,
    aad: &[u8],
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let f = list_3_2().C_UnwrapKeyAuthenticated.unwrap();
    let mut raw = template.raw();
    let mut h = CK_INVALID_HANDLE;
    // SAFETY: valid mechanism, buffers, template and out-pointer.
    let rv = unsafe {
        f(
            s,
            m,
            unwrapping,
            wrapped.as_ptr() as *mut u8,
            wrapped.len() as CK_ULONG,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            aad.as_ptr() as *mut u8,
            aad.len() as CK_ULONG,
            &mut h,
        )
    };
    if rv == CKR_OK { Ok(h) } else { Err(rv) }
}

/// An AES-256 key-encryption key whose value the test may read (to check the blob).
fn kek(s: CK_SESSION_HANDLE) -> CK_OBJECT_HANDLE {
    aes_key(s, |t| {
        t.bool(CKA_WRAP, true)
            .bool(CKA_UNWRAP, true)
            .bool(CKA_SENSITIVE, false)
            .bool(CKA_EXTRACTABLE, true)
    })
}

fn secret_template() -> Template {
    Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true)
}

#[test]
fn an_aes_key_round_trips_and_the_blob_is_gcm_over_the_key_with_the_associated_data() {
    let lab = Lab::new();
    let s = lab.user_session();
    let wrapping = kek(s);
    let key = aes_key(s, |t| {
        t.bool(CKA_SENSITIVE, false).bool(CKA_EXTRACTABLE, true)
    });
    let value = get_attr(s, key, CKA_VALUE).unwrap();
    let aad = b"tenant=42;purpose=backup";
    let mut p = gcm_params(&mut [], 128);
    let mut m = mech_with(CKM_AES_GCM, &mut p);

    // Length query, then a short buffer: CKR_BUFFER_TOO_SMALL with the length.
    let f = list_3_2().C_WrapKeyAuthenticated.unwrap();
    let mut len = 0;
    // SAFETY: valid mechanism and associated data; a null output asks for the length.
    let rv = unsafe {
        f(
            s,
            &mut m,
            wrapping,
            key,
            aad.as_ptr() as *mut u8,
            aad.len() as CK_ULONG,
            null_mut(),
            &mut len,
        )
    };
    assert_eq!((rv, len), (CKR_OK, 32 + 16));
    let mut short = [0u8; 8];
    let mut len = short.len() as CK_ULONG;
    // SAFETY: the buffer holds `len` bytes.
    let rv = unsafe {
        f(
            s,
            &mut m,
            wrapping,
            key,
            aad.as_ptr() as *mut u8,
            aad.len() as CK_ULONG,
            short.as_mut_ptr(),
            &mut len,
        )
    };
    assert_eq!((rv, len), (CKR_BUFFER_TOO_SMALL, 48));

    let blob = wrap_auth(s, &mut m, wrapping, key, aad).unwrap();
    assert_eq!(blob.len(), 48);
    // The blob is ciphertext || tag of the key's value under the KEK, with the associated
    // data authenticated (aws-lc-rs opens it).
    let kek_value = get_attr(s, wrapping, CKA_VALUE).unwrap();
    let opener = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &kek_value).unwrap());
    let mut in_out = blob.clone();
    let plain = opener
        .open_in_place(
            Nonce::assume_unique_for_key(IV),
            Aad::from(&aad[..]),
            &mut in_out,
        )
        .expect("aws-lc-rs opens the blob");
    assert_eq!(plain, &value[..]);
    // The same bytes as C_WrapKey with the associated data in CK_GCM_PARAMS.
    let mut in_params = aad.to_vec();
    let mut p2 = gcm_params(&mut in_params, 128);
    let mut m2 = mech_with(CKM_AES_GCM, &mut p2);
    let mut len = 64;
    let mut plain_wrap = vec![0u8; 64];
    // SAFETY: the buffer holds `len` bytes.
    let rv = unsafe { C_WrapKey(s, &mut m2, wrapping, key, plain_wrap.as_mut_ptr(), &mut len) };
    assert_eq!(rv, CKR_OK);
    assert_eq!(&plain_wrap[..len as usize], &blob[..]);

    let unwrapped = unwrap_auth(s, &mut m, wrapping, &blob, secret_template(), aad).unwrap();
    assert_eq!(get_attr(s, unwrapped, CKA_VALUE).unwrap(), value);
    assert_eq!(
        get_attr(s, unwrapped, CKA_VALUE_LEN).unwrap(),
        32u64.to_ne_bytes()
    );
    // An unwrapped key is neither always sensitive nor never extractable.
    assert_eq!(get_attr(s, unwrapped, CKA_LOCAL).unwrap(), [0]);

    // A shorter tag (96 bits) round-trips too, and its blob is 12 bytes of tag.
    let mut p96 = gcm_params(&mut [], 96);
    let mut m96 = mech_with(CKM_AES_GCM, &mut p96);
    let blob96 = wrap_auth(s, &mut m96, wrapping, key, aad).unwrap();
    assert_eq!(blob96.len(), 32 + 12);
    let k96 = unwrap_auth(s, &mut m96, wrapping, &blob96, secret_template(), aad).unwrap();
    assert_eq!(get_attr(s, k96, CKA_VALUE).unwrap(), value);
}

#[test]
fn an_ec_private_key_round_trips_and_signs_for_its_public_key() {
    let lab = Lab::new();
    let s = lab.user_session();
    let wrapping = kek(s);
    let (public, private) = generate_key_pair(
        s,
        CKM_EC_KEY_PAIR_GEN,
        Template::new()
            .bytes(CKA_EC_PARAMS, P256)
            .bool(CKA_VERIFY, true),
        Template::new()
            .bool(CKA_SIGN, true)
            .bool(CKA_EXTRACTABLE, true),
    )
    .unwrap();
    let aad = b"ec key";
    let mut p = gcm_params(&mut [], 128);
    let mut m = mech_with(CKM_AES_GCM, &mut p);
    let blob = wrap_auth(s, &mut m, wrapping, private, aad).unwrap();
    let template = Template::new()
        .ulong(CKA_CLASS, CKO_PRIVATE_KEY)
        .ulong(CKA_KEY_TYPE, CKK_EC)
        .bool(CKA_SIGN, true);
    let unwrapped = unwrap_auth(s, &mut m, wrapping, &blob, template, aad).unwrap();
    assert_eq!(get_attr(s, unwrapped, CKA_EC_PARAMS).unwrap(), P256);
    let data = [0x42u8; 32];
    let mut sm = mech(CKM_ECDSA);
    assert_eq!(init(C_SignInit, s, &mut sm, unwrapped), CKR_OK);
    let sig = produce(C_Sign, s, &data).unwrap();
    let mut vm = mech(CKM_ECDSA);
    assert_eq!(init(C_VerifyInit, s, &mut vm, public), CKR_OK);
    assert_eq!(verify(s, &data, &sig), CKR_OK);
}

#[test]
fn wrong_associated_data_and_altered_blobs_are_refused() {
    let lab = Lab::new();
    let s = lab.user_session();
    let wrapping = kek(s);
    let key = aes_key(s, |t| t.bool(CKA_EXTRACTABLE, true));
    let mut p = gcm_params(&mut [], 128);
    let mut m = mech_with(CKM_AES_GCM, &mut p);
    let aad = b"right";
    let blob = wrap_auth(s, &mut m, wrapping, key, aad).unwrap();
    assert_eq!(
        unwrap_auth(s, &mut m, wrapping, &blob, secret_template(), b"wrong"),
        Err(CKR_WRAPPED_KEY_INVALID)
    );
    assert_eq!(
        unwrap_auth(s, &mut m, wrapping, &blob, secret_template(), b""),
        Err(CKR_WRAPPED_KEY_INVALID)
    );
    for i in [0, blob.len() - 1] {
        let mut altered = blob.clone();
        altered[i] ^= 1;
        assert_eq!(
            unwrap_auth(s, &mut m, wrapping, &altered, secret_template(), aad),
            Err(CKR_WRAPPED_KEY_INVALID),
            "byte {i} altered"
        );
    }
    assert_eq!(
        unwrap_auth(s, &mut m, wrapping, &blob[..10], secret_template(), aad),
        Err(CKR_WRAPPED_KEY_INVALID)
    );
    // Another IV does not open it either.
    let mut other_iv = gcm_params(&mut [], 128);
    let iv = [0u8; 12];
    other_iv.pIv = iv.as_ptr() as *mut u8;
    let mut mo = mech_with(CKM_AES_GCM, &mut other_iv);
    assert_eq!(
        unwrap_auth(s, &mut mo, wrapping, &blob, secret_template(), aad),
        Err(CKR_WRAPPED_KEY_INVALID)
    );
    // No key was made by the refused calls; the right data still opens it.
    let before = find(s, Template::new().ulong(CKA_CLASS, CKO_SECRET_KEY)).len();
    assert!(unwrap_auth(s, &mut m, wrapping, &blob, secret_template(), aad).is_ok());
    assert_eq!(
        find(s, Template::new().ulong(CKA_CLASS, CKO_SECRET_KEY)).len(),
        before + 1
    );
}

#[test]
fn the_rules_of_c_wrapkey_and_the_mechanism_checks_apply() {
    let lab = Lab::new();
    let s = lab.user_session();
    let wrapping = kek(s);
    let mut p = gcm_params(&mut [], 128);
    let mut m = mech_with(CKM_AES_GCM, &mut p);
    let unextractable = aes_key(s, |t| t.bool(CKA_EXTRACTABLE, false));
    assert_eq!(
        wrap_auth(s, &mut m, wrapping, unextractable, b"x"),
        Err(CKR_KEY_UNEXTRACTABLE)
    );
    let key = aes_key(s, |t| t.bool(CKA_EXTRACTABLE, true));
    let no_wrap = aes_key(s, |t| t.bool(CKA_WRAP, false).bool(CKA_UNWRAP, false));
    assert_eq!(
        wrap_auth(s, &mut m, no_wrap, key, b"x"),
        Err(CKR_KEY_FUNCTION_NOT_PERMITTED)
    );
    // Short tags, AAD in the parameter, a missing parameter, a mechanism that is not AEAD.
    let mut p64 = gcm_params(&mut [], 64);
    let mut m64 = mech_with(CKM_AES_GCM, &mut p64);
    assert_eq!(
        wrap_auth(s, &mut m64, wrapping, key, b"x"),
        Err(CKR_MECHANISM_PARAM_INVALID)
    );
    let mut in_params = b"aad".to_vec();
    let mut pa = gcm_params(&mut in_params, 128);
    let mut ma = mech_with(CKM_AES_GCM, &mut pa);
    assert_eq!(
        wrap_auth(s, &mut ma, wrapping, key, b"x"),
        Err(CKR_MECHANISM_PARAM_INVALID)
    );
    assert_eq!(
        wrap_auth(s, &mut mech(CKM_AES_GCM), wrapping, key, b"x"),
        Err(CKR_MECHANISM_PARAM_INVALID)
    );
    assert_eq!(
        wrap_auth(s, &mut mech(CKM_AES_KEY_WRAP), wrapping, key, b"x"),
        Err(CKR_MECHANISM_INVALID)
    );
    // Null pointers: associated data with a length, the output length, the new handle.
    let f = list_3_2().C_WrapKeyAuthenticated.unwrap();
    // SAFETY: the null pointers are refused before use.
    let rv = unsafe {
        f(
            s,
            &mut m,
            wrapping,
            key,
            null_mut(),
            4,
            null_mut(),
            null_mut(),
        )
    };
    assert_eq!(rv, CKR_ARGUMENTS_BAD);
    let blob = wrap_auth(s, &mut m, wrapping, key, b"x").unwrap();
    let g = list_3_2().C_UnwrapKeyAuthenticated.unwrap();
    let mut template = secret_template();
    let mut raw = template.raw();
    // SAFETY: valid buffers and template; a null phKey is refused.
    let rv = unsafe {
        g(
            s,
            &mut m,
            wrapping,
            blob.as_ptr() as *mut u8,
            blob.len() as CK_ULONG,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            b"x".as_ptr() as *mut u8,
            1,
            null_mut(),
        )
    };
    assert_eq!(rv, CKR_ARGUMENTS_BAD);
}

/// Slot 0 a Luna 7.4.2 partition, slot 1 a Primus partition.
const VENDOR_LAB: &str = r#"
[lab]
name = "authenticated-wrap-vendors"

[[device]]
name = "sa7"
kind = "luna-network"
firmware = "7.4.2"
  [[device.partition]]
  name = "app"
  label = "app"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"

[[device]]
name = "primus1"
kind = "primus"
firmware = "2.11"
  [[device.partition]]
  name = "OPEN"
  user_pin = "Pkcs11-Pin-01"

[[host]]
name = "client"
slot = [
  { id = 0, partition = "sa7/app" },
  { id = 1, partition = "primus1/OPEN" },
]
"#;

#[test]
fn luna_and_primus_partitions_do_not_have_the_calls() {
    let _lab = TextLab::new(VENDOR_LAB);
    for (slot, pin) in [(0, &b"co-pin-0001"[..]), (1, &b"Pkcs11-Pin-01"[..])] {
        let s = user_session_on(slot, pin);
        let wrapping = aes_key(s, |t| t.bool(CKA_WRAP, true).bool(CKA_UNWRAP, true));
        let key = aes_key(s, |t| t.bool(CKA_EXTRACTABLE, true));
        let mut p = gcm_params(&mut [], 128);
        let mut m = mech_with(CKM_AES_GCM, &mut p);
        assert_eq!(
            wrap_auth(s, &mut m, wrapping, key, b"x"),
            Err(CKR_FUNCTION_NOT_SUPPORTED),
            "slot {slot}"
        );
        assert_eq!(
            unwrap_auth(s, &mut m, wrapping, &[0u8; 48], secret_template(), b"x"),
            Err(CKR_FUNCTION_NOT_SUPPORTED),
            "slot {slot}"
        );
    }
}

#[test]
fn wrap_with_trusted_and_the_unwrap_template_apply() {
    let lab = Lab::new();
    let s = lab.user_session();
    let mut p = gcm_params(&mut [], 128);
    let mut m = mech_with(CKM_AES_GCM, &mut p);
    // A key that only a CKA_TRUSTED key may wrap: the (untrusted) KEK is refused.
    let wrapping = kek(s);
    let guarded = aes_key(s, |t| {
        t.bool(CKA_EXTRACTABLE, true)
            .bool(CKA_WRAP_WITH_TRUSTED, true)
    });
    assert_eq!(
        wrap_auth(s, &mut m, wrapping, guarded, b"x"),
        Err(CKR_KEY_NOT_WRAPPABLE)
    );

    // A KEK whose CKA_UNWRAP_TEMPLATE makes every key it unwraps unextractable.
    let no = false as u8;
    let mut inner = [CK_ATTRIBUTE {
        type_: CKA_EXTRACTABLE,
        pValue: &no as *const u8 as *mut std::ffi::c_void,
        ulValueLen: 1,
    }];
    let mut t = Template::new()
        .ulong(CKA_VALUE_LEN, 32)
        .bool(CKA_WRAP, true)
        .bool(CKA_UNWRAP, true);
    let mut raw = t.raw();
    raw.push(CK_ATTRIBUTE {
        type_: CKA_UNWRAP_TEMPLATE,
        pValue: inner.as_mut_ptr() as *mut std::ffi::c_void,
        ulValueLen: size_of_val(&inner) as CK_ULONG,
    });
    let mut gen_mech = mech(CKM_AES_KEY_GEN);
    let mut templated = 0;
    // SAFETY: a valid mechanism, template (the nested array outlives the call) and out-pointer.
    let rv = unsafe {
        C_GenerateKey(
            s,
            &mut gen_mech,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            &mut templated,
        )
    };
    assert_eq!(rv, CKR_OK);
    let key = aes_key(s, |t| t.bool(CKA_EXTRACTABLE, true));
    let blob = wrap_auth(s, &mut m, templated, key, b"aad").unwrap();
    let plain_secret = Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES);
    let unwrapped = unwrap_auth(s, &mut m, templated, &blob, plain_secret, b"aad").unwrap();
    assert_eq!(get_attr(s, unwrapped, CKA_EXTRACTABLE).unwrap(), [0]);
    assert_eq!(
        unwrap_auth(s, &mut m, templated, &blob, secret_template(), b"aad"),
        Err(CKR_TEMPLATE_INCONSISTENT),
        "CKA_EXTRACTABLE true conflicts with the KEK's unwrap template"
    );
}
