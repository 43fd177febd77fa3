//! Digests on aws-lc-rs: `CKM_SHA_1`, `CKM_SHA224`, `CKM_SHA256`, `CKM_SHA384`, `CKM_SHA512`.
//!
//! `finish` returns the digest and resets the operation to a fresh context of the same algorithm
//! (simulator-defined; the engine ends the operation after `C_DigestFinal` anyway).
use super::*;
use crate::error::{Result, err};
use aws_lc_rs::digest;
use cryptoki_sys::*;

pub fn digester(mechanism_type: CK_MECHANISM_TYPE) -> Result<Box<dyn DigestOperation>> {
    let algorithm: &'static digest::Algorithm = match mechanism_type {
        CKM_SHA_1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        CKM_SHA224 => &digest::SHA224,
        CKM_SHA256 => &digest::SHA256,
        CKM_SHA384 => &digest::SHA384,
        CKM_SHA512 => &digest::SHA512,
        _ => return Err(err(CKR_MECHANISM_INVALID, "not a digest mechanism")),
    };
    Ok(Box::new(Digester {
        algorithm,
        ctx: digest::Context::new(algorithm),
    }))
}

struct Digester {
    algorithm: &'static digest::Algorithm,
    ctx: digest::Context,
}

impl DigestOperation for Digester {
    fn update(&mut self, data: &[u8]) {
        self.ctx.update(data);
    }

    fn finish(&mut self) -> Vec<u8> {
        let ctx = std::mem::replace(&mut self.ctx, digest::Context::new(self.algorithm));
        ctx.finish().as_ref().to_vec()
    }
}
