//! Luna HA groups (Luna §3.5): who may be a member beside whom, the group's serial, and the
//! `CA_GetHAState` member status codes. The estate keeps the groups; the engine serves their
//! virtual slots; the rules are here. Sources: thalesdocs `ha/setup.htm`, `add_remove.htm`,
//! `ha/mixed.htm`, `managing.htm` (Luna §3.5); seed 003 ("Cloning Using an
//! HA Group": same domain, activation policy 22 on PED partitions, "Needs sync").
use super::{Auth, Device, DeviceKind, Era, PartitionState, check_shared_domain};
use super::{CKR_OPERATION_NOT_ALLOWED, hsm_policy, partition_policy};
use crate::base::error::{Result, err};

/// One member (or candidate) of an HA group: its name ("device/partition"), device and state.
#[derive(Debug, Clone, Copy)]
pub struct HaSide<'a> {
    pub name: &'a str,
    pub device: &'a Device,
    pub state: &'a PartitionState,
}

/// Whether `candidate` may join a group whose primary is `primary` (Luna §3.5), checked in
/// this order: the same authentication method; HSM policies 7 ("Allow cloning") and 16
/// ("Allow network replication") on both devices; PED partitions activated (partition policy
/// 22; seed 003: "HA requires that all members have an activation policy set"); no PCIe 7 and
/// Network HSM 7 mix; a 7.7+ primary never over an older secondary; then the same cloning
/// domain (`CKR_CERTIFICATE_INVALID`, as cloning answers it). The other refusals are
/// `CKR_OPERATION_NOT_ALLOWED` (simulator-defined: LunaCM prints an error the documents do
/// not quote). The same Crypto Officer credential is checked by the caller, which opens every
/// member with it.
pub fn check_ha_member(primary: &HaSide<'_>, candidate: &HaSide<'_>) -> Result<()> {
    let refuse = |why: String| Err(err(CKR_OPERATION_NOT_ALLOWED, why));
    if primary.device.auth != candidate.device.auth {
        let name = |a: Auth| match a {
            Auth::Password => "a password",
            Auth::Ped => "a PED",
        };
        return refuse(format!(
            "{} authenticates with {}, the primary {} with {}: HA members use the same \
             authentication method",
            candidate.name,
            name(candidate.device.auth),
            primary.name,
            name(primary.device.auth)
        ));
    }
    for side in [primary, candidate] {
        for (id, policy) in [
            (hsm_policy::CLONING, "Allow cloning"),
            (hsm_policy::NETWORK_REPLICATION, "Allow network replication"),
        ] {
            if side.device.hsm_policy(id) == 0 {
                return refuse(format!(
                    "device {} of {} has HSM policy {id} (\"{policy}\") off: HA members need \
                     HSM policies 7 and 16 on",
                    side.device.name, side.name
                ));
            }
        }
        if side.device.auth == Auth::Ped
            && side.state.policy(side.device, partition_policy::ACTIVATION) == 0
        {
            return refuse(format!(
                "{} is a PED partition without activation (partition policy 22 off): set it \
                 with `partition changepolicy -policy 22 -value 1` first",
                side.name
            ));
        }
    }
    let luna7 = |s: &HaSide<'_>, kind: DeviceKind| {
        s.device.kind == kind && s.device.firmware.era() >= Era::Luna7
    };
    if (luna7(primary, DeviceKind::Pcie) && luna7(candidate, DeviceKind::Network))
        || (luna7(primary, DeviceKind::Network) && luna7(candidate, DeviceKind::Pcie))
    {
        return refuse(format!(
            "{} and {} mix a Luna PCIe HSM 7 and a Luna Network HSM 7: HA groups do not mix them",
            primary.name, candidate.name
        ));
    }
    check_primary_over(primary, candidate)?;
    check_shared_domain(
        (primary.state, primary.device.firmware),
        (candidate.state, candidate.device.firmware),
    )
    .map_err(|e| {
        err(
            e.rv,
            format!("{} and {}: {}", primary.name, candidate.name, e.detail),
        )
    })
}

/// A 7.7+ partition is never primary over an older secondary (Luna §3.5,
/// `CKR_OPERATION_NOT_ALLOWED`, simulator-defined code).
pub fn check_primary_over(primary: &HaSide<'_>, secondary: &HaSide<'_>) -> Result<()> {
    if primary.device.firmware.era() >= Era::Luna77 && secondary.device.firmware.era() < Era::Luna77
    {
        return Err(err(
            CKR_OPERATION_NOT_ALLOWED,
            format!(
                "{} (firmware {}) cannot be primary over {} (firmware {}): a 7.7+ partition is \
                 never primary when a secondary is older than 7.7; make the older one primary",
                primary.name, primary.device.firmware, secondary.name, secondary.device.firmware
            ),
        ));
    }
    Ok(())
}

/// An HA group's serial from the member that numbers it: "1" + its serial (Luna numbers an HA
/// group "1" + its first member's serial, Luna §3.5), cut to the 16 characters
/// `CK_TOKEN_INFO.serialNumber` holds (simulator-defined).
pub fn ha_group_serial(first_member: &str) -> String {
    let mut serial = format!("1{first_member}");
    serial.truncate(16);
    serial
}

/// `CK_HA_MEMBER.memberStatus` of a member that answers (`CKR_OK`) and of one that is down
/// (`CKR_DEVICE_REMOVED`; simulator-defined: pycryptoki gives the field's type, `CK_RV`, not
/// its values).
pub const HA_MEMBER_ALIVE: u64 = cryptoki_sys::CKR_OK;
pub const HA_MEMBER_DOWN: u64 = cryptoki_sys::CKR_DEVICE_REMOVED;

/// `CK_HA_MAX_MEMBERS`: the member list `CA_GetHAState` fills (pycryptoki).
pub const HA_MAX_MEMBERS: usize = 32;
