//! The lab file as written, read into the per-kind schema (`schema.rs`). A device's vendor
//! fields go in its vendor's section (`[device.luna]`, `[device.primus]`,
//! `[device.partition.luna]`, `[device.partition.primus]`), whose unknown fields serde refuses
//! with their line. The older flat form, vendor fields directly in `[[device]]` and
//! `[[device.partition]]`, still reads: each flat field goes to the section of the device's
//! vendor, and one that belongs to another vendor is refused where it stands, as is a field
//! given both flat and in the section.
use super::schema::{
    CccDef, DEVICE_KINDS, DecanusDef, DeviceDef, DeviceVendor, HaGroupDef, HostDef, LabFile,
    LabInfo, LunaDeviceDef, LunaPartitionDef, PartitionDef, PartitionVendor, PrimusDeviceDef,
    PrimusPartitionDef, Vendor,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// What is wrong, and where (a byte range of the text).
pub type Misplaced = (Option<Range<usize>>, String);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LabText {
    lab: LabInfo,
    #[serde(default)]
    device: Vec<DeviceText>,
    #[serde(default)]
    host: Vec<HostDef>,
    #[serde(default)]
    ha_group: Vec<HaGroupDef>,
    ccc: Option<CccDef>,
}

/// A `[[device]]` as written: the common fields, the vendor sections, and the older flat form's
/// vendor fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceText {
    name: Spanned<String>,
    kind: Spanned<String>,
    serial: Option<Spanned<String>>,
    luna: Option<Spanned<LunaDeviceDef>>,
    primus: Option<Spanned<PrimusDeviceDef>>,
    #[serde(default)]
    partition: Vec<PartitionText>,
    // The older flat form.
    firmware: Option<Spanned<String>>,
    auth: Option<Spanned<String>>,
    hsm_policies: Option<Spanned<BTreeMap<String, u64>>>,
    memory: Option<Spanned<u64>>,
    login_attempt_threshold: Option<Spanned<u32>>,
    attempt_reset_time: Option<Spanned<u64>>,
    login_lockout_time: Option<Spanned<u64>>,
    service: Option<Spanned<String>>,
    licences: Option<Spanned<Vec<Spanned<String>>>>,
    role: Option<Spanned<String>>,
    clone: Option<Spanned<String>>,
    clone_modify: Option<Spanned<bool>>,
    decanus: Option<Spanned<DecanusDef>>,
}

/// A `[[device.partition]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartitionText {
    name: Spanned<String>,
    label: Option<Spanned<String>>,
    so_pin: Option<Spanned<String>>,
    user_pin: Option<Spanned<String>>,
    luna: Option<Spanned<LunaPartitionDef>>,
    primus: Option<Spanned<PrimusPartitionDef>>,
    // The older flat form.
    crypto_user_pin: Option<Spanned<String>>,
    limited_co_pin: Option<Spanned<String>>,
    domain: Option<Spanned<String>>,
    other_domains: Option<Spanned<Vec<String>>>,
    admin: Option<Spanned<bool>>,
    size: Option<Spanned<u64>>,
    policies: Option<Spanned<BTreeMap<String, u64>>>,
    so_ped_key: Option<Spanned<String>>,
    user_ped_key: Option<Spanned<String>>,
    crypto_user_ped_key: Option<Spanned<String>>,
    domain_ped_key: Option<Spanned<String>>,
    allow_import: Option<Spanned<bool>>,
    allow_export: Option<Spanned<bool>>,
    allow_extract: Option<Spanned<bool>>,
    management: Option<Spanned<bool>>,
    partition_administration: Option<Spanned<bool>>,
}

/// Parses a lab's text into the per-kind schema.
pub fn read(text: &str) -> Result<LabFile, Misplaced> {
    let written: LabText =
        toml::from_str(text).map_err(|e| (e.span(), e.message().trim().to_string()))?;
    Ok(LabFile {
        lab: written.lab,
        devices: written
            .device
            .into_iter()
            .map(device)
            .collect::<Result<_, _>>()?,
        hosts: written.host,
        ha_groups: written.ha_group,
        ccc: written.ccc,
    })
}

/// A field from the section or the older flat form; given in both, it is refused.
fn one_of<T>(
    section: Option<Spanned<T>>,
    flat: Option<Spanned<T>>,
    field: &str,
    table: &str,
) -> Result<Option<Spanned<T>>, Misplaced> {
    match (section, flat) {
        (Some(_), Some(flat)) => Err(given_twice(flat.span(), field, table)),
        (section, flat) => Ok(section.or(flat)),
    }
}

/// Where a field stands, if it is given.
fn span<T>(field: &Option<Spanned<T>>) -> Option<Range<usize>> {
    field.as_ref().map(Spanned::span)
}

/// A field given both in the older flat form (at `flat`) and in the section.
fn given_twice(flat: Range<usize>, field: &str, table: &str) -> Misplaced {
    (
        Some(flat),
        format!("`{field}` is given both here and in [{table}]: keep the one in [{table}]"),
    )
}

/// The named fields of a `*Text` with their places: `(name, span)`.
macro_rules! places {
    ($text:expr; $($field:ident),+ $(,)?) => {
        [$((stringify!($field), span(&$text.$field))),+]
    };
}

/// A section, each named field from the section `$section` or the older flat form `$flat`
/// (`one_of`, `?` on a field given in both); `$extra`: fields with no flat form.
macro_rules! merged {
    ($section_type:ident { $($field:ident),+ $(,)? } from $section:ident, $flat:ident in $table:expr
        $(, $extra:ident: $value:expr)* $(,)?) => {
        $section_type {
            $($field: one_of($section.$field, $flat.$field, stringify!($field), $table)?,)+
            $($extra: $value,)*
        }
    };
}

/// The first flat field given of those named, with its place.
fn first_given(fields: &[(&str, Option<Range<usize>>)]) -> Option<(Range<usize>, String)> {
    fields
        .iter()
        .find_map(|(name, span)| span.clone().map(|s| (s, name.to_string())))
}

/// A vendor section on a device or partition of another vendor.
fn section_of_other_vendor(span: Range<usize>, section: &str, kind: &str) -> Misplaced {
    (
        Some(span),
        format!("[{section}] does not belong to a device of kind \"{kind}\""),
    )
}

fn device(d: DeviceText) -> Result<DeviceDef, Misplaced> {
    let kind = d.kind.get_ref().clone();
    let Some(vendor) = Vendor::of_kind(&kind) else {
        return Err((
            Some(d.kind.span()),
            format!(
                "unknown device kind \"{kind}\"; allowed: {}",
                DEVICE_KINDS.join(", ")
            ),
        ));
    };
    let luna_flat = places!(d; firmware, auth, hsm_policies);
    let primus_flat = places!(d; service, licences, role, clone, clone_modify, decanus);
    let throttle_flat = places!(d; login_attempt_threshold, attempt_reset_time, login_lockout_time);
    if vendor != Vendor::Luna
        && let Some(luna) = &d.luna
    {
        return Err(section_of_other_vendor(luna.span(), "device.luna", &kind));
    }
    if vendor != Vendor::Primus
        && let Some(primus) = &d.primus
    {
        return Err(section_of_other_vendor(
            primus.span(),
            "device.primus",
            &kind,
        ));
    }
    if vendor != Vendor::Luna
        && let Some(memory) = &d.memory
    {
        return Err((
            Some(memory.span()),
            "`memory` applies to Luna devices only".into(),
        ));
    }
    let device_vendor = match vendor {
        Vendor::Primus => {
            if let Some((span, what)) = first_given(&luna_flat[1..]) {
                return Err((Some(span), format!("`{what}` applies to Luna devices only")));
            }
            let s = d.primus.map(Spanned::into_inner).unwrap_or_default();
            DeviceVendor::Primus(merged!(PrimusDeviceDef {
                firmware, login_attempt_threshold, attempt_reset_time, login_lockout_time,
                service, licences, role, clone, clone_modify, decanus,
            } from s, d in "device.primus"))
        }
        Vendor::Luna | Vendor::Soft => {
            if let Some((span, _)) = first_given(&primus_flat) {
                return Err((
                    Some(span),
                    "service, licences, role, clone, clone_modify and decanus apply to Primus devices only".into(),
                ));
            }
            if let Some((span, _)) = first_given(&throttle_flat) {
                return Err((
                    Some(span),
                    "the login throttle applies to Primus devices only".into(),
                ));
            }
            if vendor == Vendor::Soft {
                if let Some((span, what)) = first_given(&luna_flat) {
                    return Err((
                        Some(span),
                        format!("`{what}` applies to Luna devices only, not to kind \"{kind}\""),
                    ));
                }
                DeviceVendor::Soft
            } else {
                let s = d.luna.map(Spanned::into_inner).unwrap_or_default();
                DeviceVendor::Luna(merged!(LunaDeviceDef {
                    firmware, auth, hsm_policies, memory,
                } from s, d in "device.luna", attached_to: s.attached_to, fm: s.fm))
            }
        }
    };
    Ok(DeviceDef {
        name: d.name,
        serial: d.serial,
        partitions: d
            .partition
            .into_iter()
            .map(|p| partition(p, vendor, &kind))
            .collect::<Result<_, _>>()?,
        kind: d.kind,
        vendor: device_vendor,
    })
}

fn partition(p: PartitionText, vendor: Vendor, kind: &str) -> Result<PartitionDef, Misplaced> {
    if vendor != Vendor::Luna
        && let Some(luna) = &p.luna
    {
        return Err(section_of_other_vendor(
            luna.span(),
            "device.partition.luna",
            kind,
        ));
    }
    if vendor != Vendor::Primus
        && let Some(primus) = &p.primus
    {
        return Err(section_of_other_vendor(
            primus.span(),
            "device.partition.primus",
            kind,
        ));
    }
    let luna_flat = places!(p; crypto_user_pin, limited_co_pin, domain, other_domains, admin,
        size, policies, so_ped_key, user_ped_key, crypto_user_ped_key, domain_ped_key);
    let primus_policy_flat = places!(p; allow_import, allow_export, allow_extract);
    let primus_admin_flat = places!(p; management, partition_administration);
    if vendor != Vendor::Primus {
        if let Some((span, _)) = first_given(&primus_policy_flat) {
            return Err((
                Some(span),
                "allow_import, allow_export and allow_extract apply to Primus partitions only"
                    .into(),
            ));
        }
        if let Some((span, _)) = first_given(&primus_admin_flat) {
            return Err((
                Some(span),
                "management and partition_administration apply to Primus partitions only".into(),
            ));
        }
    }
    if vendor != Vendor::Luna
        && let Some((span, what)) = first_given(&luna_flat)
    {
        let whose = if what == "admin" {
            "devices"
        } else {
            "partitions"
        };
        let verb = if what == "policies" {
            "apply"
        } else {
            "applies"
        };
        return Err((Some(span), format!("`{what}` {verb} to Luna {whose} only")));
    }
    let partition_vendor = match vendor {
        Vendor::Soft => PartitionVendor::Soft,
        Vendor::Primus => {
            let s = p.primus.map(Spanned::into_inner).unwrap_or_default();
            PartitionVendor::Primus(merged!(PrimusPartitionDef {
                allow_import, allow_export, allow_extract, management, partition_administration,
            } from s, p in "device.partition.primus"))
        }
        Vendor::Luna => {
            let s = p.luna.map(Spanned::into_inner).unwrap_or_default();
            let t = "device.partition.luna";
            let admin = match (&p.admin, s.admin) {
                (Some(flat), true) => return Err(given_twice(flat.span(), "admin", t)),
                (flat, section) => section || flat.as_ref().is_some_and(|a| *a.get_ref()),
            };
            PartitionVendor::Luna(Box::new(merged!(LunaPartitionDef {
                crypto_user_pin, limited_co_pin, domain, other_domains, size, policies,
                so_ped_key, user_ped_key, crypto_user_ped_key, domain_ped_key,
            } from s, p in t, admin: admin)))
        }
    };
    Ok(PartitionDef {
        name: p.name,
        label: p.label,
        so_pin: p.so_pin,
        user_pin: p.user_pin,
        vendor: partition_vendor,
    })
}

#[cfg(test)]
mod tests {
    use crate::lab::Lab;
    use crate::lab::fixtures::BUILT_IN;
    use std::path::PathBuf;

    /// A lab with one device of `kind` (its lines after `kind`), one partition (its lines after
    /// `name`) and a host showing it.
    fn lab(kind: &str, device: &str, partition: &str) -> String {
        format!(
            "[lab]\nname = \"x\"\n[[device]]\nname = \"d\"\nkind = \"{kind}\"\n{device}\n  [[device.partition]]\n  name = \"p\"\n{partition}\n[[host]]\nname = \"h\"\nslot = [{{ id = 0, partition = \"d/p\" }}]\n"
        )
    }

    #[test]
    fn a_field_of_another_vendor_is_refused_where_it_stands() {
        for (kind, device, partition, line, needle) in [
            // A Luna field in the Primus section, and the other way round.
            (
                "primus",
                "  [device.primus]\n  role = \"master\"\n  auth = \"ped\"",
                "",
                8,
                "unknown field `auth`",
            ),
            (
                "luna-network",
                "  [device.luna]\n  licences = [\"device-backup\"]",
                "",
                7,
                "unknown field `licences`",
            ),
            (
                "luna-pcie",
                "",
                "    [device.partition.luna]\n    management = true",
                10,
                "unknown field `management`",
            ),
            (
                "primus",
                "",
                "    [device.partition.primus]\n    domain = \"acme\"",
                10,
                "unknown field `domain`",
            ),
            // A vendor's section on another vendor's device.
            (
                "primus",
                "  [device.luna]\n  auth = \"ped\"",
                "",
                6,
                "[device.luna] does not belong to a device of kind \"primus\"",
            ),
            (
                "soft",
                "primus = { role = \"master\" }",
                "",
                6,
                "[device.primus] does not belong to a device of kind \"soft\"",
            ),
            (
                "luna-usb",
                "",
                "  primus = { management = true }",
                9,
                "[device.partition.primus] does not belong to a device of kind \"luna-usb\"",
            ),
            // The older flat form: a field of another vendor, as before.
            ("primus", "auth = \"ped\"", "", 6, "Luna devices only"),
            (
                "luna-network",
                "role = \"clone\"",
                "",
                6,
                "Primus devices only",
            ),
            ("soft", "", "  domain = \"acme\"", 9, "Luna partitions only"),
            (
                "primus",
                "",
                "  so_ped_key = \"blue.key\"",
                9,
                "`so_ped_key` applies to Luna partitions only",
            ),
            // One field both flat and in the section.
            (
                "luna-pcie",
                "firmware = \"7.4.2\"\n  [device.luna]\n  firmware = \"7.7.1\"",
                "",
                6,
                "`firmware` is given both here and in [device.luna]",
            ),
            (
                "primus",
                "",
                "  management = true\n    [device.partition.primus]\n    management = false",
                9,
                "`management` is given both here and in [device.partition.primus]",
            ),
        ] {
            let text = lab(kind, device, partition);
            let e = Lab::parse(&text, "bad.toml").unwrap_err();
            assert!(
                e.message.contains(needle),
                "{kind} {device} {partition}: {e}"
            );
            assert_eq!(e.position.map(|p| p.0), Some(line), "{e}");
            assert!(
                e.to_string().starts_with(&format!("bad.toml:{line}:")),
                "{e}"
            );
        }
    }

    #[test]
    fn the_older_flat_form_means_what_the_sections_mean() {
        let flat = lab(
            "luna-network",
            "firmware = \"7.8.4\"\nauth = \"password\"\nhsm_policies = { 7 = 1 }\nmemory = 5000",
            "  label = \"l\"\n  so_pin = \"po-pin-0001\"\n  user_pin = \"co-pin-0001\"\n  limited_co_pin = \"lco-pin-0001\"\n  domain = \"one\"\n  other_domains = [\"two\"]\n  size = 4000\n  policies = { 0 = 1 }\n  admin = true",
        );
        let sections = lab(
            "luna-network",
            "  [device.luna]\n  firmware = \"7.8.4\"\n  auth = \"password\"\n  hsm_policies = { 7 = 1 }\n  memory = 5000",
            "  label = \"l\"\n  so_pin = \"po-pin-0001\"\n  user_pin = \"co-pin-0001\"\n    [device.partition.luna]\n    limited_co_pin = \"lco-pin-0001\"\n    domain = \"one\"\n    other_domains = [\"two\"]\n    size = 4000\n    policies = { 0 = 1 }\n    admin = true",
        );
        let primus_flat = lab(
            "primus-cloudhsm",
            "service = \"dedicated\"\nrole = \"clone\"\nclone = \"manual\"\nlogin_attempt_threshold = 5",
            "  user_pin = \"user-pin-0001\"\n  allow_export = false\n  management = true",
        );
        let primus_sections = lab(
            "primus-cloudhsm",
            "  [device.primus]\n  service = \"dedicated\"\n  role = \"clone\"\n  clone = \"manual\"\n  login_attempt_threshold = 5",
            "  user_pin = \"user-pin-0001\"\n    [device.partition.primus]\n    allow_export = false\n    management = true",
        );
        for (flat, sections) in [(flat, sections), (primus_flat, primus_sections)] {
            let (flat, sections) = (
                Lab::parse(&flat, "flat.toml").unwrap(),
                Lab::parse(&sections, "sections.toml").unwrap(),
            );
            assert_eq!(
                format!("{:?}", flat.models),
                format!("{:?}", sections.models)
            );
            assert_eq!(flat.partitions(), sections.partitions());
            let slots = |lab: &Lab| {
                let config = lab.config(None, PathBuf::from("/s")).unwrap();
                format!("{:?}", config.slots)
            };
            assert_eq!(slots(&flat), slots(&sections));
        }
    }

    #[test]
    fn the_built_in_labs_mean_the_same_in_the_older_flat_form() {
        for (name, text) in BUILT_IN {
            let lab = Lab::built_in(name).unwrap();
            if text.contains("[device.luna]") || text.contains("[device.primus]") {
                let flat: String = text
                    .lines()
                    .filter(|l| {
                        !l.trim_start().starts_with("[device.luna]")
                            && !l.trim_start().starts_with("[device.primus]")
                            && !l.trim_start().starts_with("[device.partition.")
                            // New with the sections: no flat form.
                            && !l.trim_start().starts_with("attached_to")
                            && !l.trim_start().starts_with("fm ")
                    })
                    .map(|l| format!("{l}\n"))
                    .collect();
                let older = Lab::parse(&flat, name).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(older.partitions(), lab.partitions(), "{name}");
                assert_eq!(
                    format!("{:?}", {
                        let mut m: Vec<_> = older.models.iter().collect();
                        m.sort_by_key(|(k, _)| *k);
                        m
                    }),
                    format!("{:?}", {
                        let mut m: Vec<_> = lab.models.iter().collect();
                        m.sort_by_key(|(k, _)| *k);
                        m
                    }),
                    "{name}"
                );
            }
        }
    }
}
