//! The console's HTML (maud: every value escaped by the macro): CCC's pages as plain forms,
//! no JavaScript (the migration progress page refreshes itself with a meta refresh).
//!
//! Stable element ids and names for browser tests (simulator-defined):
//! - every page: `#nav` with links `#nav-services`, `#nav-import`, `#nav-templates`,
//!   `#nav-create-service`, `#nav-migrate`, `#nav-migrations`, `#nav-devices`; `#user` (who is
//!   logged in); `#logout` (button); `#error` (CCC's refusal, `role="alert"`); `#notice` (what
//!   a change did); `h1` the page's title.
//! - Login (`/login`): form `#login-form`, inputs `#login-user` (name `user`),
//!   `#login-password` (name `password`), button `#login-submit`.
//! - Services (`/services`): table `#services`, one `tr.service` per service with
//!   `data-service="NAME"`, cells `.service-name` (a link to its page), `.service-organisation`,
//!   `.service-template`, `.service-partitions`, `.service-ha` ("HA" / "standalone"),
//!   `.service-initialised` ("initialised" / "not initialised").
//! - A service (`/services/NAME?tab=general|capabilities|partitions|keys|clients`): tabs
//!   `#tab-general`, `#tab-capabilities`, `#tab-partitions`, `#tab-keys`, `#tab-clients`
//!   (links); General: `#service-status`, form `#edit-service-form` (`name`, `description`,
//!   `organisation`, `#edit-service-submit`), form `#initialise-form` (`partition_label`,
//!   `cloning_domain`, `partition_so_password`, `crypto_officer_password`,
//!   `crypto_user_password`, `#initialise-submit`), form `#activate-form`
//!   (`crypto_officer_password`, `#activate-submit`), `#detach-submit`, `#delete-submit`,
//!   form `#synchronise-form` (`crypto_officer_password`, `#synchronise-submit`); Capabilities: `#capabilities` (table), form `#resize-form` (`size`,
//!   `#resize-submit`); Partitions: table `#partitions` (`tr.partition[data-partition]`, each
//!   with a `.remove-partition` button), form `#add-partition-form` (select `partition`,
//!   `#add-partition-submit`), form `#initialise-partitions-form` (`cloning_domain`,
//!   `crypto_officer_password`, `crypto_user_password`, `#initialise-partitions-submit`); Keys:
//!   table `#keys` (`tr.key`); Clients: table `#clients` (`tr.client[data-host]`), form
//!   `#register-client-form` (`host`, optional `crypto_officer_password` with the hint
//!   `#register-client-hint`, `#register-client-submit`).
//! - Create Service (`/create-service`): form `#create-service-form`, fieldsets
//!   `#step-general` (`name`, `description`), `#step-template` (radio `template`, ids
//!   `template-NAME`), `#step-devices` (checkboxes `partitions`, ids `partition-DEVICE-PARTITION`),
//!   `#step-organisation` (select `organisation`), button `#create-service-submit`.
//! - Import Partitions (`/import`): `#get-started` (button), table `#import-table`
//!   (`tr.import-row[data-partition]`, each with a form `.import-row-form` of `ha_group`,
//!   `service_name`, `description`, `organisation` and buttons `.save-row`, `.delete-row`),
//!   `#finish-imports`, `#cancel-import`.
//! - Service Templates (`/templates`): table `#templates` (`tr.template[data-template]`, with
//!   `.copy-template` forms (`name`) and `.delete-template` buttons), form `#add-template-form`
//!   (`name`, `description`, `service_type`, `authentication`, `performance`,
//!   `partition_size`, checkboxes `per_partition_so`, `scalable_key_storage`,
//!   `secure_trusted_channel`; `#add-template-submit`); a template (`/templates/NAME`): form
//!   `#edit-template-form` (the same fields, `#edit-template-submit`).
//! - Migrate Service (`/migrate`): form `#migrate-form`, fieldsets `#step-select-service`
//!   (select `source_service`), `#step-new-service` (select `hsm_model`, options by id
//!   `network-hsm-6`, `network-hsm-7`, `network-hsm-7-770`; `name`, `description`,
//!   `organisation`, `partition_size`), `#step-select-devices` (checkboxes `targets`, ids
//!   `target-DEVICE-PARTITION`), `#step-define-partition` (`partition_label`,
//!   `cloning_domain`), `#step-initialize-roles` (`security_officer_challenge`,
//!   `crypto_officer_challenge`), `#step-summary` (`#migrate-check` button, `#summary`),
//!   `#migrate-start` button. Progress (`/migrations/ID`): `#migration-state`
//!   (running / succeeded / failed), `#migration-progress` (`li` per message),
//!   `#migration-error`. Migrations (`/migrations`): table `#migrations`.
//! - Devices (`/devices`): table `#devices` (`tr.device[data-device]`, `.device-authorised`,
//!   forms `.authorise-form` (`password`, not required: empty for a PED device, whose HSM SO
//!   presents the blue PED key; hint `.ped-hint`), `.offline-form`, `.remove-device`), form
//!   `#add-device-form` (`device`, `#add-device-submit`).
use crate::api::{LabPartition, ServiceView};
use hsmsim::estate::ccc::{
    CccDevice, CccImportTable, CccKey, CccMigration, CccUserRecord, MigrationState,
};
use hsmsim::lab::ccc::{CccOrganisation, CccTemplate};
use hsmsim::lab::schema::{CccBackupType, CccPerformance, CccRole, CccServiceType};
use hsmsim::models::ccc::HsmModel;
use hsmsim::models::luna;
use maud::{DOCTYPE, Markup, html};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use std::collections::HashMap;

/// The messages a page shows: CCC's refusal and what a change did.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct Flash {
    pub error: Option<String>,
    pub notice: Option<String>,
    pub tab: Option<String>,
}

/// Values a form is filled with again after a refusal.
pub type Filled = HashMap<String, Vec<String>>;

fn value<'a>(filled: &'a Filled, name: &str) -> &'a str {
    filled
        .get(name)
        .and_then(|v| v.first())
        .map(String::as_str)
        .unwrap_or("")
}

fn chosen(filled: &Filled, name: &str, option: &str) -> bool {
    filled
        .get(name)
        .is_some_and(|v| v.iter().any(|x| x == option))
}

/// What a name must not carry raw in a URL path segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// `prefix/name[/action]` with the name percent-encoded as one path segment.
pub fn link(prefix: &str, name: &str, action: Option<&str>) -> String {
    let name = utf8_percent_encode(name, SEGMENT);
    match action {
        Some(action) => format!("{prefix}/{name}/{action}"),
        None => format!("{prefix}/{name}"),
    }
}

/// An id made of a name (letters, digits, '-', '_' kept; others '-').
pub fn id_of(prefix: &str, name: &str) -> String {
    let tail: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{prefix}-{tail}")
}

pub fn role_name(role: CccRole) -> &'static str {
    match role {
        CccRole::Administrator => "Administrator",
        CccRole::ApplicationOwner => "Application Owner",
    }
}

fn service_type_name(t: CccServiceType) -> &'static str {
    match t {
        CccServiceType::HsmPartition => "HSM Partition",
        CccServiceType::HsmPartitionHaGroup => "HSM Partition HA Group",
    }
}

/// A page in CCC's frame.
pub fn layout(title: &str, user: Option<&CccUserRecord>, flash: &Flash, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " - Crypto Command Center" }
                style { (STYLE) }
            }
            body {
                header {
                    strong { "Crypto Command Center" }
                    @if let Some(user) = user {
                        nav #nav {
                            " Crypto Services: "
                            a #nav-services href="/services" { "Services" } " | "
                            a #nav-import href="/import" { "Import Partitions" } " | "
                            a #nav-templates href="/templates" { "Service Templates" } " | "
                            a #nav-create-service href="/create-service" { "Create Service" } " | "
                            a #nav-migrate href="/migrate" { "Migrate Service" } " | "
                            a #nav-migrations href="/migrations" { "Migrations" } " | "
                            a #nav-devices href="/devices" { "Devices" }
                        }
                        span #user { (user.name) " (" (role_name(user.role)) ", " (user.organisation) ")" }
                        form method="post" action="/logout" style="display:inline" {
                            button #logout type="submit" { "Log out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    @if let Some(error) = &flash.error {
                        p #error role="alert" { (error) }
                    }
                    @if let Some(notice) = &flash.notice {
                        p #notice { (notice) }
                    }
                    (body)
                }
            }
        }
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:1em}#error{color:#a00;border:1px solid #a00;padding:.5em}#notice{color:#060}table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2em .5em}fieldset{margin:.5em 0}";

pub fn login_page(flash: &Flash) -> Markup {
    layout(
        "Log in",
        None,
        flash,
        html! {
            form #login-form method="post" action="/login" {
                label { "User " input #login-user name="user" required; }
                label { " Password " input #login-password name="password" type="password" required; }
                " " button #login-submit type="submit" { "Log in" }
            }
        },
    )
}

pub fn services_page(user: &CccUserRecord, flash: &Flash, services: &[ServiceView]) -> Markup {
    layout(
        "Services",
        Some(user),
        flash,
        html! {
            table #services {
                tr { th { "Service" } th { "Organization" } th { "Template" } th { "Partitions" } th { "Type" } th { "Status" } }
                @for view in services {
                    @let s = &view.service;
                    tr.service data-service=(s.name) {
                        td.service-name { a href=(link("/services", &s.name, None)) { (s.name) } }
                        td.service-organisation { (s.organisation) }
                        td.service-template { (s.template) }
                        td.service-partitions { @for p in &s.partitions { (p.to_string()) " " } }
                        td.service-ha { @if s.partitions.len() > 1 { "HA" } @else { "standalone" } }
                        td.service-initialised { @if view.status.initialised { "initialised" } @else { "not initialised" } }
                    }
                }
            }
            @if services.is_empty() { p #no-services { "No services." } }
        },
    )
}

/// What a service's page shows besides the service.
pub struct ServicePage<'a> {
    pub view: &'a ServiceView,
    pub tab: &'a str,
    pub template: Option<&'a CccTemplate>,
    pub keys: Result<Vec<CccKey>, String>,
    pub partitions: &'a [LabPartition],
    pub organisations: &'a [CccOrganisation],
}

pub fn service_page(user: &CccUserRecord, flash: &Flash, page: ServicePage<'_>) -> Markup {
    let s = &page.view.service;
    let status = &page.view.status;
    let action = |a: &str| link("/services", &s.name, Some(a));
    let tab = |t: &str| format!("{}?tab={t}", link("/services", &s.name, None));
    let admin = user.role == CccRole::Administrator;
    let body = html! {
        nav #tabs {
            a #tab-general href=(tab("general")) { "General" } " | "
            a #tab-capabilities href=(tab("capabilities")) { "Capabilities" } " | "
            a #tab-partitions href=(tab("partitions")) { "Partitions" } " | "
            a #tab-keys href=(tab("keys")) { "Keys" } " | "
            a #tab-clients href=(tab("clients")) { "Clients" }
        }
        @match page.tab {
            "capabilities" => {
                h2 { "Capabilities" }
                table #capabilities {
                    @if let Some(t) = page.template {
                        tr { th { "Service type" } td { (service_type_name(t.service_type)) } }
                        tr { th { "Authentication" } td { (format!("{:?}", t.authentication)) } }
                        tr { th { "Per-Partition SO" } td { (t.per_partition_so) } }
                        tr { th { "Scalable Key Storage" } td { (t.scalable_key_storage) } }
                        tr { th { "Secure Trusted Channel" } td { (t.secure_trusted_channel) } }
                        tr { th { "Backup type" } td { (backup_type_name(t.backup_type)) } }
                    }
                    tr { th { "Partition size (bytes)" } td #partition-size {
                        (status.partition_size.or(page.template.map(|t| t.partition_size)).map(|n| n.to_string()).unwrap_or_default())
                    } }
                }
                @if admin {
                    form #resize-form method="post" action=(action("resize")) {
                        label { "Partition size (bytes) " input name="size" required; }
                        " " button #resize-submit type="submit" { "Save" }
                    }
                }
            }
            "partitions" => {
                h2 { "Partitions" }
                table #partitions {
                    tr { th { "Partition" } th { "State" } th {} }
                    @for p in &s.partitions {
                        tr.partition data-partition=(p.to_string()) {
                            td { (p.to_string()) }
                            td { @if status.uninitialised_partitions.contains(p) { "uninitialised" } @else { "in service" } }
                            td { @if admin {
                                form method="post" action=(action("remove-partition")) {
                                    input type="hidden" name="partition" value=(p.to_string());
                                    button.remove-partition type="submit" { "Remove" }
                                }
                            } }
                        }
                    }
                }
                @if admin {
                    form #add-partition-form method="post" action=(action("add-partition")) {
                        label { "Device partition " select name="partition" {
                            @for p in page.partitions.iter().filter(|p| p.authorised) {
                                option value=(p.partition) { (p.partition) }
                            }
                        } }
                        " " button #add-partition-submit type="submit" { "Add Partitions" }
                    }
                }
                @if !status.uninitialised_partitions.is_empty() {
                    h3 { "Uninitialized Partitions" }
                    form #initialise-partitions-form method="post" action=(action("initialise-partitions")) {
                        label { "Cloning domain " input name="cloning_domain"; }
                        label { " Crypto Officer password " input name="crypto_officer_password" type="password" required; }
                        label { " Crypto User password " input name="crypto_user_password" type="password"; }
                        " " button #initialise-partitions-submit type="submit" { "Initialize Partitions" }
                    }
                }
            }
            "keys" => {
                h2 { "Keys" }
                @match &page.keys {
                    Ok(keys) => {
                        table #keys {
                            tr { th { "Label" } th { "ID" } th { "Class" } th { "Key type" } }
                            @for k in keys {
                                tr.key { td { (k.label) } td { (k.id) } td { (k.class) } td { (k.key_type) } }
                            }
                        }
                    }
                    Err(e) => { p #keys-error role="alert" { (e) } }
                }
            }
            "clients" => {
                h2 { "Clients" }
                table #clients {
                    tr { th { "Host" } th { "Registration" } }
                    @for c in &status.clients {
                        tr.client data-host=(c.host) {
                            td { (c.host) }
                            td { @if c.re_registration_needed { "re-registration needed" } @else { "registered" } }
                        }
                    }
                }
                form #register-client-form method="post" action=(action("register-client")) {
                    label { "Client host " input name="host" required; }
                    label { " Crypto Officer password " input name="crypto_officer_password" type="password" aria-describedby="register-client-hint"; }
                    " " button #register-client-submit type="submit" { "Deploy" }
                    p #register-client-hint {
                        "Optional. Needed when the service's partitions are not in sync (e.g. after adding partitions to a migrated service): authorising the service runs the synchronisation between all its partitions, opened with the Crypto Officer's credential (CCC keeps none)."
                    }
                }
            }
            _ => {
                h2 { "General" }
                dl #service-status {
                    dt { "Name" } dd #service-name { (s.name) }
                    dt { "Description" } dd { (s.description) }
                    dt { "Organization" } dd #service-organisation { (s.organisation) }
                    dt { "Template" } dd { (s.template) }
                    dt { "Type" } dd #service-ha { @if s.partitions.len() > 1 { "HA" } @else { "standalone" } }
                    dt { "Initialised" } dd #service-initialised { @if status.initialised { "initialised" } @else { "not initialised" } }
                    dt { "Activated" } dd #service-activated { (status.activated) }
                }
                @if admin {
                    form #edit-service-form method="post" action=(action("edit")) {
                        fieldset { legend { "Edit" }
                            label { "Name " input name="name" value=(s.name) maxlength="28"; }
                            label { " Description " input name="description" value=(s.description); }
                            label { " Organization " select name="organisation" {
                                @for o in page.organisations {
                                    option value=(o.name) selected[o.name == s.organisation] { (o.name) }
                                }
                            } }
                            " " button #edit-service-submit type="submit" { "Save" }
                        }
                    }
                }
                @if !status.initialised {
                    form #initialise-form method="post" action=(action("initialise")) {
                        fieldset { legend { "Initialize Service" }
                            label { "Partition label " input name="partition_label" required; }
                            label { " Cloning domain " input name="cloning_domain"; }
                            br;
                            label { "Partition SO password " input name="partition_so_password" type="password"; }
                            label { " Crypto Officer password " input name="crypto_officer_password" type="password" required; }
                            label { " Crypto User password " input name="crypto_user_password" type="password"; }
                            " " button #initialise-submit type="submit" { "Initialize" }
                        }
                    }
                }
                form #activate-form method="post" action=(action("activate")) {
                    fieldset { legend { "Activate" }
                        label { "Crypto Officer password " input name="crypto_officer_password" type="password" required; }
                        " " button #activate-submit type="submit" { "Activate" }
                    }
                }
                form method="post" action=(action("detach")) style="display:inline" {
                    button #detach-submit type="submit" { "Detach" }
                }
                " "
                form method="post" action=(action("delete")) style="display:inline" {
                    button #delete-submit type="submit" { "Delete" }
                }
                @if admin {
                    " "
                    form #synchronise-form method="post" action=(action("synchronise")) style="display:inline" {
                        label { "Crypto Officer password " input type="password" name="crypto_officer_password" required; }
                        " " button #synchronise-submit type="submit" { "Synchronize" }
                    }
                }
            }
        }
    };
    layout(&format!("Service {}", s.name), Some(user), flash, body)
}

/// The choices the wizards offer.
pub struct Choices<'a> {
    pub templates: &'a [CccTemplate],
    pub organisations: &'a [CccOrganisation],
    pub partitions: &'a [LabPartition],
}

pub fn create_service_page(
    user: &CccUserRecord,
    flash: &Flash,
    choices: &Choices<'_>,
    filled: &Filled,
) -> Markup {
    layout(
        "Create Service",
        Some(user),
        flash,
        html! {
            form #create-service-form method="post" action="/create-service" {
                fieldset #step-general { legend { "General" }
                    label { "Service name " input name="name" maxlength="28" value=(value(filled, "name")) required; }
                    label { " Description " input name="description" value=(value(filled, "description")); }
                }
                fieldset #step-template { legend { "Choose Template" }
                    @for t in choices.templates {
                        label {
                            input type="radio" name="template" id=(id_of("template", &t.name)) value=(t.name) checked[chosen(filled, "template", &t.name)];
                            " " (t.name) " (" (service_type_name(t.service_type)) ", " (t.partition_size) " bytes)"
                        }
                        br;
                    }
                }
                fieldset #step-devices { legend { "Add Devices" }
                    @for p in choices.partitions.iter().filter(|p| p.authorised) {
                        label {
                            input type="checkbox" name="partitions" id=(id_of("partition", &p.partition)) value=(p.partition) checked[chosen(filled, "partitions", &p.partition)];
                            " " (p.partition)
                        }
                        br;
                    }
                }
                fieldset #step-organisation { legend { "Assign Organization" }
                    select name="organisation" {
                        @for o in choices.organisations {
                            option value=(o.name) selected[chosen(filled, "organisation", &o.name)] { (o.name) }
                        }
                    }
                }
                button #create-service-submit type="submit" { "Create Service" }
            }
        },
    )
}

pub fn import_page(
    user: &CccUserRecord,
    flash: &Flash,
    table: Option<&CccImportTable>,
    organisations: &[CccOrganisation],
) -> Markup {
    layout(
        "Import Partitions",
        Some(user),
        flash,
        html! {
            form method="post" action="/import/discover" {
                button #get-started type="submit" { "Get Started" }
            }
            @if let Some(table) = table {
                p #import-saved { "Saved " (table.created) ", last edited " (table.edited) }
                table #import-table {
                    tr { th { "Partition" } th { "HA group" } th { "Service name" } th { "Description" } th { "Organization" } th {} }
                    @for row in &table.rows {
                        @let form_id = id_of("row", &row.partition.to_string());
                        tr.import-row data-partition=(row.partition.to_string()) {
                            td { (row.partition.to_string()) }
                            td { input form=(form_id) name="ha_group" value=(row.ha_group); }
                            td { input form=(form_id) name="service_name" value=(row.service_name) maxlength="28"; }
                            td { input form=(form_id) name="description" value=(row.description); }
                            td { select form=(form_id) name="organisation" {
                                option value="" selected[row.organisation.is_empty()] { "(choose)" }
                                @for o in organisations {
                                    option value=(o.name) selected[o.name == row.organisation] { (o.name) }
                                }
                            } }
                            td {
                                form.import-row-form id=(form_id) method="post" action="/import/edit-row" {
                                    input type="hidden" name="partition" value=(row.partition.to_string());
                                    button.save-row type="submit" { "Save" }
                                }
                                form method="post" action="/import/delete-row" {
                                    input type="hidden" name="partition" value=(row.partition.to_string());
                                    button.delete-row type="submit" { "Delete" }
                                }
                            }
                        }
                    }
                }
                form method="post" action="/import/finish" style="display:inline" {
                    button #finish-imports type="submit" { "Finish Imports" }
                }
                " "
                form method="post" action="/import/cancel" style="display:inline" {
                    button #cancel-import type="submit" { "Cancel" }
                }
            } @else {
                p #no-import { "No saved import: click Get Started to discover the unmanaged partitions." }
            }
        },
    )
}

fn template_fields(t: Option<&CccTemplate>, with_name: bool) -> Markup {
    let service_type = t.map(|t| t.service_type);
    let auth = t.map(|t| t.authentication);
    let perf = t.and_then(|t| t.performance);
    let backup = t.map(|t| t.backup_type);
    html! {
        @if with_name {
            label { "Name " input name="name" required; }
        }
        label { " Description " input name="description" value=(t.map(|t| t.description.as_str()).unwrap_or("")); }
        br;
        label { "Service type " select name="service_type" {
            option value="hsm-partition" selected[service_type == Some(CccServiceType::HsmPartition)] { "HSM Partition" }
            option value="hsm-partition-ha-group" selected[service_type == Some(CccServiceType::HsmPartitionHaGroup)] { "HSM Partition HA Group" }
        } }
        label { " Authentication " select name="authentication" {
            option value="password" selected[auth == Some(luna::Auth::Password)] { "Password" }
            option value="ped" selected[auth == Some(luna::Auth::Ped)] { "PED" }
        } }
        label { " Performance " select name="performance" {
            option value="" selected[perf.is_none()] { "(not selected)" }
            option value="standard" selected[perf == Some(CccPerformance::Standard)] { "Standard" }
            option value="enterprise" selected[perf == Some(CccPerformance::Enterprise)] { "Enterprise" }
            option value="maximum" selected[perf == Some(CccPerformance::Maximum)] { "Maximum" }
        } }
        br;
        label { "Partition size (bytes) " input name="partition_size" value=(t.map(|t| t.partition_size.to_string()).unwrap_or_default()) required; }
        label { " " input type="checkbox" name="per_partition_so" value="on" checked[t.is_none_or(|t| t.per_partition_so)]; " Per-Partition SO" }
        label { " " input type="checkbox" name="scalable_key_storage" value="on" checked[t.is_some_and(|t| t.scalable_key_storage)]; " Scalable Key Storage" }
        label { " " input type="checkbox" name="secure_trusted_channel" value="on" checked[t.is_some_and(|t| t.secure_trusted_channel)]; " Secure Trusted Channel" }
        label { " Backup type " select name="backup_type" {
            option value="none" selected[backup.is_none_or(|b| b == CccBackupType::None)] { "None" }
            option value="backup-hsm" selected[backup == Some(CccBackupType::BackupHsm)] { "Backup HSM" }
        } }
    }
}

pub fn templates_page(user: &CccUserRecord, flash: &Flash, templates: &[CccTemplate]) -> Markup {
    let admin = user.role == CccRole::Administrator;
    layout(
        "Service Templates",
        Some(user),
        flash,
        html! {
            table #templates {
                tr { th { "Template" } th { "Type" } th { "Authentication" } th { "Size (bytes)" } th { "PPSO" } th { "SKS" } th { "STC" } th {} }
                @for t in templates {
                    tr.template data-template=(t.name) {
                        td { a href=(link("/templates", &t.name, None)) { (t.name) } }
                        td { (service_type_name(t.service_type)) }
                        td { (format!("{:?}", t.authentication)) }
                        td { (t.partition_size) }
                        td { (t.per_partition_so) } td { (t.scalable_key_storage) } td { (t.secure_trusted_channel) }
                        td { @if admin {
                            form.copy-template method="post" action=(link("/templates", &t.name, Some("copy"))) {
                                input name="name" placeholder="copy name" required;
                                button type="submit" { "Copy" }
                            }
                            form method="post" action=(link("/templates", &t.name, Some("delete"))) {
                                button.delete-template type="submit" { "Delete" }
                            }
                        } }
                    }
                }
            }
            @if admin {
                h2 { "Add Service Template" }
                form #add-template-form method="post" action="/templates" {
                    (template_fields(None, true))
                    " " button #add-template-submit type="submit" { "Add Template" }
                }
            }
        },
    )
}

pub fn template_page(user: &CccUserRecord, flash: &Flash, template: &CccTemplate) -> Markup {
    layout(
        &format!("Template {}", template.name),
        Some(user),
        flash,
        html! {
            @if user.role == CccRole::Administrator {
                form #edit-template-form method="post" action=(link("/templates", &template.name, Some("edit"))) {
                    (template_fields(Some(template), false))
                    " " button #edit-template-submit type="submit" { "Save" }
                }
            } @else {
                table #template { tr { th { "Partition size (bytes)" } td { (template.partition_size) } } }
            }
        },
    )
}

pub fn migrate_page(
    user: &CccUserRecord,
    flash: &Flash,
    migratable: &Result<Vec<String>, String>,
    choices: &Choices<'_>,
    filled: &Filled,
    summary: Option<&str>,
) -> Markup {
    layout(
        "Migrate Service",
        Some(user),
        flash,
        html! {
            form #migrate-form method="post" action="/migrate" {
                fieldset #step-select-service { legend { "Select Service" }
                    @match migratable {
                        Ok(services) => {
                            select name="source_service" {
                                @for s in services {
                                    option value=(s) selected[chosen(filled, "source_service", s)] { (s) }
                                }
                            }
                        }
                        Err(e) => { p #migratable-error role="alert" { (e) } }
                    }
                }
                fieldset #step-new-service { legend { "New Service" }
                    label { "HSM model " select name="hsm_model" required {
                        option value="" { "Select an HSM model" }
                        @for m in HsmModel::ALL {
                            option value=(m.id()) selected[chosen(filled, "hsm_model", m.id())] { (m.name()) }
                        }
                    } }
                    label { " Name " input name="name" maxlength="28" value=(value(filled, "name")) required; }
                    label { " Description " input name="description" value=(value(filled, "description")); }
                    label { " Organization " select name="organisation" {
                        @for o in choices.organisations {
                            option value=(o.name) selected[chosen(filled, "organisation", &o.name)] { (o.name) }
                        }
                    } }
                    label { " Partition size (bytes) " input name="partition_size" value=(value(filled, "partition_size")) required; }
                }
                fieldset #step-select-devices { legend { "Select Devices" }
                    @for p in choices.partitions.iter().filter(|p| p.authorised) {
                        label {
                            input type="checkbox" name="targets" id=(id_of("target", &p.partition)) value=(p.partition) checked[chosen(filled, "targets", &p.partition)];
                            " " (p.partition)
                        }
                        br;
                    }
                }
                fieldset #step-define-partition { legend { "Define Partition" }
                    label { "Partition label " input name="partition_label" value=(value(filled, "partition_label")) required; }
                    label { " Cloning domain " input name="cloning_domain" value=(value(filled, "cloning_domain")); }
                }
                fieldset #step-initialize-roles { legend { "Initialize Roles" }
                    label { "Security Officer challenge " input name="security_officer_challenge" type="password"; }
                    label { " Crypto Officer challenge " input name="crypto_officer_challenge" type="password" required; }
                }
                fieldset #step-summary { legend { "Summary" }
                    @if let Some(summary) = summary { p #summary { (summary) } }
                    button #migrate-check type="submit" name="action" value="check" { "Check" }
                }
                button #migrate-start type="submit" name="action" value="start" { "Migrate Service" }
            }
        },
    )
}

fn state_name(state: MigrationState) -> &'static str {
    match state {
        MigrationState::Running => "running",
        MigrationState::Succeeded => "succeeded",
        MigrationState::Failed => "failed",
    }
}

pub fn migrations_page(user: &CccUserRecord, flash: &Flash, runs: &[CccMigration]) -> Markup {
    layout(
        "Migrations",
        Some(user),
        flash,
        html! {
            table #migrations {
                tr { th { "Id" } th { "Source" } th { "New service" } th { "State" } }
                @for m in runs {
                    tr.migration data-migration=(m.id) {
                        td { a href=(format!("/migrations/{}", m.id)) { (m.id) } }
                        td { (m.source_service) } td { (m.new_service) } td { (state_name(m.state)) }
                    }
                }
            }
        },
    )
}

pub fn migration_page(user: &CccUserRecord, flash: &Flash, run: &CccMigration) -> Markup {
    let body = html! {
        @if run.state == MigrationState::Running {
            meta http-equiv="refresh" content="1";
        }
        p { "From " (run.source_service) " (" (run.source_partition.to_string()) ") to new service " (run.new_service) }
        p { "State: " span #migration-state { (state_name(run.state)) } }
        ol #migration-progress { @for line in &run.progress { li { (line) } } }
        @if let Some(error) = &run.error { p #migration-error role="alert" { (error) } }
    };
    layout(&format!("Migration {}", run.id), Some(user), flash, body)
}

pub fn devices_page(user: &CccUserRecord, flash: &Flash, devices: &[CccDevice]) -> Markup {
    layout(
        "Devices",
        Some(user),
        flash,
        html! {
            table #devices {
                tr { th { "Device" } th { "Authorized" } th { "Reachable" } th {} }
                @for d in devices {
                    tr.device data-device=(d.device.as_str()) {
                        td { (d.device.as_str()) }
                        td.device-authorised { @if d.authorised { "authorised" } @else { "not authorised" } }
                        td.device-offline { @if d.offline { "offline" } @else { "online" } }
                        td {
                            form.authorise-form method="post" action="/devices/authorise" {
                                input type="hidden" name="device" value=(d.device.as_str());
                                input name="password" type="password" placeholder="HSM SO password";
                                button type="submit" { "Authorize" }
                                small.ped-hint { " PED devices: leave empty, the HSM SO's blue PED key is presented at the PED." }
                            }
                            form.offline-form method="post" action="/devices/offline" {
                                input type="hidden" name="device" value=(d.device.as_str());
                                input type="hidden" name="offline" value=(if d.offline { "false" } else { "true" });
                                button type="submit" { @if d.offline { "Mark online" } @else { "Mark offline" } }
                            }
                            form method="post" action="/devices/remove" {
                                input type="hidden" name="device" value=(d.device.as_str());
                                button.remove-device type="submit" { "Remove" }
                            }
                        }
                    }
                }
            }
            form #add-device-form method="post" action="/devices/add" {
                label { "Device " input name="device" required; }
                " " button #add-device-submit type="submit" { "Add Device" }
            }
        },
    )
}

pub fn message_page(title: &str, user: Option<&CccUserRecord>, flash: &Flash) -> Markup {
    layout(title, user, flash, html! {})
}

/// A backup type as the console shows it.
fn backup_type_name(backup: CccBackupType) -> &'static str {
    match backup {
        CccBackupType::None => "None",
        CccBackupType::BackupHsm => "Backup HSM",
    }
}
