//! Helpers of the Luna cloning suites (`luna_cloning.rs`, `luna_cpv4.rs`): a Crypto Officer
//! session, token keys made to be cloned, finding by label, and signing on one partition with
//! verifying on another.
use super::*;

/// The Crypto Officer's PIN of the suites' labs.
pub const CO: &[u8] = b"co-pin-0001";

/// A R/W session on `slot` with the Crypto Officer logged in with `pin`.
pub fn co_session_with(slot: CK_SLOT_ID, pin: &[u8]) -> CK_SESSION_HANDLE {
    let s = open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
    assert_eq!(login(s, CKU_USER, pin), CKR_OK, "CO login on slot {slot}");
    s
}

/// A sensitive, non-extractable AES token key labelled `label`.
pub fn token_aes(s: CK_SESSION_HANDLE, label: &[u8]) -> CK_OBJECT_HANDLE {
    aes_key(s, |t| {
        t.bool(CKA_TOKEN, true)
            .bool(CKA_ENCRYPT, true)
            .bool(CKA_DECRYPT, true)
            .bool(CKA_SENSITIVE, true)
            .bool(CKA_EXTRACTABLE, false)
            .bytes(CKA_LABEL, label)
    })
}

/// A token key pair for signing (private: private, sensitive, non-extractable), both
/// labelled `label`; (public, private).
pub fn token_pair(
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_TYPE,
    public: Template,
    label: &[u8],
) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    generate_key_pair(
        s,
        m,
        public
            .bool(CKA_TOKEN, true)
            .bool(CKA_VERIFY, true)
            .bytes(CKA_LABEL, label),
        Template::new()
            .bool(CKA_TOKEN, true)
            .bool(CKA_SIGN, true)
            .bool(CKA_PRIVATE, true)
            .bool(CKA_SENSITIVE, true)
            .bool(CKA_EXTRACTABLE, false)
            .bytes(CKA_LABEL, label),
    )
    .expect("key pair generation")
}

/// The objects labelled `label` the session sees.
pub fn labelled(s: CK_SESSION_HANDLE, label: &[u8]) -> Vec<CK_OBJECT_HANDLE> {
    find(s, Template::new().bytes(CKA_LABEL, label))
}

/// Signs `data` with `private` on `signer`, verifies with `public` on `verifier`.
pub fn sign_across(
    m: CK_MECHANISM_TYPE,
    signer: CK_SESSION_HANDLE,
    private: CK_OBJECT_HANDLE,
    verifier: CK_SESSION_HANDLE,
    public: CK_OBJECT_HANDLE,
    data: &[u8],
) {
    assert_eq!(init(C_SignInit, signer, &mut mech(m), private), CKR_OK);
    let signature = produce(C_Sign, signer, data).unwrap();
    assert_eq!(init(C_VerifyInit, verifier, &mut mech(m), public), CKR_OK);
    assert_eq!(verify(verifier, data, &signature), CKR_OK);
}
