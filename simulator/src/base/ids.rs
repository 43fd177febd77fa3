//! Typed names of the estate's parts: a device, a partition of a device, an HA group. A
//! partition's id is its device's name and its own; written out it is "device/partition", the
//! form lab files, the CLI and the store use (device names never hold a '/', lab validation
//! sees to it).
use serde::{Deserialize, Serialize};
use std::fmt;

/// A device of the lab (an HSM, a Backup HSM): its name in the lab file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceId(String);

impl DeviceId {
    pub fn new(name: impl Into<String>) -> Self {
        DeviceId(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of this device's partition `name`.
    pub fn partition(&self, name: impl Into<String>) -> PartitionId {
        PartitionId {
            device: self.clone(),
            name: name.into(),
        }
    }
}

impl std::str::FromStr for DeviceId {
    type Err = std::convert::Infallible;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Ok(DeviceId::new(name))
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A partition of a device: where a token lives (the store keys tokens by it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionId {
    device: DeviceId,
    name: String,
}

impl PartitionId {
    /// Reads "device/partition" (split at the first '/'); `None` without a '/' or with an
    /// empty part.
    pub fn parse(text: &str) -> Option<Self> {
        let (device, name) = text.split_once('/')?;
        (!device.is_empty() && !name.is_empty()).then(|| DeviceId::new(device).partition(name))
    }

    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    /// The partition's own name on its device.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the partition is on `device`.
    pub fn is_on(&self, device: &DeviceId) -> bool {
        &self.device == device
    }
}

impl fmt::Display for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.device, self.name)
    }
}

impl std::str::FromStr for PartitionId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        PartitionId::parse(text)
            .ok_or_else(|| format!("write the partition as \"device/partition\", not \"{text}\""))
    }
}

impl Serialize for PartitionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PartitionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PartitionId::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("\"{text}\" is not \"device/partition\""))
        })
    }
}

/// A Luna HA group of the lab: its label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HaGroupId(String);

impl HaGroupId {
    pub fn new(label: impl Into<String>) -> Self {
        HaGroupId(label.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HaGroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_id_reads_and_writes_device_slash_partition() {
        let id = PartitionId::parse("luna7/p1").unwrap();
        assert_eq!(id.device().as_str(), "luna7");
        assert_eq!(id.name(), "p1");
        assert_eq!(id.to_string(), "luna7/p1");
        assert!(id.is_on(&DeviceId::new("luna7")));
        assert!(!id.is_on(&DeviceId::new("luna")));
        // The partition's own name may hold a '/'; the device's may not.
        assert_eq!(PartitionId::parse("d/a/b").unwrap().name(), "a/b");
        for bad in ["", "d", "/p", "d/"] {
            assert_eq!(PartitionId::parse(bad), None, "{bad}");
        }
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"luna7/p1\"");
        assert_eq!(serde_json::from_str::<PartitionId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<PartitionId>("\"p1\"").is_err());
    }
}
