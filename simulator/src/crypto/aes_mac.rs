//! `CKM_AES_MAC` and `CKM_AES_MAC_GENERAL` (PKCS#11 3.0 §2.14.7): the CBC-MAC of the data with
//! a zero IV, the last partial block padded with zero bytes, on aws-lc-rs' AES-CBC. The MAC is a
//! prefix of the final CBC block: half a block (8 bytes) for `CKM_AES_MAC`, the parameter's
//! `ulMacLength` (1 to 16 bytes) for `CKM_AES_MAC_GENERAL`.
//!
//! Choices (simulator-defined where PKCS#11 is silent):
//! - empty data is MACed as one all-zero block (zero padding of nothing to a whole block);
//! - a verification signature whose length is not the MAC length is `CKR_SIGNATURE_LEN_RANGE`;
//! - the `CK_MAC_GENERAL_PARAMS` comes as `MechParams::MacLength`; other parameters are
//!   `CKR_MECHANISM_PARAM_INVALID`.
use super::*;
use crate::base::error::{Result, err};
use aws_lc_rs::cipher::{
    AES_128, AES_192, AES_256, EncryptingKey, EncryptionContext, UnboundCipherKey,
};
use aws_lc_rs::constant_time;
use aws_lc_rs::iv::FixedLength;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

const BLOCK: usize = 16;

pub fn signer(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn SignOperation>> {
    Ok(Box::new(AesMacSign(CbcMac::new(mech, key)?)))
}

pub fn verifier(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn VerifyOperation>> {
    Ok(Box::new(AesMacVerify(CbcMac::new(mech, key)?)))
}

/// The MAC length a mechanism asks for.
fn mac_len(mech: &Mechanism) -> Result<usize> {
    let bad = || {
        err(
            CKR_MECHANISM_PARAM_INVALID,
            "CKM_AES_MAC_GENERAL needs a MAC length of 1 to 16 bytes",
        )
    };
    match mech.mechanism_type {
        CKM_AES_MAC => {
            mech.expect_no_params()?;
            Ok(BLOCK / 2)
        }
        CKM_AES_MAC_GENERAL => {
            let len = match &mech.params {
                MechParams::MacLength(l) => *l,
                _ => return Err(bad()),
            };
            match usize::try_from(len) {
                Ok(l) if (1..=BLOCK).contains(&l) => Ok(l),
                _ => Err(bad()),
            }
        }
        _ => Err(err(CKR_MECHANISM_INVALID, "not an AES MAC mechanism")),
    }
}

/// A running CBC-MAC: whole blocks are encrypted as they arrive, chaining through `state`.
struct CbcMac {
    key: Option<EncryptingKey>,
    state: [u8; BLOCK],
    pending: Zeroizing<Vec<u8>>,
    mac_len: usize,
    any_data: bool,
}

impl CbcMac {
    fn new(mech: &Mechanism, key: &KeyMaterial) -> Result<CbcMac> {
        let mac_len = mac_len(mech)?;
        let secret = key.secret()?;
        if secret.key_type != CKK_AES {
            return Err(err(CKR_KEY_TYPE_INCONSISTENT, "an AES key is required"));
        }
        let algorithm = match secret.value.len() {
            16 => &AES_128,
            24 => &AES_192,
            32 => &AES_256,
            _ => return Err(err(CKR_KEY_SIZE_RANGE, "AES keys are 16, 24 or 32 bytes")),
        };
        let unbound = UnboundCipherKey::new(algorithm, &secret.value)
            .map_err(|_| err(CKR_KEY_SIZE_RANGE, "AES keys are 16, 24 or 32 bytes"))?;
        let key = EncryptingKey::cbc(unbound).map_err(failed)?;
        Ok(CbcMac {
            key: Some(key),
            state: [0; BLOCK],
            pending: Zeroizing::new(Vec::new()),
            mac_len,
            any_data: false,
        })
    }

    /// CBC-encrypts whole blocks of `data` from the current chaining value.
    fn chain(&mut self, data: &mut [u8]) -> Result<()> {
        let key = self.key.as_ref().ok_or_else(finished)?;
        key.less_safe_encrypt(
            data,
            EncryptionContext::Iv128(FixedLength::from(self.state)),
        )
        .map_err(failed)?;
        if let Some(last) = data.last_chunk::<BLOCK>() {
            self.state = *last;
        }
        Ok(())
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        if self.key.is_none() {
            return Err(finished());
        }
        self.any_data |= !data.is_empty();
        self.pending.extend_from_slice(data);
        let whole = self.pending.len() - self.pending.len() % BLOCK;
        if whole > 0 {
            let mut blocks = Zeroizing::new(self.pending[..whole].to_vec());
            self.pending.drain(..whole);
            if let Err(e) = self.chain(&mut blocks) {
                self.key = None;
                return Err(e);
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        if self.key.is_none() {
            return Err(finished());
        }
        if !self.pending.is_empty() || !self.any_data {
            let mut last = Zeroizing::new(self.pending.to_vec());
            last.resize(BLOCK, 0);
            self.chain(&mut last)?;
        }
        self.key = None;
        Ok(Zeroizing::new(self.state[..self.mac_len].to_vec()))
    }
}

fn failed(_: aws_lc_rs::error::Unspecified) -> crate::base::error::Error {
    err(CKR_FUNCTION_FAILED, "the AES primitive failed")
}

fn finished() -> crate::base::error::Error {
    err(
        CKR_OPERATION_NOT_INITIALIZED,
        "the operation has already finished",
    )
}

struct AesMacSign(CbcMac);

impl SignOperation for AesMacSign {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.0.update(data)
    }
    fn finish(&mut self) -> Result<Vec<u8>> {
        Ok(self.0.finish()?.to_vec())
    }
}

struct AesMacVerify(CbcMac);

impl VerifyOperation for AesMacVerify {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.0.update(data)
    }
    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let mac = self.0.finish()?;
        if signature.len() != mac.len() {
            return Err(err(
                CKR_SIGNATURE_LEN_RANGE,
                "the signature length differs from the MAC length",
            ));
        }
        constant_time::verify_slices_are_equal(&mac, signature)
            .map_err(|_| err(CKR_SIGNATURE_INVALID, "the MAC does not match"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::cipher::{EncryptingKey, UnboundCipherKey};

    fn key(bytes: &[u8]) -> Arc<KeyMaterial> {
        Arc::new(KeyMaterial::Secret(SecretKey {
            key_type: CKK_AES,
            value: Zeroizing::new(bytes.to_vec()),
        }))
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// SP 800-38A F.2.1 (CBC-AES128 encrypt): the CBC-MAC of the four plaintext blocks is the
    /// last ciphertext block (the vectors' IV is not zero, so the first block is pre-XORed).
    #[test]
    fn known_answer_sp800_38a() {
        let k = hex("2b7e151628aed2a6abf7158809cf4f3c");
        let iv = hex("000102030405060708090a0b0c0d0e0f");
        let mut data = hex(concat!(
            "6bc1bee22e409f96e93d7e117393172a",
            "ae2d8a571e03ac9c9eb76fac45af8e51",
            "30c81c46a35ce411e5fbc1191a0a52ef",
            "f69f2445df4f9b17ad2b417be66c3710"
        ));
        for (d, v) in data.iter_mut().zip(iv.iter()) {
            *d ^= v;
        }
        let last = hex("3ff1caa1681fac09120eca307586e1a7");
        let mut op = signer(&Mechanism::new(CKM_AES_MAC), &key(&k)).unwrap();
        assert_eq!(op.one_shot(&data).unwrap(), last[..8]);
        let mech = Mechanism::with(CKM_AES_MAC_GENERAL, MechParams::MacLength(16));
        let mut op = signer(&mech, &key(&k)).unwrap();
        assert_eq!(op.one_shot(&data).unwrap(), last);
        let mut v = verifier(&Mechanism::new(CKM_AES_MAC), &key(&k)).unwrap();
        v.one_shot(&data, &last[..8]).unwrap();
    }

    /// Zero padding: the MAC of a partial block equals that of the zero-padded block, computed
    /// independently with aws-lc's CBC; multi-part equals one-shot.
    #[test]
    fn padding_and_multipart() {
        let k = [7u8; 32];
        let data = b"The quick brown fox jumps over the lazy dog";
        let mut padded = data.to_vec();
        padded.resize(48, 0);
        let cbc = EncryptingKey::cbc(UnboundCipherKey::new(&AES_256, &k).unwrap()).unwrap();
        cbc.less_safe_encrypt(
            &mut padded,
            EncryptionContext::Iv128(FixedLength::from([0u8; 16])),
        )
        .unwrap();
        let mech = Mechanism::new(CKM_AES_MAC);
        let mut op = signer(&mech, &key(&k)).unwrap();
        let one = op.one_shot(data).unwrap();
        assert_eq!(one, padded[32..40]);
        let mut op = signer(&mech, &key(&k)).unwrap();
        for chunk in data.chunks(5) {
            op.update(chunk).unwrap();
        }
        assert_eq!(op.finish().unwrap(), one);
        assert_eq!(op.finish().unwrap_err().rv, CKR_OPERATION_NOT_INITIALIZED);
    }

    #[test]
    fn errors() {
        let k = key(&[1u8; 16]);
        let mut v = verifier(&Mechanism::new(CKM_AES_MAC), &k).unwrap();
        assert_eq!(
            v.one_shot(b"x", &[0u8; 16]).unwrap_err().rv,
            CKR_SIGNATURE_LEN_RANGE
        );
        let mut v = verifier(&Mechanism::new(CKM_AES_MAC), &k).unwrap();
        assert_eq!(
            v.one_shot(b"x", &[0u8; 8]).unwrap_err().rv,
            CKR_SIGNATURE_INVALID
        );
        for l in [0, 17] {
            let mech = Mechanism::with(CKM_AES_MAC_GENERAL, MechParams::MacLength(l));
            assert_eq!(
                signer(&mech, &k).err().unwrap().rv,
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        let mech = Mechanism::with(CKM_AES_MAC_GENERAL, MechParams::MacLength(4));
        assert_eq!(signer(&mech, &k).unwrap().one_shot(b"").unwrap().len(), 4);
        assert_eq!(
            signer(&Mechanism::new(CKM_AES_MAC), &key(&[1u8; 15]))
                .err()
                .unwrap()
                .rv,
            CKR_KEY_SIZE_RANGE
        );
    }
}
