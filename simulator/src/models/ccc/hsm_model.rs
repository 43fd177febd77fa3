//! The HSM models CCC names (seed 004): the Migrate Service wizard's New Service step asks for
//! one ("Enter information related to the new service, including HSM model, service name,
//! partition size, organization name, and description"), and a model is what a Luna Network
//! HSM's firmware makes it.
//!
//! Simulator-defined (the guide shows no list): the models are the three lines the guide's
//! rules tell apart by firmware, "Thales Luna Network HSM 7 (Firmware 7.7.0 and above)" being
//! the guide's own name (Service Templates: "the list of HSM models"):
//! - `network-hsm-6`: "Thales Luna Network HSM 6", firmware 6.x;
//! - `network-hsm-7`: "Thales Luna Network HSM 7 (Firmware below 7.7.0)", firmware 7.0 to
//!   7.6.x;
//! - `network-hsm-7-770`: "Thales Luna Network HSM 7 (Firmware 7.7.0 and above)".
//!
//! Firmware before 6.0 is of no model CCC lists. A migration's target devices must all be of
//! the model chosen; the refusal's wording is simulator-defined.
use super::luna;
use serde::{Deserialize, Serialize};

/// An HSM model of CCC's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HsmModel {
    #[serde(rename = "network-hsm-6")]
    LunaNetworkHsm6,
    #[serde(rename = "network-hsm-7")]
    LunaNetworkHsm7,
    #[serde(rename = "network-hsm-7-770")]
    LunaNetworkHsm7From770,
}

/// Firmware 7.7.0, where "Thales Luna Network HSM 7 (Firmware 7.7.0 and above)" starts.
const SEVEN_SEVEN: luna::Firmware = luna::Firmware::new(7, 7, 0);

impl HsmModel {
    /// CCC's list, in the order it shows it.
    pub const ALL: [HsmModel; 3] = [
        HsmModel::LunaNetworkHsm6,
        HsmModel::LunaNetworkHsm7,
        HsmModel::LunaNetworkHsm7From770,
    ];

    /// The id the API, the CLI and the console's form use.
    pub fn id(self) -> &'static str {
        match self {
            HsmModel::LunaNetworkHsm6 => "network-hsm-6",
            HsmModel::LunaNetworkHsm7 => "network-hsm-7",
            HsmModel::LunaNetworkHsm7From770 => "network-hsm-7-770",
        }
    }

    /// The name CCC shows.
    pub fn name(self) -> &'static str {
        match self {
            HsmModel::LunaNetworkHsm6 => "Thales Luna Network HSM 6",
            HsmModel::LunaNetworkHsm7 => "Thales Luna Network HSM 7 (Firmware below 7.7.0)",
            HsmModel::LunaNetworkHsm7From770 => {
                "Thales Luna Network HSM 7 (Firmware 7.7.0 and above)"
            }
        }
    }

    /// The model of id `id`.
    pub fn parse(id: &str) -> Result<HsmModel, String> {
        HsmModel::ALL
            .into_iter()
            .find(|m| m.id() == id)
            .ok_or_else(|| {
                format!(
                    "no HSM model \"{id}\"; CCC lists {}",
                    HsmModel::ALL.map(HsmModel::id).join(", ")
                )
            })
    }

    /// The model of a Luna Network HSM with `firmware` (`None`: before 6.0, no model CCC lists).
    pub fn of(firmware: luna::Firmware) -> Option<HsmModel> {
        match firmware.major {
            6 => Some(HsmModel::LunaNetworkHsm6),
            7 if firmware < SEVEN_SEVEN => Some(HsmModel::LunaNetworkHsm7),
            m if m >= 7 => Some(HsmModel::LunaNetworkHsm7From770),
            _ => None,
        }
    }
}

impl std::fmt::Display for HsmModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for HsmModel {
    type Err = String;
    fn from_str(id: &str) -> Result<HsmModel, String> {
        HsmModel::parse(id)
    }
}

/// `Err`: why `device` cannot serve a new service of HSM model `model` (simulator-defined
/// wording).
pub fn check_hsm_model(model: HsmModel, device: &luna::Device) -> Result<(), String> {
    let firmware = device.firmware;
    match HsmModel::of(firmware) {
        Some(found) if found == model => Ok(()),
        found => Err(format!(
            "the new service's HSM model is {model}: device \"{}\" has firmware {firmware}, {}",
            device.name,
            match found {
                Some(found) => format!("a {found}"),
                None => "of no HSM model CCC lists".to_string(),
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(firmware: luna::Firmware) -> luna::Device {
        luna::Device {
            name: "hsm".into(),
            kind: luna::DeviceKind::Network,
            firmware,
            auth: luna::Auth::Password,
            serial: "1".into(),
            hsm_policies: Default::default(),
            changed: Default::default(),
        }
    }

    #[test]
    fn a_devices_model_is_its_firmware_line() {
        let f = luna::Firmware::new;
        assert_eq!(HsmModel::of(f(5, 2, 0)), None);
        assert_eq!(HsmModel::of(f(6, 21, 2)), Some(HsmModel::LunaNetworkHsm6));
        assert_eq!(HsmModel::of(f(6, 24, 2)), Some(HsmModel::LunaNetworkHsm6));
        assert_eq!(HsmModel::of(f(7, 0, 0)), Some(HsmModel::LunaNetworkHsm7));
        assert_eq!(HsmModel::of(f(7, 6, 9)), Some(HsmModel::LunaNetworkHsm7));
        assert_eq!(
            HsmModel::of(f(7, 7, 0)),
            Some(HsmModel::LunaNetworkHsm7From770)
        );
        assert_eq!(
            HsmModel::of(f(7, 8, 4)),
            Some(HsmModel::LunaNetworkHsm7From770)
        );
        assert!(check_hsm_model(HsmModel::LunaNetworkHsm7, &device(f(7, 4, 2))).is_ok());
        assert_eq!(
            check_hsm_model(HsmModel::LunaNetworkHsm7From770, &device(f(7, 4, 2))).unwrap_err(),
            "the new service's HSM model is Thales Luna Network HSM 7 (Firmware 7.7.0 and above): device \"hsm\" has firmware 7.4.2, a Thales Luna Network HSM 7 (Firmware below 7.7.0)"
        );
        assert!(
            check_hsm_model(HsmModel::LunaNetworkHsm6, &device(f(5, 2, 0)))
                .unwrap_err()
                .ends_with("has firmware 5.2.0, of no HSM model CCC lists")
        );
    }

    #[test]
    fn ids_parse_and_serialise_alike() {
        for model in HsmModel::ALL {
            assert_eq!(HsmModel::parse(model.id()), Ok(model));
            assert_eq!(
                serde_json::to_string(&model).unwrap(),
                format!("\"{}\"", model.id())
            );
        }
        assert_eq!(
            HsmModel::parse("network-hsm-8").unwrap_err(),
            "no HSM model \"network-hsm-8\"; CCC lists network-hsm-6, network-hsm-7, network-hsm-7-770"
        );
    }
}
