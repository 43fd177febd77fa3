//! When a cryptographic operation ends, through the C ABI: every call of an operation in
//! progress ends it after any error but `CKR_BUFFER_TOO_SMALL` (arguments refused before the
//! engine is reached included); the single-part and multi-part forms of one operation exclude
//! each other (a length query counts as use); `C_*Init` with a null mechanism cancels
//! (PKCS#11 3.0); and the smaller state checks (`C_Login` with a null PIN,
//! `C_WaitForSlotEvent` before `C_Initialize`, the message functions without an init).
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use std::ptr::{null, null_mut};

/// The keys every case needs, in one user session.
struct Keys {
    s: CK_SESSION_HANDLE,
    aes: CK_OBJECT_HANDLE,
    hmac: CK_OBJECT_HANDLE,
    rsa_public: CK_OBJECT_HANDLE,
    rsa_private: CK_OBJECT_HANDLE,
}

impl Keys {
    fn new(lab: &Lab) -> Keys {
        let s = lab.user_session();
        let aes = aes_key(s, |t| t);
        let hmac = generate_key(
            s,
            CKM_GENERIC_SECRET_KEY_GEN,
            Template::new().ulong(CKA_VALUE_LEN, 32),
        )
        .unwrap();
        let (rsa_public, rsa_private) = rsa_pair(s, 1024);
        Keys {
            s,
            aes,
            hmac,
            rsa_public,
            rsa_private,
        }
    }
}

/// The operation kinds: each is started by an init call taking `Keys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Encrypt,
    Decrypt,
    Digest,
    Sign,
    SignRecover,
    Verify,
    VerifyRecover,
}

impl Kind {
    /// Starts the operation (ECB so that any whole block is valid input).
    fn init(self, k: &Keys) -> CK_RV {
        let s = k.s;
        match self {
            Kind::Encrypt => init(C_EncryptInit, s, &mut mech(CKM_AES_ECB), k.aes),
            Kind::Decrypt => init(C_DecryptInit, s, &mut mech(CKM_AES_ECB), k.aes),
            // SAFETY: a valid mechanism.
            Kind::Digest => unsafe { C_DigestInit(s, &mut mech(CKM_SHA256)) },
            Kind::Sign => init(C_SignInit, s, &mut mech(CKM_SHA256_HMAC), k.hmac),
            Kind::SignRecover => init(C_SignRecoverInit, s, &mut mech(CKM_RSA_PKCS), k.rsa_private),
            Kind::Verify => init(C_VerifyInit, s, &mut mech(CKM_SHA256_HMAC), k.hmac),
            Kind::VerifyRecover => init(
                C_VerifyRecoverInit,
                s,
                &mut mech(CKM_RSA_PKCS),
                k.rsa_public,
            ),
        }
    }

    /// The init call with a null mechanism (PKCS#11 3.0: cancels the operation).
    fn init_null(self, k: &Keys) -> CK_RV {
        let s = k.s;
        // SAFETY: a null mechanism is a valid argument (it asks for cancellation).
        unsafe {
            match self {
                Kind::Encrypt => C_EncryptInit(s, null_mut(), k.aes),
                Kind::Decrypt => C_DecryptInit(s, null_mut(), k.aes),
                Kind::Digest => C_DigestInit(s, null_mut()),
                Kind::Sign => C_SignInit(s, null_mut(), k.hmac),
                Kind::SignRecover => C_SignRecoverInit(s, null_mut(), k.rsa_private),
                Kind::Verify => C_VerifyInit(s, null_mut(), k.hmac),
                Kind::VerifyRecover => C_VerifyRecoverInit(s, null_mut(), k.rsa_public),
            }
        }
    }
}

const BLOCK: [u8; 16] = [0x42; 16];

/// An output-producing call with raw pointers (null allowed).
fn raw_produce(
    f: DataFn,
    s: CK_SESSION_HANDLE,
    input: *const u8,
    input_len: CK_ULONG,
    out: *mut u8,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: the callers pass null or buffers valid for the lengths they announce.
    unsafe { f(s, input as *mut u8, input_len, out, out_len) }
}

type FinalFn = unsafe extern "C" fn(CK_SESSION_HANDLE, *mut u8, *mut CK_ULONG) -> CK_RV;

/// A `*Final` call with raw pointers.
fn raw_final(f: FinalFn, s: CK_SESSION_HANDLE, out: *mut u8, out_len: *mut CK_ULONG) -> CK_RV {
    // SAFETY: the callers pass null or buffers valid for the lengths they announce.
    unsafe { f(s, out, out_len) }
}

/// Output buffer and length for the calls below.
struct Out {
    buf: [u8; 256],
    len: CK_ULONG,
}

impl Out {
    fn new() -> Out {
        Out {
            buf: [0; 256],
            len: 256,
        }
    }
}

/// One call refused with an argument error: it must end the operation.
struct BadCall {
    name: &'static str,
    kind: Kind,
    /// Calls made first (each must answer CKR_OK), e.g. an update to be in the multi-part form.
    before: fn(&Keys) -> CK_RV,
    call: fn(&Keys) -> CK_RV,
    expect: CK_RV,
}

fn nothing(_: &Keys) -> CK_RV {
    CKR_OK
}

fn bad_calls() -> Vec<BadCall> {
    use Kind::*;
    fn case(
        name: &'static str,
        kind: Kind,
        before: fn(&Keys) -> CK_RV,
        call: fn(&Keys) -> CK_RV,
    ) -> BadCall {
        BadCall {
            name,
            kind,
            before,
            call,
            expect: CKR_ARGUMENTS_BAD,
        }
    }
    fn update_block(k: &Keys) -> CK_RV {
        let mut o = Out::new();
        raw_produce(
            C_EncryptUpdate,
            k.s,
            BLOCK.as_ptr(),
            16,
            o.buf.as_mut_ptr(),
            &mut o.len,
        )
    }
    fn decrypt_update_block(k: &Keys) -> CK_RV {
        let mut o = Out::new();
        raw_produce(
            C_DecryptUpdate,
            k.s,
            BLOCK.as_ptr(),
            16,
            o.buf.as_mut_ptr(),
            &mut o.len,
        )
    }
    fn digest_update(k: &Keys) -> CK_RV {
        update(C_DigestUpdate, k.s, b"abc")
    }
    fn sign_update(k: &Keys) -> CK_RV {
        update(C_SignUpdate, k.s, b"abc")
    }
    fn verify_update(k: &Keys) -> CK_RV {
        update(C_VerifyUpdate, k.s, b"abc")
    }
    vec![
        // Null input with a non-zero length.
        case("C_Encrypt(null input)", Encrypt, nothing, |k| {
            let mut o = Out::new();
            raw_produce(C_Encrypt, k.s, null(), 16, o.buf.as_mut_ptr(), &mut o.len)
        }),
        case("C_Encrypt(null length)", Encrypt, nothing, |k| {
            raw_produce(C_Encrypt, k.s, BLOCK.as_ptr(), 16, null_mut(), null_mut())
        }),
        case("C_EncryptUpdate(null input)", Encrypt, nothing, |k| {
            let mut o = Out::new();
            raw_produce(
                C_EncryptUpdate,
                k.s,
                null(),
                16,
                o.buf.as_mut_ptr(),
                &mut o.len,
            )
        }),
        case("C_EncryptUpdate(null length)", Encrypt, update_block, |k| {
            let mut o = Out::new();
            raw_produce(
                C_EncryptUpdate,
                k.s,
                BLOCK.as_ptr(),
                16,
                o.buf.as_mut_ptr(),
                null_mut(),
            )
        }),
        case("C_EncryptFinal(null length)", Encrypt, update_block, |k| {
            raw_final(C_EncryptFinal, k.s, null_mut(), null_mut())
        }),
        case("C_Decrypt(null input)", Decrypt, nothing, |k| {
            let mut o = Out::new();
            raw_produce(C_Decrypt, k.s, null(), 16, o.buf.as_mut_ptr(), &mut o.len)
        }),
        case("C_Decrypt(null length)", Decrypt, nothing, |k| {
            raw_produce(C_Decrypt, k.s, BLOCK.as_ptr(), 16, null_mut(), null_mut())
        }),
        case(
            "C_DecryptUpdate(null input)",
            Decrypt,
            decrypt_update_block,
            |k| {
                let mut o = Out::new();
                raw_produce(
                    C_DecryptUpdate,
                    k.s,
                    null(),
                    16,
                    o.buf.as_mut_ptr(),
                    &mut o.len,
                )
            },
        ),
        case("C_DecryptUpdate(null length)", Decrypt, nothing, |k| {
            raw_produce(
                C_DecryptUpdate,
                k.s,
                BLOCK.as_ptr(),
                16,
                null_mut(),
                null_mut(),
            )
        }),
        case(
            "C_DecryptFinal(null length)",
            Decrypt,
            decrypt_update_block,
            |k| raw_final(C_DecryptFinal, k.s, null_mut(), null_mut()),
        ),
        case("C_Digest(null input)", Digest, nothing, |k| {
            let mut o = Out::new();
            raw_produce(C_Digest, k.s, null(), 3, o.buf.as_mut_ptr(), &mut o.len)
        }),
        case("C_Digest(null length)", Digest, nothing, |k| {
            raw_produce(C_Digest, k.s, b"abc".as_ptr(), 3, null_mut(), null_mut())
        }),
        case("C_DigestUpdate(null input)", Digest, digest_update, |k| {
            // SAFETY: a null part with a non-zero length is refused without being read.
            unsafe { C_DigestUpdate(k.s, null_mut(), 3) }
        }),
        BadCall {
            name: "C_DigestKey(bad handle)",
            kind: Digest,
            before: digest_update,
            // SAFETY: no pointers.
            call: |k| unsafe { C_DigestKey(k.s, 0xDEAD_BEEF) },
            expect: CKR_KEY_HANDLE_INVALID,
        },
        case("C_DigestFinal(null length)", Digest, digest_update, |k| {
            raw_final(C_DigestFinal, k.s, null_mut(), null_mut())
        }),
        case("C_Sign(null input)", Sign, nothing, |k| {
            let mut o = Out::new();
            raw_produce(C_Sign, k.s, null(), 3, o.buf.as_mut_ptr(), &mut o.len)
        }),
        case("C_Sign(null length)", Sign, nothing, |k| {
            raw_produce(C_Sign, k.s, b"abc".as_ptr(), 3, null_mut(), null_mut())
        }),
        case("C_SignUpdate(null input)", Sign, sign_update, |k| {
            // SAFETY: a null part with a non-zero length is refused without being read.
            unsafe { C_SignUpdate(k.s, null_mut(), 3) }
        }),
        case("C_SignFinal(null length)", Sign, sign_update, |k| {
            raw_final(C_SignFinal, k.s, null_mut(), null_mut())
        }),
        case("C_SignRecover(null input)", SignRecover, nothing, |k| {
            let mut o = Out::new();
            raw_produce(
                C_SignRecover,
                k.s,
                null(),
                3,
                o.buf.as_mut_ptr(),
                &mut o.len,
            )
        }),
        case("C_SignRecover(null length)", SignRecover, nothing, |k| {
            raw_produce(
                C_SignRecover,
                k.s,
                b"abc".as_ptr(),
                3,
                null_mut(),
                null_mut(),
            )
        }),
        case("C_Verify(null data)", Verify, nothing, |k| {
            // SAFETY: a null data pointer with a non-zero length is refused without being read.
            unsafe { C_Verify(k.s, null_mut(), 3, [0u8; 32].as_mut_ptr(), 32) }
        }),
        case("C_Verify(null signature)", Verify, nothing, |k| {
            // SAFETY: a null signature with a non-zero length is refused without being read.
            unsafe { C_Verify(k.s, b"abc".as_ptr() as *mut u8, 3, null_mut(), 32) }
        }),
        case("C_VerifyUpdate(null input)", Verify, verify_update, |k| {
            // SAFETY: a null part with a non-zero length is refused without being read.
            unsafe { C_VerifyUpdate(k.s, null_mut(), 3) }
        }),
        case(
            "C_VerifyFinal(null signature)",
            Verify,
            verify_update,
            |k| {
                // SAFETY: a null signature with a non-zero length is refused without being read.
                unsafe { C_VerifyFinal(k.s, null_mut(), 32) }
            },
        ),
        case(
            "C_VerifyRecover(null signature)",
            VerifyRecover,
            nothing,
            |k| {
                let mut o = Out::new();
                raw_produce(
                    C_VerifyRecover,
                    k.s,
                    null(),
                    128,
                    o.buf.as_mut_ptr(),
                    &mut o.len,
                )
            },
        ),
        case(
            "C_VerifyRecover(null length)",
            VerifyRecover,
            nothing,
            |k| {
                raw_produce(
                    C_VerifyRecover,
                    k.s,
                    [1u8; 128].as_ptr(),
                    128,
                    null_mut(),
                    null_mut(),
                )
            },
        ),
    ]
}

#[test]
fn an_argument_error_ends_every_kind_of_operation() {
    let lab = Lab::new();
    let k = Keys::new(&lab);
    let mut failures = Vec::new();
    for case in bad_calls() {
        assert_eq!(case.kind.init(&k), CKR_OK, "{}: init", case.name);
        assert_eq!((case.before)(&k), CKR_OK, "{}: the call before", case.name);
        let rv = (case.call)(&k);
        let again = case.kind.init(&k);
        if rv != case.expect || again != CKR_OK {
            failures.push(format!(
                "{}: answered 0x{rv:X} (expected 0x{:X}), then the init answered 0x{again:X}",
                case.name, case.expect
            ));
        }
        // Leave nothing behind for the next case, whatever happened.
        // SAFETY: no pointers.
        unsafe { C_SessionCancel(k.s, !0) };
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// One call that mixes the single-part and multi-part forms: refused with
/// `CKR_OPERATION_ACTIVE`, and the operation ends.
struct Mix {
    name: &'static str,
    kind: Kind,
    first: fn(&Keys) -> CK_RV,
    second: fn(&Keys) -> CK_RV,
}

fn length_query(f: DataFn, k: &Keys, input: &[u8]) -> CK_RV {
    let mut len = 0;
    raw_produce(
        f,
        k.s,
        input.as_ptr(),
        input.len() as CK_ULONG,
        null_mut(),
        &mut len,
    )
}

fn short_buffer(f: DataFn, k: &Keys, input: &[u8]) -> CK_RV {
    let mut buf = [0u8; 1];
    let mut len = 1;
    let rv = raw_produce(
        f,
        k.s,
        input.as_ptr(),
        input.len() as CK_ULONG,
        buf.as_mut_ptr(),
        &mut len,
    );
    if rv == CKR_BUFFER_TOO_SMALL {
        CKR_OK
    } else {
        rv
    }
}

fn full_call(f: DataFn, k: &Keys, input: &[u8]) -> CK_RV {
    let mut o = Out::new();
    raw_produce(
        f,
        k.s,
        input.as_ptr(),
        input.len() as CK_ULONG,
        o.buf.as_mut_ptr(),
        &mut o.len,
    )
}

fn final_call(f: FinalFn, k: &Keys) -> CK_RV {
    let mut o = Out::new();
    raw_final(f, k.s, o.buf.as_mut_ptr(), &mut o.len)
}

fn final_query(f: FinalFn, k: &Keys) -> CK_RV {
    let mut len = 0;
    raw_final(f, k.s, null_mut(), &mut len)
}

fn digest_key(k: &Keys) -> CK_RV {
    // SAFETY: no pointers.
    unsafe { C_DigestKey(k.s, k.hmac) }
}

fn mixes() -> Vec<Mix> {
    use Kind::*;
    fn mix(
        name: &'static str,
        kind: Kind,
        first: fn(&Keys) -> CK_RV,
        second: fn(&Keys) -> CK_RV,
    ) -> Mix {
        Mix {
            name,
            kind,
            first,
            second,
        }
    }
    vec![
        mix(
            "C_EncryptUpdate then C_Encrypt",
            Encrypt,
            |k| full_call(C_EncryptUpdate, k, &BLOCK),
            |k| full_call(C_Encrypt, k, &BLOCK),
        ),
        mix(
            "C_EncryptUpdate query then C_Encrypt",
            Encrypt,
            |k| length_query(C_EncryptUpdate, k, &BLOCK),
            |k| full_call(C_Encrypt, k, &BLOCK),
        ),
        mix(
            "C_EncryptFinal query then C_Encrypt",
            Encrypt,
            |k| final_query(C_EncryptFinal, k),
            |k| full_call(C_Encrypt, k, &BLOCK),
        ),
        mix(
            "C_Encrypt query then C_EncryptUpdate",
            Encrypt,
            |k| length_query(C_Encrypt, k, &BLOCK),
            |k| full_call(C_EncryptUpdate, k, &BLOCK),
        ),
        mix(
            "C_Encrypt query then C_EncryptFinal",
            Encrypt,
            |k| length_query(C_Encrypt, k, &BLOCK),
            |k| final_call(C_EncryptFinal, k),
        ),
        mix(
            "C_Encrypt short buffer then C_EncryptUpdate",
            Encrypt,
            |k| short_buffer(C_Encrypt, k, &BLOCK),
            |k| full_call(C_EncryptUpdate, k, &BLOCK),
        ),
        mix(
            "C_DecryptUpdate then C_Decrypt",
            Decrypt,
            |k| full_call(C_DecryptUpdate, k, &BLOCK),
            |k| full_call(C_Decrypt, k, &BLOCK),
        ),
        mix(
            "C_Decrypt query then C_DecryptUpdate",
            Decrypt,
            |k| length_query(C_Decrypt, k, &BLOCK),
            |k| full_call(C_DecryptUpdate, k, &BLOCK),
        ),
        mix(
            "C_Decrypt query then C_DecryptFinal",
            Decrypt,
            |k| length_query(C_Decrypt, k, &BLOCK),
            |k| final_call(C_DecryptFinal, k),
        ),
        mix(
            "C_DigestUpdate then C_Digest",
            Digest,
            |k| update(C_DigestUpdate, k.s, b"abc"),
            |k| full_call(C_Digest, k, b"abc"),
        ),
        mix("C_DigestKey then C_Digest", Digest, digest_key, |k| {
            full_call(C_Digest, k, b"abc")
        }),
        mix(
            "C_Digest query then C_DigestUpdate",
            Digest,
            |k| length_query(C_Digest, k, b"abc"),
            |k| update(C_DigestUpdate, k.s, b"abc"),
        ),
        mix(
            "C_Digest query then C_DigestKey",
            Digest,
            |k| length_query(C_Digest, k, b"abc"),
            digest_key,
        ),
        mix(
            "C_Digest query then C_DigestFinal",
            Digest,
            |k| length_query(C_Digest, k, b"abc"),
            |k| final_call(C_DigestFinal, k),
        ),
        mix(
            "C_SignUpdate then C_Sign",
            Sign,
            |k| update(C_SignUpdate, k.s, b"abc"),
            |k| full_call(C_Sign, k, b"abc"),
        ),
        mix(
            "C_Sign query then C_SignUpdate",
            Sign,
            |k| length_query(C_Sign, k, b"abc"),
            |k| update(C_SignUpdate, k.s, b"abc"),
        ),
        mix(
            "C_Sign query then C_SignFinal",
            Sign,
            |k| length_query(C_Sign, k, b"abc"),
            |k| final_call(C_SignFinal, k),
        ),
        mix(
            "C_VerifyUpdate then C_Verify",
            Verify,
            |k| update(C_VerifyUpdate, k.s, b"abc"),
            |k| verify(k.s, b"abc", &[0u8; 32]),
        ),
    ]
}

#[test]
fn mixing_single_part_and_multi_part_is_refused_and_ends_the_operation() {
    let lab = Lab::new();
    let k = Keys::new(&lab);
    let mut failures = Vec::new();
    for case in mixes() {
        assert_eq!(case.kind.init(&k), CKR_OK, "{}: init", case.name);
        assert_eq!((case.first)(&k), CKR_OK, "{}: first call", case.name);
        let rv = (case.second)(&k);
        let again = case.kind.init(&k);
        if rv != CKR_OPERATION_ACTIVE || again != CKR_OK {
            failures.push(format!(
                "{}: answered 0x{rv:X} (expected CKR_OPERATION_ACTIVE), then the init answered 0x{again:X}",
                case.name
            ));
        }
        // SAFETY: no pointers.
        unsafe { C_SessionCancel(k.s, !0) };
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_length_query_then_the_same_call_completes_the_operation() {
    let lab = Lab::new();
    let k = Keys::new(&lab);
    // Single-part: query, short buffer, then the call.
    assert_eq!(Kind::Encrypt.init(&k), CKR_OK);
    assert_eq!(length_query(C_Encrypt, &k, &BLOCK), CKR_OK);
    assert_eq!(short_buffer(C_Encrypt, &k, &BLOCK), CKR_OK);
    let one_shot = produce(C_Encrypt, k.s, &BLOCK).unwrap();
    // Multi-part: a query of every step, then the steps.
    assert_eq!(Kind::Encrypt.init(&k), CKR_OK);
    assert_eq!(length_query(C_EncryptUpdate, &k, &BLOCK), CKR_OK);
    let part = produce(C_EncryptUpdate, k.s, &BLOCK).unwrap();
    assert_eq!(final_query(C_EncryptFinal, &k), CKR_OK);
    assert_eq!(finish(C_EncryptFinal, k.s).unwrap(), b"");
    assert_eq!(part, one_shot);
    // A length query of an update consumes nothing: the data of the next update counts.
    assert_eq!(Kind::Encrypt.init(&k), CKR_OK);
    assert_eq!(length_query(C_EncryptUpdate, &k, &[9u8; 48]), CKR_OK);
    assert_eq!(produce(C_EncryptUpdate, k.s, &BLOCK).unwrap(), one_shot);
    assert_eq!(finish(C_EncryptFinal, k.s).unwrap(), b"");
}

#[test]
fn an_init_with_a_null_mechanism_cancels_the_operation() {
    let lab = Lab::new();
    let k = Keys::new(&lab);
    for kind in [
        Kind::Encrypt,
        Kind::Decrypt,
        Kind::Digest,
        Kind::Sign,
        Kind::SignRecover,
        Kind::Verify,
        Kind::VerifyRecover,
    ] {
        // Nothing in progress: nothing to cancel, and that is no error.
        assert_eq!(kind.init_null(&k), CKR_OK, "{kind:?} idle");
        assert_eq!(kind.init(&k), CKR_OK, "{kind:?}");
        assert_eq!(kind.init(&k), CKR_OPERATION_ACTIVE, "{kind:?}");
        assert_eq!(kind.init_null(&k), CKR_OK, "{kind:?} cancel");
        assert_eq!(kind.init(&k), CKR_OK, "{kind:?} after the cancel");
        assert_eq!(kind.init_null(&k), CKR_OK, "{kind:?} cancel");
    }
    // A multi-part digest in progress, cancelled: its final answers "not initialised".
    // SAFETY: a valid mechanism.
    assert_eq!(unsafe { C_DigestInit(k.s, &mut mech(CKM_SHA256)) }, CKR_OK);
    assert_eq!(update(C_DigestUpdate, k.s, b"abc"), CKR_OK);
    // SAFETY: a null mechanism asks for cancellation.
    assert_eq!(unsafe { C_DigestInit(k.s, null_mut()) }, CKR_OK);
    assert_eq!(
        finish(C_DigestFinal, k.s),
        Err(CKR_OPERATION_NOT_INITIALIZED)
    );
    // The session must still be valid.
    // SAFETY: a null mechanism with a bad session handle.
    let rv = unsafe { C_DigestInit(0xBAD, null_mut()) };
    assert_eq!(rv, CKR_SESSION_HANDLE_INVALID);
}

#[test]
fn login_with_a_null_pin_and_a_length_is_an_argument_error() {
    let lab = Lab::new();
    let s = open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    // SAFETY: a null PIN with a non-zero length is refused without being read.
    let rv = unsafe { C_Login(s, CKU_USER, null_mut(), 8) };
    assert_eq!(rv, CKR_ARGUMENTS_BAD);
    // SAFETY: as above.
    let rv = unsafe { C_Login(s, CKU_SO, null_mut(), 8) };
    assert_eq!(rv, CKR_ARGUMENTS_BAD);
    // Nothing was counted against the PIN: the right PIN still works.
    assert_eq!(login(s, CKU_USER, USER_PIN), CKR_OK);
    drop(lab);
}

#[test]
fn wait_for_slot_event_before_initialize_is_not_initialized() {
    let lab = Lab::new();
    // SAFETY: null is the valid argument.
    assert_eq!(unsafe { C_Finalize(null_mut()) }, CKR_OK);
    let mut slot = 0;
    // SAFETY: every pointer is null or valid; the module is not initialised.
    unsafe {
        assert_eq!(
            C_WaitForSlotEvent(CKF_DONT_BLOCK, &mut slot, null_mut()),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_eq!(
            C_WaitForSlotEvent(CKF_DONT_BLOCK, null_mut(), null_mut()),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_eq!(
            C_WaitForSlotEvent(0, &mut slot, std::ptr::dangling_mut()),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
    }
    drop(lab);
}

/// A `CK_GCM_MESSAGE_PARAMS` with its buffers.
struct MsgParams {
    iv: [u8; 12],
    tag: [u8; 16],
    raw: CK_GCM_MESSAGE_PARAMS,
}

impl MsgParams {
    fn new() -> Box<MsgParams> {
        let mut p = Box::new(MsgParams {
            iv: [3; 12],
            tag: [0; 16],
            raw: CK_GCM_MESSAGE_PARAMS {
                pIv: null_mut(),
                ulIvLen: 12,
                ulIvFixedBits: 0,
                ivGenerator: CKG_NO_GENERATE,
                pTag: null_mut(),
                ulTagBits: 128,
            },
        });
        p.raw.pIv = p.iv.as_mut_ptr();
        p.raw.pTag = p.tag.as_mut_ptr();
        p
    }
}

#[test]
fn message_functions_without_an_init_are_not_initialized() {
    let lab = Lab::new();
    let s = lab.user_session();
    let mut p = MsgParams::new();
    let size = size_of::<CK_GCM_MESSAGE_PARAMS>() as CK_ULONG;
    let mut data = [5u8; 16];
    let mut out = [0u8; 16];
    let mut len: CK_ULONG = 16;
    // Each call with a good parameter and with none: the missing init is what counts.
    for (param, param_len) in [
        (
            &mut p.raw as *mut CK_GCM_MESSAGE_PARAMS as *mut std::ffi::c_void,
            size,
        ),
        (null_mut(), 0),
    ] {
        let d = data.as_mut_ptr();
        let o = out.as_mut_ptr();
        // SAFETY: every pointer is null or valid for the length given with it.
        let answers = unsafe {
            [
                (
                    "C_EncryptMessage",
                    C_EncryptMessage(s, param, param_len, null_mut(), 0, d, 16, o, &mut len),
                ),
                (
                    "C_EncryptMessageBegin",
                    C_EncryptMessageBegin(s, param, param_len, null_mut(), 0),
                ),
                (
                    "C_EncryptMessageNext",
                    C_EncryptMessageNext(
                        s,
                        param,
                        param_len,
                        d,
                        16,
                        o,
                        &mut len,
                        CKF_END_OF_MESSAGE,
                    ),
                ),
                ("C_MessageEncryptFinal", C_MessageEncryptFinal(s)),
                (
                    "C_DecryptMessage",
                    C_DecryptMessage(s, param, param_len, null_mut(), 0, d, 16, o, &mut len),
                ),
                (
                    "C_DecryptMessageBegin",
                    C_DecryptMessageBegin(s, param, param_len, null_mut(), 0),
                ),
                (
                    "C_DecryptMessageNext",
                    C_DecryptMessageNext(
                        s,
                        param,
                        param_len,
                        d,
                        16,
                        o,
                        &mut len,
                        CKF_END_OF_MESSAGE,
                    ),
                ),
                ("C_MessageDecryptFinal", C_MessageDecryptFinal(s)),
            ]
        };
        for (name, rv) in answers {
            assert_eq!(
                rv, CKR_OPERATION_NOT_INITIALIZED,
                "{name} with param_len {param_len}: 0x{rv:X}"
            );
        }
    }
    // An initialised operation without a begun message: Next is not initialised either.
    let key = aes_key(s, |t| t);
    // SAFETY: a valid mechanism without parameter.
    let rv = unsafe { C_MessageEncryptInit(s, &mut mech(CKM_AES_GCM), key) };
    assert_eq!(rv, CKR_OK);
    // SAFETY: every pointer is null or valid for the length given with it.
    let rv = unsafe {
        C_EncryptMessageNext(
            s,
            null_mut(),
            0,
            data.as_mut_ptr(),
            16,
            out.as_mut_ptr(),
            &mut len,
            0,
        )
    };
    assert_eq!(rv, CKR_OPERATION_NOT_INITIALIZED);
}
