//! The partition backup file, format 1 (simulator-defined throughout). Byte layout, integers
//! big-endian:
//!
//! ```text
//! magic        24  "HSMSIM PARTITION BACKUP\n"
//! format        4  1
//! header_len    4
//! header        header_len  JSON: the `BackupHeader` fields, and the crypto parameters
//!                           "card_key" (the card public key's fingerprint), "ephemeral" (an
//!                           X25519 public key, hex), "salt" (32 bytes, hex) and
//!                           "password_check" (32 bytes, hex)
//! header_mac   32  HMAC-SHA256 of magic..header under the header key
//! body_len      8
//! body          body_len  nonce (12) || AES-256-GCM ciphertext || tag (16); associated data:
//!                         every byte before the body
//! digest       32  SHA-256 of every byte before it
//! ```
//!
//! Keys: `shared` = X25519(ephemeral private, card public) = X25519(card private, ephemeral
//! public). Header key = HKDF-SHA256(salt, `shared`), info "hsmsim partition backup 1 header".
//! Body key and password check = HKDF-SHA256(salt, `shared` || backup password), infos "...
//! body" and "... password check". The backup password is read trimmed and upper-cased.
//!
//! The body (postcard) holds the partition's security policy, its user's PKCS#11 password and
//! every object's attributes (key values included). Reading: the digest and lengths find a
//! truncated or changed file without any secret (`parse`); with the card's private key the
//! header MAC proves the header (a file changed and re-digested), the password check tells a
//! wrong backup password, and the AEAD tag proves the body (`Parsed::open`).
use super::*;
use crate::base::attribute::Attributes;
use crate::base::secrets::seal::{aead_key, open_with, seal_with};
use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::{digest, hmac};
use zeroize::Zeroizing;

/// The file's first bytes.
pub const BACKUP_MAGIC: &[u8; 24] = b"HSMSIM PARTITION BACKUP\n";
/// The format this build writes and reads.
pub const BACKUP_FORMAT: u32 = 1;
const DIGEST_LEN: usize = 32;
const MAC_LEN: usize = 32;
const INFO_HEADER: &[u8] = b"hsmsim partition backup 1 header";
const INFO_BODY: &[u8] = b"hsmsim partition backup 1 body";
const INFO_CHECK: &[u8] = b"hsmsim partition backup 1 password check";

/// The header as the file stores it.
#[derive(Serialize, Deserialize)]
struct FileHeader {
    #[serde(flatten)]
    header: BackupHeader,
    card_key: String,
    #[serde(with = "hex")]
    ephemeral: Vec<u8>,
    #[serde(with = "hex")]
    salt: Vec<u8>,
    #[serde(with = "hex")]
    password_check: Vec<u8>,
}

/// What the body holds.
#[derive(Serialize, Deserialize)]
pub(super) struct BackupContents {
    pub policy: SecurityPolicy,
    /// The partition user's PKCS#11 password (the restored token answers to it).
    pub user_password: String,
    pub objects: Vec<Attributes>,
}

struct Keys {
    header: Zeroizing<[u8; 32]>,
    body: Zeroizing<[u8; 32]>,
    check: [u8; 32],
}

fn general(what: &str) -> crate::base::error::Error {
    err(CKR_GENERAL_ERROR, format!("{what} failed"))
}

fn derive_keys(shared: &[u8], salt: &[u8], password: &str) -> Result<Keys> {
    let salt = Salt::new(HKDF_SHA256, salt);
    let mut keys = Keys {
        header: Zeroizing::new([0u8; 32]),
        body: Zeroizing::new([0u8; 32]),
        check: [0u8; 32],
    };
    salt.extract(shared)
        .expand(&[INFO_HEADER], HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut keys.header[..]))
        .map_err(|_| general("HKDF"))?;
    let mut ikm = Zeroizing::new(shared.to_vec());
    ikm.extend_from_slice(normalised(password).as_bytes());
    let prk = salt.extract(&ikm);
    prk.expand(&[INFO_BODY], HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut keys.body[..]))
        .map_err(|_| general("HKDF"))?;
    prk.expand(&[INFO_CHECK], HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut keys.check))
        .map_err(|_| general("HKDF"))?;
    Ok(keys)
}

/// The backup password as the device reads it: trimmed, upper-case.
fn normalised(password: &str) -> String {
    password.trim().to_ascii_uppercase()
}

fn shared_secret(private: &PrivateKey, public: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    agreement::agree(
        private,
        UnparsedPublicKey::new(&X25519, public),
        general("X25519"),
        |shared| Ok(Zeroizing::new(shared.to_vec())),
    )
}

fn header_mac(key: &[u8], bytes: &[u8]) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), bytes)
}

/// A new backup file of `contents` with `header`, encrypted to the card public key
/// `card_public` and bound to `password`.
pub(super) fn write(
    header: &BackupHeader,
    card_public: &[u8],
    password: &str,
    contents: &BackupContents,
) -> Result<Vec<u8>> {
    let ephemeral = PrivateKey::generate(&X25519).map_err(|_| general("X25519"))?;
    let ephemeral_public = ephemeral
        .compute_public_key()
        .map_err(|_| general("X25519"))?
        .as_ref()
        .to_vec();
    let mut salt = vec![0u8; 32];
    crate::base::random::random_fill(&mut salt)?;
    let shared = shared_secret(&ephemeral, card_public)?;
    let keys = derive_keys(&shared, &salt, password)?;
    let file_header = FileHeader {
        header: header.clone(),
        card_key: crate::models::primus::key_fingerprint(card_public),
        ephemeral: ephemeral_public,
        salt,
        password_check: keys.check.to_vec(),
    };
    let header_json = serde_json::to_vec(&file_header).map_err(|e| {
        err(
            CKR_GENERAL_ERROR,
            format!("cannot encode a backup header: {e}"),
        )
    })?;
    let plain = Zeroizing::new(postcard::to_stdvec(contents).map_err(|e| {
        err(
            CKR_GENERAL_ERROR,
            format!("cannot encode the backup's objects: {e}"),
        )
    })?);
    let mut out = Vec::with_capacity(plain.len() + header_json.len() + 256);
    out.extend_from_slice(BACKUP_MAGIC);
    out.extend_from_slice(&BACKUP_FORMAT.to_be_bytes());
    out.extend_from_slice(&(header_json.len() as u32).to_be_bytes());
    out.extend_from_slice(&header_json);
    let mac = header_mac(&keys.header[..], &out);
    out.extend_from_slice(mac.as_ref());
    // nonce || ciphertext || tag
    let body_len = plain.len() + 12 + 16;
    out.extend_from_slice(&(body_len as u64).to_be_bytes());
    let body = seal_with(&aead_key(&keys.body[..])?, &out, &plain)?;
    debug_assert_eq!(body.len(), body_len);
    out.extend_from_slice(&body);
    let digest = digest::digest(&digest::SHA256, &out);
    out.extend_from_slice(digest.as_ref());
    Ok(out)
}

/// A backup file read and checked without secrets.
pub(super) struct Parsed<'a> {
    pub header: BackupHeader,
    file_header: FileHeader,
    /// magic..header: what the header MAC covers.
    signed: &'a [u8],
    mac: &'a [u8],
    /// Every byte before the body: the body's associated data.
    before_body: &'a [u8],
    body: &'a [u8],
    name: String,
}

fn data_invalid(message: String) -> crate::base::error::Error {
    err(CKR_DATA_INVALID, message)
}

/// Reads `bytes` (the file `name`) as a backup: `CKR_DATA_INVALID` when it is not one
/// ("... is not a partition backup"), of a format this build does not read, truncated
/// ("... is truncated") or changed ("... was changed after it was written").
pub(super) fn parse<'a>(bytes: &'a [u8], name: &str) -> Result<Parsed<'a>> {
    let not_backup = || data_invalid(format!("{name} is not a partition backup"));
    let truncated = || data_invalid(format!("{name} is truncated"));
    let changed = || data_invalid(format!("{name} was changed after it was written"));
    let magic_len = BACKUP_MAGIC.len();
    if bytes.len() < magic_len {
        return Err(if BACKUP_MAGIC.starts_with(bytes) && !bytes.is_empty() {
            truncated()
        } else {
            not_backup()
        });
    }
    if &bytes[..magic_len] != BACKUP_MAGIC {
        return Err(not_backup());
    }
    let mut at = magic_len;
    let take = |at: &mut usize, n: usize| -> Result<&'a [u8]> {
        let end = at
            .checked_add(n)
            .filter(|e| *e <= bytes.len())
            .ok_or_else(truncated)?;
        let slice = &bytes[*at..end];
        *at = end;
        Ok(slice)
    };
    let format = u32::from_be_bytes(take(&mut at, 4)?.try_into().expect("4 bytes"));
    if format != BACKUP_FORMAT {
        return Err(data_invalid(format!(
            "{name} is a partition backup of format {format}; this hsmsim reads format {BACKUP_FORMAT}"
        )));
    }
    let header_len = u32::from_be_bytes(take(&mut at, 4)?.try_into().expect("4 bytes")) as usize;
    let header_json = take(&mut at, header_len)?;
    let signed = &bytes[..at];
    let mac = take(&mut at, MAC_LEN)?;
    let body_len = u64::from_be_bytes(take(&mut at, 8)?.try_into().expect("8 bytes"));
    let before_body = &bytes[..at];
    let body_len = usize::try_from(body_len).map_err(|_| changed())?;
    let body = take(&mut at, body_len)?;
    let digest = take(&mut at, DIGEST_LEN)?;
    if at != bytes.len() {
        return Err(changed());
    }
    let computed = digest::digest(&digest::SHA256, &bytes[..at - DIGEST_LEN]);
    if computed.as_ref() != digest {
        return Err(changed());
    }
    let file_header: FileHeader = serde_json::from_slice(header_json).map_err(|_| changed())?;
    Ok(Parsed {
        header: file_header.header.clone(),
        file_header,
        signed,
        mac,
        before_body,
        body,
        name: name.to_string(),
    })
}

impl Parsed<'_> {
    /// The fingerprint of the card public key the file was encrypted to.
    pub fn card_key(&self) -> &str {
        &self.file_header.card_key
    }

    /// Opens the body with the card's private key and the backup password: the header MAC
    /// (`CKR_DATA_INVALID`, changed), the password (`CKR_PIN_INCORRECT`), the body
    /// (`CKR_DATA_INVALID`, changed).
    pub fn open(&self, card: &PrivateKey, password: &str) -> Result<BackupContents> {
        let changed = || data_invalid(format!("{} was changed after it was written", self.name));
        let shared = shared_secret(card, &self.file_header.ephemeral).map_err(|_| changed())?;
        let keys = derive_keys(&shared, &self.file_header.salt, password)?;
        hmac::verify(
            &hmac::Key::new(hmac::HMAC_SHA256, &keys.header[..]),
            self.signed,
            self.mac,
        )
        .map_err(|_| changed())?;
        let check_matches = aws_lc_rs::constant_time::verify_slices_are_equal(
            &keys.check,
            &self.file_header.password_check,
        )
        .is_ok();
        if !check_matches {
            return Err(err(CKR_PIN_INCORRECT, "the backup password is wrong"));
        }
        let plain = open_with(&aead_key(&keys.body[..])?, self.before_body, self.body)
            .ok_or_else(changed)?;
        postcard::from_bytes(&plain).map_err(|_| changed())
    }
}
