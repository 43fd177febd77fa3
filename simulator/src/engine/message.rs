//! The PKCS#11 3.0 message-based encryption API for `CKM_AES_GCM`: `C_MessageEncryptInit`,
//! `C_EncryptMessage`, `C_EncryptMessageBegin`, `C_EncryptMessageNext`, `C_MessageEncryptFinal`
//! and the decryption equivalents. One operation (key and mechanism) serves any number of
//! messages, each with its own `CK_GCM_MESSAGE_PARAMS` (IV, IV generator, tag).
//!
//! Conventions (simulator-defined where PKCS#11 leaves room):
//! - the `CK_MECHANISM` given to `C_Message*Init` may carry no parameter or a
//!   `CK_GCM_MESSAGE_PARAMS`, which is ignored: every message brings its own;
//! - a per-message error (bad parameter, tag mismatch, ...) ends that message, not the operation;
//!   a tag mismatch is `CKR_AEAD_DECRYPT_FAILED`;
//! - the length-query convention applies to the ciphertext / plaintext buffer; a length query
//!   computes nothing (no IV is generated, no counter consumed). Ciphertext is as long as the
//!   plaintext; a multi-part decryption releases its plaintext only in the `CKF_END_OF_MESSAGE`
//!   part, after the tag verifies (earlier parts output nothing);
//! - encryption IVs: `CKG_NO_GENERATE` uses the caller's IV; the others keep the leftmost
//!   `ulIvFixedBits` bits of the caller's IV and generate the rest, which is returned in `pIv`:
//!   `CKG_GENERATE_COUNTER` and `CKG_GENERATE` put a per-operation message counter there
//!   (starting at 0, big-endian in the low bits; `CKR_DATA_LEN_RANGE` once it no longer fits),
//!   `CKG_GENERATE_COUNTER_XOR` XORs that counter into the caller's IV, `CKG_GENERATE_RANDOM`
//!   fills them from aws-lc's random generator. A generator with no free bits is
//!   `CKR_MECHANISM_PARAM_INVALID`.
//!   Decryption always uses the caller's IV;
//! - a message call without `C_Message*Init` (or `C_*MessageNext` without a begun message) is
//!   `CKR_OPERATION_NOT_INITIALIZED`, checked before its parameters are read;
//! - `C_EncryptMessage` while a multi-part message is in progress is `CKR_OPERATION_ACTIVE`;
//!   `C_Message*Final` ends the operation, abandoning a message in progress.
use super::Engine;
use super::operations::Output;
use crate::base::error::{Result, err};
use crate::crypto::aes::GcmStream;
use crate::crypto::{KeyMaterial, Mechanism};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// One message's `CK_GCM_MESSAGE_PARAMS`, read at the ABI boundary.
#[derive(Debug, Clone, Default)]
pub struct GcmMessage {
    pub iv: Vec<u8>,
    pub iv_fixed_bits: CK_ULONG,
    pub generator: CK_GENERATOR_FUNCTION,
    pub tag_bits: CK_ULONG,
    /// Decryption: the tag read from `pTag` (`tag_bits / 8` bytes).
    pub tag: Vec<u8>,
}

/// What a message call hands back: the data output, and what goes back into the caller's
/// `CK_GCM_MESSAGE_PARAMS` (a generated IV for `pIv`, an encryption tag for `pTag`).
#[derive(Debug, PartialEq, Eq)]
pub struct MessageOutput {
    pub output: Output,
    pub iv: Option<Vec<u8>>,
    pub tag: Option<Vec<u8>>,
}

impl MessageOutput {
    fn data(output: Output) -> Self {
        MessageOutput {
            output,
            iv: None,
            tag: None,
        }
    }
}

/// A multi-part message begun with `C_*MessageBegin`.
struct Part {
    stream: GcmStream,
    /// Decryption: the plaintext so far, released after the tag verifies.
    plain: Zeroizing<Vec<u8>>,
}

/// A message-based operation in progress: its key and the state of its messages.
pub struct MessageState {
    key: Arc<KeyMaterial>,
    encrypt: bool,
    /// Messages whose IV came from the counter generators.
    counter: u64,
    part: Option<Part>,
}

fn not_initialized() -> crate::base::error::Error {
    err(
        CKR_OPERATION_NOT_INITIALIZED,
        "no message-based operation of this kind was initialised",
    )
}

fn no_message() -> crate::base::error::Error {
    err(
        CKR_OPERATION_NOT_INITIALIZED,
        "no message was begun with C_*MessageBegin",
    )
}

/// Sets the bits of `iv` after its leftmost `fixed_bits` to those of `generated`.
fn merge_fixed(iv: &[u8], fixed_bits: usize, generated: &[u8]) -> Vec<u8> {
    iv.iter()
        .zip(generated)
        .enumerate()
        .map(|(i, (&fixed, &generated))| {
            let start = i * 8;
            let mask: u8 = if fixed_bits >= start + 8 {
                0xFF
            } else if fixed_bits <= start {
                0
            } else {
                0xFF << (8 - (fixed_bits - start))
            };
            (fixed & mask) | (generated & !mask)
        })
        .collect()
}

impl MessageState {
    /// The IV of the next encrypted message, per the generator; `Some` when generated (to be
    /// returned to the caller).
    fn message_iv(&mut self, p: &GcmMessage) -> Result<(Vec<u8>, bool)> {
        if !self.encrypt || p.generator == CKG_NO_GENERATE {
            return Ok((p.iv.clone(), false));
        }
        let total_bits = p.iv.len().saturating_mul(8);
        let fixed = usize::try_from(p.iv_fixed_bits).unwrap_or(usize::MAX);
        if fixed >= total_bits {
            return Err(err(
                CKR_MECHANISM_PARAM_INVALID,
                "the IV generator has no bits to generate (ulIvFixedBits covers the IV)",
            ));
        }
        let free_bits = total_bits - fixed;
        let mut generated = vec![0u8; p.iv.len()];
        match p.generator {
            CKG_GENERATE | CKG_GENERATE_COUNTER | CKG_GENERATE_COUNTER_XOR => {
                if free_bits < 64 && self.counter >> free_bits != 0 {
                    return Err(err(
                        CKR_DATA_LEN_RANGE,
                        "the IV counter is exhausted: start a new operation",
                    ));
                }
                let be = self.counter.to_be_bytes();
                let n = be.len().min(generated.len());
                let start = generated.len() - n;
                generated[start..].copy_from_slice(&be[be.len() - n..]);
                if p.generator == CKG_GENERATE_COUNTER_XOR {
                    for (g, v) in generated.iter_mut().zip(&p.iv) {
                        *g ^= v;
                    }
                }
                self.counter += 1;
            }
            CKG_GENERATE_RANDOM => {
                aws_lc_rs::rand::fill(&mut generated)
                    .map_err(|_| err(CKR_FUNCTION_FAILED, "the random generator failed"))?;
            }
            _ => {
                return Err(err(
                    CKR_MECHANISM_PARAM_INVALID,
                    "unknown CK_GENERATOR_FUNCTION",
                ));
            }
        }
        Ok((merge_fixed(&p.iv, fixed, &generated), true))
    }

    /// Starts one message: its IV (generated or given) and its GCM stream.
    fn start(&mut self, p: &GcmMessage, aad: &[u8]) -> Result<(GcmStream, Option<Vec<u8>>)> {
        // Check what can be checked before an IV is generated (and a counter consumed).
        if p.iv.is_empty() {
            return Err(err(
                CKR_MECHANISM_PARAM_INVALID,
                "a GCM IV is 1 byte or more",
            ));
        }
        let (iv, generated) = self.message_iv(p)?;
        let stream = GcmStream::new(&self.key, &iv, aad, p.tag_bits, self.encrypt)?;
        Ok((stream, generated.then_some(iv)))
    }
}

/// The operation slot of a direction.
fn slot_of(s: &mut super::Session, encrypt: bool) -> &mut Option<MessageState> {
    if encrypt {
        &mut s.msg_encrypt
    } else {
        &mut s.msg_decrypt
    }
}

fn auth_failed() -> crate::base::error::Error {
    err(CKR_AEAD_DECRYPT_FAILED, "the GCM tag does not verify")
}

/// The size check of the length-query convention: `Some` output when no work must be done.
fn sized(capacity: Option<usize>, len: usize) -> Option<Output> {
    match capacity {
        None => Some(Output::Size(len)),
        Some(c) if c < len => Some(Output::TooSmall(len)),
        Some(_) => None,
    }
}

impl Engine {
    /// `C_MessageEncryptInit` (`encrypt`) or `C_MessageDecryptInit`.
    pub fn message_init(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        key: CK_OBJECT_HANDLE,
        encrypt: bool,
    ) -> Result<()> {
        let (session, slot) = self.slot_of(h)?;
        let mut session = session.lock();
        if slot_of(&mut session, encrypt).is_some() {
            return Err(err(
                CKR_OPERATION_ACTIVE,
                "a message-based operation of this kind is already in progress",
            ));
        }
        let (usage, flag) = if encrypt {
            (CKA_ENCRYPT, CKF_MESSAGE_ENCRYPT)
        } else {
            (CKA_DECRYPT, CKF_MESSAGE_DECRYPT)
        };
        if mech.mechanism_type != CKM_AES_GCM {
            return Err(err(
                CKR_MECHANISM_INVALID,
                "the message-based API supports CKM_AES_GCM only",
            ));
        }
        let (_, material) = self.operation_key(slot, key, usage, mech, flag)?;
        material.secret()?;
        *slot_of(&mut session, encrypt) = Some(MessageState {
            key: material,
            encrypt,
            counter: 0,
            part: None,
        });
        Ok(())
    }

    /// `CKR_OPERATION_NOT_INITIALIZED` unless a message-based operation of this direction is
    /// in progress (and, with `begun`, a multi-part message in it): a message call checks this
    /// before reading its parameters, so a call without an init says so whatever they are.
    pub fn message_ready(&self, h: CK_SESSION_HANDLE, encrypt: bool, begun: bool) -> Result<()> {
        let session = self.session(h)?;
        let mut s = session.lock();
        let state = slot_of(&mut s, encrypt)
            .as_ref()
            .ok_or_else(not_initialized)?;
        if begun && state.part.is_none() {
            return Err(no_message());
        }
        Ok(())
    }

    /// `C_EncryptMessage` / `C_DecryptMessage`: one whole message. Encryption returns the tag;
    /// decryption checks `params.tag`.
    pub fn message_one_shot(
        &self,
        h: CK_SESSION_HANDLE,
        encrypt: bool,
        params: &GcmMessage,
        aad: &[u8],
        data: &[u8],
        capacity: Option<usize>,
    ) -> Result<MessageOutput> {
        let session = self.session(h)?;
        let mut s = session.lock();
        let state = slot_of(&mut s, encrypt)
            .as_mut()
            .ok_or_else(not_initialized)?;
        if state.part.is_some() {
            return Err(err(
                CKR_OPERATION_ACTIVE,
                "a multi-part message is in progress",
            ));
        }
        if let Some(out) = sized(capacity, data.len()) {
            return Ok(MessageOutput::data(out));
        }
        let (mut stream, iv) = state.start(params, aad)?;
        let out = stream.update(data)?;
        if encrypt {
            let tag = stream.seal()?;
            return Ok(MessageOutput {
                output: Output::Data(out),
                iv,
                tag: Some(tag),
            });
        }
        let out = Zeroizing::new(out);
        if !stream.open(&params.tag) {
            return Err(auth_failed());
        }
        Ok(MessageOutput::data(Output::Data(out.to_vec())))
    }

    /// `C_EncryptMessageBegin` / `C_DecryptMessageBegin`: returns the generated IV, if any.
    pub fn message_begin(
        &self,
        h: CK_SESSION_HANDLE,
        encrypt: bool,
        params: &GcmMessage,
        aad: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        let session = self.session(h)?;
        let mut s = session.lock();
        let state = slot_of(&mut s, encrypt)
            .as_mut()
            .ok_or_else(not_initialized)?;
        if state.part.is_some() {
            return Err(err(
                CKR_OPERATION_ACTIVE,
                "a multi-part message is already in progress",
            ));
        }
        let (stream, iv) = state.start(params, aad)?;
        state.part = Some(Part {
            stream,
            plain: Zeroizing::new(Vec::new()),
        });
        Ok(iv)
    }

    /// `C_EncryptMessageNext` / `C_DecryptMessageNext`; `end` is `CKF_END_OF_MESSAGE`.
    pub fn message_next(
        &self,
        h: CK_SESSION_HANDLE,
        encrypt: bool,
        params: &GcmMessage,
        data: &[u8],
        capacity: Option<usize>,
        end: bool,
    ) -> Result<MessageOutput> {
        let session = self.session(h)?;
        let mut s = session.lock();
        let state = slot_of(&mut s, encrypt)
            .as_mut()
            .ok_or_else(not_initialized)?;
        let part = state.part.as_mut().ok_or_else(no_message)?;
        let len = match (encrypt, end) {
            (true, _) => data.len(),
            (false, false) => 0,
            (false, true) => part.plain.len().saturating_add(data.len()),
        };
        if let Some(out) = sized(capacity, len) {
            return Ok(MessageOutput::data(out));
        }
        if end && params.tag_bits / 8 != part.stream.tag_len() as CK_ULONG {
            state.part = None;
            return Err(err(
                CKR_MECHANISM_PARAM_INVALID,
                "ulTagBits differs from the one the message began with",
            ));
        }
        let out = match part.stream.update(data) {
            Ok(out) => out,
            Err(e) => {
                state.part = None;
                return Err(e);
            }
        };
        if encrypt {
            if !end {
                return Ok(MessageOutput::data(Output::Data(out)));
            }
            let Some(part) = state.part.take() else {
                return Err(not_initialized());
            };
            return Ok(MessageOutput {
                output: Output::Data(out),
                iv: None,
                tag: Some(part.stream.seal()?),
            });
        }
        part.plain.extend_from_slice(&Zeroizing::new(out));
        if !end {
            return Ok(MessageOutput::data(Output::Data(Vec::new())));
        }
        let Some(Part { stream, mut plain }) = state.part.take() else {
            return Err(not_initialized());
        };
        if !stream.open(&params.tag) {
            return Err(auth_failed());
        }
        Ok(MessageOutput::data(Output::Data(std::mem::take(
            &mut *plain,
        ))))
    }

    /// `C_MessageEncryptFinal` / `C_MessageDecryptFinal`.
    pub fn message_final(&self, h: CK_SESSION_HANDLE, encrypt: bool) -> Result<()> {
        let session = self.session(h)?;
        let mut s = session.lock();
        slot_of(&mut s, encrypt)
            .take()
            .map(drop)
            .ok_or_else(not_initialized)
    }
}

#[cfg(test)]
mod tests {
    use super::merge_fixed;

    #[test]
    fn fixed_bits_merge() {
        let iv = [0xAA; 4];
        let g = [0x55; 4];
        assert_eq!(merge_fixed(&iv, 0, &g), g);
        assert_eq!(merge_fixed(&iv, 32, &g), iv);
        assert_eq!(merge_fixed(&iv, 8, &g), [0xAA, 0x55, 0x55, 0x55]);
        assert_eq!(merge_fixed(&iv, 12, &g), [0xAA, 0xA5, 0x55, 0x55]);
        assert_eq!(merge_fixed(&iv, 1, &g), [0xD5, 0x55, 0x55, 0x55]);
    }
}
