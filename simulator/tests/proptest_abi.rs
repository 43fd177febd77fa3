//! Property tests through the C ABI: random templates and random call sequences never crash,
//! never answer `CKR_GENERAL_ERROR` (the code a caught panic becomes), and never leave a
//! half-made object behind.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use proptest::prelude::*;
use std::ptr::null_mut;

/// Attribute types drawn from: common ones, key ones, token-set ones, and an unknown one.
const TYPES: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_CLASS,
    CKA_KEY_TYPE,
    CKA_TOKEN,
    CKA_PRIVATE,
    CKA_LABEL,
    CKA_ID,
    CKA_VALUE,
    CKA_VALUE_LEN,
    CKA_SENSITIVE,
    CKA_EXTRACTABLE,
    CKA_ENCRYPT,
    CKA_SIGN,
    CKA_LOCAL,
    CKA_MODULUS,
    CKA_PUBLIC_EXPONENT,
    CKA_EC_PARAMS,
    CKA_EC_POINT,
    CKA_ALLOWED_MECHANISMS,
    CKA_WRAP_TEMPLATE,
    CKA_CERTIFICATE_TYPE,
    CKA_SUBJECT,
    CKA_START_DATE,
    CKA_MODIFIABLE,
    0x7FFF_0042,
];

fn attribute() -> impl Strategy<Value = (CK_ATTRIBUTE_TYPE, Vec<u8>)> {
    let value = prop_oneof![
        Just(vec![1u8]),
        Just(vec![0u8]),
        any::<u8>().prop_map(|v| vec![v]),
        prop::sample::select(vec![
            CKO_DATA,
            CKO_SECRET_KEY,
            CKO_PUBLIC_KEY,
            CKO_PRIVATE_KEY,
            CKO_CERTIFICATE,
            77
        ])
        .prop_map(|c: CK_ULONG| c.to_ne_bytes().to_vec()),
        prop::sample::select(vec![
            CKK_AES,
            CKK_DES3,
            CKK_RSA,
            CKK_EC,
            CKK_GENERIC_SECRET,
            0x999
        ])
        .prop_map(|c: CK_ULONG| c.to_ne_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..48),
    ];
    (prop::sample::select(TYPES), value)
}

fn object_count(s: CK_SESSION_HANDLE) -> usize {
    find(s, Template::new()).len()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_templates_never_crash_or_half_create(attrs in prop::collection::vec(attribute(), 0..8)) {
        let lab = Lab::new();
        let s = lab.user_session();
        let before = object_count(s);
        let mut t = Template::new();
        for (ty, v) in &attrs {
            t = t.bytes(*ty, v);
        }
        let result = create(s, t);
        prop_assert_ne!(result, Err(CKR_GENERAL_ERROR));
        let after = object_count(s);
        match result {
            Ok(h) => {
                prop_assert_eq!(after, before + 1);
                prop_assert!(get_attr(s, h, CKA_CLASS).is_ok());
            }
            Err(_) => prop_assert_eq!(after, before),
        }
    }

    #[test]
    fn random_call_sequences_get_spec_codes(calls in prop::collection::vec((0u8..14, any::<u64>(), prop::collection::vec(any::<u8>(), 0..40)), 1..40)) {
        let lab = Lab::new();
        let mut sessions = vec![lab.user_session()];
        let mut objects: Vec<CK_OBJECT_HANDLE> = Vec::new();
        for (op, n, bytes) in calls {
            let s = sessions[(n as usize) % sessions.len()];
            let pick = |v: &[CK_OBJECT_HANDLE]| v.get((n as usize) % v.len().max(1)).copied().unwrap_or(n);
            let rv = match op {
                0 => open_session(0, CKF_SERIAL_SESSION | if n % 2 == 0 { CKF_RW_SESSION } else { 0 })
                    .map(|h| { sessions.push(h); CKR_OK })
                    .unwrap_or_else(|e| e),
                // SAFETY: no pointers.
                1 => unsafe { C_CloseSession(s) },
                2 => login(s, if n % 3 == 0 { CKU_SO } else { CKU_USER }, if n % 2 == 0 { USER_PIN } else { &bytes }),
                3 => logout(s),
                4 => create(s, Template::new().ulong(CKA_CLASS, CKO_DATA).bool(CKA_TOKEN, n % 2 == 0).bytes(CKA_VALUE, &bytes))
                    .map(|h| { objects.push(h); CKR_OK })
                    .unwrap_or_else(|e| e),
                // SAFETY: no pointers.
                5 => unsafe { C_DestroyObject(s, pick(&objects)) },
                6 => generate_key(s, CKM_AES_KEY_GEN, Template::new().ulong(CKA_VALUE_LEN, [16, 24, 32, 7][(n % 4) as usize]))
                    .map(|h| { objects.push(h); CKR_OK })
                    .unwrap_or_else(|e| e),
                7 => {
                    let mut m = CK_MECHANISM { mechanism: [CKM_AES_CBC, CKM_AES_ECB, CKM_AES_GCM, CKM_SHA256_HMAC][(n % 4) as usize], pParameter: bytes.as_ptr() as *mut _, ulParameterLen: bytes.len() as CK_ULONG };
                    init(C_EncryptInit, s, &mut m, pick(&objects))
                }
                8 => produce(C_Encrypt, s, &bytes).map(|_| CKR_OK).unwrap_or_else(|e| e),
                9 => produce(C_EncryptUpdate, s, &bytes).map(|_| CKR_OK).unwrap_or_else(|e| e),
                10 => finish(C_EncryptFinal, s).map(|_| CKR_OK).unwrap_or_else(|e| e),
                11 => get_attr(s, pick(&objects), [CKA_VALUE, CKA_LABEL, CKA_CLASS, CKA_MODULUS][(n % 4) as usize]).map(|_| CKR_OK).unwrap_or_else(|e| e.0),
                12 => {
                    let mut len = (n % 64) as CK_ULONG;
                    let mut buf = vec![0u8; 64];
                    // SAFETY: a 64-byte buffer announced with a length up to 63.
                    unsafe { C_Decrypt(s, bytes.as_ptr() as *mut u8, bytes.len() as CK_ULONG, buf.as_mut_ptr(), &mut len) }
                }
                // SAFETY: a null template with a non-zero count is refused without being read.
                _ => unsafe { C_FindObjectsInit(s, null_mut(), n % 3) },
            };
            prop_assert_ne!(rv, CKR_GENERAL_ERROR, "call {} answered CKR_GENERAL_ERROR", op);
            prop_assert!(rv != CKR_FUNCTION_FAILED, "call {} answered CKR_FUNCTION_FAILED", op);
        }
    }
}
