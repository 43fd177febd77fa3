//! The PKCS#11 3.0 message-based encryption API for `CKM_AES_GCM` through the C ABI: one-shot
//! messages, multi-part messages (begin / next / end of message), tag failures, IV generators,
//! state errors and key checks.
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::ptr::null_mut;

/// McGrew-Viega GCM test case 2: zero key, zero 96-bit IV, one zero block.
const TC2_C: [u8; 16] = [
    0x03, 0x88, 0xda, 0xce, 0x60, 0xb6, 0xa3, 0x92, 0xf3, 0x28, 0xc2, 0xb9, 0x71, 0xb2, 0xfe, 0x78,
];
const TC2_T: [u8; 16] = [
    0xab, 0x6e, 0x47, 0xd4, 0x2c, 0xec, 0x13, 0xbd, 0xf5, 0x3a, 0x67, 0xb2, 0x12, 0x57, 0xbd, 0xdf,
];

/// One message's parameters with the buffers they point to.
struct Msg {
    iv: Vec<u8>,
    tag: Vec<u8>,
    raw: CK_GCM_MESSAGE_PARAMS,
}

impl Msg {
    fn new(
        iv: &[u8],
        fixed_bits: CK_ULONG,
        generator: CK_GENERATOR_FUNCTION,
        tag: &[u8],
    ) -> Box<Msg> {
        let mut m = Box::new(Msg {
            iv: iv.to_vec(),
            tag: tag.to_vec(),
            raw: CK_GCM_MESSAGE_PARAMS {
                pIv: null_mut(),
                ulIvLen: iv.len() as CK_ULONG,
                ulIvFixedBits: fixed_bits,
                ivGenerator: generator,
                pTag: null_mut(),
                ulTagBits: (tag.len() * 8) as CK_ULONG,
            },
        });
        m.raw.pIv = m.iv.as_mut_ptr();
        m.raw.pTag = m.tag.as_mut_ptr();
        m
    }
    fn param(&mut self) -> (*mut std::ffi::c_void, CK_ULONG) {
        (
            &mut self.raw as *mut CK_GCM_MESSAGE_PARAMS as *mut _,
            size_of::<CK_GCM_MESSAGE_PARAMS>() as CK_ULONG,
        )
    }
}

fn gcm_key(s: CK_SESSION_HANDLE, value: &[u8], encrypt: bool) -> CK_OBJECT_HANDLE {
    create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
            .bytes(CKA_VALUE, value)
            .bool(CKA_ENCRYPT, encrypt)
            .bool(CKA_DECRYPT, true),
    )
    .unwrap()
}

fn init(s: CK_SESSION_HANDLE, encrypt: bool, key: CK_OBJECT_HANDLE) -> CK_RV {
    let mut m = mech(CKM_AES_GCM);
    if encrypt {
        // SAFETY: a valid mechanism without parameter.
        unsafe { C_MessageEncryptInit(s, &mut m, key) }
    } else {
        // SAFETY: a valid mechanism without parameter.
        unsafe { C_MessageDecryptInit(s, &mut m, key) }
    }
}

fn final_(s: CK_SESSION_HANDLE, encrypt: bool) -> CK_RV {
    if encrypt {
        // SAFETY: no pointers.
        unsafe { C_MessageEncryptFinal(s) }
    } else {
        // SAFETY: no pointers.
        unsafe { C_MessageDecryptFinal(s) }
    }
}

/// `C_EncryptMessage` / `C_DecryptMessage` with a buffer of `cap` bytes (`None`: length query).
fn one_shot(
    s: CK_SESSION_HANDLE,
    encrypt: bool,
    msg: &mut Msg,
    aad: &[u8],
    data: &[u8],
    cap: Option<usize>,
) -> (CK_RV, Vec<u8>) {
    let (p, pl) = msg.param();
    let mut out = vec![0u8; cap.unwrap_or(0)];
    let outp = if cap.is_some() {
        out.as_mut_ptr()
    } else {
        null_mut()
    };
    let mut len = out.len() as CK_ULONG;
    let f = if encrypt {
        C_EncryptMessage
    } else {
        C_DecryptMessage
    };
    // SAFETY: the parameter and its buffers are alive; the buffers are valid for their lengths.
    let rv = unsafe {
        f(
            s,
            p,
            pl,
            aad.as_ptr() as *mut u8,
            aad.len() as CK_ULONG,
            data.as_ptr() as *mut u8,
            data.len() as CK_ULONG,
            outp,
            &mut len,
        )
    };
    out.truncate(len as usize);
    if cap.is_none() {
        out = vec![0; len as usize];
    }
    (rv, out)
}

/// Both calls of the length-query convention.
fn one_shot_full(
    s: CK_SESSION_HANDLE,
    encrypt: bool,
    msg: &mut Msg,
    aad: &[u8],
    data: &[u8],
) -> Result<Vec<u8>, CK_RV> {
    let (rv, sized) = one_shot(s, encrypt, msg, aad, data, None);
    if rv != CKR_OK {
        return Err(rv);
    }
    let (rv, out) = one_shot(s, encrypt, msg, aad, data, Some(sized.len()));
    if rv == CKR_OK { Ok(out) } else { Err(rv) }
}

fn begin(s: CK_SESSION_HANDLE, encrypt: bool, msg: &mut Msg, aad: &[u8]) -> CK_RV {
    let (p, pl) = msg.param();
    let f = if encrypt {
        C_EncryptMessageBegin
    } else {
        C_DecryptMessageBegin
    };
    // SAFETY: the parameter and the AAD are alive and valid for their lengths.
    unsafe { f(s, p, pl, aad.as_ptr() as *mut u8, aad.len() as CK_ULONG) }
}

fn next(
    s: CK_SESSION_HANDLE,
    encrypt: bool,
    msg: &mut Msg,
    data: &[u8],
    end: bool,
) -> Result<Vec<u8>, CK_RV> {
    let (p, pl) = msg.param();
    let f = if encrypt {
        C_EncryptMessageNext
    } else {
        C_DecryptMessageNext
    };
    let flags = if end { CKF_END_OF_MESSAGE } else { 0 };
    let mut len: CK_ULONG = 0;
    // SAFETY: the parameter and input are valid; a null output asks for the length.
    let rv = unsafe {
        f(
            s,
            p,
            pl,
            data.as_ptr() as *mut u8,
            data.len() as CK_ULONG,
            null_mut(),
            &mut len,
            flags,
        )
    };
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut out = vec![0u8; len as usize];
    // SAFETY: as above, with an output buffer of `len` bytes.
    let rv = unsafe {
        f(
            s,
            p,
            pl,
            data.as_ptr() as *mut u8,
            data.len() as CK_ULONG,
            out.as_mut_ptr(),
            &mut len,
            flags,
        )
    };
    out.truncate(len as usize);
    if rv == CKR_OK { Ok(out) } else { Err(rv) }
}

#[test]
fn one_shot_messages_and_their_states() {
    let lab = Lab::new();
    let s = lab.user_session();
    let key = gcm_key(s, &[0; 16], true);
    let plain = [0u8; 16];

    // Nothing initialised.
    let mut m = Msg::new(&[0; 12], 0, CKG_NO_GENERATE, &[0; 16]);
    assert_eq!(
        one_shot(s, true, &mut m, &[], &plain, None).0,
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(final_(s, true), CKR_OPERATION_NOT_INITIALIZED);

    assert_eq!(init(s, true, key), CKR_OK);
    assert_eq!(init(s, true, key), CKR_OPERATION_ACTIVE);
    // Length query and short buffer compute nothing and leave the tag alone.
    let (rv, sized) = one_shot(s, true, &mut m, &[], &plain, None);
    assert_eq!((rv, sized.len()), (CKR_OK, 16));
    assert_eq!(
        one_shot(s, true, &mut m, &[], &plain, Some(15)).0,
        CKR_BUFFER_TOO_SMALL
    );
    assert_eq!(m.tag, [0; 16]);
    let ct = one_shot_full(s, true, &mut m, &[], &plain).unwrap();
    assert_eq!(ct, TC2_C);
    assert_eq!(m.tag, TC2_T);
    // Several messages under one operation; a 12-byte tag is the prefix.
    let mut m12 = Msg::new(&[0; 12], 0, CKG_NO_GENERATE, &[0; 12]);
    assert_eq!(
        one_shot_full(s, true, &mut m12, &[], &plain).unwrap(),
        TC2_C
    );
    assert_eq!(m12.tag, TC2_T[..12]);
    // A bad per-message parameter fails that message only.
    let mut bad = Msg::new(&[], 0, CKG_NO_GENERATE, &[0; 16]);
    assert_eq!(
        one_shot(s, true, &mut bad, &[], &plain, Some(16)).0,
        CKR_MECHANISM_PARAM_INVALID
    );
    let mut bad = Msg::new(&[0; 12], 0, CKG_NO_GENERATE, &[0; 5]);
    assert_eq!(
        one_shot(s, true, &mut bad, &[], &plain, Some(16)).0,
        CKR_MECHANISM_PARAM_INVALID
    );
    // A non-96-bit IV (McGrew-Viega test case 5's IV, with its key and data, no AAD here).
    let mut m8 = Msg::new(&[1, 2, 3, 4, 5, 6, 7, 8], 0, CKG_NO_GENERATE, &[0; 16]);
    let ct8 = one_shot_full(s, true, &mut m8, b"aad", b"some plaintext").unwrap();
    assert_eq!(final_(s, true), CKR_OK);
    assert_eq!(final_(s, true), CKR_OPERATION_NOT_INITIALIZED);

    // Decryption.
    assert_eq!(init(s, false, key), CKR_OK);
    let mut d = Msg::new(&[0; 12], 0, CKG_NO_GENERATE, &TC2_T);
    assert_eq!(one_shot_full(s, false, &mut d, &[], &TC2_C).unwrap(), plain);
    let mut d8 = Msg::new(&[1, 2, 3, 4, 5, 6, 7, 8], 0, CKG_NO_GENERATE, &m8.tag);
    assert_eq!(
        one_shot_full(s, false, &mut d8, b"aad", &ct8).unwrap(),
        b"some plaintext"
    );
    assert_eq!(
        one_shot_full(s, false, &mut d8, b"AAD", &ct8),
        Err(CKR_AEAD_DECRYPT_FAILED)
    );
    let mut wrong = TC2_T;
    wrong[15] ^= 1;
    let mut d = Msg::new(&[0; 12], 0, CKG_NO_GENERATE, &wrong);
    assert_eq!(
        one_shot_full(s, false, &mut d, &[], &TC2_C),
        Err(CKR_AEAD_DECRYPT_FAILED)
    );
    // The operation survives a failed message.
    let mut d = Msg::new(&[0; 12], 0, CKG_NO_GENERATE, &TC2_T[..12]);
    assert_eq!(one_shot_full(s, false, &mut d, &[], &TC2_C).unwrap(), plain);
    assert_eq!(final_(s, false), CKR_OK);
}

#[test]
fn multi_part_messages() {
    let lab = Lab::new();
    let s = lab.user_session();
    let key = gcm_key(s, &[0x42; 32], true);
    let data: Vec<u8> = (0..100u8).collect();
    let aad = b"header";
    let iv = [9u8; 13];

    assert_eq!(init(s, true, key), CKR_OK);
    let mut m = Msg::new(&iv, 0, CKG_NO_GENERATE, &[0; 16]);
    assert_eq!(
        next(s, true, &mut m, &data, true),
        Err(CKR_OPERATION_NOT_INITIALIZED)
    );
    let whole = one_shot_full(s, true, &mut m, aad, &data).unwrap();
    let whole_tag = m.tag.clone();

    let mut m = Msg::new(&iv, 0, CKG_NO_GENERATE, &[0; 16]);
    assert_eq!(begin(s, true, &mut m, aad), CKR_OK);
    assert_eq!(begin(s, true, &mut m, aad), CKR_OPERATION_ACTIVE);
    assert_eq!(
        one_shot(s, true, &mut m, aad, &data, Some(100)).0,
        CKR_OPERATION_ACTIVE
    );
    let mut ct = next(s, true, &mut m, &data[..7], false).unwrap();
    ct.extend(next(s, true, &mut m, &data[7..50], false).unwrap());
    assert_eq!(m.tag, [0; 16], "no tag before the end of the message");
    ct.extend(next(s, true, &mut m, &data[50..], true).unwrap());
    assert_eq!(ct, whole);
    assert_eq!(m.tag, whole_tag);
    // The message is over; another may begin.
    assert_eq!(
        next(s, true, &mut m, &data, true),
        Err(CKR_OPERATION_NOT_INITIALIZED)
    );
    assert_eq!(begin(s, true, &mut m, aad), CKR_OK);
    assert_eq!(
        final_(s, true),
        CKR_OK,
        "final abandons a message in progress"
    );

    assert_eq!(init(s, false, key), CKR_OK);
    for (tag, expect) in [
        (whole_tag.clone(), Ok(data.clone())),
        (
            {
                let mut t = whole_tag.clone();
                t[0] ^= 0x80;
                t
            },
            Err(CKR_AEAD_DECRYPT_FAILED),
        ),
    ] {
        let mut d = Msg::new(&iv, 0, CKG_NO_GENERATE, &tag);
        assert_eq!(begin(s, false, &mut d, aad), CKR_OK);
        assert_eq!(
            next(s, false, &mut d, &whole[..30], false).unwrap(),
            b"",
            "held back"
        );
        assert_eq!(next(s, false, &mut d, &whole[30..], true), expect);
    }
    assert_eq!(final_(s, false), CKR_OK);
}

#[test]
fn iv_generators() {
    let lab = Lab::new();
    let s = lab.user_session();
    let key = gcm_key(s, &[7; 16], true);
    let data = b"0123456789abcdef0123";
    assert_eq!(init(s, true, key), CKR_OK);

    // Counter: the leftmost 64 bits are kept, the rest counts messages from 0.
    let fixed = [
        0xF0, 0xE1, 0xD2, 0xC3, 0xB4, 0xA5, 0x96, 0x87, 0xFF, 0xFF, 0xFF, 0xFF,
    ];
    let mut seen = Vec::new();
    for i in 0..3u32 {
        let mut m = Msg::new(&fixed, 64, CKG_GENERATE_COUNTER, &[0; 16]);
        // A length query generates nothing.
        let (rv, _) = one_shot(s, true, &mut m, &[], data, None);
        assert_eq!(rv, CKR_OK);
        assert_eq!(m.iv, fixed);
        let ct = one_shot_full(s, true, &mut m, &[], data).unwrap();
        assert_eq!(m.iv[..8], fixed[..8]);
        assert_eq!(m.iv[8..], i.to_be_bytes());
        seen.push((m.iv.clone(), m.tag.clone(), ct));
    }
    // Multi-part: Begin returns the IV.
    let mut m = Msg::new(&fixed, 64, CKG_GENERATE_COUNTER, &[0; 16]);
    assert_eq!(begin(s, true, &mut m, &[]), CKR_OK);
    assert_eq!(m.iv[8..], 3u32.to_be_bytes());
    next(s, true, &mut m, data, true).unwrap();
    seen.push((m.iv.clone(), m.tag.clone(), Vec::new()));

    // Counter XOR: the counter (now 4) XORed into the non-fixed bits.
    let mut m = Msg::new(&fixed, 64, CKG_GENERATE_COUNTER_XOR, &[0; 16]);
    one_shot_full(s, true, &mut m, &[], data).unwrap();
    assert_eq!(m.iv[..8], fixed[..8]);
    assert_eq!(m.iv[8..], [0xFF, 0xFF, 0xFF, 0xFB]);

    // Random: a 32-bit fixed part kept, the rest differs between messages.
    let mut ivs = Vec::new();
    for _ in 0..2 {
        let mut m = Msg::new(&fixed, 32, CKG_GENERATE_RANDOM, &[0; 16]);
        one_shot_full(s, true, &mut m, &[], data).unwrap();
        assert_eq!(m.iv[..4], fixed[..4]);
        ivs.push(m.iv.clone());
    }
    assert_ne!(ivs[0], ivs[1]);

    // No bits to generate, or an unknown generator.
    let mut m = Msg::new(&fixed, 96, CKG_GENERATE_COUNTER, &[0; 16]);
    assert_eq!(
        one_shot(s, true, &mut m, &[], data, Some(32)).0,
        CKR_MECHANISM_PARAM_INVALID
    );
    let mut m = Msg::new(&fixed, 0, 99, &[0; 16]);
    assert_eq!(
        one_shot(s, true, &mut m, &[], data, Some(32)).0,
        CKR_MECHANISM_PARAM_INVALID
    );
    // A counter of 2 free bits runs out after 4 messages (this operation's counter is at 5).
    let mut m = Msg::new(&[0xAA], 6, CKG_GENERATE_COUNTER, &[0; 16]);
    assert_eq!(
        one_shot(s, true, &mut m, &[], data, Some(32)).0,
        CKR_DATA_LEN_RANGE
    );
    assert_eq!(final_(s, true), CKR_OK);

    // The returned IVs decrypt (decryption uses the IV as given, whatever the generator).
    assert_eq!(init(s, false, key), CKR_OK);
    for (iv, tag, ct) in seen.iter().take(3) {
        let mut d = Msg::new(iv, 64, CKG_GENERATE_COUNTER, tag);
        assert_eq!(one_shot_full(s, false, &mut d, &[], ct).unwrap(), data);
    }
    assert_eq!(final_(s, false), CKR_OK);
}

#[test]
fn key_and_mechanism_checks() {
    let lab = Lab::new();
    let s = lab.user_session();
    let no_encrypt = gcm_key(s, &[1; 16], false);
    assert_eq!(init(s, true, no_encrypt), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_eq!(init(s, false, no_encrypt), CKR_OK);
    assert_eq!(final_(s, false), CKR_OK);
    let key = gcm_key(s, &[1; 16], true);
    let mut cbc = mech(CKM_AES_CBC);
    assert_eq!(
        // SAFETY: a valid mechanism without parameter.
        unsafe { C_MessageEncryptInit(s, &mut cbc, key) },
        CKR_MECHANISM_INVALID
    );
    // A CK_GCM_MESSAGE_PARAMS on the init mechanism is accepted (and ignored).
    let mut p = Msg::new(&[0; 12], 0, CKG_NO_GENERATE, &[0; 16]);
    let mut m = mech_with(CKM_AES_GCM, &mut p.raw);
    // SAFETY: the mechanism's parameter is alive.
    assert_eq!(unsafe { C_MessageEncryptInit(s, &mut m, key) }, CKR_OK);
    assert_eq!(final_(s, true), CKR_OK);
    assert_eq!(init(s, true, CK_INVALID_HANDLE), CKR_KEY_HANDLE_INVALID);
    let mut info = CK_MECHANISM_INFO::default();
    assert_eq!(
        // SAFETY: a valid out-pointer.
        unsafe { C_GetMechanismInfo(0, CKM_AES_GCM, &mut info) },
        CKR_OK
    );
    assert_ne!(info.flags & CKF_MESSAGE_ENCRYPT, 0);
    assert_ne!(info.flags & CKF_MESSAGE_DECRYPT, 0);
    // Sign / verify messages stay unsupported.
    assert_eq!(C_MessageSignFinal(s), CKR_FUNCTION_NOT_SUPPORTED);
}
