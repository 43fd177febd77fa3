//! aws-lc's big numbers for every family that calls aws-lc-sys (RSA, EC, DSA, DH): an owned
//! `BIGNUM` (`Bn`) and `BN_CTX` (`BnCtx`), freed on drop, and the conversions to and from
//! big-endian bytes. A failed allocation or conversion clears aws-lc's thread-local error
//! queue and comes back as `None`.
use super::{clear_errors, fail};
use aws_lc_sys as lc;
use std::ffi::CString;
use std::ptr::{NonNull, null_mut};

/// `bytes` without leading zero bytes.
pub(crate) fn significant(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// The bit length of a big-endian unsigned integer.
pub(crate) fn bit_len(bytes: &[u8]) -> usize {
    let s = significant(bytes);
    match s.first() {
        Some(top) => (s.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    }
}

/// An owned `BIGNUM`, cleared and freed on drop. The FFI modules wrap the BIGNUMs aws-lc
/// allocates for them (`BN_mod_inverse` with a null output) directly.
pub(super) struct Bn(pub(super) NonNull<lc::BIGNUM>);

impl Bn {
    pub(super) fn new() -> Option<Bn> {
        // SAFETY: BN_new has no preconditions; it allocates a fresh BIGNUM (or returns null),
        // which we own.
        NonNull::new(unsafe { lc::BN_new() }).map(Bn).or_else(fail)
    }

    /// A big-endian unsigned integer.
    pub(super) fn from_be(bytes: &[u8]) -> Option<Bn> {
        // SAFETY: `bytes` is valid for `bytes.len()` reads; a null `ret` asks aws-lc to
        // allocate a new BIGNUM, which we own from here on.
        let p = unsafe { lc::BN_bin2bn(bytes.as_ptr(), bytes.len(), null_mut()) };
        NonNull::new(p).map(Bn).or_else(fail)
    }

    pub(super) fn from_u64(v: u64) -> Option<Bn> {
        let bn = Bn::new()?;
        // SAFETY: bn is a valid, owned BIGNUM.
        (unsafe { lc::BN_set_u64(bn.as_mut_ptr(), v) } == 1)
            .then_some(bn)
            .or_else(fail)
    }

    /// A BIGNUM from hexadecimal digits (all of `hex` must be digits).
    pub(super) fn from_hex(hex: &str) -> Option<Bn> {
        let text = CString::new(hex).ok()?;
        let mut p: *mut lc::BIGNUM = null_mut();
        // SAFETY: `text` is NUL-terminated and outlives the call; `p` is a valid out-pointer that
        // receives a new BIGNUM we own from here on (or stays null on failure).
        let digits = unsafe { lc::BN_hex2bn(&mut p, text.as_ptr()) };
        let bn = NonNull::new(p).map(Bn).or_else(fail)?;
        (usize::try_from(digits).ok() == Some(hex.len())).then_some(bn)
    }

    pub(super) fn as_ptr(&self) -> *const lc::BIGNUM {
        self.0.as_ptr()
    }

    /// The pointer for aws-lc calls that write the BIGNUM (or take it as non-const).
    pub(super) fn as_mut_ptr(&self) -> *mut lc::BIGNUM {
        self.0.as_ptr()
    }

    /// Gives up ownership (to a call that took it over, such as `DSA_set0_pqg` or
    /// `ECDSA_SIG_set0`).
    pub(super) fn into_raw(self) -> *mut lc::BIGNUM {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }
}

impl Drop for Bn {
    fn drop(&mut self) {
        // SAFETY: we own this BIGNUM, allocated by aws-lc, and free it exactly once.
        unsafe { lc::BN_clear_free(self.0.as_ptr()) }
    }
}

/// The minimal big-endian encoding of a BIGNUM aws-lc owns (empty for zero; `None` if null).
pub(super) fn to_be(bn: *const lc::BIGNUM) -> Option<Vec<u8>> {
    padded(bn, 0)
}

/// A BIGNUM's big-endian encoding left-padded to `len` bytes (or minimal when `len` is
/// smaller than its length).
pub(super) fn padded(bn: *const lc::BIGNUM, len: usize) -> Option<Vec<u8>> {
    if bn.is_null() {
        return None;
    }
    // SAFETY: `bn` is a valid BIGNUM (non-null, owned by a live aws-lc object).
    let n = unsafe { lc::BN_num_bytes(bn) } as usize;
    let mut out = vec![0u8; n.max(len)];
    // SAFETY: `out` is writable for `out.len()` bytes, enough for the value.
    let ok = unsafe { lc::BN_bn2bin_padded(out.as_mut_ptr(), out.len(), bn) };
    if ok != 1 {
        clear_errors();
        return None;
    }
    Some(out)
}

/// An owned `BN_CTX`.
pub(super) struct BnCtx(NonNull<lc::BN_CTX>);

impl BnCtx {
    pub(super) fn new() -> Option<BnCtx> {
        // SAFETY: BN_CTX_new has no preconditions; it allocates a fresh BN_CTX (or returns
        // null), which we own.
        NonNull::new(unsafe { lc::BN_CTX_new() })
            .map(BnCtx)
            .or_else(fail)
    }

    pub(super) fn as_mut_ptr(&self) -> *mut lc::BN_CTX {
        self.0.as_ptr()
    }
}

impl Drop for BnCtx {
    fn drop(&mut self) {
        // SAFETY: we own this BN_CTX and free it exactly once.
        unsafe { lc::BN_CTX_free(self.0.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_numbers_round_trip_through_aws_lc() {
        let bn = Bn::from_be(&[0, 0, 1, 2, 3]).unwrap();
        assert_eq!(to_be(bn.as_ptr()).unwrap(), [1, 2, 3]);
        assert_eq!(padded(bn.as_ptr(), 5).unwrap(), [0, 0, 1, 2, 3]);
        assert_eq!(
            to_be(Bn::from_u64(0x0102).unwrap().as_ptr()).unwrap(),
            [1, 2]
        );
        assert_eq!(
            to_be(Bn::from_hex("0a0b").unwrap().as_ptr()).unwrap(),
            [10, 11]
        );
        assert!(Bn::from_hex("0x1").is_none());
        assert!(to_be(Bn::new().unwrap().as_ptr()).unwrap().is_empty());
        assert!(to_be(std::ptr::null()).is_none());
        assert!(BnCtx::new().is_some());
        assert_eq!(bit_len(&[0, 0x01, 0xff]), 9);
        assert_eq!(bit_len(&[0, 0]), 0);
        assert_eq!(significant(&[0, 7, 0]), [7, 0]);
    }
}
