//! The Luna Backup HSM's rules (Luna §3.2, §3.4; LunaCM `partition archive backup|restore`):
//! whether a partition may be backed up to a Backup HSM (the Crypto Officer logged in on the
//! source, HSM policy 7, the same authentication method, the Backup HSM firmware a 7.7+ source
//! needs), whether a backup may be restored into a partition (no V0/V1 backup into a pre-7.7
//! partition, the SKS master key of a V1 backup), and what travels: each object as a clone
//! blob (`cloning.rs`: sealed under the source's cloning domain, opened by the Backup HSM's
//! backup partition with its own, so a mismatch fails per object with
//! `CKR_CERTIFICATE_INVALID`); a V1 source's objects are sealed under its SMK inside that blob,
//! so the Backup HSM keeps them encrypted and a restore needs the SMK. What a backup partition
//! records of its source (`BackupOrigin`) lives here; the estate stores it.
use super::{
    CKR_OPERATION_NOT_ALLOWED, CloneSide, Device, DeviceKind, Firmware, PartitionState,
    PartitionVersion, hsm_policy,
};
use crate::base::attribute::Attributes;
use crate::base::error::{Result, err};
use crate::base::secrets::transport::{open_blob, seal_blob};
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};

/// The purpose an object sealed under a V1 partition's SKS master key is sealed for.
pub const SMK_BLOB_CONTEXT: &[u8] = b"luna sks master key object";

/// The vendor attribute a V1 source's object travels in: its attributes sealed under the SMK
/// (simulator-defined; the Backup HSM sees only this, the class, the label and `CKA_OUID`).
pub const CKA_HSMSIM_SMK_SEALED: CK_ATTRIBUTE_TYPE = CKA_VENDOR_DEFINED + 0x5348_0001;

/// The Backup HSM firmware a V0 or V1 (7.7+) source needs (Luna §3.4, thalesdocs
/// `partition_archive_backup.htm`): Backup HSM 7 firmware 7.7.1, Backup HSM G5 firmware
/// 6.28.0. Which of the two a Backup HSM is follows its firmware's major version (7: Backup
/// HSM 7; 5 and 6: G5), as `Device::model` names it.
pub fn backup_firmware_minimum(backup: &Device) -> Firmware {
    if backup.firmware.major >= 7 {
        Firmware::new(7, 7, 1)
    } else {
        Firmware::new(6, 28, 0)
    }
}

/// The partition version a backup partition records of its source, persisted with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceVersion {
    /// Before firmware 7.7.
    Legacy,
    V0,
    V1,
}

impl From<PartitionVersion> for SourceVersion {
    fn from(v: PartitionVersion) -> Self {
        match v {
            PartitionVersion::Legacy => SourceVersion::Legacy,
            PartitionVersion::V0 => SourceVersion::V0,
            PartitionVersion::V1 => SourceVersion::V1,
        }
    }
}

/// What a backup partition records of the partition it was made from: its firmware, its
/// version, and for a V1 source its SMK identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupOrigin {
    pub firmware: String,
    pub version: SourceVersion,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smk: Option<String>,
}

impl BackupOrigin {
    /// The origin `source` gives a backup partition.
    pub fn of(source: &CloneSide<'_>) -> BackupOrigin {
        let version = SourceVersion::from(source.state.version(source.device));
        BackupOrigin {
            firmware: source.device.firmware.to_string(),
            version,
            smk: source
                .state
                .smk
                .clone()
                .filter(|_| version == SourceVersion::V1),
        }
    }

    /// What a run from a partition of this origin does after a failed object (Luna §3.2): a
    /// pre-7.7 origin goes on, a V0/V1 one stops (simulator-defined for a restore, whose
    /// source is the Backup HSM: the backed-up partition's version decides).
    pub fn on_object_failure(&self) -> super::OnObjectFailure {
        match self.version {
            SourceVersion::Legacy => super::OnObjectFailure::Continue,
            SourceVersion::V0 | SourceVersion::V1 => super::OnObjectFailure::Stop,
        }
    }
}

/// Whether `source` may be backed up to the Backup HSM `backup` (Luna §3.1, §3.4), in this
/// order: the Crypto Officer logged in on the source (`CKR_USER_NOT_LOGGED_IN`); `backup` is a
/// Backup HSM; HSM policy 7 on the source's device; the same authentication method; for a
/// V0/V1 source, the Backup HSM firmware minimum (`backup_firmware_minimum`). These refusals
/// are `CKR_OPERATION_NOT_ALLOWED` (simulator-defined, as for cloning). The domains are compared
/// per object, by the Backup HSM.
pub fn check_backup(source: &CloneSide<'_>, backup: &Device) -> Result<()> {
    if source.login != Some(CKU_USER) {
        return Err(err(
            CKR_USER_NOT_LOGGED_IN,
            "a backup needs the Crypto Officer logged in on the source partition",
        ));
    }
    if backup.kind != DeviceKind::Backup {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!("device {} is not a Luna Backup HSM", backup.name),
        ));
    }
    check_partition_device(source.device, "source", backup)?;
    let version = source.state.version(source.device);
    let minimum = backup_firmware_minimum(backup);
    if version != PartitionVersion::Legacy && backup.firmware < minimum {
        return Err(err(
            CKR_OPERATION_NOT_ALLOWED,
            format!(
                "backing up a {version:?} partition (firmware {}) needs {} firmware {minimum} or later; {} runs {}",
                source.device.firmware,
                backup.model(),
                backup.name,
                backup.firmware
            ),
        ));
    }
    Ok(())
}

/// The device of the partition backed up or restored to (the `role` it plays): HSM policy 7
/// (cloning) on, and the Backup HSM's authentication method (Luna §3.4: "must match the
/// partitions being backed up").
fn check_partition_device(partition: &Device, role: &str, backup: &Device) -> Result<()> {
    if partition.hsm_policy(hsm_policy::CLONING) == 0 {
        return Err(err(
            CKR_OPERATION_NOT_ALLOWED,
            format!(
                "HSM policy 7 (Allow cloning) is off on the {role}'s device {}",
                partition.name
            ),
        ));
    }
    if partition.auth != backup.auth {
        return Err(err(
            CKR_OPERATION_NOT_ALLOWED,
            format!(
                "the Backup HSM {} authenticates by {}, the partition's device {} by {}: they must match",
                backup.name,
                backup.auth.short(),
                partition.name,
                partition.auth.short()
            ),
        ));
    }
    Ok(())
}

/// Whether a backup of `origin`, kept on the Backup HSM `backup`, may be restored into
/// `target` (Luna §3.2, §3.4), in this order: the Crypto Officer logged in on the target;
/// HSM policy 7 on its device; the same authentication method; no V0/V1 backup into a
/// pre-7.7 partition; a V1 backup only into a partition holding its SMK (restored first with
/// `-smkonly`) unless `smk_only`, which needs a V1 target. Refusals other than the login are
/// `CKR_OPERATION_NOT_ALLOWED` (simulator-defined).
pub fn check_restore(
    origin: &BackupOrigin,
    backup: &Device,
    target: &CloneSide<'_>,
    smk_only: bool,
) -> Result<()> {
    if target.login != Some(CKU_USER) {
        return Err(err(
            CKR_USER_NOT_LOGGED_IN,
            "a restore needs the Crypto Officer logged in on the target partition",
        ));
    }
    check_partition_device(target.device, "target", backup)?;
    let target_version = target.state.version(target.device);
    if origin.version != SourceVersion::Legacy && target_version == PartitionVersion::Legacy {
        return Err(err(
            CKR_OPERATION_NOT_ALLOWED,
            format!(
                "a backup of a {:?} partition (firmware {}) never restores to a partition older than 7.7 (firmware {})",
                origin.version, origin.firmware, target.device.firmware
            ),
        ));
    }
    if smk_only {
        if origin.version != SourceVersion::V1 || target_version != PartitionVersion::V1 {
            return Err(err(
                CKR_OPERATION_NOT_ALLOWED,
                "-smkonly restores the SKS master key of a V1 backup into a V1 partition",
            ));
        }
        return Ok(());
    }
    if origin.version == SourceVersion::V1 && target.state.smk != origin.smk {
        return Err(err(
            CKR_OPERATION_NOT_ALLOWED,
            "the backup's objects are encrypted under the V1 source's SKS master key, which the target partition does not hold: restore it first with -smkonly",
        ));
    }
    Ok(())
}

/// The secret a V1 partition's SMK seals under (simulator-defined: derived from its identity;
/// the transport blob's HKDF stretches it).
fn smk_secret(smk: &str) -> Vec<u8> {
    [b"hsmsim luna smk ".as_slice(), smk.as_bytes()].concat()
}

/// What of an object leaves the source for the Backup HSM: every attribute, or from a V1
/// source only its class, label and `CKA_OUID` with the rest sealed under the SMK.
pub fn backup_payload(source: &CloneSide<'_>, attrs: &Attributes) -> Result<Attributes> {
    let Some(smk) = source
        .state
        .smk
        .as_deref()
        .filter(|_| source.state.version(source.device) == PartitionVersion::V1)
    else {
        return Ok(attrs.clone());
    };
    let plaintext = zeroize::Zeroizing::new(
        postcard::to_stdvec(attrs)
            .map_err(|e| err(CKR_GENERAL_ERROR, format!("object not encodable: {e}")))?,
    );
    let mut payload = Attributes::new();
    for t in [CKA_CLASS, CKA_LABEL, super::CKA_OUID] {
        if let Some(v) = attrs.bytes(t) {
            payload.set_bytes(t, v.to_vec());
        }
    }
    payload.set_bytes(
        CKA_HSMSIM_SMK_SEALED,
        seal_blob(&smk_secret(smk), SMK_BLOB_CONTEXT, &plaintext)?,
    );
    Ok(payload)
}

/// The object a restore writes: the payload itself, or a V1 backup's attributes opened with
/// the target's SMK (`check_restore` saw it is the backup's). A blob that does not open is
/// `CKR_ENCRYPTED_DATA_INVALID`.
pub fn restored_object(target: &PartitionState, payload: Attributes) -> Result<Attributes> {
    let Some(sealed) = payload.bytes(CKA_HSMSIM_SMK_SEALED) else {
        return Ok(payload);
    };
    let refused = |why: String| err(CKR_ENCRYPTED_DATA_INVALID, why);
    let smk = target
        .smk
        .as_deref()
        .ok_or_else(|| refused("the target partition holds no SKS master key".into()))?;
    let plaintext = open_blob(&smk_secret(smk), SMK_BLOB_CONTEXT, sealed)
        .map_err(|e| refused(format!("SMK-encrypted object refused: {e}")))?;
    postcard::from_bytes(&plaintext).map_err(|_| refused("SMK-encrypted object malformed".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::luna::{Auth, ChangedPolicies, partition_policy};
    use std::collections::BTreeMap;

    fn device(kind: DeviceKind, fw: &str) -> Device {
        Device {
            name: "d".into(),
            kind,
            firmware: Firmware::parse(fw).unwrap(),
            auth: Auth::Password,
            serial: "1".into(),
            hsm_policies: BTreeMap::new(),
            changed: ChangedPolicies::default(),
        }
    }

    fn v1() -> PartitionState {
        let mut state = PartitionState {
            domain: Some(super::super::domain_verifier(b"d")),
            ..Default::default()
        };
        state
            .policies
            .insert(partition_policy::PARTITION_VERSION, 1);
        state.smk = Some("0123456789abcdef".into());
        state
    }

    /// Backup HSM 7 needs 7.7.1 and G5 6.28.0 for a V0/V1 source; an older source goes to any.
    #[test]
    fn firmware_minimums_by_backup_hsm_model() {
        let source = device(DeviceKind::Network, "7.7.1");
        let state = PartitionState::default();
        let side = CloneSide {
            device: &source,
            state: &state,
            login: Some(CKU_USER),
        };
        for (fw, ok) in [
            ("7.7.0", false),
            ("7.7.1", true),
            ("6.27.9", false),
            ("6.28.0", true),
        ] {
            let backup = device(DeviceKind::Backup, fw);
            assert_eq!(check_backup(&side, &backup).is_ok(), ok, "{fw}");
        }
        let old = device(DeviceKind::Network, "6.21.2");
        let side = CloneSide {
            device: &old,
            ..side
        };
        assert!(check_backup(&side, &device(DeviceKind::Backup, "6.10.0")).is_ok());
        assert_eq!(
            check_backup(&side, &device(DeviceKind::Network, "7.7.1"))
                .unwrap_err()
                .rv,
            CKR_ARGUMENTS_BAD
        );
    }

    /// A V1 source's object leaves with its value sealed under the SMK: the Backup HSM sees
    /// the class, label and OUID only; a partition with the SMK opens it, one without cannot.
    #[test]
    fn v1_objects_travel_under_the_smk() {
        let source = device(DeviceKind::Network, "7.7.1");
        let state = v1();
        let side = CloneSide {
            device: &source,
            state: &state,
            login: Some(CKU_USER),
        };
        let mut attrs = Attributes::new();
        attrs.set_bytes(CKA_LABEL, b"k".to_vec());
        attrs.set_bytes(CKA_VALUE, b"secret key value".to_vec());
        let payload = backup_payload(&side, &attrs).unwrap();
        assert_eq!(payload.bytes(CKA_LABEL), Some(&b"k"[..]));
        assert_eq!(payload.bytes(CKA_VALUE), None);
        assert!(
            !payload
                .bytes(CKA_HSMSIM_SMK_SEALED)
                .unwrap()
                .windows(16)
                .any(|w| w == b"secret key value")
        );
        assert_eq!(restored_object(&state, payload.clone()).unwrap(), attrs);
        let other = PartitionState {
            smk: Some("fedcba9876543210".into()),
            ..v1()
        };
        assert_eq!(
            restored_object(&other, payload).unwrap_err().rv,
            CKR_ENCRYPTED_DATA_INVALID
        );
    }
}
