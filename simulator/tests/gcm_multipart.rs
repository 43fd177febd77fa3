//! AES-GCM through the C ABI, whatever the order of calls: single-part and multi-part
//! decryption (and the 3.0 message API) end either with exactly the authenticated plaintext or
//! with the authentication failure code, and no plaintext byte reaches any caller buffer before
//! the tag verifies; length queries (with any input) and short buffers change nothing; a
//! multi-part or message encryption equals the single-part one (and, for 96-bit IVs and full
//! tags, aws-lc's own AEAD).
mod common;

use common::*;
use cryptoki_sys::*;
use hsmsim::pkcs11::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::ffi::c_void;
use std::ptr::null_mut;

type FinalFn = unsafe extern "C" fn(CK_SESSION_HANDLE, *mut u8, *mut CK_ULONG) -> CK_RV;

const TAG_BITS: [CK_ULONG; 7] = [32, 64, 96, 104, 112, 120, 128];

/// A `CK_GCM_PARAMS` with the buffers it points to (boxed, so the pointers stay valid).
struct GcmParams {
    iv: Vec<u8>,
    aad: Vec<u8>,
    raw: CK_GCM_PARAMS,
}

impl GcmParams {
    fn new(iv: &[u8], aad: &[u8], tag_bits: CK_ULONG) -> Box<GcmParams> {
        let mut p = Box::new(GcmParams {
            iv: iv.to_vec(),
            aad: aad.to_vec(),
            raw: CK_GCM_PARAMS {
                pIv: null_mut(),
                ulIvLen: iv.len() as CK_ULONG,
                ulIvBits: (iv.len() * 8) as CK_ULONG,
                pAAD: null_mut(),
                ulAADLen: aad.len() as CK_ULONG,
                ulTagBits: tag_bits,
            },
        });
        p.raw.pIv = p.iv.as_mut_ptr();
        p.raw.pAAD = if p.aad.is_empty() {
            null_mut()
        } else {
            p.aad.as_mut_ptr()
        };
        p
    }

    fn mechanism(&mut self) -> CK_MECHANISM {
        mech_with(CKM_AES_GCM, &mut self.raw)
    }
}

/// The byte a caller buffer holds at `i` before a call: any byte the module writes shows.
fn pattern(i: usize) -> u8 {
    (i as u8).wrapping_mul(73).wrapping_add(0xA5)
}

/// A caller's output buffer, pattern-filled.
struct Buffer(Vec<u8>);

impl Buffer {
    fn new(len: usize) -> Buffer {
        Buffer((0..len).map(pattern).collect())
    }
    /// Whether bytes `from..` still hold the pattern.
    fn untouched_from(&self, from: usize) -> bool {
        self.0
            .iter()
            .enumerate()
            .skip(from)
            .all(|(i, b)| *b == pattern(i))
    }
}

/// A data call (`C_Encrypt`, `C_DecryptUpdate`, ...) or a final call.
#[derive(Clone, Copy)]
enum Callee {
    Data(DataFn),
    Final(FinalFn),
}

/// One call: `capacity` `None` is a length query (null buffer), else a pattern-filled buffer
/// of that size. Returns the code, the length written to `*pulLen` and the buffer.
fn call(
    s: CK_SESSION_HANDLE,
    f: Callee,
    input: &[u8],
    capacity: Option<usize>,
) -> (CK_RV, usize, Buffer) {
    let mut buf = Buffer::new(capacity.unwrap_or(0));
    let out = match capacity {
        Some(_) => buf.0.as_mut_ptr(),
        None => null_mut(),
    };
    // A value the module must overwrite.
    let mut len: CK_ULONG = capacity.map_or(0xDEAD, |c| c as CK_ULONG);
    // SAFETY: the input is valid for its length; the output buffer is null or `capacity`
    // bytes, as announced in `len`.
    let rv = unsafe {
        match f {
            Callee::Data(f) => f(
                s,
                input.as_ptr() as *mut u8,
                input.len() as CK_ULONG,
                out,
                &mut len,
            ),
            Callee::Final(f) => f(s, out, &mut len),
        }
    };
    (rv, len as usize, buf)
}

/// What a caller does before the call that has room for the output.
#[derive(Debug, Clone)]
enum Probe {
    /// A length query with the call's own input, or with other input (`Some`), which must
    /// change nothing either.
    Query(Option<Vec<u8>>),
    /// A length query, then a buffer this many bytes (mod the size) too short.
    Short(usize),
}

fn probe_strategy() -> impl Strategy<Value = Probe> {
    prop_oneof![
        Just(Probe::Query(None)),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|v| Probe::Query(Some(v))),
        any::<usize>().prop_map(Probe::Short),
    ]
}

fn probes() -> impl Strategy<Value = Vec<Probe>> {
    prop::collection::vec(probe_strategy(), 0..3)
}

/// Runs the probes of one call: each query answers `CKR_OK` and `expected` for the call's
/// own input, each short buffer `CKR_BUFFER_TOO_SMALL` with `expected`; no buffer is written.
fn run_probes(
    s: CK_SESSION_HANDLE,
    f: Callee,
    input: &[u8],
    expected: usize,
    probes: &[Probe],
) -> Result<(), TestCaseError> {
    for p in probes {
        match p {
            Probe::Query(other) => {
                let (rv, len, _) = call(s, f, other.as_deref().unwrap_or(input), None);
                prop_assert_eq!(rv, CKR_OK, "length query");
                if other.is_none() {
                    prop_assert_eq!(len, expected, "length query answer");
                }
            }
            Probe::Short(k) => {
                if expected == 0 {
                    continue;
                }
                let (rv, len, buf) = call(s, f, input, Some(k % expected));
                prop_assert_eq!(rv, CKR_BUFFER_TOO_SMALL, "short buffer");
                prop_assert_eq!(len, expected, "short buffer answer");
                prop_assert!(buf.untouched_from(0), "a short buffer was written");
            }
        }
    }
    Ok(())
}

/// How a ciphertext is damaged before it is decrypted.
#[derive(Debug, Clone)]
enum Tamper {
    None,
    /// Flip one bit of ciphertext-and-tag (position taken mod its length).
    FlipBit(usize, u8),
    /// Drop this many bytes (mod length + 1, at least 1) from the end.
    Truncate(usize),
    /// Append a byte.
    Append(u8),
    /// Decrypt with other AAD (one byte more or one bit flipped).
    Aad(usize),
    /// Decrypt with an IV with one bit flipped.
    Iv(usize),
    /// Decrypt with another tag length (C_Decrypt API only: the tag is the input's tail).
    TagLen(usize),
}

fn tamper_strategy() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        3 => Just(Tamper::None),
        2 => (any::<usize>(), 0u8..8).prop_map(|(p, b)| Tamper::FlipBit(p, b)),
        1 => any::<usize>().prop_map(Tamper::Truncate),
        1 => any::<u8>().prop_map(Tamper::Append),
        1 => any::<usize>().prop_map(Tamper::Aad),
        1 => any::<usize>().prop_map(Tamper::Iv),
        1 => any::<usize>().prop_map(Tamper::TagLen),
    ]
}

/// One message and its parameters.
#[derive(Debug, Clone)]
struct Message {
    key: Vec<u8>,
    iv: Vec<u8>,
    aad: Vec<u8>,
    tag_bits: CK_ULONG,
    plain: Vec<u8>,
}

fn message_strategy() -> impl Strategy<Value = Message> {
    let sizes = (
        prop::sample::select(vec![16usize, 24, 32]),
        prop_oneof![
            4 => Just(12usize),
            1 => 1usize..=64,
        ],
    );
    sizes
        .prop_flat_map(|(key_len, iv_len)| {
            (
                prop::collection::vec(any::<u8>(), key_len),
                prop::collection::vec(any::<u8>(), iv_len),
                prop::collection::vec(any::<u8>(), 0..24),
                prop::sample::select(TAG_BITS.to_vec()),
                prop::collection::vec(any::<u8>(), 0..70),
            )
        })
        .prop_map(|(key, iv, aad, tag_bits, plain)| Message {
            key,
            iv,
            aad,
            tag_bits,
            plain,
        })
}

/// Cut points into `len` bytes, as sorted positions (parts may be empty).
fn parts(len: usize, cuts: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (len + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for p in points.into_iter().chain([len]) {
        out.push(start..p);
        start = p;
    }
    out
}

/// A single-part or multi-part call sequence.
#[derive(Debug, Clone)]
enum Sequence {
    OneShot {
        probes: Vec<Probe>,
        room: usize,
    },
    MultiPart {
        cuts: Vec<usize>,
        /// Probes and extra room of each update (cycled over the parts).
        updates: Vec<(Vec<Probe>, usize)>,
        final_probes: Vec<Probe>,
        room: usize,
    },
}

fn sequence_strategy() -> impl Strategy<Value = Sequence> {
    prop_oneof![
        (probes(), 0usize..4).prop_map(|(probes, room)| Sequence::OneShot { probes, room }),
        (
            prop::collection::vec(any::<usize>(), 0..5),
            prop::collection::vec((probes(), 0usize..4), 1..4),
            probes(),
            0usize..4,
        )
            .prop_map(|(cuts, updates, final_probes, room)| Sequence::MultiPart {
                cuts,
                updates,
                final_probes,
                room,
            }),
    ]
}

/// How an encryption or decryption sequence ended.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// Every call succeeded: the output of all of them, in order.
    Output(Vec<u8>),
    /// The call that had room for the output failed with this code.
    Failed(CK_RV),
}

/// Runs one call sequence of an operation already initialised. `update_len` and `final_len`
/// give the exact sizes every length query must answer (`final_len` from the total input);
/// `update_writes` says whether updates may output anything (never for a decryption).
/// Only the call with room may fail; a failure or a success ends the operation.
#[allow(clippy::too_many_arguments)]
fn run_sequence(
    s: CK_SESSION_HANDLE,
    one_shot: DataFn,
    update: DataFn,
    fin: FinalFn,
    input: &[u8],
    seq: &Sequence,
    update_len: impl Fn(usize) -> usize,
    final_len: impl Fn(usize) -> usize,
) -> Result<Ending, TestCaseError> {
    let mut output = Vec::new();
    match seq {
        Sequence::OneShot { probes, room } => {
            let f = Callee::Data(one_shot);
            let expected = final_len(input.len());
            run_probes(s, f, input, expected, probes)?;
            let (rv, len, buf) = call(s, f, input, Some(expected + room));
            if rv != CKR_OK {
                prop_assert!(buf.untouched_from(0), "a failed call wrote its buffer");
                return Ok(Ending::Failed(rv));
            }
            prop_assert!(buf.untouched_from(len), "written past the reported length");
            output.extend_from_slice(&buf.0[..len]);
        }
        Sequence::MultiPart {
            cuts,
            updates,
            final_probes,
            room,
        } => {
            let f = Callee::Data(update);
            for (i, range) in parts(input.len(), cuts).into_iter().enumerate() {
                let (probes, extra) = &updates[i % updates.len()];
                let part = &input[range];
                let expected = update_len(part.len());
                run_probes(s, f, part, expected, probes)?;
                let (rv, len, buf) = call(s, f, part, Some(expected + extra));
                prop_assert_eq!(rv, CKR_OK, "an update failed");
                prop_assert_eq!(len, expected, "update output length");
                prop_assert!(buf.untouched_from(len), "written past the reported length");
                output.extend_from_slice(&buf.0[..len]);
            }
            let f = Callee::Final(fin);
            let expected = final_len(input.len());
            run_probes(s, f, &[], expected, final_probes)?;
            let (rv, len, buf) = call(s, f, &[], Some(expected + room));
            if rv != CKR_OK {
                prop_assert!(buf.untouched_from(0), "a failed call wrote its buffer");
                return Ok(Ending::Failed(rv));
            }
            prop_assert_eq!(len, expected, "final output length");
            prop_assert!(buf.untouched_from(len), "written past the reported length");
            output.extend_from_slice(&buf.0[..len]);
        }
    }
    Ok(Ending::Output(output))
}

/// Whether the operation of `fin` has ended (its final call is not initialised).
fn ended(s: CK_SESSION_HANDLE, fin: FinalFn) -> bool {
    call(s, Callee::Final(fin), &[], None).0 == CKR_OPERATION_NOT_INITIALIZED
}

fn secret_key(s: CK_SESSION_HANDLE, value: &[u8]) -> CK_OBJECT_HANDLE {
    create(
        s,
        Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
            .bytes(CKA_VALUE, value)
            .bool(CKA_ENCRYPT, true)
            .bool(CKA_DECRYPT, true),
    )
    .unwrap()
}

fn destroy(s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE) {
    // SAFETY: no pointers.
    unsafe { C_DestroyObject(s, h) };
}

/// Leaves nothing in progress on the session (a failed case may have).
fn cancel_all(s: CK_SESSION_HANDLE) {
    // SAFETY: no pointers.
    unsafe { C_SessionCancel(s, !0) };
}

/// The reference: single-part encryption with a right-sized buffer.
fn encrypt_one_shot(
    s: CK_SESSION_HANDLE,
    key: CK_OBJECT_HANDLE,
    m: &Message,
) -> Result<Vec<u8>, TestCaseError> {
    let mut p = GcmParams::new(&m.iv, &m.aad, m.tag_bits);
    prop_assert_eq!(init(C_EncryptInit, s, &mut p.mechanism(), key), CKR_OK);
    let ct = produce(C_Encrypt, s, &m.plain);
    prop_assert!(ct.is_ok(), "C_Encrypt: {:?}", ct);
    Ok(ct.unwrap_or_default())
}

/// aws-lc's own AES-GCM, for 96-bit IVs and full tags.
fn aws_lc_seal(m: &Message) -> Option<Vec<u8>> {
    use aws_lc_rs::aead::{
        AES_128_GCM, AES_192_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey,
    };
    if m.iv.len() != 12 || m.tag_bits != 128 {
        return None;
    }
    let alg = match m.key.len() {
        16 => &AES_128_GCM,
        24 => &AES_192_GCM,
        _ => &AES_256_GCM,
    };
    let key = LessSafeKey::new(UnboundKey::new(alg, &m.key).ok()?);
    let nonce = Nonce::try_assume_unique_for_key(&m.iv).ok()?;
    let mut data = m.plain.clone();
    key.seal_in_place_append_tag(nonce, Aad::from(&m.aad), &mut data)
        .ok()?;
    Some(data)
}

#[test]
fn encryption_in_any_call_order_equals_single_part() {
    let lab = Lab::new();
    let s = lab.user_session();
    let mut runner = TestRunner::new(Config {
        cases: 256,
        ..Config::default()
    });
    runner
        .run(&(message_strategy(), sequence_strategy()), |(m, seq)| {
            cancel_all(s);
            let key = secret_key(s, &m.key);
            let expected = encrypt_one_shot(s, key, &m)?;
            let tag_len = (m.tag_bits / 8) as usize;
            prop_assert_eq!(expected.len(), m.plain.len() + tag_len);
            if let Some(reference) = aws_lc_seal(&m) {
                prop_assert_eq!(&expected, &reference, "differs from aws-lc's AES-GCM");
            }
            let mut p = GcmParams::new(&m.iv, &m.aad, m.tag_bits);
            prop_assert_eq!(init(C_EncryptInit, s, &mut p.mechanism(), key), CKR_OK);
            let ending = run_sequence(
                s,
                C_Encrypt,
                C_EncryptUpdate,
                C_EncryptFinal,
                &m.plain,
                &seq,
                |n| n,
                |n| match seq {
                    Sequence::OneShot { .. } => n + tag_len,
                    Sequence::MultiPart { .. } => tag_len,
                },
            )?;
            prop_assert_eq!(ending, Ending::Output(expected));
            prop_assert!(ended(s, C_EncryptFinal));
            destroy(s, key);
            Ok(())
        })
        .unwrap();
}

/// The ciphertext-and-tag and parameters a tampering gives.
fn tampered(m: &Message, ct: &[u8], t: &Tamper) -> (Vec<u8>, Vec<u8>, Vec<u8>, CK_ULONG) {
    let (mut input, mut aad, mut iv, mut tag_bits) =
        (ct.to_vec(), m.aad.clone(), m.iv.clone(), m.tag_bits);
    match t {
        Tamper::None => {}
        Tamper::FlipBit(p, b) => {
            let i = p % input.len();
            input[i] ^= 1 << b;
        }
        Tamper::Truncate(n) => {
            let n = 1 + n % input.len();
            input.truncate(input.len() - n);
        }
        Tamper::Append(b) => input.push(*b),
        Tamper::Aad(p) => {
            if aad.is_empty() || p % 2 == 0 {
                aad.push(*p as u8);
            } else {
                let i = p % aad.len();
                aad[i] ^= 1;
            }
        }
        Tamper::Iv(p) => {
            let i = p % iv.len();
            iv[i] ^= 1 << (p % 8);
        }
        Tamper::TagLen(p) => {
            let others: Vec<_> = TAG_BITS.iter().filter(|b| **b != tag_bits).collect();
            tag_bits = *others[p % others.len()];
        }
    }
    (input, aad, iv, tag_bits)
}

#[test]
fn decryption_in_any_call_order_is_authenticated_or_refused() {
    let lab = Lab::new();
    let s = lab.user_session();
    let mut runner = TestRunner::new(Config {
        cases: 1024,
        ..Config::default()
    });
    runner
        .run(
            &(message_strategy(), sequence_strategy(), tamper_strategy()),
            |(m, seq, t)| {
                cancel_all(s);
                let key = secret_key(s, &m.key);
                let ct = encrypt_one_shot(s, key, &m)?;
                let (input, aad, iv, tag_bits) = tampered(&m, &ct, &t);
                let tag_len = (tag_bits / 8) as usize;
                let mut p = GcmParams::new(&iv, &aad, tag_bits);
                prop_assert_eq!(init(C_DecryptInit, s, &mut p.mechanism(), key), CKR_OK);
                let ending = run_sequence(
                    s,
                    C_Decrypt,
                    C_DecryptUpdate,
                    C_DecryptFinal,
                    &input,
                    &seq,
                    // An update outputs nothing: all plaintext comes after the tag check.
                    |_| 0,
                    |n| n.saturating_sub(tag_len),
                )?;
                match t {
                    Tamper::None => prop_assert_eq!(ending, Ending::Output(m.plain.clone())),
                    _ => prop_assert_eq!(ending, Ending::Failed(CKR_ENCRYPTED_DATA_INVALID)),
                }
                prop_assert!(ended(s, C_DecryptFinal), "the operation is still active");
                destroy(s, key);
                Ok(())
            },
        )
        .unwrap();
}

/// The defect as reported: a length query of `C_DecryptUpdate`, then `C_DecryptFinal`, on 32
/// junk bytes, must not answer `CKR_OK`.
#[test]
fn final_after_an_update_length_query_checks_the_tag() {
    let lab = Lab::new();
    let s = lab.user_session();
    let key = secret_key(s, &[7; 16]);
    let junk = [0x5Au8; 32];
    let mut p = GcmParams::new(&[1; 12], &[], 128);
    assert_eq!(init(C_DecryptInit, s, &mut p.mechanism(), key), CKR_OK);
    let (rv, len, _) = call(s, Callee::Data(C_DecryptUpdate), &junk, None);
    assert_eq!((rv, len), (CKR_OK, 0));
    // The query consumed nothing: the final sees no input at all, which holds no tag.
    let (rv, _, buf) = call(s, Callee::Final(C_DecryptFinal), &[], Some(64));
    assert_eq!(rv, CKR_ENCRYPTED_DATA_INVALID);
    assert!(buf.untouched_from(0));
    // The same junk given for real.
    assert_eq!(init(C_DecryptInit, s, &mut p.mechanism(), key), CKR_OK);
    let (rv, len, _) = call(s, Callee::Data(C_DecryptUpdate), &junk, Some(64));
    assert_eq!((rv, len), (CKR_OK, 0));
    let (rv, _, buf) = call(s, Callee::Final(C_DecryptFinal), &[], Some(64));
    assert_eq!(rv, CKR_ENCRYPTED_DATA_INVALID);
    assert!(buf.untouched_from(0));
    // A single-part length query, then the multi-part form: refused, and the operation ends.
    assert_eq!(init(C_DecryptInit, s, &mut p.mechanism(), key), CKR_OK);
    assert_eq!(call(s, Callee::Data(C_Decrypt), &junk, None).0, CKR_OK);
    let (rv, _, buf) = call(s, Callee::Data(C_DecryptUpdate), &junk, Some(64));
    assert_eq!(rv, CKR_OPERATION_ACTIVE);
    assert!(buf.untouched_from(0));
    assert!(ended(s, C_DecryptFinal));
}

#[test]
fn empty_plaintext_with_a_valid_tag_decrypts_to_nothing() {
    let lab = Lab::new();
    let s = lab.user_session();
    let key = secret_key(s, &[9; 32]);
    let mut p = GcmParams::new(&[2; 12], b"header", 128);
    assert_eq!(init(C_EncryptInit, s, &mut p.mechanism(), key), CKR_OK);
    let tag = produce(C_Encrypt, s, &[]).unwrap();
    assert_eq!(tag.len(), 16);
    // Multi-part: the tag arrives in two updates; the final answers 0 bytes, and OK.
    assert_eq!(init(C_DecryptInit, s, &mut p.mechanism(), key), CKR_OK);
    for half in tag.chunks(8) {
        let (rv, len, buf) = call(s, Callee::Data(C_DecryptUpdate), half, Some(8));
        assert_eq!((rv, len), (CKR_OK, 0));
        assert!(buf.untouched_from(0));
    }
    assert_eq!(call(s, Callee::Final(C_DecryptFinal), &[], None).1, 0);
    let (rv, len, buf) = call(s, Callee::Final(C_DecryptFinal), &[], Some(4));
    assert_eq!((rv, len), (CKR_OK, 0));
    assert!(buf.untouched_from(0));
    // Single-part, and the same tag under other AAD.
    assert_eq!(init(C_DecryptInit, s, &mut p.mechanism(), key), CKR_OK);
    assert_eq!(produce(C_Decrypt, s, &tag).unwrap(), b"");
    let mut other = GcmParams::new(&[2; 12], b"headers", 128);
    assert_eq!(init(C_DecryptInit, s, &mut other.mechanism(), key), CKR_OK);
    assert_eq!(produce(C_Decrypt, s, &tag), Err(CKR_ENCRYPTED_DATA_INVALID));
}

/// A `CK_GCM_MESSAGE_PARAMS` with its buffers.
struct MsgParams {
    iv: Vec<u8>,
    tag: Vec<u8>,
    raw: CK_GCM_MESSAGE_PARAMS,
}

impl MsgParams {
    fn new(iv: &[u8], tag: &[u8]) -> Box<MsgParams> {
        let mut p = Box::new(MsgParams {
            iv: iv.to_vec(),
            tag: tag.to_vec(),
            raw: CK_GCM_MESSAGE_PARAMS {
                pIv: null_mut(),
                ulIvLen: iv.len() as CK_ULONG,
                ulIvFixedBits: 0,
                ivGenerator: CKG_NO_GENERATE,
                pTag: null_mut(),
                ulTagBits: (tag.len() * 8) as CK_ULONG,
            },
        });
        p.raw.pIv = p.iv.as_mut_ptr();
        p.raw.pTag = p.tag.as_mut_ptr();
        p
    }
    fn param(&mut self) -> (*mut c_void, CK_ULONG) {
        (
            &mut self.raw as *mut CK_GCM_MESSAGE_PARAMS as *mut c_void,
            size_of::<CK_GCM_MESSAGE_PARAMS>() as CK_ULONG,
        )
    }
}

/// A message call: `C_EncryptMessage`/`C_DecryptMessage` (`next` `None`) or
/// `C_*MessageNext` (`next` = `Some(flags)`).
#[derive(Clone, Copy)]
struct MessageCall {
    encrypt: bool,
    next: Option<CK_FLAGS>,
}

impl MessageCall {
    fn run(
        self,
        s: CK_SESSION_HANDLE,
        p: &mut MsgParams,
        aad: &[u8],
        input: &[u8],
        capacity: Option<usize>,
    ) -> (CK_RV, usize, Buffer) {
        let mut buf = Buffer::new(capacity.unwrap_or(0));
        let out = match capacity {
            Some(_) => buf.0.as_mut_ptr(),
            None => null_mut(),
        };
        let mut len: CK_ULONG = capacity.map_or(0xDEAD, |c| c as CK_ULONG);
        let (param, param_len) = p.param();
        let (a, a_len) = (aad.as_ptr() as *mut u8, aad.len() as CK_ULONG);
        let (i, i_len) = (input.as_ptr() as *mut u8, input.len() as CK_ULONG);
        // SAFETY: every buffer is valid for the length given with it; the output is null or
        // `capacity` bytes as announced; the parameter's IV and tag buffers are its own.
        let rv = unsafe {
            match (self.encrypt, self.next) {
                (true, None) => {
                    C_EncryptMessage(s, param, param_len, a, a_len, i, i_len, out, &mut len)
                }
                (false, None) => {
                    C_DecryptMessage(s, param, param_len, a, a_len, i, i_len, out, &mut len)
                }
                (true, Some(f)) => {
                    C_EncryptMessageNext(s, param, param_len, i, i_len, out, &mut len, f)
                }
                (false, Some(f)) => {
                    C_DecryptMessageNext(s, param, param_len, i, i_len, out, &mut len, f)
                }
            }
        };
        (rv, len as usize, buf)
    }
}

/// Runs a message's probes (as `run_probes`).
fn run_message_probes(
    s: CK_SESSION_HANDLE,
    c: MessageCall,
    p: &mut MsgParams,
    aad: &[u8],
    input: &[u8],
    expected: usize,
    probes: &[Probe],
) -> Result<(), TestCaseError> {
    for probe in probes {
        match probe {
            Probe::Query(other) => {
                let (rv, len, _) = c.run(s, p, aad, other.as_deref().unwrap_or(input), None);
                prop_assert_eq!(rv, CKR_OK, "length query");
                if other.is_none() {
                    prop_assert_eq!(len, expected, "length query answer");
                }
            }
            Probe::Short(k) => {
                if expected == 0 {
                    continue;
                }
                let (rv, len, buf) = c.run(s, p, aad, input, Some(k % expected));
                prop_assert_eq!(rv, CKR_BUFFER_TOO_SMALL, "short buffer");
                prop_assert_eq!(len, expected, "short buffer answer");
                prop_assert!(buf.untouched_from(0), "a short buffer was written");
            }
        }
    }
    Ok(())
}

/// One message through the message API, single-part or begin/next: the output, or the code
/// of the failed call (which wrote nothing).
fn run_message(
    s: CK_SESSION_HANDLE,
    encrypt: bool,
    p: &mut MsgParams,
    aad: &[u8],
    input: &[u8],
    seq: &Sequence,
) -> Result<Ending, TestCaseError> {
    let mut output = Vec::new();
    match seq {
        Sequence::OneShot { probes, room } => {
            let c = MessageCall {
                encrypt,
                next: None,
            };
            run_message_probes(s, c, p, aad, input, input.len(), probes)?;
            let (rv, len, buf) = c.run(s, p, aad, input, Some(input.len() + room));
            if rv != CKR_OK {
                prop_assert!(buf.untouched_from(0), "a failed call wrote its buffer");
                return Ok(Ending::Failed(rv));
            }
            prop_assert!(buf.untouched_from(len), "written past the reported length");
            output.extend_from_slice(&buf.0[..len]);
        }
        Sequence::MultiPart {
            cuts,
            updates,
            final_probes,
            room,
        } => {
            let (param, param_len) = p.param();
            let (a, a_len) = (aad.as_ptr() as *mut u8, aad.len() as CK_ULONG);
            // SAFETY: the parameter and AAD buffers are valid for their lengths.
            let rv = unsafe {
                if encrypt {
                    C_EncryptMessageBegin(s, param, param_len, a, a_len)
                } else {
                    C_DecryptMessageBegin(s, param, param_len, a, a_len)
                }
            };
            prop_assert_eq!(rv, CKR_OK, "C_*MessageBegin");
            let pieces = parts(input.len(), cuts);
            let last = pieces.len() - 1;
            for (i, range) in pieces.into_iter().enumerate() {
                let end = i == last;
                let c = MessageCall {
                    encrypt,
                    next: Some(if end { CKF_END_OF_MESSAGE } else { 0 }),
                };
                let (probes, extra) = if end {
                    (final_probes, *room)
                } else {
                    let (pr, ex) = &updates[i % updates.len()];
                    (pr, *ex)
                };
                let part = &input[range.clone()];
                // Decryption releases everything at the end of the message, nothing before.
                let expected = match (encrypt, end) {
                    (true, _) => part.len(),
                    (false, false) => 0,
                    (false, true) => input.len(),
                };
                run_message_probes(s, c, p, aad, part, expected, probes)?;
                let (rv, len, buf) = c.run(s, p, aad, part, Some(expected + extra));
                if rv != CKR_OK {
                    prop_assert!(end, "a part before the end failed: 0x{:X}", rv);
                    prop_assert!(buf.untouched_from(0), "a failed call wrote its buffer");
                    return Ok(Ending::Failed(rv));
                }
                prop_assert_eq!(len, expected, "output length");
                prop_assert!(buf.untouched_from(len), "written past the reported length");
                output.extend_from_slice(&buf.0[..len]);
            }
        }
    }
    Ok(Ending::Output(output))
}

#[test]
fn message_api_in_any_call_order_is_authenticated_or_refused() {
    let lab = Lab::new();
    let s = lab.user_session();
    let mut runner = TestRunner::new(Config {
        cases: 512,
        ..Config::default()
    });
    let message_tamper =
        tamper_strategy().prop_filter("the tag is separate", |t| !matches!(t, Tamper::TagLen(_)));
    runner
        .run(
            &(
                message_strategy(),
                sequence_strategy(),
                sequence_strategy(),
                message_tamper,
            ),
            |(m, enc_seq, dec_seq, t)| {
                cancel_all(s);
                let key = secret_key(s, &m.key);
                let reference = encrypt_one_shot(s, key, &m)?;
                let tag_len = (m.tag_bits / 8) as usize;
                let (ct, tag) = reference.split_at(m.plain.len());
                // Encryption: the same ciphertext and tag as C_Encrypt.
                let mut m_init = mech(CKM_AES_GCM);
                // SAFETY: a valid mechanism without parameter.
                prop_assert_eq!(unsafe { C_MessageEncryptInit(s, &mut m_init, key) }, CKR_OK);
                let mut p = MsgParams::new(&m.iv, &[0u8; 16][..tag_len]);
                let ending = run_message(s, true, &mut p, &m.aad, &m.plain, &enc_seq)?;
                prop_assert_eq!(ending, Ending::Output(ct.to_vec()));
                prop_assert_eq!(&p.tag, tag);
                // SAFETY: no pointers.
                prop_assert_eq!(unsafe { C_MessageEncryptFinal(s) }, CKR_OK);
                // Decryption of the (tampered) message.
                let (joined, aad, iv, _) = tampered(&m, &reference, &t);
                // The tag is the last `tag_len` bytes, as for C_Decrypt (zero-padded when a
                // truncation left fewer).
                let ct_len = joined.len().saturating_sub(tag_len);
                let (ct, tag) = joined.split_at(ct_len);
                let mut tag = tag.to_vec();
                tag.resize(tag_len, 0);
                // SAFETY: a valid mechanism without parameter.
                prop_assert_eq!(unsafe { C_MessageDecryptInit(s, &mut m_init, key) }, CKR_OK);
                let mut p = MsgParams::new(&iv, &tag);
                let ending = run_message(s, false, &mut p, &aad, ct, &dec_seq)?;
                let intact = matches!(t, Tamper::None)
                    || (ct == &reference[..m.plain.len()]
                        && tag == reference[m.plain.len()..]
                        && aad == m.aad
                        && iv == m.iv);
                if intact {
                    prop_assert_eq!(ending, Ending::Output(m.plain.clone()));
                } else {
                    prop_assert_eq!(ending, Ending::Failed(CKR_AEAD_DECRYPT_FAILED));
                }
                // SAFETY: no pointers.
                prop_assert_eq!(unsafe { C_MessageDecryptFinal(s) }, CKR_OK);
                destroy(s, key);
                Ok(())
            },
        )
        .unwrap();
}
