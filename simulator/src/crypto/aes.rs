//! AES on aws-lc-rs: `CKM_AES_ECB`, `CKM_AES_CBC`, `CKM_AES_CBC_PAD`, `CKM_AES_CTR`,
//! `CKM_AES_GCM`, `CKM_AES_KEY_WRAP` (RFC 3394), `CKM_AES_KEY_WRAP_PAD` and
//! `CKM_AES_KEY_WRAP_KWP` (both RFC 5649) and `CKM_AES_CMAC`.
//!
//! Every operation builds its aws-lc key schedule once, when it is created, and keeps it until it
//! is dropped. Operations are single-use: after `finish` (or after any error, which PKCS#11 says
//! ends the operation) every call returns `CKR_OPERATION_NOT_INITIALIZED` (simulator-defined; the
//! engine normally discards the operation object first).
//!
//! Design choices, where PKCS#11 leaves room:
//! - CTR (simulator-defined): the counter is the low `counter_bits` bits of the counter block; an
//!   operation may use at most `2^counter_bits - initial counter value` keystream blocks, i.e. the
//!   counter never wraps back through zero. Data that would need more is `CKR_DATA_LEN_RANGE`
//!   (for encryption and decryption alike, since CTR is symmetric).
//! - GCM: any IV length of 1 byte or more (an empty IV is `CKR_MECHANISM_PARAM_INVALID`), any
//!   AAD. Tag lengths of 32, 64, 96, 104, 112, 120 and 128 bits (the SP 800-38D set) are
//!   supported; others are `CKR_MECHANISM_PARAM_INVALID` (simulator-defined: PKCS#11 allows
//!   0..=128). Everything goes through aws-lc's `EVP_CIPHER` AES-GCM (`ffi::aes`, imported as
//!   `sys`; `aws_lc_rs::aead` takes 96-bit nonces only), which derives J0 by GHASH for other IV
//!   lengths and verifies truncated tags in constant time; nothing of GCM is computed here.
//!   Multi-part encryption streams (the tag comes from `finish`); decryption holds back the
//!   trailing tag, outputs nothing from `update`, and releases all the plaintext from `finish`,
//!   after the tag verifies. Every output length is known in advance, so length queries and
//!   short buffers never run (or verify) anything.
//!   Authentication failure is `CKR_ENCRYPTED_DATA_INVALID` (the v2.40 code, not 3.0's
//!   `CKR_AEAD_DECRYPT_FAILED`, which the message-based API uses), also for an input too
//!   short to hold the tag (simulator-defined). `GcmStream` is the same per-message engine for
//!   `C_EncryptMessage*` / `C_DecryptMessage*`.
//! - Key wrap: RFC 3394 / RFC 5649 come from aws-lc: `aws_lc_rs::key_wrap` for 128- and 256-bit
//!   KEKs, and, since that module has no AES-192 KEK (which the RFC 5649 test vectors use),
//!   aws-lc's `AES_wrap_key` family directly for 192-bit KEKs (`ffi::aes`).
//!   `CKM_AES_KEY_WRAP_PAD` is RFC 5649 like `CKM_AES_KEY_WRAP_KWP` (simulator-defined: v2.40's
//!   `_PAD` is ambiguous and some vendors apply PKCS#7 padding then RFC 3394; PKCS#11 3.0 names
//!   that `CKM_AES_KEY_WRAP_PKCS7`, which this simulator does not offer). The optional mechanism
//!   parameter is the initial value: it must be the standard one (`A6A6A6A6A6A6A6A6` for KW,
//!   `A65959A6` for KWP), anything else is `CKR_MECHANISM_PARAM_INVALID`. An empty parameter
//!   counts as absent. Input to wrap must be under 2 GiB (aws-lc's `int` lengths), else
//!   `CKR_DATA_LEN_RANGE`.
//! - `CKM_AES_CMAC` produces the full 16-byte MAC; a verification signature of another length is
//!   `CKR_SIGNATURE_LEN_RANGE`.
use super::ffi::aes as sys;
use super::*;
use crate::base::error::{Result, err};
use aws_lc_rs::cipher::{
    AES_128, AES_192, AES_256, Algorithm, DecryptingKey, DecryptionContext, EncryptingKey,
    EncryptionContext, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::key_wrap::{self, AesKek, KeyWrap, KeyWrapPadded};
use aws_lc_rs::{cmac, constant_time};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::{Zeroize, Zeroizing};

const BLOCK: usize = 16;
/// RFC 3394 default initial value.
const KW_IV: [u8; 8] = [0xA6; 8];
/// RFC 5649 alternative initial value (the high half of the AIV).
const KWP_IV: [u8; 4] = [0xA6, 0x59, 0x59, 0xA6];
/// SP 800-38D: the largest GCM plaintext, 2^39 - 256 bits.
const GCM_MAX_DATA: u64 = (1 << 36) - 32;
/// SP 800-38D: the largest GCM AAD, 2^64 - 1 bits.
const GCM_MAX_AAD: u64 = (1 << 61) - 1;

pub fn signer(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn SignOperation>> {
    match mech.mechanism_type {
        CKM_AES_CMAC => Ok(Box::new(CmacSign {
            ctx: Some(cmac_context(mech, key)?),
        })),
        _ => Err(err(CKR_MECHANISM_INVALID, "this AES mechanism cannot sign")),
    }
}

pub fn verifier(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn VerifyOperation>> {
    match mech.mechanism_type {
        CKM_AES_CMAC => Ok(Box::new(CmacVerify {
            ctx: Some(cmac_context(mech, key)?),
        })),
        _ => Err(err(
            CKR_MECHANISM_INVALID,
            "this AES mechanism cannot verify",
        )),
    }
}

pub fn encryptor(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn CipherOperation>> {
    cipher_op(mech, key, true)
}

pub fn decryptor(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn CipherOperation>> {
    cipher_op(mech, key, false)
}

fn cipher_op(
    mech: &Mechanism,
    key: &KeyMaterial,
    encrypt: bool,
) -> Result<Box<dyn CipherOperation>> {
    let value = aes_key(key)?;
    Ok(match mech.mechanism_type {
        CKM_AES_ECB => {
            mech.expect_no_params()?;
            let proc = if encrypt {
                AesBlocks::EcbEnc(EncryptingKey::ecb(unbound(value)?).map_err(aes_failed)?)
            } else {
                AesBlocks::EcbDec(DecryptingKey::ecb(unbound(value)?).map_err(aes_failed)?)
            };
            Box::new(BlockModeOp::new(proc, BLOCK, encrypt, false))
        }
        CKM_AES_CBC | CKM_AES_CBC_PAD => {
            let iv: [u8; BLOCK] = match &mech.params {
                MechParams::Bytes(iv) => iv.as_slice().try_into().map_err(|_| {
                    err(
                        CKR_MECHANISM_PARAM_INVALID,
                        "the AES CBC IV must be 16 bytes",
                    )
                })?,
                _ => {
                    return Err(err(
                        CKR_MECHANISM_PARAM_INVALID,
                        "AES CBC needs a 16-byte IV",
                    ));
                }
            };
            let proc = if encrypt {
                AesBlocks::CbcEnc(EncryptingKey::cbc(unbound(value)?).map_err(aes_failed)?, iv)
            } else {
                AesBlocks::CbcDec(DecryptingKey::cbc(unbound(value)?).map_err(aes_failed)?, iv)
            };
            let pad = mech.mechanism_type == CKM_AES_CBC_PAD;
            Box::new(BlockModeOp::new(proc, BLOCK, encrypt, pad))
        }
        CKM_AES_CTR => Box::new(AesCtr::new(mech, value)?),
        CKM_AES_GCM => Box::new(AesGcm::new(mech, key, encrypt)?),
        CKM_AES_KEY_WRAP | CKM_AES_KEY_WRAP_PAD | CKM_AES_KEY_WRAP_KWP => {
            Box::new(AesKeyWrap::new(mech, value, encrypt)?)
        }
        _ => return Err(err(CKR_MECHANISM_INVALID, "not an AES cipher mechanism")),
    })
}

/// The AES key value, checked: `CKR_KEY_TYPE_INCONSISTENT` unless an AES secret key,
/// `CKR_KEY_SIZE_RANGE` unless 16, 24 or 32 bytes.
fn aes_key(key: &KeyMaterial) -> Result<&[u8]> {
    let secret = key.secret()?;
    if secret.key_type != CKK_AES {
        return Err(err(CKR_KEY_TYPE_INCONSISTENT, "an AES key is required"));
    }
    match secret.value.len() {
        16 | 24 | 32 => Ok(&secret.value),
        _ => Err(err(CKR_KEY_SIZE_RANGE, "AES keys are 16, 24 or 32 bytes")),
    }
}

fn cipher_algorithm(key: &[u8]) -> &'static Algorithm {
    match key.len() {
        16 => &AES_128,
        24 => &AES_192,
        _ => &AES_256,
    }
}

fn unbound(key: &[u8]) -> Result<UnboundCipherKey> {
    UnboundCipherKey::new(cipher_algorithm(key), key)
        .map_err(|_| err(CKR_KEY_SIZE_RANGE, "AES keys are 16, 24 or 32 bytes"))
}

fn aes_failed(_: aws_lc_rs::error::Unspecified) -> crate::base::error::Error {
    err(CKR_FUNCTION_FAILED, "the AES primitive failed")
}

fn finished() -> crate::base::error::Error {
    err(
        CKR_OPERATION_NOT_INITIALIZED,
        "the operation has already finished",
    )
}

fn iv128(iv: [u8; BLOCK]) -> EncryptionContext {
    EncryptionContext::Iv128(FixedLength::from(iv))
}

// ---------------------------------------------------------------------------------------------
// Block modes (shared with DES3)
// ---------------------------------------------------------------------------------------------

/// A block cipher in a fixed direction and chaining mode; chaining state (the CBC IV) lives
/// inside and advances with every call.
pub(super) trait BlockProcessor: Send {
    /// Processes `data`, a whole number of blocks, in place.
    fn process(&mut self, data: &mut [u8]) -> Result<()>;
}

/// ECB/CBC with or without PKCS#7 padding over any [`BlockProcessor`]: buffers partial blocks,
/// returns every whole block as soon as it is available (holding back the last block when
/// decrypting with padding) and checks lengths and padding in `finish`.
pub(super) struct BlockModeOp<P: BlockProcessor> {
    proc: P,
    block: usize,
    encrypt: bool,
    pad: bool,
    /// Input not yet processed: fewer than `block` bytes, or up to `block` when unpadding.
    pending: Zeroizing<Vec<u8>>,
    done: bool,
}

impl<P: BlockProcessor> BlockModeOp<P> {
    pub(super) fn new(proc: P, block: usize, encrypt: bool, pad: bool) -> Self {
        BlockModeOp {
            proc,
            block,
            encrypt,
            pad,
            pending: Zeroizing::new(Vec::with_capacity(block)),
            done: false,
        }
    }

    /// How many bytes an update of `input_len` more bytes processes and returns.
    fn ready(&self, input_len: usize) -> usize {
        let b = self.block;
        let total = self.pending.len().saturating_add(input_len);
        if self.pad && !self.encrypt {
            // Hold back at least one byte, so the last block is unpadded in `finish`.
            total.saturating_sub(1) / b * b
        } else {
            total / b * b
        }
    }

    fn update_inner(&mut self, input: &[u8]) -> Result<Vec<u8>> {
        let ready = self.ready(input.len());
        if ready == 0 {
            self.pending.extend_from_slice(input);
            return Ok(Vec::new());
        }
        // `pending` is shorter than `ready` here (at most one block, and `ready` is at least one).
        let from_input = ready - self.pending.len();
        let mut out = Vec::with_capacity(ready);
        out.extend_from_slice(&self.pending);
        out.extend_from_slice(&input[..from_input]);
        self.pending.clear();
        self.pending.extend_from_slice(&input[from_input..]);
        self.proc.process(&mut out)?;
        Ok(out)
    }

    fn finish_inner(&mut self) -> Result<Vec<u8>> {
        let b = self.block;
        match (self.encrypt, self.pad) {
            (true, false) if !self.pending.is_empty() => Err(err(
                CKR_DATA_LEN_RANGE,
                "the data is not a whole number of cipher blocks",
            )),
            (false, false) if !self.pending.is_empty() => Err(err(
                CKR_ENCRYPTED_DATA_LEN_RANGE,
                "the ciphertext is not a whole number of cipher blocks",
            )),
            (_, false) => Ok(Vec::new()),
            (true, true) => {
                let pad = b - self.pending.len();
                let mut out = self.pending.to_vec();
                out.resize(b, pad as u8);
                self.proc.process(&mut out)?;
                Ok(out)
            }
            (false, true) => {
                if self.pending.len() != b {
                    return Err(err(
                        CKR_ENCRYPTED_DATA_LEN_RANGE,
                        "the ciphertext is not a positive whole number of cipher blocks",
                    ));
                }
                let mut out = self.pending.to_vec();
                self.proc.process(&mut out)?;
                match pkcs7_unpadded_len(&out) {
                    Some(len) => {
                        out[len..].zeroize();
                        out.truncate(len);
                        Ok(out)
                    }
                    None => {
                        out.zeroize();
                        Err(err(
                            CKR_ENCRYPTED_DATA_INVALID,
                            "the PKCS#7 padding is wrong",
                        ))
                    }
                }
            }
        }
    }
}

impl<P: BlockProcessor> CipherOperation for BlockModeOp<P> {
    fn update(&mut self, input: &[u8]) -> Result<Vec<u8>> {
        if self.done {
            return Err(finished());
        }
        let result = self.update_inner(input);
        if result.is_err() {
            self.done = true;
            self.pending.zeroize();
        }
        result
    }

    fn finish(&mut self) -> Result<Vec<u8>> {
        if self.done {
            return Err(finished());
        }
        self.done = true;
        let result = self.finish_inner();
        self.pending.zeroize();
        result
    }

    fn update_len(&self, input_len: usize) -> usize {
        if self.done { 0 } else { self.ready(input_len) }
    }
}

/// The length of a decrypted last block without its PKCS#7 padding, or `None` when the padding
/// is malformed. Examines every byte whatever the padding value.
pub(super) fn pkcs7_unpadded_len(block: &[u8]) -> Option<usize> {
    let b = block.len();
    let p = *block.last()?;
    let mut diff = 0u8;
    for (i, &x) in block.iter().enumerate() {
        // Byte i is padding when it is among the last p bytes.
        let in_pad = ((b - i) as u64 <= p as u64) as u8;
        diff |= in_pad.wrapping_neg() & (x ^ p);
    }
    let p = p as usize;
    if diff == 0 && p >= 1 && p <= b {
        Some(b - p)
    } else {
        None
    }
}

/// AES in ECB or CBC mode, one direction, on an aws-lc key schedule.
enum AesBlocks {
    EcbEnc(EncryptingKey),
    EcbDec(DecryptingKey),
    CbcEnc(EncryptingKey, [u8; BLOCK]),
    CbcDec(DecryptingKey, [u8; BLOCK]),
}

impl BlockProcessor for AesBlocks {
    fn process(&mut self, data: &mut [u8]) -> Result<()> {
        match self {
            AesBlocks::EcbEnc(k) => {
                k.less_safe_encrypt(data, EncryptionContext::None)
                    .map_err(aes_failed)?;
            }
            AesBlocks::EcbDec(k) => {
                k.decrypt(data, DecryptionContext::None)
                    .map_err(aes_failed)?;
            }
            AesBlocks::CbcEnc(k, iv) => {
                k.less_safe_encrypt(data, iv128(*iv)).map_err(aes_failed)?;
                if let Some(last) = data.last_chunk::<BLOCK>() {
                    *iv = *last;
                }
            }
            AesBlocks::CbcDec(k, iv) => {
                let next = data.last_chunk::<BLOCK>().copied();
                k.decrypt(data, iv128(*iv).into()).map_err(aes_failed)?;
                if let Some(next) = next {
                    *iv = next;
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// CTR
// ---------------------------------------------------------------------------------------------

/// AES-CTR: streams; the same operation encrypts and decrypts.
struct AesCtr {
    key: EncryptingKey,
    counter: u128,
    /// The bits of `counter` that increment.
    mask: u128,
    /// Keystream blocks still allowed before the counter would wrap (saturated at `u128::MAX`).
    blocks_left: u128,
    /// Keystream of the current partial block; bytes from `ks_pos` on are unused.
    ks: [u8; BLOCK],
    ks_pos: usize,
    done: bool,
}

impl AesCtr {
    fn new(mech: &Mechanism, key: &[u8]) -> Result<Self> {
        let MechParams::Ctr {
            counter_bits,
            counter_block,
        } = &mech.params
        else {
            return Err(err(
                CKR_MECHANISM_PARAM_INVALID,
                "AES CTR needs CK_AES_CTR_PARAMS",
            ));
        };
        let bits = *counter_bits;
        if !(1..=128).contains(&bits) {
            return Err(err(
                CKR_MECHANISM_PARAM_INVALID,
                "the counter must be 1 to 128 bits",
            ));
        }
        let mask = if bits == 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        let counter = u128::from_be_bytes(*counter_block);
        // 2^bits - (counter & mask), saturating at u128::MAX for a full 128-bit counter at 0.
        let blocks_left = (mask - (counter & mask)).saturating_add(1);
        let key = EncryptingKey::ctr(unbound(key)?).map_err(aes_failed)?;
        Ok(AesCtr {
            key,
            counter,
            mask,
            blocks_left,
            ks: [0; BLOCK],
            ks_pos: BLOCK,
            done: false,
        })
    }

    /// Consumes `n` keystream blocks starting at the current counter.
    fn advance(&mut self, n: u128) {
        let low = (self.counter & self.mask).wrapping_add(n) & self.mask;
        self.counter = (self.counter & !self.mask) | low;
        self.blocks_left -= n;
    }

    fn update_inner(&mut self, input: &[u8]) -> Result<Vec<u8>> {
        let mut out = input.to_vec();
        // Leftover keystream of the previous partial block.
        let leftover = (BLOCK - self.ks_pos).min(out.len());
        for (o, k) in out[..leftover].iter_mut().zip(&self.ks[self.ks_pos..]) {
            *o ^= k;
        }
        self.ks_pos += leftover;
        let rest = &mut out[leftover..];
        if rest.is_empty() {
            return Ok(out);
        }
        let blocks = rest.len().div_ceil(BLOCK) as u128;
        if blocks > self.blocks_left {
            out.zeroize();
            return Err(err(
                CKR_DATA_LEN_RANGE,
                "the data would wrap the CTR counter",
            ));
        }
        let full = rest.len() / BLOCK * BLOCK;
        if full > 0 {
            let (whole, _) = rest.split_at_mut(full);
            self.key
                .less_safe_encrypt(whole, iv128(self.counter.to_be_bytes()))
                .map_err(aes_failed)?;
            self.advance((full / BLOCK) as u128);
        }
        let tail = &mut rest[full..];
        if !tail.is_empty() {
            // Encrypting tail || zeros gives the output for the tail and the keystream after it.
            let mut block = [0u8; BLOCK];
            block[..tail.len()].copy_from_slice(tail);
            self.key
                .less_safe_encrypt(&mut block, iv128(self.counter.to_be_bytes()))
                .map_err(aes_failed)?;
            self.advance(1);
            tail.copy_from_slice(&block[..tail.len()]);
            self.ks = block;
            self.ks_pos = tail.len();
            block.zeroize();
        }
        Ok(out)
    }
}

impl CipherOperation for AesCtr {
    fn update(&mut self, input: &[u8]) -> Result<Vec<u8>> {
        if self.done {
            return Err(finished());
        }
        let result = self.update_inner(input);
        if result.is_err() {
            self.done = true;
        }
        result
    }

    fn finish(&mut self) -> Result<Vec<u8>> {
        if self.done {
            return Err(finished());
        }
        self.done = true;
        self.ks.zeroize();
        Ok(Vec::new())
    }

    fn update_len(&self, input_len: usize) -> usize {
        input_len
    }
}

impl Drop for AesCtr {
    fn drop(&mut self) {
        self.ks.zeroize();
    }
}

// ---------------------------------------------------------------------------------------------
// GCM
// ---------------------------------------------------------------------------------------------

/// Checks a GCM tag length in bits (the SP 800-38D set) and returns it in bytes.
fn gcm_tag_len(tag_bits: CK_ULONG) -> Result<usize> {
    if !matches!(tag_bits, 32 | 64 | 96 | 104 | 112 | 120 | 128) {
        return Err(err(
            CKR_MECHANISM_PARAM_INVALID,
            "GCM tags are 32, 64, 96, 104, 112, 120 or 128 bits",
        ));
    }
    Ok((tag_bits / 8) as usize)
}

/// One GCM message in progress over aws-lc's `EVP_CIPHER` AES-GCM (any IV length of 1 byte or
/// more; the GHASH-derived J0 of non-96-bit IVs is aws-lc's). Data streams through `update`
/// (ciphertext or unverified plaintext of the same length); `seal` returns the tag, `open`
/// verifies one. Also what the message-based API (`C_EncryptMessage*`) runs on.
pub struct GcmStream {
    ctx: sys::GcmCtx,
    tag_len: usize,
    encrypt: bool,
    processed: u64,
}

impl GcmStream {
    /// Starts a message: `key` must be an AES key, `iv` 1 byte or more, `tag_bits` one of the
    /// SP 800-38D lengths (else `CKR_MECHANISM_PARAM_INVALID`).
    pub fn new(
        key: &KeyMaterial,
        iv: &[u8],
        aad: &[u8],
        tag_bits: CK_ULONG,
        encrypt: bool,
    ) -> Result<Self> {
        let key = aes_key(key)?;
        let tag_len = gcm_tag_len(tag_bits)?;
        if iv.is_empty() || iv.len() > i32::MAX as usize {
            return Err(err(
                CKR_MECHANISM_PARAM_INVALID,
                "a GCM IV is 1 byte or more",
            ));
        }
        if aad.len() as u64 > GCM_MAX_AAD {
            return Err(err(CKR_MECHANISM_PARAM_INVALID, "the GCM AAD is too long"));
        }
        let mut ctx = sys::GcmCtx::new(key, iv, encrypt)
            .ok_or_else(|| err(CKR_FUNCTION_FAILED, "aws-lc refused the GCM key or IV"))?;
        if !ctx.aad(aad) {
            return Err(err(CKR_FUNCTION_FAILED, "aws-lc refused the GCM AAD"));
        }
        Ok(GcmStream {
            ctx,
            tag_len,
            encrypt,
            processed: 0,
        })
    }

    pub fn tag_len(&self) -> usize {
        self.tag_len
    }

    /// Encrypts or decrypts the next part (the output has the input's length).
    pub fn update(&mut self, input: &[u8]) -> Result<Vec<u8>> {
        self.processed = self.processed.saturating_add(input.len() as u64);
        if self.processed > GCM_MAX_DATA {
            return Err(if self.encrypt {
                err(CKR_DATA_LEN_RANGE, "too much data for one GCM message")
            } else {
                err(
                    CKR_ENCRYPTED_DATA_LEN_RANGE,
                    "too much data for one GCM message",
                )
            });
        }
        let mut out = vec![0u8; input.len()];
        if !self.ctx.update(input, &mut out) {
            return Err(err(CKR_FUNCTION_FAILED, "aws-lc GCM update failed"));
        }
        Ok(out)
    }

    /// Ends an encryption: the tag, truncated to the requested length.
    pub fn seal(mut self) -> Result<Vec<u8>> {
        let mut tag = self
            .ctx
            .seal()
            .ok_or_else(|| err(CKR_FUNCTION_FAILED, "aws-lc GCM final failed"))?;
        let out = tag[..self.tag_len].to_vec();
        tag.zeroize();
        Ok(out)
    }

    /// Ends a decryption: false when `tag` (of the requested length) does not verify.
    pub fn open(mut self, tag: &[u8]) -> bool {
        tag.len() == self.tag_len && self.ctx.open(tag)
    }
}

/// `CKM_AES_GCM` through `C_Encrypt*` / `C_Decrypt*`: encryption streams and appends the tag
/// at `finish`; decryption holds back the last `tag_len` bytes of input (the tag), decrypts the
/// rest as it comes, and releases the plaintext only from `finish`, once the tag verifies.
struct AesGcm {
    stream: Option<GcmStream>,
    encrypt: bool,
    /// Decryption: the input not yet decrypted (at most the tag's length at rest).
    held: Vec<u8>,
    /// Decryption: the plaintext, released after verification.
    plain: Zeroizing<Vec<u8>>,
}

impl AesGcm {
    fn new(mech: &Mechanism, key: &KeyMaterial, encrypt: bool) -> Result<Self> {
        let MechParams::Gcm { iv, aad, tag_bits } = &mech.params else {
            return Err(err(
                CKR_MECHANISM_PARAM_INVALID,
                "AES GCM needs CK_GCM_PARAMS",
            ));
        };
        Ok(AesGcm {
            stream: Some(GcmStream::new(key, iv, aad, *tag_bits, encrypt)?),
            encrypt,
            held: Vec::new(),
            plain: Zeroizing::new(Vec::new()),
        })
    }

    fn stream(&mut self) -> Result<&mut GcmStream> {
        self.stream.as_mut().ok_or_else(finished)
    }

    fn update_inner(&mut self, input: &[u8]) -> Result<Vec<u8>> {
        if self.encrypt {
            return self.stream()?.update(input);
        }
        let tag_len = self.stream()?.tag_len();
        self.held.extend_from_slice(input);
        let ready = self.held.len().saturating_sub(tag_len);
        if ready > 0 {
            let stream = self.stream.as_mut().ok_or_else(finished)?;
            let part = stream.update(&self.held[..ready])?;
            self.plain.extend_from_slice(&part);
            self.held.drain(..ready);
        }
        Ok(Vec::new())
    }

    fn finish_inner(&mut self) -> Result<Vec<u8>> {
        let stream = self.stream.take().ok_or_else(finished)?;
        if self.encrypt {
            return stream.seal();
        }
        // Input too short to hold a tag is an authentication failure like any other
        // (simulator-defined: CKR_ENCRYPTED_DATA_INVALID, the one code for "not authentic").
        if self.held.len() != stream.tag_len() || !stream.open(&self.held) {
            return Err(err(
                CKR_ENCRYPTED_DATA_INVALID,
                "the GCM tag does not verify",
            ));
        }
        Ok(std::mem::take(&mut *self.plain))
    }

    fn end(&mut self) {
        self.stream = None;
        self.plain.zeroize();
        self.held.clear();
    }
}

impl CipherOperation for AesGcm {
    fn update(&mut self, input: &[u8]) -> Result<Vec<u8>> {
        let r = self.update_inner(input);
        if r.is_err() {
            self.end();
        }
        r
    }

    fn finish(&mut self) -> Result<Vec<u8>> {
        let r = self.finish_inner();
        self.end();
        r
    }

    /// Encryption streams; decryption outputs nothing before `finish`.
    fn update_len(&self, input_len: usize) -> usize {
        if self.encrypt { input_len } else { 0 }
    }

    /// Encryption: the tag; decryption: all the plaintext (the input minus the tag), released
    /// only once the tag verifies. Known without the work, so a length query or a short buffer
    /// never runs (nor verifies) anything.
    fn finish_len(&self) -> Option<usize> {
        let tag_len = self.stream.as_ref()?.tag_len();
        Some(if self.encrypt {
            tag_len
        } else {
            (self.plain.len() + self.held.len()).saturating_sub(tag_len)
        })
    }

    fn one_shot_len(&self, input_len: usize) -> Option<usize> {
        let tag_len = self.stream.as_ref()?.tag_len();
        Some(if self.encrypt {
            input_len.saturating_add(tag_len)
        } else {
            input_len.saturating_sub(tag_len)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Key wrap (RFC 3394, RFC 5649)
// ---------------------------------------------------------------------------------------------

/// The largest input either key wrap direction takes: aws-lc works with `int` lengths.
const KW_MAX_LEN: usize = i32::MAX as usize - 16;

/// A key-encryption key, consumed by the one wrap or unwrap its operation does.
enum Kek {
    /// 128- and 256-bit KEKs: `aws_lc_rs::key_wrap`.
    AwsLc(AesKek),
    /// 192-bit KEKs, which `aws_lc_rs::key_wrap` does not take: aws-lc's key wrap directly.
    Aes192(sys::Kek192),
}

impl Kek {
    /// Each returns the length written to `out`, or `None` when aws-lc refuses (for unwrapping:
    /// the integrity check failed).
    fn wrap(self, input: &[u8], out: &mut [u8]) -> Option<usize> {
        match self {
            Kek::AwsLc(k) => k.wrap(input, out).ok().map(|o| o.len()),
            Kek::Aes192(k) => k.wrap(None, input, out),
        }
    }

    fn unwrap(self, input: &[u8], out: &mut [u8]) -> Option<usize> {
        match self {
            Kek::AwsLc(k) => KeyWrap::unwrap(k, input, out).ok().map(|o| o.len()),
            Kek::Aes192(k) => k.unwrap(input, out),
        }
    }

    fn wrap_padded(self, input: &[u8], out: &mut [u8]) -> Option<usize> {
        match self {
            Kek::AwsLc(k) => k.wrap_with_padding(input, out).ok().map(|o| o.len()),
            Kek::Aes192(k) => k.wrap_padded(input, out),
        }
    }

    fn unwrap_padded(self, input: &[u8], out: &mut [u8]) -> Option<usize> {
        match self {
            Kek::AwsLc(k) => k.unwrap_with_padding(input, out).ok().map(|o| o.len()),
            Kek::Aes192(k) => k.unwrap_padded(input, out),
        }
    }
}

struct AesKeyWrap {
    /// `None` once used.
    kek: Option<Kek>,
    encrypt: bool,
    /// RFC 5649 (`_PAD`, `_KWP`) rather than RFC 3394.
    padded: bool,
    buf: Zeroizing<Vec<u8>>,
    done: bool,
}

impl AesKeyWrap {
    fn new(mech: &Mechanism, key: &[u8], encrypt: bool) -> Result<Self> {
        let padded = mech.mechanism_type != CKM_AES_KEY_WRAP;
        let standard: &[u8] = if padded { &KWP_IV } else { &KW_IV };
        match &mech.params {
            MechParams::None => {}
            MechParams::Bytes(iv) if iv.is_empty() || iv.as_slice() == standard => {}
            _ => {
                return Err(err(
                    CKR_MECHANISM_PARAM_INVALID,
                    "only the standard key wrap initial value is supported",
                ));
            }
        }
        let size = || err(CKR_KEY_SIZE_RANGE, "AES keys are 16, 24 or 32 bytes");
        let kek = match key.len() {
            16 => Kek::AwsLc(AesKek::new(&key_wrap::AES_128, key).map_err(|_| size())?),
            32 => Kek::AwsLc(AesKek::new(&key_wrap::AES_256, key).map_err(|_| size())?),
            _ => Kek::Aes192(sys::Kek192::new(key, encrypt).ok_or_else(size)?),
        };
        Ok(AesKeyWrap {
            kek: Some(kek),
            encrypt,
            padded,
            buf: Zeroizing::new(Vec::new()),
            done: false,
        })
    }

    fn run(&mut self) -> Result<Vec<u8>> {
        let kek = self.kek.take().ok_or_else(finished)?;
        let data: &[u8] = &self.buf;
        let n = data.len();
        if self.encrypt {
            if n > KW_MAX_LEN {
                return Err(err(CKR_DATA_LEN_RANGE, "too much data for AES key wrap"));
            }
            let mut out = vec![0u8; n.div_ceil(8) * 8 + 8];
            let written = if self.padded {
                if n == 0 {
                    return Err(err(CKR_DATA_LEN_RANGE, "nothing to wrap"));
                }
                kek.wrap_padded(data, &mut out)
            } else {
                if n & 7 != 0 || n < 16 {
                    return Err(err(
                        CKR_DATA_LEN_RANGE,
                        "AES key wrap needs a multiple of 8 bytes, at least 16",
                    ));
                }
                kek.wrap(data, &mut out)
            };
            let written =
                written.ok_or_else(|| err(CKR_FUNCTION_FAILED, "aws-lc key wrap failed"))?;
            out.truncate(written);
            Ok(out)
        } else {
            let min = if self.padded { 16 } else { 24 };
            if n & 7 != 0 || n < min || n > KW_MAX_LEN {
                return Err(err(
                    CKR_ENCRYPTED_DATA_LEN_RANGE,
                    if self.padded {
                        "AES-wrapped data is a multiple of 8 bytes, at least 16"
                    } else {
                        "AES-wrapped data is a multiple of 8 bytes, at least 24"
                    },
                ));
            }
            let mut out = vec![0u8; n - 8];
            let written = if self.padded {
                kek.unwrap_padded(data, &mut out)
            } else {
                kek.unwrap(data, &mut out)
            };
            match written {
                Some(len) if len <= out.len() => {
                    out[len..].zeroize();
                    out.truncate(len);
                    Ok(out)
                }
                _ => {
                    out.zeroize();
                    Err(err(
                        CKR_ENCRYPTED_DATA_INVALID,
                        "the key wrap integrity check failed",
                    ))
                }
            }
        }
    }
}

impl CipherOperation for AesKeyWrap {
    fn update(&mut self, input: &[u8]) -> Result<Vec<u8>> {
        if self.done {
            return Err(finished());
        }
        self.buf.extend_from_slice(input);
        Ok(Vec::new())
    }

    fn finish(&mut self) -> Result<Vec<u8>> {
        if self.done {
            return Err(finished());
        }
        self.done = true;
        let result = self.run();
        self.buf.zeroize();
        result
    }

    fn update_len(&self, _input_len: usize) -> usize {
        0
    }
}

// ---------------------------------------------------------------------------------------------
// CMAC
// ---------------------------------------------------------------------------------------------

fn cmac_context(mech: &Mechanism, key: &KeyMaterial) -> Result<cmac::Context> {
    mech.expect_no_params()?;
    let value = aes_key(key)?;
    let algorithm = match value.len() {
        16 => cmac::AES_128,
        24 => cmac::AES_192,
        _ => cmac::AES_256,
    };
    let key = cmac::Key::new(algorithm, value)
        .map_err(|_| err(CKR_KEY_SIZE_RANGE, "AES keys are 16, 24 or 32 bytes"))?;
    Ok(cmac::Context::with_key(&key))
}

fn cmac_update(ctx: &mut Option<cmac::Context>, data: &[u8]) -> Result<()> {
    let Some(c) = ctx.as_mut() else {
        return Err(finished());
    };
    if c.update(data).is_err() {
        *ctx = None;
        return Err(err(CKR_FUNCTION_FAILED, "CMAC failed"));
    }
    Ok(())
}

fn cmac_finish(ctx: &mut Option<cmac::Context>) -> Result<cmac::Tag> {
    ctx.take()
        .ok_or_else(finished)?
        .sign()
        .map_err(|_| err(CKR_FUNCTION_FAILED, "CMAC failed"))
}

struct CmacSign {
    ctx: Option<cmac::Context>,
}

impl SignOperation for CmacSign {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        cmac_update(&mut self.ctx, data)
    }

    fn finish(&mut self) -> Result<Vec<u8>> {
        Ok(cmac_finish(&mut self.ctx)?.as_ref().to_vec())
    }
}

struct CmacVerify {
    ctx: Option<cmac::Context>,
}

impl VerifyOperation for CmacVerify {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        cmac_update(&mut self.ctx, data)
    }

    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let tag = cmac_finish(&mut self.ctx)?;
        if signature.len() != tag.as_ref().len() {
            return Err(err(CKR_SIGNATURE_LEN_RANGE, "an AES CMAC is 16 bytes"));
        }
        constant_time::verify_slices_are_equal(tag.as_ref(), signature)
            .map_err(|_| err(CKR_SIGNATURE_INVALID, "the CMAC does not match"))
    }
}

// ---------------------------------------------------------------------------------------------
// aws-lc C ABI
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
pub(super) mod tests {
    use super::super::{decrypt_init, encrypt_init, sign_init, unwrap, verify_init, wrap};
    use super::*;
    use zeroize::Zeroizing;

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn key_of(key_type: CK_KEY_TYPE, value: &[u8]) -> Arc<KeyMaterial> {
        Arc::new(KeyMaterial::Secret(SecretKey {
            key_type,
            value: Zeroizing::new(value.to_vec()),
        }))
    }

    fn aes(value: &[u8]) -> Arc<KeyMaterial> {
        key_of(CKK_AES, value)
    }

    fn enc(mech: &Mechanism, key: &Arc<KeyMaterial>, data: &[u8]) -> Result<Vec<u8>> {
        one_shot(encrypt_init(mech, key)?, data)
    }

    fn dec(mech: &Mechanism, key: &Arc<KeyMaterial>, data: &[u8]) -> Result<Vec<u8>> {
        one_shot(decrypt_init(mech, key)?, data)
    }

    /// `one_shot`, whose output length must be the announced one (when announced).
    fn one_shot(mut op: Box<dyn CipherOperation>, data: &[u8]) -> Result<Vec<u8>> {
        let announced = op.one_shot_len(data.len());
        let out = op.one_shot(data)?;
        if let Some(n) = announced {
            assert_eq!(out.len(), n, "one_shot_len");
        }
        Ok(out)
    }

    pub(crate) fn rv<T>(r: Result<T>) -> CK_RV {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.rv,
        }
    }

    /// Runs `op` over `data` split at `cuts`, returning the concatenated output.
    /// Runs `op` over `data` cut at `cuts`; every announced output length must be exact.
    fn in_parts(mut op: Box<dyn CipherOperation>, data: &[u8], cuts: &[usize]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut start = 0;
        for &c in cuts.iter().chain(std::iter::once(&data.len())) {
            let c = c.min(data.len()).max(start);
            let announced = op.update_len(c - start);
            let part = op.update(&data[start..c])?;
            assert_eq!(part.len(), announced, "update_len");
            out.extend(part);
            start = c;
        }
        let announced = op.finish_len();
        let last = op.finish()?;
        if let Some(n) = announced {
            assert_eq!(last.len(), n, "finish_len");
        }
        out.extend(last);
        Ok(out)
    }

    const SPLITS: &[&[usize]] = &[
        &[],
        &[0],
        &[1],
        &[7, 8, 9],
        &[15, 16, 17],
        &[3, 19, 20, 37],
        &[16, 32, 48],
        &[5, 5, 6, 31, 33, 47, 63],
    ];

    /// One-shot encryption and decryption equal every multi-part split, and round-trip.
    pub(crate) fn check_multipart(mech: &Mechanism, key: &Arc<KeyMaterial>, data: &[u8]) {
        let ct = enc(mech, key, data).unwrap();
        assert_eq!(dec(mech, key, &ct).unwrap(), data, "round trip");
        for cuts in SPLITS {
            let parts = in_parts(encrypt_init(mech, key).unwrap(), data, cuts).unwrap();
            assert_eq!(parts, ct, "encrypt split at {cuts:?}");
            let parts = in_parts(decrypt_init(mech, key).unwrap(), &ct, cuts).unwrap();
            assert_eq!(parts, data, "decrypt split at {cuts:?}");
        }
    }

    const K128: &str = "2b7e151628aed2a6abf7158809cf4f3c";
    const K192: &str = "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b";
    const K256: &str = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
    const PLAIN: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                         30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";

    #[test]
    fn sp800_38a_ecb() {
        let m = Mechanism::new(CKM_AES_ECB);
        for (k, c) in [
            (
                K128,
                "3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf
                 43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4",
            ),
            (
                K192,
                "bd334f1d6e45f25ff712a214571fa5cc 974104846d0ad3ad7734ecb3ecee4eef
                 ef7afd2270e2e60adce0ba2face6444e 9a4b41ba738d6c72fb16691603c18e0e",
            ),
            (
                K256,
                "f3eed1bdb5d2a03c064b5a7e3db181f8 591ccb10d410ed26dc5ba74a31362870
                 b6ed21b99ca6f4f9f153e7b1beafed1d 23304b7a39f9f3ff067d8d8f9e24ecc7",
            ),
        ] {
            let key = aes(&hex(k));
            assert_eq!(enc(&m, &key, &hex(PLAIN)).unwrap(), hex(c));
            assert_eq!(dec(&m, &key, &hex(c)).unwrap(), hex(PLAIN));
            check_multipart(&m, &key, &hex(PLAIN));
        }
    }

    #[test]
    fn sp800_38a_cbc() {
        let m = Mechanism::with(
            CKM_AES_CBC,
            MechParams::Bytes(hex("000102030405060708090a0b0c0d0e0f")),
        );
        let key = aes(&hex(K128));
        let c = hex(
            "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2
             73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7",
        );
        assert_eq!(enc(&m, &key, &hex(PLAIN)).unwrap(), c);
        assert_eq!(dec(&m, &key, &c).unwrap(), hex(PLAIN));
        check_multipart(&m, &key, &hex(PLAIN));
    }

    #[test]
    fn sp800_38a_ctr() {
        let key = aes(&hex(K128));
        let c = hex(
            "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff
             5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee",
        );
        let block: [u8; 16] = hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff").try_into().unwrap();
        for bits in [128, 64, 32, 16] {
            let m = Mechanism::with(
                CKM_AES_CTR,
                MechParams::Ctr {
                    counter_bits: bits,
                    counter_block: block,
                },
            );
            assert_eq!(enc(&m, &key, &hex(PLAIN)).unwrap(), c, "{bits}-bit counter");
            assert_eq!(dec(&m, &key, &c).unwrap(), hex(PLAIN));
            check_multipart(&m, &key, &hex(PLAIN));
            // Partial blocks: a prefix of the data gives a prefix of the ciphertext.
            assert_eq!(enc(&m, &key, &hex(PLAIN)[..37]).unwrap(), c[..37]);
        }
    }

    #[test]
    fn ctr_counter_wrap_is_data_len_range() {
        let key = aes(&hex(K128));
        let mut block = [0x11u8; 16];
        block[15] = 0xFE;
        // 8-bit counter at 0xFE: two blocks remain.
        let m = Mechanism::with(
            CKM_AES_CTR,
            MechParams::Ctr {
                counter_bits: 8,
                counter_block: block,
            },
        );
        assert_eq!(enc(&m, &key, &[0u8; 32]).unwrap().len(), 32);
        assert_eq!(rv(enc(&m, &key, &[0u8; 33])), CKR_DATA_LEN_RANGE);
        assert_eq!(rv(dec(&m, &key, &[0u8; 33])), CKR_DATA_LEN_RANGE);
        // Multi-part: the limit counts across updates, partial blocks included.
        let mut op = encrypt_init(&m, &key).unwrap();
        assert_eq!(op.update(&[0u8; 20]).unwrap().len(), 20);
        assert_eq!(op.update(&[0u8; 12]).unwrap().len(), 12);
        assert_eq!(rv(op.update(&[0u8; 1])), CKR_DATA_LEN_RANGE);
        // A 128-bit counter at its maximum allows exactly one block.
        let m = Mechanism::with(
            CKM_AES_CTR,
            MechParams::Ctr {
                counter_bits: 128,
                counter_block: [0xFF; 16],
            },
        );
        assert!(enc(&m, &key, &[0u8; 16]).is_ok());
        assert_eq!(rv(enc(&m, &key, &[0u8; 17])), CKR_DATA_LEN_RANGE);
        // The counter increments only in its low bits: with 8 bits at 0xFF, the last block's
        // counter is ..FF, and the bits above are never touched.
        let mut block = [0u8; 16];
        block[15] = 0xFF;
        let m8 = Mechanism::with(
            CKM_AES_CTR,
            MechParams::Ctr {
                counter_bits: 8,
                counter_block: block,
            },
        );
        let m128 = Mechanism::with(
            CKM_AES_CTR,
            MechParams::Ctr {
                counter_bits: 128,
                counter_block: block,
            },
        );
        assert_eq!(
            enc(&m8, &key, &[0u8; 16]).unwrap(),
            enc(&m128, &key, &[0u8; 16]).unwrap()
        );
        assert_eq!(rv(enc(&m8, &key, &[0u8; 17])), CKR_DATA_LEN_RANGE);
        for bits in [0, 129] {
            let m = Mechanism::with(
                CKM_AES_CTR,
                MechParams::Ctr {
                    counter_bits: bits,
                    counter_block: block,
                },
            );
            assert_eq!(rv(encrypt_init(&m, &key)), CKR_MECHANISM_PARAM_INVALID);
        }
        assert_eq!(
            rv(encrypt_init(&Mechanism::new(CKM_AES_CTR), &key)),
            CKR_MECHANISM_PARAM_INVALID
        );
    }

    #[test]
    fn cbc_pad() {
        let key = aes(&hex(K128));
        let m = Mechanism::with(
            CKM_AES_CBC_PAD,
            MechParams::Bytes(hex("000102030405060708090a0b0c0d0e0f")),
        );
        let data: Vec<u8> = (0u8..=255).collect();
        // Cross-checked with `openssl enc -aes-128-cbc`.
        assert_eq!(
            enc(&m, &key, &data[..13]).unwrap(),
            hex("e5ae9fba2e040e7367740eab455c1db6")
        );
        for len in 0..=50 {
            let ct = enc(&m, &key, &data[..len]).unwrap();
            assert_eq!(ct.len(), (len / 16 + 1) * 16);
            check_multipart(&m, &key, &data[..len]);
        }
        // Decryption holds back the last block until finish.
        let ct = enc(&m, &key, &data[..32]).unwrap();
        assert_eq!(ct.len(), 48);
        let mut op = decrypt_init(&m, &key).unwrap();
        assert_eq!(op.update(&ct[..32]).unwrap(), data[..16]);
        assert_eq!(op.update(&ct[32..40]).unwrap(), data[16..32]);
        assert_eq!(op.update(&ct[40..]).unwrap(), b"");
        assert_eq!(op.finish().unwrap(), b"");
        // Encryption returns whole blocks as soon as they are there.
        let mut op = encrypt_init(&m, &key).unwrap();
        assert_eq!(op.update(&data[..15]).unwrap().len(), 0);
        assert_eq!(op.update(&data[15..20]).unwrap().len(), 16);
        assert_eq!(op.finish().unwrap().len(), 16);
        // Bad padding, bad lengths.
        let mut bad = enc(&m, &key, &data[..20]).unwrap();
        let n = bad.len();
        bad[n - 17] ^= 0x01; // flips the last plaintext byte (a padding byte) through CBC
        assert_eq!(rv(dec(&m, &key, &bad)), CKR_ENCRYPTED_DATA_INVALID);
        // A last block decrypting to a zero padding byte.
        let ecb = Mechanism::new(CKM_AES_ECB);
        let zero_pad = enc(
            &Mechanism::with(CKM_AES_CBC, m.params.clone()),
            &key,
            &[0u8; 16],
        )
        .unwrap();
        assert_eq!(rv(dec(&m, &key, &zero_pad)), CKR_ENCRYPTED_DATA_INVALID);
        let big_pad = enc(
            &Mechanism::with(CKM_AES_CBC, m.params.clone()),
            &key,
            &[17u8; 16],
        )
        .unwrap();
        assert_eq!(rv(dec(&m, &key, &big_pad)), CKR_ENCRYPTED_DATA_INVALID);
        assert!(enc(&ecb, &key, &[0u8; 16]).is_ok());
        assert_eq!(
            rv(dec(&m, &key, &bad[..n - 1])),
            CKR_ENCRYPTED_DATA_LEN_RANGE
        );
        assert_eq!(rv(dec(&m, &key, &[])), CKR_ENCRYPTED_DATA_LEN_RANGE);
        assert_eq!(rv(dec(&m, &key, &bad[..15])), CKR_ENCRYPTED_DATA_LEN_RANGE);
    }

    #[test]
    fn pkcs7_check() {
        assert_eq!(pkcs7_unpadded_len(&[1, 2, 3, 4, 5, 6, 7, 1]), Some(7));
        assert_eq!(pkcs7_unpadded_len(&[8; 8]), Some(0));
        assert_eq!(pkcs7_unpadded_len(&[1, 2, 3, 4, 5, 3, 3, 3]), Some(5));
        assert_eq!(pkcs7_unpadded_len(&[1, 2, 3, 4, 5, 2, 3, 3]), None);
        assert_eq!(pkcs7_unpadded_len(&[1, 2, 3, 4, 5, 6, 7, 0]), None);
        assert_eq!(pkcs7_unpadded_len(&[9; 8]), None);
        assert_eq!(pkcs7_unpadded_len(&[]), None);
    }

    #[test]
    fn ecb_cbc_length_and_param_errors() {
        let key = aes(&hex(K128));
        let iv = MechParams::Bytes(vec![0; 16]);
        for m in [
            Mechanism::new(CKM_AES_ECB),
            Mechanism::with(CKM_AES_CBC, iv.clone()),
        ] {
            assert_eq!(rv(enc(&m, &key, &[0; 15])), CKR_DATA_LEN_RANGE);
            assert_eq!(rv(enc(&m, &key, &[0; 33])), CKR_DATA_LEN_RANGE);
            assert_eq!(rv(dec(&m, &key, &[0; 17])), CKR_ENCRYPTED_DATA_LEN_RANGE);
            assert_eq!(enc(&m, &key, &[]).unwrap(), b"");
            assert_eq!(dec(&m, &key, &[]).unwrap(), b"");
            // Multi-part: the partial block is only an error at finish.
            let mut op = encrypt_init(&m, &key).unwrap();
            assert_eq!(op.update(&[0; 20]).unwrap().len(), 16);
            assert_eq!(rv(op.finish()), CKR_DATA_LEN_RANGE);
            // The operation is over after finish.
            assert_eq!(rv(op.update(&[0; 16])), CKR_OPERATION_NOT_INITIALIZED);
            assert_eq!(rv(op.finish()), CKR_OPERATION_NOT_INITIALIZED);
            let mut op = decrypt_init(&m, &key).unwrap();
            assert_eq!(op.update(&[0; 20]).unwrap().len(), 16);
            assert_eq!(rv(op.finish()), CKR_ENCRYPTED_DATA_LEN_RANGE);
        }
        for params in [
            MechParams::None,
            MechParams::Bytes(vec![0; 15]),
            MechParams::Bytes(vec![0; 17]),
        ] {
            for mt in [CKM_AES_CBC, CKM_AES_CBC_PAD] {
                let m = Mechanism::with(mt, params.clone());
                assert_eq!(rv(encrypt_init(&m, &key)), CKR_MECHANISM_PARAM_INVALID);
                assert_eq!(rv(decrypt_init(&m, &key)), CKR_MECHANISM_PARAM_INVALID);
            }
        }
        assert_eq!(
            rv(encrypt_init(&Mechanism::with(CKM_AES_ECB, iv), &key)),
            CKR_MECHANISM_PARAM_INVALID
        );
    }

    #[test]
    fn key_checks() {
        let m = Mechanism::new(CKM_AES_ECB);
        for len in [0, 8, 15, 17, 31, 33, 64] {
            assert_eq!(
                rv(encrypt_init(&m, &aes(&vec![1; len]))),
                CKR_KEY_SIZE_RANGE,
                "{len}"
            );
            assert_eq!(
                rv(sign_init(
                    &Mechanism::new(CKM_AES_CMAC),
                    &aes(&vec![1; len])
                )),
                CKR_KEY_SIZE_RANGE
            );
        }
        assert_eq!(
            rv(encrypt(&m, &key_of(CKK_DES3, &[1; 24]))),
            CKR_KEY_TYPE_INCONSISTENT
        );
        fn encrypt(m: &Mechanism, k: &Arc<KeyMaterial>) -> Result<Box<dyn CipherOperation>> {
            super::encryptor(m, k)
        }
        assert_eq!(
            rv(super::signer(&Mechanism::new(CKM_AES_ECB), &aes(&[1; 16]))),
            CKR_MECHANISM_INVALID
        );
    }

    fn gcm(iv: &str, aad: &str, tag_bits: CK_ULONG) -> Mechanism {
        Mechanism::with(
            CKM_AES_GCM,
            MechParams::Gcm {
                iv: hex(iv),
                aad: hex(aad),
                tag_bits,
            },
        )
    }

    const GCM_K: &str = "feffe9928665731c6d6a8f9467308308";
    const GCM_IV: &str = "cafebabefacedbaddecaf888";
    const GCM_P: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
                         1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
    const GCM_C: &str = "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
                         21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985";
    const GCM_A: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";

    #[test]
    fn gcm_mcgrew_viega_test_cases_3_and_4() {
        let key = aes(&hex(GCM_K));
        // Test case 3: no AAD.
        let m = gcm(GCM_IV, "", 128);
        let expected = [hex(GCM_C), hex("4d5c2af327cd64a62cf35abd2ba6fab4")].concat();
        assert_eq!(enc(&m, &key, &hex(GCM_P)).unwrap(), expected);
        assert_eq!(dec(&m, &key, &expected).unwrap(), hex(GCM_P));
        check_multipart(&m, &key, &hex(GCM_P));
        // Test case 4: AAD, 60-byte plaintext.
        let m = gcm(GCM_IV, GCM_A, 128);
        let expected = [
            hex(GCM_C)[..60].to_vec(),
            hex("5bc94fbc3221a5db94fae95ae7121a47"),
        ]
        .concat();
        assert_eq!(enc(&m, &key, &hex(GCM_P)[..60]).unwrap(), expected);
        assert_eq!(dec(&m, &key, &expected).unwrap(), hex(GCM_P)[..60]);
        check_multipart(&m, &key, &hex(GCM_P)[..60]);
        // Encryption streams; the tag comes out of finish. Decryption releases nothing
        // before the tag verifies.
        let mut op = encrypt_init(&m, &key).unwrap();
        assert_eq!(op.update(&hex(GCM_P)[..60]).unwrap(), expected[..60]);
        assert_eq!(op.finish().unwrap(), expected[60..]);
        let mut op = decrypt_init(&m, &key).unwrap();
        assert_eq!(op.update(&expected).unwrap(), b"");
        assert_eq!(op.finish().unwrap(), hex(GCM_P)[..60]);
        // Authentication failures.
        for i in [0, 59, 60, 75] {
            let mut bad = expected.clone();
            bad[i] ^= 0x80;
            assert_eq!(
                rv(dec(&m, &key, &bad)),
                CKR_ENCRYPTED_DATA_INVALID,
                "flip at {i}"
            );
        }
        assert_eq!(
            rv(dec(&gcm(GCM_IV, "", 128), &key, &expected)),
            CKR_ENCRYPTED_DATA_INVALID
        );
        // Shorter than the tag: not authentic either.
        assert_eq!(
            rv(dec(&m, &key, &expected[..15])),
            CKR_ENCRYPTED_DATA_INVALID
        );
        // Empty plaintext: the output is the tag alone.
        let tag_only = enc(&m, &key, &[]).unwrap();
        assert_eq!(tag_only.len(), 16);
        assert_eq!(dec(&m, &key, &tag_only).unwrap(), b"");
    }

    #[test]
    fn gcm_mcgrew_viega_test_cases_5_and_6_other_iv_lengths() {
        let key = aes(&hex(GCM_K));
        let p = &hex(GCM_P)[..60];
        for (iv, c, t) in [
            (
                "cafebabefacedbad",
                "61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c7423
                 73806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598",
                "3612d2e79e3b0785561be14aaca2fccb",
            ),
            (
                "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728
                 c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b",
                "8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca7
                 01e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5",
                "619cc5aefffe0bfa462af43c1699d050",
            ),
        ] {
            let m = gcm(iv, GCM_A, 128);
            let expected = [hex(c), hex(t)].concat();
            assert_eq!(enc(&m, &key, p).unwrap(), expected);
            assert_eq!(dec(&m, &key, &expected).unwrap(), p);
            check_multipart(&m, &key, p);
            let mut bad = expected.clone();
            bad[70] ^= 2;
            assert_eq!(rv(dec(&m, &key, &bad)), CKR_ENCRYPTED_DATA_INVALID);
            // A 96-bit tag is the prefix.
            let m96 = gcm(iv, GCM_A, 96);
            assert_eq!(enc(&m96, &key, p).unwrap(), expected[..72]);
            assert_eq!(dec(&m96, &key, &expected[..72]).unwrap(), p);
        }
        // One-byte and odd-length IVs round-trip; the IV matters.
        let a = enc(&gcm("01", "", 128), &key, p).unwrap();
        let b = enc(&gcm("02", "", 128), &key, p).unwrap();
        assert_ne!(a, b);
        assert_eq!(dec(&gcm("01", "", 128), &key, &a).unwrap(), p);
        assert_eq!(
            rv(dec(&gcm("02", "", 128), &key, &a)),
            CKR_ENCRYPTED_DATA_INVALID
        );
        check_multipart(&gcm("cafebabefacedbaddecaf88800", "", 128), &key, p);
    }

    #[test]
    fn gcm_truncated_tags_and_params() {
        let key = aes(&hex(GCM_K));
        let full = enc(&gcm(GCM_IV, GCM_A, 128), &key, &hex(GCM_P)[..60]).unwrap();
        for bits in [32, 64, 96, 104, 112, 120] {
            let m = gcm(GCM_IV, GCM_A, bits);
            let ct = enc(&m, &key, &hex(GCM_P)[..60]).unwrap();
            let n = 60 + bits as usize / 8;
            assert_eq!(ct, full[..n], "{bits}-bit tag is a prefix of the full tag");
            assert_eq!(dec(&m, &key, &ct).unwrap(), hex(GCM_P)[..60]);
            check_multipart(&m, &key, &hex(GCM_P)[..60]);
            let mut bad = ct.clone();
            bad[n - 1] ^= 1;
            assert_eq!(rv(dec(&m, &key, &bad)), CKR_ENCRYPTED_DATA_INVALID);
            bad = ct.clone();
            bad[3] ^= 1;
            assert_eq!(rv(dec(&m, &key, &bad)), CKR_ENCRYPTED_DATA_INVALID);
            assert_eq!(
                rv(dec(&gcm(GCM_IV, "00", bits), &key, &ct)),
                CKR_ENCRYPTED_DATA_INVALID
            );
        }
        // All key sizes work.
        for k in [K128, K192, K256] {
            check_multipart(&gcm(GCM_IV, GCM_A, 96), &aes(&hex(k)), &hex(GCM_P));
        }
        for m in [
            gcm("", "", 128),
            gcm(GCM_IV, "", 0),
            gcm(GCM_IV, "", 100),
            gcm(GCM_IV, "", 136),
            Mechanism::with(CKM_AES_GCM, MechParams::Bytes(hex(GCM_IV))),
        ] {
            assert_eq!(rv(encrypt_init(&m, &key)), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(rv(decrypt_init(&m, &key)), CKR_MECHANISM_PARAM_INVALID);
        }
    }

    #[test]
    fn rfc3394_vectors() {
        let m = Mechanism::new(CKM_AES_KEY_WRAP);
        let kek = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F";
        for (kek_len, data, wrapped) in [
            (
                16,
                "00112233445566778899AABBCCDDEEFF",
                "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5",
            ),
            (
                24,
                "00112233445566778899AABBCCDDEEFF",
                "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D",
            ),
            (
                32,
                "00112233445566778899AABBCCDDEEFF",
                "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7",
            ),
            (
                24,
                "00112233445566778899AABBCCDDEEFF0001020304050607",
                "031D33264E15D33268F24EC260743EDCE1C6C7DDEE725A936BA814915C6762D2",
            ),
            (
                32,
                "00112233445566778899AABBCCDDEEFF0001020304050607",
                "A8F9BC1612C68B3FF6E6F4FBE30E71E4769C8B80A32CB8958CD5D17D6B254DA1",
            ),
            (
                32,
                "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
                "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21",
            ),
        ] {
            let key = aes(&hex(kek)[..kek_len]);
            assert_eq!(enc(&m, &key, &hex(data)).unwrap(), hex(wrapped));
            assert_eq!(dec(&m, &key, &hex(wrapped)).unwrap(), hex(data));
            check_multipart(&m, &key, &hex(data));
            // Through the engine's wrap/unwrap entry points.
            assert_eq!(wrap(&m, &key, &hex(data)).unwrap(), hex(wrapped));
            assert_eq!(*unwrap(&m, &key, &hex(wrapped)).unwrap(), hex(data));
            let mut bad = hex(wrapped);
            bad[5] ^= 4;
            assert_eq!(rv(dec(&m, &key, &bad)), CKR_ENCRYPTED_DATA_INVALID);
            assert_eq!(rv(unwrap(&m, &key, &bad)), CKR_WRAPPED_KEY_INVALID);
        }
        // The standard IV may be given explicitly; any other is refused.
        let key = aes(&hex(kek)[..16]);
        let explicit = Mechanism::with(CKM_AES_KEY_WRAP, MechParams::Bytes(vec![0xA6; 8]));
        assert_eq!(
            enc(&explicit, &key, &[7; 16]).unwrap(),
            enc(&m, &key, &[7; 16]).unwrap()
        );
        for p in [
            MechParams::Bytes(vec![0xA5; 8]),
            MechParams::Bytes(vec![0xA6; 4]),
            MechParams::Bytes(vec![0xA6; 16]),
        ] {
            assert_eq!(
                rv(encrypt_init(&Mechanism::with(CKM_AES_KEY_WRAP, p), &key)),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        // Length errors.
        for len in [0, 8, 12, 17, 23] {
            assert_eq!(
                rv(enc(&m, &key, &vec![1; len])),
                CKR_DATA_LEN_RANGE,
                "{len}"
            );
        }
        assert_eq!(rv(wrap(&m, &key, &[1; 12])), CKR_KEY_SIZE_RANGE);
        for len in [0, 8, 16, 23, 25, 31] {
            assert_eq!(
                rv(dec(&m, &key, &vec![1; len])),
                CKR_ENCRYPTED_DATA_LEN_RANGE,
                "{len}"
            );
        }
    }

    #[test]
    fn key_wrap_all_lengths() {
        use aws_lc_rs::key_wrap::{AES_128 as KW128, AES_256 as KW256};
        let kek: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37)).collect();
        let kw = Mechanism::new(CKM_AES_KEY_WRAP);
        let kwp = Mechanism::new(CKM_AES_KEY_WRAP_KWP);
        for len in [16, 24, 32] {
            let key = aes(&kek[..len]);
            for n in 1..=72usize {
                let data: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
                let wrapped = enc(&kwp, &key, &data).unwrap();
                assert_eq!(wrapped.len(), n.div_ceil(8) * 8 + 8, "KWP {len} {n}");
                assert_eq!(dec(&kwp, &key, &wrapped).unwrap(), data, "KWP {len} {n}");
                if n % 8 == 0 && n >= 16 {
                    let wrapped = enc(&kw, &key, &data).unwrap();
                    assert_eq!(dec(&kw, &key, &wrapped).unwrap(), data, "KW {len} {n}");
                }
            }
        }
        // The 128- and 256-bit paths are `aws_lc_rs::key_wrap` itself.
        for (cipher, len) in [(&KW128, 16), (&KW256, 32)] {
            let data = [0x5Au8; 40];
            let mut out = [0u8; 48];
            let expect = AesKek::new(cipher, &kek[..len])
                .unwrap()
                .wrap(&data, &mut out)
                .unwrap();
            assert_eq!(enc(&kw, &aes(&kek[..len]), &data).unwrap(), expect);
        }
    }

    #[test]
    fn rfc5649_vectors() {
        let kek = aes(&hex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"));
        for mt in [CKM_AES_KEY_WRAP_KWP, CKM_AES_KEY_WRAP_PAD] {
            let m = Mechanism::new(mt);
            for (data, wrapped) in [
                (
                    "c37b7e6492584340bed12207808941155068f738",
                    "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a",
                ),
                ("466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"),
            ] {
                assert_eq!(enc(&m, &kek, &hex(data)).unwrap(), hex(wrapped));
                assert_eq!(dec(&m, &kek, &hex(wrapped)).unwrap(), hex(data));
                check_multipart(&m, &kek, &hex(data));
                let mut bad = hex(wrapped);
                bad[9] ^= 1;
                assert_eq!(rv(dec(&m, &kek, &bad)), CKR_ENCRYPTED_DATA_INVALID);
            }
            assert_eq!(rv(enc(&m, &kek, &[])), CKR_DATA_LEN_RANGE);
            for len in [0, 8, 15, 17, 25] {
                assert_eq!(
                    rv(dec(&m, &kek, &vec![3; len])),
                    CKR_ENCRYPTED_DATA_LEN_RANGE,
                    "{len}"
                );
            }
            // An RFC 3394 wrapping does not pass the RFC 5649 check, and vice versa.
            let kw = enc(&Mechanism::new(CKM_AES_KEY_WRAP), &kek, &[5; 16]).unwrap();
            assert_eq!(rv(dec(&m, &kek, &kw)), CKR_ENCRYPTED_DATA_INVALID);
            let kwp = enc(&m, &kek, &[5; 16]).unwrap();
            assert_eq!(
                rv(dec(&Mechanism::new(CKM_AES_KEY_WRAP), &kek, &kwp)),
                CKR_ENCRYPTED_DATA_INVALID
            );
            // A wrapping whose length indicator is inconsistent (here: too small for the
            // padded length) is refused: wrap 17 bytes, whose semiblocks are 24, with MLI 8.
            let mut aiv = KWP_IV.to_vec();
            aiv.extend_from_slice(&8u32.to_be_bytes());
            let mut forged = vec![0u8; 32];
            let kek192 = hex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8");
            let written = sys::Kek192::new(&kek192, true).unwrap().wrap(
                Some(&aiv.try_into().unwrap()),
                &[0; 24],
                &mut forged,
            );
            assert_eq!(written, Some(32));
            assert_eq!(rv(dec(&m, &kek, &forged)), CKR_ENCRYPTED_DATA_INVALID);
            // Explicit standard IV, and a non-standard one.
            let explicit = Mechanism::with(mt, MechParams::Bytes(KWP_IV.to_vec()));
            assert_eq!(
                enc(&explicit, &kek, &[9; 5]).unwrap(),
                enc(&m, &kek, &[9; 5]).unwrap()
            );
            let other = Mechanism::with(mt, MechParams::Bytes(vec![0xA6; 8]));
            assert_eq!(rv(encrypt_init(&other, &kek)), CKR_MECHANISM_PARAM_INVALID);
        }
    }

    #[test]
    fn rfc4493_cmac() {
        let key = aes(&hex(K128));
        let m = Mechanism::new(CKM_AES_CMAC);
        let msg = hex(PLAIN);
        for (len, mac) in [
            (0, "bb1d6929e95937287fa37d129b756746"),
            (16, "070a16b46b4d4144f79bdd9dd04a287c"),
            (40, "dfa66747de9ae63030ca32611497c827"),
            (64, "51f0bebf7e3b9d92fc49741779363cfe"),
        ] {
            let data = &msg[..len];
            assert_eq!(
                sign_init(&m, &key).unwrap().one_shot(data).unwrap(),
                hex(mac)
            );
            for cuts in SPLITS {
                let mut op = sign_init(&m, &key).unwrap();
                let mut v = verify_init(&m, &key).unwrap();
                let mut start = 0;
                for &c in cuts.iter().chain(std::iter::once(&len)) {
                    let c = c.min(len).max(start);
                    op.update(&data[start..c]).unwrap();
                    v.update(&data[start..c]).unwrap();
                    start = c;
                }
                assert_eq!(op.finish().unwrap(), hex(mac));
                v.finish(&hex(mac)).unwrap();
            }
            let mut bad = hex(mac);
            bad[15] ^= 1;
            assert_eq!(
                rv(verify_init(&m, &key).unwrap().one_shot(data, &bad)),
                CKR_SIGNATURE_INVALID
            );
            assert_eq!(
                rv(verify_init(&m, &key).unwrap().one_shot(data, &bad[..15])),
                CKR_SIGNATURE_LEN_RANGE
            );
            assert_eq!(
                rv(verify_init(&m, &key)
                    .unwrap()
                    .one_shot(data, &[bad.clone(), vec![0]].concat())),
                CKR_SIGNATURE_LEN_RANGE
            );
        }
        for k in [K192, K256] {
            let key = aes(&hex(k));
            let mac = sign_init(&m, &key).unwrap().one_shot(&msg).unwrap();
            assert_eq!(mac.len(), 16);
            verify_init(&m, &key).unwrap().one_shot(&msg, &mac).unwrap();
        }
        let with_params = Mechanism::with(CKM_AES_CMAC, MechParams::MacLength(8));
        assert_eq!(
            rv(sign_init(&with_params, &key)),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            rv(verify_init(&with_params, &key)),
            CKR_MECHANISM_PARAM_INVALID
        );
        let mut op = sign_init(&m, &key).unwrap();
        op.finish().unwrap();
        assert_eq!(rv(op.update(b"x")), CKR_OPERATION_NOT_INITIALIZED);
        assert_eq!(rv(op.finish()), CKR_OPERATION_NOT_INITIALIZED);
    }

    #[test]
    fn operations_are_single_use() {
        let key = aes(&hex(K128));
        let block = [0u8; 16];
        for m in [
            Mechanism::new(CKM_AES_ECB),
            Mechanism::with(CKM_AES_CBC_PAD, MechParams::Bytes(vec![0; 16])),
            Mechanism::with(
                CKM_AES_CTR,
                MechParams::Ctr {
                    counter_bits: 32,
                    counter_block: block,
                },
            ),
            gcm(GCM_IV, "", 128),
            Mechanism::new(CKM_AES_KEY_WRAP),
            Mechanism::new(CKM_AES_KEY_WRAP_KWP),
        ] {
            let mut op = encrypt_init(&m, &key).unwrap();
            op.one_shot(&[1; 32]).unwrap();
            assert_eq!(rv(op.update(&[1; 32])), CKR_OPERATION_NOT_INITIALIZED);
            assert_eq!(rv(op.finish()), CKR_OPERATION_NOT_INITIALIZED);
            let mut op = decrypt_init(&m, &key).unwrap();
            let _ = op.one_shot(&[1; 32]);
            assert_eq!(rv(op.finish()), CKR_OPERATION_NOT_INITIALIZED);
        }
    }

    #[test]
    fn no_panics_on_any_length() {
        let key = aes(&hex(K256));
        let mechs = [
            Mechanism::new(CKM_AES_ECB),
            Mechanism::with(CKM_AES_CBC, MechParams::Bytes(vec![3; 16])),
            Mechanism::with(CKM_AES_CBC_PAD, MechParams::Bytes(vec![3; 16])),
            Mechanism::with(
                CKM_AES_CTR,
                MechParams::Ctr {
                    counter_bits: 16,
                    counter_block: [9; 16],
                },
            ),
            gcm(GCM_IV, GCM_A, 128),
            gcm(GCM_IV, GCM_A, 32),
            Mechanism::new(CKM_AES_KEY_WRAP),
            Mechanism::new(CKM_AES_KEY_WRAP_PAD),
            Mechanism::new(CKM_AES_KEY_WRAP_KWP),
        ];
        for m in &mechs {
            for len in 0..=80usize {
                let data: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
                if let Ok(ct) = enc(m, &key, &data) {
                    assert_eq!(dec(m, &key, &ct).unwrap(), data, "{m:?} {len}");
                }
                // Garbage ciphertext: an error or some output, never a panic.
                let _ = dec(m, &key, &data);
            }
        }
        // A larger buffer through the streaming modes.
        let big: Vec<u8> = (0..100_003u32).map(|i| i as u8).collect();
        for m in &mechs[2..5] {
            check_multipart(m, &key, &big);
        }
    }
}
