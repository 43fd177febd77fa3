//! Key derivation from secret keys (PKCS#11 3.0 §2.42 and §2.43, current mechanisms §2.x):
//! the legacy base-key mechanisms (`CKM_CONCATENATE_*`, `CKM_XOR_BASE_AND_DATA`,
//! `CKM_EXTRACT_KEY_FROM_KEY`), derivation by AES encryption of data
//! (`CKM_AES_ECB_ENCRYPT_DATA`, `CKM_AES_CBC_ENCRYPT_DATA`) and the SP 800-108 KDFs in counter
//! and feedback mode (`CKM_SP800_108_COUNTER_KDF`, `CKM_SP800_108_FEEDBACK_KDF`).
//!
//! The PRFs (HMAC, AES-CMAC) and AES come from aws-lc-rs; this module only composes them.
use super::{KeyMaterial, MechParams, Mechanism, aes};
use crate::base::attribute::Attributes;
use crate::base::error::{Result, err};
use aws_lc_rs::{cmac, hmac};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// One element of an SP 800-108 PRF input (`CK_PRF_DATA_PARAM`), already read from C.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrfData {
    /// `CK_SP800_108_ITERATION_VARIABLE`: in counter mode with its counter format, in feedback
    /// mode without one (it stands for K(i-1)).
    Iteration(Option<CounterFormat>),
    /// `CK_SP800_108_COUNTER` (feedback mode only).
    Counter(CounterFormat),
    /// `CK_SP800_108_DKM_LENGTH`.
    DkmLength(DkmFormat),
    /// `CK_SP800_108_BYTE_ARRAY`.
    Bytes(Vec<u8>),
}

/// `CK_SP800_108_COUNTER_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterFormat {
    pub little_endian: bool,
    pub width_bits: CK_ULONG,
}

/// `CK_SP800_108_DKM_LENGTH_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DkmFormat {
    pub method: CK_ULONG,
    pub little_endian: bool,
    pub width_bits: CK_ULONG,
}

/// `CK_SP800_108_KDF_PARAMS` / `CK_SP800_108_FEEDBACK_KDF_PARAMS` without the C pointers: the
/// additional keys' templates stay here, their `phKey` out-pointers in the ABI layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KbkdfParams {
    pub prf: CK_MECHANISM_TYPE,
    pub data: Vec<PrfData>,
    /// Feedback mode's IV (`None` in counter mode; empty when the caller gave none).
    pub iv: Option<Vec<u8>>,
    pub additional: Vec<Attributes>,
}

fn param_invalid(detail: &str) -> crate::base::error::Error {
    err(CKR_MECHANISM_PARAM_INVALID, detail.to_string())
}

/// Derives the values of one or more keys. `lens` has one entry per key to derive (the main
/// key first, then KBKDF's additional keys): the length the template asks for, if any.
/// `other` is `CKM_CONCATENATE_BASE_AND_KEY`'s second key.
pub fn derive(
    mech: &Mechanism,
    base: &Arc<KeyMaterial>,
    other: Option<&KeyMaterial>,
    lens: &[Option<usize>],
) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    let base_value = &base.secret()?.value;
    let first = lens.first().copied().flatten();
    let single = |v: Zeroizing<Vec<u8>>| -> Result<Vec<Zeroizing<Vec<u8>>>> {
        Ok(vec![truncate(v, first)?])
    };
    match (mech.mechanism_type, &mech.params) {
        (CKM_CONCATENATE_BASE_AND_KEY, MechParams::KeyHandle(_)) => {
            let other = other
                .ok_or_else(|| param_invalid("the second key is missing"))?
                .secret()?;
            let mut v = Zeroizing::new(Vec::with_capacity(base_value.len() + other.value.len()));
            v.extend_from_slice(base_value);
            v.extend_from_slice(&other.value);
            single(v)
        }
        (CKM_CONCATENATE_BASE_AND_DATA, MechParams::Bytes(data)) => {
            let mut v = Zeroizing::new(base_value.to_vec());
            v.extend_from_slice(data);
            single(v)
        }
        (CKM_CONCATENATE_DATA_AND_BASE, MechParams::Bytes(data)) => {
            let mut v = Zeroizing::new(data.clone());
            v.extend_from_slice(base_value);
            single(v)
        }
        (CKM_XOR_BASE_AND_DATA, MechParams::Bytes(data)) => {
            let v: Vec<u8> = base_value.iter().zip(data).map(|(a, b)| a ^ b).collect();
            single(Zeroizing::new(v))
        }
        (CKM_EXTRACT_KEY_FROM_KEY, MechParams::ExtractBit(bit)) => {
            let len = first.ok_or_else(|| {
                err(
                    CKR_TEMPLATE_INCOMPLETE,
                    "CKM_EXTRACT_KEY_FROM_KEY needs CKA_VALUE_LEN",
                )
            })?;
            Ok(vec![extract_bits(base_value, *bit, len)?])
        }
        (CKM_AES_ECB_ENCRYPT_DATA, MechParams::Bytes(data)) => {
            let m = Mechanism::new(CKM_AES_ECB);
            encrypted(encrypt_data(&m, base, data)?, first)
        }
        (CKM_AES_CBC_ENCRYPT_DATA, MechParams::AesCbcData { iv, data }) => {
            let m = Mechanism::with(CKM_AES_CBC, MechParams::Bytes(iv.to_vec()));
            encrypted(encrypt_data(&m, base, data)?, first)
        }
        (CKM_SP800_108_COUNTER_KDF | CKM_SP800_108_FEEDBACK_KDF, MechParams::Kbkdf(p)) => {
            let feedback = mech.mechanism_type == CKM_SP800_108_FEEDBACK_KDF;
            kbkdf(p, feedback, base, lens)
        }
        _ => Err(param_invalid(
            "the mechanism parameter does not suit the mechanism",
        )),
    }
}

/// The first `len` bytes of a derived value (`CKR_TEMPLATE_INCONSISTENT` if it is shorter).
fn truncate(mut v: Zeroizing<Vec<u8>>, len: Option<usize>) -> Result<Zeroizing<Vec<u8>>> {
    if let Some(len) = len {
        if len > v.len() || len == 0 {
            return Err(err(
                CKR_TEMPLATE_INCONSISTENT,
                "CKA_VALUE_LEN exceeds the derived value's length",
            ));
        }
        v.truncate(len);
    }
    if v.is_empty() {
        return Err(err(CKR_KEY_SIZE_RANGE, "the derived key would be empty"));
    }
    Ok(v)
}

/// An encrypt-data result cut to the wanted length: data shorter than the key it must
/// produce is a parameter error (`CKR_MECHANISM_PARAM_INVALID`).
fn encrypted(v: Zeroizing<Vec<u8>>, len: Option<usize>) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    if len.is_some_and(|l| l > v.len()) {
        return Err(param_invalid("the data is shorter than the key to derive"));
    }
    Ok(vec![truncate(v, len)?])
}

/// `CKM_EXTRACT_KEY_FROM_KEY`: `len` bytes from the base key's bits starting at bit `start`
/// (bit 0 is the most significant bit of the first byte), wrapping around at the end.
fn extract_bits(base: &[u8], start: CK_ULONG, len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let total = base.len() * 8;
    if len == 0 || len > base.len() {
        return Err(err(
            CKR_TEMPLATE_INCONSISTENT,
            "CKA_VALUE_LEN exceeds the base key's length",
        ));
    }
    let start = usize::try_from(start).unwrap_or(usize::MAX);
    if start >= total {
        return Err(param_invalid("the bit index is beyond the base key"));
    }
    let bit = |i: usize| -> u8 {
        let pos = (start + i) % total;
        base.get(pos / 8).map_or(0, |b| (b >> (7 - pos % 8)) & 1)
    };
    let mut out = Zeroizing::new(vec![0u8; len]);
    for (n, byte) in out.iter_mut().enumerate() {
        for k in 0..8 {
            *byte = (*byte << 1) | bit(n * 8 + k);
        }
    }
    Ok(out)
}

/// `CKM_AES_*_ENCRYPT_DATA`: the encryption of the data under the base key (no padding).
fn encrypt_data(m: &Mechanism, base: &Arc<KeyMaterial>, data: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return Err(param_invalid(
            "the data must be a non-empty multiple of 16 bytes",
        ));
    }
    aes::encryptor(m, base)?
        .one_shot(data)
        .map(Zeroizing::new)
        .map_err(|e| {
            if e.rv == CKR_DATA_LEN_RANGE {
                param_invalid("the data must be a multiple of 16 bytes")
            } else {
                e
            }
        })
}

/// A PRF keyed with the base key.
enum Prf {
    Hmac(Box<hmac::Key>),
    Cmac(cmac::Key),
}

impl Prf {
    fn new(prf: CK_MECHANISM_TYPE, base: &KeyMaterial) -> Result<Prf> {
        let secret = base.secret()?;
        let key = secret.value.as_slice();
        let h = |alg| Ok(Prf::Hmac(Box::new(hmac::Key::new(alg, key))));
        match prf {
            CKM_SHA_1_HMAC => h(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY),
            CKM_SHA224_HMAC => h(hmac::HMAC_SHA224),
            CKM_SHA256_HMAC => h(hmac::HMAC_SHA256),
            CKM_SHA384_HMAC => h(hmac::HMAC_SHA384),
            CKM_SHA512_HMAC => h(hmac::HMAC_SHA512),
            CKM_AES_CMAC => {
                if secret.key_type != CKK_AES {
                    return Err(err(
                        CKR_KEY_TYPE_INCONSISTENT,
                        "an AES-CMAC PRF needs an AES base key",
                    ));
                }
                let alg = match key.len() {
                    16 => cmac::AES_128,
                    24 => cmac::AES_192,
                    32 => cmac::AES_256,
                    _ => return Err(err(CKR_KEY_SIZE_RANGE, "AES keys are 16, 24 or 32 bytes")),
                };
                let k = cmac::Key::new(alg, key)
                    .map_err(|_| err(CKR_KEY_SIZE_RANGE, "AES keys are 16, 24 or 32 bytes"))?;
                Ok(Prf::Cmac(k))
            }
            _ => Err(param_invalid("unsupported SP 800-108 PRF type")),
        }
    }

    fn output_len(&self) -> usize {
        match self {
            Prf::Hmac(k) => k.algorithm().digest_algorithm().output_len(),
            Prf::Cmac(_) => 16,
        }
    }

    fn compute(&self, input: &[u8]) -> Result<Vec<u8>> {
        match self {
            Prf::Hmac(k) => Ok(hmac::sign(k, input).as_ref().to_vec()),
            Prf::Cmac(k) => {
                let mut ctx = cmac::Context::with_key(k);
                ctx.update(input)
                    .map_err(|_| err(CKR_FUNCTION_FAILED, "CMAC failed"))?;
                ctx.sign()
                    .map(|t| t.as_ref().to_vec())
                    .map_err(|_| err(CKR_FUNCTION_FAILED, "CMAC failed"))
            }
        }
    }
}

/// Encodes `value` in `width_bits` bits (a multiple of 8), big or little endian.
fn encode(value: u64, width_bits: CK_ULONG, little_endian: bool) -> Result<Vec<u8>> {
    let bytes = (width_bits / 8) as usize;
    if bytes < 8 && value >> (bytes * 8) != 0 {
        return Err(err(
            CKR_KEY_SIZE_RANGE,
            "the value does not fit the requested width",
        ));
    }
    let be = value.to_be_bytes();
    let mut out = be[8usize.saturating_sub(bytes)..].to_vec();
    if little_endian {
        out.reverse();
    }
    Ok(out)
}

/// Checks the data parameters for the mode (`CKR_MECHANISM_PARAM_INVALID` otherwise).
fn check_data_params(data: &[PrfData], feedback: bool) -> Result<()> {
    let count = |f: fn(&PrfData) -> bool| data.iter().filter(|d| f(d)).count();
    if count(|d| matches!(d, PrfData::Iteration(_))) != 1 {
        return Err(param_invalid(
            "exactly one CK_SP800_108_ITERATION_VARIABLE is required",
        ));
    }
    if count(|d| matches!(d, PrfData::DkmLength(_))) > 1 {
        return Err(param_invalid(
            "at most one CK_SP800_108_DKM_LENGTH is allowed",
        ));
    }
    let counters = count(|d| matches!(d, PrfData::Counter(_)));
    for d in data {
        match d {
            PrfData::Iteration(Some(_)) if feedback => {
                return Err(param_invalid(
                    "the feedback-mode iteration variable takes no counter format",
                ));
            }
            PrfData::Iteration(None) if !feedback => {
                return Err(param_invalid(
                    "the counter-mode iteration variable needs a counter format",
                ));
            }
            PrfData::Iteration(Some(f)) | PrfData::Counter(f)
                if !matches!(f.width_bits, 8 | 16 | 24 | 32) =>
            {
                return Err(param_invalid("counter widths are 8, 16, 24 or 32 bits"));
            }
            PrfData::DkmLength(f) => {
                if f.width_bits == 0 || f.width_bits > 64 || f.width_bits % 8 != 0 {
                    return Err(param_invalid(
                        "DKM length widths are multiples of 8 up to 64 bits",
                    ));
                }
                if !matches!(
                    f.method,
                    CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS | CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS
                ) {
                    return Err(param_invalid("unknown DKM length method"));
                }
            }
            _ => {}
        }
    }
    if (!feedback && counters > 0) || counters > 1 {
        return Err(param_invalid(
            "CK_SP800_108_COUNTER is invalid in counter mode and unique in feedback mode",
        ));
    }
    Ok(())
}

/// SP 800-108 in counter or feedback mode: each key gets its own run of PRF segments.
fn kbkdf(
    p: &KbkdfParams,
    feedback: bool,
    base: &Arc<KeyMaterial>,
    lens: &[Option<usize>],
) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    check_data_params(&p.data, feedback)?;
    if lens.len() != p.additional.len() + 1 {
        return Err(param_invalid("one length per derived key is required"));
    }
    let lens: Vec<usize> = lens
        .iter()
        .map(|l| {
            l.filter(|n| *n > 0).ok_or_else(|| {
                err(
                    CKR_TEMPLATE_INCOMPLETE,
                    "each SP 800-108 derived key needs CKA_VALUE_LEN or a fixed-size key type",
                )
            })
        })
        .collect::<Result<_>>()?;
    let prf = Prf::new(p.prf, base)?;
    let h = prf.output_len();
    let segments: Vec<usize> = lens.iter().map(|l| l.div_ceil(h)).collect();
    let total_segments: usize = segments.iter().sum();
    let dkm_bits = |method: CK_ULONG| -> u64 {
        let bytes = if method == CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS {
            total_segments * h
        } else {
            lens.iter().sum()
        };
        (bytes as u64).saturating_mul(8)
    };
    let mut previous: Vec<u8> = p.iv.clone().unwrap_or_default();
    let mut stream = Zeroizing::new(Vec::with_capacity(total_segments * h));
    for i in 1..=total_segments as u64 {
        let mut input = Vec::new();
        for d in &p.data {
            match d {
                PrfData::Iteration(Some(f)) | PrfData::Counter(f) => {
                    input.extend(encode(i, f.width_bits, f.little_endian)?);
                }
                PrfData::Iteration(None) => input.extend_from_slice(&previous),
                PrfData::DkmLength(f) => {
                    input.extend(encode(dkm_bits(f.method), f.width_bits, f.little_endian)?);
                }
                PrfData::Bytes(b) => input.extend_from_slice(b),
            }
        }
        previous = prf.compute(&input)?;
        stream.extend_from_slice(&previous);
    }
    let mut out = Vec::with_capacity(lens.len());
    let mut offset = 0;
    for (len, segs) in lens.iter().zip(&segments) {
        let chunk = stream
            .get(offset..offset + len)
            .ok_or_else(|| err(CKR_FUNCTION_FAILED, "internal KDF length error"))?;
        out.push(Zeroizing::new(chunk.to_vec()));
        offset += segs * h;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_wraps_around() {
        let v = extract_bits(&[0x12, 0x34, 0x56, 0x78, 0x90, 0x01], 3, 2).unwrap();
        assert_eq!(v.as_slice(), &[0x91, 0xA2]);
        let v = extract_bits(&[0x80, 0x01], 15, 1).unwrap();
        assert_eq!(v.as_slice(), &[0xC0]);
    }

    #[test]
    fn encode_widths() {
        assert_eq!(encode(1, 16, false).unwrap(), vec![0, 1]);
        assert_eq!(encode(1, 16, true).unwrap(), vec![1, 0]);
        assert_eq!(encode(256, 32, false).unwrap(), vec![0, 0, 1, 0]);
        assert!(encode(256, 8, false).is_err());
    }
}
