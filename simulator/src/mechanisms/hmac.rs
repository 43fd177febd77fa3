//! HMAC on aws-lc-rs: `CKM_SHA_1_HMAC`, `CKM_SHA224_HMAC`, `CKM_SHA256_HMAC`, `CKM_SHA384_HMAC`
//! and `CKM_SHA512_HMAC`, with the full hash length as MAC length.
//!
//! Choices:
//! - the key may be any secret key the registry allows for the mechanism (generic secrets, the
//!   typed HMAC keys, AES keys); its length must be within the registry's `CK_MECHANISM_INFO`
//!   range (1 to 512 bytes), else `CKR_KEY_SIZE_RANGE` (simulator-defined upper bound);
//! - these mechanisms take no parameter (`CKR_MECHANISM_PARAM_INVALID` otherwise);
//! - verification recomputes the MAC and compares in constant time; a signature whose length is
//!   not the MAC length is `CKR_SIGNATURE_LEN_RANGE`, a mismatch `CKR_SIGNATURE_INVALID`;
//! - operations are single-use: after `finish`, calls return `CKR_OPERATION_NOT_INITIALIZED`.
use super::*;
use crate::error::{Result, err};
use aws_lc_rs::{constant_time, hmac};
use cryptoki_sys::*;
use std::sync::Arc;

pub fn signer(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn SignOperation>> {
    Ok(Box::new(HmacSign {
        ctx: Some(context(mech, key)?),
    }))
}

pub fn verifier(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn VerifyOperation>> {
    Ok(Box::new(HmacVerify {
        ctx: Some(context(mech, key)?),
    }))
}

fn algorithm(mechanism_type: CK_MECHANISM_TYPE) -> Result<hmac::Algorithm> {
    Ok(match mechanism_type {
        CKM_SHA_1_HMAC => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        CKM_SHA224_HMAC => hmac::HMAC_SHA224,
        CKM_SHA256_HMAC => hmac::HMAC_SHA256,
        CKM_SHA384_HMAC => hmac::HMAC_SHA384,
        CKM_SHA512_HMAC => hmac::HMAC_SHA512,
        _ => return Err(err(CKR_MECHANISM_INVALID, "not an HMAC mechanism")),
    })
}

fn context(mech: &Mechanism, key: &KeyMaterial) -> Result<hmac::Context> {
    let algorithm = algorithm(mech.mechanism_type)?;
    mech.expect_no_params()?;
    let value = &key.secret()?.value;
    let entry = lookup(mech.mechanism_type)?;
    let len = value.len() as CK_ULONG;
    if value.is_empty() || len < entry.min_key_size || len > entry.max_key_size {
        return Err(err(
            CKR_KEY_SIZE_RANGE,
            format!(
                "{} keys are {} to {} bytes",
                entry.name,
                entry.min_key_size.max(1),
                entry.max_key_size
            ),
        ));
    }
    Ok(hmac::Context::with_key(&hmac::Key::new(algorithm, value)))
}

fn finished() -> crate::error::Error {
    err(
        CKR_OPERATION_NOT_INITIALIZED,
        "the operation has already finished",
    )
}

fn update(ctx: &mut Option<hmac::Context>, data: &[u8]) -> Result<()> {
    ctx.as_mut().ok_or_else(finished)?.update(data);
    Ok(())
}

struct HmacSign {
    ctx: Option<hmac::Context>,
}

impl SignOperation for HmacSign {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        update(&mut self.ctx, data)
    }

    fn finish(&mut self) -> Result<Vec<u8>> {
        Ok(self
            .ctx
            .take()
            .ok_or_else(finished)?
            .sign()
            .as_ref()
            .to_vec())
    }
}

struct HmacVerify {
    ctx: Option<hmac::Context>,
}

impl VerifyOperation for HmacVerify {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        update(&mut self.ctx, data)
    }

    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let tag = self.ctx.take().ok_or_else(finished)?.sign();
        if signature.len() != tag.as_ref().len() {
            return Err(err(
                CKR_SIGNATURE_LEN_RANGE,
                "the signature is not the HMAC's length",
            ));
        }
        constant_time::verify_slices_are_equal(tag.as_ref(), signature)
            .map_err(|_| err(CKR_SIGNATURE_INVALID, "the HMAC does not match"))
    }
}
