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
                if data.len() % 8 != 0 || data.len() < 16 {
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
                if data.len() % 8 != 0 || data.len() < 24 {
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
                if data.len() % 8 != 0 || data.len() < 16 {
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
