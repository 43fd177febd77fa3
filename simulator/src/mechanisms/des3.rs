//! Triple DES (EDE, three keys): `CKM_DES3_ECB`, `CKM_DES3_CBC` and `CKM_DES3_CBC_PAD`.
//!
//! The workspace builds aws-lc-rs without its `legacy-des` feature, so `DES_EDE3_FOR_LEGACY_USE_ONLY`
//! is not available; this module carries its own table-driven DES (FIPS 46-3) instead, checked
//! against SP 800-20 and SP 800-67 vectors and against OpenSSL output in the tests. The key
//! schedule is computed once per operation. Table lookups are indexed by secret data, so this DES
//! is not hardened against cache-timing attacks (acceptable for a simulator; enabling
//! `legacy-des` and switching to aws-lc would be the upgrade path).
//!
//! Choices (simulator-defined where PKCS#11 is silent):
//! - keys must be 24 bytes (`CKR_KEY_SIZE_RANGE` otherwise); parity bits are ignored, as DES
//!   ignores them, and degenerate keys (K1 = K2 and so on) are accepted;
//! - ECB/CBC/CBC_PAD buffering, padding and length errors are those of the AES block modes
//!   (shared code in `aes.rs`), with 8-byte blocks; `CKM_DES3_CBC*` take an 8-byte IV
//!   (`CKR_MECHANISM_PARAM_INVALID` otherwise).
use super::aes::{BlockModeOp, BlockProcessor};
use super::*;
use crate::error::{Result, err};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroize;

const BLOCK: usize = 8;

pub fn encryptor(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn CipherOperation>> {
    cipher_op(mech, key, true)
}

pub fn decryptor(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn CipherOperation>> {
    cipher_op(mech, key, false)
}

/// Sets each byte's least significant bit so that the byte has an odd number of one bits.
pub fn set_odd_parity(key: &mut [u8]) {
    for b in key.iter_mut() {
        let high_ones = (*b >> 1).count_ones();
        *b = (*b & 0xFE) | (high_ones % 2 == 0) as u8;
    }
}

fn cipher_op(
    mech: &Mechanism,
    key: &KeyMaterial,
    encrypt: bool,
) -> Result<Box<dyn CipherOperation>> {
    let secret = key.secret()?;
    if secret.key_type != CKK_DES3 {
        return Err(err(CKR_KEY_TYPE_INCONSISTENT, "a DES3 key is required"));
    }
    let value: &[u8; 24] = secret
        .value
        .as_slice()
        .try_into()
        .map_err(|_| err(CKR_KEY_SIZE_RANGE, "DES3 keys are 24 bytes"))?;
    let (chain, pad) = match mech.mechanism_type {
        CKM_DES3_ECB => {
            mech.expect_no_params()?;
            (None, false)
        }
        CKM_DES3_CBC | CKM_DES3_CBC_PAD => {
            let iv = match &mech.params {
                MechParams::Bytes(iv) => <[u8; BLOCK]>::try_from(iv.as_slice()).map_err(|_| {
                    err(
                        CKR_MECHANISM_PARAM_INVALID,
                        "the DES3 CBC IV must be 8 bytes",
                    )
                })?,
                _ => {
                    return Err(err(
                        CKR_MECHANISM_PARAM_INVALID,
                        "DES3 CBC needs an 8-byte IV",
                    ));
                }
            };
            (
                Some(u64::from_be_bytes(iv)),
                mech.mechanism_type == CKM_DES3_CBC_PAD,
            )
        }
        _ => return Err(err(CKR_MECHANISM_INVALID, "not a DES3 cipher mechanism")),
    };
    let proc = Des3Blocks {
        schedule: TdesSchedule::new(value, encrypt),
        encrypt,
        chain,
    };
    Ok(Box::new(BlockModeOp::new(proc, BLOCK, encrypt, pad)))
}

/// 3DES in ECB (`chain` = `None`) or CBC (`chain` = the current IV), one direction.
struct Des3Blocks {
    schedule: TdesSchedule,
    encrypt: bool,
    chain: Option<u64>,
}

impl BlockProcessor for Des3Blocks {
    fn process(&mut self, data: &mut [u8]) -> Result<()> {
        for chunk in data.chunks_exact_mut(BLOCK) {
            let mut bytes = [0u8; BLOCK];
            bytes.copy_from_slice(chunk);
            let x = u64::from_be_bytes(bytes);
            let y = match (&mut self.chain, self.encrypt) {
                (None, _) => self.schedule.crypt(x),
                (Some(iv), true) => {
                    *iv = self.schedule.crypt(x ^ *iv);
                    *iv
                }
                (Some(iv), false) => {
                    let p = self.schedule.crypt(x) ^ *iv;
                    *iv = x;
                    p
                }
            };
            chunk.copy_from_slice(&y.to_be_bytes());
        }
        Ok(())
    }
}

impl Drop for Des3Blocks {
    fn drop(&mut self) {
        if let Some(iv) = self.chain.as_mut() {
            iv.zeroize();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// DES core (FIPS 46-3). Bit numbering as in the standard: bit 1 is the most significant.
// ---------------------------------------------------------------------------------------------

const IP: [u8; 64] = [
    58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, //
    62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8, //
    57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, //
    61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
];

const P: [u8; 32] = [
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, //
    2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
];

const PC1: [u8; 56] = [
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, //
    10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36, //
    63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, //
    14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
];

const PC2: [u8; 48] = [
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, //
    23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, //
    41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, //
    44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];

const SHIFTS: [u32; 16] = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];

const SBOX: [[u8; 64]; 8] = [
    [
        14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, //
        0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8, //
        4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, //
        15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13,
    ],
    [
        15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, //
        3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5, //
        0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, //
        13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9,
    ],
    [
        10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, //
        13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1, //
        13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, //
        1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12,
    ],
    [
        7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, //
        13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9, //
        10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, //
        3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14,
    ],
    [
        2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, //
        14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6, //
        4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, //
        11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3,
    ],
    [
        12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, //
        10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8, //
        9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, //
        4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13,
    ],
    [
        4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, //
        13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6, //
        1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, //
        6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12,
    ],
    [
        13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, //
        1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2, //
        7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, //
        2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11,
    ],
];

/// The inverse of a 64-bit permutation table.
const fn invert64(table: &[u8; 64]) -> [u8; 64] {
    let mut inv = [0u8; 64];
    let mut j = 0;
    while j < 64 {
        inv[(table[j] - 1) as usize] = (j + 1) as u8;
        j += 1;
    }
    inv
}

/// Applies a permutation table bit by bit: output bit j (of `out_bits`) is input bit `table[j]`
/// (of `in_bits`), both numbered from 1 at the most significant end.
const fn permute(x: u64, in_bits: u32, table: &[u8], out_bits: u32) -> u64 {
    let mut out = 0u64;
    let mut j = 0;
    while j < table.len() {
        let bit = (x >> (in_bits - table[j] as u32)) & 1;
        out |= bit << (out_bits - 1 - j as u32);
        j += 1;
    }
    out
}

/// A 64-bit permutation as eight byte-indexed tables: `P(x) = OR of T[i][byte i of x]`.
const fn byte_tables(table: &[u8; 64]) -> [[u64; 256]; 8] {
    let mut t = [[0u64; 256]; 8];
    let mut i = 0;
    while i < 8 {
        let mut v = 0;
        while v < 256 {
            t[i][v] = permute((v as u64) << (56 - 8 * i), 64, table, 64);
            v += 1;
        }
        i += 1;
    }
    t
}

/// S-box i followed by the permutation P, indexed by the 6-bit S-box input.
const fn sp_tables() -> [[u32; 64]; 8] {
    let mut sp = [[0u32; 64]; 8];
    let mut i = 0;
    while i < 8 {
        let mut v = 0;
        while v < 64 {
            let row = ((v >> 4) & 2) | (v & 1);
            let col = (v >> 1) & 0xF;
            let s = SBOX[i][row * 16 + col] as u64;
            sp[i][v] = permute(s << (28 - 4 * i), 32, &P, 32) as u32;
            v += 1;
        }
        i += 1;
    }
    sp
}

static IP_TABLES: [[u64; 256]; 8] = byte_tables(&IP);
static FP_TABLES: [[u64; 256]; 8] = byte_tables(&invert64(&IP));
static SP: [[u32; 64]; 8] = sp_tables();

fn permute_bytes(tables: &[[u64; 256]; 8], x: u64) -> u64 {
    x.to_be_bytes()
        .iter()
        .zip(tables)
        .fold(0, |acc, (&b, t)| acc | t[b as usize])
}

/// The round function f(R, K): expansion E, key mixing, S-boxes and P.
#[inline]
fn feistel(r: u32, k: u64) -> u32 {
    // E: chunk i is input bits 4i .. 4i+5 (cyclically, bit 0 being bit 32). After rotating right
    // by one, bit 32 sits at the top, so chunk i is the top 6 bits of the word rotated left 4i.
    let r1 = r.rotate_right(1);
    let mut out = 0u32;
    for (i, sp) in SP.iter().enumerate() {
        let chunk = (r1.rotate_left(4 * i as u32) >> 26) as u64;
        let sub = (k >> (42 - 6 * i)) & 0x3F;
        out |= sp[((chunk ^ sub) & 0x3F) as usize];
    }
    out
}

/// The 16 round keys (48 bits each, right-aligned) of one DES key, in encryption order.
fn des_round_keys(key: &[u8]) -> [u64; 16] {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(key);
    let cd = permute(u64::from_be_bytes(bytes), 64, &PC1, 56);
    bytes.zeroize();
    let (mut c, mut d) = ((cd >> 28) as u32, (cd & 0x0FFF_FFFF) as u32);
    let rot28 = |x: u32, n: u32| ((x << n) | (x >> (28 - n))) & 0x0FFF_FFFF;
    let mut keys = [0u64; 16];
    for (k, &s) in keys.iter_mut().zip(&SHIFTS) {
        c = rot28(c, s);
        d = rot28(d, s);
        *k = permute(((c as u64) << 28) | d as u64, 56, &PC2, 48);
    }
    keys
}

/// Three-key triple DES round keys in the order one direction applies them (E-D-E or D-E-D).
struct TdesSchedule {
    keys: [u64; 48],
}

impl TdesSchedule {
    fn new(key: &[u8; 24], encrypt: bool) -> Self {
        let mut k1 = des_round_keys(&key[..8]);
        let mut k2 = des_round_keys(&key[8..16]);
        let mut k3 = des_round_keys(&key[16..]);
        let mut keys = [0u64; 48];
        let stages = if encrypt {
            k2.reverse();
            [&k1, &k2, &k3]
        } else {
            k1.reverse();
            k3.reverse();
            [&k3, &k2, &k1]
        };
        for (dst, src) in keys.chunks_exact_mut(16).zip(stages) {
            dst.copy_from_slice(src);
        }
        k1.zeroize();
        k2.zeroize();
        k3.zeroize();
        TdesSchedule { keys }
    }

    /// One 3DES block. The final permutation of each stage and the initial permutation of the
    /// next cancel, so they are applied only once; the swap after each 16 rounds stays.
    fn crypt(&self, block: u64) -> u64 {
        let x = permute_bytes(&IP_TABLES, block);
        let (mut l, mut r) = ((x >> 32) as u32, x as u32);
        for stage in self.keys.chunks_exact(16) {
            for &k in stage {
                let t = r;
                r = l ^ feistel(r, k);
                l = t;
            }
            std::mem::swap(&mut l, &mut r);
        }
        permute_bytes(&FP_TABLES, ((l as u64) << 32) | r as u64)
    }
}

impl Drop for TdesSchedule {
    fn drop(&mut self) {
        self.keys.zeroize();
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
        // SP 800-20 variable-plaintext and variable-key tests.
        assert_eq!(
            single_des("0101010101010101", "8000000000000000"),
            hex("95F8A5E5DD31D900")
        );
        assert_eq!(
            single_des("0101010101010101", "4000000000000000"),
            hex("DD7F121CA5015619")
        );
        assert_eq!(
            single_des("8001010101010101", "0000000000000000"),
            hex("95A8D72813DAA94D")
        );
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
        assert_eq!(rv(wrap(&m_cbc, &key, &[7; 20])), CKR_KEY_SIZE_RANGE);
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
}
