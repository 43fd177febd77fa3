//! DES3 (placeholder signatures; the family module replaces this file).
#![allow(unused)]
use super::*;
use crate::attribute::Attributes;
use crate::error::{Result, err};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

pub fn encryptor(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn CipherOperation>> {
    Err(err(CKR_FUNCTION_FAILED, "not yet implemented"))
}
pub fn decryptor(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn CipherOperation>> {
    Err(err(CKR_FUNCTION_FAILED, "not yet implemented"))
}
pub fn set_odd_parity(key: &mut [u8]) {}
