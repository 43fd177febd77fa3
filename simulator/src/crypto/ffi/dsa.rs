//! The C ABI boundary to aws-lc (through aws-lc-sys) for DSA, which aws-lc-rs does not have:
//! `DSA_generate_parameters_ex`, `DSA_generate_key`, `DSA_do_sign`, `DSA_do_verify`, and the
//! constant-time modular exponentiation that recomputes a private key's public value. Every
//! pointer aws-lc hands out is owned by an RAII wrapper that frees it on drop; failures come
//! back as `None`/`false`.
use super::bignum::{Bn, BnCtx, padded, to_be};
use aws_lc_sys as lc;
use std::ptr::{NonNull, null, null_mut};
use zeroize::Zeroizing;

/// An owned `DSA`.
pub(crate) struct Dsa(NonNull<lc::DSA>);

// SAFETY: a `DSA` is only read by `DSA_do_sign` / `DSA_do_verify` (aws-lc locks its lazily
// built Montgomery contexts), and this wrapper gives no shared mutable access.
unsafe impl Send for Dsa {}

impl Drop for Dsa {
    fn drop(&mut self) {
        // SAFETY: we own this DSA and free it exactly once.
        unsafe { lc::DSA_free(self.0.as_ptr()) }
    }
}

/// An owned `DSA_SIG`.
struct Sig(NonNull<lc::DSA_SIG>);

impl Drop for Sig {
    fn drop(&mut self) {
        // SAFETY: we own this DSA_SIG and free it exactly once.
        unsafe { lc::DSA_SIG_free(self.0.as_ptr()) }
    }
}

fn new_dsa() -> Option<Dsa> {
    // SAFETY: allocates a fresh DSA (or returns null), which we own.
    NonNull::new(unsafe { lc::DSA_new() }).map(Dsa)
}

/// `p`, `q` and `g` of a DSA.
fn pqg(dsa: &Dsa) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let (mut p, mut q, mut g) = (null(), null(), null());
    // SAFETY: `dsa` is a valid DSA; the out-pointers are valid locals; the returned
    // pointers borrow from `dsa`, which outlives their use here.
    unsafe { lc::DSA_get0_pqg(dsa.0.as_ptr(), &mut p, &mut q, &mut g) };
    Some((to_be(p)?, to_be(q)?, to_be(g)?))
}

/// `DSA_generate_parameters_ex` with a prime of `bits` bits: `(p, q, g)`.
pub(crate) fn generate_parameters(bits: usize) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let dsa = new_dsa()?;
    let bits = u32::try_from(bits).ok()?;
    // SAFETY: `dsa` is a valid DSA; no seed (null, 0), no counter/h outputs and no callback
    // (all null) are documented as allowed.
    let ok = unsafe {
        lc::DSA_generate_parameters_ex(
            dsa.0.as_ptr(),
            bits,
            null(),
            0,
            null_mut(),
            null_mut(),
            null_mut(),
        )
    };
    if ok != 1 {
        return None;
    }
    pqg(&dsa)
}

impl Dsa {
    /// A DSA from its parameters and a public and/or private value. With only a private
    /// value, the public value is computed as `g^x mod p` (aws-lc requires one).
    pub(crate) fn new(
        p: &[u8],
        q: &[u8],
        g: &[u8],
        y: Option<&[u8]>,
        x: Option<&[u8]>,
    ) -> Option<Dsa> {
        let dsa = new_dsa()?;
        let (bp, bq, bg) = (Bn::from_be(p)?, Bn::from_be(q)?, Bn::from_be(g)?);
        let y = match (y, x) {
            (Some(y), _) => Bn::from_be(y)?,
            (None, Some(x)) => mod_exp(&bg, &Bn::from_be(x)?, &bp)?,
            (None, None) => return None,
        };
        let x = match x {
            Some(x) => Some(Bn::from_be(x)?),
            None => None,
        };
        // SAFETY: `dsa` is valid; the three BIGNUMs are freshly allocated and owned by us;
        // on success `DSA_set0_pqg` takes ownership of them (so we release them).
        let ok = unsafe {
            lc::DSA_set0_pqg(
                dsa.0.as_ptr(),
                bp.as_ptr() as *mut _,
                bq.as_ptr() as *mut _,
                bg.as_ptr() as *mut _,
            )
        };
        if ok != 1 {
            return None;
        }
        let _ = (bp.into_raw(), bq.into_raw(), bg.into_raw());
        let x_ptr = x.as_ref().map_or(null_mut(), |b| b.as_ptr() as *mut _);
        // SAFETY: as above, for the key values; a null private key is allowed.
        let ok = unsafe { lc::DSA_set0_key(dsa.0.as_ptr(), y.as_ptr() as *mut _, x_ptr) };
        if ok != 1 {
            return None;
        }
        let _ = y.into_raw();
        if let Some(x) = x {
            let _ = x.into_raw();
        }
        Some(dsa)
    }

    /// Signs a digest: `r || s`, each left-padded to `q_len` bytes.
    pub(crate) fn sign(&self, digest: &[u8], q_len: usize) -> Option<Vec<u8>> {
        // SAFETY: `digest` is valid for its length; `self` is a valid DSA with a private
        // key; the returned DSA_SIG (or null) is ours.
        let sig = NonNull::new(unsafe {
            lc::DSA_do_sign(digest.as_ptr(), digest.len(), self.0.as_ptr())
        })
        .map(Sig)?;
        let (mut r, mut s) = (null(), null());
        // SAFETY: `sig` is valid; the returned pointers borrow from it.
        unsafe { lc::DSA_SIG_get0(sig.0.as_ptr(), &mut r, &mut s) };
        let mut out = padded(r, q_len)?;
        out.extend(padded(s, q_len)?);
        (out.len() == 2 * q_len).then_some(out)
    }

    /// Verifies `(r, s)` over a digest.
    pub(crate) fn verify(&self, digest: &[u8], r: &[u8], s: &[u8]) -> bool {
        let (Some(r), Some(s)) = (Bn::from_be(r), Bn::from_be(s)) else {
            return false;
        };
        // SAFETY: allocates a fresh DSA_SIG (or null), which we own.
        let Some(sig) = NonNull::new(unsafe { lc::DSA_SIG_new() }).map(Sig) else {
            return false;
        };
        // SAFETY: `sig` is valid; `r` and `s` are ours and `DSA_SIG_set0` takes them over
        // (it cannot fail with non-null values).
        unsafe { lc::DSA_SIG_set0(sig.0.as_ptr(), r.into_raw(), s.into_raw()) };
        // SAFETY: `digest` is valid for its length; `sig` and `self` are valid.
        let ok = unsafe {
            lc::DSA_do_verify(
                digest.as_ptr(),
                digest.len(),
                sig.0.as_ptr(),
                self.0.as_ptr(),
            )
        };
        ok == 1
    }
}

/// `DSA_generate_key` for the given parameters: `(y, x)`.
pub(crate) fn generate_key(p: &[u8], q: &[u8], g: &[u8]) -> Option<(Vec<u8>, Zeroizing<Vec<u8>>)> {
    let dsa = new_dsa()?;
    let (bp, bq, bg) = (Bn::from_be(p)?, Bn::from_be(q)?, Bn::from_be(g)?);
    // SAFETY: `dsa` is valid; the BIGNUMs are ours and taken over on success.
    let ok = unsafe {
        lc::DSA_set0_pqg(
            dsa.0.as_ptr(),
            bp.as_ptr() as *mut _,
            bq.as_ptr() as *mut _,
            bg.as_ptr() as *mut _,
        )
    };
    if ok != 1 {
        return None;
    }
    let _ = (bp.into_raw(), bq.into_raw(), bg.into_raw());
    // SAFETY: `dsa` is a valid DSA with parameters set.
    if unsafe { lc::DSA_generate_key(dsa.0.as_ptr()) } != 1 {
        return None;
    }
    let (mut y, mut x) = (null(), null());
    // SAFETY: `dsa` is valid; the returned pointers borrow from it.
    unsafe { lc::DSA_get0_key(dsa.0.as_ptr(), &mut y, &mut x) };
    Some((to_be(y)?, Zeroizing::new(to_be(x)?)))
}

/// `base^exp mod m`, constant-time in `exp` (aws-lc's `BN_mod_exp_mont_consttime`).
fn mod_exp(base: &Bn, exp: &Bn, m: &Bn) -> Option<Bn> {
    let ctx = BnCtx::new()?;
    let out = Bn::new()?;
    // SAFETY: every BIGNUM and the BN_CTX are valid and owned by us; a null Montgomery
    // context asks aws-lc to build one.
    let ok = unsafe {
        lc::BN_mod_exp_mont_consttime(
            out.as_mut_ptr(),
            base.as_ptr(),
            exp.as_ptr(),
            m.as_ptr(),
            ctx.as_mut_ptr(),
            null(),
        )
    };
    (ok == 1).then_some(out)
}
