//! Sealed transport blobs: what leaves a partition for another partition of its cloning domain
//! (Luna cloning) or for a backup, sealed so that only a holder of the same domain secret opens
//! it, and only for the purpose (`context`) it was sealed for. Simulator-defined throughout:
//!
//! - key: HKDF-SHA256 (RFC 5869) with salt `BLOB_LABEL` over the domain secret, expanded with
//!   info `"key"` to an AES-256-GCM key and with info `"domain id"` to an 8-byte domain
//!   identifier. The domain secret is expected to be already stretched (a partition's
//!   `verifier::cloning_domain_verifier`), so no password KDF runs per blob;
//! - blob: `BLOB_FORMAT` (1 byte) || domain identifier (8) || nonce (12) || ciphertext || tag
//!   (16), the nonce random; the associated data is `BLOB_LABEL`, a zero byte, the format and
//!   domain identifier bytes, then `context`;
//! - opening tells a blob of another domain (its identifier differs: `BlobError::OtherDomain`)
//!   from one that does not authenticate (damaged, or sealed for another context:
//!   `BlobError::NotAuthentic`) and from one too short or of an unknown format
//!   (`BlobError::Malformed`); the caller maps each to its vendor's code.
use super::seal::{aead_key, open_with, seal_with};
use crate::base::error::{Result, err};
use aws_lc_rs::aead::NONCE_LEN;
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
use cryptoki_sys::CKR_GENERAL_ERROR;
use zeroize::Zeroizing;

/// The blob format this build writes and reads.
pub const BLOB_FORMAT: u8 = 1;
/// The HKDF salt and the start of every blob's associated data.
pub const BLOB_LABEL: &[u8] = b"hsmsim transport blob 1";
const DOMAIN_ID_LEN: usize = 8;
const HEADER_LEN: usize = 1 + DOMAIN_ID_LEN;
const KEY_LEN: usize = 32;
/// The AES-GCM tag length.
const TAG_LEN: usize = 16;

/// Why a blob does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobError {
    /// Too short to be a blob, or of a format this build does not read.
    Malformed,
    /// Sealed under another cloning domain.
    OtherDomain,
    /// Damaged, or sealed for another context.
    NotAuthentic,
}

impl std::fmt::Display for BlobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BlobError::Malformed => "the blob is truncated or not a sealed blob this build reads",
            BlobError::OtherDomain => "the blob was sealed under another cloning domain",
            BlobError::NotAuthentic => {
                "the blob does not authenticate (damaged, or sealed for another purpose)"
            }
        })
    }
}

impl std::error::Error for BlobError {}

/// An HKDF output length.
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256 of the domain secret with `BLOB_LABEL` as salt, expanded with `info`.
fn expand(domain_secret: &[u8], info: &[u8], out: &mut [u8]) -> Result<()> {
    Salt::new(HKDF_SHA256, BLOB_LABEL)
        .extract(domain_secret)
        .expand(&[info], Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| err(CKR_GENERAL_ERROR, "HKDF expansion failed"))
}

fn header(domain_secret: &[u8]) -> Result<[u8; HEADER_LEN]> {
    let mut header = [0u8; HEADER_LEN];
    header[0] = BLOB_FORMAT;
    expand(domain_secret, b"domain id", &mut header[1..])?;
    Ok(header)
}

fn associated_data(header: &[u8], context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(BLOB_LABEL.len() + 1 + header.len() + context.len());
    aad.extend_from_slice(BLOB_LABEL);
    aad.push(0);
    aad.extend_from_slice(header);
    aad.extend_from_slice(context);
    aad
}

fn blob_key(domain_secret: &[u8]) -> Result<aws_lc_rs::aead::LessSafeKey> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    expand(domain_secret, b"key", &mut key[..])?;
    aead_key(&key[..])
}

/// Seals `plaintext` for holders of `domain_secret`, for the purpose `context` names.
pub fn seal_blob(domain_secret: &[u8], context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let header = header(domain_secret)?;
    let sealed = seal_with(
        &blob_key(domain_secret)?,
        &associated_data(&header, context),
        plaintext,
    )?;
    let mut blob = header.to_vec();
    blob.extend_from_slice(&sealed);
    Ok(blob)
}

/// Opens what `seal_blob` sealed with the same domain secret and context.
pub fn open_blob(
    domain_secret: &[u8],
    context: &[u8],
    blob: &[u8],
) -> std::result::Result<Zeroizing<Vec<u8>>, BlobError> {
    if blob.len() < HEADER_LEN + NONCE_LEN + TAG_LEN || blob[0] != BLOB_FORMAT {
        return Err(BlobError::Malformed);
    }
    let (header, sealed) = blob.split_at(HEADER_LEN);
    // Failures of the key derivation itself (none are expected) count as not authentic.
    let ours = self::header(domain_secret).map_err(|_| BlobError::NotAuthentic)?;
    if header != ours {
        return Err(BlobError::OtherDomain);
    }
    let key = blob_key(domain_secret).map_err(|_| BlobError::NotAuthentic)?;
    open_with(&key, &associated_data(header, context), sealed).ok_or(BlobError::NotAuthentic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::secrets::verifier::cloning_domain_verifier;

    #[test]
    fn a_blob_opens_with_its_domain_and_context_only() {
        let domain = cloning_domain_verifier(b"domain-a");
        let other = cloning_domain_verifier(b"domain-b");
        let blob = seal_blob(&domain, b"clone object", b"key material").unwrap();
        assert!(!blob.windows(12).any(|w| w == b"key material"));
        assert_eq!(
            &open_blob(&domain, b"clone object", &blob).unwrap()[..],
            b"key material"
        );
        assert_eq!(
            open_blob(&other, b"clone object", &blob).unwrap_err(),
            BlobError::OtherDomain
        );
        assert_eq!(
            open_blob(&domain, b"backup", &blob).unwrap_err(),
            BlobError::NotAuthentic
        );
        // Two seals of the same data differ (random nonce); an empty plaintext round-trips.
        assert_ne!(
            blob,
            seal_blob(&domain, b"clone object", b"key material").unwrap()
        );
        let empty = seal_blob(&domain, b"", b"").unwrap();
        assert!(open_blob(&domain, b"", &empty).unwrap().is_empty());
    }

    #[test]
    fn a_tampered_or_truncated_blob_does_not_open() {
        let domain = cloning_domain_verifier(b"domain-a");
        let blob = seal_blob(&domain, b"ctx", b"secret value").unwrap();
        for i in HEADER_LEN..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 1;
            assert_eq!(
                open_blob(&domain, b"ctx", &bad).unwrap_err(),
                BlobError::NotAuthentic,
                "byte {i}"
            );
        }
        let mut other_id = blob.clone();
        other_id[1] ^= 1;
        assert_eq!(
            open_blob(&domain, b"ctx", &other_id).unwrap_err(),
            BlobError::OtherDomain
        );
        let mut other_format = blob.clone();
        other_format[0] = BLOB_FORMAT + 1;
        assert_eq!(
            open_blob(&domain, b"ctx", &other_format).unwrap_err(),
            BlobError::Malformed
        );
        for len in 0..HEADER_LEN + NONCE_LEN + TAG_LEN {
            assert_eq!(
                open_blob(&domain, b"ctx", &blob[..len]).unwrap_err(),
                BlobError::Malformed,
                "length {len}"
            );
        }
        for len in HEADER_LEN + NONCE_LEN + TAG_LEN..blob.len() {
            assert_eq!(
                open_blob(&domain, b"ctx", &blob[..len]).unwrap_err(),
                BlobError::NotAuthentic,
                "length {len}"
            );
        }
        assert_eq!(
            BlobError::OtherDomain.to_string(),
            "the blob was sealed under another cloning domain"
        );
    }
}
