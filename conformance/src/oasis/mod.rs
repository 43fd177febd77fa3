//! The OASIS PKCS#11 profile test cases, replayed: the published XML files of the mandatory
//! test cases of the Baseline Provider (BL), Extended Provider (EXT), Authentication Token
//! (AUTH) and Public Certificates Token (CERT) profiles, 3.1 and 3.2 (vendored whole in
//! `conformance/oasis/`, see its README), `xml` reads them into calls, `replay` performs the
//! calls through a module's C ABI and compares the outputs; the executor is
//! `crate::procedures::oasis` (procedures `oasis.baseline`, `oasis.extended`,
//! `oasis.authentication-token`, `oasis.public-certificates-token`, one variant per file
//! version: `v3.1`, `v3.2`).
//!
//! The rules of the comparison. The profiles' own (Conformance_Test_Cases.md, "Variable
//! Items" and "Variable behavior"): provider information (`LibraryDescription`,
//! `LibraryVersion`, `ManufacturerID`, `SlotDescription`, `HardwareVersion`,
//! `FirmwareVersion`, `serialNumber`, `label`, `model`, `utcTime`), handles (`SlotID`,
//! `Object`, `Session`), operation data and the attribute values `VALUE`, `PUBLIC_EXPONENT`,
//! ... `UNIQUE_ID` may vary: they are reported, not compared; the count and order of the
//! entries of `C_GetSlotList` and `C_GetMechanismList` may vary provided one entry matches;
//! clean-up calls may be omitted. Every return code is compared exactly. Where the profiles
//! are silent, simulator-defined:
//! - The entry point: the replay uses the module's default interface (`C_GetInterface` with
//!   no name or version) when it has one, else `C_GetFunctionList`, as applications do.
//! - `C_Initialize` is replayed; since the runner initialised the module already (one
//!   `C_Initialize` per process), `CKR_CRYPTOKI_ALREADY_INITIALIZED` stands for the file's
//!   `CKR_OK`. `C_Finalize` is not replayed (a clean-up call the profiles let a test omit):
//!   the run's other procedures still use the module, which the runner finalises at the end.
//! - `CryptokiVersion`: the module's version must be at least the file's (a 3.2 module runs
//!   the 3.1 cases too); a module reporting a lower version makes that file's scenario "not
//!   applicable" (SoftHSMv2 2.6, a 2.40 module, is not applicable to either file). Checked
//!   before any fixture is made.
//! - `Info` `Flags`: exactly (the file's 0x0: reserved). Slot, token and mechanism `Flags`:
//!   every flag the file lists must be set; further flags are reported, not failed.
//! - The token counts (`MaxSessionCount`, `SessionCount`, `MaxRwSessionCount`,
//!   `RwSessionCount`, the four memory sizes): any value (they depend on the provider and on
//!   what else runs); `MinPinLen`/`MaxPinLen`: any range with min <= max.
//! - `MechanismInfo` key sizes: the file's 0..0 (a digest) accepts any; otherwise the
//!   module's range must include 2048 bits, the key size the Authentication Token profile's
//!   key has (the file's 512..16384 is one provider's range).
//! - `${SlotList.SlotID[0]}` is bound to the slot of the token the run names (`--target`),
//!   which must be in the returned list; `${...}` lengths are bound to the returned counts.
//!   Each output occurrence of an identifier binds it again (AUTH binds
//!   `${Object.Object[0]}` to the public key, then to the private key); inputs use the last
//!   binding; `${Pin}` is the run's PIN of the token.
//! - `<Object/>` in a `C_FindObjects` response (BL, EXT) accepts any number of objects; a
//!   list of N `<Object>` entries needs exactly N, not counting the token's `CKO_PROFILE`
//!   objects (its PKCS#11 3.x declaration of the profiles it implements, not application
//!   objects): their `CKA_CLASS` is read and they are set aside, and `C_FindObjects` is called
//!   again while a full batch left fewer than N (these extra calls are recorded).
//! - Attribute lengths: exactly, except for variable items. A length query's buffer is the
//!   file's length, or the one the module returned before for that attribute when larger.
//!   Text values (`LABEL`) are compared without trailing NULs: CERT's length 22 counts the C
//!   string terminator of "Mozilla Builtin Roots" (21 characters) that plain text cannot show.
//! - AUTH: the file's key pair is not published, so the fixture is a generated RSA-2048 pair:
//!   `MODULUS` and the `Signature` are variable in that case; the signature must have the
//!   modulus' length and verify over the file's `Data` with the `MODULUS` and
//!   `PUBLIC_EXPONENT` the replay read back.
//! - The replay calls `C_Login`, `C_Logout` and `C_CloseAllSessions`, which act on every
//!   session of the token: the procedures carry the catalogue tag `exclusive`, and the runner
//!   runs such a scenario alone.
pub mod replay;
pub mod xml;

mod names;

/// A vendored test case file: the procedure it belongs to, the variant (file version), its
/// path under `conformance/` and its text.
pub struct File {
    pub procedure: &'static str,
    pub variant: &'static str,
    pub path: &'static str,
    pub text: &'static str,
}

macro_rules! file {
    ($procedure:expr, $variant:expr, $path:expr) => {
        File {
            procedure: $procedure,
            variant: $variant,
            path: $path,
            text: include_str!(concat!("../../", $path)),
        }
    };
}

/// Every vendored file.
pub const FILES: &[File] = &[
    file!(
        "oasis.baseline",
        "v3.1",
        "oasis/pkcs11-v3.1/mandatory/BL-M-1-31.xml"
    ),
    file!(
        "oasis.baseline",
        "v3.2",
        "oasis/pkcs11-v3.2/mandatory/BL-M-1-32.xml"
    ),
    file!(
        "oasis.extended",
        "v3.1",
        "oasis/pkcs11-v3.1/mandatory/EXT-M-1-31.xml"
    ),
    file!(
        "oasis.extended",
        "v3.2",
        "oasis/pkcs11-v3.2/mandatory/EXT-M-1-32.xml"
    ),
    file!(
        "oasis.authentication-token",
        "v3.1",
        "oasis/pkcs11-v3.1/mandatory/AUTH-M-1-31.xml"
    ),
    file!(
        "oasis.authentication-token",
        "v3.2",
        "oasis/pkcs11-v3.2/mandatory/AUTH-M-1-32.xml"
    ),
    file!(
        "oasis.public-certificates-token",
        "v3.1",
        "oasis/pkcs11-v3.1/mandatory/CERT-M-1-31.xml"
    ),
    file!(
        "oasis.public-certificates-token",
        "v3.2",
        "oasis/pkcs11-v3.2/mandatory/CERT-M-1-32.xml"
    ),
];

/// The GlobalSign Root CA certificate (DER), the `VALUE` of CERT's object[1]: the fixture's
/// certificates.
pub const GLOBALSIGN_ROOT_CA: &[u8] = include_bytes!("../../oasis/GlobalSign_Root_CA.der");

/// The file of `procedure` in `variant`.
pub fn file(procedure: &str, variant: &str) -> Option<&'static File> {
    FILES
        .iter()
        .find(|f| f.procedure == procedure && f.variant == variant)
}

/// The Cryptoki version a file's `C_GetInfo` response names.
pub fn file_version(case: &xml::TestCase) -> Option<(u8, u8)> {
    let info = case
        .calls
        .iter()
        .find(|c| c.function == "C_GetInfo")?
        .output("Info")?;
    let v = info.child("CryptokiVersion")?;
    Some((
        v.attr("major")?.trim().parse().ok()?,
        v.attr("minor")?.trim().parse().ok()?,
    ))
}

#[cfg(test)]
mod tests_parser;
