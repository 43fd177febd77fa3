//! The Weierstrass curves beyond P-256/384/521 through the C ABI: secp192r1, secp224r1,
//! secp256k1, brainpoolP256r1, brainpoolP384r1 and brainpoolP512r1, named in `CKA_EC_PARAMS` by
//! OID or by PrintableString name. Key generation, ECDSA (raw and hashed), published signatures
//! (RFC 6979 A.2.3/A.2.4, Wycheproof) and ECDH answers (Wycheproof) so the curve arithmetic is
//! proven right and not only self-consistent, ECDH between generated keys, clear and PKCS#8
//! import, `CK_MECHANISM_INFO` sizes, and vendor models that lack a curve.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::ptr::null_mut;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A DER PrintableString (tag 0x13).
fn printable(name: &str) -> Vec<u8> {
    let mut out = vec![0x13, name.len() as u8];
    out.extend_from_slice(name.as_bytes());
    out
}

/// A DER OCTET STRING (short or one-byte long form).
fn octet_string(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![0x04];
    if bytes.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
    out
}

/// The content of the DER OCTET STRING `CKA_EC_POINT` holds.
fn point_of(der: &[u8]) -> Vec<u8> {
    match der {
        [0x04, 0x81, len, rest @ ..] | [0x04, len, rest @ ..] if rest.len() == *len as usize => {
            rest.to_vec()
        }
        _ => panic!("CKA_EC_POINT is not a DER OCTET STRING: {der:02x?}"),
    }
}

struct Curve {
    name: &'static str,
    oid: &'static [u8],
    /// Bytes of a field element (and of r and s).
    len: usize,
    /// The hashed ECDSA mechanism matching the curve's size.
    hashed: CK_MECHANISM_TYPE,
}

const SECP192R1: Curve = Curve {
    name: "secp192r1",
    oid: &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x01],
    len: 24,
    hashed: CKM_ECDSA_SHA224,
};
const SECP224R1: Curve = Curve {
    name: "secp224r1",
    oid: &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x21],
    len: 28,
    hashed: CKM_ECDSA_SHA224,
};
const SECP256K1: Curve = Curve {
    name: "secp256k1",
    oid: &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x0A],
    len: 32,
    hashed: CKM_ECDSA_SHA256,
};
const BRAINPOOL_P256R1: Curve = Curve {
    name: "brainpoolP256r1",
    oid: &[
        0x06, 0x09, 0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07,
    ],
    len: 32,
    hashed: CKM_ECDSA_SHA256,
};
const BRAINPOOL_P384R1: Curve = Curve {
    name: "brainpoolP384r1",
    oid: &[
        0x06, 0x09, 0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0B,
    ],
    len: 48,
    hashed: CKM_ECDSA_SHA384,
};
const BRAINPOOL_P512R1: Curve = Curve {
    name: "brainpoolP512r1",
    oid: &[
        0x06, 0x09, 0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0D,
    ],
    len: 64,
    hashed: CKM_ECDSA_SHA512,
};

const NEW_CURVES: [&Curve; 6] = [
    &SECP192R1,
    &SECP224R1,
    &SECP256K1,
    &BRAINPOOL_P256R1,
    &BRAINPOOL_P384R1,
    &BRAINPOOL_P512R1,
];

fn pair(
    s: CK_SESSION_HANDLE,
    params: &[u8],
) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE), CK_RV> {
    generate_key_pair(
        s,
        CKM_EC_KEY_PAIR_GEN,
        Template::new().bytes(CKA_EC_PARAMS, params),
        Template::new()
            .bool(CKA_EXTRACTABLE, true)
            .bool(CKA_SENSITIVE, false)
            .bool(CKA_DERIVE, true),
    )
}

fn sign(s: CK_SESSION_HANDLE, m: CK_MECHANISM_TYPE, key: CK_OBJECT_HANDLE, data: &[u8]) -> Vec<u8> {
    assert_eq!(init(C_SignInit, s, &mut mech(m), key), CKR_OK);
    produce(C_Sign, s, data).unwrap()
}

fn check(
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_TYPE,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
    sig: &[u8],
) -> CK_RV {
    assert_eq!(init(C_VerifyInit, s, &mut mech(m), key), CKR_OK);
    verify(s, data, sig)
}

fn public_key(
    s: CK_SESSION_HANDLE,
    params: &[u8],
    point: &[u8],
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_PUBLIC_KEY)
            .ulong(CKA_KEY_TYPE, CKK_EC)
            .bytes(CKA_EC_PARAMS, params)
            .bytes(CKA_EC_POINT, &octet_string(point)),
    )
}

fn private_key(
    s: CK_SESSION_HANDLE,
    params: &[u8],
    value: &[u8],
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_PRIVATE_KEY)
            .ulong(CKA_KEY_TYPE, CKK_EC)
            .bytes(CKA_EC_PARAMS, params)
            .bytes(CKA_VALUE, value)
            .bool(CKA_DERIVE, true),
    )
}

/// `CKM_ECDH1_DERIVE` with `kdf` into a readable generic secret (`len` bytes when given).
fn ecdh(
    s: CK_SESSION_HANDLE,
    private: CK_OBJECT_HANDLE,
    peer: &[u8],
    kdf: CK_EC_KDF_TYPE,
    len: Option<CK_ULONG>,
) -> Result<Vec<u8>, CK_RV> {
    let mut params = CK_ECDH1_DERIVE_PARAMS {
        kdf,
        ulSharedDataLen: 0,
        pSharedData: null_mut(),
        ulPublicDataLen: peer.len() as CK_ULONG,
        pPublicData: peer.as_ptr() as *mut u8,
    };
    let mut m = mech_with(CKM_ECDH1_DERIVE, &mut params);
    let mut t = Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true);
    if let Some(len) = len {
        t = t.ulong(CKA_VALUE_LEN, len);
    }
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
    if rv != CKR_OK {
        return Err(rv);
    }
    Ok(get_attr(s, key, CKA_VALUE).unwrap())
}

/// An AES key that wraps, unwraps and encrypts.
fn wrapping_key(s: CK_SESSION_HANDLE) -> CK_OBJECT_HANDLE {
    aes_key(s, |t| {
        t.bool(CKA_WRAP, true)
            .bool(CKA_UNWRAP, true)
            .bool(CKA_ENCRYPT, true)
    })
}

fn wrap(s: CK_SESSION_HANDLE, wrapping: CK_OBJECT_HANDLE, key: CK_OBJECT_HANDLE) -> Vec<u8> {
    let mut m = mech(CKM_AES_KEY_WRAP_PAD);
    let mut len = 0;
    // SAFETY: a null output asks for the length.
    let rv = unsafe { C_WrapKey(s, &mut m, wrapping, key, null_mut(), &mut len) };
    assert_eq!(rv, CKR_OK);
    let mut out = vec![0u8; len as usize];
    // SAFETY: the buffer holds `len` bytes.
    let rv = unsafe { C_WrapKey(s, &mut m, wrapping, key, out.as_mut_ptr(), &mut len) };
    assert_eq!(rv, CKR_OK);
    out.truncate(len as usize);
    out
}

/// `data` wrapped as if it were a key: `CKM_AES_KEY_WRAP_PAD` encryption.
fn encrypt_blob(s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, data: &[u8]) -> Vec<u8> {
    assert_eq!(
        init(C_EncryptInit, s, &mut mech(CKM_AES_KEY_WRAP_PAD), key),
        CKR_OK
    );
    produce(C_Encrypt, s, data).unwrap()
}

fn unwrap_private(
    s: CK_SESSION_HANDLE,
    unwrapping: CK_OBJECT_HANDLE,
    wrapped: &[u8],
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut m = mech(CKM_AES_KEY_WRAP_PAD);
    let mut t = Template::new()
        .ulong(CKA_CLASS, CKO_PRIVATE_KEY)
        .ulong(CKA_KEY_TYPE, CKK_EC)
        .bool(CKA_SIGN, true)
        .bool(CKA_DERIVE, true);
    let mut raw = t.raw();
    let mut key = 0;
    // SAFETY: valid mechanism, wrapped buffer, template and out-pointer.
    let rv = unsafe {
        C_UnwrapKey(
            s,
            &mut m,
            unwrapping,
            wrapped.as_ptr() as *mut u8,
            wrapped.len() as CK_ULONG,
            raw.as_mut_ptr(),
            raw.len() as CK_ULONG,
            &mut key,
        )
    };
    if rv == CKR_OK { Ok(key) } else { Err(rv) }
}

/// A PKCS#8 `PrivateKeyInfo` (RFC 5208) around an RFC 5915 `ECPrivateKey`, built here as an
/// outside tool would: `with_params` repeats the curve in the inner `[0]`, `public` adds `[1]`.
fn pkcs8(oid: &[u8], scalar: &[u8], with_params: bool, public: Option<&[u8]>) -> Vec<u8> {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match content.len() {
            n if n < 0x80 => out.push(n as u8),
            n if n < 0x100 => out.extend_from_slice(&[0x81, n as u8]),
            n => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(content);
        out
    }
    let mut inner = vec![0x02, 0x01, 0x01];
    inner.extend(tlv(0x04, scalar));
    if with_params {
        inner.extend(tlv(0xA0, oid));
    }
    if let Some(point) = public {
        let mut bits = vec![0u8];
        bits.extend_from_slice(point);
        inner.extend(tlv(0xA1, &tlv(0x03, &bits)));
    }
    let ec_private_key = tlv(0x30, &inner);
    let mut algorithm = tlv(0x06, &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]);
    algorithm.extend_from_slice(oid);
    let mut info = vec![0x02, 0x01, 0x00];
    info.extend(tlv(0x30, &algorithm));
    info.extend(tlv(0x04, &ec_private_key));
    tlv(0x30, &info)
}

#[test]
fn every_new_curve_generates_signs_and_verifies_by_oid_and_by_name() {
    let lab = Lab::new();
    let s = lab.user_session();
    let digest = [0x5Au8; 32];
    for curve in NEW_CURVES {
        for params in [curve.oid.to_vec(), printable(curve.name)] {
            let (public, private) =
                pair(s, &params).unwrap_or_else(|rv| panic!("{}: {rv:#x}", curve.name));
            // The caller's form of the parameters is kept on both keys.
            assert_eq!(get_attr(s, public, CKA_EC_PARAMS).unwrap(), params);
            assert_eq!(get_attr(s, private, CKA_EC_PARAMS).unwrap(), params);
            let point = point_of(&get_attr(s, public, CKA_EC_POINT).unwrap());
            assert_eq!(point.len(), 2 * curve.len + 1, "{}", curve.name);
            assert_eq!(point[0], 0x04);
            assert_eq!(
                get_attr(s, private, CKA_VALUE).unwrap().len(),
                curve.len,
                "{}",
                curve.name
            );
            for (m, data) in [
                (CKM_ECDSA, &digest[..]),
                (curve.hashed, &b"a message"[..]),
                (CKM_ECDSA_SHA256, &b"another message"[..]),
            ] {
                let sig = sign(s, m, private, data);
                assert_eq!(sig.len(), 2 * curve.len, "{} {m:#x}", curve.name);
                assert_eq!(check(s, m, public, data, &sig), CKR_OK, "{}", curve.name);
                let mut bad = sig.clone();
                bad[3] ^= 0x10;
                assert_eq!(check(s, m, public, data, &bad), CKR_SIGNATURE_INVALID);
                assert_eq!(
                    check(s, m, public, data, &sig[1..]),
                    CKR_SIGNATURE_LEN_RANGE
                );
            }
        }
    }
    // The curves that were there before answer to their names too.
    for (name, len) in [("prime256v1", 32), ("secp384r1", 48), ("secp521r1", 66)] {
        let (public, private) = pair(s, &printable(name)).unwrap();
        let sig = sign(s, CKM_ECDSA_SHA256, private, b"named");
        assert_eq!(sig.len(), 2 * len);
        assert_eq!(check(s, CKM_ECDSA_SHA256, public, b"named", &sig), CKR_OK);
    }
}

#[test]
fn curves_and_names_outside_the_list_are_refused() {
    let lab = Lab::new();
    let s = lab.user_session();
    let brainpool_p224r1 = [
        0x06, 0x09, 0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x05,
    ];
    let secp192k1 = [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x1F];
    let mut utf8_name = printable("secp256k1");
    utf8_name[0] = 0x0C;
    let mut short_name = printable("secp256k1");
    short_name[1] += 1;
    for params in [
        brainpool_p224r1.to_vec(),
        secp192k1.to_vec(),
        printable("Secp256k1"),
        printable("brainpoolP256t1"),
        printable(""),
        utf8_name,
        short_name,
        b"secp256k1".to_vec(),
    ] {
        assert_eq!(
            pair(s, &params),
            Err(CKR_CURVE_NOT_SUPPORTED),
            "{params:02x?}"
        );
        assert_eq!(
            private_key(s, &params, &[1u8; 32]),
            Err(CKR_CURVE_NOT_SUPPORTED)
        );
    }
}

#[test]
fn published_signatures_verify_and_altered_ones_do_not() {
    let lab = Lab::new();
    let s = lab.user_session();
    // (curve, public point, mechanism, message, r || s)
    type Vector = (
        &'static Curve,
        Vec<u8>,
        CK_MECHANISM_TYPE,
        &'static [u8],
        Vec<u8>,
    );
    let rfc6979 = |r: &str, sv: &str| hex(&format!("{r}{sv}"));
    let cases: Vec<Vector> = vec![
        // RFC 6979 A.2.3, SHA-256, "sample" and "test".
        (
            &SECP192R1,
            hex("04AC2C77F529F91689FEA0EA5EFEC7F210D8EEA0B9E047ED56\
                 3BC723E57670BD4887EBC732C523063D0A7C957BC97C1C43"),
            CKM_ECDSA_SHA256,
            b"sample",
            rfc6979(
                "4B0B8CE98A92866A2820E20AA6B75B56382E0F9BFD5ECB55",
                "CCDB006926EA9565CBADC840829D8C384E06DE1F1E381B85",
            ),
        ),
        (
            &SECP192R1,
            hex("04AC2C77F529F91689FEA0EA5EFEC7F210D8EEA0B9E047ED56\
                 3BC723E57670BD4887EBC732C523063D0A7C957BC97C1C43"),
            CKM_ECDSA_SHA256,
            b"test",
            rfc6979(
                "3A718BD8B4926C3B52EE6BBE67EF79B18CB6EB62B1AD97AE",
                "5662E6848A4A19B1F1AE2F72ACD4B8BBE50F1EAC65D9124F",
            ),
        ),
        // RFC 6979 A.2.4, SHA-256, "sample".
        (
            &SECP224R1,
            hex("0400CF08DA5AD719E42707FA431292DEA11244D64FC51610D94B130D6C\
                 EEAB6F3DEBE455E3DBF85416F7030CBD94F34F2D6F232C69F3C1385A"),
            CKM_ECDSA_SHA256,
            b"sample",
            rfc6979(
                "61AA3DA010E8E8406C656BC477A7A7189895E7E840CDFE8FF42307BA",
                "BC814050DAB5D23770879494F9E0A680DC1AF7161991BDE692B10101",
            ),
        ),
        // Wycheproof ecdsa_secp256k1_sha256_p1363_test.json, tcId 1.
        (
            &SECP256K1,
            hex(
                "04b838ff44e5bc177bf21189d0766082fc9d843226887fc9760371100b7ee20a6f\
                 f0c9d75bfba7b31a6bca1974496eeb56de357071955d83c4b1badaa0b21832e9",
            ),
            CKM_ECDSA_SHA256,
            b"123400",
            hex(
                "813ef79ccefa9a56f7ba805f0e478584fe5f0dd5f567bc09b5123ccbc9832365\
                 900e75ad233fcc908509dbff5922647db37c21f4afd3203ae8dc4ae7794b0f87",
            ),
        ),
        // Wycheproof ecdsa_brainpoolP256r1_sha256_p1363_test.json, tcId 1.
        (
            &BRAINPOOL_P256R1,
            hex(
                "04019a2d9637743a63ddaefdbca0ee229a163b809b9b145e5313bbeb8defeab9d6\
                 548caf89bf5ba49499404145651234336401b9b2843a579ed152e090f11b9e59",
            ),
            CKM_ECDSA_SHA256,
            b"123400",
            hex(
                "0a5f8c70ba2d0842d5d0f841f160ad15195769a8159bfe692634d73d469d111f\
                 426e857aad3ff7aa96e4d200c03b45f1846a36d089ee3917768ca1a0d6d4da6e",
            ),
        ),
        // Wycheproof ecdsa_brainpoolP384r1_sha384_p1363_test.json, tcId 1.
        (
            &BRAINPOOL_P384R1,
            hex(
                "04192ed5ce547d2336911d3f6cecba227f08df077f6242a9147a914e854e6e32d3\
                 25fd23ccc42921dc4a7e4c2eb71defd3631e69079ba982e7a1cad0a39eff47fc6d6e\
                 3a280d081286b624886ba1f3069671ec1a29986d84fb79736d2799e6fc21",
            ),
            CKM_ECDSA_SHA384,
            b"123400",
            hex(
                "0e8e114a1c351405560bf8d47b166bfe957087a8003b353433b6144f7ee7d6f7\
                 9c8dd14ef229fa7a2f2782bf33708b9183aa7ba485dc060df9922f9ccc5da29a\
                 db75d44671d18bad0636d2e09c5e2f95e892a79b9fd3b37e1f798b157b567a24",
            ),
        ),
        // Wycheproof ecdsa_brainpoolP512r1_sha512_p1363_test.json, tcId 1.
        (
            &BRAINPOOL_P512R1,
            hex(
                "0467cea1bedf84cbdcba69a05bb2ce3a2d1c9d911d236c480929a16ad697b45a6c\
                 a127079fe8d7868671e28ef33bdf9319e2e51c84b190ac5c91b51baf0a980ba500a7\
                 e79006194b5378f65cbe625ef2c47c64e56040d873b995b5b1ebaa4a6ce971da1643\
                 91ff619af3bcfc71c5e1ad27ee0e859c2943e2de8ef7c43d3c976e9b",
            ),
            CKM_ECDSA_SHA512,
            b"123400",
            hex(
                "0bd2593447cc6c02caf99d60418dd42e9a194c910e6755ed0c7059acac656b04\
                 ccfe1e8348462ee43066823aee2fed7ca012e9890dfb69866d7ae88b6506f9c7\
                 44b42304e693796618d090dbcb2a2551c3cb78534611e61fd9d1a5c0938b5b8e\
                 c6ed53d2d28999eabbd8e7792d167fcf582492403a6a0f7cc94c73a28fb76b71",
            ),
        ),
    ];
    let digest = |m: CK_MECHANISM_TYPE, data: &[u8]| {
        let alg = match m {
            CKM_ECDSA_SHA256 => &aws_lc_rs::digest::SHA256,
            CKM_ECDSA_SHA384 => &aws_lc_rs::digest::SHA384,
            _ => &aws_lc_rs::digest::SHA512,
        };
        aws_lc_rs::digest::digest(alg, data).as_ref().to_vec()
    };
    for (curve, point, m, msg, sig) in cases {
        assert_eq!(sig.len(), 2 * curve.len);
        assert_eq!(point.len(), 2 * curve.len + 1);
        let key = public_key(s, curve.oid, &point).unwrap();
        let named = public_key(s, &printable(curve.name), &point).unwrap();
        assert_eq!(check(s, m, key, msg, &sig), CKR_OK, "{}", curve.name);
        assert_eq!(check(s, m, named, msg, &sig), CKR_OK, "{}", curve.name);
        // The same signature over the caller's hash (CKM_ECDSA).
        assert_eq!(
            check(s, CKM_ECDSA, key, &digest(m, msg), &sig),
            CKR_OK,
            "{}",
            curve.name
        );
        // Another message, a changed r, a changed s.
        assert_eq!(check(s, m, key, b"123401", &sig), CKR_SIGNATURE_INVALID);
        for at in [curve.len - 1, 2 * curve.len - 1] {
            let mut bad = sig.clone();
            bad[at] ^= 1;
            assert_eq!(check(s, m, key, msg, &bad), CKR_SIGNATURE_INVALID);
        }
    }
    // Wycheproof tcId 4 ("replaced r by n - r") must fail.
    let k1 = public_key(
        s,
        SECP256K1.oid,
        &hex(
            "04b838ff44e5bc177bf21189d0766082fc9d843226887fc9760371100b7ee20a6f\
             f0c9d75bfba7b31a6bca1974496eeb56de357071955d83c4b1badaa0b21832e9",
        ),
    )
    .unwrap();
    let n_minus_r = hex(
        "7ec10863310565a908457fa0f1b87a79bc4fcf10b9e0e4320ac021c106b31ddc\
         6ff18a52dcc0336f7af62400a6dd9b810732baf1ff758000d6f613a556eb31ba",
    );
    assert_eq!(
        check(s, CKM_ECDSA_SHA256, k1, b"123400", &n_minus_r),
        CKR_SIGNATURE_INVALID
    );
    // A point that is not on the curve (P-224's y changed) is refused on import.
    let mut off = hex("0400CF08DA5AD719E42707FA431292DEA11244D64FC51610D94B130D6C\
         EEAB6F3DEBE455E3DBF85416F7030CBD94F34F2D6F232C69F3C1385A");
    off[40] ^= 1;
    assert_eq!(
        public_key(s, SECP224R1.oid, &off),
        Err(CKR_ATTRIBUTE_VALUE_INVALID)
    );
}

#[test]
fn imported_private_values_match_their_published_public_keys() {
    let lab = Lab::new();
    let s = lab.user_session();
    // RFC 6979's keys: the imported scalar signs for the published point.
    let rfc6979 = [
        (
            &SECP192R1,
            "6FAB034934E4C0FC9AE67F5B5659A9D7D1FEFD187EE09FD4",
            "04AC2C77F529F91689FEA0EA5EFEC7F210D8EEA0B9E047ED56\
             3BC723E57670BD4887EBC732C523063D0A7C957BC97C1C43",
        ),
        (
            &SECP224R1,
            "F220266E1105BFE3083E03EC7A3A654651F45E37167E88600BF257C1",
            "0400CF08DA5AD719E42707FA431292DEA11244D64FC51610D94B130D6C\
             EEAB6F3DEBE455E3DBF85416F7030CBD94F34F2D6F232C69F3C1385A",
        ),
    ];
    for (curve, d, q) in rfc6979 {
        let private = private_key(s, &printable(curve.name), &hex(d)).unwrap();
        let public = public_key(s, curve.oid, &hex(q)).unwrap();
        let sig = sign(s, CKM_ECDSA_SHA256, private, b"sample");
        assert_eq!(
            check(s, CKM_ECDSA_SHA256, public, b"sample", &sig),
            CKR_OK,
            "{}",
            curve.name
        );
    }
    // Wycheproof ECDH answers: the imported scalar with the peer's point gives the shared x.
    let wycheproof = [
        // ecdh_secp256k1_test.json, tcId 6.
        (
            &SECP256K1,
            "a2b6442a37f8a3764aeff4011a4c422b389a1e509669c43f279c8b7e32d80c3a",
            "0423556564850c50fba51f1e64ef98378ef5c22feafa29499ca27600c473cace88\
             9d5679e917daa7f4c7899517d37826284f031de01a60bc813696414d04531a21",
            "210c790573632359b1edb4302c117d8a132654692c3feeb7de3a86ac3f3b53f7",
        ),
        // ecdh_brainpoolP256r1_test.json, tcId 1.
        (
            &BRAINPOOL_P256R1,
            "0113db979e07d9c8fdbea5b06a682c0d2ad67170ffcb65d7547d8c442d3ac237",
            "044cee5e1072b30d64f70bf01958e22c044a2127ddd744ce3060c15990ff0fe114\
             8c6ee56559829a5a84dd5c8646ee0c43d0b7c50181f234ec09eba43bc86b169e",
            "3f00d9af7607fd32809ef7a4a30b396e3da9f465adf20597c9e2046f16a7b1be",
        ),
    ];
    for (curve, d, peer, shared) in wycheproof {
        let private = private_key(s, curve.oid, &hex(d)).unwrap();
        assert_eq!(
            ecdh(s, private, &hex(peer), CKD_NULL, None).unwrap(),
            hex(shared),
            "{}",
            curve.name
        );
        // The peer's point in its DER form gives the same.
        assert_eq!(
            ecdh(s, private, &octet_string(&hex(peer)), CKD_NULL, None).unwrap(),
            hex(shared)
        );
    }
    // Zero and values of at least the order are not private keys.
    let p192_order = "FFFFFFFFFFFFFFFFFFFFFFFF99DEF836146BC9B1B4D22831";
    for value in [
        vec![0u8; 24],
        hex(p192_order),
        vec![0xFF; 24],
        vec![1u8; 25],
    ] {
        assert_eq!(
            private_key(s, SECP192R1.oid, &value),
            Err(CKR_ATTRIBUTE_VALUE_INVALID)
        );
    }
}

#[test]
fn ecdh_between_two_generated_keys_agrees_on_every_new_curve() {
    let lab = Lab::new();
    let s = lab.user_session();
    for curve in NEW_CURVES {
        let (a_pub, a_priv) = pair(s, curve.oid).unwrap();
        let (b_pub, b_priv) = pair(s, &printable(curve.name)).unwrap();
        let a_point = get_attr(s, a_pub, CKA_EC_POINT).unwrap();
        let b_point = get_attr(s, b_pub, CKA_EC_POINT).unwrap();
        // DER and bare points, CKD_NULL: the whole x coordinate, equal on both sides.
        let za = ecdh(s, a_priv, &b_point, CKD_NULL, None).unwrap();
        let zb = ecdh(s, b_priv, &point_of(&a_point), CKD_NULL, None).unwrap();
        assert_eq!(za.len(), curve.len, "{}", curve.name);
        assert_eq!(za, zb, "{}", curve.name);
        // Through the X9.63 KDF, 40 bytes.
        let ka = ecdh(s, a_priv, &b_point, CKD_SHA256_KDF, Some(40)).unwrap();
        let kb = ecdh(s, b_priv, &a_point, CKD_SHA256_KDF, Some(40)).unwrap();
        assert_eq!(ka.len(), 40);
        assert_eq!(ka, kb);
        // A point of another curve, or off the curve, is refused.
        let mut off = point_of(&b_point);
        off[curve.len] ^= 1;
        assert_eq!(
            ecdh(s, a_priv, &off, CKD_NULL, None),
            Err(CKR_MECHANISM_PARAM_INVALID),
            "{}",
            curve.name
        );
        let other = if curve.len == 32 {
            &SECP224R1
        } else {
            &SECP256K1
        };
        let (o_pub, _) = pair(s, other.oid).unwrap();
        let o_point = get_attr(s, o_pub, CKA_EC_POINT).unwrap();
        assert_eq!(
            ecdh(s, a_priv, &o_point, CKD_NULL, None),
            Err(CKR_MECHANISM_PARAM_INVALID)
        );
    }
}

#[test]
fn private_keys_import_in_clear_and_as_pkcs8_then_sign() {
    let lab = Lab::new();
    let s = lab.user_session();
    let kek = wrapping_key(s);
    for curve in NEW_CURVES {
        let (public, private) = pair(s, curve.oid).unwrap();
        // The clear value through C_CreateObject.
        let value = get_attr(s, private, CKA_VALUE).unwrap();
        let imported = private_key(s, &printable(curve.name), &value).unwrap();
        let sig = sign(s, curve.hashed, imported, b"imported");
        assert_eq!(check(s, curve.hashed, public, b"imported", &sig), CKR_OK);
        // PKCS#8 through C_WrapKey / C_UnwrapKey.
        let wrapped = wrap(s, kek, private);
        let unwrapped =
            unwrap_private(s, kek, &wrapped).unwrap_or_else(|rv| panic!("{}: {rv:#x}", curve.name));
        assert_eq!(get_attr(s, unwrapped, CKA_EC_PARAMS).unwrap(), curve.oid);
        let sig = sign(s, CKM_ECDSA, unwrapped, &[7u8; 32]);
        assert_eq!(check(s, CKM_ECDSA, public, &[7u8; 32], &sig), CKR_OK);
        // The same value unwrapped from PKCS#8 built outside, with and without the inner
        // parameters and public key.
        let point = point_of(&get_attr(s, public, CKA_EC_POINT).unwrap());
        for (with_params, with_public) in [(false, false), (true, true), (false, true)] {
            if with_params && curve.name == "secp192r1" {
                // aws-lc's ECPrivateKey reader knows no P-192 OID (see the README).
                continue;
            }
            let der = pkcs8(
                curve.oid,
                &value,
                with_params,
                with_public.then_some(&point[..]),
            );
            let key = unwrap_private(s, kek, &encrypt_blob(s, kek, &der))
                .unwrap_or_else(|rv| panic!("{} {with_params} {with_public}: {rv:#x}", curve.name));
            let sig = sign(s, curve.hashed, key, b"outside");
            assert_eq!(check(s, curve.hashed, public, b"outside", &sig), CKR_OK);
        }
        // A public key that is not the scalar's is refused.
        let (other_pub, _) = pair(s, curve.oid).unwrap();
        let other_point = point_of(&get_attr(s, other_pub, CKA_EC_POINT).unwrap());
        let der = pkcs8(curve.oid, &value, false, Some(&other_point));
        assert_eq!(
            unwrap_private(s, kek, &encrypt_blob(s, kek, &der)),
            Err(CKR_WRAPPED_KEY_INVALID),
            "{}",
            curve.name
        );
    }
}

#[test]
fn mechanism_info_covers_the_smallest_and_largest_curve() {
    let _lab = Lab::new();
    for m in [
        CKM_EC_KEY_PAIR_GEN,
        CKM_ECDSA,
        CKM_ECDSA_SHA1,
        CKM_ECDSA_SHA256,
        CKM_ECDSA_SHA512,
        CKM_ECDH1_DERIVE,
    ] {
        let mut info = CK_MECHANISM_INFO {
            ulMinKeySize: 0,
            ulMaxKeySize: 0,
            flags: 0,
        };
        // SAFETY: a valid out-pointer.
        assert_eq!(unsafe { C_GetMechanismInfo(0, m, &mut info) }, CKR_OK);
        assert_eq!((info.ulMinKeySize, info.ulMaxKeySize), (192, 521), "{m:#x}");
    }
}

/// Slots: 0 a Primus partition, 1 a Luna 7 partition, 2 a soft token.
const VENDOR_LAB: &str = r#"
[lab]
name = "curves"

[[device]]
name = "primus1"
kind = "primus"
firmware = "2.11"
  [[device.partition]]
  name = "P1"
  user_pin = "Pkcs11-Pin-01"

[[device]]
name = "luna1"
kind = "luna-network"
firmware = "7.8.4"
  [[device.partition]]
  name = "par1"
  label = "par1"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"

[[device]]
name = "soft1"
kind = "soft"
  [[device.partition]]
  name = "t1"
  label = "t1"
  so_pin = "87654321"
  user_pin = "12345678"

[[host]]
name = "client"
slot = [
  { id = 0, partition = "primus1/P1" },
  { id = 1, partition = "luna1/par1" },
  { id = 2, partition = "soft1/t1" },
]
"#;

#[test]
fn a_vendor_model_without_the_curve_answers_curve_not_supported() {
    let _lab = TextLab::new(VENDOR_LAB);
    let session = |slot, pin: &[u8]| {
        let s = open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
        assert_eq!(login(s, CKU_USER, pin), CKR_OK);
        s
    };
    let primus = session(0, b"Pkcs11-Pin-01");
    let luna = session(1, b"co-pin-0001");
    let soft = session(2, b"12345678");
    let d = hex("6FAB034934E4C0FC9AE67F5B5659A9D7D1FEFD187EE09FD4");
    let q = hex("04AC2C77F529F91689FEA0EA5EFEC7F210D8EEA0B9E047ED56\
         3BC723E57670BD4887EBC732C523063D0A7C957BC97C1C43");
    // Primus firmware offers no secp192r1: generation, import and unwrap are refused.
    for params in [SECP192R1.oid.to_vec(), printable("secp192r1")] {
        assert_eq!(pair(primus, &params), Err(CKR_CURVE_NOT_SUPPORTED));
        assert_eq!(
            private_key(primus, &params, &d),
            Err(CKR_CURVE_NOT_SUPPORTED)
        );
        assert_eq!(
            public_key(primus, &params, &q),
            Err(CKR_CURVE_NOT_SUPPORTED)
        );
    }
    let kek = generate_key(
        primus,
        CKM_AES_KEY_GEN,
        Template::new()
            .ulong(CKA_VALUE_LEN, 32)
            .bool(CKA_ENCRYPT, true)
            .bool(CKA_UNWRAP, true),
    )
    .unwrap();
    let blob = encrypt_blob(primus, kek, &pkcs8(SECP192R1.oid, &d, false, Some(&q)));
    assert_eq!(
        unwrap_private(primus, kek, &blob),
        Err(CKR_CURVE_NOT_SUPPORTED)
    );
    // Its other curves work there.
    for curve in NEW_CURVES.iter().filter(|c| c.name != "secp192r1") {
        let (public, private) = generate_key_pair(
            primus,
            CKM_EC_KEY_PAIR_GEN,
            Template::new()
                .bytes(CKA_EC_PARAMS, curve.oid)
                .bool(CKA_VERIFY, true),
            Template::new().bool(CKA_SIGN, true),
        )
        .unwrap_or_else(|rv| panic!("Primus {}: {rv:#x}", curve.name));
        let sig = sign(primus, curve.hashed, private, b"primus");
        assert_eq!(check(primus, curve.hashed, public, b"primus", &sig), CKR_OK);
    }
    // Luna and the soft token offer all of them.
    for s in [luna, soft] {
        for curve in NEW_CURVES {
            let (public, private) = pair(s, curve.oid)
                .unwrap_or_else(|rv| panic!("slot session {s} {}: {rv:#x}", curve.name));
            let sig = sign(s, curve.hashed, private, b"everywhere");
            assert_eq!(check(s, curve.hashed, public, b"everywhere", &sig), CKR_OK);
        }
        assert!(private_key(s, SECP192R1.oid, &d).is_ok());
    }
}
