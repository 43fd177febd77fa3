//! C_DeriveKey with the secret-key derivations through the C ABI: concatenation, XOR,
//! extraction, AES encrypt-data and SP 800-108 (known answers, additional keys, invalid
//! parameters, all-or-nothing creation).
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::ffi::c_void;
use std::ptr::null_mut;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn derive(
    s: CK_SESSION_HANDLE,
    m: &mut CK_MECHANISM,
    base: CK_OBJECT_HANDLE,
    mut t: Template,
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut raw = t.raw();
    let mut key = 0;
    // SAFETY: valid mechanism (parameter alive), template and out-pointer.
    let rv = unsafe {
        C_DeriveKey(
            s,
            m,
            base,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            &mut key,
        )
    };
    if rv == CKR_OK { Ok(key) } else { Err(rv) }
}

fn secret(s: CK_SESSION_HANDLE, key_type: CK_KEY_TYPE, value: &[u8]) -> CK_OBJECT_HANDLE {
    create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, key_type)
            .bytes(CKA_VALUE, value)
            .bool(CKA_DERIVE, true),
    )
    .unwrap()
}

/// A readable derived key's template.
fn readable() -> Template {
    Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true)
}

fn string_data(data: &mut [u8]) -> CK_KEY_DERIVATION_STRING_DATA {
    CK_KEY_DERIVATION_STRING_DATA {
        pData: data.as_mut_ptr(),
        ulLen: data.len() as CK_ULONG,
    }
}

#[test]
fn concatenate_xor_extract() {
    let lab = Lab::new();
    let s = lab.user_session();
    let key = secret(s, CKK_GENERIC_SECRET, &[0x12, 0x34, 0x56]);
    let other = secret(s, CKK_GENERIC_SECRET, &[0x78, 0x90, 0x01]);

    let mut h = other;
    let mut m = mech_with(CKM_CONCATENATE_BASE_AND_KEY, &mut h);
    let k = derive(s, &mut m, key, readable()).unwrap();
    assert_eq!(get_attr(s, k, CKA_VALUE).unwrap(), hex("123456789001"));
    assert_eq!(
        get_attr(s, k, CKA_KEY_TYPE).unwrap(),
        CKK_GENERIC_SECRET.to_ne_bytes()
    );
    // The second key must exist.
    let mut bad = 0xdead_beef as CK_OBJECT_HANDLE;
    let mut m = mech_with(CKM_CONCATENATE_BASE_AND_KEY, &mut bad);
    assert_eq!(
        derive(s, &mut m, key, readable()),
        Err(CKR_KEY_HANDLE_INVALID)
    );

    let mut data = [0x78, 0x90, 0x01];
    let mut p = string_data(&mut data);
    let mut m = mech_with(CKM_CONCATENATE_BASE_AND_DATA, &mut p);
    let k = derive(s, &mut m, key, readable()).unwrap();
    assert_eq!(get_attr(s, k, CKA_VALUE).unwrap(), hex("123456789001"));
    let mut m = mech_with(CKM_CONCATENATE_DATA_AND_BASE, &mut p);
    let k = derive(s, &mut m, key, readable().ulong(CKA_VALUE_LEN, 4)).unwrap();
    assert_eq!(get_attr(s, k, CKA_VALUE).unwrap(), hex("78900112"));
    let mut m = mech_with(CKM_CONCATENATE_DATA_AND_BASE, &mut p);
    assert_eq!(
        derive(s, &mut m, key, readable().ulong(CKA_VALUE_LEN, 7)),
        Err(CKR_TEMPLATE_INCONSISTENT)
    );

    let mut m = mech_with(CKM_XOR_BASE_AND_DATA, &mut p);
    let k = derive(s, &mut m, key, readable()).unwrap();
    assert_eq!(get_attr(s, k, CKA_VALUE).unwrap(), vec![0x6a, 0xa4, 0x57]);

    let six = secret(s, CKK_GENERIC_SECRET, &hex("123456789001"));
    let mut bit: CK_EXTRACT_PARAMS = 3;
    let mut m = mech_with(CKM_EXTRACT_KEY_FROM_KEY, &mut bit);
    let k = derive(s, &mut m, six, readable().ulong(CKA_VALUE_LEN, 2)).unwrap();
    assert_eq!(get_attr(s, k, CKA_VALUE).unwrap(), hex("91a2"));
    // Without a length there is nothing to extract.
    let mut m = mech_with(CKM_EXTRACT_KEY_FROM_KEY, &mut bit);
    assert_eq!(
        derive(s, &mut m, six, readable()),
        Err(CKR_TEMPLATE_INCOMPLETE)
    );

    // CKA_DERIVE false on the base key.
    let no_derive = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
            .bytes(CKA_VALUE, &[1, 2, 3]),
    )
    .unwrap();
    let mut m = mech_with(CKM_XOR_BASE_AND_DATA, &mut p);
    assert_eq!(
        derive(s, &mut m, no_derive, readable()),
        Err(CKR_KEY_FUNCTION_NOT_PERMITTED)
    );
}

#[test]
fn aes_encrypt_data_known_answer() {
    let lab = Lab::new();
    let s = lab.user_session();
    // FIPS-197 appendix C.1.
    let key = secret(s, CKK_AES, &hex("000102030405060708090a0b0c0d0e0f"));
    let mut data = hex("00112233445566778899aabbccddeeff");
    let mut p = string_data(&mut data);
    let mut m = mech_with(CKM_AES_ECB_ENCRYPT_DATA, &mut p);
    let k = derive(s, &mut m, key, readable()).unwrap();
    assert_eq!(
        get_attr(s, k, CKA_VALUE).unwrap(),
        hex("69c4e0d86a7b0430d8cdb78070b4c55a")
    );
    // An AES key of the derived value.
    let k = derive(s, &mut m, key, readable().ulong(CKA_KEY_TYPE, CKK_AES)).unwrap();
    assert_eq!(get_attr(s, k, CKA_VALUE_LEN).unwrap(), 16u64.to_ne_bytes());
    // Data shorter than the key asked for (python-pkcs11 expects a parameter error).
    let t = readable()
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .ulong(CKA_VALUE_LEN, 32);
    assert_eq!(derive(s, &mut m, key, t), Err(CKR_MECHANISM_PARAM_INVALID));

    // Data not a multiple of the block size.
    let mut short = [0u8; 15];
    let mut p = string_data(&mut short);
    let mut m = mech_with(CKM_AES_ECB_ENCRYPT_DATA, &mut p);
    assert_eq!(
        derive(s, &mut m, key, readable()),
        Err(CKR_MECHANISM_PARAM_INVALID)
    );

    // CBC: equals C_Encrypt with CKM_AES_CBC and the same IV.
    let mut data = [7u8; 32];
    let iv = [9u8; 16];
    let mut p = CK_AES_CBC_ENCRYPT_DATA_PARAMS {
        iv,
        pData: data.as_mut_ptr(),
        length: data.len() as CK_ULONG,
    };
    let mut m = mech_with(CKM_AES_CBC_ENCRYPT_DATA, &mut p);
    let k = derive(s, &mut m, key, readable()).unwrap();
    let mut iv_buf = iv;
    let mut cbc = mech_with(CKM_AES_CBC, &mut iv_buf);
    let enc_key = secret(s, CKK_AES, &hex("000102030405060708090a0b0c0d0e0f"));
    assert_eq!(init(C_EncryptInit, s, &mut cbc, enc_key), CKR_OK);
    let expected = produce(C_Encrypt, s, &data).unwrap();
    assert_eq!(get_attr(s, k, CKA_VALUE).unwrap(), expected);

    // A non-AES base key is refused.
    let generic = secret(s, CKK_GENERIC_SECRET, &[0u8; 16]);
    let mut data = [0u8; 16];
    let mut p = string_data(&mut data);
    let mut m = mech_with(CKM_AES_ECB_ENCRYPT_DATA, &mut p);
    assert_eq!(
        derive(s, &mut m, generic, readable()),
        Err(CKR_KEY_TYPE_INCONSISTENT)
    );
}

fn counter_format(bits: CK_ULONG) -> CK_SP800_108_COUNTER_FORMAT {
    CK_SP800_108_COUNTER_FORMAT {
        bLittleEndian: 0,
        ulWidthInBits: bits,
    }
}

fn data_param<T>(type_: CK_ULONG, v: &mut T) -> CK_PRF_DATA_PARAM {
    CK_PRF_DATA_PARAM {
        type_,
        pValue: v as *mut T as *mut c_void,
        ulValueLen: size_of::<T>() as CK_ULONG,
    }
}

fn byte_param(v: &mut [u8]) -> CK_PRF_DATA_PARAM {
    CK_PRF_DATA_PARAM {
        type_: CK_SP800_108_BYTE_ARRAY,
        pValue: v.as_mut_ptr() as *mut c_void,
        ulValueLen: v.len() as CK_ULONG,
    }
}

fn kdf_params(
    prf: CK_MECHANISM_TYPE,
    data: &mut [CK_PRF_DATA_PARAM],
    keys: &mut [CK_DERIVED_KEY],
) -> CK_SP800_108_KDF_PARAMS {
    CK_SP800_108_KDF_PARAMS {
        prfType: prf,
        ulNumberOfDataParams: data.len() as CK_ULONG,
        pDataParams: data.as_mut_ptr(),
        ulAdditionalDerivedKeys: keys.len() as CK_ULONG,
        pAdditionalDerivedKeys: if keys.is_empty() {
            null_mut()
        } else {
            keys.as_mut_ptr()
        },
    }
}

#[test]
fn sp800_108_counter_hmac_sha256_known_answer() {
    let lab = Lab::new();
    let s = lab.user_session();
    // NIST CAVP KBKDF (KDFCTR_gen.rsp) [PRF=HMAC_SHA256] [CTRLOCATION=BEFORE_FIXED]
    // [RLEN=32_BITS] COUNT=0, L=128.
    let ki = hex("dd1d91b7d90b2bd3138533ce92b272fbf8a369316aefe242e659cc0ae238afe0");
    let mut fixed = hex(
        "01322b96b30acd197979444e468e1c5c6859bf1b1cf951b7e725303e237e46b864a145fab25e517b08f8683d0315bb2911d80a0e8aba17f3b413faac",
    );
    let base = secret(s, CKK_GENERIC_SECRET, &ki);
    let mut counter = counter_format(32);
    let mut data = [
        data_param(CK_SP800_108_ITERATION_VARIABLE, &mut counter),
        byte_param(&mut fixed),
    ];
    let mut p = kdf_params(CKM_SHA256_HMAC, &mut data, &mut []);
    let mut m = mech_with(CKM_SP800_108_COUNTER_KDF, &mut p);
    let k = derive(s, &mut m, base, readable().ulong(CKA_VALUE_LEN, 16)).unwrap();
    assert_eq!(
        get_attr(s, k, CKA_VALUE).unwrap(),
        hex("10621342bfb0fd40046c0e29f2cfdbf0")
    );
    // Derived keys take only the usages their template names.
    assert_eq!(get_attr(s, k, CKA_SIGN).unwrap(), vec![0]);
}

/// HMAC-SHA256 through C_Sign, to build expected KDF segments.
fn hmac(s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, data: &[u8]) -> Vec<u8> {
    let mut m = mech(CKM_SHA256_HMAC);
    assert_eq!(init(C_SignInit, s, &mut m, key), CKR_OK);
    produce(C_Sign, s, data).unwrap()
}

#[test]
fn sp800_108_additional_keys() {
    let lab = Lab::new();
    let s = lab.user_session();
    let base = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
            .bytes(CKA_VALUE, &[0x5a; 32])
            .bool(CKA_DERIVE, true)
            .bool(CKA_SIGN, true),
    )
    .unwrap();
    let mut counter = counter_format(8);
    let mut dkm = CK_SP800_108_DKM_LENGTH_FORMAT {
        dkmLengthMethod: CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS,
        bLittleEndian: 0,
        ulWidthInBits: 16,
    };
    let mut label = b"label".to_vec();
    let mut data = [
        data_param(CK_SP800_108_ITERATION_VARIABLE, &mut counter),
        byte_param(&mut label),
        data_param(CK_SP800_108_DKM_LENGTH, &mut dkm),
    ];
    let mut t1 = readable().ulong(CKA_VALUE_LEN, 16);
    let mut t2 = readable()
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .ulong(CKA_VALUE_LEN, 32);
    let (mut r1, mut r2) = (t1.raw(), t2.raw());
    let (mut h1, mut h2) = (0, 0);
    let mut keys = [
        CK_DERIVED_KEY {
            pTemplate: r1.as_mut_ptr(),
            ulAttributeCount: r1.len() as CK_ULONG,
            phKey: &mut h1,
        },
        CK_DERIVED_KEY {
            pTemplate: r2.as_mut_ptr(),
            ulAttributeCount: r2.len() as CK_ULONG,
            phKey: &mut h2,
        },
    ];
    let mut p = kdf_params(CKM_SHA256_HMAC, &mut data, &mut keys);
    let mut m = mech_with(CKM_SP800_108_COUNTER_KDF, &mut p);
    let main = derive(s, &mut m, base, readable().ulong(CKA_VALUE_LEN, 40)).unwrap();
    assert!(h1 != 0 && h2 != 0 && h1 != h2 && h1 != main);
    // Segments: main 40 bytes -> 2 segments, key 1 -> 1, key 2 -> 1; L = 4 * 256 bits.
    let seg = |i: u8| hmac(s, base, &[&[i][..], b"label", &[0x04, 0x00]].concat());
    let stream: Vec<u8> = (1..=4).flat_map(seg).collect();
    assert_eq!(get_attr(s, main, CKA_VALUE).unwrap(), stream[..40]);
    assert_eq!(get_attr(s, h1, CKA_VALUE).unwrap(), stream[64..80]);
    assert_eq!(get_attr(s, h2, CKA_VALUE).unwrap(), stream[96..128]);

    // All or nothing: a bad additional template creates no key and marks the handles.
    let before = find(s, Template::new()).len();
    let mut t3 = readable()
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .ulong(CKA_VALUE_LEN, 7);
    let mut r3 = t3.raw();
    let (mut h1, mut h3) = (0, 0);
    let mut keys = [
        CK_DERIVED_KEY {
            pTemplate: r1.as_mut_ptr(),
            ulAttributeCount: r1.len() as CK_ULONG,
            phKey: &mut h1,
        },
        CK_DERIVED_KEY {
            pTemplate: r3.as_mut_ptr(),
            ulAttributeCount: r3.len() as CK_ULONG,
            phKey: &mut h3,
        },
    ];
    let mut p = kdf_params(CKM_SHA256_HMAC, &mut data, &mut keys);
    let mut m = mech_with(CKM_SP800_108_COUNTER_KDF, &mut p);
    assert_eq!(
        derive(s, &mut m, base, readable().ulong(CKA_VALUE_LEN, 16)),
        Err(CKR_KEY_SIZE_RANGE)
    );
    assert_eq!((h1, h3), (CK_INVALID_HANDLE, CK_INVALID_HANDLE));
    assert_eq!(find(s, Template::new()).len(), before);
}

#[test]
fn sp800_108_feedback_and_invalid_params() {
    let lab = Lab::new();
    let s = lab.user_session();
    let base = aes_key(s, |t| t.bool(CKA_DERIVE, true).bool(CKA_SIGN, true));
    let mut counter = counter_format(16);
    let mut iv = *b"sixteen bytes iv";
    let mut data = [
        CK_PRF_DATA_PARAM {
            type_: CK_SP800_108_ITERATION_VARIABLE,
            pValue: null_mut(),
            ulValueLen: 0,
        },
        data_param(CK_SP800_108_COUNTER, &mut counter),
    ];
    let mut p = CK_SP800_108_FEEDBACK_KDF_PARAMS {
        prfType: CKM_AES_CMAC,
        ulNumberOfDataParams: data.len() as CK_ULONG,
        pDataParams: data.as_mut_ptr(),
        ulIVLen: iv.len() as CK_ULONG,
        pIV: iv.as_mut_ptr(),
        ulAdditionalDerivedKeys: 0,
        pAdditionalDerivedKeys: null_mut(),
    };
    let mut m = mech_with(CKM_SP800_108_FEEDBACK_KDF, &mut p);
    let k = derive(s, &mut m, base, readable().ulong(CKA_VALUE_LEN, 32)).unwrap();
    // K(1) = CMAC(IV || 0001), K(2) = CMAC(K(1) || 0002).
    let cmac = |d: &[u8]| {
        let mut m = mech(CKM_AES_CMAC);
        assert_eq!(init(C_SignInit, s, &mut m, base), CKR_OK);
        produce(C_Sign, s, d).unwrap()
    };
    let k1 = cmac(&[&iv[..], &[0, 1]].concat());
    let k2 = cmac(&[&k1[..], &[0, 2]].concat());
    assert_eq!(get_attr(s, k, CKA_VALUE).unwrap(), [k1, k2].concat());

    // Counter mode: a counter parameter, a missing iteration variable, a CMAC PRF on a
    // non-AES key.
    let mut counter2 = counter_format(16);
    let mut with_counter = [
        data_param(CK_SP800_108_ITERATION_VARIABLE, &mut counter),
        data_param(CK_SP800_108_COUNTER, &mut counter2),
    ];
    let mut p = kdf_params(CKM_AES_CMAC, &mut with_counter, &mut []);
    let mut m = mech_with(CKM_SP800_108_COUNTER_KDF, &mut p);
    let t = || readable().ulong(CKA_VALUE_LEN, 16);
    assert_eq!(
        derive(s, &mut m, base, t()),
        Err(CKR_MECHANISM_PARAM_INVALID)
    );
    let mut label = b"x".to_vec();
    let mut no_iteration = [byte_param(&mut label)];
    let mut p = kdf_params(CKM_AES_CMAC, &mut no_iteration, &mut []);
    let mut m = mech_with(CKM_SP800_108_COUNTER_KDF, &mut p);
    assert_eq!(
        derive(s, &mut m, base, t()),
        Err(CKR_MECHANISM_PARAM_INVALID)
    );
    let generic = secret(s, CKK_GENERIC_SECRET, &[1u8; 16]);
    let mut ok = [data_param(CK_SP800_108_ITERATION_VARIABLE, &mut counter)];
    let mut p = kdf_params(CKM_AES_CMAC, &mut ok, &mut []);
    let mut m = mech_with(CKM_SP800_108_COUNTER_KDF, &mut p);
    assert_eq!(
        derive(s, &mut m, generic, t()),
        Err(CKR_KEY_TYPE_INCONSISTENT)
    );
    // The derived key needs a length.
    let mut m = mech_with(CKM_SP800_108_COUNTER_KDF, &mut p);
    assert_eq!(
        derive(s, &mut m, base, readable()),
        Err(CKR_TEMPLATE_INCOMPLETE)
    );
}

#[test]
fn a_key_made_of_a_sensitive_keys_bits_stays_sensitive() {
    let lab = Lab::new();
    let s = lab.user_session();
    let guarded = create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
            .bytes(CKA_VALUE, &[0x5a; 16])
            .bool(CKA_DERIVE, true)
            .bool(CKA_SENSITIVE, true),
    )
    .unwrap();
    // Asking for a readable key does not make the base key's bits readable.
    let mut bit: CK_EXTRACT_PARAMS = 0;
    let mut m = mech_with(CKM_EXTRACT_KEY_FROM_KEY, &mut bit);
    let k = derive(s, &mut m, guarded, readable().ulong(CKA_VALUE_LEN, 16)).unwrap();
    assert_eq!(get_attr(s, k, CKA_SENSITIVE).unwrap(), [1]);
    assert_eq!(
        get_attr(s, k, CKA_VALUE),
        Err((CKR_ATTRIBUTE_SENSITIVE, CK_UNAVAILABLE_INFORMATION))
    );
}
