//! The C ABI boundary to aws-lc (through aws-lc-sys) for finite-field Diffie-Hellman, which
//! aws-lc-rs does not have: `DH_generate_parameters_ex`, `DH_generate_key`,
//! `DH_compute_key_padded`. Every pointer aws-lc hands out is owned by an RAII wrapper;
//! failures come back as `None`.
use super::bignum::{Bn, to_be};
use aws_lc_sys as lc;
use std::ptr::{NonNull, null, null_mut};
use zeroize::Zeroizing;

/// An owned `DH`.
struct Dh(NonNull<lc::DH>);

impl Drop for Dh {
    fn drop(&mut self) {
        // SAFETY: we own this DH and free it exactly once.
        unsafe { lc::DH_free(self.0.as_ptr()) }
    }
}

impl Dh {
    fn new() -> Option<Dh> {
        // SAFETY: allocates a fresh DH (or returns null), which we own.
        NonNull::new(unsafe { lc::DH_new() }).map(Dh)
    }

    /// A DH with prime `p` and generator `g` (no subgroup order).
    fn with_pg(p: &[u8], g: &[u8]) -> Option<Dh> {
        let dh = Dh::new()?;
        let (bp, bg) = (Bn::from_be(p)?, Bn::from_be(g)?);
        // SAFETY: `dh` is valid; `bp` and `bg` are ours; on success `DH_set0_pqg` takes
        // them over (released below), a null `q` is allowed.
        let ok = unsafe {
            lc::DH_set0_pqg(
                dh.0.as_ptr(),
                bp.as_ptr() as *mut _,
                null_mut(),
                bg.as_ptr() as *mut _,
            )
        };
        if ok != 1 {
            return None;
        }
        let _ = (bp.into_raw(), bg.into_raw());
        Some(dh)
    }
}

/// `DH_generate_parameters_ex` with generator 2: `(p, g)`.
pub(crate) fn generate_parameters(bits: usize) -> Option<(Vec<u8>, Vec<u8>)> {
    let dh = Dh::new()?;
    let bits = i32::try_from(bits).ok()?;
    // SAFETY: `dh` is valid; no callback (null) is allowed.
    let ok = unsafe { lc::DH_generate_parameters_ex(dh.0.as_ptr(), bits, 2, null_mut()) };
    if ok != 1 {
        return None;
    }
    let (mut p, mut q, mut g) = (null(), null(), null());
    // SAFETY: `dh` is valid; the returned pointers borrow from it while it lives.
    unsafe { lc::DH_get0_pqg(dh.0.as_ptr(), &mut p, &mut q, &mut g) };
    Some((to_be(p)?, to_be(g)?))
}

/// `DH_generate_key`: `(y, x)`; `value_bits` bounds the private value's length.
pub(crate) fn generate_key(
    p: &[u8],
    g: &[u8],
    value_bits: Option<u32>,
) -> Option<(Vec<u8>, Zeroizing<Vec<u8>>)> {
    let dh = Dh::with_pg(p, g)?;
    if let Some(bits) = value_bits {
        // SAFETY: `dh` is valid.
        if unsafe { lc::DH_set_length(dh.0.as_ptr(), bits) } != 1 {
            return None;
        }
    }
    // SAFETY: `dh` is valid with its parameters set.
    if unsafe { lc::DH_generate_key(dh.0.as_ptr()) } != 1 {
        return None;
    }
    let (mut y, mut x) = (null(), null());
    // SAFETY: `dh` is valid; the returned pointers borrow from it while it lives.
    unsafe { lc::DH_get0_key(dh.0.as_ptr(), &mut y, &mut x) };
    Some((to_be(y)?, Zeroizing::new(to_be(x)?)))
}

/// `DH_compute_key_padded`: the shared secret, as long as the prime.
pub(crate) fn compute(p: &[u8], g: &[u8], x: &[u8], peer: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let dh = Dh::with_pg(p, g)?;
    let bx = Bn::from_be(x)?;
    // SAFETY: `dh` is valid; `bx` is ours and taken over on success; a null public value
    // leaves it unset (only the private value is needed here).
    if unsafe { lc::DH_set0_key(dh.0.as_ptr(), null_mut(), bx.as_ptr() as *mut _) } != 1 {
        return None;
    }
    let _ = bx.into_raw();
    let peer = Bn::from_be(peer)?;
    // SAFETY: `dh` is valid.
    let size = usize::try_from(unsafe { lc::DH_size(dh.0.as_ptr()) }).ok()?;
    let mut out = Zeroizing::new(vec![0u8; size]);
    // SAFETY: `out` is writable for `DH_size(dh)` bytes, which is what aws-lc writes;
    // `peer` and `dh` are valid.
    let n = unsafe { lc::DH_compute_key_padded(out.as_mut_ptr(), peer.as_ptr(), dh.0.as_ptr()) };
    (usize::try_from(n).ok()? == size).then_some(out)
}
