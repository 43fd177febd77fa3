//! The C ABI boundary to aws-lc (through aws-lc-sys) for the two things the AES family needs
//! that aws-lc-rs does not expose:
//! - RFC 3394 / RFC 5649 key wrap with a 192-bit KEK (`aws_lc_rs::key_wrap` has AES-128 and
//!   AES-256 KEKs only): aws-lc's `AES_wrap_key`, `AES_unwrap_key`, `AES_wrap_key_padded` and
//!   `AES_unwrap_key_padded`, which are what `aws_lc_rs::key_wrap` calls for the other sizes;
//! - AES-GCM with IVs of any length and truncated tags (`aws_lc_rs::aead` takes 96-bit nonces
//!   and verifies 128-bit tags only): aws-lc's `EVP_CIPHER_CTX` with `EVP_aes_*_gcm`,
//!   `EVP_CTRL_GCM_SET_IVLEN`, `EVP_CTRL_GCM_GET_TAG` and `EVP_CTRL_GCM_SET_TAG`.
//!
//! The types it hands out are safe to use.
use aws_lc_sys::{
    AES_KEY, AES_set_decrypt_key, AES_set_encrypt_key, AES_unwrap_key, AES_unwrap_key_padded,
    AES_wrap_key, AES_wrap_key_padded, EVP_CIPHER, EVP_CIPHER_CTX, EVP_CIPHER_CTX_ctrl,
    EVP_CIPHER_CTX_free, EVP_CIPHER_CTX_new, EVP_CTRL_GCM_GET_TAG, EVP_CTRL_GCM_SET_IVLEN,
    EVP_CTRL_GCM_SET_TAG, EVP_CipherFinal_ex, EVP_CipherInit_ex, EVP_CipherUpdate, EVP_aes_128_gcm,
    EVP_aes_192_gcm, EVP_aes_256_gcm,
};
use std::os::raw::c_int;
use std::ptr::{NonNull, null, null_mut};
use zeroize::Zeroize;

/// An expanded AES-192 key schedule for one direction of RFC 3394 / RFC 5649 (boxed, so
/// that it stays in one place and is cleared there on drop).
pub(crate) struct Kek192 {
    schedule: Box<AES_KEY>,
    encrypt: bool,
}

impl Kek192 {
    /// The schedule for wrapping (`encrypt`) or unwrapping with the 24-byte `key`; `None`
    /// for any other length.
    pub(crate) fn new(key: &[u8], encrypt: bool) -> Option<Self> {
        if key.len() != 24 {
            return None;
        }
        let mut schedule = Box::new(AES_KEY::default());
        let rc = if encrypt {
            // SAFETY: `key` is 24 readable bytes, as the 192 bits ask for, and `schedule`
            // is a valid, exclusively borrowed AES_KEY for aws-lc to fill.
            unsafe { AES_set_encrypt_key(key.as_ptr(), 192, &mut *schedule) }
        } else {
            // SAFETY: as for the encryption schedule above.
            unsafe { AES_set_decrypt_key(key.as_ptr(), 192, &mut *schedule) }
        };
        let kek = Kek192 { schedule, encrypt };
        (rc == 0).then_some(kek)
    }

    /// RFC 3394 wrapping of `input` (a multiple of 8 bytes, at least 16) with initial value
    /// `iv` (`None`: the default `A6A6A6A6A6A6A6A6`) into `out`, which must hold
    /// `input.len() + 8` bytes; returns the length written.
    pub(crate) fn wrap(&self, iv: Option<&[u8; 8]>, input: &[u8], out: &mut [u8]) -> Option<usize> {
        if !self.encrypt
            || input.len() < 16
            || input.len() & 7 != 0
            || input.len() > i32::MAX as usize - 8
            || out.len() < input.len() + 8
        {
            return None;
        }
        let iv = iv.map_or(null(), |iv| iv.as_ptr());
        // SAFETY: `self.schedule` is an initialised encryption schedule; `iv` is null or
        // points to 8 readable bytes; `input` is readable for `input.len()` bytes and `out`
        // writable for at least `input.len() + 8`, all AES_wrap_key writes; `input` and
        // `out` are distinct borrows, so they do not overlap.
        let written = unsafe {
            AES_wrap_key(
                &*self.schedule,
                iv,
                out.as_mut_ptr(),
                input.as_ptr(),
                input.len(),
            )
        };
        usize::try_from(written).ok()
    }

    /// RFC 3394 unwrapping of `input` (a multiple of 8 bytes, at least 24) into `out`, which
    /// must hold `input.len() - 8` bytes, checking the default initial value; returns the
    /// length written, `None` when the integrity check fails.
    pub(crate) fn unwrap(&self, input: &[u8], out: &mut [u8]) -> Option<usize> {
        if self.encrypt
            || input.len() < 24
            || input.len() & 7 != 0
            || input.len() > i32::MAX as usize
            || out.len() < input.len() - 8
        {
            return None;
        }
        // SAFETY: `self.schedule` is an initialised decryption schedule; a null IV asks for
        // the default one; `input` is readable for `input.len()` bytes and `out` writable
        // for at least `input.len() - 8`, all AES_unwrap_key writes; the two do not overlap.
        let written = unsafe {
            AES_unwrap_key(
                &*self.schedule,
                null(),
                out.as_mut_ptr(),
                input.as_ptr(),
                input.len(),
            )
        };
        usize::try_from(written).ok()
    }

    /// RFC 5649 wrapping of `input` (1 byte or more) into `out`, which must hold the input
    /// rounded up to 8 bytes, plus 8; returns the length written.
    pub(crate) fn wrap_padded(&self, input: &[u8], out: &mut [u8]) -> Option<usize> {
        if !self.encrypt {
            return None;
        }
        let mut written = 0usize;
        // SAFETY: `self.schedule` is an initialised encryption schedule; `input` is readable
        // for `input.len()` bytes; `out` is writable for `out.len()` bytes, passed as the
        // maximum, which AES_wrap_key_padded checks before writing; `written` is a valid
        // `size_t`; `input` and `out` do not overlap.
        let ok = unsafe {
            AES_wrap_key_padded(
                &*self.schedule,
                out.as_mut_ptr(),
                &mut written,
                out.len(),
                input.as_ptr(),
                input.len(),
            )
        };
        (ok == 1).then_some(written)
    }

    /// RFC 5649 unwrapping of `input` (a multiple of 8 bytes, at least 16) into `out`, which
    /// must hold `input.len() - 8` bytes; returns the unpadded length, `None` when the
    /// integrity check fails.
    pub(crate) fn unwrap_padded(&self, input: &[u8], out: &mut [u8]) -> Option<usize> {
        if self.encrypt || input.len() < 16 || input.len() & 7 != 0 {
            return None;
        }
        let mut written = 0usize;
        // SAFETY: `self.schedule` is an initialised decryption schedule; `input` is readable
        // for `input.len()` bytes, a multiple of 8 and at least 16 as aws-lc requires;
        // `out` is writable for `out.len()` bytes, passed as the maximum, which
        // AES_unwrap_key_padded checks against `input.len() - 8` before writing; `written`
        // is a valid `size_t`; `input` and `out` do not overlap.
        let ok = unsafe {
            AES_unwrap_key_padded(
                &*self.schedule,
                out.as_mut_ptr(),
                &mut written,
                out.len(),
                input.as_ptr(),
                input.len(),
            )
        };
        (ok == 1).then_some(written)
    }
}

impl Drop for Kek192 {
    fn drop(&mut self) {
        self.schedule.rd_key.zeroize();
        self.schedule.rounds.zeroize();
    }
}

/// An aws-lc `EVP_CIPHER_CTX` set up for AES-GCM in one direction, with the key and an IV
/// of any length of 1 byte or more (aws-lc derives J0 through GHASH for non-96-bit IVs).
pub(crate) struct GcmCtx {
    ctx: NonNull<EVP_CIPHER_CTX>,
}

// SAFETY: the context is owned by this value alone (never aliased or shared) and aws-lc's
// cipher contexts have no thread affinity, so moving one to another thread is sound.
unsafe impl Send for GcmCtx {}

/// The largest part handed to aws-lc in one call (its lengths are `int`).
const CHUNK: usize = 1 << 30;

impl GcmCtx {
    /// `None` when `key` is not 16, 24 or 32 bytes, `iv` is empty or longer than an `int`,
    /// or aws-lc fails.
    pub(crate) fn new(key: &[u8], iv: &[u8], encrypt: bool) -> Option<Self> {
        let cipher: unsafe extern "C" fn() -> *const EVP_CIPHER = match key.len() {
            16 => EVP_aes_128_gcm,
            24 => EVP_aes_192_gcm,
            32 => EVP_aes_256_gcm,
            _ => return None,
        };
        let iv_len = c_int::try_from(iv.len()).ok().filter(|&n| n > 0)?;
        // SAFETY: EVP_CIPHER_CTX_new takes nothing and returns a fresh context or null.
        let ctx = NonNull::new(unsafe { EVP_CIPHER_CTX_new() })?;
        // From here on, `Drop` frees the context on every path.
        let this = GcmCtx { ctx };
        let enc = c_int::from(encrypt);
        // SAFETY: the EVP_aes_*_gcm functions take nothing and return a static table.
        let cipher = unsafe { cipher() };
        // SAFETY: `this.ctx` is a live context; `cipher` is a valid static table; null
        // engine, key and IV ask aws-lc to set up the cipher only.
        let ok = unsafe {
            EVP_CipherInit_ex(this.ctx.as_ptr(), cipher, null_mut(), null(), null(), enc)
        };
        if ok != 1 {
            return None;
        }
        // SAFETY: `this.ctx` is a live GCM context; SET_IVLEN reads only `iv_len` (> 0)
        // and takes no pointer.
        let ok = unsafe {
            EVP_CIPHER_CTX_ctrl(
                this.ctx.as_ptr(),
                EVP_CTRL_GCM_SET_IVLEN,
                iv_len,
                null_mut(),
            )
        };
        if ok != 1 {
            return None;
        }
        // SAFETY: `this.ctx` is a live GCM context set up for `key.len()`-byte keys and
        // `iv.len()`-byte IVs; `key` and `iv` are readable for those lengths, and aws-lc
        // copies what it needs (the key schedule, J0) into the context.
        let ok = unsafe {
            EVP_CipherInit_ex(
                this.ctx.as_ptr(),
                null(),
                null_mut(),
                key.as_ptr(),
                iv.as_ptr(),
                enc,
            )
        };
        (ok == 1).then_some(this)
    }

    /// Feeds additional authenticated data (before any `update`).
    pub(crate) fn aad(&mut self, aad: &[u8]) -> bool {
        for part in aad.chunks(CHUNK) {
            let mut written: c_int = 0;
            // SAFETY: `self.ctx` is live; a null output pointer makes aws-lc treat the
            // input as AAD; `part` is readable for its length, which fits an `int`;
            // `written` is a valid `int`.
            let ok = unsafe {
                EVP_CipherUpdate(
                    self.ctx.as_ptr(),
                    null_mut(),
                    &mut written,
                    part.as_ptr(),
                    part.len() as c_int,
                )
            };
            if ok != 1 {
                return false;
            }
        }
        true
    }

    /// Encrypts or decrypts `input` into `out`, of the same length (GCM does not buffer).
    pub(crate) fn update(&mut self, input: &[u8], out: &mut [u8]) -> bool {
        if input.len() != out.len() {
            return false;
        }
        for (part, dst) in input.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
            let mut written: c_int = 0;
            // SAFETY: `self.ctx` is live; `part` is readable and `dst` writable for the
            // same length, which fits an `int` (GCM writes exactly the input length);
            // `written` is a valid `int`; `part` and `dst` do not overlap.
            let ok = unsafe {
                EVP_CipherUpdate(
                    self.ctx.as_ptr(),
                    dst.as_mut_ptr(),
                    &mut written,
                    part.as_ptr(),
                    part.len() as c_int,
                )
            };
            if ok != 1 || written as usize != part.len() {
                return false;
            }
        }
        true
    }

    /// Ends an encryption and returns the full 16-byte tag.
    pub(crate) fn seal(&mut self) -> Option<[u8; 16]> {
        let mut written: c_int = 0;
        let mut scratch = [0u8; 16];
        // SAFETY: `self.ctx` is a live encryption context; GCM's final writes no data, and
        // `scratch` would hold a block anyway; `written` is a valid `int`.
        let ok =
            unsafe { EVP_CipherFinal_ex(self.ctx.as_ptr(), scratch.as_mut_ptr(), &mut written) };
        if ok != 1 {
            return None;
        }
        let mut tag = [0u8; 16];
        // SAFETY: `self.ctx` is a finished encryption context; GET_TAG copies 16 bytes
        // into `tag`, which is writable for 16.
        let ok = unsafe {
            EVP_CIPHER_CTX_ctrl(
                self.ctx.as_ptr(),
                EVP_CTRL_GCM_GET_TAG,
                16,
                tag.as_mut_ptr().cast(),
            )
        };
        (ok == 1).then_some(tag)
    }

    /// Ends a decryption: whether `tag` (1 to 16 bytes) verifies, which aws-lc checks in
    /// constant time.
    pub(crate) fn open(&mut self, tag: &[u8]) -> bool {
        if tag.is_empty() || tag.len() > 16 {
            return false;
        }
        let mut copy = [0u8; 16];
        copy[..tag.len()].copy_from_slice(tag);
        // SAFETY: `self.ctx` is a live decryption context; SET_TAG reads `tag.len()`
        // (1 to 16) bytes from `copy`, which holds 16.
        let ok = unsafe {
            EVP_CIPHER_CTX_ctrl(
                self.ctx.as_ptr(),
                EVP_CTRL_GCM_SET_TAG,
                tag.len() as c_int,
                copy.as_mut_ptr().cast(),
            )
        };
        if ok != 1 {
            return false;
        }
        let mut written: c_int = 0;
        let mut scratch = [0u8; 16];
        // SAFETY: `self.ctx` is live; GCM's final writes no data (`scratch` would hold a
        // block anyway) and returns 1 only when the tag set above verifies.
        let ok =
            unsafe { EVP_CipherFinal_ex(self.ctx.as_ptr(), scratch.as_mut_ptr(), &mut written) };
        ok == 1
    }
}

impl Drop for GcmCtx {
    fn drop(&mut self) {
        // SAFETY: `self.ctx` came from EVP_CIPHER_CTX_new and is freed here only, once;
        // aws-lc cleans the cipher state up (and clears it) as it frees the context.
        unsafe { EVP_CIPHER_CTX_free(self.ctx.as_ptr()) }
    }
}
