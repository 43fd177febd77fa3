//! What the Primus PKCS#11 provider presents (Primus §1.3, §1.5): its manufacturer, model
//! and version, the PIN lengths, and the mechanisms and curves the firmware offers.
use crate::base::error::{Result, err};
use cryptoki_sys::*;

/// Mechanisms Primus does not offer though the simulator has them: single DES (Primus
/// §1.5 in docs/sources.md: the firmware's mechanism list has DES2 and DES3, no single DES), answered
/// `CKR_MECHANISM_INVALID`.
pub const ABSENT_MECHANISMS: &[CK_MECHANISM_TYPE] =
    &[CKM_DES_KEY_GEN, CKM_DES_ECB, CKM_DES_CBC, CKM_DES_CBC_PAD];

/// The first firmware with ML-DSA and ML-KEM (Primus §1.5's firmware gating: "v3.2:
/// `*_ENCRYPT_DATA` (also PQC ...)").
pub const PQC_FIRMWARE: (u8, u8) = (3, 2);

/// `CKR_MECHANISM_INVALID` for a mechanism a device of this firmware does not offer: single DES
/// never ([`ABSENT_MECHANISMS`]), ML-DSA and ML-KEM before [`PQC_FIRMWARE`].
pub fn check_mechanism(firmware: (u8, u8), mechanism: CK_MECHANISM_TYPE) -> Result<()> {
    if ABSENT_MECHANISMS.contains(&mechanism) {
        return Err(err(
            CKR_MECHANISM_INVALID,
            format!("Primus does not offer mechanism 0x{mechanism:X}"),
        ));
    }
    if crate::crypto::is_post_quantum(mechanism) && firmware < PQC_FIRMWARE {
        return Err(err(
            CKR_MECHANISM_INVALID,
            format!(
                "mechanism 0x{mechanism:X} (ML-DSA / ML-KEM) needs Primus firmware 3.2 or later; this HSM runs {}.{}",
                firmware.0, firmware.1
            ),
        ));
    }
    Ok(())
}

/// `CK_TOKEN_INFO.manufacturerID` and `model` (Primus §1.3, observed).
pub const MANUFACTURER: &str = "Securosys SA";
pub const MODEL: &str = "PRIMUS HSM";
/// The provider version reported as the token's firmware version (simulator-defined: the
/// provider 2.x the documents describe).
pub const PROVIDER_VERSION: CK_VERSION = CK_VERSION { major: 2, minor: 4 };
/// PIN lengths as `pkcs11-tool -L` shows them (Primus §1.3: 0/32).
pub const PIN_LEN_RANGE: (usize, usize) = (0, 32);

/// The Weierstrass curves Primus firmware offers for `CKK_EC` keys (simulator-defined:
/// the Primus sources give no curve list; secp192r1, below the 112-bit strength the others start at, is
/// left out, so a Primus slot shows `CKR_CURVE_NOT_SUPPORTED`).
pub const EC_CURVES: &[crate::crypto::ec::Curve] = {
    use crate::crypto::ec::Curve::*;
    &[
        P224,
        P256,
        P384,
        P521,
        Secp256k1,
        BrainpoolP256r1,
        BrainpoolP384r1,
        BrainpoolP512r1,
    ]
};
