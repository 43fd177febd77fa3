//! Luna cloning between two partitions (Luna §3.1-§3.3): whether a clone may start (roles
//! logged in, HSM policy 7 on both devices, the same authentication method, no V0/V1 source to
//! a pre-7.7 target), whether one object may leave its partition (policies 0 and 4 by object
//! class), which cloning domain seals an object and which domains the target opens it with (a
//! mismatch fails at the target with `CKR_CERTIFICATE_INVALID`), how a blob that does not open
//! is answered, and what a run does after a failed object (by the source's era, or by
//! `CA_MigrateKeys`'s flags under Cloning Protocol v4, which both sides need firmware 7.8+
//! for). The engine carries the objects; the rules are here.
use super::{
    CKR_CERTIFICATE_INVALID, CKR_CLONE_NOT_ATTEMPTED, CKR_CLONING_PARAMETER_MISSING,
    CKR_FAILED_TO_CLONE_AN_OBJECT, CKR_OBJECT_TYPE_INVALID, CKR_OPERATION_NOT_ALLOWED,
    CKR_PROTOCOL_DISABLED, Device, Era, PartitionState, PartitionVersion, hsm_policy,
    partition_policy,
};
use crate::base::attribute::Attributes;
use crate::base::error::{Error, Result, err};
use crate::base::secrets::transport::{BlobError, open_blob, seal_blob};
use cryptoki_sys::*;

/// The purpose a clone blob is sealed for (`transport::seal_blob`'s context): a blob sealed for
/// a backup does not open as a clone.
pub const CLONE_BLOB_CONTEXT: &[u8] = b"luna clone object";

/// One side of a clone: the partition's device, its Luna state and the role logged in on the
/// session that names it (`None`: no one).
#[derive(Debug, Clone, Copy)]
pub struct CloneSide<'a> {
    pub device: &'a Device,
    pub state: &'a PartitionState,
    pub login: Option<CK_USER_TYPE>,
}

impl CloneSide<'_> {
    fn version(&self) -> PartitionVersion {
        self.state.version(self.device)
    }
    fn era(&self) -> Era {
        self.device.firmware.era()
    }
}

/// Whether a clone from `source` to `target` may start (Luna §3.1). Checked in this order:
/// the Crypto Officer logged in on the source and the target's credentials presented (a
/// Crypto Officer session there), `CKR_USER_NOT_LOGGED_IN`; HSM policy 7 on both devices; the
/// same authentication method (relaxed when both are 7.8+, "Universal Cloning"); a V0/V1
/// source never to a pre-7.7 target (no path from higher to lower security, Luna §3.2); the
/// source has a cloning domain (`CKR_CLONING_PARAMETER_MISSING`). The refusals other than the
/// login and the domain are `CKR_OPERATION_NOT_ALLOWED` (simulator-defined: the documents
/// name no code). The domains themselves are compared at the target, per object.
pub fn check_clone(source: &CloneSide<'_>, target: &CloneSide<'_>) -> Result<()> {
    if source.login != Some(CKU_USER) {
        return Err(err(
            CKR_USER_NOT_LOGGED_IN,
            "cloning needs the Crypto Officer logged in on the source partition",
        ));
    }
    if target.login != Some(CKU_USER) {
        return Err(err(
            CKR_USER_NOT_LOGGED_IN,
            "cloning needs the Crypto Officer's credentials on the target partition",
        ));
    }
    for (side, name) in [(source, "source"), (target, "target")] {
        if side.device.hsm_policy(hsm_policy::CLONING) == 0 {
            return Err(err(
                CKR_OPERATION_NOT_ALLOWED,
                format!(
                    "HSM policy 7 (Allow cloning) is off on the {name}'s device {}",
                    side.device.name
                ),
            ));
        }
    }
    let universal = source.era() >= Era::Luna78 && target.era() >= Era::Luna78;
    if source.device.auth != target.device.auth && !universal {
        return Err(err(
            CKR_OPERATION_NOT_ALLOWED,
            format!(
                "cloning needs the same authentication method on both partitions ({} source, {} target)",
                source.device.auth.short(),
                target.device.auth.short()
            ),
        ));
    }
    if source.version() != PartitionVersion::Legacy && target.version() == PartitionVersion::Legacy
    {
        return Err(err(
            CKR_OPERATION_NOT_ALLOWED,
            format!(
                "a {:?} partition (firmware {}) never clones to a partition older than 7.7 (firmware {})",
                source.version(),
                source.device.firmware,
                target.device.firmware
            ),
        ));
    }
    if source.state.domain.is_none() {
        return Err(err(
            CKR_CLONING_PARAMETER_MISSING,
            "the source partition has no cloning domain",
        ));
    }
    Ok(())
}

/// Whether the source's policies let an object of `class` leave by cloning (Luna §3.1):
/// private keys need partition policy 0, secret keys policy 4; other objects always clone.
/// A refusal is per object, `CKR_OPERATION_NOT_ALLOWED` (simulator-defined, Luna §3.2 leaves
/// the code open). Luna documents no per-object "cloneable" attribute: objects are
/// cloneable or not by class and policy.
pub fn check_object_clonable(source: &CloneSide<'_>, class: CK_OBJECT_CLASS) -> Result<()> {
    let (policy, what) = match class {
        CKO_PRIVATE_KEY => (partition_policy::PRIVATE_KEY_CLONING, "private keys"),
        CKO_SECRET_KEY => (partition_policy::SECRET_KEY_CLONING, "secret keys"),
        _ => return Ok(()),
    };
    if source.state.policy(source.device, policy) == 0 {
        return Err(err(
            CKR_OPERATION_NOT_ALLOWED,
            format!("partition policy {policy} (cloning of {what}) is off on the source"),
        ));
    }
    Ok(())
}

/// The domain (its verifier, the transport secret) the source seals an object under: when
/// both sides are 7.8+, the first of the source's domains the target also has (the two
/// negotiate), else the source's primary one (a 7.8+ side cloning with an older peer uses its
/// primary domain; documented, 7 `migration.htm`).
pub fn sealing_domain<'a>(source: &CloneSide<'a>, target: &CloneSide<'_>) -> Option<&'a [u8]> {
    let primary = source.state.domain.as_deref();
    if source.era() >= Era::Luna78 && target.era() >= Era::Luna78 {
        source
            .state
            .domains()
            .find(|d| target.state.has_domain(d))
            .map(Vec::as_slice)
            .or(primary)
    } else {
        primary
    }
}

/// The domains the target tries to open an object with: all of them when both sides are 7.8+,
/// else only its primary one.
pub fn opening_domains<'a>(target: &CloneSide<'a>, source: &CloneSide<'_>) -> Vec<&'a [u8]> {
    if source.era() >= Era::Luna78 && target.era() >= Era::Luna78 {
        target.state.domains().map(Vec::as_slice).collect()
    } else {
        target.state.domain.as_deref().into_iter().collect()
    }
}

/// How the target answers a clone blob that does not open: another domain is
/// `CKR_CERTIFICATE_INVALID` (documented, Luna §3.2); a damaged or truncated blob is
/// `CKR_ENCRYPTED_DATA_INVALID` (simulator-defined).
pub fn blob_refusal(e: BlobError) -> Error {
    match e {
        BlobError::OtherDomain => err(
            CKR_CERTIFICATE_INVALID,
            "the object was sealed under a cloning domain the target partition does not have",
        ),
        BlobError::NotAuthentic | BlobError::Malformed => err(
            CKR_ENCRYPTED_DATA_INVALID,
            format!("clone blob refused: {e}"),
        ),
    }
}

/// The blob one object travels in: its attributes (every one, `CKA_OUID` included) sealed
/// under `sealing_domain` for the clone purpose. `CKR_CLONING_PARAMETER_MISSING` when the
/// source has no domain.
pub fn seal_clone(
    source: &CloneSide<'_>,
    target: &CloneSide<'_>,
    attrs: &Attributes,
) -> Result<Vec<u8>> {
    let domain = sealing_domain(source, target).ok_or_else(|| {
        err(
            CKR_CLONING_PARAMETER_MISSING,
            "the source partition has no cloning domain",
        )
    })?;
    let plaintext = zeroize::Zeroizing::new(
        postcard::to_stdvec(attrs)
            .map_err(|e| err(CKR_GENERAL_ERROR, format!("object not encodable: {e}")))?,
    );
    seal_blob(domain, CLONE_BLOB_CONTEXT, &plaintext)
}

/// The target opens a clone blob with its `opening_domains`: the object's attributes, or the
/// refusal (`blob_refusal`) of the domain whose identifier the blob carries (another
/// domain's, `CKR_CERTIFICATE_INVALID`, when none of the target's matches).
pub fn open_clone(
    target: &CloneSide<'_>,
    source: &CloneSide<'_>,
    blob: &[u8],
) -> Result<Attributes> {
    let mut refusal = BlobError::OtherDomain;
    for domain in opening_domains(target, source) {
        match open_blob(domain, CLONE_BLOB_CONTEXT, blob) {
            Ok(plaintext) => {
                return postcard::from_bytes(&plaintext)
                    .map_err(|_| blob_refusal(BlobError::Malformed));
            }
            Err(BlobError::OtherDomain) => {}
            Err(e) => refusal = e,
        }
    }
    Err(blob_refusal(refusal))
}

/// What a clone run does after an object fails (Luna §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnObjectFailure {
    /// A source older than 7.7: go on with the next object (one error per object).
    Continue,
    /// A V0 or V1 source: stop; the objects after it are not attempted.
    Stop,
}

/// The source's behaviour after a failed object, by its partition version.
pub fn on_object_failure(source: &CloneSide<'_>) -> OnObjectFailure {
    match source.version() {
        PartitionVersion::Legacy => OnObjectFailure::Continue,
        PartitionVersion::V0 | PartitionVersion::V1 => OnObjectFailure::Stop,
    }
}

/// Runs `clone_one` over `objects` as the source's era does: every object's result in order;
/// after a failure under `OnObjectFailure::Stop`, the rest are `CKR_CLONE_NOT_ATTEMPTED`.
pub fn clone_run<I, T>(
    behaviour: OnObjectFailure,
    objects: impl IntoIterator<Item = I>,
    mut clone_one: impl FnMut(I) -> Result<T>,
) -> Vec<Result<T>> {
    let mut stopped = false;
    objects
        .into_iter()
        .map(|object| {
            if stopped {
                return Err(err(
                    CKR_CLONE_NOT_ATTEMPTED,
                    "not attempted: the clone stopped at an earlier failure",
                ));
            }
            let result = clone_one(object);
            stopped = result.is_err() && behaviour == OnObjectFailure::Stop;
            result
        })
        .collect()
}

/// A run's overall answer: `Ok` when every object cloned; a single object's own error; else
/// `CKR_FAILED_TO_CLONE_AN_OBJECT` naming how many failed.
pub fn run_outcome<T>(results: &[Result<T>]) -> Result<()> {
    let failed: Vec<&Error> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    match failed.as_slice() {
        [] => Ok(()),
        [only] if results.len() == 1 => Err((*only).clone()),
        _ => Err(err(
            CKR_FAILED_TO_CLONE_AN_OBJECT,
            format!(
                "{} of {} objects failed to clone; the first: {}",
                failed.len(),
                results.len(),
                failed[0]
            ),
        )),
    }
}

/// `CKF_CPV4_CONTINUE_ON_ERR` (pycryptoki `defines.py`): `CA_MigrateKeys` goes on after a
/// failed object instead of stopping there.
pub const CKF_CPV4_CONTINUE_ON_ERR: CK_FLAGS = 0x01;

/// Whether Cloning Protocol v4 ("Universal Cloning", `CA_MigrateKeys` and its session
/// negotiation) may run on this side: firmware 7.8 or later (Luna §2, the firmware table).
/// Older firmware has no CPv4: `CKR_PROTOCOL_DISABLED` (the code is pycryptoki's, in the CPv4
/// range; its use here is simulator-defined, the documents name none).
pub fn check_cpv4_side(side: &Device, role: &str) -> Result<()> {
    if side.firmware.era() < Era::Luna78 {
        return Err(err(
            CKR_PROTOCOL_DISABLED,
            format!(
                "Cloning Protocol v4 needs firmware 7.8 or later; the {role}'s device {} runs {}",
                side.name, side.firmware
            ),
        ));
    }
    Ok(())
}

/// Whether a CPv4 migration from `source` to `target` may start: both sides 7.8+
/// (`check_cpv4_side`), then the cloning rules (`check_clone`).
pub fn check_cpv4(source: &CloneSide<'_>, target: &CloneSide<'_>) -> Result<()> {
    check_cpv4_side(source.device, "source")?;
    check_cpv4_side(target.device, "target")?;
    check_clone(source, target)
}

/// What `CA_MigrateKeys` does after a failed object, by its flags: go on with
/// `CKF_CPV4_CONTINUE_ON_ERR`, else stop (the rest `CKR_CLONE_NOT_ATTEMPTED`). Any other flag
/// bit is `CKR_ARGUMENTS_BAD` (simulator-defined).
pub fn cpv4_on_object_failure(flags: CK_FLAGS) -> Result<OnObjectFailure> {
    if flags & !CKF_CPV4_CONTINUE_ON_ERR != 0 {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!("CA_MigrateKeys knows only CKF_CPV4_CONTINUE_ON_ERR, not flags 0x{flags:X}"),
        ));
    }
    Ok(if flags & CKF_CPV4_CONTINUE_ON_ERR != 0 {
        OnObjectFailure::Continue
    } else {
        OnObjectFailure::Stop
    })
}

/// A CPv4 object entry's element type: only `CK_CRYPTOKI_ELEMENT` objects migrate; others are
/// `CKR_OBJECT_TYPE_INVALID` for that object (as pycryptoki's `test_cpv4.py` expects).
pub fn check_cpv4_element(object_type: CK_ULONG) -> Result<()> {
    if object_type != super::ca::CK_CRYPTOKI_ELEMENT {
        return Err(err(
            CKR_OBJECT_TYPE_INVALID,
            format!("element type {object_type} does not migrate: only CK_CRYPTOKI_ELEMENT (0)"),
        ));
    }
    Ok(())
}
