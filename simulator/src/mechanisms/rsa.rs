//! RSA (placeholder signatures; the family module replaces this file).
#![allow(unused)]
use super::*;
use crate::attribute::Attributes;
use crate::error::{Result, err};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

pub struct RsaKey;
impl RsaKey {
    pub fn from_attributes(class: CK_OBJECT_CLASS, attrs: &Attributes) -> Result<Self> {
        Err(err(CKR_FUNCTION_FAILED, "not yet implemented"))
    }
    pub fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>> {
        Err(err(CKR_FUNCTION_FAILED, "not yet implemented"))
    }
}
pub fn signer(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn SignOperation>> {
    Err(err(CKR_FUNCTION_FAILED, "not yet implemented"))
}
pub fn verifier(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn VerifyOperation>> {
    Err(err(CKR_FUNCTION_FAILED, "not yet implemented"))
}
pub fn encryptor(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn CipherOperation>> {
    Err(err(CKR_FUNCTION_FAILED, "not yet implemented"))
}
pub fn decryptor(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn CipherOperation>> {
    Err(err(CKR_FUNCTION_FAILED, "not yet implemented"))
}
pub fn sign_recover(mech: &Mechanism, key: &Arc<KeyMaterial>, data: &[u8]) -> Result<Vec<u8>> {
    Err(err(CKR_FUNCTION_FAILED, "not yet implemented"))
}
pub fn verify_recover(
    mech: &Mechanism,
    key: &Arc<KeyMaterial>,
    signature: &[u8],
) -> Result<Vec<u8>> {
    Err(err(CKR_FUNCTION_FAILED, "not yet implemented"))
}
pub fn rsa_aes_wrap(mech: &Mechanism, key: &Arc<KeyMaterial>, key_bytes: &[u8]) -> Result<Vec<u8>> {
    Err(err(CKR_FUNCTION_FAILED, "not yet implemented"))
}
pub fn rsa_aes_unwrap(mech: &Mechanism, key: &Arc<KeyMaterial>, wrapped: &[u8]) -> Result<Vec<u8>> {
    Err(err(CKR_FUNCTION_FAILED, "not yet implemented"))
}
pub fn generate_key_pair(
    public_template: &Attributes,
    private_template: &Attributes,
) -> Result<(Attributes, Attributes)> {
    Err(err(CKR_FUNCTION_FAILED, "not yet implemented"))
}
pub fn attributes_from_pkcs8(der: &[u8]) -> Result<Attributes> {
    Err(err(CKR_FUNCTION_FAILED, "not yet implemented"))
}
