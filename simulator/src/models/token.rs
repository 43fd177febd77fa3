//! What a vendor model says about its tokens as a whole: `CK_TOKEN_INFO` identity and the slot
//! description, whether `C_InitToken`/`C_InitPIN` set it up and the vendor state an
//! initialisation gives (Luna's `CA_InitToken` options), what a device restart does, and the
//! device-wide state other processes change (Luna HSM policies).
use super::{PartitionState, TokenModel, luna, primus};
use crate::base::error::{Result, err};
use crate::store::records::TokenRecord;
use cryptoki_sys::*;

/// Options of a token initialisation beyond the SO PIN and label (Luna's `CA_InitToken`).
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// The cloning domain.
    pub domain: Option<Vec<u8>>,
    /// Partition policies to set, by id.
    pub policies: Vec<(u64, u64)>,
    /// Destructiveness of policies fixed for this partition, by id: (off -> on, on -> off).
    pub destructive: Vec<(u64, (bool, bool))>,
}

impl TokenModel {
    /// The slot description a client shows for this model's partitions, when the vendor's
    /// client has its own: a Luna Network HSM partition is a "Net Token Slot" (Luna §6).
    pub fn slot_description(&self) -> Option<&'static str> {
        match self {
            TokenModel::Luna(d) if d.kind == luna::DeviceKind::Network => Some("Net Token Slot"),
            _ => None,
        }
    }

    /// `CK_TOKEN_INFO.manufacturerID`, `model`, and firmware version.
    pub fn token_identity(&self) -> (&'static str, String, CK_VERSION) {
        match self {
            TokenModel::Primus(_) => (
                primus::MANUFACTURER,
                primus::MODEL.to_string(),
                primus::PROVIDER_VERSION,
            ),
            TokenModel::Soft => (
                crate::base::identity::MANUFACTURER,
                crate::base::identity::MODEL.to_string(),
                crate::base::identity::LIBRARY_VERSION,
            ),
            TokenModel::Luna(d) => (
                "Safenet, Inc.",
                d.model(),
                CK_VERSION {
                    major: d.firmware.major,
                    minor: d.firmware.minor,
                },
            ),
        }
    }

    /// `CK_TOKEN_INFO.hardwareVersion`: Primus reports the HSM firmware there (Primus §1.3).
    pub fn hardware_version(&self) -> CK_VERSION {
        match self {
            TokenModel::Primus(d) => CK_VERSION {
                major: d.firmware.0,
                minor: d.firmware.1,
            },
            _ => CK_VERSION { major: 1, minor: 0 },
        }
    }

    /// `C_InitToken` is not how this model's partitions are set up (Primus: on the device or
    /// with Decanus; simulator-defined answer).
    pub fn check_init_token(&self) -> Result<()> {
        match self {
            TokenModel::Primus(_) => Err(err(
                CKR_FUNCTION_NOT_SUPPORTED,
                "Primus partitions are created and initialised on the device or with Decanus, not with C_InitToken (simulator-defined)",
            )),
            _ => Ok(()),
        }
    }

    /// `C_InitPIN` is not how this model's user PIN is set (Primus: by its SO on the device
    /// or with Decanus; simulator-defined answer).
    pub fn check_init_pin(&self) -> Result<()> {
        match self {
            TokenModel::Primus(_) => Err(err(
                CKR_FUNCTION_NOT_SUPPORTED,
                "a Primus partition's PKCS#11 PIN is set by its SO on the device or with Decanus (simulator-defined)",
            )),
            _ => Ok(()),
        }
    }

    /// The vendor state `C_InitToken` (Luna: `CA_InitToken`) gives a partition: the cloning
    /// domain (`options`, else a PED partition's presented red key `red_key`), partition
    /// policies and their fixed destructiveness. Options on a model without them are
    /// `CKR_ARGUMENTS_BAD`.
    pub fn init_token_state(
        &self,
        options: &InitOptions,
        red_key: Option<&[u8]>,
    ) -> Result<Option<PartitionState>> {
        let mut vendor = self.initial_state();
        match (self, vendor.as_mut()) {
            (TokenModel::Luna(device), Some(PartitionState::Luna(state))) => {
                state.domain = options
                    .domain
                    .as_deref()
                    .or(red_key)
                    .map(luna::domain_verifier);
                for (id, d) in &options.destructive {
                    if luna::partition_policy(*id).is_none() {
                        return Err(err(
                            luna::CKR_POLICY_ID_INVALID,
                            format!("there is no partition policy {id}"),
                        ));
                    }
                    state.destructive.insert(*id, *d);
                }
                state.apply(device, &options.policies, true)?;
                state.settle_version(device, luna::new_smk_id)?;
            }
            _ if options.domain.is_some()
                || !options.policies.is_empty()
                || !options.destructive.is_empty() =>
            {
                return Err(err(
                    CKR_ARGUMENTS_BAD,
                    "cloning domains and partition policies apply to Luna partitions only",
                ));
            }
            _ => {}
        }
        Ok(vendor)
    }

    /// What a device restart after an outage of `outage_secs` does to a partition's record:
    /// Luna drops its roles' activation unless auto-activation keeps it (policy 23, outages up
    /// to two hours); Primus clears login lockouts ("a device restart clears lockouts",
    /// Primus §1.4). Returns the roles that lost their activation.
    pub fn restart(&self, record: &mut TokenRecord, outage_secs: u64) -> Vec<CK_USER_TYPE> {
        match (self, PartitionState::of(record).as_deref().cloned()) {
            (TokenModel::Luna(d), Some(PartitionState::Luna(state))) => {
                if state.keeps_activation(d, outage_secs) {
                    return Vec::new();
                }
                let mut dropped = Vec::new();
                for (user, role) in record.roles.iter_mut().filter(|(_, r)| r.activated) {
                    role.activated = false;
                    dropped.push(*user);
                }
                dropped
            }
            (TokenModel::Primus(_), _) => {
                for role in record.roles.values_mut() {
                    role.throttle = None;
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// The serial of an HA group numbered by the member whose serial is `first_member`
    /// (`luna::ha_group_serial`: HA groups are Luna's).
    pub fn ha_group_serial(&self, first_member: &str) -> String {
        luna::ha_group_serial(first_member)
    }

    /// Reads the device-wide state other processes may change (Luna: HSM policies changed
    /// since the lab set them) from the store.
    pub fn read_device_state(&self, store: &crate::store::Store) -> Result<()> {
        if let TokenModel::Luna(d) = self {
            d.changed
                .set(store.device_policies(&crate::base::ids::DeviceId::new(d.name.as_str()))?);
        }
        Ok(())
    }

    /// Another process changed `device`'s policies to `policies`: this model takes them if
    /// the device is its own (Luna HSM policies).
    pub fn device_policies_changed(
        &self,
        device: &str,
        policies: &std::collections::BTreeMap<u64, u64>,
    ) {
        if let TokenModel::Luna(d) = self
            && d.name == device
        {
            d.changed.set(policies.clone());
        }
    }
}
