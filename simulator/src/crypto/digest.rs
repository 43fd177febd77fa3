//! Digests on aws-lc-rs: `CKM_SHA_1`, `CKM_SHA224`, `CKM_SHA256`, `CKM_SHA384`, `CKM_SHA512`.
//!
//! `finish` returns the digest and resets the operation to a fresh context of the same algorithm
//! (simulator-defined; the engine ends the operation after `C_DigestFinal` anyway).
use super::*;
use crate::base::error::{Result, err};
use aws_lc_rs::digest;
use cryptoki_sys::*;

/// FIPS 180-4's example digests of "abc", in hex: the digests' known answers (the unit tests,
/// Luna's `CA_PerformSelfTest`).
pub const FIPS180_ABC: &[(CK_MECHANISM_TYPE, &str)] = &[
    (CKM_SHA_1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
    (
        CKM_SHA224,
        "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
    ),
    (
        CKM_SHA256,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    ),
    (
        CKM_SHA384,
        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
    ),
    (
        CKM_SHA512,
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    ),
];

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

#[cfg(test)]
mod tests {
    use super::super::aes::tests::{hex, rv};
    use super::super::{MechParams, Mechanism, digest_init};
    use super::*;

    #[test]
    fn fips180_abc() {
        for &(mt, d) in FIPS180_ABC {
            let mut op = digester(mt).unwrap();
            op.update(b"abc");
            assert_eq!(op.finish(), hex(d));
            // Multi-part, empty updates included, and through the engine entry point.
            let mut op = digest_init(&Mechanism::new(mt)).unwrap();
            op.update(b"");
            op.update(b"a");
            op.update(b"bc");
            assert_eq!(op.finish(), hex(d));
            // After finish the operation starts over.
            op.update(b"abc");
            assert_eq!(op.finish(), hex(d));
        }
        let mut op = digester(CKM_SHA256).unwrap();
        assert_eq!(
            op.finish(),
            hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn errors() {
        assert_eq!(rv(digester(CKM_SHA256_HMAC)), CKR_MECHANISM_INVALID);
        assert_eq!(rv(digester(CKM_MD5)), CKR_MECHANISM_INVALID);
        assert_eq!(
            rv(digest_init(&Mechanism::with(
                CKM_SHA256,
                MechParams::Bytes(vec![1])
            ))),
            CKR_MECHANISM_PARAM_INVALID
        );
    }
}
