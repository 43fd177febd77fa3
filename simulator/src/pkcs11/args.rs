//! Reading a C caller's arguments into Rust values (byte buffers, templates, mechanisms with
//! their parameter structures) and writing results back, with the spec's answers for null
//! pointers, absurd lengths and malformed parameters. Every raw-pointer access of the module
//! that is not a plain out-parameter write happens here.
use crate::base::attribute::{AttrKind, AttrValue, Attributes, attr_kind};
use crate::base::error::{Result, err};
use crate::crypto::{MechParams, Mechanism};
use crate::engine::Output;
use cryptoki_sys::*;
use std::ffi::c_void;

/// Largest single input buffer accepted (1 GiB): beyond it a length is a caller bug.
const MAX_BUFFER: CK_ULONG = 1 << 30;
/// Largest attribute value accepted (16 MiB) and most attributes in one template.
const MAX_ATTRIBUTE_VALUE: CK_ULONG = 16 << 20;
const MAX_TEMPLATE_LEN: CK_ULONG = 1024;

/// A caller's input buffer; null is accepted only with length 0.
///
/// # Safety
/// `p` must be null or point to `len` readable bytes that outlive `'a`.
pub unsafe fn bytes<'a>(p: *const u8, len: CK_ULONG) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() || len > MAX_BUFFER {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            "a buffer pointer is null or its length is absurd",
        ));
    }
    // SAFETY: non-null, and the caller guarantees `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(p, len as usize) })
}

/// Reads a value through a pointer that must not be null.
///
/// # Safety
/// `p` must be null or point to a readable, initialised `T`.
pub unsafe fn read<T: Copy>(p: *const T) -> Result<T> {
    if p.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "a required pointer is null"));
    }
    // SAFETY: non-null and valid per the caller's contract.
    Ok(unsafe { p.read_unaligned() })
}

/// Writes a value through an out-pointer that must not be null.
///
/// # Safety
/// `p` must be null or point to writable memory for a `T`.
pub unsafe fn write<T>(p: *mut T, value: T) -> Result<()> {
    if p.is_null() {
        return Err(err(CKR_ARGUMENTS_BAD, "a required output pointer is null"));
    }
    // SAFETY: non-null and writable per the caller's contract.
    unsafe { p.write_unaligned(value) };
    Ok(())
}

/// Reads a `CK_ATTRIBUTE` array.
///
/// # Safety
/// `p` must be null or point to `count` readable `CK_ATTRIBUTE`s.
pub unsafe fn attribute_array<'a>(
    p: *const CK_ATTRIBUTE,
    count: CK_ULONG,
) -> Result<&'a [CK_ATTRIBUTE]> {
    if count == 0 {
        return Ok(&[]);
    }
    if p.is_null() || count > MAX_TEMPLATE_LEN {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            "a template pointer is null or its count is absurd",
        ));
    }
    // SAFETY: non-null, the caller guarantees `count` elements.
    Ok(unsafe { std::slice::from_raw_parts(p, count as usize) })
}

/// One attribute's value as bytes.
///
/// # Safety
/// `a.pValue` must be null or point to `a.ulValueLen` readable bytes.
unsafe fn attribute_bytes(a: &CK_ATTRIBUTE) -> Result<Vec<u8>> {
    // SAFETY: forwarded caller contract.
    Ok(unsafe { attribute_slice(a) }?.to_vec())
}

/// One attribute's value, borrowed from the caller's buffer.
///
/// # Safety
/// `a.pValue` must be null or point to `a.ulValueLen` readable bytes, valid for `'a`.
unsafe fn attribute_slice<'a>(a: &CK_ATTRIBUTE) -> Result<&'a [u8]> {
    if a.ulValueLen > MAX_ATTRIBUTE_VALUE {
        return Err(err(
            CKR_ATTRIBUTE_VALUE_INVALID,
            format!("attribute 0x{:X} is too long", a.type_),
        ));
    }
    if a.pValue.is_null() && a.ulValueLen != 0 {
        return Err(err(
            CKR_ATTRIBUTE_VALUE_INVALID,
            format!("attribute 0x{:X} has no value", a.type_),
        ));
    }
    // SAFETY: checked above; the caller guarantees the buffer.
    unsafe { bytes(a.pValue as *const u8, a.ulValueLen) }
}

/// Reads a template into `Attributes`, array attributes included.
///
/// # Safety
/// `p` must be null or point to `count` valid `CK_ATTRIBUTE`s whose buffers are readable.
pub unsafe fn template(p: *const CK_ATTRIBUTE, count: CK_ULONG) -> Result<Attributes> {
    // SAFETY: forwarded caller contract.
    let items = unsafe { attribute_array(p, count) }?;
    let mut out = Vec::with_capacity(items.len());
    for a in items {
        let value = if attr_kind(a.type_) == Some(AttrKind::Template) {
            let n = a.ulValueLen / size_of::<CK_ATTRIBUTE>() as CK_ULONG;
            if a.ulValueLen % size_of::<CK_ATTRIBUTE>() as CK_ULONG != 0 {
                return Err(err(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    "an attribute array has a partial element",
                ));
            }
            // SAFETY: the caller guarantees the nested array.
            let inner = unsafe { attribute_array(a.pValue as *const CK_ATTRIBUTE, n) }?;
            let mut nested = Vec::with_capacity(inner.len());
            for ia in inner {
                // SAFETY: the caller guarantees the nested buffers.
                nested.push((ia.type_, unsafe { attribute_bytes(ia) }?));
            }
            AttrValue::Template(nested)
        } else {
            // SAFETY: the caller guarantees the buffer (copied here: inline when small).
            AttrValue::Bytes(smallvec::SmallVec::from_slice(unsafe {
                attribute_slice(a)
            }?))
        };
        out.push((a.type_, value));
    }
    Attributes::from_template(out)
}

/// Reads a parameter structure of exactly `size_of::<T>()` bytes.
///
/// # Safety
/// `p` must be null or point to `len` readable bytes.
unsafe fn param<T: Copy>(p: *const c_void, len: CK_ULONG) -> Result<T> {
    if p.is_null() || len as usize != size_of::<T>() {
        return Err(err(
            CKR_MECHANISM_PARAM_INVALID,
            "the mechanism parameter has the wrong size",
        ));
    }
    // SAFETY: non-null with the right size, per the caller's contract.
    Ok(unsafe { (p as *const T).read_unaligned() })
}

/// A byte field of a parameter structure (null allowed only when empty).
///
/// # Safety
/// `p` must be null or point to `len` readable bytes.
unsafe fn param_bytes(p: *const u8, len: CK_ULONG) -> Result<Vec<u8>> {
    // SAFETY: forwarded caller contract.
    unsafe { bytes(p, len) }.map(<[u8]>::to_vec).map_err(|_| {
        err(
            CKR_MECHANISM_PARAM_INVALID,
            "a mechanism parameter buffer is null",
        )
    })
}

/// OAEP parameters.
///
/// # Safety
/// `p`'s source data pointer must be null or valid for its length.
unsafe fn oaep(
    p: &CK_RSA_PKCS_OAEP_PARAMS,
) -> Result<(CK_MECHANISM_TYPE, CK_RSA_PKCS_MGF_TYPE, Vec<u8>)> {
    let source = if p.source == 0 && p.ulSourceDataLen == 0 {
        Vec::new()
    } else if p.source == CKZ_DATA_SPECIFIED {
        // SAFETY: the caller guarantees the label buffer.
        unsafe { param_bytes(p.pSourceData as *const u8, p.ulSourceDataLen) }?
    } else {
        return Err(err(
            CKR_MECHANISM_PARAM_INVALID,
            "OAEP source must be CKZ_DATA_SPECIFIED",
        ));
    };
    Ok((p.hashAlg, p.mgf, source))
}

/// Reads a `CK_MECHANISM` and converts its parameter by mechanism type.
///
/// # Safety
/// `p` must be null or point to a valid `CK_MECHANISM` whose parameter is valid for its type.
pub unsafe fn mechanism(p: *const CK_MECHANISM) -> Result<Mechanism> {
    // SAFETY: forwarded caller contract.
    let m: CK_MECHANISM = unsafe { read(p) }?;
    let (pp, len) = (m.pParameter as *const c_void, m.ulParameterLen);
    if len == 0 || pp.is_null() {
        if len != 0 {
            return Err(err(
                CKR_MECHANISM_PARAM_INVALID,
                "the mechanism parameter is null",
            ));
        }
        return Ok(Mechanism::new(m.mechanism));
    }
    // SAFETY (every block below): `pp`/`len` describe the caller's parameter, which the caller
    // guarantees is valid for the mechanism; `param` checks the size before reading.
    let params = match m.mechanism {
        CKM_AES_CTR => {
            // SAFETY: the caller guarantees the parameter; `param` checks sizes.
            let c: CK_AES_CTR_PARAMS = unsafe { param(pp, len) }?;
            MechParams::Ctr {
                counter_bits: c.ulCounterBits,
                counter_block: c.cb,
            }
        }
        CKM_AES_GCM => {
            // SAFETY: the caller guarantees the parameter; `param` checks sizes.
            let g: CK_GCM_PARAMS = unsafe { param(pp, len) }?;
            MechParams::Gcm {
                // SAFETY: the caller guarantees the parameter; `param` checks sizes.
                iv: unsafe { param_bytes(g.pIv, g.ulIvLen) }?,
                // SAFETY: the caller guarantees the parameter; `param` checks sizes.
                aad: unsafe { param_bytes(g.pAAD, g.ulAADLen) }?,
                tag_bits: g.ulTagBits,
            }
        }
        CKM_RSA_PKCS_OAEP => {
            // SAFETY: the caller guarantees the parameter; `param` checks sizes.
            let o: CK_RSA_PKCS_OAEP_PARAMS = unsafe { param(pp, len) }?;
            // SAFETY: the caller guarantees the parameter; `param` checks sizes.
            let (hash, mgf, source_data) = unsafe { oaep(&o) }?;
            MechParams::Oaep {
                hash,
                mgf,
                source_data,
            }
        }
        CKM_RSA_PKCS_PSS
        | CKM_SHA1_RSA_PKCS_PSS
        | CKM_SHA224_RSA_PKCS_PSS
        | CKM_SHA256_RSA_PKCS_PSS
        | CKM_SHA384_RSA_PKCS_PSS
        | CKM_SHA512_RSA_PKCS_PSS => {
            // SAFETY: the caller guarantees the parameter; `param` checks sizes.
            let s: CK_RSA_PKCS_PSS_PARAMS = unsafe { param(pp, len) }?;
            MechParams::Pss {
                hash: s.hashAlg,
                mgf: s.mgf,
                salt_len: s.sLen,
            }
        }
        CKM_ECDH1_DERIVE | CKM_ECDH1_COFACTOR_DERIVE => {
            // SAFETY: the caller guarantees the parameter; `param` checks sizes.
            let e: CK_ECDH1_DERIVE_PARAMS = unsafe { param(pp, len) }?;
            MechParams::Ecdh {
                kdf: e.kdf,
                // SAFETY: the caller guarantees the parameter; `param` checks sizes.
                shared_data: unsafe { param_bytes(e.pSharedData, e.ulSharedDataLen) }?,
                // SAFETY: the caller guarantees the parameter; `param` checks sizes.
                public_data: unsafe { param_bytes(e.pPublicData, e.ulPublicDataLen) }?,
            }
        }
        CKM_RSA_AES_KEY_WRAP => {
            // SAFETY: the caller guarantees the parameter; `param` checks sizes.
            let w: CK_RSA_AES_KEY_WRAP_PARAMS = unsafe { param(pp, len) }?;
            // SAFETY: the caller guarantees the parameter; `param` checks sizes.
            let o: CK_RSA_PKCS_OAEP_PARAMS = unsafe { read(w.pOAEPParams) }.map_err(|_| {
                err(
                    CKR_MECHANISM_PARAM_INVALID,
                    "the OAEP parameters are missing",
                )
            })?;
            // SAFETY: the caller guarantees the parameter; `param` checks sizes.
            let (hash, mgf, source_data) = unsafe { oaep(&o) }?;
            MechParams::RsaAesKeyWrap {
                aes_key_bits: w.ulAESKeyBits,
                hash,
                mgf,
                source_data,
            }
        }
        CKM_ML_DSA
        | CKM_HASH_ML_DSA_SHA224
        | CKM_HASH_ML_DSA_SHA256
        | CKM_HASH_ML_DSA_SHA384
        | CKM_HASH_ML_DSA_SHA512
        | CKM_HASH_ML_DSA_SHA3_224
        | CKM_HASH_ML_DSA_SHA3_256
        | CKM_HASH_ML_DSA_SHA3_384
        | CKM_HASH_ML_DSA_SHA3_512
        | CKM_HASH_ML_DSA_SHAKE128
        | CKM_HASH_ML_DSA_SHAKE256 => {
            // SAFETY: the caller guarantees the parameter; `param` checks sizes.
            let c: CK_SIGN_ADDITIONAL_CONTEXT = unsafe { param(pp, len) }?;
            MechParams::SignContext {
                hedge: c.hedgeVariant,
                // SAFETY: the caller guarantees the parameter; `param` checks sizes.
                context: unsafe { param_bytes(c.pContext, c.ulContextLen) }?,
                hash: None,
            }
        }
        CKM_HASH_ML_DSA => {
            // SAFETY: the caller guarantees the parameter; `param` checks sizes.
            let c: CK_HASH_SIGN_ADDITIONAL_CONTEXT = unsafe { param(pp, len) }?;
            MechParams::SignContext {
                hedge: c.hedgeVariant,
                // SAFETY: the caller guarantees the parameter; `param` checks sizes.
                context: unsafe { param_bytes(c.pContext, c.ulContextLen) }?,
                hash: Some(c.hash),
            }
        }
        CKM_EDDSA => {
            // SAFETY: the caller guarantees the parameter; `param` checks sizes.
            let e: CK_EDDSA_PARAMS = unsafe { param(pp, len) }?;
            MechParams::Eddsa {
                prehash: e.phFlag != 0,
                // SAFETY: the caller guarantees the parameter; `param` checks sizes.
                context: unsafe { param_bytes(e.pContextData, e.ulContextDataLen) }?,
            }
        }
        CKM_SHA_1_HMAC_GENERAL
        | CKM_SHA224_HMAC_GENERAL
        | CKM_SHA256_HMAC_GENERAL
        | CKM_SHA384_HMAC_GENERAL
        | CKM_SHA512_HMAC_GENERAL
        | CKM_AES_CMAC_GENERAL
        | CKM_AES_MAC_GENERAL => {
            // SAFETY: the caller guarantees the parameter; `param` checks sizes.
            MechParams::MacLength(unsafe { param::<CK_ULONG>(pp, len) }?)
        }
        // SAFETY: the caller guarantees the parameter; `param` checks sizes.
        CKM_CONCATENATE_BASE_AND_KEY => MechParams::KeyHandle(unsafe { param(pp, len) }?),
        // SAFETY: the caller guarantees the parameter; `param` checks sizes.
        CKM_EXTRACT_KEY_FROM_KEY => MechParams::ExtractBit(unsafe { param(pp, len) }?),
        CKM_CONCATENATE_BASE_AND_DATA
        | CKM_CONCATENATE_DATA_AND_BASE
        | CKM_XOR_BASE_AND_DATA
        | CKM_AES_ECB_ENCRYPT_DATA => {
            // SAFETY: the caller guarantees the parameter; `param` checks sizes.
            let d: CK_KEY_DERIVATION_STRING_DATA = unsafe { param(pp, len) }?;
            // SAFETY: the caller guarantees the data buffer.
            MechParams::Bytes(unsafe { param_bytes(d.pData, d.ulLen) }?)
        }
        CKM_AES_CBC_ENCRYPT_DATA => {
            // SAFETY: the caller guarantees the parameter; `param` checks sizes.
            let d: CK_AES_CBC_ENCRYPT_DATA_PARAMS = unsafe { param(pp, len) }?;
            MechParams::AesCbcData {
                iv: d.iv,
                // SAFETY: the caller guarantees the data buffer.
                data: unsafe { param_bytes(d.pData, d.length) }?,
            }
        }
        CKM_SP800_108_COUNTER_KDF | CKM_SP800_108_FEEDBACK_KDF => {
            // SAFETY: the caller guarantees the parameter; `kbkdf` checks sizes.
            unsafe { kbkdf(m.mechanism, pp, len) }?
        }
        // SAFETY: the caller guarantees the parameter; `param` checks sizes.
        _ => MechParams::Bytes(unsafe { param_bytes(pp as *const u8, len) }?),
    };
    Ok(Mechanism::with(m.mechanism, params))
}

/// The raw fields an SP 800-108 parameter shares in both modes: PRF, data parameters,
/// feedback IV (null in counter mode) and additional keys.
struct KbkdfRaw {
    prf: CK_MECHANISM_TYPE,
    data: *const CK_PRF_DATA_PARAM,
    data_count: CK_ULONG,
    iv: Option<(*const u8, CK_ULONG)>,
    keys: *const CK_DERIVED_KEY,
    key_count: CK_ULONG,
}

/// Reads the SP 800-108 parameter structure of `mechanism_type`.
///
/// # Safety
/// `pp` must be null or point to `len` readable bytes.
unsafe fn kbkdf_raw(
    mechanism_type: CK_MECHANISM_TYPE,
    pp: *const c_void,
    len: CK_ULONG,
) -> Result<KbkdfRaw> {
    Ok(if mechanism_type == CKM_SP800_108_FEEDBACK_KDF {
        // SAFETY: the caller guarantees the parameter; `param` checks sizes.
        let f: CK_SP800_108_FEEDBACK_KDF_PARAMS = unsafe { param(pp, len) }?;
        KbkdfRaw {
            prf: f.prfType,
            data: f.pDataParams,
            data_count: f.ulNumberOfDataParams,
            iv: Some((f.pIV, f.ulIVLen)),
            keys: f.pAdditionalDerivedKeys,
            key_count: f.ulAdditionalDerivedKeys,
        }
    } else {
        // SAFETY: the caller guarantees the parameter; `param` checks sizes.
        let c: CK_SP800_108_KDF_PARAMS = unsafe { param(pp, len) }?;
        KbkdfRaw {
            prf: c.prfType,
            data: c.pDataParams,
            data_count: c.ulNumberOfDataParams,
            iv: None,
            keys: c.pAdditionalDerivedKeys,
            key_count: c.ulAdditionalDerivedKeys,
        }
    })
}

/// A C array inside a mechanism parameter (`CKR_MECHANISM_PARAM_INVALID` when malformed).
///
/// # Safety
/// `p` must be null or point to `count` readable `T`s that outlive `'a`.
unsafe fn param_array<'a, T>(p: *const T, count: CK_ULONG) -> Result<&'a [T]> {
    if count == 0 {
        return Ok(&[]);
    }
    if p.is_null() || count > MAX_TEMPLATE_LEN {
        return Err(err(
            CKR_MECHANISM_PARAM_INVALID,
            "a parameter array is null or its count is absurd",
        ));
    }
    // SAFETY: non-null, the caller guarantees `count` elements.
    Ok(unsafe { std::slice::from_raw_parts(p, count as usize) })
}

/// `CK_SP800_108_KDF_PARAMS` / `CK_SP800_108_FEEDBACK_KDF_PARAMS` into `MechParams::Kbkdf`
/// (the additional keys' `phKey` pointers are read separately by `derived_key_outputs`).
///
/// # Safety
/// `pp` must be null or point to `len` readable bytes of a valid parameter structure.
unsafe fn kbkdf(
    mechanism_type: CK_MECHANISM_TYPE,
    pp: *const c_void,
    len: CK_ULONG,
) -> Result<MechParams> {
    use crate::crypto::kdf::{CounterFormat, DkmFormat, KbkdfParams, PrfData};
    // SAFETY: forwarded caller contract.
    let raw = unsafe { kbkdf_raw(mechanism_type, pp, len) }?;
    // SAFETY: the caller guarantees the data parameter array.
    let items = unsafe { param_array(raw.data, raw.data_count) }?;
    let mut data = Vec::with_capacity(items.len());
    for d in items {
        let (pv, n) = (d.pValue as *const c_void, d.ulValueLen);
        let counter = |pv, n| -> Result<CounterFormat> {
            // SAFETY: the caller guarantees the format structure; `param` checks sizes.
            let f: CK_SP800_108_COUNTER_FORMAT = unsafe { param(pv, n) }?;
            Ok(CounterFormat {
                little_endian: f.bLittleEndian != 0,
                width_bits: f.ulWidthInBits,
            })
        };
        data.push(match d.type_ {
            CK_SP800_108_ITERATION_VARIABLE if pv.is_null() && n == 0 => PrfData::Iteration(None),
            CK_SP800_108_ITERATION_VARIABLE => PrfData::Iteration(Some(counter(pv, n)?)),
            CK_SP800_108_COUNTER => PrfData::Counter(counter(pv, n)?),
            CK_SP800_108_DKM_LENGTH => {
                // SAFETY: the caller guarantees the format structure; `param` checks sizes.
                let f: CK_SP800_108_DKM_LENGTH_FORMAT = unsafe { param(pv, n) }?;
                PrfData::DkmLength(DkmFormat {
                    method: f.dkmLengthMethod,
                    little_endian: f.bLittleEndian != 0,
                    width_bits: f.ulWidthInBits,
                })
            }
            // SAFETY: the caller guarantees the byte array.
            CK_SP800_108_BYTE_ARRAY => PrfData::Bytes(unsafe { param_bytes(pv as *const u8, n) }?),
            _ => {
                return Err(err(
                    CKR_MECHANISM_PARAM_INVALID,
                    "unsupported SP 800-108 data parameter type",
                ));
            }
        });
    }
    let iv = match raw.iv {
        // SAFETY: the caller guarantees the IV buffer.
        Some((p, n)) => Some(unsafe { param_bytes(p, n) }?),
        None => None,
    };
    // SAFETY: the caller guarantees the derived-key array.
    let keys = unsafe { param_array(raw.keys, raw.key_count) }?;
    let mut additional = Vec::with_capacity(keys.len());
    for k in keys {
        // SAFETY: the caller guarantees each template.
        additional.push(unsafe { template(k.pTemplate, k.ulAttributeCount) }?);
    }
    Ok(MechParams::Kbkdf(Box::new(KbkdfParams {
        prf: raw.prf,
        data,
        iv,
        additional,
    })))
}

/// The `phKey` out-pointers of an SP 800-108 mechanism's additional keys (empty for any other
/// mechanism), each checked non-null.
///
/// # Safety
/// `p` must point to a valid `CK_MECHANISM` already accepted by `mechanism`.
pub unsafe fn derived_key_outputs(p: *const CK_MECHANISM) -> Result<Vec<*mut CK_OBJECT_HANDLE>> {
    // SAFETY: forwarded caller contract.
    let m: CK_MECHANISM = unsafe { read(p) }?;
    if !matches!(
        m.mechanism,
        CKM_SP800_108_COUNTER_KDF | CKM_SP800_108_FEEDBACK_KDF
    ) {
        return Ok(Vec::new());
    }
    // SAFETY: forwarded caller contract.
    let raw = unsafe { kbkdf_raw(m.mechanism, m.pParameter as *const c_void, m.ulParameterLen) }?;
    // SAFETY: the caller guarantees the derived-key array.
    let keys = unsafe { param_array(raw.keys, raw.key_count) }?;
    keys.iter()
        .map(|k| {
            if k.phKey.is_null() {
                Err(err(
                    CKR_MECHANISM_PARAM_INVALID,
                    "an additional derived key has a null phKey",
                ))
            } else {
                Ok(k.phKey)
            }
        })
        .collect()
}

/// The capacity of a caller's output buffer: `None` for a length query (null buffer).
///
/// # Safety
/// `len` must be null or point to a readable `CK_ULONG`.
pub unsafe fn capacity(buf: *const u8, len: *const CK_ULONG) -> Result<Option<usize>> {
    // SAFETY: forwarded caller contract.
    let n = unsafe { read(len) }?;
    Ok(if buf.is_null() {
        None
    } else {
        Some(n.min(isize::MAX as CK_ULONG) as usize)
    })
}

/// Writes an operation's output with the length-query convention and returns the `CK_RV`.
///
/// # Safety
/// `buf` must be null or writable for the capacity `len` announced; `len` must be writable.
pub unsafe fn put_output(out: Output, buf: *mut u8, len: *mut CK_ULONG) -> Result<CK_RV> {
    match out {
        Output::Data(d) => {
            if !d.is_empty() {
                // SAFETY: `Data` is only produced when the caller's capacity (read from `len`)
                // is at least `d.len()`, and `buf` is then non-null.
                unsafe { std::ptr::copy_nonoverlapping(d.as_ptr(), buf, d.len()) };
            }
            // SAFETY: forwarded caller contract.
            unsafe { write(len, d.len() as CK_ULONG) }?;
            Ok(CKR_OK)
        }
        Output::Size(n) => {
            // SAFETY: forwarded caller contract.
            unsafe { write(len, n as CK_ULONG) }?;
            Ok(CKR_OK)
        }
        Output::TooSmall(n) => {
            // SAFETY: forwarded caller contract.
            unsafe { write(len, n as CK_ULONG) }?;
            Ok(CKR_BUFFER_TOO_SMALL)
        }
    }
}

/// A NUL-terminated C string (lossy UTF-8).
///
/// # Safety
/// `p` must be non-null and point to a NUL-terminated string.
pub unsafe fn c_string(p: *const std::ffi::c_char) -> String {
    // SAFETY: the caller guarantees a valid NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .into_owned()
}

/// Copies `src` into a fixed-size blank-padded C text field.
pub fn pad<const N: usize>(src: &str) -> [u8; N] {
    let mut out = [b' '; N];
    let b = src.as_bytes();
    let n = b.len().min(N);
    out[..n].copy_from_slice(&b[..n]);
    out
}

/// Reads the `CK_MECHANISM` of `C_MessageEncryptInit` / `C_MessageDecryptInit`. For
/// `CKM_AES_GCM` the parameter may be absent or a `CK_GCM_MESSAGE_PARAMS`, which is ignored
/// (every message brings its own); other mechanisms are read as for `C_EncryptInit`.
///
/// # Safety
/// `p` must be null or point to a valid `CK_MECHANISM` whose parameter is valid for its type.
pub unsafe fn message_mechanism(p: *const CK_MECHANISM) -> Result<Mechanism> {
    // SAFETY: forwarded caller contract.
    let m: CK_MECHANISM = unsafe { read(p) }?;
    if m.mechanism != CKM_AES_GCM {
        // SAFETY: forwarded caller contract.
        return unsafe { mechanism(p) };
    }
    let len = m.ulParameterLen as usize;
    if (m.pParameter.is_null() && len == 0)
        || (!m.pParameter.is_null() && len == size_of::<CK_GCM_MESSAGE_PARAMS>())
    {
        return Ok(Mechanism::new(m.mechanism));
    }
    Err(err(
        CKR_MECHANISM_PARAM_INVALID,
        "C_Message*Init takes no parameter or a CK_GCM_MESSAGE_PARAMS",
    ))
}

/// Reads one message's `CK_GCM_MESSAGE_PARAMS`, with the tag from `pTag` when `read_tag`
/// (decryption). The raw structure is returned too: its `pIv` (`ulIvLen` bytes) and `pTag`
/// (`ulTagBits / 8` bytes) receive a generated IV and an encryption tag.
///
/// # Safety
/// `p` must be null or point to `len` readable bytes; the structure's `pIv` must be null or
/// valid for `ulIvLen` bytes and its `pTag` null or valid for `ulTagBits / 8` bytes.
pub unsafe fn gcm_message(
    p: *const c_void,
    len: CK_ULONG,
    read_tag: bool,
) -> Result<(crate::engine::GcmMessage, CK_GCM_MESSAGE_PARAMS)> {
    // SAFETY: forwarded caller contract; `param` checks the size.
    let g: CK_GCM_MESSAGE_PARAMS = unsafe { param(p, len) }?;
    // SAFETY: the caller guarantees `pIv` for `ulIvLen` bytes.
    let iv = unsafe { param_bytes(g.pIv, g.ulIvLen) }?;
    let tag_len = if g.ulTagBits <= 128 && g.ulTagBits.is_multiple_of(8) {
        g.ulTagBits / 8
    } else {
        0
    };
    if tag_len != 0 && g.pTag.is_null() {
        return Err(err(CKR_MECHANISM_PARAM_INVALID, "pTag is null"));
    }
    let tag = if read_tag {
        // SAFETY: the caller guarantees `pTag` for `ulTagBits / 8` bytes (at most 16).
        unsafe { param_bytes(g.pTag, tag_len) }?
    } else {
        Vec::new()
    };
    let msg = crate::engine::GcmMessage {
        iv,
        iv_fixed_bits: g.ulIvFixedBits,
        generator: g.ivGenerator,
        tag_bits: g.ulTagBits,
        tag,
    };
    Ok((msg, g))
}

/// Copies `data` into a caller's buffer of `room` bytes (a generated IV into `pIv`, a tag into
/// `pTag`); `CKR_MECHANISM_PARAM_INVALID` when it does not fit or the pointer is null.
///
/// # Safety
/// `p` must be null or writable for `room` bytes.
pub unsafe fn write_back(p: *mut u8, room: CK_ULONG, data: &[u8]) -> Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    if p.is_null() || (room as usize) < data.len() {
        return Err(err(
            CKR_MECHANISM_PARAM_INVALID,
            "a message parameter buffer is null or too short",
        ));
    }
    // SAFETY: non-null and writable for `room` >= `data.len()` bytes per the caller's contract;
    // `data` is our own buffer, so the two do not overlap.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
    Ok(())
}
