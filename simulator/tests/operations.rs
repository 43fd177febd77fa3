//! The calling conventions of cryptographic operations through the C ABI: length queries,
//! short buffers, one-shot versus multi-part, an operation ending after an error, key checks,
//! and round trips for each mechanism family.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::ptr::null_mut;

#[test]
fn length_query_and_short_buffer_keep_the_operation_active() {
    let lab = Lab::new();
    let s = lab.user_session();
    let key = aes_key(s, |t| t);
    let mut iv = [7u8; 16];
    let mut m = CK_MECHANISM {
        mechanism: CKM_AES_CBC_PAD,
        pParameter: iv.as_mut_ptr() as *mut _,
        ulParameterLen: 16,
    };
    assert_eq!(init(C_EncryptInit, s, &mut m, key), CKR_OK);
    let data = b"seventeen bytes!!";
    let mut len = 0;
    // SAFETY: length query with a null output buffer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_Encrypt(s, data.as_ptr() as *mut u8, 17, null_mut(), &mut len) },
        CKR_OK
    );
    assert_eq!(len, 32);
    let mut short = [0u8; 16];
    let mut short_len = 16;
    // SAFETY: a 16-byte buffer announced as 16.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe {
            C_Encrypt(
                s,
                data.as_ptr() as *mut u8,
                17,
                short.as_mut_ptr(),
                &mut short_len,
            )
        },
        CKR_BUFFER_TOO_SMALL
    );
    assert_eq!(short_len, 32);
    let mut out = [0u8; 32];
    // SAFETY: a 32-byte buffer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_Encrypt(s, data.as_ptr() as *mut u8, 17, out.as_mut_ptr(), &mut len) },
        CKR_OK
    );
    // The operation ended with the successful call.
    // SAFETY: as above.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_Encrypt(s, data.as_ptr() as *mut u8, 17, out.as_mut_ptr(), &mut len) },
        CKR_OPERATION_NOT_INITIALIZED
    );

    assert_eq!(init(C_DecryptInit, s, &mut m, key), CKR_OK);
    assert_eq!(produce(C_Decrypt, s, &out).unwrap(), data);
}

#[test]
fn an_error_ends_the_operation_and_mixing_modes_is_refused() {
    let lab = Lab::new();
    let s = lab.user_session();
    let key = aes_key(s, |t| t);
    let mut iv = [1u8; 16];
    let mut m = CK_MECHANISM {
        mechanism: CKM_AES_CBC,
        pParameter: iv.as_mut_ptr() as *mut _,
        ulParameterLen: 16,
    };
    assert_eq!(init(C_EncryptInit, s, &mut m, key), CKR_OK);
    assert_eq!(init(C_EncryptInit, s, &mut m, key), CKR_OPERATION_ACTIVE);
    // 15 bytes is not a whole block for CBC without padding.
    assert_eq!(produce(C_Encrypt, s, &[0u8; 15]), Err(CKR_DATA_LEN_RANGE));
    assert_eq!(
        produce(C_Encrypt, s, &[0u8; 16]),
        Err(CKR_OPERATION_NOT_INITIALIZED)
    );

    // Multi-part started: a one-shot call is refused, and that error ends the operation.
    assert_eq!(init(C_EncryptInit, s, &mut m, key), CKR_OK);
    let first = produce(C_EncryptUpdate, s, &[0u8; 16]).unwrap();
    assert_eq!(first.len(), 16);
    assert_eq!(produce(C_Encrypt, s, &[0u8; 16]), Err(CKR_OPERATION_ACTIVE));
    assert_eq!(
        produce(C_EncryptUpdate, s, &[0u8; 16]),
        Err(CKR_OPERATION_NOT_INITIALIZED)
    );
    assert_eq!(init(C_EncryptInit, s, &mut m, key), CKR_OK);
    assert_eq!(produce(C_EncryptUpdate, s, &[0u8; 16]).unwrap(), first);
    let second = produce(C_EncryptUpdate, s, &[0u8; 16]).unwrap();
    assert_eq!(finish(C_EncryptFinal, s).unwrap(), Vec::<u8>::new());
    // Multi-part equals one-shot.
    assert_eq!(init(C_EncryptInit, s, &mut m, key), CKR_OK);
    let whole = produce(C_Encrypt, s, &[0u8; 32]).unwrap();
    assert_eq!(whole, [first, second].concat());

    // Bad padding on decrypt ends the decryption.
    let mut pad_m = CK_MECHANISM {
        mechanism: CKM_AES_CBC_PAD,
        pParameter: iv.as_mut_ptr() as *mut _,
        ulParameterLen: 16,
    };
    assert_eq!(init(C_DecryptInit, s, &mut pad_m, key), CKR_OK);
    assert_eq!(
        produce(C_Decrypt, s, &[0u8; 16]),
        Err(CKR_ENCRYPTED_DATA_INVALID)
    );
    assert_eq!(
        finish(C_DecryptFinal, s),
        Err(CKR_OPERATION_NOT_INITIALIZED)
    );
}

#[test]
fn key_handle_iv_length_usage_and_allowed_mechanisms_are_checked() {
    let lab = Lab::new();
    let s = lab.user_session();
    let key = aes_key(s, |t| t.bool(CKA_ENCRYPT, false));
    let mut iv = [1u8; 16];
    let mut cbc = CK_MECHANISM {
        mechanism: CKM_AES_CBC,
        pParameter: iv.as_mut_ptr() as *mut _,
        ulParameterLen: 16,
    };
    assert_eq!(
        init(C_EncryptInit, s, &mut cbc, 424_242),
        CKR_KEY_HANDLE_INVALID
    );
    assert_eq!(
        init(C_EncryptInit, s, &mut cbc, key),
        CKR_KEY_FUNCTION_NOT_PERMITTED
    );
    let mut short_iv = CK_MECHANISM {
        mechanism: CKM_AES_CBC,
        pParameter: iv.as_mut_ptr() as *mut _,
        ulParameterLen: 8,
    };
    assert_eq!(
        init(C_DecryptInit, s, &mut short_iv, key),
        CKR_MECHANISM_PARAM_INVALID
    );
    assert_eq!(
        init(C_DecryptInit, s, &mut mech(0x7777_0000), key),
        CKR_MECHANISM_INVALID
    );
    // SAFETY: a null mechanism pointer cancels (PKCS#11 3.0); nothing is in progress.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_DecryptInit(s, null_mut(), key) },
        CKR_OK
    );
    assert_eq!(
        init(C_SignInit, s, &mut mech(CKM_SHA256_RSA_PKCS), key),
        CKR_KEY_TYPE_INCONSISTENT
    );

    let only_ecb = aes_key(s, |t| {
        t.bytes(CKA_ALLOWED_MECHANISMS, &CKM_AES_ECB.to_ne_bytes())
    });
    assert_eq!(
        init(C_EncryptInit, s, &mut cbc, only_ecb),
        CKR_MECHANISM_INVALID
    );
    assert_eq!(
        init(C_EncryptInit, s, &mut mech(CKM_AES_ECB), only_ecb),
        CKR_OK
    );
}

#[test]
fn hmac_sign_verify_and_digest_key() {
    let lab = Lab::new();
    let s = lab.user_session();
    let key = generate_key(
        s,
        CKM_GENERIC_SECRET_KEY_GEN,
        Template::new().ulong(CKA_VALUE_LEN, 32),
    )
    .unwrap();
    assert_eq!(init(C_SignInit, s, &mut mech(CKM_SHA256_HMAC), key), CKR_OK);
    let mac = produce(C_Sign, s, b"message").unwrap();
    assert_eq!(mac.len(), 32);
    assert_eq!(
        init(C_VerifyInit, s, &mut mech(CKM_SHA256_HMAC), key),
        CKR_OK
    );
    assert_eq!(verify(s, b"message", &mac), CKR_OK);
    assert_eq!(
        init(C_VerifyInit, s, &mut mech(CKM_SHA256_HMAC), key),
        CKR_OK
    );
    assert_eq!(verify(s, b"messagf", &mac), CKR_SIGNATURE_INVALID);
    assert_eq!(
        init(C_VerifyInit, s, &mut mech(CKM_SHA256_HMAC), key),
        CKR_OK
    );
    assert_eq!(verify(s, b"message", &mac[..31]), CKR_SIGNATURE_LEN_RANGE);
    // Multi-part sign equals one-shot.
    assert_eq!(init(C_SignInit, s, &mut mech(CKM_SHA256_HMAC), key), CKR_OK);
    assert_eq!(update(C_SignUpdate, s, b"mess"), CKR_OK);
    assert_eq!(update(C_SignUpdate, s, b"age"), CKR_OK);
    assert_eq!(finish(C_SignFinal, s).unwrap(), mac);
    // A one-shot call in the middle is refused and ends the operation.
    assert_eq!(init(C_SignInit, s, &mut mech(CKM_SHA256_HMAC), key), CKR_OK);
    assert_eq!(update(C_SignUpdate, s, b"mess"), CKR_OK);
    assert_eq!(produce(C_Sign, s, b"message"), Err(CKR_OPERATION_ACTIVE));
    assert_eq!(finish(C_SignFinal, s), Err(CKR_OPERATION_NOT_INITIALIZED));

    // SAFETY: a valid mechanism.
    assert_eq!(unsafe { C_DigestInit(s, &mut mech(CKM_SHA256)) }, CKR_OK);
    let abc = produce(C_Digest, s, b"abc").unwrap();
    assert_eq!(abc[..4], [0xba, 0x78, 0x16, 0xbf]);
    // SAFETY: a valid mechanism.
    assert_eq!(unsafe { C_DigestInit(s, &mut mech(CKM_SHA256)) }, CKR_OK);
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_DigestKey(s, key) }, CKR_OK);
    assert_eq!(finish(C_DigestFinal, s).unwrap().len(), 32);
}

#[test]
fn aes_key_wrap_moves_a_key_between_handles() {
    let lab = Lab::new();
    let s = lab.user_session();
    let kek = aes_key(s, |t| t);
    let target = aes_key(s, |t| {
        t.bool(CKA_EXTRACTABLE, true).bytes(CKA_LABEL, b"moved")
    });
    let locked = aes_key(s, |t| t.bool(CKA_EXTRACTABLE, false));
    let mut m = mech(CKM_AES_KEY_WRAP_KWP);
    let wrap = |key, out: *mut u8, len: &mut CK_ULONG, m: &mut CK_MECHANISM| {
        // SAFETY: valid mechanism and output convention.
        unsafe { C_WrapKey(s, m, kek, key, out, len) }
    };
    let mut len = 0;
    assert_eq!(wrap(target, null_mut(), &mut len, &mut m), CKR_OK);
    let mut wrapped = vec![0u8; len as usize];
    assert_eq!(wrap(target, wrapped.as_mut_ptr(), &mut len, &mut m), CKR_OK);
    assert_eq!(len, 40);
    assert_eq!(
        wrap(locked, wrapped.as_mut_ptr(), &mut len, &mut m),
        CKR_KEY_UNEXTRACTABLE
    );

    let mut t = Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .bytes(CKA_LABEL, b"arrived");
    let mut raw = t.raw();
    let mut unwrapped = 0;
    // SAFETY: valid mechanism, buffer, template and out-pointer.
    let rv = unsafe {
        C_UnwrapKey(
            s,
            &mut m,
            kek,
            wrapped.as_mut_ptr(),
            len,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            &mut unwrapped,
        )
    };
    assert_eq!(rv, CKR_OK);
    assert_eq!(get_attr(s, unwrapped, CKA_LOCAL).unwrap(), [0]);
    assert_eq!(get_attr(s, unwrapped, CKA_NEVER_EXTRACTABLE).unwrap(), [0]);
    // The keys are equal: what one encrypts the other decrypts.
    assert_eq!(
        init(C_EncryptInit, s, &mut mech(CKM_AES_ECB), target),
        CKR_OK
    );
    let ct = produce(C_Encrypt, s, &[5u8; 32]).unwrap();
    assert_eq!(
        init(C_DecryptInit, s, &mut mech(CKM_AES_ECB), unwrapped),
        CKR_OK
    );
    assert_eq!(produce(C_Decrypt, s, &ct).unwrap(), [5u8; 32]);
    // Tampered input is refused and nothing is created.
    wrapped[3] ^= 1;
    let before = find(s, Template::new().ulong(CKA_CLASS, CKO_SECRET_KEY)).len();
    // SAFETY: as above.
    let rv = unsafe {
        C_UnwrapKey(
            s,
            &mut m,
            kek,
            wrapped.as_mut_ptr(),
            len,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            &mut unwrapped,
        )
    };
    assert_eq!(rv, CKR_WRAPPED_KEY_INVALID);
    assert_eq!(
        find(s, Template::new().ulong(CKA_CLASS, CKO_SECRET_KEY)).len(),
        before
    );
}

#[test]
fn des3_round_trip() {
    let lab = Lab::new();
    let s = lab.user_session();
    let key = generate_key(s, CKM_DES3_KEY_GEN, Template::new()).unwrap();
    assert_eq!(
        get_attr(s, key, CKA_KEY_TYPE).unwrap(),
        CKK_DES3.to_ne_bytes()
    );
    let mut iv = [2u8; 8];
    let mut m = CK_MECHANISM {
        mechanism: CKM_DES3_CBC_PAD,
        pParameter: iv.as_mut_ptr() as *mut _,
        ulParameterLen: 8,
    };
    assert_eq!(init(C_EncryptInit, s, &mut m, key), CKR_OK);
    let ct = produce(C_Encrypt, s, b"legacy luna key").unwrap();
    assert_eq!(ct.len(), 16);
    assert_eq!(init(C_DecryptInit, s, &mut m, key), CKR_OK);
    assert_eq!(produce(C_Decrypt, s, &ct).unwrap(), b"legacy luna key");
}

#[test]
fn rsa_sign_verify_encrypt_and_wrap_a_private_key() {
    let lab = Lab::new();
    let s = lab.user_session();
    let (public, private) = rsa_pair(s, 2048);
    assert_eq!(get_attr(s, private, CKA_LOCAL).unwrap(), [1]);
    assert_eq!(get_attr(s, private, CKA_ALWAYS_SENSITIVE).unwrap(), [1]);
    assert_eq!(
        get_attr(s, private, CKA_KEY_GEN_MECHANISM).unwrap(),
        CKM_RSA_PKCS_KEY_PAIR_GEN.to_ne_bytes()
    );
    assert_eq!(get_attr(s, public, CKA_MODULUS).unwrap().len(), 256);
    assert_eq!(
        get_attr(s, private, CKA_PRIVATE_EXPONENT),
        Err((CKR_ATTRIBUTE_SENSITIVE, CK_UNAVAILABLE_INFORMATION))
    );

    assert_eq!(
        init(C_SignInit, s, &mut mech(CKM_SHA256_RSA_PKCS), private),
        CKR_OK
    );
    let sig = produce(C_Sign, s, b"to be signed").unwrap();
    assert_eq!(sig.len(), 256);
    assert_eq!(
        init(C_VerifyInit, s, &mut mech(CKM_SHA256_RSA_PKCS), public),
        CKR_OK
    );
    assert_eq!(verify(s, b"to be signed", &sig), CKR_OK);
    assert_eq!(
        init(C_VerifyInit, s, &mut mech(CKM_SHA256_RSA_PKCS), public),
        CKR_OK
    );
    assert_eq!(verify(s, b"to be signeD", &sig), CKR_SIGNATURE_INVALID);
    // A public key cannot sign.
    assert_eq!(
        init(C_SignInit, s, &mut mech(CKM_SHA256_RSA_PKCS), public),
        CKR_KEY_FUNCTION_NOT_PERMITTED
    );

    let mut oaep = CK_RSA_PKCS_OAEP_PARAMS {
        hashAlg: CKM_SHA256,
        mgf: CKG_MGF1_SHA256,
        source: CKZ_DATA_SPECIFIED,
        pSourceData: b"label".as_ptr() as *mut _,
        ulSourceDataLen: 5,
    };
    let mut m = mech_with(CKM_RSA_PKCS_OAEP, &mut oaep);
    assert_eq!(init(C_EncryptInit, s, &mut m, public), CKR_OK);
    let ct = produce(C_Encrypt, s, b"secret").unwrap();
    assert_eq!(init(C_DecryptInit, s, &mut m, private), CKR_OK);
    assert_eq!(produce(C_Decrypt, s, &ct).unwrap(), b"secret");

    // Wrap an extractable RSA private key under AES (PKCS#8 inside), unwrap, and prove the
    // unwrapped key signs what the public key verifies.
    let (_, movable) = generate_key_pair(
        s,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        Template::new().ulong(CKA_MODULUS_BITS, 2048),
        Template::new().bool(CKA_EXTRACTABLE, true),
    )
    .unwrap();
    let movable_public = find(s, Template::new().ulong(CKA_CLASS, CKO_PUBLIC_KEY))
        .into_iter()
        .find(|h| *h != public)
        .unwrap();
    let kek = aes_key(s, |t| t);
    let mut kwp = mech(CKM_AES_KEY_WRAP_PAD);
    let mut len = 0;
    // SAFETY: length query.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_WrapKey(s, &mut kwp, kek, movable, null_mut(), &mut len) },
        CKR_OK
    );
    let mut wrapped = vec![0u8; len as usize];
    // SAFETY: a buffer of the announced length.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_WrapKey(s, &mut kwp, kek, movable, wrapped.as_mut_ptr(), &mut len) },
        CKR_OK
    );
    // The non-extractable key cannot be wrapped.
    // SAFETY: as above.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_WrapKey(s, &mut kwp, kek, private, wrapped.as_mut_ptr(), &mut len) },
        CKR_KEY_UNEXTRACTABLE
    );
    let mut t = Template::new()
        .ulong(CKA_CLASS, CKO_PRIVATE_KEY)
        .ulong(CKA_KEY_TYPE, CKK_RSA)
        .bool(CKA_SIGN, true);
    let mut raw = t.raw();
    let mut unwrapped = 0;
    // SAFETY: valid mechanism, buffer, template and out-pointer.
    let rv = unsafe {
        C_UnwrapKey(
            s,
            &mut kwp,
            kek,
            wrapped.as_mut_ptr(),
            wrapped.len() as CK_ULONG,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            &mut unwrapped,
        )
    };
    assert_eq!(rv, CKR_OK);
    assert_eq!(
        init(C_SignInit, s, &mut mech(CKM_SHA256_RSA_PKCS), unwrapped),
        CKR_OK
    );
    let sig = produce(C_Sign, s, b"moved").unwrap();
    assert_eq!(
        init(
            C_VerifyInit,
            s,
            &mut mech(CKM_SHA256_RSA_PKCS),
            movable_public
        ),
        CKR_OK
    );
    assert_eq!(verify(s, b"moved", &sig), CKR_OK);
}

#[test]
fn ec_sign_verify_and_ecdh_agree() {
    let lab = Lab::new();
    let s = lab.user_session();
    let pair = || {
        generate_key_pair(
            s,
            CKM_EC_KEY_PAIR_GEN,
            Template::new().bytes(CKA_EC_PARAMS, P256),
            Template::new().bool(CKA_DERIVE, true),
        )
        .unwrap()
    };
    let (a_pub, a_priv) = pair();
    let (b_pub, b_priv) = pair();
    assert_eq!(
        init(C_SignInit, s, &mut mech(CKM_ECDSA_SHA256), a_priv),
        CKR_OK
    );
    let sig = produce(C_Sign, s, b"ec message").unwrap();
    assert_eq!(sig.len(), 64);
    assert_eq!(
        init(C_VerifyInit, s, &mut mech(CKM_ECDSA_SHA256), a_pub),
        CKR_OK
    );
    assert_eq!(verify(s, b"ec message", &sig), CKR_OK);
    assert_eq!(
        init(C_VerifyInit, s, &mut mech(CKM_ECDSA_SHA256), b_pub),
        CKR_OK
    );
    assert_eq!(verify(s, b"ec message", &sig), CKR_SIGNATURE_INVALID);

    let derive = |private, peer_public| {
        let point = get_attr(s, peer_public, CKA_EC_POINT).unwrap();
        let mut params = CK_ECDH1_DERIVE_PARAMS {
            kdf: CKD_NULL,
            ulSharedDataLen: 0,
            pSharedData: null_mut(),
            ulPublicDataLen: point.len() as CK_ULONG,
            pPublicData: point.as_ptr() as *mut u8,
        };
        let mut m = mech_with(CKM_ECDH1_DERIVE, &mut params);
        let mut t = Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
            .ulong(CKA_VALUE_LEN, 32)
            .bool(CKA_SENSITIVE, false)
            .bool(CKA_EXTRACTABLE, true);
        let mut raw = t.raw();
        let mut key = 0;
        // SAFETY: valid mechanism (parameter alive), template and out-pointer.
        let rv = unsafe {
            C_DeriveKey(
                s,
                &mut m,
                private,
                raw.as_mut_ptr(),
                raw.len() as CK_ULONG,
                &mut key,
            )
        };
        assert_eq!(rv, CKR_OK);
        get_attr(s, key, CKA_VALUE).unwrap()
    };
    assert_eq!(derive(a_priv, b_pub), derive(b_priv, a_pub));
}

#[test]
fn ed25519_sign_verify() {
    let lab = Lab::new();
    let s = lab.user_session();
    let (public, private) = generate_key_pair(
        s,
        CKM_EC_EDWARDS_KEY_PAIR_GEN,
        Template::new().bytes(CKA_EC_PARAMS, &[0x06, 0x03, 0x2B, 0x65, 0x70]),
        Template::new(),
    )
    .unwrap();
    assert_eq!(init(C_SignInit, s, &mut mech(CKM_EDDSA), private), CKR_OK);
    let sig = produce(C_Sign, s, b"edwards").unwrap();
    assert_eq!(sig.len(), 64);
    assert_eq!(init(C_VerifyInit, s, &mut mech(CKM_EDDSA), public), CKR_OK);
    assert_eq!(verify(s, b"edwards", &sig), CKR_OK);
}

#[test]
fn many_threads_on_many_sessions_sign_and_verify() {
    let lab = Lab::new();
    let s = lab.user_session();
    let (public, private) = generate_key_pair(
        s,
        CKM_EC_KEY_PAIR_GEN,
        Template::new()
            .bytes(CKA_EC_PARAMS, P256)
            .bool(CKA_TOKEN, true),
        Template::new().bool(CKA_TOKEN, true),
    )
    .unwrap();
    std::thread::scope(|scope| {
        for t in 0..8u8 {
            scope.spawn(move || {
                let own = open_session(0, CKF_SERIAL_SESSION).unwrap();
                for i in 0..50u8 {
                    let msg = [t, i];
                    assert_eq!(
                        init(C_SignInit, own, &mut mech(CKM_ECDSA_SHA256), private),
                        CKR_OK
                    );
                    let sig = produce(C_Sign, own, &msg).unwrap();
                    assert_eq!(
                        init(C_VerifyInit, own, &mut mech(CKM_ECDSA_SHA256), public),
                        CKR_OK
                    );
                    assert_eq!(verify(own, &msg, &sig), CKR_OK);
                    // Object churn alongside the crypto.
                    let o = create(
                        own,
                        Template::new()
                            .ulong(CKA_CLASS, CKO_DATA)
                            .bytes(CKA_LABEL, &msg),
                    )
                    .unwrap();
                    // SAFETY: no pointers.
                    assert_eq!(unsafe { C_DestroyObject(own, o) }, CKR_OK);
                }
                // SAFETY: no pointers.
                assert_eq!(unsafe { C_CloseSession(own) }, CKR_OK);
            });
        }
    });
    assert!(find(s, Template::new().ulong(CKA_CLASS, CKO_DATA)).is_empty());
}

#[test]
fn always_authenticate_keys_need_a_context_login_per_use() {
    let lab = Lab::new();
    let s = lab.user_session();
    let (_, private) = generate_key_pair(
        s,
        CKM_EC_KEY_PAIR_GEN,
        Template::new().bytes(CKA_EC_PARAMS, P256),
        Template::new().bool(CKA_ALWAYS_AUTHENTICATE, true),
    )
    .unwrap();
    assert_eq!(
        init(C_SignInit, s, &mut mech(CKM_ECDSA_SHA256), private),
        CKR_OK
    );
    assert_eq!(produce(C_Sign, s, b"x"), Err(CKR_USER_NOT_LOGGED_IN));
    // That error ended the operation, as every error of C_Sign does: start again.
    assert_eq!(
        login(s, CKU_CONTEXT_SPECIFIC, USER_PIN),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(
        init(C_SignInit, s, &mut mech(CKM_ECDSA_SHA256), private),
        CKR_OK
    );
    assert_eq!(
        login(s, CKU_CONTEXT_SPECIFIC, b"wrong-pin"),
        CKR_PIN_INCORRECT
    );
    assert_eq!(login(s, CKU_CONTEXT_SPECIFIC, USER_PIN), CKR_OK);
    assert_eq!(produce(C_Sign, s, b"x").map(|v| v.len()), Ok(64));
    // The authentication was for that one operation.
    assert_eq!(
        init(C_SignInit, s, &mut mech(CKM_ECDSA_SHA256), private),
        CKR_OK
    );
    assert_eq!(produce(C_Sign, s, b"x"), Err(CKR_USER_NOT_LOGGED_IN));
    // Without an operation waiting, a context login has nothing to authorise.
    // SAFETY: no pointers.
    assert_eq!(unsafe { C_SessionCancel(s, CKF_SIGN) }, CKR_OK);
    assert_eq!(
        login(s, CKU_CONTEXT_SPECIFIC, USER_PIN),
        CKR_OPERATION_NOT_INITIALIZED
    );
}

#[test]
fn sign_recover_and_verify_recover_with_raw_rsa() {
    let lab = Lab::new();
    let s = lab.user_session();
    let (public, private) = rsa_pair(s, 1024);
    assert_eq!(
        init(C_SignRecoverInit, s, &mut mech(CKM_RSA_PKCS), private),
        CKR_OK
    );
    // A recover operation is not a plain signature.
    assert_eq!(
        produce(C_Sign, s, b"recoverable"),
        Err(CKR_OPERATION_NOT_INITIALIZED)
    );
    let sig = produce(C_SignRecover, s, b"recoverable").unwrap();
    assert_eq!(sig.len(), 128);
    assert_eq!(
        init(C_VerifyRecoverInit, s, &mut mech(CKM_RSA_PKCS), public),
        CKR_OK
    );
    assert_eq!(produce(C_VerifyRecover, s, &sig).unwrap(), b"recoverable");
    // Sign-recover is not offered for hashing mechanisms.
    assert_eq!(
        init(
            C_SignRecoverInit,
            s,
            &mut mech(CKM_SHA256_RSA_PKCS),
            private
        ),
        CKR_MECHANISM_INVALID
    );
}

#[test]
fn wrap_with_trusted_and_wrap_templates_are_enforced() {
    let lab = Lab::new();
    let s = lab.user_session();
    let guarded = aes_key(s, |t| {
        t.bool(CKA_EXTRACTABLE, true)
            .bool(CKA_WRAP_WITH_TRUSTED, true)
            .bool(CKA_TOKEN, true)
    });
    let untrusted = aes_key(s, |t| t);
    let wrap = |kek, key| {
        let mut len = 0;
        // SAFETY: a length query with a valid mechanism.
        unsafe {
            C_WrapKey(
                s,
                &mut mech(CKM_AES_KEY_WRAP),
                kek,
                key,
                null_mut(),
                &mut len,
            )
        }
    };
    assert_eq!(wrap(untrusted, guarded), CKR_KEY_NOT_WRAPPABLE);
    // Only the SO can make a key trusted; the SO cannot see private keys, so use a public
    // (CKA_PRIVATE false) wrapping key.
    let trusted = aes_key(s, |t| t.bool(CKA_PRIVATE, false).bool(CKA_TOKEN, true));
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(login(s, CKU_SO, SO_PIN), CKR_OK);
    let mut t = Template::new().bool(CKA_TRUSTED, true);
    let mut raw = t.raw();
    // SAFETY: a valid template.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_SetAttributeValue(s, trusted, raw.as_mut_ptr(), 1) },
        CKR_OK
    );
    assert_eq!(logout(s), CKR_OK);
    assert_eq!(login(s, CKU_USER, USER_PIN), CKR_OK);
    assert_eq!(wrap(trusted, guarded), CKR_OK);

    // A wrapping key's CKA_WRAP_TEMPLATE limits what it wraps.
    let label_attr = CK_ATTRIBUTE {
        type_: CKA_LABEL,
        pValue: b"ok".as_ptr() as *mut _,
        ulValueLen: 2,
    };
    let template_bytes = unsafe_bytes(&label_attr);
    let picky = aes_key(s, |t| t.bytes(CKA_WRAP_TEMPLATE, &template_bytes));
    let labelled = aes_key(s, |t| t.bool(CKA_EXTRACTABLE, true).bytes(CKA_LABEL, b"ok"));
    let other = aes_key(s, |t| t.bool(CKA_EXTRACTABLE, true).bytes(CKA_LABEL, b"no"));
    assert_eq!(wrap(picky, labelled), CKR_OK);
    assert_eq!(wrap(picky, other), CKR_KEY_NOT_WRAPPABLE);
}

/// The bytes of one CK_ATTRIBUTE, for building an attribute-array attribute.
fn unsafe_bytes(a: &CK_ATTRIBUTE) -> Vec<u8> {
    // SAFETY: a CK_ATTRIBUTE is plain data of this size.
    unsafe {
        std::slice::from_raw_parts(
            a as *const CK_ATTRIBUTE as *const u8,
            size_of::<CK_ATTRIBUTE>(),
        )
    }
    .to_vec()
}

#[test]
fn a_blocking_slot_event_wait_ends_at_finalize() {
    let lab = Lab::new();
    let waiter = std::thread::spawn(|| {
        let mut slot = 0;
        // SAFETY: valid out-pointer.
        unsafe { C_WaitForSlotEvent(0, &mut slot, null_mut()) }
    });
    std::thread::sleep(std::time::Duration::from_millis(100));
    // SAFETY: null is the valid argument.
    assert_eq!(unsafe { C_Finalize(null_mut()) }, CKR_OK);
    assert_eq!(waiter.join().unwrap(), CKR_CRYPTOKI_NOT_INITIALIZED);
    drop(lab);
}

#[test]
fn an_imported_rsa_public_key_verifies_and_reports_its_size() {
    let lab = Lab::new();
    let s = lab.user_session();
    let (public, private) = rsa_pair(s, 2048);
    let modulus = get_attr(s, public, CKA_MODULUS).unwrap();
    let exponent = get_attr(s, public, CKA_PUBLIC_EXPONENT).unwrap();
    let imported = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_PUBLIC_KEY)
            .ulong(CKA_KEY_TYPE, CKK_RSA)
            .bytes(CKA_MODULUS, &modulus)
            .bytes(CKA_PUBLIC_EXPONENT, &exponent),
    )
    .unwrap();
    assert_eq!(
        get_attr(s, imported, CKA_MODULUS_BITS).unwrap(),
        2048u64.to_ne_bytes()
    );
    assert_eq!(get_attr(s, imported, CKA_LOCAL).unwrap(), [0]);
    assert_eq!(
        init(C_SignInit, s, &mut mech(CKM_SHA384_RSA_PKCS), private),
        CKR_OK
    );
    let sig = produce(C_Sign, s, b"imported").unwrap();
    assert_eq!(
        init(C_VerifyInit, s, &mut mech(CKM_SHA384_RSA_PKCS), imported),
        CKR_OK
    );
    assert_eq!(verify(s, b"imported", &sig), CKR_OK);
    // A malformed modulus is refused at creation.
    let bad = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_PUBLIC_KEY)
            .ulong(CKA_KEY_TYPE, CKK_RSA)
            .bytes(CKA_MODULUS, &[0u8; 4])
            .bytes(CKA_PUBLIC_EXPONENT, &exponent),
    );
    assert_eq!(bad, Err(CKR_ATTRIBUTE_VALUE_INVALID));
}
