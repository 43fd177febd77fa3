//! Single DES and the key-wrapping rules of block ciphers and raw RSA, through the C ABI:
//! DES against FIPS 81's published vectors, DES/DES2/DES3 key generation with and without
//! `CKA_VALUE_LEN`, zero padding of a key value to whole blocks when wrapping with an ECB or CBC
//! mechanism (and trimming by `CKA_VALUE_LEN` when unwrapping), `CKM_RSA_X_509` unwrapping
//! keeping the rightmost bytes, and DES refused where the vendor model does not offer it (a Luna
//! partition in FIPS mode, Primus).
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::ptr::null_mut;

/// FIPS 81 Appendix B: key, plaintext "Now is the time for all ", the CBC IV, and the ECB
/// (table B1) and CBC (table B2) ciphertexts.
const FIPS81_KEY: &str = "0123456789abcdef";
const FIPS81_PLAIN: &[u8] = b"Now is the time for all ";
const FIPS81_IV: &str = "1234567890abcdef";
const FIPS81_ECB: &str = "3fa40e8a984d48156a271787ab8883f9893d51ec4b563b53";
const FIPS81_CBC: &str = "e5c7cdde872bf27c43e934008c389c0f683788499a7c05f6";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A mechanism whose parameter is a byte string (an IV); the buffer must outlive the call.
fn mech_bytes(m: CK_MECHANISM_TYPE, param: &mut [u8]) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: m,
        pParameter: param.as_mut_ptr() as *mut _,
        ulParameterLen: param.len() as CK_ULONG,
    }
}

/// A session object secret key with a known value, extractable and readable.
fn secret(s: CK_SESSION_HANDLE, key_type: CK_KEY_TYPE, value: &[u8]) -> CK_OBJECT_HANDLE {
    create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, key_type)
            .bytes(CKA_VALUE, value)
            .bool(CKA_EXTRACTABLE, true)
            .bool(CKA_SENSITIVE, false)
            .bool(CKA_ENCRYPT, true)
            .bool(CKA_DECRYPT, true)
            .bool(CKA_WRAP, true)
            .bool(CKA_UNWRAP, true),
    )
    .expect("secret key import")
}

fn encrypt(
    s: CK_SESSION_HANDLE,
    m: &mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
) -> Result<Vec<u8>, CK_RV> {
    match init(C_EncryptInit, s, m, key) {
        CKR_OK => produce(C_Encrypt, s, data),
        rv => Err(rv),
    }
}

fn decrypt(
    s: CK_SESSION_HANDLE,
    m: &mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
) -> Result<Vec<u8>, CK_RV> {
    match init(C_DecryptInit, s, m, key) {
        CKR_OK => produce(C_Decrypt, s, data),
        rv => Err(rv),
    }
}

fn wrap_key(
    s: CK_SESSION_HANDLE,
    m: &mut CK_MECHANISM,
    kek: CK_OBJECT_HANDLE,
    key: CK_OBJECT_HANDLE,
) -> Result<Vec<u8>, CK_RV> {
    let mut len = 0;
    // SAFETY: a null output asks for the length.
    let rv = unsafe { C_WrapKey(s, m, kek, key, null_mut(), &mut len) };
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut out = vec![0u8; len as usize];
    // SAFETY: the buffer holds `len` bytes.
    let rv = unsafe { C_WrapKey(s, m, kek, key, out.as_mut_ptr(), &mut len) };
    if rv != CKR_OK {
        return Err(rv);
    }
    out.truncate(len as usize);
    Ok(out)
}

fn unwrap_key(
    s: CK_SESSION_HANDLE,
    m: &mut CK_MECHANISM,
    kek: CK_OBJECT_HANDLE,
    wrapped: &[u8],
    mut t: Template,
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut raw = t.raw();
    let mut wrapped = wrapped.to_vec();
    let mut h = 0;
    // SAFETY: valid mechanism, buffer, template and out-pointer.
    let rv = unsafe {
        C_UnwrapKey(
            s,
            m,
            kek,
            wrapped.as_mut_ptr(),
            wrapped.len() as CK_ULONG,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            &mut h,
        )
    };
    if rv == CKR_OK { Ok(h) } else { Err(rv) }
}

/// An unwrap template for a readable secret key of `key_type`.
fn readable(key_type: CK_KEY_TYPE) -> Template {
    Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, key_type)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true)
}

fn mechanism_list(slot: CK_SLOT_ID) -> Vec<CK_MECHANISM_TYPE> {
    let mut n = 0;
    // SAFETY: a null list asks for the count.
    let rv = unsafe { C_GetMechanismList(slot, null_mut(), &mut n) };
    assert_eq!(rv, CKR_OK);
    let mut list = vec![0; n as usize];
    // SAFETY: the list holds `n` entries.
    let rv = unsafe { C_GetMechanismList(slot, list.as_mut_ptr(), &mut n) };
    assert_eq!(rv, CKR_OK);
    list.truncate(n as usize);
    list
}

fn mechanism_info(slot: CK_SLOT_ID, m: CK_MECHANISM_TYPE) -> Result<CK_MECHANISM_INFO, CK_RV> {
    let mut info = CK_MECHANISM_INFO {
        ulMinKeySize: 0,
        ulMaxKeySize: 0,
        flags: 0,
    };
    // SAFETY: a valid out-pointer.
    match unsafe { C_GetMechanismInfo(slot, m, &mut info) } {
        CKR_OK => Ok(info),
        rv => Err(rv),
    }
}

const DES_MECHANISMS: [CK_MECHANISM_TYPE; 4] =
    [CKM_DES_KEY_GEN, CKM_DES_ECB, CKM_DES_CBC, CKM_DES_CBC_PAD];

#[test]
fn single_des_matches_fips_81_in_ecb_and_cbc_and_round_trips_cbc_pad() {
    let lab = Lab::new();
    let s = lab.user_session();
    let key = secret(s, CKK_DES, &hex(FIPS81_KEY));
    let mut ecb = mech(CKM_DES_ECB);
    let mut iv = hex(FIPS81_IV);
    let mut cbc = mech_bytes(CKM_DES_CBC, &mut iv);
    assert_eq!(
        encrypt(s, &mut ecb, key, FIPS81_PLAIN).unwrap(),
        hex(FIPS81_ECB)
    );
    assert_eq!(
        decrypt(s, &mut ecb, key, &hex(FIPS81_ECB)).unwrap(),
        FIPS81_PLAIN
    );
    assert_eq!(
        encrypt(s, &mut cbc, key, FIPS81_PLAIN).unwrap(),
        hex(FIPS81_CBC)
    );
    assert_eq!(
        decrypt(s, &mut cbc, key, &hex(FIPS81_CBC)).unwrap(),
        FIPS81_PLAIN
    );
    // CBC_PAD: the first block equals CBC's; 13 bytes pad to 16, 16 to 24.
    let mut iv = hex(FIPS81_IV);
    let mut pad = mech_bytes(CKM_DES_CBC_PAD, &mut iv);
    for len in [0, 1, 7, 8, 13, 16, 24] {
        let ct = encrypt(s, &mut pad, key, &FIPS81_PLAIN[..len]).unwrap();
        assert_eq!(ct.len(), len / 8 * 8 + 8, "{len} bytes");
        if len >= 8 {
            assert_eq!(ct[..8], hex(FIPS81_CBC)[..8]);
        }
        assert_eq!(
            decrypt(s, &mut pad, key, &ct).unwrap(),
            &FIPS81_PLAIN[..len]
        );
    }
    // ECB and CBC take whole blocks; the DES mechanisms take DES keys only.
    assert_eq!(
        encrypt(s, &mut ecb, key, &FIPS81_PLAIN[..13]),
        Err(CKR_DATA_LEN_RANGE)
    );
    let des3 = generate_key(s, CKM_DES3_KEY_GEN, Template::new()).unwrap();
    assert_eq!(
        init(C_EncryptInit, s, &mut ecb, des3),
        CKR_KEY_TYPE_INCONSISTENT
    );
    assert_eq!(
        init(C_EncryptInit, s, &mut mech(CKM_DES3_ECB), key),
        CKR_KEY_TYPE_INCONSISTENT
    );
    // Parity bits do not matter (as for 3DES): flipping every low bit gives the same cipher.
    let flipped: Vec<u8> = hex(FIPS81_KEY).iter().map(|b| b ^ 1).collect();
    let key2 = secret(s, CKK_DES, &flipped);
    assert_eq!(
        encrypt(s, &mut ecb, key2, FIPS81_PLAIN).unwrap(),
        hex(FIPS81_ECB)
    );
    // The soft token lists the DES mechanisms with 8-byte keys.
    let list = mechanism_list(0);
    for m in DES_MECHANISMS {
        assert!(list.contains(&m), "0x{m:X} listed");
        let info = mechanism_info(0, m).unwrap();
        assert_eq!((info.ulMinKeySize, info.ulMaxKeySize), (8, 8));
    }
    assert_eq!(
        mechanism_info(0, CKM_DES_ECB).unwrap().flags,
        CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP
    );
    assert_eq!(
        mechanism_info(0, CKM_DES_KEY_GEN).unwrap().flags,
        CKF_GENERATE
    );
}

#[test]
fn des_key_generation_with_and_without_value_len() {
    let lab = Lab::new();
    let s = lab.user_session();
    let readable = || {
        Template::new()
            .bool(CKA_SENSITIVE, false)
            .bool(CKA_EXTRACTABLE, true)
    };
    for (mech_type, key_type, len) in [
        (CKM_DES_KEY_GEN, CKK_DES, 8usize),
        (CKM_DES2_KEY_GEN, CKK_DES2, 16),
        (CKM_DES3_KEY_GEN, CKK_DES3, 24),
    ] {
        let plain = generate_key(s, mech_type, readable()).unwrap();
        let sized = generate_key(
            s,
            mech_type,
            readable().ulong(CKA_VALUE_LEN, len as CK_ULONG),
        )
        .unwrap_or_else(|rv| panic!("0x{mech_type:X} with its own length: 0x{rv:X}"));
        for key in [plain, sized] {
            assert_eq!(
                get_attr(s, key, CKA_KEY_TYPE).unwrap(),
                key_type.to_ne_bytes()
            );
            assert_eq!(
                get_attr(s, key, CKA_VALUE_LEN).unwrap(),
                (len as CK_ULONG).to_ne_bytes()
            );
            let value = get_attr(s, key, CKA_VALUE).unwrap();
            assert_eq!(value.len(), len);
            assert!(value.iter().all(|b| b.count_ones() % 2 == 1), "odd parity");
        }
        assert_ne!(
            get_attr(s, plain, CKA_VALUE).unwrap(),
            get_attr(s, sized, CKA_VALUE).unwrap()
        );
        for wrong in [0, 7, 8, 16, 24, 32]
            .into_iter()
            .filter(|l| *l != len as CK_ULONG)
        {
            assert_eq!(
                generate_key(s, mech_type, readable().ulong(CKA_VALUE_LEN, wrong)),
                Err(CKR_TEMPLATE_INCONSISTENT),
                "0x{mech_type:X} with CKA_VALUE_LEN {wrong}"
            );
        }
    }
    // A generated DES key encrypts and decrypts.
    let key = generate_key(s, CKM_DES_KEY_GEN, Template::new()).unwrap();
    let mut iv = [7u8; 8];
    let mut m = mech_bytes(CKM_DES_CBC_PAD, &mut iv);
    let ct = encrypt(s, &mut m, key, b"legacy single DES").unwrap();
    assert_eq!(ct.len(), 24);
    assert_eq!(decrypt(s, &mut m, key, &ct).unwrap(), b"legacy single DES");
}

#[test]
fn ecb_and_cbc_wrapping_pads_a_key_with_zeros_and_unwrapping_trims_by_value_len() {
    let lab = Lab::new();
    let s = lab.user_session();
    let value: Vec<u8> = (1..=20).collect();
    let target = secret(s, CKK_GENERIC_SECRET, &value);
    let aes = secret(s, CKK_AES, &[0x42; 32]);
    let des3 = secret(
        s,
        CKK_DES3,
        &hex("0123456789abcdeffedcba987654321089abcdef01234567"),
    );
    let des = secret(s, CKK_DES, &hex(FIPS81_KEY));
    let mut iv16 = [9u8; 16];
    let mut iv8 = [3u8; 8];
    let mut iv8b = [5u8; 8];
    let cases: Vec<(CK_MECHANISM, CK_OBJECT_HANDLE, usize)> = vec![
        (mech(CKM_AES_ECB), aes, 32),
        (mech_bytes(CKM_AES_CBC, &mut iv16), aes, 32),
        (mech(CKM_DES3_ECB), des3, 24),
        (mech_bytes(CKM_DES3_CBC, &mut iv8), des3, 24),
        (mech(CKM_DES_ECB), des, 24),
        (mech_bytes(CKM_DES_CBC, &mut iv8b), des, 24),
    ];
    for (mut m, kek, len) in cases {
        let name = m.mechanism;
        let wrapped = wrap_key(s, &mut m, kek, target)
            .unwrap_or_else(|rv| panic!("wrap with 0x{name:X}: 0x{rv:X}"));
        assert_eq!(wrapped.len(), len, "0x{name:X}");
        // The wrapped bytes are the value and zeros, encrypted.
        let mut padded = value.clone();
        padded.resize(len, 0);
        assert_eq!(
            decrypt(s, &mut m, kek, &wrapped).unwrap(),
            padded,
            "0x{name:X}"
        );
        assert_eq!(encrypt(s, &mut m, kek, &padded).unwrap(), wrapped);
        // Unwrapping with CKA_VALUE_LEN gives back the 20-byte value.
        let back = unwrap_key(
            s,
            &mut m,
            kek,
            &wrapped,
            readable(CKK_GENERIC_SECRET).ulong(CKA_VALUE_LEN, 20),
        )
        .unwrap_or_else(|rv| panic!("unwrap with 0x{name:X}: 0x{rv:X}"));
        assert_eq!(get_attr(s, back, CKA_VALUE).unwrap(), value, "0x{name:X}");
        assert_eq!(
            get_attr(s, back, CKA_VALUE_LEN).unwrap(),
            (20 as CK_ULONG).to_ne_bytes()
        );
        // Without it, nothing tells the padding from the key: the whole block is the value.
        let whole = unwrap_key(s, &mut m, kek, &wrapped, readable(CKK_GENERIC_SECRET)).unwrap();
        assert_eq!(get_attr(s, whole, CKA_VALUE).unwrap(), padded);
        // A length beyond the unwrapped block cannot be.
        assert_eq!(
            unwrap_key(
                s,
                &mut m,
                kek,
                &wrapped,
                readable(CKK_GENERIC_SECRET).ulong(CKA_VALUE_LEN, len as CK_ULONG + 1),
            ),
            Err(CKR_TEMPLATE_INCONSISTENT)
        );
    }
    // A private key's PKCS#8 is padded the same way and unwraps again.
    let (_, private) = generate_key_pair(
        s,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        Template::new().ulong(CKA_MODULUS_BITS, 1024),
        Template::new().bool(CKA_EXTRACTABLE, true),
    )
    .unwrap();
    for mut m in [mech(CKM_AES_ECB), mech_bytes(CKM_AES_CBC, &mut iv16)] {
        let wrapped = wrap_key(s, &mut m, aes, private).unwrap();
        assert_eq!(wrapped.len() % 16, 0);
        let back = unwrap_key(
            s,
            &mut m,
            aes,
            &wrapped,
            Template::new().ulong(CKA_CLASS, CKO_PRIVATE_KEY),
        )
        .unwrap();
        assert_eq!(
            get_attr(s, back, CKA_MODULUS).unwrap(),
            get_attr(s, private, CKA_MODULUS).unwrap()
        );
    }
    // A DES key (8 bytes) under AES: padded to one AES block; its key type fixes the length.
    let single = secret(s, CKK_DES, &hex(FIPS81_KEY));
    let mut m = mech(CKM_AES_ECB);
    let wrapped = wrap_key(s, &mut m, aes, single).unwrap();
    assert_eq!(wrapped.len(), 16);
    let back = unwrap_key(s, &mut m, aes, &wrapped, readable(CKK_DES)).unwrap();
    assert_eq!(get_attr(s, back, CKA_VALUE).unwrap(), hex(FIPS81_KEY));
    // 16 unwrapped bytes cannot be a 24-byte DES3 key.
    assert_eq!(
        unwrap_key(s, &mut m, aes, &wrapped, readable(CKK_DES3)),
        Err(CKR_WRAPPED_KEY_INVALID)
    );
    let mut ecb = mech(CKM_DES_ECB);
    assert_eq!(
        encrypt(s, &mut ecb, back, FIPS81_PLAIN).unwrap(),
        hex(FIPS81_ECB)
    );
    // A DES2 key under DES3 needs no padding, and unwraps to 16 bytes by its type.
    let des2_value = hex("0123456789abcdeffedcba9876543210");
    let des2 = secret(s, CKK_DES2, &des2_value);
    let mut m = mech(CKM_DES3_ECB);
    let wrapped = wrap_key(s, &mut m, des3, des2).unwrap();
    assert_eq!(wrapped.len(), 16);
    let back = unwrap_key(s, &mut m, des3, &wrapped, readable(CKK_DES2)).unwrap();
    assert_eq!(get_attr(s, back, CKA_VALUE).unwrap(), des2_value);
}

#[test]
fn rsa_x_509_unwrap_keeps_the_rightmost_bytes() {
    let lab = Lab::new();
    let s = lab.user_session();
    let (public, private) = rsa_pair(s, 2048);
    let value: Vec<u8> = (0xA1..=0xB4).collect(); // 20 bytes
    let target = secret(s, CKK_GENERIC_SECRET, &value);
    let mut m = mech(CKM_RSA_X_509);
    // Raw RSA of the value, computed apart from C_WrapKey: the value as a big-endian number.
    let expected = encrypt(s, &mut m, public, &value).unwrap();
    assert_eq!(expected.len(), 256);
    assert_eq!(wrap_key(s, &mut m, public, target).unwrap(), expected);
    let back = unwrap_key(
        s,
        &mut m,
        private,
        &expected,
        readable(CKK_GENERIC_SECRET).ulong(CKA_VALUE_LEN, 20),
    )
    .unwrap();
    assert_eq!(get_attr(s, back, CKA_VALUE).unwrap(), value);
    // An AES key: its length from CKA_VALUE_LEN.
    let aes_value = [0x5Au8; 24];
    let ct = encrypt(s, &mut m, public, &aes_value).unwrap();
    let aes = unwrap_key(
        s,
        &mut m,
        private,
        &ct,
        readable(CKK_AES).ulong(CKA_VALUE_LEN, 24),
    )
    .unwrap();
    assert_eq!(get_attr(s, aes, CKA_VALUE).unwrap(), aes_value);
    // Without CKA_VALUE_LEN an AES key's length cannot be known from a 256-byte block.
    assert_eq!(
        unwrap_key(s, &mut m, private, &ct, readable(CKK_AES)),
        Err(CKR_TEMPLATE_INCOMPLETE)
    );
    // Fixed-length key types need no CKA_VALUE_LEN.
    let des3_value = hex("0123456789abcdeffedcba987654321089abcdef01234567");
    let ct = encrypt(s, &mut m, public, &des3_value).unwrap();
    let des3 = unwrap_key(s, &mut m, private, &ct, readable(CKK_DES3)).unwrap();
    assert_eq!(get_attr(s, des3, CKA_VALUE).unwrap(), des3_value);
    // ... and refuse another CKA_VALUE_LEN, as key generation does.
    assert_eq!(
        unwrap_key(
            s,
            &mut m,
            private,
            &ct,
            readable(CKK_DES3).ulong(CKA_VALUE_LEN, 16)
        ),
        Err(CKR_TEMPLATE_INCONSISTENT)
    );
}

/// Slots: 0 a 7.4.2 Luna partition on an HSM in FIPS mode (HSM policy 12 off), 1 a 7.7.1
/// partition in FIPS mode by its own policy 43, 2 a 7.7.1 partition outside FIPS mode, 3 a
/// 6.22.0 partition (non-FIPS algorithms allowed by default), 4 a Primus partition, 5 a soft
/// token.
const LAB: &str = r#"
[lab]
name = "des-fips"

[[device]]
name = "fips7"
kind = "luna-network"
firmware = "7.4.2"
hsm_policies = { 12 = 0 }
  [[device.partition]]
  name = "app"
  label = "fips-hsm"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"

[[device]]
name = "k77"
kind = "luna-pcie"
firmware = "7.7.1"
  [[device.partition]]
  name = "fips"
  label = "fips-partition"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  policies = { 43 = 0 }
  [[device.partition]]
  name = "open"
  label = "non-fips"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"

[[device]]
name = "sa6"
kind = "luna-network"
firmware = "6.22.0"
  [[device.partition]]
  name = "legacy"
  label = "legacy"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"

[[device]]
name = "primus1"
kind = "primus"
firmware = "2.11"
  [[device.partition]]
  name = "P"
  user_pin = "Pkcs11-Pin-01"

[[device]]
name = "soft"
kind = "soft"
  [[device.partition]]
  name = "t"
  label = "soft"
  so_pin = "so-pin-0001"
  user_pin = "co-pin-0001"

[[host]]
name = "client"
slot = [
  { id = 0, partition = "fips7/app" },
  { id = 1, partition = "k77/fips" },
  { id = 2, partition = "k77/open" },
  { id = 3, partition = "sa6/legacy" },
  { id = 4, partition = "primus1/P" },
  { id = 5, partition = "soft/t" },
]
"#;

fn logged_in(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    let s = open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    let pin: &[u8] = if slot == 4 {
        b"Pkcs11-Pin-01"
    } else {
        b"co-pin-0001"
    };
    assert_eq!(login(s, CKU_USER, pin), CKR_OK);
    s
}

#[test]
fn des_is_refused_where_the_vendor_model_does_not_offer_it() {
    let _lab = TextLab::new(LAB);
    for slot in [0, 1, 2, 3, 4, 5] {
        let offered = matches!(slot, 2 | 3 | 5);
        let s = logged_in(slot);
        let list = mechanism_list(slot);
        for m in DES_MECHANISMS {
            assert_eq!(list.contains(&m), offered, "slot {slot} lists 0x{m:X}");
            assert_eq!(
                mechanism_info(slot, m).map(|i| i.ulMaxKeySize),
                if offered {
                    Ok(8)
                } else {
                    Err(CKR_MECHANISM_INVALID)
                },
                "slot {slot} 0x{m:X}"
            );
        }
        // Triple DES stays (FIPS mode is not about it here).
        assert!(list.contains(&CKM_DES3_ECB), "slot {slot}");
        let generated = generate_key(s, CKM_DES_KEY_GEN, Template::new());
        // An imported DES key (a legacy key migrated in) can be held, not used.
        let key = secret(s, CKK_DES, &hex(FIPS81_KEY));
        let mut ecb = mech(CKM_DES_ECB);
        if offered {
            assert!(generated.is_ok(), "slot {slot}");
            assert_eq!(
                encrypt(s, &mut ecb, key, FIPS81_PLAIN).unwrap(),
                hex(FIPS81_ECB),
                "slot {slot}"
            );
        } else {
            assert_eq!(generated, Err(CKR_MECHANISM_INVALID), "slot {slot}");
            assert_eq!(
                init(C_EncryptInit, s, &mut ecb, key),
                CKR_MECHANISM_INVALID,
                "slot {slot}"
            );
            let kek = secret(s, CKK_AES, &[1; 16]);
            assert_eq!(
                wrap_key(s, &mut ecb, key, kek),
                Err(CKR_MECHANISM_INVALID),
                "slot {slot}"
            );
        }
    }
}
