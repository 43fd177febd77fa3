//! Digests (placeholder signatures; the family module replaces this file).
#![allow(unused)]
use super::*;
use crate::attribute::Attributes;
use crate::error::{Result, err};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

pub fn digester(mechanism_type: CK_MECHANISM_TYPE) -> Result<Box<dyn DigestOperation>> {
    Err(err(CKR_FUNCTION_FAILED, "not yet implemented"))
}
