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
//! - GCM: only 96-bit IVs (aws-lc-rs exposes no GHASH for longer IVs): any other IV length is
//!   `CKR_MECHANISM_PARAM_INVALID`. Tag lengths of 32, 64, 96, 104, 112, 120 and 128 bits (the
//!   SP 800-38D set) are supported; others are `CKR_MECHANISM_PARAM_INVALID` (simulator-defined:
//!   PKCS#11 allows 0..=128). Truncated tags are verified by decrypting with AES-CTR from
//!   `IV || 00000002`, recomputing the full tag and comparing the prefix in constant time.
//!   Authentication failure is `CKR_ENCRYPTED_DATA_INVALID` (the v2.40 code, not 3.0's
//!   `CKR_AEAD_DECRYPT_FAILED`). Input is buffered; all output comes from `finish`.
//! - Key wrap: RFC 3394 / RFC 5649 are implemented here over aws-lc-rs' AES block function, not
//!   with `aws_lc_rs::key_wrap`, because that module has no AES-192 KEK (and the RFC 5649 test
//!   vectors use one). The tests cross-check against `aws_lc_rs::key_wrap` for 128/256-bit KEKs.
//!   `CKM_AES_KEY_WRAP_PAD` is RFC 5649 like `CKM_AES_KEY_WRAP_KWP` (simulator-defined: v2.40's
//!   `_PAD` is ambiguous and some vendors apply PKCS#7 padding then RFC 3394; PKCS#11 3.0 names
//!   that `CKM_AES_KEY_WRAP_PKCS7`, which this simulator does not offer). The optional mechanism
//!   parameter is the initial value: it must be the standard one (`A6A6A6A6A6A6A6A6` for KW,
//!   `A65959A6` for KWP), anything else is `CKR_MECHANISM_PARAM_INVALID`. An empty parameter
//!   counts as absent.
//! - `CKM_AES_CMAC` produces the full 16-byte MAC; a verification signature of another length is
//!   `CKR_SIGNATURE_LEN_RANGE`.
use super::*;
use crate::error::{Result, err};
use aws_lc_rs::cipher::{
    AES_128, AES_192, AES_256, Algorithm, DecryptingKey, DecryptionContext, EncryptingKey,
    EncryptionContext, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::{aead, cmac, constant_time};
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
        CKM_AES_GCM => Box::new(AesGcm::new(mech, value, encrypt)?),
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

fn aes_failed(_: aws_lc_rs::error::Unspecified) -> crate::error::Error {
    err(CKR_FUNCTION_FAILED, "the AES primitive failed")
}

fn finished() -> crate::error::Error {
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

    fn update_inner(&mut self, input: &[u8]) -> Result<Vec<u8>> {
        let b = self.block;
        let total = self.pending.len() + input.len();
        let ready = if self.pad && !self.encrypt {
            // Hold back at least one byte, so the last block is unpadded in `finish`.
            total.saturating_sub(1) / b * b
        } else {
            total / b * b
        };
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
}

impl Drop for AesCtr {
    fn drop(&mut self) {
        self.ks.zeroize();
    }
}

// ---------------------------------------------------------------------------------------------
// GCM
// ---------------------------------------------------------------------------------------------

struct AesGcm {
    key: aead::LessSafeKey,
    /// AES-CTR on the same key, to verify truncated tags.
    ctr: Option<EncryptingKey>,
    nonce: [u8; aead::NONCE_LEN],
    aad: Vec<u8>,
    tag_len: usize,
    encrypt: bool,
    buf: Zeroizing<Vec<u8>>,
    done: bool,
}

impl AesGcm {
    fn new(mech: &Mechanism, key: &[u8], encrypt: bool) -> Result<Self> {
        let MechParams::Gcm { iv, aad, tag_bits } = &mech.params else {
            return Err(err(
                CKR_MECHANISM_PARAM_INVALID,
                "AES GCM needs CK_GCM_PARAMS",
            ));
        };
        let nonce: [u8; aead::NONCE_LEN] = iv.as_slice().try_into().map_err(|_| {
            err(
                CKR_MECHANISM_PARAM_INVALID,
                "only 12-byte GCM IVs are supported",
            )
        })?;
        if !matches!(*tag_bits, 32 | 64 | 96 | 104 | 112 | 120 | 128) {
            return Err(err(
                CKR_MECHANISM_PARAM_INVALID,
                "GCM tags are 32, 64, 96, 104, 112, 120 or 128 bits",
            ));
        }
        let tag_len = (*tag_bits / 8) as usize;
        let algorithm = match key.len() {
            16 => &aead::AES_128_GCM,
            24 => &aead::AES_192_GCM,
            _ => &aead::AES_256_GCM,
        };
        let unbound = aead::UnboundKey::new(algorithm, key)
            .map_err(|_| err(CKR_KEY_SIZE_RANGE, "AES keys are 16, 24 or 32 bytes"))?;
        let ctr = if !encrypt && tag_len != BLOCK {
            Some(EncryptingKey::ctr(self::unbound(key)?).map_err(aes_failed)?)
        } else {
            None
        };
        Ok(AesGcm {
            key: aead::LessSafeKey::new(unbound),
            ctr,
            nonce,
            aad: aad.clone(),
            tag_len,
            encrypt,
            buf: Zeroizing::new(Vec::new()),
            done: false,
        })
    }

    fn nonce(&self) -> aead::Nonce {
        aead::Nonce::assume_unique_for_key(self.nonce)
    }

    fn seal(&mut self) -> Result<Vec<u8>> {
        if self.buf.len() as u64 > GCM_MAX_DATA {
            return Err(err(
                CKR_DATA_LEN_RANGE,
                "too much data for one GCM encryption",
            ));
        }
        let tag = self
            .key
            .seal_in_place_separate_tag(self.nonce(), aead::Aad::from(&self.aad), &mut self.buf)
            .map_err(|_| err(CKR_DATA_LEN_RANGE, "GCM encryption failed"))?;
        let mut out = std::mem::take(&mut *self.buf);
        out.extend_from_slice(&tag.as_ref()[..self.tag_len]);
        Ok(out)
    }

    fn open(&mut self) -> Result<Vec<u8>> {
        let Some(ct_len) = self.buf.len().checked_sub(self.tag_len) else {
            return Err(err(
                CKR_ENCRYPTED_DATA_LEN_RANGE,
                "the GCM ciphertext is shorter than its tag",
            ));
        };
        if ct_len as u64 > GCM_MAX_DATA {
            return Err(err(
                CKR_ENCRYPTED_DATA_LEN_RANGE,
                "too much data for one GCM decryption",
            ));
        }
        let mut data = std::mem::take(&mut *self.buf);
        let tag = data.split_off(ct_len);
        let invalid = || err(CKR_ENCRYPTED_DATA_INVALID, "the GCM tag does not verify");
        match &self.ctr {
            None => {
                let opened = self.key.open_in_place_separate_tag(
                    self.nonce(),
                    aead::Aad::from(&self.aad),
                    &tag,
                    &mut data,
                );
                if opened.is_err() {
                    data.zeroize();
                    return Err(invalid());
                }
            }
            Some(ctr) => {
                // Truncated tag: decrypt with the GCM counter (J0 + 1 = IV || 00000002), re-seal a
                // copy to get the full tag, and compare the prefix.
                let mut counter = [0u8; BLOCK];
                counter[..aead::NONCE_LEN].copy_from_slice(&self.nonce);
                counter[BLOCK - 1] = 2;
                ctr.less_safe_encrypt(&mut data, iv128(counter))
                    .map_err(aes_failed)?;
                let mut copy = Zeroizing::new(data.clone());
                let full = self
                    .key
                    .seal_in_place_separate_tag(self.nonce(), aead::Aad::from(&self.aad), &mut copy)
                    .map_err(|_| invalid())?;
                if constant_time::verify_slices_are_equal(&full.as_ref()[..self.tag_len], &tag)
                    .is_err()
                {
                    data.zeroize();
                    return Err(invalid());
                }
            }
        }
        Ok(data)
    }
}

impl CipherOperation for AesGcm {
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
        let result = if self.encrypt {
            self.seal()
        } else {
            self.open()
        };
        self.buf.zeroize();
        result
    }
}

// ---------------------------------------------------------------------------------------------
// Key wrap (RFC 3394, RFC 5649)
// ---------------------------------------------------------------------------------------------

enum KekSchedule {
    Enc(EncryptingKey),
    Dec(DecryptingKey),
}

struct AesKeyWrap {
    kek: KekSchedule,
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
        let kek = if encrypt {
            KekSchedule::Enc(EncryptingKey::ecb(unbound(key)?).map_err(aes_failed)?)
        } else {
            KekSchedule::Dec(DecryptingKey::ecb(unbound(key)?).map_err(aes_failed)?)
        };
        Ok(AesKeyWrap {
            kek,
            padded,
            buf: Zeroizing::new(Vec::new()),
            done: false,
        })
    }

    fn run(&self) -> Result<Vec<u8>> {
        let data: &[u8] = &self.buf;
        match (&self.kek, self.padded) {
            (KekSchedule::Enc(k), false) => {
                if data.len() & 7 != 0 || data.len() < 16 {
                    return Err(err(
                        CKR_DATA_LEN_RANGE,
                        "AES key wrap needs a multiple of 8 bytes, at least 16",
                    ));
                }
                kw_wrap(k, KW_IV, data)
            }
            (KekSchedule::Enc(k), true) => {
                let Ok(mli) = u32::try_from(data.len()) else {
                    return Err(err(
                        CKR_DATA_LEN_RANGE,
                        "too much data for AES key wrap with padding",
                    ));
                };
                if mli == 0 {
                    return Err(err(CKR_DATA_LEN_RANGE, "nothing to wrap"));
                }
                let mut aiv = [0u8; 8];
                aiv[..4].copy_from_slice(&KWP_IV);
                aiv[4..].copy_from_slice(&mli.to_be_bytes());
                let mut padded = Zeroizing::new(data.to_vec());
                padded.resize(data.len().div_ceil(8) * 8, 0);
                if padded.len() == 8 {
                    let mut block = [0u8; BLOCK];
                    block[..8].copy_from_slice(&aiv);
                    block[8..].copy_from_slice(&padded);
                    k.less_safe_encrypt(&mut block, EncryptionContext::None)
                        .map_err(aes_failed)?;
                    Ok(block.to_vec())
                } else {
                    kw_wrap(k, aiv, &padded)
                }
            }
            (KekSchedule::Dec(k), false) => {
                if data.len() & 7 != 0 || data.len() < 24 {
                    return Err(err(
                        CKR_ENCRYPTED_DATA_LEN_RANGE,
                        "AES-wrapped data is a multiple of 8 bytes, at least 24",
                    ));
                }
                let (a, plain) = kw_unwrap(k, data)?;
                if constant_time::verify_slices_are_equal(&a, &KW_IV).is_err() {
                    return Err(err(
                        CKR_ENCRYPTED_DATA_INVALID,
                        "the key wrap integrity check failed",
                    ));
                }
                Ok(plain.to_vec())
            }
            (KekSchedule::Dec(k), true) => {
                if data.len() & 7 != 0 || data.len() < 16 {
                    return Err(err(
                        CKR_ENCRYPTED_DATA_LEN_RANGE,
                        "AES-wrapped data is a multiple of 8 bytes, at least 16",
                    ));
                }
                let (a, plain) = if data.len() == 16 {
                    let mut block = Zeroizing::new([0u8; BLOCK]);
                    block.copy_from_slice(data);
                    k.decrypt(&mut block[..], DecryptionContext::None)
                        .map_err(aes_failed)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&block[..8]);
                    (a, Zeroizing::new(block[8..].to_vec()))
                } else {
                    kw_unwrap(k, data)?
                };
                let n8 = plain.len();
                let mli = u32::from_be_bytes([a[4], a[5], a[6], a[7]]) as usize;
                let iv_ok = constant_time::verify_slices_are_equal(&a[..4], &KWP_IV).is_ok();
                let len_ok = mli <= n8 && mli + 8 > n8;
                let pad_ok = len_ok && plain[mli..].iter().fold(0u8, |acc, &x| acc | x) == 0;
                if !(iv_ok && len_ok && pad_ok) {
                    return Err(err(
                        CKR_ENCRYPTED_DATA_INVALID,
                        "the key wrap integrity check failed",
                    ));
                }
                Ok(plain[..mli].to_vec())
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
}

/// RFC 3394 §2.2.1 wrapping of `plain` (a multiple of 8 bytes, at least 16) with initial value
/// `iv`.
fn kw_wrap(k: &EncryptingKey, iv: [u8; 8], plain: &[u8]) -> Result<Vec<u8>> {
    let n = plain.len() / 8;
    let mut out = vec![0u8; plain.len() + 8];
    out[8..].copy_from_slice(plain);
    let mut a = iv;
    let mut block = Zeroizing::new([0u8; BLOCK]);
    for j in 0..6u64 {
        for i in 1..=n {
            let r = &mut out[8 * i..8 * i + 8];
            block[..8].copy_from_slice(&a);
            block[8..].copy_from_slice(r);
            k.less_safe_encrypt(&mut block[..], EncryptionContext::None)
                .map_err(aes_failed)?;
            let t = (n as u64) * j + i as u64;
            for (x, (b, t)) in a.iter_mut().zip(block[..8].iter().zip(t.to_be_bytes())) {
                *x = b ^ t;
            }
            r.copy_from_slice(&block[8..]);
        }
    }
    out[..8].copy_from_slice(&a);
    Ok(out)
}

/// RFC 3394 §2.2.2 unwrapping of `wrapped` (a multiple of 8 bytes, at least 24): the recovered
/// initial value and key data, for the caller to check.
fn kw_unwrap(k: &DecryptingKey, wrapped: &[u8]) -> Result<([u8; 8], Zeroizing<Vec<u8>>)> {
    let n = wrapped.len() / 8 - 1;
    let mut a = [0u8; 8];
    a.copy_from_slice(&wrapped[..8]);
    let mut r = Zeroizing::new(wrapped[8..].to_vec());
    let mut block = Zeroizing::new([0u8; BLOCK]);
    for j in (0..6u64).rev() {
        for i in (1..=n).rev() {
            let ri = &mut r[8 * (i - 1)..8 * i];
            let t = (n as u64) * j + i as u64;
            for (b, (x, t)) in block[..8].iter_mut().zip(a.iter().zip(t.to_be_bytes())) {
                *b = x ^ t;
            }
            block[8..].copy_from_slice(ri);
            k.decrypt(&mut block[..], DecryptionContext::None)
                .map_err(aes_failed)?;
            a.copy_from_slice(&block[..8]);
            ri.copy_from_slice(&block[8..]);
        }
    }
    Ok((a, r))
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
        encrypt_init(mech, key)?.one_shot(data)
    }

    fn dec(mech: &Mechanism, key: &Arc<KeyMaterial>, data: &[u8]) -> Result<Vec<u8>> {
        decrypt_init(mech, key)?.one_shot(data)
    }

    pub(crate) fn rv<T>(r: Result<T>) -> CK_RV {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.rv,
        }
    }

    /// Runs `op` over `data` split at `cuts`, returning the concatenated output.
    fn in_parts(mut op: Box<dyn CipherOperation>, data: &[u8], cuts: &[usize]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut start = 0;
        for &c in cuts.iter().chain(std::iter::once(&data.len())) {
            let c = c.min(data.len()).max(start);
            out.extend(op.update(&data[start..c])?);
            start = c;
        }
        out.extend(op.finish()?);
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
        // Everything comes out of finish.
        let mut op = encrypt_init(&m, &key).unwrap();
        assert_eq!(op.update(&hex(GCM_P)[..60]).unwrap(), b"");
        assert_eq!(op.finish().unwrap(), expected);
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
        assert_eq!(
            rv(dec(&m, &key, &expected[..15])),
            CKR_ENCRYPTED_DATA_LEN_RANGE
        );
        // Empty plaintext: the output is the tag alone.
        let tag_only = enc(&m, &key, &[]).unwrap();
        assert_eq!(tag_only.len(), 16);
        assert_eq!(dec(&m, &key, &tag_only).unwrap(), b"");
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
            gcm("cafebabefacedbaddecaf8", "", 128),
            gcm("cafebabefacedbaddecaf88800", "", 128),
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
    fn key_wrap_matches_aws_lc() {
        use aws_lc_rs::key_wrap::{
            AES_128 as KW128, AES_256 as KW256, AesKek, KeyWrap, KeyWrapPadded,
        };
        let kek: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37)).collect();
        for (cipher, len) in [(&KW128, 16), (&KW256, 32)] {
            let key = aes(&kek[..len]);
            for n in 1..=72usize {
                let data: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
                let mut out = vec![0u8; n + 16];
                let expect = AesKek::new(cipher, &kek[..len])
                    .unwrap()
                    .wrap_with_padding(&data, &mut out)
                    .unwrap();
                let m = Mechanism::new(CKM_AES_KEY_WRAP_KWP);
                assert_eq!(enc(&m, &key, &data).unwrap(), expect, "KWP {n}");
                assert_eq!(dec(&m, &key, expect).unwrap(), data);
                if n % 8 == 0 && n >= 16 {
                    let mut out = vec![0u8; n + 8];
                    let expect = AesKek::new(cipher, &kek[..len])
                        .unwrap()
                        .wrap(&data, &mut out)
                        .unwrap();
                    assert_eq!(
                        enc(&Mechanism::new(CKM_AES_KEY_WRAP), &key, &data).unwrap(),
                        expect,
                        "KW {n}"
                    );
                }
            }
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
            let forged = match &super::AesKeyWrap::new(
                &Mechanism::new(CKM_AES_KEY_WRAP),
                &hex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"),
                true,
            )
            .unwrap()
            .kek
            {
                KekSchedule::Enc(k) => kw_wrap(k, aiv.try_into().unwrap(), &[0; 24]).unwrap(),
                KekSchedule::Dec(_) => unreachable!(),
            };
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
