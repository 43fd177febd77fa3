//! The lab's Crypto Command Center (`[ccc]`, seed 004): the checks its organisations, service
//! templates and services must pass, each error at the file, line and column of what is wrong,
//! and the typed view of them (`Lab::ccc`). The template rules are those of the CCC 3.9 Service
//! Management guide that a lab states statically, applied to the devices a service's
//! partitions are on.
use super::schema::{
    CccAuthentication, CccBackupType, CccDef, CccPerformance, CccRole, CccServiceDef,
    CccServiceType, CccTemplateDef, LabFile, PartitionDef,
};
use super::{Lab, LabError};
use crate::base::ids::{HaGroupId, PartitionId};
use crate::models::{TokenModel, ccc, luna};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use toml::Spanned;

pub use crate::models::ccc::{PARTITION_SIZE, SERVICE_NAME_MAX};

/// The CCC a lab states: its licences, organisations, templates and services, in lab order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ccc {
    /// Partition licences (`None`: the lab sets no limit).
    pub partition_licences: Option<u64>,
    pub organisations: Vec<CccOrganisation>,
    pub templates: Vec<CccTemplate>,
    pub services: Vec<CccService>,
}

/// An organisation and its users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CccOrganisation {
    pub name: String,
    pub description: String,
    pub users: Vec<CccUser>,
}

/// A CCC user and its role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CccUser {
    pub name: String,
    pub role: CccRole,
}

/// A service template, its defaults applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CccTemplate {
    pub name: String,
    pub description: String,
    pub service_type: CccServiceType,
    pub authentication: luna::Auth,
    pub performance: Option<CccPerformance>,
    pub partition_size: u64,
    pub per_partition_so: bool,
    pub scalable_key_storage: bool,
    pub secure_trusted_channel: bool,
    /// The backup type (simulator-defined values; `CccBackupType`).
    #[serde(default)]
    pub backup_type: CccBackupType,
}

/// A service CCC manages when the lab starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CccService {
    pub name: String,
    pub description: String,
    /// Its template's name.
    pub template: String,
    /// The owning organisation's name.
    pub organisation: String,
    /// Its partitions; an HA service's first is its primary.
    pub partitions: Vec<PartitionId>,
    /// The HA group the partitions form, if the lab names it.
    pub ha_group: Option<HaGroupId>,
}

impl CccTemplateDef {
    fn per_partition_so(&self) -> bool {
        self.per_partition_so.as_ref().is_none_or(|v| *v.get_ref())
    }

    fn scalable_key_storage(&self) -> bool {
        self.scalable_key_storage
            .as_ref()
            .is_some_and(|v| *v.get_ref())
    }

    fn secure_trusted_channel(&self) -> bool {
        self.secure_trusted_channel
            .as_ref()
            .is_some_and(|v| *v.get_ref())
    }
}

impl From<CccAuthentication> for luna::Auth {
    fn from(auth: CccAuthentication) -> luna::Auth {
        match auth {
            CccAuthentication::Password => luna::Auth::Password,
            CccAuthentication::Ped => luna::Auth::Ped,
        }
    }
}

impl Lab {
    /// A Luna device's Functionality Module state (`[device.luna] fm`; default "no-fm",
    /// simulator-defined), as Migrate Service's rules need it.
    pub fn fm_state(&self, device: &str) -> ccc::FmState {
        self.file
            .devices
            .iter()
            .find(|d| d.name.get_ref() == device)
            .and_then(|d| d.luna())
            .and_then(|l| l.fm.as_ref())
            .and_then(|fm| ccc::FmState::parse(fm.get_ref()))
            .unwrap_or(ccc::FmState::NoFm)
    }

    /// The lab's CCC (`[ccc]`), if it states one.
    pub fn ccc(&self) -> Option<Ccc> {
        let ccc = self.file.ccc.as_ref()?;
        Some(Ccc {
            partition_licences: ccc.partition_licences.as_ref().map(|n| *n.get_ref()),
            organisations: ccc
                .organisations
                .iter()
                .map(|o| CccOrganisation {
                    name: o.name.get_ref().clone(),
                    description: o.description.clone(),
                    users: o
                        .users
                        .iter()
                        .map(|u| CccUser {
                            name: u.name.get_ref().clone(),
                            role: u.role,
                        })
                        .collect(),
                })
                .collect(),
            templates: ccc
                .templates
                .iter()
                .map(|t| CccTemplate {
                    name: t.name.get_ref().clone(),
                    description: t.description.clone(),
                    service_type: *t.service_type.get_ref(),
                    authentication: (*t.authentication.get_ref()).into(),
                    performance: t.performance.as_ref().map(|p| *p.get_ref()),
                    partition_size: *t.partition_size.get_ref(),
                    per_partition_so: t.per_partition_so(),
                    scalable_key_storage: t.scalable_key_storage(),
                    secure_trusted_channel: t.secure_trusted_channel(),
                    backup_type: t.backup_type.unwrap_or_default(),
                })
                .collect(),
            services: ccc
                .services
                .iter()
                .map(|s| CccService {
                    name: s.name.get_ref().clone(),
                    description: s.description.clone(),
                    template: s.template.get_ref().clone(),
                    organisation: s.organisation.get_ref().clone(),
                    // Validation saw that each names a partition of the lab.
                    partitions: s
                        .partitions
                        .get_ref()
                        .iter()
                        .filter_map(|p| PartitionId::parse(p.get_ref()))
                        .collect(),
                    ha_group: s.ha_group.as_ref().map(|g| HaGroupId::new(g.get_ref())),
                })
                .collect(),
        })
    }
}

/// Makes a `LabError` at a byte range of the text.
type ErrorAt<'a> = &'a dyn Fn(Option<Range<usize>>, String) -> LabError;

/// `[ccc]`: organisation, user, template and service names unique; templates' sizes within the
/// guide's limits; services (`check_service`) within the partition licences.
pub(super) fn check(
    file: &LabFile,
    partitions: &HashMap<String, (&PartitionDef, TokenModel)>,
    error: ErrorAt<'_>,
) -> Result<(), LabError> {
    let Some(ccc) = &file.ccc else {
        return Ok(());
    };
    let at = |s: &Spanned<String>, message: String| error(Some(s.span()), message);
    let twice = |what: &str, name: &Spanned<String>| {
        at(
            name,
            format!("CCC {what} \"{}\" is defined twice", name.get_ref()),
        )
    };
    let mut organisations = BTreeSet::new();
    let mut users = BTreeSet::new();
    for organisation in &ccc.organisations {
        if !organisations.insert(organisation.name.get_ref().as_str()) {
            return Err(twice("organisation", &organisation.name));
        }
        for user in &organisation.users {
            if !users.insert(user.name.get_ref().as_str()) {
                return Err(twice("user", &user.name));
            }
        }
    }
    let mut templates = BTreeSet::new();
    for template in &ccc.templates {
        if !templates.insert(template.name.get_ref().as_str()) {
            return Err(twice("template", &template.name));
        }
        let size = &template.partition_size;
        ccc::check_partition_size(template.name.get_ref(), *size.get_ref())
            .map_err(|message| error(Some(size.span()), message))?;
    }
    let mut services = BTreeSet::new();
    let mut in_service: HashMap<&str, &str> = HashMap::new();
    for service in &ccc.services {
        let name = service.name.get_ref();
        if !services.insert(name.as_str()) {
            return Err(twice("service", &service.name));
        }
        check_service(file, ccc, service, partitions, error)?;
        for partition in service.partitions.get_ref() {
            if let Some(other) = in_service.insert(partition.get_ref(), name) {
                return Err(at(
                    partition,
                    format!(
                        "partition \"{}\" is in services \"{other}\" and \"{name}\"; a partition serves one service",
                        partition.get_ref()
                    ),
                ));
            }
        }
    }
    if let Some(licences) = &ccc.partition_licences
        && in_service.len() as u64 > *licences.get_ref()
    {
        return Err(error(
            Some(licences.span()),
            format!(
                "the services use {} partitions, more than the {} partition licences",
                in_service.len(),
                licences.get_ref()
            ),
        ));
    }
    Ok(())
}

/// One service: its name 1 to 28 characters; its template and organisation defined; its
/// partitions Luna Network HSM partitions of the lab, one for an "hsm-partition" template, two
/// or more on different devices for an "hsm-partition-ha-group" one, forming its `ha_group` if
/// named; the template's authentication and capabilities possible on every device
/// (`check_capabilities`).
fn check_service(
    file: &LabFile,
    ccc: &CccDef,
    service: &CccServiceDef,
    partitions: &HashMap<String, (&PartitionDef, TokenModel)>,
    error: ErrorAt<'_>,
) -> Result<(), LabError> {
    let at = |s: &Spanned<String>, message: String| error(Some(s.span()), message);
    let name = service.name.get_ref();
    ccc::check_service_name(name).map_err(|message| at(&service.name, message))?;
    let Some(template) = ccc
        .templates
        .iter()
        .find(|t| t.name.get_ref() == service.template.get_ref())
    else {
        return Err(at(
            &service.template,
            format!(
                "no CCC template \"{}\"; templates: {}",
                service.template.get_ref(),
                names(ccc.templates.iter().map(|t| &t.name))
            ),
        ));
    };
    if !ccc
        .organisations
        .iter()
        .any(|o| o.name.get_ref() == service.organisation.get_ref())
    {
        return Err(at(
            &service.organisation,
            format!(
                "no CCC organisation \"{}\"; organisations: {}",
                service.organisation.get_ref(),
                names(ccc.organisations.iter().map(|o| &o.name))
            ),
        ));
    }
    let members = service.partitions.get_ref();
    let wanted = match template.service_type.get_ref() {
        CccServiceType::HsmPartition if members.len() != 1 => {
            Some("template \"{}\" is an \"hsm-partition\" one: its services have one partition")
        }
        CccServiceType::HsmPartitionHaGroup if members.len() < 2 => Some(
            "template \"{}\" is an \"hsm-partition-ha-group\" one: its services have two or more partitions, on different devices",
        ),
        _ => None,
    };
    if let Some(wanted) = wanted {
        return Err(error(
            Some(service.partitions.span()),
            format!(
                "service \"{name}\": {}",
                wanted.replace("{}", template.name.get_ref())
            ),
        ));
    }
    let devices = super::validation::members_on_different_devices(
        file,
        members,
        partitions,
        &|d| d.kind == luna::DeviceKind::Network,
        &|member| {
            format!(
                "CCC manages Luna Network HSMs (kind \"luna-network\") only; \"{member}\" is not on one"
            )
        },
        &|device| {
            format!(
                "service \"{name}\" has two partitions on device \"{device}\"; an HA service's partitions are on different devices"
            )
        },
        error,
    )?;
    for (member, device) in members.iter().zip(devices) {
        check_capabilities(template, device).map_err(|rule| {
            at(
                member,
                format!("service \"{name}\", \"{}\": {rule}", member.get_ref()),
            )
        })?;
    }
    if let Some(label) = &service.ha_group {
        let Some(group) = file
            .ha_groups
            .iter()
            .find(|g| g.label.get_ref() == label.get_ref())
        else {
            return Err(at(
                label,
                format!(
                    "no HA group \"{}\"; HA groups: {}",
                    label.get_ref(),
                    names(file.ha_groups.iter().map(|g| &g.label))
                ),
            ));
        };
        let same = group.members.get_ref().len() == members.len()
            && group
                .members
                .get_ref()
                .iter()
                .zip(members)
                .all(|(a, b)| a.get_ref() == b.get_ref());
        if !same || *template.service_type.get_ref() != CccServiceType::HsmPartitionHaGroup {
            return Err(at(
                label,
                format!(
                    "service \"{name}\": HA group \"{}\" has members {:?}; an HA service's `partitions` are its group's members, in order, and its template an \"hsm-partition-ha-group\" one",
                    label.get_ref(),
                    group
                        .members
                        .get_ref()
                        .iter()
                        .map(|m| m.get_ref().as_str())
                        .collect::<Vec<_>>()
                ),
            ));
        }
    }
    Ok(())
}

/// The template's authentication and capabilities on one device (`models::ccc::
/// check_capabilities`; the lab states no appliance software). `Err`: the rule the device
/// breaks.
fn check_capabilities(template: &CccTemplateDef, device: &luna::Device) -> Result<(), String> {
    let capabilities = ccc::Capabilities {
        authentication: (*template.authentication.get_ref()).into(),
        per_partition_so: template.per_partition_so(),
        scalable_key_storage: template.scalable_key_storage(),
        secure_trusted_channel: template.secure_trusted_channel(),
    };
    ccc::check_capabilities(template.name.get_ref(), &capabilities, device, None)
}

/// Names, in lab order, for errors that list them.
fn names<'a>(names: impl Iterator<Item = &'a Spanned<String>>) -> String {
    let names: Vec<&str> = names.map(|n| n.get_ref().as_str()).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Luna Network HSMs "n6" (6.21.2), "n6p" (6.24.2, PPSO), "n6q" (6.24.2, PPSO off), "n7a",
    /// "n7b" (7.4.2), "n77" (7.7.1), "ped" (7.4.2, PED), a Luna PCIe "pcie" and a soft "s",
    /// partitions "p" (and "q" on n7a/n7b); the HA group "g" over n7a/p and n7b/p; a CCC with
    /// organisation "acme" (users "boss", "owner"), templates "single-7" (hsm-partition) and
    /// "ha-7" (HA), both password, PPSO by default; then `more` (further templates, services).
    fn lab(more: &str) -> String {
        let mut text = String::from("[lab]\nname = \"ccc\"\n");
        for (device, kind, luna) in [
            ("n6", "luna-network", "firmware = \"6.21.2\"\n"),
            (
                "n6p",
                "luna-network",
                "firmware = \"6.24.2\"\nhsm_policies = { 41 = 1 }\n",
            ),
            (
                "n6q",
                "luna-network",
                "firmware = \"6.24.2\"\nhsm_policies = { 41 = 0 }\n",
            ),
            ("n7a", "luna-network", "firmware = \"7.4.2\"\n"),
            ("n7b", "luna-network", "firmware = \"7.4.2\"\n"),
            ("n77", "luna-network", "firmware = \"7.7.1\"\n"),
            ("ped", "luna-network", "auth = \"ped\"\n"),
            ("pcie", "luna-pcie", ""),
            ("s", "soft", ""),
        ] {
            text += &format!(
                "[[device]]\nname = \"{device}\"\nkind = \"{kind}\"\n{luna}  [[device.partition]]\n  name = \"p\"\n"
            );
            if device.starts_with("n7") && device != "n77" {
                text += "  [[device.partition]]\n  name = \"q\"\n";
            }
        }
        text += "[[host]]\nname = \"h\"\nslot = [{ id = 0, partition = \"n7a/p\" }]\n\
                 [[ha_group]]\nlabel = \"g\"\nmembers = [\"n7a/p\", \"n7b/p\"]\n\
                 [ccc]\n\
                 [[ccc.organisation]]\nname = \"acme\"\nuser = [{ name = \"boss\", role = \"administrator\" }, { name = \"owner\", role = \"application-owner\" }]\n\
                 [[ccc.template]]\nname = \"single-7\"\nservice_type = \"hsm-partition\"\nauthentication = \"password\"\npartition_size = 100000\n\
                 [[ccc.template]]\nname = \"ha-7\"\nservice_type = \"hsm-partition-ha-group\"\nauthentication = \"password\"\npartition_size = 100000\n";
        text + more
    }

    /// A service of `template` over `partitions` (the TOML array's inside), owned by "acme".
    fn service(name: &str, template: &str, partitions: &str) -> String {
        format!(
            "[[ccc.service]]\nname = \"{name}\"\ntemplate = \"{template}\"\norganisation = \"acme\"\npartitions = [{partitions}]\n"
        )
    }

    /// A template named `name` over the password defaults, with `fields` added.
    fn template(name: &str, service_type: &str, fields: &str) -> String {
        format!(
            "[[ccc.template]]\nname = \"{name}\"\nservice_type = \"{service_type}\"\nauthentication = \"password\"\npartition_size = 100000\n{fields}"
        )
    }

    /// Parses `text`, which must fail with `needle` on the last line holding `line`.
    fn refused(text: &str, needle: &str, line: &str) {
        let e = Lab::parse(text, "ccc.toml").unwrap_err();
        assert!(e.message.contains(needle), "{needle}: {e}");
        let lines: Vec<&str> = text.lines().collect();
        let expected = lines.iter().rposition(|l| l.contains(line)).unwrap() + 1;
        assert_eq!(e.position.map(|p| p.0), Some(expected), "{needle}: {e}");
        assert!(e.to_string().starts_with("ccc.toml:"), "{e}");
    }

    #[test]
    fn the_ccc_reads_into_typed_values() {
        let text = lab(&format!(
            "{}{}ha_group = \"g\"\ndescription = \"web\"\n",
            service("single", "single-7", "\"n7a/q\""),
            service("web", "ha-7", "\"n7a/p\", \"n7b/p\""),
        ))
        .replace("[ccc]\n", "[ccc]\npartition_licences = 3\n");
        let ccc = Lab::parse(&text, "ccc.toml").unwrap().ccc().unwrap();
        assert_eq!(ccc.partition_licences, Some(3));
        assert_eq!(
            ccc.organisations,
            [CccOrganisation {
                name: "acme".into(),
                description: String::new(),
                users: vec![
                    CccUser {
                        name: "boss".into(),
                        role: CccRole::Administrator
                    },
                    CccUser {
                        name: "owner".into(),
                        role: CccRole::ApplicationOwner
                    },
                ],
            }]
        );
        assert_eq!(
            ccc.templates[1],
            CccTemplate {
                name: "ha-7".into(),
                description: String::new(),
                service_type: CccServiceType::HsmPartitionHaGroup,
                authentication: luna::Auth::Password,
                performance: None,
                partition_size: 100000,
                per_partition_so: true,
                scalable_key_storage: false,
                secure_trusted_channel: false,
                backup_type: CccBackupType::None,
            }
        );
        assert_eq!(
            ccc.services[1],
            CccService {
                name: "web".into(),
                description: "web".into(),
                template: "ha-7".into(),
                organisation: "acme".into(),
                partitions: vec!["n7a/p".parse().unwrap(), "n7b/p".parse().unwrap()],
                ha_group: Some(HaGroupId::new("g")),
            }
        );
        assert_eq!(ccc.services[0].partitions, ["n7a/q".parse().unwrap()]);
        assert_eq!(ccc.services[0].ha_group, None);
        // The optional fields, given.
        let text = lab(&template(
            "fast",
            "hsm-partition",
            "performance = \"maximum\"\nper_partition_so = false\nsecure_trusted_channel = true\nscalable_key_storage = false\nbackup_type = \"backup-hsm\"\n",
        ));
        let ccc = Lab::parse(&text, "ccc.toml").unwrap().ccc().unwrap();
        let fast = &ccc.templates[2];
        assert_eq!(fast.performance, Some(CccPerformance::Maximum));
        assert!(!fast.per_partition_so && fast.secure_trusted_channel);
        assert_eq!(fast.backup_type, CccBackupType::BackupHsm);
        assert_eq!(ccc.partition_licences, None);
        // A lab without [ccc] has none.
        let text = lab("");
        let bare = &text[..text.find("[ccc]").unwrap()];
        assert_eq!(Lab::parse(bare, "bare.toml").unwrap().ccc(), None);
    }

    #[test]
    fn names_are_unique_per_kind() {
        for (more, needle, line) in [
            (
                "[[ccc.organisation]]\nname = \"acme\"\n".to_string(),
                "CCC organisation \"acme\" is defined twice",
                "name = \"acme\"",
            ),
            (
                "[[ccc.organisation]]\nname = \"other\"\nuser = [{ name = \"boss\", role = \"administrator\" }]\n".into(),
                "CCC user \"boss\" is defined twice",
                "name = \"boss\"",
            ),
            (
                template("ha-7", "hsm-partition", ""),
                "CCC template \"ha-7\" is defined twice",
                "name = \"ha-7\"",
            ),
            (
                service("x", "single-7", "\"n7a/p\"") + &service("x", "single-7", "\"n7b/p\""),
                "CCC service \"x\" is defined twice",
                "name = \"x\"",
            ),
        ] {
            refused(&lab(&more), needle, line);
        }
    }

    #[test]
    fn roles_and_template_values_are_the_known_ones() {
        let text = lab("").replace("\"application-owner\"", "\"auditor\"");
        refused(&text, "unknown variant `auditor`", "auditor");
        for (good, bad) in [
            (
                "service_type = \"hsm-partition\"",
                "service_type = \"hsm-cluster\"",
            ),
            (
                "authentication = \"password\"",
                "authentication = \"smartcard\"",
            ),
            (
                "authentication = \"password\"",
                "authentication = \"password\"\nperformance = \"turbo\"",
            ),
        ] {
            let text = lab(&template("t", "hsm-partition", "").replace(good, bad));
            let line = bad.lines().last().unwrap();
            refused(&text, "unknown variant", line);
        }
        refused(
            &lab(
                "[[ccc.template]]\nname = \"t\"\nservice_type = \"hsm-partition\"\nauthentication = \"password\"\npartition_size = 100\nbackup = \"x\"\n",
            ),
            "unknown field `backup`",
            "backup",
        );
    }

    #[test]
    fn a_template_partition_size_is_1000_to_99999999_bytes() {
        for size in [1000, 99_999_999] {
            let text =
                lab(&template("t", "hsm-partition", "").replace("100000", &size.to_string()));
            assert!(Lab::parse(&text, "ccc.toml").is_ok(), "{size}");
        }
        for size in [999, 100_000_000] {
            let text =
                lab(&template("t", "hsm-partition", "").replace("100000", &size.to_string()));
            refused(
                &text,
                "template \"t\": a partition size is 1000 to 99999999 bytes",
                &size.to_string(),
            );
        }
    }

    #[test]
    fn services_refer_to_what_the_lab_defines() {
        for (more, needle, line) in [
            (
                service("x", "nope", "\"n7a/q\""),
                "no CCC template \"nope\"; templates: single-7, ha-7",
                "template = \"nope\"",
            ),
            (
                service("x", "single-7", "\"n7a/q\"").replace("\"acme\"", "\"umbrella\""),
                "no CCC organisation \"umbrella\"; organisations: acme",
                "umbrella",
            ),
            (
                service("x", "single-7", "\"n7a/zz\""),
                "no partition \"n7a/zz\"; name one as \"device/partition\": n6/p",
                "partitions =",
            ),
            (
                service("x", "single-7", "\"pcie/p\""),
                "CCC manages Luna Network HSMs (kind \"luna-network\") only; \"pcie/p\" is not on one",
                "partitions =",
            ),
            (
                service("x", "single-7", "\"s/p\""),
                "Luna Network HSMs",
                "partitions =",
            ),
            (
                service("x", "single-7", "\"n7a/q\"") + "ha_group = \"nope\"\n",
                "no HA group \"nope\"; HA groups: g",
                "ha_group",
            ),
            (
                service("x", "ha-7", "\"n7b/p\", \"n7a/p\"") + "ha_group = \"g\"\n",
                "service \"x\": HA group \"g\" has members [\"n7a/p\", \"n7b/p\"]",
                "ha_group",
            ),
            (
                service("x", "single-7", "\"n7a/q\"") + &service("y", "single-7", "\"n7a/q\""),
                "partition \"n7a/q\" is in services \"x\" and \"y\"; a partition serves one service",
                "partitions =",
            ),
        ] {
            refused(&lab(&more), needle, line);
        }
    }

    #[test]
    fn a_service_name_has_at_most_28_characters() {
        let name = "a".repeat(28);
        assert!(Lab::parse(&lab(&service(&name, "single-7", "\"n7a/q\"")), "ccc.toml").is_ok());
        // Characters, not bytes.
        let name = "é".repeat(28);
        assert!(Lab::parse(&lab(&service(&name, "single-7", "\"n7a/q\"")), "ccc.toml").is_ok());
        let name = "a".repeat(29);
        refused(
            &lab(&service(&name, "single-7", "\"n7a/q\"")),
            "has 29 characters; a service name has 1 to 28",
            &name,
        );
        refused(
            &lab(&service("", "single-7", "\"n7a/q\"")),
            "has 0 characters",
            "name = \"\"",
        );
    }

    #[test]
    fn the_service_type_decides_the_number_of_partitions_and_ha_uses_different_devices() {
        assert!(
            Lab::parse(
                &lab(&service("x", "ha-7", "\"n7a/q\", \"n7b/q\", \"n77/p\"")),
                "ccc.toml"
            )
            .is_ok()
        );
        for (more, needle) in [
            (
                service("x", "single-7", "\"n7a/q\", \"n7b/q\""),
                "service \"x\": template \"single-7\" is an \"hsm-partition\" one: its services have one partition",
            ),
            (
                service("x", "ha-7", "\"n7a/q\""),
                "its services have two or more partitions, on different devices",
            ),
        ] {
            refused(&lab(&more), needle, "partitions =");
        }
        refused(
            &lab(&service("x", "ha-7", "\"n7a/p\", \"n7a/q\"")),
            "service \"x\" has two partitions on device \"n7a\"; an HA service's partitions are on different devices",
            "partitions =",
        );
    }

    #[test]
    fn templates_fit_the_devices_of_their_services() {
        let nonppso = template("nonppso", "hsm-partition", "per_partition_so = false\n");
        let sks = template("sks", "hsm-partition", "scalable_key_storage = true\n");
        let stc = template("stc", "hsm-partition", "secure_trusted_channel = true\n");
        let stc_nonppso = template(
            "stc-nonppso",
            "hsm-partition",
            "per_partition_so = false\nsecure_trusted_channel = true\n",
        );
        let ped = template("ped", "hsm-partition", "").replace("\"password\"", "\"ped\"");
        let templates = [nonppso, sks, stc, stc_nonppso, ped].concat();
        for (template, partition) in [
            ("nonppso", "n6/p"),
            ("nonppso", "n6q/p"),
            ("single-7", "n6p/p"),
            ("single-7", "n77/p"),
            ("sks", "n77/p"),
            ("stc", "n6p/p"),
            ("ped", "ped/p"),
        ] {
            let text =
                lab(&(templates.clone() + &service("x", template, &format!("\"{partition}\""))));
            assert!(
                Lab::parse(&text, "ccc.toml").is_ok(),
                "{template} on {partition}: {:?}",
                Lab::parse(&text, "ccc.toml").unwrap_err()
            );
        }
        for (template, partition, needle) in [
            (
                "single-7",
                "n6/p",
                "service \"x\", \"n6/p\": template \"single-7\" has Per-Partition SO, which needs firmware 6.22 or higher with the Per-Partition SO capability (HSM policy 41); device \"n6\" has 6.21.2 without it",
            ),
            ("single-7", "n6q/p", "device \"n6q\" has 6.24.2 without it"),
            (
                "nonppso",
                "n7a/q",
                "template \"nonppso\" has no Per-Partition SO, which is mandatory on 7.x devices; device \"n7a\" has 7.4.2",
            ),
            (
                "sks",
                "n7a/q",
                "template \"sks\" has Scalable Key Storage, which needs a Luna Network HSM 7 with firmware 7.7.0 or above; device \"n7a\" has 7.4.2",
            ),
            ("sks", "n6p/p", "Scalable Key Storage"),
            (
                "stc-nonppso",
                "n6/p",
                "template \"stc-nonppso\" has Secure Trusted Channel, which needs firmware 6.24.2 or higher and is not available on 7.7.0 and above; device \"n6\" has 6.21.2",
            ),
            ("stc", "n77/p", "device \"n77\" has 7.7.1"),
            (
                "ped",
                "n7a/q",
                "template \"ped\" is for PED authentication, device \"n7a\" uses password",
            ),
            (
                "single-7",
                "ped/p",
                "template \"single-7\" is for password authentication, device \"ped\" uses PED",
            ),
        ] {
            let text =
                lab(&(templates.clone() + &service("x", template, &format!("\"{partition}\""))));
            refused(&text, needle, "partitions =");
        }
        // An HA service: each member's device is checked.
        refused(
            &lab(&(templates
                + &template(
                    "ha-sks",
                    "hsm-partition-ha-group",
                    "scalable_key_storage = true\n",
                )
                + &service("x", "ha-sks", "\"n77/p\", \"n7b/q\""))),
            "device \"n7b\" has 7.4.2",
            "partitions =",
        );
    }

    #[test]
    fn the_services_fit_in_the_partition_licences() {
        let services =
            service("x", "ha-7", "\"n7a/q\", \"n7b/q\"") + &service("y", "single-7", "\"n77/p\"");
        let licensed = |n: u64| {
            lab(&services).replace("[ccc]\n", &format!("[ccc]\npartition_licences = {n}\n"))
        };
        assert!(Lab::parse(&licensed(3), "ccc.toml").is_ok());
        refused(
            &licensed(2),
            "the services use 3 partitions, more than the 2 partition licences",
            "partition_licences",
        );
    }
}
