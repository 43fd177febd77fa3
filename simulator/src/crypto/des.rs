//! DES and Triple DES: `CKM_DES_ECB`, `CKM_DES_CBC`, `CKM_DES_CBC_PAD` (single DES, `CKK_DES`)
//! and `CKM_DES3_ECB`, `CKM_DES3_CBC`, `CKM_DES3_CBC_PAD` (EDE, `CKK_DES2` and `CKK_DES3`), on
//! aws-lc's DES (aws-lc-rs' `legacy-des` feature: `DES_FOR_LEGACY_USE_ONLY`,
//! `DES_EDE_FOR_LEGACY_USE_ONLY`, `DES_EDE3_FOR_LEGACY_USE_ONLY`); the fixed key lengths of the
//! DES key types and the odd parity of generated keys. The aws-lc key schedule is built once,
//! when the operation is created.
//!
//! Choices (simulator-defined where PKCS#11 is silent):
//! - DES keys must be 8 bytes, DES2 keys 16 and DES3 keys 24 (`CKR_KEY_SIZE_RANGE` otherwise);
//!   parity bits are ignored, as DES ignores them;
//! - degenerate DES3 keys are accepted and behave as the cipher they collapse to. aws-lc-rs
//!   refuses them for 3TDEA (it wants K1, K2, K3 pairwise distinct), so they are handed to the
//!   exactly equivalent aws-lc cipher instead: K1 = K3 != K2 (the usual encoding of a
//!   double-length key) is 2TDEA `DES_EDE_FOR_LEGACY_USE_ONLY` with K1 || K2; K1 = K2 is single
//!   DES with K3, K2 = K3 single DES with K1 (EDE cancels the equal pair);
//! - a weak or semi-weak DES key, or a DES2/DES3 key with such a component (FIPS 74 /
//!   SP 800-67 §3.3.2), is refused by aws-lc and is `CKR_KEY_SIZE_RANGE` at operation init,
//!   like any other key value the cipher cannot take; key generation never makes one;
//! - ECB/CBC/CBC_PAD buffering, padding and length errors are those of the AES block modes
//!   (shared code in `aes.rs`), with 8-byte blocks; the CBC mechanisms take an 8-byte IV
//!   (`CKR_MECHANISM_PARAM_INVALID` otherwise).
// Every DES item of aws-lc-rs is `#[deprecated]` to steer new designs away from DES; PKCS#11
// interoperability is exactly the legacy use it is kept for.
#![allow(deprecated)]

use super::aes::{BlockModeOp, BlockProcessor};
use super::*;
use crate::base::error::{Result, err};
use aws_lc_rs::cipher::{
    Algorithm, DES_EDE_FOR_LEGACY_USE_ONLY, DES_EDE3_FOR_LEGACY_USE_ONLY, DES_FOR_LEGACY_USE_ONLY,
    DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey,
};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::iv::FixedLength;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::{Zeroize, Zeroizing};

const BLOCK: usize = 8;

pub fn encryptor(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn CipherOperation>> {
    cipher_op(mech, key, true)
}

pub fn decryptor(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn CipherOperation>> {
    cipher_op(mech, key, false)
}

/// The value length of the DES key types (`CKK_DES` 8, `CKK_DES2` 16, `CKK_DES3` 24 bytes),
/// which fix it: `None` for every other key type.
pub fn fixed_value_len(key_type: CK_KEY_TYPE) -> Option<usize> {
    match key_type {
        CKK_DES => Some(8),
        CKK_DES2 => Some(16),
        CKK_DES3 => Some(24),
        _ => None,
    }
}

/// Sets each byte's least significant bit so that the byte has an odd number of one bits.
pub fn set_odd_parity(key: &mut [u8]) {
    for b in key.iter_mut() {
        let high_ones = (*b >> 1).count_ones();
        *b = (*b & 0xFE) | (high_ones % 2 == 0) as u8;
    }
}

/// Whether aws-lc takes a DES, DES2 or DES3 key value: false for a weak or semi-weak DES key
/// or component (key generation draws again).
pub fn usable(key_type: CK_KEY_TYPE, value: &[u8]) -> bool {
    aws_lc_key(key_type, value).is_ok_and(|k| EncryptingKey::ecb(k).is_ok())
}

/// The aws-lc key for a DES, DES2 or DES3 key value of the right length.
fn aws_lc_key(key_type: CK_KEY_TYPE, value: &[u8]) -> Result<UnboundCipherKey> {
    match (key_type, value.len()) {
        (CKK_DES, 8) => UnboundCipherKey::new(&DES_FOR_LEGACY_USE_ONLY, value)
            .map_err(|_| err(CKR_KEY_SIZE_RANGE, "DES keys are 8 bytes")),
        (CKK_DES3, 24) => {
            let mut v = Zeroizing::new([0u8; 24]);
            v.copy_from_slice(value);
            unbound(&v)
        }
        // A double-length key K1 || K2 is the 3-key value K1 || K2 || K1.
        (CKK_DES2, 16) => {
            let mut v = Zeroizing::new([0u8; 24]);
            v[..16].copy_from_slice(value);
            v[16..].copy_from_slice(&value[..8]);
            unbound(&v)
        }
        (CKK_DES | CKK_DES2 | CKK_DES3, _) => Err(err(
            CKR_KEY_SIZE_RANGE,
            "DES keys are 8 bytes, DES2 keys 16 and DES3 keys 24",
        )),
        _ => Err(err(CKR_KEY_TYPE_INCONSISTENT, "not a DES key")),
    }
}

fn cipher_op(
    mech: &Mechanism,
    key: &KeyMaterial,
    encrypt: bool,
) -> Result<Box<dyn CipherOperation>> {
    let secret = key.secret()?;
    let (key_types, name): (&[CK_KEY_TYPE], _) = match mech.mechanism_type {
        CKM_DES_ECB | CKM_DES_CBC | CKM_DES_CBC_PAD => (&[CKK_DES], "a DES key"),
        CKM_DES3_ECB | CKM_DES3_CBC | CKM_DES3_CBC_PAD => {
            (&[CKK_DES2, CKK_DES3], "a DES2 or DES3 key")
        }
        _ => return Err(err(CKR_MECHANISM_INVALID, "not a DES cipher mechanism")),
    };
    if !key_types.contains(&secret.key_type) {
        return Err(err(
            CKR_KEY_TYPE_INCONSISTENT,
            format!("{name} is required"),
        ));
    }
    let key = aws_lc_key(secret.key_type, &secret.value)?;
    let (iv, pad) = match mech.mechanism_type {
        CKM_DES_ECB | CKM_DES3_ECB => {
            mech.expect_no_params()?;
            (None, false)
        }
        _ => {
            let iv = match &mech.params {
                MechParams::Bytes(iv) => <[u8; BLOCK]>::try_from(iv.as_slice()).map_err(|_| {
                    err(
                        CKR_MECHANISM_PARAM_INVALID,
                        "the DES CBC IV must be 8 bytes",
                    )
                })?,
                _ => {
                    return Err(err(
                        CKR_MECHANISM_PARAM_INVALID,
                        "DES CBC needs an 8-byte IV",
                    ));
                }
            };
            let pad = matches!(mech.mechanism_type, CKM_DES_CBC_PAD | CKM_DES3_CBC_PAD);
            (Some(iv), pad)
        }
    };
    let refused = |_| {
        err(
            CKR_KEY_SIZE_RANGE,
            "aws-lc refuses this DES key (weak or semi-weak, or with such a component)",
        )
    };
    let proc = match (iv, encrypt) {
        (None, true) => DesBlocks::EcbEnc(EncryptingKey::ecb(key).map_err(refused)?),
        (None, false) => DesBlocks::EcbDec(DecryptingKey::ecb(key).map_err(refused)?),
        (Some(iv), true) => DesBlocks::CbcEnc(EncryptingKey::cbc(key).map_err(refused)?, iv),
        (Some(iv), false) => DesBlocks::CbcDec(DecryptingKey::cbc(key).map_err(refused)?, iv),
    };
    Ok(Box::new(BlockModeOp::new(proc, BLOCK, encrypt, pad)))
}

/// The aws-lc key for a 24-byte DES3 key: 3TDEA, or the cipher a degenerate key collapses to.
fn unbound(value: &[u8; 24]) -> Result<UnboundCipherKey> {
    let (k1, k2, k3) = (&value[..8], &value[8..16], &value[16..]);
    let eq = |a: &[u8], b: &[u8]| verify_slices_are_equal(a, b).is_ok();
    let (algorithm, key): (&'static Algorithm, Zeroizing<Vec<u8>>) = if eq(k1, k2) {
        // E_K3(D_K1(E_K1(x))) = E_K3(x); K1 = K2 = K3 is the same.
        (&DES_FOR_LEGACY_USE_ONLY, Zeroizing::new(k3.to_vec()))
    } else if eq(k2, k3) {
        // E_K2(D_K2(E_K1(x))) = E_K1(x).
        (&DES_FOR_LEGACY_USE_ONLY, Zeroizing::new(k1.to_vec()))
    } else if eq(k1, k3) {
        (
            &DES_EDE_FOR_LEGACY_USE_ONLY,
            Zeroizing::new(value[..16].to_vec()),
        )
    } else {
        (
            &DES_EDE3_FOR_LEGACY_USE_ONLY,
            Zeroizing::new(value.to_vec()),
        )
    };
    UnboundCipherKey::new(algorithm, &key)
        .map_err(|_| err(CKR_KEY_SIZE_RANGE, "DES3 keys are 24 bytes"))
}

fn des_failed(_: aws_lc_rs::error::Unspecified) -> crate::base::error::Error {
    err(CKR_FUNCTION_FAILED, "the DES primitive failed")
}

fn iv64(iv: [u8; BLOCK]) -> EncryptionContext {
    EncryptionContext::Iv64(FixedLength::from(iv))
}

/// DES or 3DES in ECB or CBC mode, one direction, on an aws-lc key schedule; the CBC variants carry the
/// chaining value, which advances with every call.
enum DesBlocks {
    EcbEnc(EncryptingKey),
    EcbDec(DecryptingKey),
    CbcEnc(EncryptingKey, [u8; BLOCK]),
    CbcDec(DecryptingKey, [u8; BLOCK]),
}

impl BlockProcessor for DesBlocks {
    fn process(&mut self, data: &mut [u8]) -> Result<()> {
        match self {
            DesBlocks::EcbEnc(k) => {
                k.less_safe_encrypt(data, EncryptionContext::None)
                    .map_err(des_failed)?;
            }
            DesBlocks::EcbDec(k) => {
                k.decrypt(data, DecryptionContext::None)
                    .map_err(des_failed)?;
            }
            DesBlocks::CbcEnc(k, iv) => {
                k.less_safe_encrypt(data, iv64(*iv)).map_err(des_failed)?;
                if let Some(last) = data.last_chunk::<BLOCK>() {
                    *iv = *last;
                }
            }
            DesBlocks::CbcDec(k, iv) => {
                let next = data.last_chunk::<BLOCK>().copied();
                k.decrypt(data, iv64(*iv).into()).map_err(des_failed)?;
                if let Some(next) = next {
                    *iv = next;
                }
            }
        }
        Ok(())
    }
}

impl Drop for DesBlocks {
    fn drop(&mut self) {
        if let DesBlocks::CbcEnc(_, iv) | DesBlocks::CbcDec(_, iv) = self {
            iv.zeroize();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::aes::tests::{check_multipart, hex, rv};
    use super::super::{decrypt_init, encrypt_init, unwrap, wrap};
    use super::*;
    use zeroize::Zeroizing;

    fn des3(value: &[u8]) -> Arc<KeyMaterial> {
        Arc::new(KeyMaterial::Secret(SecretKey {
            key_type: CKK_DES3,
            value: Zeroizing::new(value.to_vec()),
        }))
    }

    fn enc(mech: &Mechanism, key: &Arc<KeyMaterial>, data: &[u8]) -> Result<Vec<u8>> {
        encrypt_init(mech, key)?.one_shot(data)
    }

    fn dec(mech: &Mechanism, key: &Arc<KeyMaterial>, data: &[u8]) -> Result<Vec<u8>> {
        decrypt_init(mech, key)?.one_shot(data)
    }

    /// Single DES through 3DES with K1 = K2 = K3.
    fn single_des(key: &str, plain: &str) -> Vec<u8> {
        let k = hex(key).repeat(3);
        enc(&Mechanism::new(CKM_DES3_ECB), &des3(&k), &hex(plain)).unwrap()
    }

    #[test]
    fn des_known_answers() {
        // FIPS 46 worked example.
        assert_eq!(
            single_des("133457799BBCDFF1", "0123456789ABCDEF"),
            hex("85E813540F0AB405")
        );
        // SP 800-20 variable-key tests (its variable-plaintext tests use the weak key
        // 0101010101010101, which aws-lc refuses).
        assert_eq!(
            single_des("8001010101010101", "0000000000000000"),
            hex("95A8D72813DAA94D")
        );
        assert_eq!(
            single_des("4001010101010101", "0000000000000000"),
            hex("0EEC1487DD8C26D5")
        );
        assert_eq!(
            single_des("2001010101010101", "0000000000000000"),
            hex("7AD16FFB79C45926")
        );
    }

    fn des(value: &[u8]) -> Arc<KeyMaterial> {
        Arc::new(KeyMaterial::Secret(SecretKey {
            key_type: CKK_DES,
            value: Zeroizing::new(value.to_vec()),
        }))
    }

    /// Single DES (`CKK_DES`, `CKM_DES_*`): the FIPS 46 and SP 800-20 answers, the same cipher
    /// as a DES3 key K || K || K, key and mechanism checks, weak keys.
    #[test]
    fn single_des_keys_and_mechanisms() {
        let m_ecb = Mechanism::new(CKM_DES_ECB);
        for (key, plain, cipher) in [
            ("133457799BBCDFF1", "0123456789ABCDEF", "85E813540F0AB405"),
            ("8001010101010101", "0000000000000000", "95A8D72813DAA94D"),
            ("4001010101010101", "0000000000000000", "0EEC1487DD8C26D5"),
        ] {
            let k = des(&hex(key));
            assert_eq!(enc(&m_ecb, &k, &hex(plain)).unwrap(), hex(cipher));
            assert_eq!(dec(&m_ecb, &k, &hex(cipher)).unwrap(), hex(plain));
            assert_eq!(single_des(key, plain), hex(cipher));
        }
        let key = des(&hex("0123456789ABCDEF"));
        let data: Vec<u8> = (0u8..40).collect();
        for m in [
            Mechanism::with(CKM_DES_CBC, MechParams::Bytes(hex(IV))),
            Mechanism::with(CKM_DES_CBC_PAD, MechParams::Bytes(hex(IV))),
        ] {
            check_multipart(&m, &key, &data);
            let mt3 = m.mechanism_type - CKM_DES_CBC + CKM_DES3_CBC;
            let m3 = Mechanism::with(mt3, m.params.clone());
            assert_eq!(
                enc(&m, &key, &data).unwrap(),
                enc(&m3, &des3(&hex("0123456789ABCDEF").repeat(3)), &data).unwrap()
            );
        }
        for len in [0, 7, 9, 16, 24] {
            assert_eq!(
                rv(encrypt_init(&m_ecb, &des(&vec![0x13; len]))),
                CKR_KEY_SIZE_RANGE,
                "{len}"
            );
        }
        assert_eq!(
            rv(encrypt_init(&m_ecb, &des3(&hex(K)))),
            CKR_KEY_TYPE_INCONSISTENT
        );
        assert_eq!(
            rv(encrypt_init(&Mechanism::new(CKM_DES3_ECB), &key)),
            CKR_KEY_TYPE_INCONSISTENT
        );
        assert_eq!(
            rv(encrypt_init(
                &Mechanism::with(CKM_DES_CBC, MechParams::Bytes(vec![0; 16])),
                &key
            )),
            CKR_MECHANISM_PARAM_INVALID
        );
        // Weak and semi-weak keys are refused, and `usable` says so.
        for weak in ["0101010101010101", "FEFEFEFEFEFEFEFE", "01FE01FE01FE01FE"] {
            assert_eq!(
                rv(encrypt_init(&m_ecb, &des(&hex(weak)))),
                CKR_KEY_SIZE_RANGE
            );
            assert!(!usable(CKK_DES, &hex(weak)));
            let mut with_weak = hex(K);
            with_weak[8..16].copy_from_slice(&hex(weak));
            assert!(!usable(CKK_DES3, &with_weak));
        }
        assert!(usable(CKK_DES, &hex("0123456789ABCDEF")));
        assert!(usable(CKK_DES2, &hex(K)[..16]));
        assert!(usable(CKK_DES3, &hex(K)));
        assert!(!usable(CKK_DES3, &hex(K)[..16]));
        assert!(!usable(CKK_AES, &[1; 16]));
        assert_eq!(
            [CKK_DES, CKK_DES2, CKK_DES3, CKK_AES].map(fixed_value_len),
            [Some(8), Some(16), Some(24), None]
        );
    }

    #[test]
    fn degenerate_and_weak_keys() {
        let (k1, k2, k3) = ("0123456789ABCDEF", "FEDCBA9876543210", "89ABCDEF01234567");
        let m_ecb = Mechanism::new(CKM_DES3_ECB);
        let m_pad = Mechanism::with(CKM_DES3_CBC_PAD, MechParams::Bytes(hex(IV)));
        let plain = hex("0011223344556677");
        // K1 = K3: 2TDEA, as `openssl enc -des-ede` (and `-des-ede3` with K1 || K2 || K1).
        let two_key = des3(&hex(&[k1, k2, k1].concat()));
        assert_eq!(
            enc(&m_ecb, &two_key, &plain).unwrap(),
            hex("31a7364cac91ca39")
        );
        // K1 = K2 collapses to single DES with K3, K2 = K3 to single DES with K1.
        let k1_k1_k3 = des3(&hex(&[k1, k1, k3].concat()));
        let k1_k2_k2 = des3(&hex(&[k1, k2, k2].concat()));
        assert_eq!(
            enc(&m_ecb, &k1_k1_k3, &plain).unwrap(),
            single_des(k3, "0011223344556677")
        );
        assert_eq!(
            enc(&m_ecb, &k1_k2_k2, &plain).unwrap(),
            single_des(k1, "0011223344556677")
        );
        for key in [&two_key, &k1_k1_k3, &k1_k2_k2] {
            check_multipart(&m_pad, key, &[6; 29]);
        }
        // A weak or semi-weak component is refused, whatever the key's shape.
        for weak in ["0101010101010101", "FEFEFEFEFEFEFEFE", "01FE01FE01FE01FE"] {
            for parts in [[weak, k2, k3], [k1, weak, k3], [k1, k2, weak], [weak; 3]] {
                let key = des3(&hex(&parts.concat()));
                assert_eq!(rv(encrypt_init(&m_ecb, &key)), CKR_KEY_SIZE_RANGE);
                assert_eq!(rv(decrypt_init(&m_pad, &key)), CKR_KEY_SIZE_RANGE);
            }
        }
    }

    #[test]
    fn sp800_67_example() {
        let key = des3(&hex("0123456789ABCDEF 23456789ABCDEF01 456789ABCDEF0123"));
        let m = Mechanism::new(CKM_DES3_ECB);
        let plain = b"The qufck brown fox jump";
        let ct = hex("A826FD8CE53B855F CCE21C8112256FE6 68D5C05DD9B6B900");
        assert_eq!(enc(&m, &key, plain).unwrap(), ct);
        assert_eq!(dec(&m, &key, &ct).unwrap(), plain);
    }

    const K: &str = "0123456789ABCDEF FEDCBA9876543210 89ABCDEF01234567";
    const IV: &str = "1234567890ABCDEF";

    #[test]
    fn openssl_cross_check() {
        // `openssl enc -des-ede3[-cbc] -nopad` of the bytes 0..=255.
        let data: Vec<u8> = (0u8..=255).collect();
        let key = des3(&hex(K));
        let ecb = hex(
            "98f447d72bee8df778de5f04c528a5dc658aa9d1395c3fd7506c4de805a0c9a11f8f65042bfc9f60
             bdc98efae360830ef940f18b75aa9fb6b3cd7b669db868d9ab0c7df68b5c8ea31d6318cbbd403c38
             08e2b34ea22e458a52bfc648e6ff3b365ba47bfb4840045cb15a6dccee75eb43a33a57f841ff47ca
             f8ccbd4842f8d5d6b54f5a804a962d6d5a09c59497539903b2626f627e7416480587b116ae124bd2
             64b3ae02fcf58a51043aa53e82f89741bd25d67d9c1a74fd84fdd7f46e242e221a511c84acb85f5c
             b1641b5c89e5268e5fbddd7edf606a9fe665725ed63b3884dbd3a6852f094cfd5c77c56df3b593cc
             4d52a53f341c3047937ce71d4ca77184",
        );
        let cbc = hex(
            "dab10e76a31ef60dda6931da2244e63db6eec753a1774b4e7a6663c9805ff5f6f3659ae7fca26f39
             4e1115bf5e74900808103ffbc9b96dffc878b8011110b2f63fb5df882c0eca988aa38166adcedaed
             78be07842b93e5b41c3222bde60973c42d1186309d36014c1bb4b1114c86ae74043387d94e9a0197
             a52ac63fe116c28247f84bd545ddeed461748679cc2ce9343743c67df7ea0bfd2b3d651af8717859
             0fbfe2bfc97a2d198125f88fd6199b61977798bcc4fe82abf61b07ec04668e1a69e83fab348f13e5
             74a1d694a53b0bbc04686efbb7a1ec5bb1b28205592f8819de4852f8b609d03e31b57a7b001f036b
             048111c711aab0589913669acede110c",
        );
        let m_ecb = Mechanism::new(CKM_DES3_ECB);
        let m_cbc = Mechanism::with(CKM_DES3_CBC, MechParams::Bytes(hex(IV)));
        let m_pad = Mechanism::with(CKM_DES3_CBC_PAD, MechParams::Bytes(hex(IV)));
        assert_eq!(enc(&m_ecb, &key, &data).unwrap(), ecb);
        assert_eq!(dec(&m_ecb, &key, &ecb).unwrap(), data);
        assert_eq!(enc(&m_cbc, &key, &data).unwrap(), cbc);
        assert_eq!(dec(&m_cbc, &key, &cbc).unwrap(), data);
        // `openssl enc -des-ede3-cbc` (PKCS#7 padding) of 13 and 16 bytes.
        assert_eq!(
            enc(&m_pad, &key, &data[..13]).unwrap(),
            hex("dab10e76a31ef60d328d0fd5d99fefb9")
        );
        assert_eq!(
            enc(&m_pad, &key, &data[..16]).unwrap(),
            hex("dab10e76a31ef60dda6931da2244e63d57c2d45ce6f70648")
        );
        for m in [&m_ecb, &m_cbc] {
            check_multipart(m, &key, &data);
        }
        for len in 0..=40 {
            check_multipart(&m_pad, &key, &data[..len]);
        }
    }

    #[test]
    fn lengths_padding_params_and_keys() {
        let key = des3(&hex(K));
        let m_ecb = Mechanism::new(CKM_DES3_ECB);
        let m_cbc = Mechanism::with(CKM_DES3_CBC, MechParams::Bytes(hex(IV)));
        let m_pad = Mechanism::with(CKM_DES3_CBC_PAD, MechParams::Bytes(hex(IV)));
        for m in [&m_ecb, &m_cbc] {
            assert_eq!(rv(enc(m, &key, &[0; 7])), CKR_DATA_LEN_RANGE);
            assert_eq!(rv(enc(m, &key, &[0; 17])), CKR_DATA_LEN_RANGE);
            assert_eq!(rv(dec(m, &key, &[0; 9])), CKR_ENCRYPTED_DATA_LEN_RANGE);
            assert_eq!(enc(m, &key, &[]).unwrap(), b"");
            let mut op = encrypt_init(m, &key).unwrap();
            assert_eq!(op.update(&[0; 5]).unwrap().len(), 0);
            assert_eq!(op.update(&[0; 5]).unwrap().len(), 8);
            assert_eq!(rv(op.finish()), CKR_DATA_LEN_RANGE);
            assert_eq!(rv(op.update(&[0; 8])), CKR_OPERATION_NOT_INITIALIZED);
        }
        // Padding.
        assert_eq!(enc(&m_pad, &key, &[]).unwrap().len(), 8);
        let mut bad = enc(&m_pad, &key, &[1; 10]).unwrap();
        bad[7] ^= 0x02; // flips the last padding byte of the final block through CBC
        assert_eq!(rv(dec(&m_pad, &key, &bad)), CKR_ENCRYPTED_DATA_INVALID);
        assert_eq!(
            rv(dec(&m_pad, &key, &bad[..15])),
            CKR_ENCRYPTED_DATA_LEN_RANGE
        );
        assert_eq!(rv(dec(&m_pad, &key, &[])), CKR_ENCRYPTED_DATA_LEN_RANGE);
        let mut op = decrypt_init(&m_pad, &key).unwrap();
        let ct = enc(&m_pad, &key, &[4; 16]).unwrap();
        assert_eq!(op.update(&ct[..16]).unwrap(), [4; 8]);
        assert_eq!(op.update(&ct[16..]).unwrap(), [4; 8]);
        assert_eq!(op.finish().unwrap(), b"");
        // Wrap/unwrap through the engine entry points.
        let wrapped = wrap(&m_pad, &key, &[7; 24]).unwrap();
        assert_eq!(*unwrap(&m_pad, &key, &wrapped).unwrap(), [7; 24]);
        // ECB and CBC pad a key to whole blocks with zeros; unwrapping returns the blocks.
        let wrapped = wrap(&m_cbc, &key, &[7; 20]).unwrap();
        assert_eq!(wrapped.len(), 24);
        let mut padded = vec![7; 20];
        padded.resize(24, 0);
        assert_eq!(dec(&m_cbc, &key, &wrapped).unwrap(), padded);
        assert_eq!(*unwrap(&m_cbc, &key, &wrapped).unwrap(), padded);
        // Parameters.
        for p in [
            MechParams::None,
            MechParams::Bytes(vec![0; 7]),
            MechParams::Bytes(vec![0; 16]),
        ] {
            for mt in [CKM_DES3_CBC, CKM_DES3_CBC_PAD] {
                assert_eq!(
                    rv(encrypt_init(&Mechanism::with(mt, p.clone()), &key)),
                    CKR_MECHANISM_PARAM_INVALID
                );
            }
        }
        assert_eq!(
            rv(encrypt_init(
                &Mechanism::with(CKM_DES3_ECB, MechParams::Bytes(hex(IV))),
                &key
            )),
            CKR_MECHANISM_PARAM_INVALID
        );
        // Keys.
        for len in [0, 8, 16, 23, 25, 32] {
            assert_eq!(
                rv(super::encryptor(&m_ecb, &des3(&vec![1; len]))),
                CKR_KEY_SIZE_RANGE,
                "{len}"
            );
        }
        let aes_key = Arc::new(KeyMaterial::Secret(SecretKey {
            key_type: CKK_AES,
            value: Zeroizing::new(vec![1; 24]),
        }));
        assert_eq!(
            rv(super::encryptor(&m_ecb, &aes_key)),
            CKR_KEY_TYPE_INCONSISTENT
        );
        // Parity bits do not matter.
        let mut k2 = hex(K);
        for b in k2.iter_mut() {
            *b ^= 1;
        }
        assert_eq!(
            enc(&m_ecb, &des3(&k2), &[5; 8]).unwrap(),
            enc(&m_ecb, &key, &[5; 8]).unwrap()
        );
    }

    #[test]
    fn odd_parity() {
        let mut k: Vec<u8> = (0u8..=255).collect();
        set_odd_parity(&mut k);
        for (i, b) in k.iter().enumerate() {
            assert_eq!(b.count_ones() % 2, 1, "byte {b:#04x}");
            assert_eq!(b & 0xFE, i as u8 & 0xFE, "only the low bit changes");
        }
        let mut fixed = hex("0123456789ABCDEF");
        set_odd_parity(&mut fixed);
        assert_eq!(fixed, hex("0123456789ABCDEF"), "already odd parity");
        set_odd_parity(&mut []);
    }

    #[test]
    fn no_panics_on_any_length() {
        let key = des3(&hex(K));
        for m in [
            Mechanism::new(CKM_DES3_ECB),
            Mechanism::with(CKM_DES3_CBC, MechParams::Bytes(hex(IV))),
            Mechanism::with(CKM_DES3_CBC_PAD, MechParams::Bytes(hex(IV))),
        ] {
            for len in 0..=40usize {
                let data: Vec<u8> = (0..len).map(|i| (i * 13) as u8).collect();
                if let Ok(ct) = enc(&m, &key, &data) {
                    assert_eq!(dec(&m, &key, &ct).unwrap(), data);
                }
                let _ = dec(&m, &key, &data);
            }
        }
    }

    /// A double-length CKK_DES2 key K1 || K2 is the 3-key K1 || K2 || K1; other lengths and
    /// key types are refused.
    #[test]
    fn des2_keys() {
        let k = hex("0123456789abcdeffedcba9876543210");
        let des2 = Arc::new(KeyMaterial::Secret(SecretKey {
            key_type: CKK_DES2,
            value: Zeroizing::new(k.clone()),
        }));
        let mut k3 = k.clone();
        k3.extend_from_slice(&k[..8]);
        let plain = hex("0123456789abcde7");
        for mech in [
            Mechanism::new(CKM_DES3_ECB),
            Mechanism::with(CKM_DES3_CBC, MechParams::Bytes(vec![9; 8])),
        ] {
            let c = enc(&mech, &des2, &plain).unwrap();
            assert_eq!(c, enc(&mech, &des3(&k3), &plain).unwrap());
            assert_eq!(dec(&mech, &des2, &c).unwrap(), plain);
        }
        // Known answer (2-key TDEA, as OpenSSL's des-ede-ecb): 7f1d0a77826b8aff.
        assert_eq!(
            enc(&Mechanism::new(CKM_DES3_ECB), &des2, &plain).unwrap(),
            hex("7f1d0a77826b8aff")
        );
        let short = Arc::new(KeyMaterial::Secret(SecretKey {
            key_type: CKK_DES2,
            value: Zeroizing::new(k3.clone()),
        }));
        assert_eq!(
            rv(enc(&Mechanism::new(CKM_DES3_ECB), &short, &plain)),
            CKR_KEY_SIZE_RANGE
        );
        assert_eq!(
            rv(enc(&Mechanism::new(CKM_DES3_ECB), &des3(&k), &plain)),
            CKR_KEY_SIZE_RANGE
        );
    }
}
