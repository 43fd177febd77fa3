//! The web console's routes: CCC's pages (`templates.rs` renders them) and the plain forms
//! they post. A form's change calls the same estate operation as its API route, under the
//! same role rules and locks, then redirects back (303) with what it did (`notice`) or CCC's
//! refusal (`error`) for the page to show; the two wizards instead show their page again,
//! filled in, with the refusal. A page without a session redirects to `/login`.
use crate::api::{
    self, InitialiseBody, InitialisePartitionsBody, MigrationBody, NewServiceBody, TemplateBody,
    lab_partitions, partition_id, service_view, visible_services,
};
use crate::app::{ApiError, App, Caller, request_token};
use crate::migrations::start_migration;
use crate::templates::{self as t, Choices, Filled, Flash};
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{StatusCode, header, request::Parts};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use hsmsim::base::ids::DeviceId;
use hsmsim::estate::LabSelection;
use hsmsim::estate::ccc::{self, CccUserRecord, ServiceEdit};
use hsmsim::models::ccc::HsmModel;
use maud::Markup;

pub fn router() -> Router<App> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/services") }))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/services", get(services))
        .route("/services/{service}", get(service))
        .route("/services/{service}/{action}", post(service_action))
        .route(
            "/create-service",
            get(create_service_form).post(create_service),
        )
        .route("/import", get(import))
        .route("/import/{action}", post(import_action))
        .route("/templates", get(templates).post(add_template))
        .route("/templates/{template}", get(template))
        .route("/templates/{template}/{action}", post(template_action))
        .route("/migrate", get(migrate_form).post(migrate))
        .route("/migrations", get(migrations))
        .route("/migrations/{id}", get(migration))
        .route("/devices", get(devices))
        .route("/devices/{action}", post(device_action))
}

fn page(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// The console's 404 page.
pub fn not_found_page(path: &str) -> Response {
    let flash = Flash {
        error: Some(format!("There is no page {path}.")),
        ..Flash::default()
    };
    page(
        StatusCode::NOT_FOUND,
        t::message_page("Not found", None, &flash),
    )
}

/// The logged-in user of a page; without a session the answer is a redirect to `/login`.
struct PageCaller(Caller);

impl FromRequestParts<App> for PageCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        match app.caller(request_token(parts)).await {
            Ok(caller) => Ok(PageCaller(caller)),
            Err(_) => Err(Redirect::to("/login").into_response()),
        }
    }
}

/// A posted form's fields, in order (repeated names kept: checkboxes).
struct Fields(Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        match Form::<Vec<(String, String)>>::from_request(req, state).await {
            Ok(Form(fields)) => Ok(Fields(fields)),
            Err(rejection) => Err(form_rejection(rejection)),
        }
    }
}

fn form_rejection(rejection: FormRejection) -> Response {
    let error = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        api::too_large()
    } else {
        ApiError::bad_request(format!("bad form: {}", rejection.body_text()))
    };
    let flash = Flash {
        error: Some(error.message),
        ..Flash::default()
    };
    page(error.status, t::message_page("Refused", None, &flash))
}

impl Fields {
    /// The field's value ("" when absent).
    fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// The field's value; `None` when absent or empty.
    fn optional(&self, name: &str) -> Option<String> {
        Some(self.get(name)).filter(|v| !v.is_empty())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(n, v)| n == name && v == "on")
    }

    fn filled(&self) -> Filled {
        let mut filled = Filled::new();
        for (name, value) in &self.0 {
            filled.entry(name.clone()).or_default().push(value.clone());
        }
        filled
    }
}

/// 303 back to `to` with `notice` (the change's outcome) or `error` (CCC's refusal).
fn back(to: &str, outcome: Result<String, ApiError>) -> Response {
    let (key, text) = match outcome {
        Ok(notice) => ("notice", notice),
        Err(e) => ("error", e.message),
    };
    let query = serde_urlencoded::to_string([(key, text)]).unwrap_or_default();
    let join = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{join}{query}")).into_response()
}

fn flash_of(error: ApiError) -> Flash {
    Flash {
        error: Some(error.message),
        ..Flash::default()
    }
}

// ---------------------------------------------------------------- login

async fn login_form(Query(flash): Query<Flash>) -> Response {
    page(StatusCode::OK, t::login_page(&flash))
}

async fn login(State(app): State<App>, fields: Fields) -> Response {
    match app.log_in(fields.get("user"), fields.get("password")).await {
        Ok((token, _)) => (
            [(header::SET_COOKIE, api::session_cookie(&token))],
            Redirect::to("/services"),
        )
            .into_response(),
        Err(e) => page(e.status, t::login_page(&flash_of(e))),
    }
}

async fn logout(State(app): State<App>, PageCaller(caller): PageCaller) -> Response {
    app.log_out(&caller.token);
    (
        [(
            header::SET_COOKIE,
            format!("{}=; Path=/; Max-Age=0", crate::SESSION_COOKIE),
        )],
        Redirect::to("/login"),
    )
        .into_response()
}

// ---------------------------------------------------------------- services

async fn services(
    State(app): State<App>,
    PageCaller(caller): PageCaller,
    Query(flash): Query<Flash>,
) -> Response {
    let viewer = caller.clone();
    let load = move |sel: &LabSelection| visible_services(sel, &viewer);
    list_page(&app, &caller, &flash, None, load, t::services_page).await
}

async fn service(
    State(app): State<App>,
    PageCaller(caller): PageCaller,
    Path(name): Path<String>,
    Query(flash): Query<Flash>,
) -> Response {
    let user = caller.user.clone();
    let tab = flash.tab.clone().unwrap_or_else(|| "general".into());
    let showing = tab.clone();
    let loaded = app
        .run(move |sel| {
            let view = service_view(sel, &caller, &name)?;
            let template = ccc::ccc_template(sel, &view.service.template).ok();
            let keys = if showing == "keys" {
                ccc::ccc_service_keys(sel, &name).map_err(|e| ApiError::from(e).message)
            } else {
                Ok(Vec::new())
            };
            let partitions = if caller.is_administrator() {
                lab_partitions(sel)?
            } else {
                Vec::new()
            };
            let organisations = ccc::ccc_organisations(sel)?;
            Ok((view, template, keys, partitions, organisations))
        })
        .await;
    match loaded {
        Ok((view, template, keys, partitions, organisations)) => page(
            StatusCode::OK,
            t::service_page(
                &user,
                &flash,
                t::ServicePage {
                    view: &view,
                    tab: &tab,
                    template: template.as_ref(),
                    keys,
                    partitions: &partitions,
                    organisations: &organisations,
                },
            ),
        ),
        Err(e) => page(
            e.status,
            t::message_page("Service", Some(&user), &flash_of(e)),
        ),
    }
}

async fn service_action(
    State(app): State<App>,
    PageCaller(caller): PageCaller,
    Path((name, action)): Path<(String, String)>,
    fields: Fields,
) -> Response {
    let tab = match action.as_str() {
        "resize" => "capabilities",
        "add-partition" | "remove-partition" | "initialise-partitions" => "partitions",
        "register-client" => "clients",
        _ => "general",
    };
    let here = format!("{}?tab={tab}", t::link("/services", &name, None));
    let admin_only = matches!(
        action.as_str(),
        "edit" | "resize" | "add-partition" | "remove-partition" | "synchronise"
    );
    if admin_only && let Err(e) = caller.require_administrator("do this to a service") {
        return back(&here, Err(e));
    }
    let _lock = app.lock_service(&name).await;
    let service = name.clone();
    let outcome = app
        .run(move |sel| {
            caller.service(sel, &service)?;
            let name = service.as_str();
            let notice = match action.as_str() {
                "edit" => {
                    let edited = ccc::edit_ccc_service(
                        sel,
                        name,
                        ServiceEdit {
                            name: fields.optional("name"),
                            description: Some(fields.get("description")),
                            organisation: fields.optional("organisation"),
                        },
                    )?;
                    return Ok((
                        format!("Service \"{}\" saved.", edited.name),
                        Some(edited.name),
                    ));
                }
                "initialise" => {
                    let body = InitialiseBody {
                        partition_label: fields.get("partition_label"),
                        cloning_domain: fields.get("cloning_domain"),
                        partition_so_password: fields.optional("partition_so_password"),
                        crypto_officer_password: fields.get("crypto_officer_password"),
                        crypto_user_password: fields.optional("crypto_user_password"),
                    };
                    ccc::initialise_ccc_service(sel, name, body.into())?;
                    "Service initialised."
                }
                "activate" => {
                    ccc::activate_ccc_service(sel, name, &fields.get("crypto_officer_password"))?;
                    "Service activated."
                }
                "add-partition" => {
                    let partition = partition_id(&fields.get("partition"))?;
                    ccc::add_ccc_service_partition(sel, name, &partition)?;
                    "Partition added: initialize it before use."
                }
                "initialise-partitions" => {
                    let body = InitialisePartitionsBody {
                        cloning_domain: fields.get("cloning_domain"),
                        crypto_officer_password: fields.get("crypto_officer_password"),
                        crypto_user_password: fields.optional("crypto_user_password"),
                    };
                    ccc::initialise_ccc_added_partitions(
                        sel,
                        name,
                        &body.cloning_domain,
                        &body.crypto_officer_password,
                        body.crypto_user_password.as_deref(),
                    )?;
                    "Partitions initialised."
                }
                "remove-partition" => {
                    let partition = partition_id(&fields.get("partition"))?;
                    ccc::remove_ccc_service_partition(sel, name, &partition)?;
                    "Partition removed."
                }
                "resize" => {
                    ccc::resize_ccc_service(sel, name, &fields.get("size"))?;
                    "Partition size saved."
                }
                "register-client" => {
                    ccc::register_ccc_client(
                        sel,
                        name,
                        &fields.get("host"),
                        fields.optional("crypto_officer_password").as_deref(),
                    )?;
                    "Service deployed to the client."
                }
                "synchronise" => {
                    ccc::synchronise_ccc_service(
                        sel,
                        name,
                        &fields.get("crypto_officer_password"),
                    )?;
                    "Service synchronised."
                }
                "detach" => {
                    ccc::detach_ccc_service(sel, name)?;
                    return Ok((format!("Service \"{name}\" detached."), None));
                }
                "delete" => {
                    ccc::delete_ccc_service(sel, name)?;
                    return Ok((format!("Service \"{name}\" deleted."), None));
                }
                other => {
                    return Err(ApiError::not_found(format!(
                        "a service has no action \"{other}\""
                    )));
                }
            };
            Ok((notice.to_string(), Some(name.to_string())))
        })
        .await;
    match outcome {
        Ok((notice, Some(now))) => back(
            &format!("{}?tab={tab}", t::link("/services", &now, None)),
            Ok(notice),
        ),
        Ok((notice, None)) => back("/services", Ok(notice)),
        Err(e) => back(&here, Err(e)),
    }
}

/// The wizards' choices, for an Administrator.
struct Loaded {
    templates: Vec<hsmsim::lab::ccc::CccTemplate>,
    organisations: Vec<hsmsim::lab::ccc::CccOrganisation>,
    partitions: Vec<api::LabPartition>,
    migratable: Result<Vec<String>, String>,
}

impl Loaded {
    fn choices(&self) -> Choices<'_> {
        Choices {
            templates: &self.templates,
            organisations: &self.organisations,
            partitions: &self.partitions,
        }
    }
}

async fn load_choices(app: &App, with_migratable: bool) -> Result<Loaded, ApiError> {
    app.run(move |sel| {
        Ok(Loaded {
            templates: ccc::ccc_templates(sel)?,
            organisations: ccc::ccc_organisations(sel)?,
            partitions: lab_partitions(sel)?,
            migratable: if with_migratable {
                ccc::ccc_migratable_services(sel).map_err(|e| ApiError::from(e).message)
            } else {
                Ok(Vec::new())
            },
        })
    })
    .await
}

async fn create_service_page(
    app: &App,
    caller: &Caller,
    flash: &Flash,
    filled: &Filled,
    status: StatusCode,
) -> Response {
    let render = |l: &Loaded| t::create_service_page(&caller.user, flash, &l.choices(), filled);
    let title = "Create Service";
    wizard_page(app, caller, title, "create services", false, status, render).await
}

/// A wizard's page for an Administrator: its choices loaded, then `render`; another role, or
/// choices that cannot be read, gets the refusal.
async fn wizard_page(
    app: &App,
    caller: &Caller,
    title: &str,
    what: &str,
    with_migratable: bool,
    status: StatusCode,
    render: impl FnOnce(&Loaded) -> Markup,
) -> Response {
    let loaded = match caller.require_administrator(what) {
        Ok(()) => load_choices(app, with_migratable).await,
        Err(e) => Err(e),
    };
    match loaded {
        Ok(l) => page(status, render(&l)),
        Err(e) => page(
            e.status,
            t::message_page(title, Some(&caller.user), &flash_of(e)),
        ),
    }
}

async fn create_service_form(
    State(app): State<App>,
    PageCaller(caller): PageCaller,
    Query(flash): Query<Flash>,
) -> Response {
    create_service_page(&app, &caller, &flash, &Filled::new(), StatusCode::OK).await
}

async fn create_service(
    State(app): State<App>,
    PageCaller(caller): PageCaller,
    fields: Fields,
) -> Response {
    let body = NewServiceBody {
        name: fields.get("name"),
        description: fields.get("description"),
        template: fields.get("template"),
        organisation: fields.get("organisation"),
        partitions: fields.all("partitions"),
    };
    let outcome = match (
        caller.require_administrator("create services"),
        body.into_new_service(),
    ) {
        (Err(e), _) | (_, Err(e)) => Err(e),
        (Ok(()), Ok(new)) => {
            let _lock = app.lock_service(&new.name).await;
            app.run(move |sel| Ok(ccc::create_ccc_service(sel, new)?))
                .await
        }
    };
    match outcome {
        Ok(service) => back(
            &t::link("/services", &service.name, None),
            Ok(format!("Service \"{}\" created.", service.name)),
        ),
        Err(e) => {
            let status = e.status;
            create_service_page(&app, &caller, &flash_of(e), &fields.filled(), status).await
        }
    }
}

// ---------------------------------------------------------------- import

async fn import(
    State(app): State<App>,
    PageCaller(caller): PageCaller,
    Query(flash): Query<Flash>,
) -> Response {
    let user = caller.user.clone();
    if let Err(e) = caller.require_administrator("import partitions") {
        return page(
            e.status,
            t::message_page("Import Partitions", Some(&user), &flash_of(e)),
        );
    }
    let loaded = app
        .run(|sel| Ok((ccc::ccc_import_table(sel)?, ccc::ccc_organisations(sel)?)))
        .await;
    match loaded {
        Ok((table, organisations)) => page(
            StatusCode::OK,
            t::import_page(&user, &flash, table.as_ref(), &organisations),
        ),
        Err(e) => page(e.status, t::import_page(&user, &flash_of(e), None, &[])),
    }
}

async fn import_action(
    State(app): State<App>,
    PageCaller(caller): PageCaller,
    Path(action): Path<String>,
    fields: Fields,
) -> Response {
    let outcome = api::administer(&app, &caller, "import partitions", move |sel| {
        Ok(match action.as_str() {
            "discover" => {
                let table = ccc::discover_ccc_partitions(sel)?;
                format!("{} unmanaged partitions found.", table.rows.len())
            }
            "edit-row" => {
                let partition = partition_id(&fields.get("partition"))?;
                let edit = api::ImportRowBody {
                    ha_group: Some(fields.get("ha_group")),
                    service_name: Some(fields.get("service_name")),
                    description: Some(fields.get("description")),
                    organisation: Some(fields.get("organisation")),
                };
                ccc::edit_ccc_import_row(sel, &partition, edit.into())?;
                format!("Row {partition} saved.")
            }
            "delete-row" => {
                let partition = partition_id(&fields.get("partition"))?;
                ccc::delete_ccc_import_row(sel, &partition)?;
                format!("Row {partition} deleted.")
            }
            "finish" => {
                let services = ccc::finish_ccc_import(sel)?;
                format!("{} services imported.", services.len())
            }
            "cancel" => {
                ccc::cancel_ccc_import(sel)?;
                "Import canceled.".to_string()
            }
            other => {
                return Err(ApiError::not_found(format!(
                    "Import Partitions has no action \"{other}\""
                )));
            }
        })
    })
    .await;
    back("/import", outcome)
}

// ---------------------------------------------------------------- templates

async fn templates(
    State(app): State<App>,
    PageCaller(caller): PageCaller,
    Query(flash): Query<Flash>,
) -> Response {
    let load = |sel: &LabSelection| Ok(ccc::ccc_templates(sel)?);
    list_page(&app, &caller, &flash, None, load, t::templates_page).await
}

async fn template(
    State(app): State<App>,
    PageCaller(caller): PageCaller,
    Path(name): Path<String>,
    Query(flash): Query<Flash>,
) -> Response {
    let user = caller.user.clone();
    match app.run(move |sel| Ok(ccc::ccc_template(sel, &name)?)).await {
        Ok(template) => page(StatusCode::OK, t::template_page(&user, &flash, &template)),
        Err(e) => page(
            e.status,
            t::message_page("Template", Some(&user), &flash_of(e)),
        ),
    }
}

/// A template from the add/edit form.
fn template_of(fields: &Fields, name: String) -> Result<hsmsim::lab::ccc::CccTemplate, ApiError> {
    fn parse<T: serde::de::DeserializeOwned>(fields: &Fields, field: &str) -> Result<T, ApiError> {
        serde_json::from_value(serde_json::Value::String(fields.get(field)))
            .map_err(|_| ApiError::bad_request(format!("choose a {}", field.replace('_', " "))))
    }
    let body =
        TemplateBody {
            name: None,
            description: fields.get("description"),
            service_type: parse(fields, "service_type")?,
            authentication: parse(fields, "authentication")?,
            performance: match fields.optional("performance") {
                None => None,
                Some(_) => Some(parse(fields, "performance")?),
            },
            partition_size: fields.get("partition_size").trim().parse().map_err(|_| {
                ApiError::bad_request("the partition size is a whole number of bytes")
            })?,
            per_partition_so: fields.checked("per_partition_so"),
            scalable_key_storage: fields.checked("scalable_key_storage"),
            secure_trusted_channel: fields.checked("secure_trusted_channel"),
            backup_type: match fields.optional("backup_type") {
                None => Default::default(),
                Some(_) => parse(fields, "backup_type")?,
            },
        };
    Ok(body.into_template(name))
}

async fn add_template(
    State(app): State<App>,
    PageCaller(caller): PageCaller,
    fields: Fields,
) -> Response {
    let outcome = async {
        caller.require_administrator("manage service templates")?;
        let template = template_of(&fields, fields.get("name"))?;
        let name = template.name.clone();
        app.run(move |sel| Ok(ccc::add_ccc_template(sel, template)?))
            .await?;
        Ok(format!("Template \"{name}\" added."))
    }
    .await;
    back("/templates", outcome)
}

async fn template_action(
    State(app): State<App>,
    PageCaller(caller): PageCaller,
    Path((name, action)): Path<(String, String)>,
    fields: Fields,
) -> Response {
    let mut to = "/templates".to_string();
    let outcome = async {
        caller.require_administrator("manage service templates")?;
        match action.as_str() {
            "copy" => {
                let copy = fields.get("name");
                let notice = format!("Template \"{name}\" copied to \"{copy}\".");
                app.run(move |sel| Ok(ccc::copy_ccc_template(sel, &name, &copy)?))
                    .await?;
                Ok(notice)
            }
            "edit" => {
                to = t::link("/templates", &name, None);
                let template = template_of(&fields, name.clone())?;
                app.run(move |sel| Ok(ccc::edit_ccc_template(sel, template)?))
                    .await?;
                Ok(format!("Template \"{name}\" saved."))
            }
            "delete" => {
                let notice = format!("Template \"{name}\" deleted.");
                app.run(move |sel| Ok(ccc::delete_ccc_template(sel, &name)?))
                    .await?;
                Ok(notice)
            }
            other => Err(ApiError::not_found(format!(
                "a template has no action \"{other}\""
            ))),
        }
    }
    .await;
    back(&to, outcome)
}

// ---------------------------------------------------------------- migrate

async fn migrate_page(
    app: &App,
    caller: &Caller,
    flash: &Flash,
    filled: &Filled,
    summary: Option<&str>,
    status: StatusCode,
) -> Response {
    let render = |l: &Loaded| {
        let user = &caller.user;
        t::migrate_page(user, flash, &l.migratable, &l.choices(), filled, summary)
    };
    let title = "Migrate Service";
    wizard_page(app, caller, title, "migrate services", true, status, render).await
}

async fn migrate_form(
    State(app): State<App>,
    PageCaller(caller): PageCaller,
    Query(flash): Query<Flash>,
) -> Response {
    migrate_page(&app, &caller, &flash, &Filled::new(), None, StatusCode::OK).await
}

async fn migrate(
    State(app): State<App>,
    PageCaller(caller): PageCaller,
    fields: Fields,
) -> Response {
    let check_only = fields.get("action") == "check";
    let request = async {
        caller.require_administrator("migrate services")?;
        // The wizard's New Service step requires an HSM model.
        let hsm_model = match fields.get("hsm_model").trim() {
            "" => {
                return Err(ApiError::bad_request(
                    "New Service: select the HSM model of the new service",
                ));
            }
            id => HsmModel::parse(id).map_err(ApiError::bad_request)?,
        };
        let body = MigrationBody {
            source_service: fields.get("source_service"),
            hsm_model: Some(hsm_model),
            name: fields.get("name"),
            description: fields.get("description"),
            organisation: fields.get("organisation"),
            partition_size: fields.get("partition_size").trim().parse().map_err(|_| {
                ApiError::bad_request("the partition size is a whole number of bytes")
            })?,
            targets: fields.all("targets"),
            partition_label: fields.get("partition_label"),
            cloning_domain: fields.optional("cloning_domain"),
            security_officer_challenge: fields.optional("security_officer_challenge"),
            crypto_officer_challenge: fields.get("crypto_officer_challenge"),
        };
        body.into_request()
    }
    .await;
    let outcome = match request {
        Err(e) => Err(e),
        Ok(request) if check_only => {
            let summary = format!(
                "Migrate \"{}\" to new service \"{}\" ({}) on {}: CCC accepts this migration.",
                request.source_service,
                request.name,
                request.hsm_model.map_or("any HSM model", HsmModel::name),
                request
                    .targets
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            match app
                .run(move |sel| Ok(ccc::check_ccc_migration(sel, &request)?))
                .await
            {
                Ok(()) => {
                    return migrate_page(
                        &app,
                        &caller,
                        &Flash::default(),
                        &fields.filled(),
                        Some(&summary),
                        StatusCode::OK,
                    )
                    .await;
                }
                Err(e) => Err(e),
            }
        }
        Ok(request) => start_migration(&app, request).await.map(|(_, run)| run),
    };
    match outcome {
        Ok(run) => Redirect::to(&format!("/migrations/{}", run.id)).into_response(),
        Err(e) => {
            let status = e.status;
            migrate_page(&app, &caller, &flash_of(e), &fields.filled(), None, status).await
        }
    }
}

async fn migrations(
    State(app): State<App>,
    PageCaller(caller): PageCaller,
    Query(flash): Query<Flash>,
) -> Response {
    let load = |sel: &LabSelection| Ok(ccc::ccc_migrations(sel)?);
    list_page(
        &app,
        &caller,
        &flash,
        Some("migrate services"),
        load,
        t::migrations_page,
    )
    .await
}

async fn migration(
    State(app): State<App>,
    PageCaller(caller): PageCaller,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Response {
    let user = caller.user.clone();
    let found = api::administer(&app, &caller, "migrate services", move |sel| {
        api::migration(sel, &id)
    })
    .await;
    match found {
        Ok(run) => page(StatusCode::OK, t::migration_page(&user, &flash, &run)),
        Err(e) => page(
            e.status,
            t::message_page("Migration", Some(&user), &flash_of(e)),
        ),
    }
}

// ---------------------------------------------------------------- devices

async fn devices(
    State(app): State<App>,
    PageCaller(caller): PageCaller,
    Query(flash): Query<Flash>,
) -> Response {
    let load = |sel: &LabSelection| Ok(ccc::ccc_devices(sel)?);
    list_page(
        &app,
        &caller,
        &flash,
        Some("manage devices"),
        load,
        t::devices_page,
    )
    .await
}

/// A list page: `load` on a blocking thread, then `render`. With `administered` (what is
/// refused) only for an Administrator: another role gets the page empty with the refusal (403).
async fn list_page<T: Send + 'static>(
    app: &App,
    caller: &Caller,
    flash: &Flash,
    administered: Option<&str>,
    load: impl FnOnce(&LabSelection) -> Result<Vec<T>, ApiError> + Send + 'static,
    render: impl Fn(&CccUserRecord, &Flash, &[T]) -> Markup,
) -> Response {
    let listed = match administered {
        Some(what) => api::administer(app, caller, what, load).await,
        None => app.run(load).await,
    };
    match listed {
        Ok(list) => page(StatusCode::OK, render(&caller.user, flash, &list)),
        Err(e) => page(e.status, render(&caller.user, &flash_of(e), &[])),
    }
}

async fn device_action(
    State(app): State<App>,
    PageCaller(caller): PageCaller,
    Path(action): Path<String>,
    fields: Fields,
) -> Response {
    let outcome = api::administer(&app, &caller, "manage devices", move |sel| {
        let device = DeviceId::new(fields.get("device"));
        Ok(match action.as_str() {
            "add" => {
                ccc::add_ccc_device(sel, &device)?;
                format!("Device \"{device}\" added: authorize it.")
            }
            "authorise" => {
                ccc::authorise_ccc_device(sel, &device, fields.get("password").as_bytes())?;
                format!("Device \"{device}\" authorised.")
            }
            "offline" => {
                let offline = fields.get("offline") == "true";
                ccc::set_ccc_device_offline(sel, &device, offline)?;
                format!(
                    "Device \"{device}\" marked {}.",
                    if offline { "offline" } else { "online" }
                )
            }
            "remove" => {
                ccc::remove_ccc_device(sel, &device)?;
                format!("Device \"{device}\" removed.")
            }
            other => {
                return Err(ApiError::not_found(format!(
                    "Devices has no action \"{other}\""
                )));
            }
        })
    })
    .await;
    back("/devices", outcome)
}
