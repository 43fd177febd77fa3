//! EC (placeholder signatures; the family module replaces this file).
#![allow(unused)]
use super::*;
use crate::attribute::Attributes;
use crate::error::{Result, err};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

pub struct EcKey;
impl EcKey {
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
pub fn derive(
    mech: &Mechanism,
    key: &Arc<KeyMaterial>,
    len: Option<usize>,
) -> Result<Zeroizing<Vec<u8>>> {
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
