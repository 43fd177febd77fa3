//! ML-DSA and ML-KEM through the C ABI (PKCS#11 3.2): key generation and attributes
//! (`CKA_PUBLIC_KEY_INFO`), signing with contexts, deterministic and pre-hash variants (SHA-2,
//! SHA-3, SHAKE), `C_VerifySignature`, wrapping and unwrapping ML-DSA and ML-KEM private keys
//! as PKCS#8 (seed and expanded forms, wrapping an unwrapped copy again), and
//! `C_EncapsulateKey` / `C_DecapsulateKey` with their length convention.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::ptr::null_mut;

fn ml_dsa_pair(s: CK_SESSION_HANDLE, set: CK_ULONG) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    generate_key_pair(
        s,
        CKM_ML_DSA_KEY_PAIR_GEN,
        Template::new()
            .ulong(CKA_PARAMETER_SET, set)
            .bool(CKA_VERIFY, true),
        Template::new()
            .bool(CKA_SIGN, true)
            .bool(CKA_EXTRACTABLE, true),
    )
    .expect("ML-DSA key pair generation")
}

fn sign_with(
    s: CK_SESSION_HANDLE,
    m: &mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
) -> Vec<u8> {
    assert_eq!(init(C_SignInit, s, m, key), CKR_OK);
    produce(C_Sign, s, data).expect("C_Sign")
}

fn verify_with(
    s: CK_SESSION_HANDLE,
    m: &mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
    sig: &[u8],
) -> CK_RV {
    assert_eq!(init(C_VerifyInit, s, m, key), CKR_OK);
    verify(s, data, sig)
}

fn context(hedge: CK_ULONG, ctx: &mut [u8]) -> CK_SIGN_ADDITIONAL_CONTEXT {
    CK_SIGN_ADDITIONAL_CONTEXT {
        hedgeVariant: hedge,
        pContext: ctx.as_mut_ptr(),
        ulContextLen: ctx.len() as CK_ULONG,
    }
}

/// `C_WrapKey` of `key` under `kek` with `mechanism` (length query, then the call).
fn wrap(
    s: CK_SESSION_HANDLE,
    mechanism: CK_MECHANISM_TYPE,
    kek: CK_OBJECT_HANDLE,
    key: CK_OBJECT_HANDLE,
) -> Result<Vec<u8>, CK_RV> {
    let mut m = mech(mechanism);
    let mut len = 0;
    // SAFETY: a length query with valid pointers.
    let rv = unsafe { C_WrapKey(s, &mut m, kek, key, null_mut(), &mut len) };
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut wrapped = vec![0u8; len as usize];
    // SAFETY: the buffer holds `len` bytes.
    let rv = unsafe { C_WrapKey(s, &mut m, kek, key, wrapped.as_mut_ptr(), &mut len) };
    if rv != CKR_OK {
        return Err(rv);
    }
    wrapped.truncate(len as usize);
    Ok(wrapped)
}

/// `C_UnwrapKey` of `wrapped` under `kek` with `mechanism` into a private key of `template`.
fn unwrap(
    s: CK_SESSION_HANDLE,
    mechanism: CK_MECHANISM_TYPE,
    kek: CK_OBJECT_HANDLE,
    wrapped: &[u8],
    mut template: Template,
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut m = mech(mechanism);
    let mut raw = template.raw();
    let mut key = CK_INVALID_HANDLE;
    // SAFETY: mechanism, wrapped bytes, template and out-pointer are valid.
    let rv = unsafe {
        C_UnwrapKey(
            s,
            &mut m,
            kek,
            wrapped.as_ptr() as *mut u8,
            wrapped.len() as CK_ULONG,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            &mut key,
        )
    };
    if rv == CKR_OK { Ok(key) } else { Err(rv) }
}

fn private_template(key_type: CK_KEY_TYPE) -> Template {
    Template::new()
        .ulong(CKA_CLASS, CKO_PRIVATE_KEY)
        .ulong(CKA_KEY_TYPE, key_type)
}

#[test]
fn ml_dsa_signs_with_contexts_deterministically_and_verifies_signatures() {
    let lab = Lab::new();
    let s = lab.user_session();
    // The parameter set is required.
    assert_eq!(
        generate_key_pair(s, CKM_ML_DSA_KEY_PAIR_GEN, Template::new(), Template::new()).err(),
        Some(CKR_TEMPLATE_INCOMPLETE)
    );
    let (public, private) = ml_dsa_pair(s, CKP_ML_DSA_65);
    assert_eq!(
        get_attr(s, public, CKA_PARAMETER_SET).unwrap(),
        CKP_ML_DSA_65.to_ne_bytes()
    );
    assert_eq!(get_attr(s, public, CKA_VALUE).unwrap().len(), 1952);
    assert_eq!(
        get_attr(s, private, CKA_SEED).err().map(|e| e.0),
        Some(CKR_ATTRIBUTE_SENSITIVE)
    );

    let data = b"post-quantum data";
    let sig = sign_with(s, &mut mech(CKM_ML_DSA), private, data);
    assert_eq!(sig.len(), 3309);
    assert_eq!(
        verify_with(s, &mut mech(CKM_ML_DSA), public, data, &sig),
        CKR_OK
    );
    let mut m = mech(CKM_ML_DSA);
    // SAFETY: mechanism and signature are valid for the call.
    let rv = unsafe {
        C_VerifySignatureInit(
            s,
            &mut m,
            public,
            sig.as_ptr() as *mut u8,
            sig.len() as CK_ULONG,
        )
    };
    assert_eq!(rv, CKR_OK);
    assert_eq!(update(C_VerifySignature, s, data), CKR_OK);

    // Deterministic with a context: byte-equal signatures; the context binds.
    let mut ctx = [0x5Au8; 33];
    let mut p = context(CKH_DETERMINISTIC_REQUIRED, &mut ctx);
    let a = sign_with(s, &mut mech_with(CKM_ML_DSA, &mut p), private, data);
    let b = sign_with(s, &mut mech_with(CKM_ML_DSA, &mut p), private, data);
    assert_eq!(a, b);
    assert_eq!(
        verify_with(s, &mut mech_with(CKM_ML_DSA, &mut p), public, data, &a),
        CKR_OK
    );
    assert_eq!(
        verify_with(s, &mut mech_with(CKM_ML_DSA, &mut p), public, data, &sig),
        CKR_SIGNATURE_INVALID
    );
    // Multi-part pure ML-DSA gives the same deterministic signature.
    assert_eq!(
        init(C_SignInit, s, &mut mech_with(CKM_ML_DSA, &mut p), private),
        CKR_OK
    );
    assert_eq!(update(C_SignUpdate, s, &data[..4]), CKR_OK);
    assert_eq!(update(C_SignUpdate, s, &data[4..]), CKR_OK);
    assert_eq!(finish(C_SignFinal, s).unwrap(), a);

    // CKM_HASH_ML_DSA is single-part.
    let digest = [7u8; 48];
    let mut hp = CK_HASH_SIGN_ADDITIONAL_CONTEXT {
        hedgeVariant: CKH_HEDGE_PREFERRED,
        pContext: null_mut(),
        ulContextLen: 0,
        hash: CKM_SHA384,
    };
    assert_eq!(
        init(
            C_SignInit,
            s,
            &mut mech_with(CKM_HASH_ML_DSA, &mut hp),
            private
        ),
        CKR_OK
    );
    assert_eq!(
        update(C_SignUpdate, s, &digest),
        CKR_OPERATION_NOT_INITIALIZED
    );
    let hs = sign_with(
        s,
        &mut mech_with(CKM_HASH_ML_DSA, &mut hp),
        private,
        &digest,
    );
    assert_eq!(
        verify_with(
            s,
            &mut mech_with(CKM_HASH_ML_DSA, &mut hp),
            public,
            &digest,
            &hs
        ),
        CKR_OK
    );

    // A 44 key on the 65 signature: wrong length.
    let (public44, _) = ml_dsa_pair(s, CKP_ML_DSA_44);
    assert_eq!(
        verify_with(s, &mut mech(CKM_ML_DSA), public44, data, &sig),
        CKR_SIGNATURE_LEN_RANGE
    );
}

#[test]
fn ml_dsa_private_keys_wrap_as_pkcs8_and_import_from_the_seed() {
    let lab = Lab::new();
    let s = lab.user_session();
    let (public, private) = ml_dsa_pair(s, CKP_ML_DSA_44);
    let kek = aes_key(s, |t| t);
    let wrapped = wrap(s, CKM_AES_KEY_WRAP_KWP, kek, private).expect("wrap");
    let unwrapped = unwrap(
        s,
        CKM_AES_KEY_WRAP_KWP,
        kek,
        &wrapped,
        private_template(CKK_ML_DSA).bool(CKA_SIGN, true),
    )
    .expect("unwrap");
    assert_eq!(
        get_attr(s, unwrapped, CKA_PARAMETER_SET).unwrap(),
        CKP_ML_DSA_44.to_ne_bytes()
    );
    let sig = sign_with(s, &mut mech(CKM_ML_DSA), unwrapped, b"m");
    assert_eq!(
        verify_with(s, &mut mech(CKM_ML_DSA), public, b"m", &sig),
        CKR_OK
    );
    // The seed came back with the key: it is sensitive like the original's, and the caller
    // may not give it in an unwrap template.
    assert_eq!(
        get_attr(s, unwrapped, CKA_SEED).err().map(|e| e.0),
        Some(CKR_ATTRIBUTE_SENSITIVE)
    );
    assert_eq!(
        unwrap(
            s,
            CKM_AES_KEY_WRAP_KWP,
            kek,
            &wrapped,
            private_template(CKK_ML_DSA).bytes(CKA_SEED, &[1; 32]),
        )
        .err(),
        Some(CKR_TEMPLATE_INCONSISTENT)
    );

    // C_CreateObject from a seed (64 bytes is not an ML-DSA seed).
    let seed = [9u8; 32];
    let created = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_PRIVATE_KEY)
            .ulong(CKA_KEY_TYPE, CKK_ML_DSA)
            .ulong(CKA_PARAMETER_SET, CKP_ML_DSA_44)
            .bytes(CKA_SEED, &seed),
    )
    .expect("create from CKA_SEED");
    let again = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_PRIVATE_KEY)
            .ulong(CKA_KEY_TYPE, CKK_ML_DSA)
            .ulong(CKA_PARAMETER_SET, CKP_ML_DSA_44)
            .bytes(CKA_SEED, &seed),
    )
    .unwrap();
    let mut p = context(CKH_DETERMINISTIC_REQUIRED, &mut []);
    assert_eq!(
        sign_with(s, &mut mech_with(CKM_ML_DSA, &mut p), created, b"x"),
        sign_with(s, &mut mech_with(CKM_ML_DSA, &mut p), again, b"x")
    );
}

/// An unwrapped copy of an ML-DSA key wraps again (its seed came back with it): wrap, unwrap,
/// wrap the copy, unwrap that, and the last copy signs for the original public key. The
/// private keys carry the public key's SubjectPublicKeyInfo.
#[test]
fn an_unwrapped_ml_dsa_key_wraps_again_and_keeps_its_public_key_info() {
    let lab = Lab::new();
    let s = lab.user_session();
    let (public, private) = ml_dsa_pair(s, CKP_ML_DSA_87);
    let info = get_attr(s, public, CKA_PUBLIC_KEY_INFO).unwrap();
    let raw = get_attr(s, public, CKA_VALUE).unwrap();
    assert!(info.len() > raw.len() && info.ends_with(&raw));
    assert_eq!(get_attr(s, private, CKA_PUBLIC_KEY_INFO).unwrap(), info);
    let kek = aes_key(s, |t| t);
    let copyable = || {
        private_template(CKK_ML_DSA)
            .bool(CKA_SIGN, true)
            .bool(CKA_EXTRACTABLE, true)
    };
    let first = unwrap(
        s,
        CKM_AES_KEY_WRAP_KWP,
        kek,
        &wrap(s, CKM_AES_KEY_WRAP_KWP, kek, private).unwrap(),
        copyable(),
    )
    .unwrap();
    let wrapped_again = wrap(s, CKM_AES_KEY_WRAP_PAD, kek, first).expect("the copy wraps");
    let second = unwrap(s, CKM_AES_KEY_WRAP_PAD, kek, &wrapped_again, copyable()).unwrap();
    assert_eq!(get_attr(s, second, CKA_PUBLIC_KEY_INFO).unwrap(), info);
    let data = b"signed by a copy of a copy";
    let sig = sign_with(s, &mut mech(CKM_ML_DSA), second, data);
    assert_eq!(
        verify_with(s, &mut mech(CKM_ML_DSA), public, data, &sig),
        CKR_OK
    );
    // The copies sign as the original (deterministic signatures are equal).
    let mut p = context(CKH_DETERMINISTIC_REQUIRED, &mut []);
    assert_eq!(
        sign_with(s, &mut mech_with(CKM_ML_DSA, &mut p), second, data),
        sign_with(s, &mut mech_with(CKM_ML_DSA, &mut p), private, data)
    );
}

/// A `CKA_PUBLIC_KEY_INFO` given to `C_CreateObject` must be the key's own.
#[test]
fn public_key_info_given_to_create_object_must_be_the_keys() {
    let lab = Lab::new();
    let s = lab.user_session();
    let (public, _) = ml_dsa_pair(s, CKP_ML_DSA_44);
    let (other, _) = ml_dsa_pair(s, CKP_ML_DSA_44);
    let raw = get_attr(s, public, CKA_VALUE).unwrap();
    let info = get_attr(s, public, CKA_PUBLIC_KEY_INFO).unwrap();
    let public_with = |info: &[u8]| {
        create(
            s,
            Template::new()
                .ulong(CKA_CLASS, CKO_PUBLIC_KEY)
                .ulong(CKA_KEY_TYPE, CKK_ML_DSA)
                .ulong(CKA_PARAMETER_SET, CKP_ML_DSA_44)
                .bytes(CKA_VALUE, &raw)
                .bytes(CKA_PUBLIC_KEY_INFO, info),
        )
    };
    let created = public_with(&info).expect("the key's own info");
    assert_eq!(get_attr(s, created, CKA_PUBLIC_KEY_INFO).unwrap(), info);
    let wrong = get_attr(s, other, CKA_PUBLIC_KEY_INFO).unwrap();
    assert_eq!(public_with(&wrong).err(), Some(CKR_ATTRIBUTE_VALUE_INVALID));

    // ML-KEM: a private key from its seed, with the info of another key.
    let kem_private = |seed: &[u8], info: &[u8]| {
        create(
            s,
            private_template(CKK_ML_KEM)
                .ulong(CKA_PARAMETER_SET, CKP_ML_KEM_512)
                .bytes(CKA_SEED, seed)
                .bytes(CKA_PUBLIC_KEY_INFO, info),
        )
    };
    let first = kem_private(&[3; 64], &[]).unwrap();
    let second = kem_private(&[4; 64], &[]).unwrap();
    // Created keys keep the (empty) info they were given: only generation and unwrapping
    // compute it.
    assert_eq!(
        get_attr(s, first, CKA_PUBLIC_KEY_INFO).unwrap(),
        Vec::<u8>::new()
    );
    let kek = aes_key(s, |t| t);
    let info_of = |key| {
        let wrapped = wrap(s, CKM_AES_KEY_WRAP_KWP, kek, key).unwrap();
        let copy = unwrap(
            s,
            CKM_AES_KEY_WRAP_KWP,
            kek,
            &wrapped,
            private_template(CKK_ML_KEM),
        )
        .unwrap();
        get_attr(s, copy, CKA_PUBLIC_KEY_INFO).unwrap()
    };
    let (info1, info2) = (info_of(first), info_of(second));
    assert_ne!(info1, info2);
    assert!(kem_private(&[3; 64], &info1).is_ok());
    assert_eq!(
        kem_private(&[3; 64], &info2).err(),
        Some(CKR_ATTRIBUTE_VALUE_INVALID)
    );
}

/// HashML-DSA with SHAKE: the hashing mechanisms are listed with sign/verify, and
/// `CKM_HASH_ML_DSA` with the SHAKE stand-ins (simulator-defined) signs the caller's digest
/// the same way.
#[test]
fn hash_ml_dsa_with_shake128_and_shake256() {
    let lab = Lab::new();
    let s = lab.user_session();
    let (public, private) = ml_dsa_pair(s, CKP_ML_DSA_44);
    let data = b"data hashed with an XOF";
    for (hashing, hash, digest_len) in [
        (CKM_HASH_ML_DSA_SHAKE128, CKM_SHAKE_128_KEY_DERIVATION, 32),
        (CKM_HASH_ML_DSA_SHAKE256, CKM_SHAKE_256_KEY_DERIVATION, 64),
    ] {
        let mut info = CK_MECHANISM_INFO::default();
        // SAFETY: a valid out-pointer.
        assert_eq!(unsafe { C_GetMechanismInfo(0, hashing, &mut info) }, CKR_OK);
        assert_eq!(info.flags & (CKF_SIGN | CKF_VERIFY), CKF_SIGN | CKF_VERIFY);

        let mut p = context(CKH_DETERMINISTIC_REQUIRED, &mut []);
        assert_eq!(
            init(C_SignInit, s, &mut mech_with(hashing, &mut p), private),
            CKR_OK
        );
        assert_eq!(update(C_SignUpdate, s, &data[..5]), CKR_OK);
        assert_eq!(update(C_SignUpdate, s, &data[5..]), CKR_OK);
        let sig = finish(C_SignFinal, s).unwrap();
        assert_eq!(
            verify_with(s, &mut mech_with(hashing, &mut p), public, data, &sig),
            CKR_OK
        );
        assert_eq!(
            verify_with(s, &mut mech_with(hashing, &mut p), public, b"other", &sig),
            CKR_SIGNATURE_INVALID
        );
        // The digest form refuses a digest of the wrong length (the SHAKE output of this
        // pre-hash is `digest_len` bytes), and verifies nothing made with another hash.
        let mut hp = CK_HASH_SIGN_ADDITIONAL_CONTEXT {
            hedgeVariant: CKH_DETERMINISTIC_REQUIRED,
            pContext: null_mut(),
            ulContextLen: 0,
            hash,
        };
        assert_eq!(
            init(
                C_SignInit,
                s,
                &mut mech_with(CKM_HASH_ML_DSA, &mut hp),
                private
            ),
            CKR_OK
        );
        assert_eq!(
            produce(C_Sign, s, &vec![1u8; digest_len + 1]).err(),
            Some(CKR_DATA_LEN_RANGE)
        );
        let digest_sig = sign_with(
            s,
            &mut mech_with(CKM_HASH_ML_DSA, &mut hp),
            private,
            &vec![1u8; digest_len],
        );
        assert_eq!(
            verify_with(
                s,
                &mut mech_with(CKM_HASH_ML_DSA, &mut hp),
                public,
                &vec![1u8; digest_len],
                &digest_sig
            ),
            CKR_OK
        );
        assert_eq!(
            verify_with(
                s,
                &mut mech(CKM_ML_DSA),
                public,
                &vec![1u8; digest_len],
                &digest_sig
            ),
            CKR_SIGNATURE_INVALID
        );
    }
}

fn encapsulate(
    s: CK_SESSION_HANDLE,
    public: CK_OBJECT_HANDLE,
    mut t: Template,
    ciphertext: Option<&mut Vec<u8>>,
    len: &mut CK_ULONG,
) -> (CK_RV, CK_OBJECT_HANDLE) {
    let mut raw = t.raw();
    let mut m = mech(CKM_ML_KEM);
    let mut key = CK_INVALID_HANDLE;
    let out = ciphertext.map_or(null_mut(), |c| c.as_mut_ptr());
    // SAFETY: mechanism, template, buffer (of `*len` bytes or null) and out-pointers are valid.
    let rv = unsafe {
        C_EncapsulateKey(
            s,
            &mut m,
            public,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            out,
            len,
            &mut key,
        )
    };
    (rv, key)
}

fn decapsulate(
    s: CK_SESSION_HANDLE,
    private: CK_OBJECT_HANDLE,
    mut t: Template,
    ct: &[u8],
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut raw = t.raw();
    let mut m = mech(CKM_ML_KEM);
    let mut key = CK_INVALID_HANDLE;
    // SAFETY: mechanism, template, ciphertext and out-pointer are valid.
    let rv = unsafe {
        C_DecapsulateKey(
            s,
            &mut m,
            private,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            ct.as_ptr() as *mut u8,
            ct.len() as CK_ULONG,
            &mut key,
        )
    };
    if rv == CKR_OK { Ok(key) } else { Err(rv) }
}

fn aes_template(len: Option<CK_ULONG>) -> Template {
    let t = Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true);
    match len {
        Some(l) => t.ulong(CKA_VALUE_LEN, l),
        None => t,
    }
}

#[test]
fn ml_kem_encapsulates_and_decapsulates_a_shared_aes_key() {
    let lab = Lab::new();
    let s = lab.user_session();
    let mut info = CK_MECHANISM_INFO::default();
    // SAFETY: a valid out-pointer.
    assert_eq!(
        // SAFETY: arguments are valid for the call, as the comment above says.
        unsafe { C_GetMechanismInfo(0, CKM_ML_KEM, &mut info) },
        CKR_OK
    );
    assert_eq!(
        info.flags & (CKF_ENCAPSULATE | CKF_DECAPSULATE),
        CKF_ENCAPSULATE | CKF_DECAPSULATE
    );
    assert_eq!(
        generate_key_pair(s, CKM_ML_KEM_KEY_PAIR_GEN, Template::new(), Template::new()).err(),
        Some(CKR_TEMPLATE_INCOMPLETE)
    );
    let (public, private) = generate_key_pair(
        s,
        CKM_ML_KEM_KEY_PAIR_GEN,
        Template::new()
            .ulong(CKA_PARAMETER_SET, CKP_ML_KEM_768)
            .bool(CKA_ENCAPSULATE, true),
        Template::new().bool(CKA_DECAPSULATE, true),
    )
    .expect("ML-KEM key pair generation");
    assert_eq!(get_attr(s, public, CKA_VALUE).unwrap().len(), 1184);

    // Length query: no key is made.
    let before = find(s, Template::new().ulong(CKA_CLASS, CKO_SECRET_KEY)).len();
    let mut len = 0;
    let (rv, key) = encapsulate(s, public, aes_template(None), None, &mut len);
    assert_eq!((rv, key, len), (CKR_OK, CK_INVALID_HANDLE, 1088));
    let mut short = vec![0u8; 10];
    let mut short_len = 10;
    let (rv, _) = encapsulate(
        s,
        public,
        aes_template(None),
        Some(&mut short),
        &mut short_len,
    );
    assert_eq!((rv, short_len), (CKR_BUFFER_TOO_SMALL, 1088));
    assert_eq!(
        find(s, Template::new().ulong(CKA_CLASS, CKO_SECRET_KEY)).len(),
        before
    );

    let mut ct = vec![0u8; len as usize];
    let (rv, sender) = encapsulate(s, public, aes_template(None), Some(&mut ct), &mut len);
    assert_eq!(rv, CKR_OK);
    let receiver = decapsulate(s, private, aes_template(None), &ct).unwrap();
    let value = get_attr(s, sender, CKA_VALUE).unwrap();
    assert_eq!(value.len(), 32);
    assert_eq!(get_attr(s, receiver, CKA_VALUE).unwrap(), value);
    assert_eq!(get_attr(s, sender, CKA_LOCAL).unwrap(), [0]);
    assert_eq!(get_attr(s, receiver, CKA_ALWAYS_SENSITIVE).unwrap(), [0]);
    assert_eq!(get_attr(s, receiver, CKA_NEVER_EXTRACTABLE).unwrap(), [0]);
    // The keys work: AES-ECB one way and back.
    let block = [0x42u8; 16];
    assert_eq!(
        init(C_EncryptInit, s, &mut mech(CKM_AES_ECB), sender),
        CKR_OK
    );
    let enc = produce(C_Encrypt, s, &block).unwrap();
    assert_eq!(
        init(C_DecryptInit, s, &mut mech(CKM_AES_ECB), receiver),
        CKR_OK
    );
    assert_eq!(produce(C_Decrypt, s, &enc).unwrap(), block);

    // AES-128 from the leading 16 bytes (simulator-defined), on both sides.
    let mut len = 1088;
    let mut ct = vec![0u8; 1088];
    let (rv, k16) = encapsulate(s, public, aes_template(Some(16)), Some(&mut ct), &mut len);
    assert_eq!(rv, CKR_OK);
    let r16 = decapsulate(s, private, aes_template(Some(16)), &ct).unwrap();
    assert_eq!(get_attr(s, k16, CKA_VALUE).unwrap().len(), 16);
    assert_eq!(
        get_attr(s, k16, CKA_VALUE).unwrap(),
        get_attr(s, r16, CKA_VALUE).unwrap()
    );
    assert_eq!(
        decapsulate(s, private, aes_template(Some(48)), &ct).err(),
        Some(CKR_TEMPLATE_INCONSISTENT)
    );
    assert_eq!(
        decapsulate(s, private, aes_template(None), &ct[1..]).err(),
        Some(CKR_ENCRYPTED_DATA_LEN_RANGE)
    );

    // The usage attributes are checked.
    let (no_encaps, _) = generate_key_pair(
        s,
        CKM_ML_KEM_KEY_PAIR_GEN,
        Template::new()
            .ulong(CKA_PARAMETER_SET, CKP_ML_KEM_512)
            .bool(CKA_ENCAPSULATE, false),
        Template::new(),
    )
    .unwrap();
    let mut len = 0;
    let (rv, _) = encapsulate(s, no_encaps, aes_template(None), None, &mut len);
    assert_eq!(rv, CKR_KEY_FUNCTION_NOT_PERMITTED);
    // Decapsulating with the public key: not a decapsulation key.
    assert!(decapsulate(s, public, aes_template(None), &ct).is_err());
}

/// A shared AES key recovered with `private` from a ciphertext made to `public`, compared with
/// the sender's.
fn decapsulation_agrees(
    s: CK_SESSION_HANDLE,
    public: CK_OBJECT_HANDLE,
    private: CK_OBJECT_HANDLE,
) -> bool {
    let mut len = 0;
    let (rv, _) = encapsulate(s, public, aes_template(None), None, &mut len);
    assert_eq!(rv, CKR_OK);
    let mut ct = vec![0u8; len as usize];
    let (rv, sender) = encapsulate(s, public, aes_template(None), Some(&mut ct), &mut len);
    assert_eq!(rv, CKR_OK);
    let receiver = decapsulate(s, private, aes_template(None), &ct).expect("decapsulation");
    get_attr(s, sender, CKA_VALUE).unwrap() == get_attr(s, receiver, CKA_VALUE).unwrap()
}

/// ML-KEM private keys wrap as PKCS#8 with AES key wrap (KWP and PAD) and unwrap to working
/// keys: the seed form keeps `CKA_SEED` (so the copy wraps again), a key known only by its dk
/// goes in the expanded form; each copy decapsulates what the original public key
/// encapsulated, and carries the public key's SubjectPublicKeyInfo.
#[test]
fn ml_kem_private_keys_wrap_and_unwrap_as_pkcs8() {
    let lab = Lab::new();
    let s = lab.user_session();
    let (public, private) = generate_key_pair(
        s,
        CKM_ML_KEM_KEY_PAIR_GEN,
        Template::new().ulong(CKA_PARAMETER_SET, CKP_ML_KEM_1024),
        Template::new()
            .bool(CKA_EXTRACTABLE, true)
            .bool(CKA_SENSITIVE, false),
    )
    .expect("ML-KEM key pair generation");
    let info = get_attr(s, public, CKA_PUBLIC_KEY_INFO).unwrap();
    assert!(info.ends_with(&get_attr(s, public, CKA_VALUE).unwrap()));
    assert_eq!(get_attr(s, private, CKA_PUBLIC_KEY_INFO).unwrap(), info);
    let seed = get_attr(s, private, CKA_SEED).unwrap();
    let dk = get_attr(s, private, CKA_VALUE).unwrap();
    let kek = aes_key(s, |t| t);
    let copy_template = || {
        private_template(CKK_ML_KEM)
            .bool(CKA_DECAPSULATE, true)
            .bool(CKA_EXTRACTABLE, true)
    };

    for wrapping in [CKM_AES_KEY_WRAP_KWP, CKM_AES_KEY_WRAP_PAD] {
        let wrapped = wrap(s, wrapping, kek, private).expect("an ML-KEM key wraps");
        // Sensitive by default: the seed is there but not readable.
        let copy = unwrap(s, wrapping, kek, &wrapped, copy_template()).expect("unwrap");
        assert_eq!(
            get_attr(s, copy, CKA_SEED).err().map(|e| e.0),
            Some(CKR_ATTRIBUTE_SENSITIVE)
        );
        assert_eq!(get_attr(s, copy, CKA_PUBLIC_KEY_INFO).unwrap(), info);
        assert!(decapsulation_agrees(s, public, copy));
        // Readable when the template says so: the same seed and dk.
        let open = unwrap(
            s,
            wrapping,
            kek,
            &wrapped,
            copy_template().bool(CKA_SENSITIVE, false),
        )
        .unwrap();
        assert_eq!(get_attr(s, open, CKA_SEED).unwrap(), seed);
        assert_eq!(get_attr(s, open, CKA_VALUE).unwrap(), dk);
        // The copy wraps again (seed form: the same PKCS#8, so the same KWP output).
        let again = wrap(s, wrapping, kek, copy).expect("the copy wraps");
        assert_eq!(again, wrapped);
        let copy2 = unwrap(s, wrapping, kek, &again, copy_template()).unwrap();
        assert!(decapsulation_agrees(s, public, copy2));
    }

    // A key created from dk alone wraps in the expanded form and comes back without a seed.
    let expanded = create(
        s,
        private_template(CKK_ML_KEM)
            .ulong(CKA_PARAMETER_SET, CKP_ML_KEM_1024)
            .bytes(CKA_VALUE, &dk)
            .bool(CKA_EXTRACTABLE, true),
    )
    .expect("create from dk");
    let wrapped = wrap(s, CKM_AES_KEY_WRAP_KWP, kek, expanded).unwrap();
    let copy = unwrap(
        s,
        CKM_AES_KEY_WRAP_KWP,
        kek,
        &wrapped,
        copy_template().bool(CKA_SENSITIVE, false),
    )
    .unwrap();
    assert!(get_attr(s, copy, CKA_SEED).is_err());
    assert_eq!(get_attr(s, copy, CKA_VALUE).unwrap(), dk);
    assert_eq!(get_attr(s, copy, CKA_PUBLIC_KEY_INFO).unwrap(), info);
    assert!(decapsulation_agrees(s, public, copy));
    // The ML-KEM PKCS#8 is not an ML-DSA key.
    assert_eq!(
        unwrap(
            s,
            CKM_AES_KEY_WRAP_KWP,
            kek,
            &wrapped,
            private_template(CKK_ML_DSA)
        )
        .err(),
        Some(CKR_TEMPLATE_INCONSISTENT)
    );
}
