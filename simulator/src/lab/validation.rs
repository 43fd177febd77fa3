//! The checks a lab must pass beyond its schema, each error with the file, line and column of
//! what is wrong and what is allowed: unique names, known kinds, PIN lengths, what an
//! initialised or blank partition gives, PED against password partitions, Luna policies and
//! domains, Primus partitions' PKCS#11 identity, hosts' slots, HA groups, Backup HSM
//! attachments, and (in `ccc.rs`) the CCC's organisations, templates and services. A device's vendor model is built (`vendor_models.rs`) on the way, since many
//! checks ask it.
use super::LabError;
use super::schema::{HaGroupDef, LabFile, PartitionDef};
use super::vendor_models::{device_model, policy_ids};
use crate::models::{TokenModel, luna};
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use toml::Spanned;

/// Checks a parsed lab; returns each device's token model, by device name. `error` makes a
/// `LabError` at a byte range of the text.
pub(super) fn validate(
    file: &LabFile,
    error: &dyn Fn(Option<Range<usize>>, String) -> LabError,
) -> Result<HashMap<String, TokenModel>, LabError> {
    let at = |s: &Spanned<String>, message: String| error(Some(s.span()), message);
    let mut partitions: HashMap<String, (&PartitionDef, TokenModel)> = HashMap::new();
    let mut device_names = BTreeSet::new();
    let mut models = HashMap::new();
    for device in &file.devices {
        if !device_names.insert(device.name.get_ref().as_str()) {
            return Err(at(
                &device.name,
                format!("device \"{}\" is defined twice", device.name.get_ref()),
            ));
        }
        if device.name.get_ref().is_empty() || device.name.get_ref().contains('/') {
            return Err(at(
                &device.name,
                format!(
                    "device name \"{}\" must be non-empty and without '/' (partitions are named \"device/partition\")",
                    device.name.get_ref()
                ),
            ));
        }
        let model = device_model(device).map_err(|(span, m)| error(span, m))?;
        if let Some(fm) = device.luna().and_then(|l| l.fm.as_ref())
            && crate::models::ccc::FmState::parse(fm.get_ref()).is_none()
        {
            return Err(at(
                fm,
                format!(
                    "fm \"{}\" is no Functionality Module state; states: {}",
                    fm.get_ref(),
                    crate::models::ccc::FmState::NAMES.join(", ")
                ),
            ));
        }
        if let Some(memory) = device.luna().and_then(|l| l.memory.as_ref()) {
            let sized: u64 = device
                .partitions
                .iter()
                .filter_map(|p| p.luna()?.size.as_ref().map(|s| *s.get_ref()))
                .sum();
            if sized > *memory.get_ref() {
                return Err(error(
                    Some(memory.span()),
                    format!(
                        "the partitions' sizes add up to {sized} bytes, more than the device's memory of {} bytes",
                        memory.get_ref()
                    ),
                ));
            }
        }
        for p in &device.partitions {
            if p.name.get_ref().is_empty() {
                return Err(at(&p.name, "a partition needs a name".into()));
            }
            let key = format!("{}/{}", device.name.get_ref(), p.name.get_ref());
            if partitions.insert(key.clone(), (p, model.clone())).is_some() {
                return Err(at(&p.name, format!("partition \"{key}\" is defined twice")));
            }
            if p.is_admin() && device.partitions.iter().filter(|q| q.is_admin()).count() > 1 {
                return Err(at(
                    &p.name,
                    "a device has at most one admin partition".into(),
                ));
            }
            check_partition(p, &model, error)?;
        }
        models.insert(device.name.get_ref().clone(), model);
    }
    if file.hosts.is_empty() {
        return Err(error(
            None,
            "a lab needs at least one [[host]] with its slots".into(),
        ));
    }
    let mut host_names = BTreeSet::new();
    for host in &file.hosts {
        if !host_names.insert(host.name.get_ref().as_str()) {
            return Err(at(
                &host.name,
                format!("host \"{}\" is defined twice", host.name.get_ref()),
            ));
        }
        let mut ids = BTreeSet::new();
        let mut shown = BTreeSet::new();
        for slot in &host.slots {
            if !shown.insert(slot.partition.get_ref().as_str()) {
                return Err(at(
                    &slot.partition,
                    format!(
                        "host \"{}\" shows partition \"{}\" twice",
                        host.name.get_ref(),
                        slot.partition.get_ref()
                    ),
                ));
            }
            if !ids.insert(*slot.id.get_ref()) {
                return Err(error(
                    Some(slot.id.span()),
                    format!(
                        "slot {} appears twice for host \"{}\"",
                        slot.id.get_ref(),
                        host.name.get_ref()
                    ),
                ));
            }
            if !partitions.contains_key(slot.partition.get_ref()) {
                return Err(at(
                    &slot.partition,
                    format!(
                        "no partition \"{}\"; name one as \"device/partition\": {}",
                        slot.partition.get_ref(),
                        known_partitions(file)
                    ),
                ));
            }
        }
    }
    for device in &file.devices {
        if let Some(host) = device.luna().and_then(|l| l.attached_to.as_ref()) {
            if device.kind.get_ref() != "luna-backup" {
                return Err(at(
                    host,
                    format!(
                        "`attached_to` applies to Backup HSMs (kind \"luna-backup\") only, not to kind \"{}\"",
                        device.kind.get_ref()
                    ),
                ));
            }
            let Some(attached) = file
                .hosts
                .iter()
                .find(|h| h.name.get_ref() == host.get_ref())
            else {
                return Err(at(
                    host,
                    format!(
                        "no host \"{}\"; hosts: {}",
                        host.get_ref(),
                        known_hosts(file)
                    ),
                ));
            };
            let prefix = format!("{}/", device.name.get_ref());
            if !attached
                .slots
                .iter()
                .any(|s| s.partition.get_ref().starts_with(&prefix))
            {
                return Err(at(
                    host,
                    format!(
                        "host \"{}\" shows no partition of Backup HSM \"{}\": give it a slot for one",
                        host.get_ref(),
                        device.name.get_ref()
                    ),
                ));
            }
        }
    }
    check_ha_groups(file, &partitions, error)?;
    super::ccc::check(file, &partitions, error)?;
    Ok(models)
}

/// Every partition ("device/partition"), in lab order, for errors that list them.
fn known_partitions(file: &LabFile) -> String {
    file.devices
        .iter()
        .flat_map(|d| {
            d.partitions
                .iter()
                .map(move |p| format!("{}/{}", d.name.get_ref(), p.name.get_ref()))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every host's name, in lab order, for errors that list them.
fn known_hosts(file: &LabFile) -> String {
    file.hosts
        .iter()
        .map(|h| h.name.get_ref().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `[[ha_group]]`: labels unique; at least two members, each a Luna partition (not a Backup
/// HSM's) named once, on different devices; Luna's HA prerequisites (`check_ha_prerequisites`);
/// the hosts that show the group and its serial (`check_ha_hosts`).
fn check_ha_groups(
    file: &LabFile,
    partitions: &HashMap<String, (&PartitionDef, TokenModel)>,
    error: &dyn Fn(Option<Range<usize>>, String) -> LabError,
) -> Result<(), LabError> {
    let at = |s: &Spanned<String>, message: String| error(Some(s.span()), message);
    let mut labels = BTreeSet::new();
    for group in &file.ha_groups {
        if !labels.insert(group.label.get_ref().as_str()) {
            return Err(at(
                &group.label,
                format!("HA group \"{}\" is defined twice", group.label.get_ref()),
            ));
        }
        let members = group.members.get_ref();
        if members.len() < 2 {
            return Err(error(
                Some(group.members.span()),
                format!(
                    "HA group \"{}\" needs at least two members (\"device/partition\", on different devices)",
                    group.label.get_ref()
                ),
            ));
        }
        let label = group.label.get_ref();
        members_on_different_devices(
            file,
            members,
            partitions,
            &|d| d.kind != luna::DeviceKind::Backup,
            &|member| {
                format!(
                    "HA group members are Luna partitions (not a Backup HSM's); \"{member}\" is not"
                )
            },
            &|device| {
                format!(
                    "HA group \"{label}\" has two members on device \"{device}\"; members are on different devices"
                )
            },
            error,
        )?;
        check_ha_prerequisites(file, group, partitions, error)?;
        check_ha_hosts(file, group, error)?;
    }
    Ok(())
}

/// Partitions that belong together on different devices (an HA group's members, a CCC
/// service's partitions): each names a partition of the lab on a Luna device that `allowed`
/// accepts (else `refused(member)`), no two on one device (else `two_on(device)`). Returns each
/// member's Luna device, in order.
pub(super) fn members_on_different_devices<'a>(
    file: &LabFile,
    members: &[Spanned<String>],
    partitions: &'a HashMap<String, (&PartitionDef, TokenModel)>,
    allowed: &dyn Fn(&luna::Device) -> bool,
    refused: &dyn Fn(&str) -> String,
    two_on: &dyn Fn(&str) -> String,
    error: &dyn Fn(Option<Range<usize>>, String) -> LabError,
) -> Result<Vec<&'a luna::Device>, LabError> {
    let at = |s: &Spanned<String>, message: String| error(Some(s.span()), message);
    let mut devices = BTreeSet::new();
    let mut found = Vec::new();
    for member in members {
        let Some((_, model)) = partitions.get(member.get_ref()) else {
            return Err(at(
                member,
                format!(
                    "no partition \"{}\"; name one as \"device/partition\": {}",
                    member.get_ref(),
                    known_partitions(file)
                ),
            ));
        };
        let Some(device) = model.luna().filter(|d| allowed(d)) else {
            return Err(at(member, refused(member.get_ref())));
        };
        let (device_name, _) = member.get_ref().split_once('/').unwrap_or_default();
        if !devices.insert(device_name) {
            return Err(at(member, two_on(device_name)));
        }
        found.push(device);
    }
    Ok(found)
}

/// Luna's HA prerequisites the lab states (the same Crypto Officer credential is not checked:
/// a member that refuses it refuses the HA login): the members authenticate alike (password or
/// PED), the cloning domains the lab gives them are the same, and HSM policies 7 ("Allow
/// cloning") and 16 ("Allow network replication") are on on every member's device (both are on
/// by default).
fn check_ha_prerequisites(
    file: &LabFile,
    group: &HaGroupDef,
    partitions: &HashMap<String, (&PartitionDef, TokenModel)>,
    error: &dyn Fn(Option<Range<usize>>, String) -> LabError,
) -> Result<(), LabError> {
    let at = |s: &Spanned<String>, message: String| error(Some(s.span()), message);
    let label = group.label.get_ref();
    let members = group.members.get_ref();
    let (first, first_model) = &partitions[members[0].get_ref()];
    let auth = |model: &TokenModel| if model.uses_ped() { "PED" } else { "password" };
    // The domain a member's lab entry gives: a password, or (PED) the red key's file.
    let domain = |p: &PartitionDef| {
        p.luna()
            .and_then(|l| l.domain.as_ref().or(l.domain_ped_key.as_ref()))
            .map(|d| d.get_ref().clone())
    };
    let mut first_domain: Option<(&Spanned<String>, String)> =
        domain(first).map(|d| (&members[0], d));
    for member in &members[1..] {
        let (p, model) = &partitions[member.get_ref()];
        if model.uses_ped() != first_model.uses_ped() {
            return Err(at(
                member,
                format!(
                    "HA group \"{label}\": \"{}\" authenticates with a {}, \"{}\" with a {}; HA members use the same authentication method",
                    member.get_ref(),
                    auth(model),
                    members[0].get_ref(),
                    auth(first_model)
                ),
            ));
        }
        match (&first_domain, domain(p)) {
            (Some((named, d)), Some(mine)) if *d != mine => {
                return Err(at(
                    member,
                    format!(
                        "HA group \"{label}\": \"{}\" has another cloning domain than \"{}\"; HA members share one cloning domain",
                        member.get_ref(),
                        named.get_ref()
                    ),
                ));
            }
            (None, Some(mine)) => first_domain = Some((member, mine)),
            _ => {}
        }
    }
    for member in members {
        let (device_name, _) = member.get_ref().split_once('/').unwrap_or_default();
        let Some(device) = file
            .devices
            .iter()
            .find(|d| d.name.get_ref() == device_name)
        else {
            continue;
        };
        let Some(luna_model) = partitions[member.get_ref()].1.luna() else {
            continue;
        };
        for (id, name) in [
            (luna::hsm_policy::CLONING, "Allow cloning"),
            (
                luna::hsm_policy::NETWORK_REPLICATION,
                "Allow network replication",
            ),
        ] {
            if luna_model.hsm_policy(id) == 0 {
                let span = device
                    .luna()
                    .and_then(|l| l.hsm_policies.as_ref())
                    .map(|m| m.span());
                return Err(error(
                    span,
                    format!(
                        "HA group \"{label}\": device \"{device_name}\" of member \"{}\" has HSM policy {id} (\"{name}\") off; HA members need HSM policies 7 and 16 on",
                        member.get_ref()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `[[ha_group]] hosts`: each names a host of the lab, once, that shows every member among its
/// slots (a Luna client reaches each member of its HA groups); `serial` is 1 to 16 characters.
fn check_ha_hosts(
    file: &LabFile,
    group: &HaGroupDef,
    error: &dyn Fn(Option<Range<usize>>, String) -> LabError,
) -> Result<(), LabError> {
    let at = |s: &Spanned<String>, message: String| error(Some(s.span()), message);
    let label = group.label.get_ref();
    if let Some(serial) = &group.serial
        && !(1..=16).contains(&serial.get_ref().len())
    {
        return Err(at(
            serial,
            format!("HA group \"{label}\": a serial number is 1 to 16 characters"),
        ));
    }
    let Some(hosts) = &group.hosts else {
        return Ok(());
    };
    let mut named = BTreeSet::new();
    for host in hosts.get_ref() {
        let Some(def) = file
            .hosts
            .iter()
            .find(|h| h.name.get_ref() == host.get_ref())
        else {
            return Err(at(
                host,
                format!(
                    "no host \"{}\"; hosts: {}",
                    host.get_ref(),
                    known_hosts(file)
                ),
            ));
        };
        if !named.insert(host.get_ref().as_str()) {
            return Err(at(
                host,
                format!(
                    "HA group \"{label}\" names host \"{}\" twice",
                    host.get_ref()
                ),
            ));
        }
        if let Some(missing) = group.members.get_ref().iter().find(|m| {
            !def.slots
                .iter()
                .any(|s| s.partition.get_ref() == m.get_ref())
        }) {
            return Err(at(
                host,
                format!(
                    "host \"{}\" shows no slot for member \"{}\" of HA group \"{label}\"; a Luna client with an HA group reaches every member: give the host a slot for it",
                    host.get_ref(),
                    missing.get_ref()
                ),
            ));
        }
    }
    Ok(())
}

/// One partition's fields against its device's model.
fn check_partition(
    p: &PartitionDef,
    model: &TokenModel,
    error: &dyn Fn(Option<Range<usize>>, String) -> LabError,
) -> Result<(), LabError> {
    let at = |s: &Spanned<String>, message: String| error(Some(s.span()), message);
    if let Some(label) = &p.label
        && label.get_ref().len() > 32
    {
        return Err(at(label, "a token label is at most 32 bytes".into()));
    }
    for (_, pin) in p.pins() {
        if let Err(e) = model.check_pin_len(pin.get_ref().as_bytes()) {
            return Err(at(pin, e.detail.into_owned()));
        }
    }
    for (pin, user) in [
        (p.crypto_user_pin(), luna::CKU_CRYPTO_USER),
        (p.limited_co_pin(), luna::CKU_LIMITED_CRYPTO_OFFICER),
    ] {
        if let Some(pin) = pin {
            if let Err(e) = model.check_role(user) {
                return Err(at(pin, e.detail.into_owned()));
            }
            if p.user_pin.is_none() {
                return Err(at(
                    pin,
                    "the Crypto Officer (`user_pin`) initialises this role: give `user_pin` too"
                        .into(),
                ));
            }
        }
    }
    if model.primus().is_some() {
        if let Some(so) = &p.so_pin {
            return Err(at(
                so,
                "Primus partitions have no PKCS#11 SO (their SOs use cards on the device or Decanus): leave `so_pin` out; `user_pin` initialises the partition".into(),
            ));
        }
        if let Some(label) = &p.label
            && label.get_ref() != p.name.get_ref()
        {
            return Err(at(
                label,
                format!(
                    "a Primus token's label is its partition name \"{}\"",
                    p.name.get_ref()
                ),
            ));
        }
        return Ok(());
    }
    let Some(l) = p.luna() else {
        return match (&p.label, &p.so_pin, &p.user_pin) {
            (Some(_), Some(_), _) | (None, None, None) => Ok(()),
            _ => Err(at(
                &p.name,
                "an initialised partition needs both `label` and `so_pin` (`user_pin` is optional); a blank one has none of the three".into(),
            )),
        };
    };
    let Some(device) = model.luna() else {
        return Ok(());
    };
    if let Some(others) = &l.other_domains {
        let mut state = luna::PartitionState {
            domain: l
                .domain
                .as_ref()
                .map(|d| luna::domain_verifier(d.get_ref().as_bytes())),
            ..luna::PartitionState::default()
        };
        if state.domain.is_none() {
            return Err(error(
                Some(others.span()),
                "`other_domains` needs the primary `domain` too".into(),
            ));
        }
        for d in others.get_ref() {
            state
                .add_domain(device, luna::domain_verifier(d.as_bytes()))
                .map_err(|e| error(Some(others.span()), e.detail.into_owned()))?;
        }
    }
    if p.label.is_none() {
        if let Some(others) = &l.other_domains {
            return Err(error(
                Some(others.span()),
                "a blank partition (no `label`) gets its domains when it is initialised; leave `other_domains` out".into(),
            ));
        }
        let set_at_init = [&l.domain, &l.crypto_user_pin, &l.limited_co_pin];
        if let Some(given) = set_at_init.into_iter().flatten().next() {
            return Err(at(
                given,
                "a blank partition (no `label`) gets its domain and roles when it is initialised; give `label` and `so_pin` or leave this out".into(),
            ));
        }
        if let Some(map) = &l.policies {
            return Err(error(
                Some(map.span()),
                "a blank partition (no `label`) gets its policies when it is initialised; give `label` and `so_pin` or leave `policies` out".into(),
            ));
        }
    }
    if let Some(map) = &l.policies {
        let changes = policy_ids(map).map_err(|m| error(Some(map.span()), m))?;
        luna::PartitionState::default()
            .apply(device, &changes, true)
            .map_err(|e| error(Some(map.span()), e.detail.into_owned()))?;
    }
    if model.uses_ped() {
        let passwords = [
            &p.so_pin,
            &p.user_pin,
            &l.crypto_user_pin,
            &l.limited_co_pin,
            &l.domain,
        ];
        if let Some(given) = passwords.into_iter().flatten().next() {
            return Err(at(
                given,
                "PED partitions authenticate with PED keys: use so_ped_key, user_ped_key, crypto_user_ped_key and domain_ped_key".into(),
            ));
        }
        match (&p.label, &l.so_ped_key) {
            (Some(_), Some(_)) => {}
            (None, None) if l.ped_keys().iter().all(|k| k.is_none()) => {}
            _ => {
                return Err(at(
                    &p.name,
                    "an initialised PED partition needs both `label` and `so_ped_key`; a blank one has neither".into(),
                ));
            }
        }
        if let Some(cu) = &l.crypto_user_ped_key
            && let Err(e) = model.check_role(luna::CKU_CRYPTO_USER)
        {
            return Err(at(cu, e.detail.into_owned()));
        }
        return Ok(());
    }
    if let Some(given) = l.ped_keys().into_iter().flatten().next() {
        return Err(at(
            given,
            "PED keys apply to Luna devices with auth = \"ped\" only".into(),
        ));
    }
    match (&p.label, &p.so_pin, &p.user_pin) {
        (Some(_), Some(_), _) | (None, None, None) => Ok(()),
        _ => Err(at(
            &p.name,
            "an initialised partition needs both `label` and `so_pin` (`user_pin` is optional); a blank one has none of the three".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::lab::Lab;

    #[test]
    fn errors_name_the_line_and_what_is_allowed() {
        let text = "[lab]\nname = \"x\"\n\n[[device]]\nname = \"d\"\nkind = \"hal9000\"\n";
        let e = Lab::parse(text, "lab.toml").unwrap_err();
        assert_eq!(e.position, Some((6, 8)));
        assert!(e.message.contains("allowed: soft"), "{e}");
        assert!(e.to_string().starts_with("lab.toml:6:8: "));

        let text = "[lab]\nname = \"x\"\n[[device]]\nname = \"d\"\nkind = \"soft\"\n[[host]]\nname = \"h\"\nslot = [{ id = 0, partition = \"d/missing\" }]\n";
        let e = Lab::parse(text, "lab.toml").unwrap_err();
        assert_eq!(e.position.map(|p| p.0), Some(8));
        assert!(e.message.contains("no partition \"d/missing\""), "{e}");

        let e = Lab::parse("[lab]\nname = \"x\"\ncolour = 1\n", "lab.toml").unwrap_err();
        assert_eq!(e.position.map(|p| p.0), Some(3));
        assert!(e.message.contains("colour"), "{e}");

        let text = "[lab]\nname = \"x\"\n[[device]]\nname = \"d\"\nkind = \"soft\"\n[[device.partition]]\nname = \"p\"\nlabel = \"l\"\n[[host]]\nname = \"h\"\n";
        let e = Lab::parse(text, "lab.toml").unwrap_err();
        assert!(e.message.contains("both `label` and `so_pin`"), "{e}");
    }

    #[test]
    fn several_cloning_domains_need_firmware_7_8() {
        let lab = |firmware: &str| {
            format!(
                "[lab]\nname = \"m\"\n[[device]]\nname = \"d\"\nkind = \"luna-network\"\nfirmware = \"{firmware}\"\n  [[device.partition]]\n  name = \"a\"\n  label = \"a\"\n  so_pin = \"po-pin-0001\"\n  domain = \"one\"\n  other_domains = [\"two\"]\n[[host]]\nname = \"h\"\nslot = [{{ id = 0, partition = \"d/a\" }}]\n"
            )
        };
        assert!(Lab::parse(&lab("7.8.4"), "ok.toml").is_ok());
        let e = Lab::parse(&lab("7.7.1"), "old.toml").unwrap_err();
        assert!(e.message.contains("7.8 or later"), "{e}");
        assert_eq!(
            e.position.map(|p| p.0),
            Some(12),
            "the `other_domains` line"
        );
        let e =
            Lab::parse(&lab("7.8.4").replace("  domain = \"one\"\n", ""), "x.toml").unwrap_err();
        assert!(e.message.contains("primary `domain`"), "{e}");
    }

    #[test]
    fn a_functionality_module_state_is_one_of_four() {
        let lab = |fm: &str| {
            Lab::parse(
                &format!(
                    "[lab]\nname = \"m\"\n[[device]]\nname = \"d\"\nkind = \"luna-network\"\n  [device.luna]\n  fm = \"{fm}\"\n  [[device.partition]]\n  name = \"a\"\n[[host]]\nname = \"h\"\nslot = [{{ id = 0, partition = \"d/a\" }}]\n"
                ),
                "m",
            )
        };
        for fm in crate::models::ccc::FmState::NAMES {
            assert!(lab(fm).is_ok(), "{fm}");
        }
        let e = lab("fm-on").unwrap_err();
        assert!(
            e.to_string().contains(
                "fm \"fm-on\" is no Functionality Module state; states: fm-ready, no-fm, fm-disabled, fm-enabled"
            ),
            "{e}"
        );
        assert_eq!(e.position.map(|p| p.0), Some(7), "the `fm` line");
    }

    #[test]
    fn partitions_must_fit_in_the_device_memory() {
        let lab = |memory: u64| {
            format!(
                "[lab]\nname = \"m\"\n[[device]]\nname = \"d\"\nkind = \"luna-network\"\nmemory = {memory}\n  [[device.partition]]\n  name = \"a\"\n  size = 600\n  [[device.partition]]\n  name = \"b\"\n  size = 500\n[[host]]\nname = \"h\"\nslot = [{{ id = 0, partition = \"d/a\" }}]\n"
            )
        };
        assert!(Lab::parse(&lab(1100), "ok.toml").is_ok());
        let e = Lab::parse(&lab(1000), "full.toml").unwrap_err();
        assert!(e.message.contains("1100"), "{e}");
        assert_eq!(e.position.map(|p| p.0), Some(6), "the `memory` line");
        let soft = lab(2000)
            .replace("luna-network", "soft")
            .replace("  size = 600\n", "")
            .replace("  size = 500\n", "");
        assert!(
            Lab::parse(&soft, "soft.toml")
                .unwrap_err()
                .message
                .contains("Luna devices only")
        );
    }

    /// Two Luna devices, a soft one and a Backup HSM, two partitions each, a host showing the
    /// first partition of each; `more` is appended.
    fn estate(more: &str) -> String {
        let mut text = String::from("[lab]\nname = \"ha\"\n");
        for (device, kind) in [
            ("a", "luna-network"),
            ("b", "luna-network"),
            ("s", "soft"),
            ("bk", "luna-backup"),
        ] {
            text += &format!(
                "[[device]]\nname = \"{device}\"\nkind = \"{kind}\"\n  [[device.partition]]\n  name = \"p1\"\n  [[device.partition]]\n  name = \"p2\"\n"
            );
        }
        text += "[[host]]\nname = \"h\"\nslot = [{ id = 0, partition = \"a/p1\" }, { id = 1, partition = \"b/p1\" }, { id = 2, partition = \"bk/p1\" }]\n[[host]]\nname = \"other\"\n";
        text + more
    }

    #[test]
    fn ha_groups_are_luna_partitions_on_different_devices() {
        let lab = Lab::parse(
            &estate("[[ha_group]]\nlabel = \"web-ha\"\nmembers = [\"a/p1\", \"b/p2\"]\n"),
            "ha.toml",
        )
        .unwrap();
        let groups = lab.ha_groups();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].label.as_str(), "web-ha");
        let names: Vec<String> = groups[0].members.iter().map(|m| m.to_string()).collect();
        assert_eq!(names, ["a/p1", "b/p2"]);
        let lines = estate("").lines().count();
        for (members, needle) in [
            ("[\"a/p1\"]", "at least two members"),
            ("[\"a/p1\", \"a/p2\"]", "two members on device \"a\""),
            ("[\"a/p1\", \"c/p1\"]", "no partition \"c/p1\""),
            ("[\"a/p1\", \"s/p1\"]", "are Luna partitions"),
            ("[\"a/p1\", \"bk/p1\"]", "not a Backup HSM's"),
        ] {
            let text = estate(&format!(
                "[[ha_group]]\nlabel = \"g\"\nmembers = {members}\n"
            ));
            let e = Lab::parse(&text, "ha.toml").unwrap_err();
            assert!(e.message.contains(needle), "{members}: {e}");
            assert_eq!(e.position.map(|p| p.0), Some(lines + 3), "{e}");
        }
        let twice = estate(
            "[[ha_group]]\nlabel = \"g\"\nmembers = [\"a/p1\", \"b/p1\"]\n[[ha_group]]\nlabel = \"g\"\nmembers = [\"a/p2\", \"b/p2\"]\n",
        );
        let e = Lab::parse(&twice, "ha.toml").unwrap_err();
        assert!(e.message.contains("defined twice"), "{e}");
        assert_eq!(e.position.map(|p| p.0), Some(lines + 5), "{e}");
        let e = Lab::parse(&estate("[[ha_group]]\nlabel = \"g\"\n"), "ha.toml").unwrap_err();
        assert!(e.message.contains("members"), "{e}");
        // The CCC fixture's unmanaged HA group.
        let ccc = Lab::built_in("luna-ccc").unwrap();
        assert_eq!(
            ccc.ha_groups(),
            [crate::lab::HaGroup {
                label: crate::base::ids::HaGroupId::new("web-ha"),
                members: vec!["sa7-a/web1".parse().unwrap(), "sa7-b/web2".parse().unwrap()],
            }]
        );
    }

    /// Two password Luna devices "a" and "b" and a PED one "p", one partition each (`a`,
    /// `b` given `extra` lines), a host "h" showing all three and a host "bare" showing only
    /// "a/p1"; then `group` (the `[[ha_group]]` lines).
    fn ha_estate(a: &str, b: &str, group: &str) -> String {
        format!(
            "[lab]\nname = \"ha\"\n\
             [[device]]\nname = \"a\"\nkind = \"luna-network\"\n{a}  [[device.partition]]\n  name = \"p1\"\n  label = \"a\"\n  so_pin = \"po-pin-0001\"\n  domain = \"one\"\n\
             [[device]]\nname = \"b\"\nkind = \"luna-network\"\n{b}  [[device.partition]]\n  name = \"p1\"\n  label = \"b\"\n  so_pin = \"po-pin-0001\"\n  domain = \"one\"\n\
             [[device]]\nname = \"p\"\nkind = \"luna-network\"\nauth = \"ped\"\n  [[device.partition]]\n  name = \"p1\"\n\
             [[host]]\nname = \"h\"\nslot = [{{ id = 0, partition = \"a/p1\" }}, {{ id = 1, partition = \"b/p1\" }}, {{ id = 2, partition = \"p/p1\" }}]\n\
             [[host]]\nname = \"bare\"\nslot = [{{ id = 0, partition = \"a/p1\" }}]\n\
             [[ha_group]]\nlabel = \"g\"\n{group}"
        )
    }

    #[test]
    fn ha_groups_need_luna_prerequisites_and_hosts_that_reach_every_member() {
        let good = ha_estate(
            "",
            "",
            "members = [\"a/p1\", \"b/p1\"]\nhosts = [\"h\"]\nserial = \"1234\"\n",
        );
        let lab = Lab::parse(&good, "ha.toml").unwrap();
        let h = lab.config(Some("h"), "/tmp/x".into()).unwrap();
        assert_eq!(h.slots.len(), 4, "three physical slots and the HA slot");
        let ha = &h.slots[3];
        assert_eq!(ha.id, 3, "the largest physical slot id + 1");
        assert_eq!(ha.description, "HA Virtual Card Slot");
        assert_eq!(
            ha.partition().to_string(),
            "a/p1",
            "served by the first member"
        );
        assert_eq!(
            ha.backing,
            crate::lab::definition::SlotBacking::HaGroup {
                group: crate::base::ids::HaGroupId::new("g"),
                members: vec!["a/p1".parse().unwrap(), "b/p1".parse().unwrap()],
                serial: Some("1234".into()),
            }
        );
        assert_eq!(
            lab.config(Some("bare"), "/tmp/x".into())
                .unwrap()
                .slots
                .len(),
            1
        );
        let line_of =
            |text: &str, needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
        for (a, b, group, needle, line) in [
            (
                "",
                "",
                "members = [\"a/p1\", \"b/p1\"]\nhosts = [\"nowhere\"]\n",
                "no host \"nowhere\"; hosts: h, bare",
                "hosts =",
            ),
            (
                "",
                "",
                "members = [\"a/p1\", \"b/p1\"]\nhosts = [\"h\", \"h\"]\n",
                "names host \"h\" twice",
                "hosts =",
            ),
            (
                "",
                "",
                "members = [\"a/p1\", \"b/p1\"]\nhosts = [\"bare\"]\n",
                "host \"bare\" shows no slot for member \"b/p1\"",
                "hosts =",
            ),
            (
                "",
                "",
                "members = [\"a/p1\", \"p/p1\"]\n",
                "\"p/p1\" authenticates with a PED, \"a/p1\" with a password",
                "members =",
            ),
            (
                "",
                "",
                "members = [\"a/p1\", \"b/p1\"]\nserial = \"12345678901234567\"\n",
                "1 to 16 characters",
                "serial =",
            ),
            (
                "",
                "hsm_policies = { 7 = 0 }\n",
                "members = [\"a/p1\", \"b/p1\"]\n",
                "device \"b\" of member \"b/p1\" has HSM policy 7 (\"Allow cloning\") off",
                "hsm_policies",
            ),
            (
                "hsm_policies = { 16 = 0 }\n",
                "",
                "members = [\"a/p1\", \"b/p1\"]\n",
                "HSM policy 16 (\"Allow network replication\") off",
                "hsm_policies",
            ),
        ] {
            let text = ha_estate(a, b, group);
            let e = Lab::parse(&text, "ha.toml").unwrap_err();
            assert!(e.message.contains(needle), "{group}: {e}");
            assert_eq!(e.position.map(|p| p.0), Some(line_of(&text, line)), "{e}");
        }
        // Another cloning domain on the second member.
        let text = ha_estate("", "", "members = [\"a/p1\", \"b/p1\"]\n");
        let text = text.replacen(
            "  label = \"b\"\n  so_pin = \"po-pin-0001\"\n  domain = \"one\"",
            "  label = \"b\"\n  so_pin = \"po-pin-0001\"\n  domain = \"two\"",
            1,
        );
        let e = Lab::parse(&text, "ha.toml").unwrap_err();
        assert!(
            e.message
                .contains("\"b/p1\" has another cloning domain than \"a/p1\""),
            "{e}"
        );
        assert_eq!(e.position.map(|p| p.0), Some(line_of(&text, "members =")));
    }

    #[test]
    fn a_backup_hsm_is_attached_to_one_host_that_shows_it() {
        let attached = |device: &str, host: &str| {
            estate("").replace(
                &format!("name = \"{device}\"\nkind = \"{}\"\n", kind(device)),
                &format!(
                    "name = \"{device}\"\nkind = \"{}\"\n  [device.luna]\n  attached_to = \"{host}\"\n",
                    kind(device)
                ),
            )
        };
        fn kind(device: &str) -> &'static str {
            match device {
                "bk" => "luna-backup",
                _ => "luna-network",
            }
        }
        let lab = Lab::parse(&attached("bk", "h"), "bk.toml").unwrap();
        assert_eq!(lab.backup_hsm_host("bk"), Some("h"));
        assert_eq!(lab.backup_hsm_host("a"), None);
        for (device, host, needle) in [
            ("bk", "nowhere", "no host \"nowhere\"; hosts: h, other"),
            ("bk", "other", "shows no partition of Backup HSM \"bk\""),
            ("a", "h", "Backup HSMs (kind \"luna-backup\") only"),
        ] {
            let text = attached(device, host);
            let line = text
                .lines()
                .position(|l| l.contains("attached_to"))
                .unwrap()
                + 1;
            let e = Lab::parse(&text, "bk.toml").unwrap_err();
            assert!(e.message.contains(needle), "{device} {host}: {e}");
            assert_eq!(e.position.map(|p| p.0), Some(line), "{e}");
        }
        // The fixtures whose procedures move the Backup HSM start with it on old-host.
        for name in ["luna-usb-to-network7", "luna-pcie-to-network7"] {
            let lab = Lab::built_in(name).unwrap();
            assert_eq!(lab.backup_hsm_host("backup"), Some("old-host"), "{name}");
        }
    }
}
