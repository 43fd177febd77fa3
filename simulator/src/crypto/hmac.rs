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
use crate::base::error::{Result, err};
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

fn finished() -> crate::base::error::Error {
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

#[cfg(test)]
mod tests {
    use super::super::aes::tests::{hex, rv};
    use super::super::{sign_init, verify_init};
    use super::*;
    use zeroize::Zeroizing;

    fn secret(key_type: CK_KEY_TYPE, value: &[u8]) -> Arc<KeyMaterial> {
        Arc::new(KeyMaterial::Secret(SecretKey {
            key_type,
            value: Zeroizing::new(value.to_vec()),
        }))
    }

    const DATA: &[u8] = b"what do ya want for nothing?";

    /// RFC 4231 test case 2 (RFC 2202 for SHA-1).
    const CASES: &[(CK_MECHANISM_TYPE, &str)] = &[
        (CKM_SHA_1_HMAC, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
        (
            CKM_SHA224_HMAC,
            "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
        ),
        (
            CKM_SHA256_HMAC,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            CKM_SHA384_HMAC,
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e
             8e2240ca5e69e2c78b3239ecfab21649",
        ),
        (
            CKM_SHA512_HMAC,
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554
             9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
    ];

    #[test]
    fn rfc4231_and_rfc2202() {
        for &(mt, mac) in CASES {
            let m = Mechanism::new(mt);
            let mac = hex(mac);
            for kt in [CKK_GENERIC_SECRET, CKK_SHA256_HMAC] {
                let key = secret(kt, b"Jefe");
                assert_eq!(sign_init(&m, &key).unwrap().one_shot(DATA).unwrap(), mac);
                // Multi-part with odd splits.
                for cuts in [&[][..], &[0], &[1], &[3, 4, 17], &[27]] {
                    let mut s = sign_init(&m, &key).unwrap();
                    let mut v = verify_init(&m, &key).unwrap();
                    let mut start = 0;
                    for &c in cuts.iter().chain(std::iter::once(&DATA.len())) {
                        s.update(&DATA[start..c]).unwrap();
                        v.update(&DATA[start..c]).unwrap();
                        start = c;
                    }
                    assert_eq!(s.finish().unwrap(), mac);
                    v.finish(&mac).unwrap();
                }
                let mut bad = mac.clone();
                bad[0] ^= 1;
                assert_eq!(
                    rv(verify_init(&m, &key).unwrap().one_shot(DATA, &bad)),
                    CKR_SIGNATURE_INVALID
                );
                assert_eq!(
                    rv(verify_init(&m, &key)
                        .unwrap()
                        .one_shot(DATA, &mac[..mac.len() - 1])),
                    CKR_SIGNATURE_LEN_RANGE
                );
                assert_eq!(
                    rv(verify_init(&m, &key).unwrap().one_shot(DATA, &[])),
                    CKR_SIGNATURE_LEN_RANGE
                );
                assert_eq!(
                    rv(verify_init(&m, &key)
                        .unwrap()
                        .one_shot(DATA, &[mac.clone(), vec![0]].concat())),
                    CKR_SIGNATURE_LEN_RANGE
                );
            }
        }
    }

    #[test]
    fn key_params_and_lifecycle() {
        let m = Mechanism::new(CKM_SHA256_HMAC);
        assert_eq!(
            rv(signer(&m, &secret(CKK_GENERIC_SECRET, &[]))),
            CKR_KEY_SIZE_RANGE
        );
        assert_eq!(
            rv(verifier(&m, &secret(CKK_GENERIC_SECRET, &[]))),
            CKR_KEY_SIZE_RANGE
        );
        assert_eq!(
            rv(signer(&m, &secret(CKK_GENERIC_SECRET, &[1; 513]))),
            CKR_KEY_SIZE_RANGE
        );
        assert!(signer(&m, &secret(CKK_GENERIC_SECRET, &[1; 512])).is_ok());
        assert!(signer(&m, &secret(CKK_GENERIC_SECRET, &[1])).is_ok());
        for p in [MechParams::MacLength(16), MechParams::Bytes(vec![])] {
            let mp = Mechanism::with(CKM_SHA256_HMAC, p);
            assert_eq!(
                rv(signer(&mp, &secret(CKK_GENERIC_SECRET, b"k"))),
                CKR_MECHANISM_PARAM_INVALID
            );
            assert_eq!(
                rv(verifier(&mp, &secret(CKK_GENERIC_SECRET, b"k"))),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        assert_eq!(
            rv(signer(
                &Mechanism::new(CKM_SHA256),
                &secret(CKK_GENERIC_SECRET, b"k")
            )),
            CKR_MECHANISM_INVALID
        );
        let mut s = signer(&m, &secret(CKK_GENERIC_SECRET, b"k")).unwrap();
        assert_eq!(s.one_shot(b"").unwrap().len(), 32);
        assert_eq!(rv(s.update(b"x")), CKR_OPERATION_NOT_INITIALIZED);
        assert_eq!(rv(s.finish()), CKR_OPERATION_NOT_INITIALIZED);
        let mut v = verifier(&m, &secret(CKK_GENERIC_SECRET, b"k")).unwrap();
        assert_eq!(rv(v.finish(&[0; 32])), CKR_SIGNATURE_INVALID);
        assert_eq!(rv(v.finish(&[0; 32])), CKR_OPERATION_NOT_INITIALIZED);
        // Long keys are hashed (RFC 4231 test case 6).
        let key = secret(CKK_GENERIC_SECRET, &[0xaa; 131]);
        assert_eq!(
            signer(&m, &key)
                .unwrap()
                .one_shot(b"Test Using Larger Than Block-Size Key - Hash Key First")
                .unwrap(),
            hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        );
    }
}
