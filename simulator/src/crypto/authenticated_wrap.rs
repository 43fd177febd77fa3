//! Authenticated key wrapping (PKCS#11 3.2 `C_WrapKeyAuthenticated` /
//! `C_UnwrapKeyAuthenticated`): which mechanisms these calls accept and how the call's
//! associated data joins the mechanism. The wrapping itself is the ordinary wrap path
//! (`crypto::wrap` / `crypto::unwrap` over the family's cipher operation), so the wrapped blob is
//! what `C_WrapKey` with the same mechanism gives: the AEAD ciphertext of the key's bytes
//! followed by its tag, with the associated data authenticated.
//!
//! Choices, where PKCS#11 3.2 leaves room:
//! - Mechanisms: `CKM_AES_GCM` only (the simulator has no `CKM_CHACHA20_POLY1305`); any other
//!   mechanism is `CKR_MECHANISM_INVALID` for these calls (simulator-defined).
//! - `CK_GCM_PARAMS`: the IV is the caller's (1 byte or more, as the module's GCM takes it). The
//!   tag is 96 to 128 bits in steps of 8 (simulator-defined: the 32- and 64-bit tags GCM
//!   encryption accepts are refused for keys, `CKR_MECHANISM_PARAM_INVALID`). The associated
//!   data comes from the call (`pAssociatedData`); `CK_GCM_PARAMS.pAAD` must be empty
//!   (simulator-defined: two sources of associated data would be ambiguous),
//!   else `CKR_MECHANISM_PARAM_INVALID`.
use super::{MechParams, Mechanism};
use crate::base::error::{Result, err};
use cryptoki_sys::*;

/// The mechanism to run for an authenticated wrap or unwrap: `mech` checked as above, with the
/// call's `associated_data` as its AEAD associated data.
pub fn with_associated_data(mech: &Mechanism, associated_data: &[u8]) -> Result<Mechanism> {
    match (mech.mechanism_type, &mech.params) {
        (CKM_AES_GCM, MechParams::Gcm { iv, aad, tag_bits }) => {
            if !(96..=128).contains(tag_bits) || tag_bits % 8 != 0 {
                return Err(err(
                    CKR_MECHANISM_PARAM_INVALID,
                    "an authenticated key wrap takes a GCM tag of 96 to 128 bits, in steps of 8",
                ));
            }
            if !aad.is_empty() {
                return Err(err(
                    CKR_MECHANISM_PARAM_INVALID,
                    "give the associated data as pAssociatedData, not in CK_GCM_PARAMS.pAAD",
                ));
            }
            Ok(Mechanism::with(
                CKM_AES_GCM,
                MechParams::Gcm {
                    iv: iv.clone(),
                    aad: associated_data.to_vec(),
                    tag_bits: *tag_bits,
                },
            ))
        }
        (CKM_AES_GCM, _) => Err(err(
            CKR_MECHANISM_PARAM_INVALID,
            "AES GCM needs CK_GCM_PARAMS",
        )),
        (other, _) => Err(err(
            CKR_MECHANISM_INVALID,
            format!("mechanism 0x{other:X} cannot wrap keys with associated data"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gcm(aad: &[u8], tag_bits: CK_ULONG) -> Mechanism {
        Mechanism::with(
            CKM_AES_GCM,
            MechParams::Gcm {
                iv: vec![7; 12],
                aad: aad.to_vec(),
                tag_bits,
            },
        )
    }

    #[test]
    fn the_calls_associated_data_joins_a_gcm_mechanism() {
        let m = with_associated_data(&gcm(b"", 128), b"context").unwrap();
        assert_eq!(m, gcm(b"context", 128));
        for bits in [96, 104, 112, 120] {
            assert!(with_associated_data(&gcm(b"", bits), b"x").is_ok());
        }
    }

    #[test]
    fn short_tags_parameter_aad_and_other_mechanisms_are_refused() {
        for bits in [0, 32, 64, 100, 136] {
            assert_eq!(
                with_associated_data(&gcm(b"", bits), b"x").unwrap_err().rv,
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        assert_eq!(
            with_associated_data(&gcm(b"in params", 128), b"x")
                .unwrap_err()
                .rv,
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            with_associated_data(&Mechanism::new(CKM_AES_GCM), b"x")
                .unwrap_err()
                .rv,
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            with_associated_data(&Mechanism::new(CKM_AES_KEY_WRAP), b"x")
                .unwrap_err()
                .rv,
            CKR_MECHANISM_INVALID
        );
    }
}
