//! The REST API under `/api/v1` (JSON), one route per CCC operation, each calling one
//! `hsmsim::estate::ccc` operation on a blocking thread. Every route but `login` and
//! `openapi.json` needs a session (401 without); the role rules are `app.rs`'s. The routes are
//! listed once (`api_routes!`), so the OpenAPI file can be checked against them
//! (`API_ROUTES`). Changes to one service hold its lock (`App::lock_service`).
use crate::app::{ApiError, App, BODY_LIMIT, Caller, SESSION_COOKIE};
use crate::migrations::start_migration;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use hsmsim::base::ids::{DeviceId, PartitionId};
use hsmsim::estate::LabSelection;
use hsmsim::estate::ccc::{self, CccServiceStatus, ImportRowEdit, MigrationRequest, NewService};
use hsmsim::estate::ccc::{ServiceEdit, ServiceInitialisation};
use hsmsim::lab::ccc::{CccService, CccTemplate};
use hsmsim::lab::schema::{CccBackupType, CccPerformance, CccRole, CccServiceType};
use hsmsim::models::ccc::HsmModel;
use hsmsim::models::luna;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A JSON request body: bad JSON 400, a body over `BODY_LIMIT` 413, each as an `ApiError`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        ApiError::bad_request(format!("bad JSON body: {}", rejection.body_text()))
    }
}

/// The 413 answer.
pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "CKR_DATA_LEN_RANGE",
        format!("the request body is larger than {BODY_LIMIT} bytes"),
    )
}

/// Path parameters, a bad one answered 400 as an `ApiError`.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| Params(v))
            .map_err(|e: PathRejection| ApiError::bad_request(e.body_text()))
    }
}

/// Lists the API's routes once: the router and `API_ROUTES` (method, path) come from it.
macro_rules! api_routes {
    ($($method:ident $path:literal => $handler:expr;)*) => {
        /// Every route of the API (method, path under `/api/v1`, OpenAPI's `{param}` form).
        pub const API_ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path),)*];

        /// The API's router (mounted at `/api/v1`).
        pub fn router() -> axum::Router<App> {
            axum::Router::new()$(.route($path, axum::routing::$method($handler)))*
        }
    };
}

api_routes! {
    get "/openapi.json" => openapi;
    post "/login" => login;
    post "/logout" => logout;
    get "/session" => session;
    put "/users/{user}/password" => set_password;
    delete "/users/{user}" => remove_user;
    get "/devices" => list_devices;
    post "/devices" => add_device;
    delete "/devices/{device}" => remove_device;
    post "/devices/{device}/authorise" => authorise_device;
    put "/devices/{device}/offline" => set_offline;
    get "/partitions" => list_partitions;
    get "/organisations" => list_organisations;
    post "/organisations" => add_organisation;
    delete "/organisations/{organisation}" => remove_organisation;
    post "/organisations/{organisation}/users" => add_user;
    get "/templates" => list_templates;
    post "/templates" => add_template;
    get "/templates/{template}" => show_template;
    put "/templates/{template}" => edit_template;
    delete "/templates/{template}" => delete_template;
    post "/templates/{template}/copy" => copy_template;
    get "/services" => list_services;
    post "/services" => create_service;
    get "/services/{service}" => show_service;
    patch "/services/{service}" => edit_service;
    delete "/services/{service}" => delete_service;
    post "/services/{service}/detach" => detach_service;
    post "/services/{service}/initialise" => initialise_service;
    post "/services/{service}/activate" => activate_service;
    post "/services/{service}/partitions" => add_partition;
    post "/services/{service}/partitions/initialise" => initialise_partitions;
    delete "/services/{service}/partitions/{device}/{partition}" => remove_partition;
    put "/services/{service}/size" => resize_service;
    get "/services/{service}/keys" => service_keys;
    get "/services/{service}/clients" => service_clients;
    post "/services/{service}/clients" => register_client;
    post "/services/{service}/synchronise" => synchronise_service;
    get "/import" => import_table;
    post "/import/discover" => discover;
    patch "/import/rows/{device}/{partition}" => edit_import_row;
    delete "/import/rows/{device}/{partition}" => delete_import_row;
    post "/import/finish" => finish_import;
    post "/import/cancel" => cancel_import;
    get "/migratable-services" => migratable_services;
    get "/migrations" => list_migrations;
    post "/migrations" => start_migration_route;
    post "/migrations/check" => check_migration;
    get "/migrations/{id}" => show_migration;
}

type Answer = Result<Response, ApiError>;

/// Runs `work` when `caller` is an Administrator (403 otherwise, naming `what`).
pub async fn administer<T: Send + 'static>(
    app: &App,
    caller: &Caller,
    what: &str,
    work: impl FnOnce(&LabSelection) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    caller.require_administrator(what)?;
    app.run(work).await
}

fn ok<T: Serialize>(value: T) -> Answer {
    Ok(Json(value).into_response())
}

fn created<T: Serialize>(value: T) -> Answer {
    Ok((StatusCode::CREATED, Json(value)).into_response())
}

fn no_content() -> Answer {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// "device/partition" as a `PartitionId` (400 otherwise).
pub fn partition_id(text: &str) -> Result<PartitionId, ApiError> {
    text.parse::<PartitionId>().map_err(ApiError::bad_request)
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::OPENAPI).into_response()
}

// ---------------------------------------------------------------- session

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    user: String,
    password: String,
}

/// The session cookie's `Set-Cookie` value (the console's; the API uses the bearer token).
pub fn session_cookie(token: &str) -> String {
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict")
}

async fn login(State(app): State<App>, JsonBody(body): JsonBody<LoginBody>) -> Answer {
    let (token, user) = app.log_in(body.user, body.password).await?;
    Ok((
        [(header::SET_COOKIE, session_cookie(&token))],
        Json(json!({ "token": token, "user": user })),
    )
        .into_response())
}

async fn logout(State(app): State<App>, caller: Caller) -> Answer {
    app.log_out(&caller.token);
    no_content()
}

async fn session(caller: Caller) -> Answer {
    ok(caller.user)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: String,
    /// The user's own password, when changing one's own (an Administrator setting another
    /// user's needs none).
    current_password: Option<String>,
}

async fn set_password(
    State(app): State<App>,
    caller: Caller,
    Params(user): Params<String>,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Answer {
    let own = caller.user.name == user;
    if !own {
        caller.require_administrator("set another user's password")?;
    }
    app.run(move |sel| {
        if own {
            let current = body.current_password.unwrap_or_default();
            ccc::check_ccc_user_password(sel, &user, &current).map_err(|_| {
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "CKR_PIN_INCORRECT",
                    "current_password is not your password",
                )
            })?;
        }
        Ok(ccc::set_ccc_user_password(sel, &user, &body.password)?)
    })
    .await?;
    no_content()
}

async fn remove_user(
    State(app): State<App>,
    caller: Caller,
    Params(user): Params<String>,
) -> Answer {
    administer(&app, &caller, "remove users", move |sel| {
        Ok(ccc::remove_ccc_user(sel, &user)?)
    })
    .await?;
    no_content()
}

// ---------------------------------------------------------------- devices

fn device_record(sel: &LabSelection, device: &DeviceId) -> Result<ccc::CccDevice, ApiError> {
    ccc::ccc_devices(sel)?
        .into_iter()
        .find(|d| &d.device == device)
        .ok_or_else(|| ApiError::not_found(format!("device \"{device}\" is not added to CCC")))
}

async fn list_devices(State(app): State<App>, caller: Caller) -> Answer {
    ok(administer(&app, &caller, "manage devices", |sel| {
        Ok(ccc::ccc_devices(sel)?)
    })
    .await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceBody {
    device: String,
}

async fn add_device(
    State(app): State<App>,
    caller: Caller,
    JsonBody(body): JsonBody<DeviceBody>,
) -> Answer {
    let device = DeviceId::new(body.device);
    created(
        administer(&app, &caller, "manage devices", move |sel| {
            ccc::add_ccc_device(sel, &device)?;
            device_record(sel, &device)
        })
        .await?,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthoriseBody {
    /// The device's HSM SO password.
    password: String,
}

async fn authorise_device(
    State(app): State<App>,
    caller: Caller,
    Params(device): Params<String>,
    JsonBody(body): JsonBody<AuthoriseBody>,
) -> Answer {
    let device = DeviceId::new(device);
    ok(administer(&app, &caller, "manage devices", move |sel| {
        ccc::authorise_ccc_device(sel, &device, body.password.as_bytes())?;
        device_record(sel, &device)
    })
    .await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OfflineBody {
    offline: bool,
}

async fn set_offline(
    State(app): State<App>,
    caller: Caller,
    Params(device): Params<String>,
    JsonBody(body): JsonBody<OfflineBody>,
) -> Answer {
    let device = DeviceId::new(device);
    ok(administer(&app, &caller, "manage devices", move |sel| {
        ccc::set_ccc_device_offline(sel, &device, body.offline)?;
        device_record(sel, &device)
    })
    .await?)
}

async fn remove_device(
    State(app): State<App>,
    caller: Caller,
    Params(device): Params<String>,
) -> Answer {
    let device = DeviceId::new(device);
    administer(&app, &caller, "manage devices", move |sel| {
        Ok(ccc::remove_ccc_device(sel, &device)?)
    })
    .await?;
    no_content()
}

/// A partition of a Luna Network HSM of the lab, for the wizards' device choices.
#[derive(Debug, Clone, Serialize)]
pub struct LabPartition {
    pub partition: String,
    /// Its device is added to CCC and authorised.
    pub authorised: bool,
}

/// The partitions of the lab's devices added to CCC (the lab file's; whether each is blank
/// is the estate's to judge when it is used).
pub fn lab_partitions(sel: &LabSelection) -> Result<Vec<LabPartition>, ApiError> {
    let devices = ccc::ccc_devices(sel)?;
    let mut out = Vec::new();
    for device in &sel.lab.file.devices {
        let name = device.name.get_ref();
        let Some(added) = devices.iter().find(|d| d.device.as_str() == name) else {
            continue;
        };
        for partition in &device.partitions {
            out.push(LabPartition {
                partition: format!("{name}/{}", partition.name.get_ref()),
                authorised: added.authorised,
            });
        }
    }
    Ok(out)
}

async fn list_partitions(State(app): State<App>, caller: Caller) -> Answer {
    ok(administer(&app, &caller, "manage devices", lab_partitions).await?)
}

// ---------------------------------------------------------------- organisations

async fn list_organisations(State(app): State<App>, caller: Caller) -> Answer {
    let organisations = app.run(|sel| Ok(ccc::ccc_organisations(sel)?)).await?;
    ok(organisations
        .into_iter()
        .filter(|o| caller.is_administrator() || o.name == caller.user.organisation)
        .collect::<Vec<_>>())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganisationBody {
    name: String,
    #[serde(default)]
    description: String,
}

async fn add_organisation(
    State(app): State<App>,
    caller: Caller,
    JsonBody(body): JsonBody<OrganisationBody>,
) -> Answer {
    created(
        administer(&app, &caller, "manage organisations", move |sel| {
            ccc::add_ccc_organisation(sel, &body.name, &body.description)?;
            Ok(ccc::ccc_organisations(sel)?
                .into_iter()
                .find(|o| o.name == body.name))
        })
        .await?,
    )
}

async fn remove_organisation(
    State(app): State<App>,
    caller: Caller,
    Params(name): Params<String>,
) -> Answer {
    administer(&app, &caller, "manage organisations", move |sel| {
        Ok(ccc::remove_ccc_organisation(sel, &name)?)
    })
    .await?;
    no_content()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    name: String,
    role: CccRole,
}

async fn add_user(
    State(app): State<App>,
    caller: Caller,
    Params(organisation): Params<String>,
    JsonBody(body): JsonBody<UserBody>,
) -> Answer {
    created(
        administer(&app, &caller, "manage users", move |sel| {
            ccc::add_ccc_user(sel, &organisation, &body.name, body.role)?;
            Ok(ccc::ccc_user(sel, &body.name)?)
        })
        .await?,
    )
}

// ---------------------------------------------------------------- templates

/// A template as the API takes it: the lab's defaults for what is left out (description
/// empty, no performance, Per-Partition SO on, Scalable Key Storage and STC off).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    pub service_type: CccServiceType,
    pub authentication: luna::Auth,
    #[serde(default)]
    pub performance: Option<CccPerformance>,
    pub partition_size: u64,
    #[serde(default = "yes")]
    pub per_partition_so: bool,
    #[serde(default)]
    pub scalable_key_storage: bool,
    #[serde(default)]
    pub secure_trusted_channel: bool,
    #[serde(default)]
    pub backup_type: CccBackupType,
}

fn yes() -> bool {
    true
}

impl TemplateBody {
    pub fn into_template(self, name: String) -> CccTemplate {
        CccTemplate {
            name,
            description: self.description,
            service_type: self.service_type,
            authentication: self.authentication,
            performance: self.performance,
            partition_size: self.partition_size,
            per_partition_so: self.per_partition_so,
            scalable_key_storage: self.scalable_key_storage,
            secure_trusted_channel: self.secure_trusted_channel,
            backup_type: self.backup_type,
        }
    }
}

async fn list_templates(State(app): State<App>, _caller: Caller) -> Answer {
    ok(app.run(|sel| Ok(ccc::ccc_templates(sel)?)).await?)
}

async fn show_template(
    State(app): State<App>,
    _caller: Caller,
    Params(name): Params<String>,
) -> Answer {
    ok(app
        .run(move |sel| Ok(ccc::ccc_template(sel, &name)?))
        .await?)
}

async fn add_template(
    State(app): State<App>,
    caller: Caller,
    JsonBody(body): JsonBody<TemplateBody>,
) -> Answer {
    caller.require_administrator("manage service templates")?;
    let name = body
        .name
        .clone()
        .ok_or_else(|| ApiError::bad_request("a template has a \"name\""))?;
    let template = body.into_template(name.clone());
    created(
        app.run(move |sel| {
            ccc::add_ccc_template(sel, template)?;
            Ok(ccc::ccc_template(sel, &name)?)
        })
        .await?,
    )
}

async fn edit_template(
    State(app): State<App>,
    caller: Caller,
    Params(name): Params<String>,
    JsonBody(body): JsonBody<TemplateBody>,
) -> Answer {
    caller.require_administrator("manage service templates")?;
    if body.name.as_ref().is_some_and(|n| n != &name) {
        return Err(ApiError::bad_request(
            "a template keeps its name: copy it to give it another",
        ));
    }
    let template = body.into_template(name.clone());
    ok(app
        .run(move |sel| {
            ccc::edit_ccc_template(sel, template)?;
            Ok(ccc::ccc_template(sel, &name)?)
        })
        .await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CopyBody {
    name: String,
}

async fn copy_template(
    State(app): State<App>,
    caller: Caller,
    Params(from): Params<String>,
    JsonBody(body): JsonBody<CopyBody>,
) -> Answer {
    created(
        administer(&app, &caller, "manage service templates", move |sel| {
            ccc::copy_ccc_template(sel, &from, &body.name)?;
            Ok(ccc::ccc_template(sel, &body.name)?)
        })
        .await?,
    )
}

async fn delete_template(
    State(app): State<App>,
    caller: Caller,
    Params(name): Params<String>,
) -> Answer {
    administer(&app, &caller, "manage service templates", move |sel| {
        Ok(ccc::delete_ccc_template(sel, &name)?)
    })
    .await?;
    no_content()
}

// ---------------------------------------------------------------- services

/// A service with what CCC knows of its status.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    #[serde(flatten)]
    pub service: CccService,
    pub status: CccServiceStatus,
}

/// The services `caller` sees, with their statuses.
pub fn visible_services(sel: &LabSelection, caller: &Caller) -> Result<Vec<ServiceView>, ApiError> {
    let state = ccc::ccc_state(sel)?;
    Ok(state
        .ccc
        .services
        .iter()
        .filter(|s| caller.sees(s))
        .map(|s| ServiceView {
            service: s.clone(),
            status: state.statuses.get(&s.name).cloned().unwrap_or_default(),
        })
        .collect())
}

/// Service `name` with its status, when `caller` sees it.
pub fn service_view(
    sel: &LabSelection,
    caller: &Caller,
    name: &str,
) -> Result<ServiceView, ApiError> {
    let service = caller.service(sel, name)?;
    let status = ccc::ccc_service_status(sel, name)?;
    Ok(ServiceView { service, status })
}

async fn list_services(State(app): State<App>, caller: Caller) -> Answer {
    ok(app.run(move |sel| visible_services(sel, &caller)).await?)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewServiceBody {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub template: String,
    pub organisation: String,
    /// "device/partition", one per device; an HA service's first is its primary.
    pub partitions: Vec<String>,
}

impl NewServiceBody {
    pub fn into_new_service(self) -> Result<NewService, ApiError> {
        Ok(NewService {
            name: self.name,
            description: self.description,
            template: self.template,
            organisation: self.organisation,
            partitions: self
                .partitions
                .iter()
                .map(|p| partition_id(p))
                .collect::<Result<_, _>>()?,
        })
    }
}

async fn create_service(
    State(app): State<App>,
    caller: Caller,
    JsonBody(body): JsonBody<NewServiceBody>,
) -> Answer {
    caller.require_administrator("create services")?;
    let new = body.into_new_service()?;
    let _lock = app.lock_service(&new.name).await;
    created(
        app.run(move |sel| {
            let service = ccc::create_ccc_service(sel, new)?;
            service_view(sel, &caller, &service.name)
        })
        .await?,
    )
}

async fn show_service(
    State(app): State<App>,
    caller: Caller,
    Params(name): Params<String>,
) -> Answer {
    ok(app
        .run(move |sel| service_view(sel, &caller, &name))
        .await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditServiceBody {
    name: Option<String>,
    description: Option<String>,
    organisation: Option<String>,
}

async fn edit_service(
    State(app): State<App>,
    caller: Caller,
    Params(name): Params<String>,
    JsonBody(body): JsonBody<EditServiceBody>,
) -> Answer {
    caller.require_administrator("edit services")?;
    let _lock = app.lock_service(&name).await;
    ok(app
        .run(move |sel| {
            let edit = ServiceEdit {
                name: body.name,
                description: body.description,
                organisation: body.organisation,
            };
            let service = ccc::edit_ccc_service(sel, &name, edit)?;
            service_view(sel, &caller, &service.name)
        })
        .await?)
}

/// Runs `work` on service `name` under its lock, once `caller` is seen to see it.
async fn on_service<T: Send + 'static>(
    app: &App,
    caller: Caller,
    name: String,
    work: impl FnOnce(&LabSelection, &str) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let _lock = app.lock_service(&name).await;
    app.run(move |sel| {
        caller.service(sel, &name)?;
        work(sel, &name)
    })
    .await
}

async fn delete_service(
    State(app): State<App>,
    caller: Caller,
    Params(name): Params<String>,
) -> Answer {
    ok(on_service(&app, caller, name, |sel, name| {
        Ok(ccc::delete_ccc_service(sel, name)?)
    })
    .await?)
}

async fn detach_service(
    State(app): State<App>,
    caller: Caller,
    Params(name): Params<String>,
) -> Answer {
    ok(on_service(&app, caller, name, |sel, name| {
        Ok(ccc::detach_ccc_service(sel, name)?)
    })
    .await?)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitialiseBody {
    pub partition_label: String,
    #[serde(default)]
    pub cloning_domain: String,
    pub partition_so_password: Option<String>,
    pub crypto_officer_password: String,
    pub crypto_user_password: Option<String>,
}

impl From<InitialiseBody> for ServiceInitialisation {
    fn from(b: InitialiseBody) -> ServiceInitialisation {
        ServiceInitialisation {
            partition_label: b.partition_label,
            cloning_domain: b.cloning_domain,
            partition_so_password: b.partition_so_password,
            crypto_officer_password: b.crypto_officer_password,
            crypto_user_password: b.crypto_user_password,
        }
    }
}

async fn initialise_service(
    State(app): State<App>,
    caller: Caller,
    Params(name): Params<String>,
    JsonBody(body): JsonBody<InitialiseBody>,
) -> Answer {
    ok(on_service(&app, caller, name, move |sel, name| {
        Ok(ccc::initialise_ccc_service(sel, name, body.into())?)
    })
    .await?)
}

/// The crypto officer's credential that activation and synchronisation take.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivateBody {
    crypto_officer_password: String,
}

async fn activate_service(
    State(app): State<App>,
    caller: Caller,
    Params(name): Params<String>,
    JsonBody(body): JsonBody<ActivateBody>,
) -> Answer {
    ok(on_service(&app, caller, name, move |sel, name| {
        Ok(ccc::activate_ccc_service(
            sel,
            name,
            &body.crypto_officer_password,
        )?)
    })
    .await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartitionBody {
    partition: String,
}

async fn add_partition(
    State(app): State<App>,
    caller: Caller,
    Params(name): Params<String>,
    JsonBody(body): JsonBody<PartitionBody>,
) -> Answer {
    caller.require_administrator("add partitions to a service")?;
    let partition = partition_id(&body.partition)?;
    let view_caller = caller.clone();
    ok(on_service(&app, caller, name, move |sel, name| {
        ccc::add_ccc_service_partition(sel, name, &partition)?;
        service_view(sel, &view_caller, name)
    })
    .await?)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitialisePartitionsBody {
    pub cloning_domain: String,
    pub crypto_officer_password: String,
    pub crypto_user_password: Option<String>,
}

async fn initialise_partitions(
    State(app): State<App>,
    caller: Caller,
    Params(name): Params<String>,
    JsonBody(body): JsonBody<InitialisePartitionsBody>,
) -> Answer {
    ok(on_service(&app, caller, name, move |sel, name| {
        Ok(ccc::initialise_ccc_added_partitions(
            sel,
            name,
            &body.cloning_domain,
            &body.crypto_officer_password,
            body.crypto_user_password.as_deref(),
        )?)
    })
    .await?)
}

async fn remove_partition(
    State(app): State<App>,
    caller: Caller,
    Params((name, device, partition)): Params<(String, String, String)>,
) -> Answer {
    caller.require_administrator("remove partitions from a service")?;
    let partition = DeviceId::new(device).partition(partition);
    let view_caller = caller.clone();
    ok(on_service(&app, caller, name, move |sel, name| {
        ccc::remove_ccc_service_partition(sel, name, &partition)?;
        service_view(sel, &view_caller, name)
    })
    .await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SizeBody {
    /// Bytes: a whole number 1000..99999999 (a JSON number or the text as typed).
    size: Value,
}

async fn resize_service(
    State(app): State<App>,
    caller: Caller,
    Params(name): Params<String>,
    JsonBody(body): JsonBody<SizeBody>,
) -> Answer {
    caller.require_administrator("change a service's partition size")?;
    let size = match body.size {
        Value::String(text) => text,
        Value::Number(n) => n.to_string(),
        other => {
            return Err(ApiError::bad_request(format!(
                "\"size\" is a number of bytes, not {other}"
            )));
        }
    };
    ok(on_service(&app, caller, name, move |sel, name| {
        Ok(ccc::resize_ccc_service(sel, name, &size)?)
    })
    .await?)
}

async fn service_keys(
    State(app): State<App>,
    caller: Caller,
    Params(name): Params<String>,
) -> Answer {
    ok(app
        .run(move |sel| {
            caller.service(sel, &name)?;
            Ok(ccc::ccc_service_keys(sel, &name)?)
        })
        .await?)
}

async fn service_clients(
    State(app): State<App>,
    caller: Caller,
    Params(name): Params<String>,
) -> Answer {
    ok(app
        .run(move |sel| Ok(service_view(sel, &caller, &name)?.status.clients))
        .await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientBody {
    host: String,
    /// The crypto officer's credential: synchronises a service out of sync first.
    #[serde(default)]
    crypto_officer_password: Option<String>,
}

async fn register_client(
    State(app): State<App>,
    caller: Caller,
    Params(name): Params<String>,
    JsonBody(body): JsonBody<ClientBody>,
) -> Answer {
    ok(on_service(&app, caller, name, move |sel, name| {
        Ok(ccc::register_ccc_client(
            sel,
            name,
            &body.host,
            body.crypto_officer_password.as_deref(),
        )?)
    })
    .await?)
}

async fn synchronise_service(
    State(app): State<App>,
    caller: Caller,
    Params(name): Params<String>,
    JsonBody(body): JsonBody<ActivateBody>,
) -> Answer {
    caller.require_administrator("synchronise services")?;
    on_service(&app, caller, name, move |sel, name| {
        Ok(ccc::synchronise_ccc_service(
            sel,
            name,
            &body.crypto_officer_password,
        )?)
    })
    .await?;
    no_content()
}

// ---------------------------------------------------------------- import

async fn import_table(State(app): State<App>, caller: Caller) -> Answer {
    ok(administer(&app, &caller, "import partitions", |sel| {
        Ok(ccc::ccc_import_table(sel)?)
    })
    .await?)
}

async fn discover(State(app): State<App>, caller: Caller) -> Answer {
    ok(administer(&app, &caller, "import partitions", |sel| {
        Ok(ccc::discover_ccc_partitions(sel)?)
    })
    .await?)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRowBody {
    pub ha_group: Option<String>,
    pub service_name: Option<String>,
    pub description: Option<String>,
    pub organisation: Option<String>,
}

impl From<ImportRowBody> for ImportRowEdit {
    fn from(b: ImportRowBody) -> ImportRowEdit {
        ImportRowEdit {
            ha_group: b.ha_group,
            service_name: b.service_name,
            description: b.description,
            organisation: b.organisation,
        }
    }
}

async fn edit_import_row(
    State(app): State<App>,
    caller: Caller,
    Params((device, partition)): Params<(String, String)>,
    JsonBody(body): JsonBody<ImportRowBody>,
) -> Answer {
    let partition = DeviceId::new(device).partition(partition);
    ok(administer(&app, &caller, "import partitions", move |sel| {
        Ok(ccc::edit_ccc_import_row(sel, &partition, body.into())?)
    })
    .await?)
}

async fn delete_import_row(
    State(app): State<App>,
    caller: Caller,
    Params((device, partition)): Params<(String, String)>,
) -> Answer {
    let partition = DeviceId::new(device).partition(partition);
    ok(administer(&app, &caller, "import partitions", move |sel| {
        Ok(ccc::delete_ccc_import_row(sel, &partition)?)
    })
    .await?)
}

async fn finish_import(State(app): State<App>, caller: Caller) -> Answer {
    ok(administer(&app, &caller, "import partitions", |sel| {
        Ok(ccc::finish_ccc_import(sel)?)
    })
    .await?)
}

async fn cancel_import(State(app): State<App>, caller: Caller) -> Answer {
    administer(&app, &caller, "import partitions", |sel| {
        Ok(ccc::cancel_ccc_import(sel)?)
    })
    .await?;
    no_content()
}

// ---------------------------------------------------------------- migrations

/// The Migrate Service wizard's answers as the API takes them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationBody {
    pub source_service: String,
    /// The New Service step's HSM model (`network-hsm-6`, `network-hsm-7`,
    /// `network-hsm-7-770`); left out, the targets' model is not checked.
    #[serde(default)]
    pub hsm_model: Option<HsmModel>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub organisation: String,
    pub partition_size: u64,
    /// "device/partition": a blank partition on each target device.
    pub targets: Vec<String>,
    pub partition_label: String,
    pub cloning_domain: Option<String>,
    pub security_officer_challenge: Option<String>,
    pub crypto_officer_challenge: String,
}

impl MigrationBody {
    pub fn into_request(self) -> Result<MigrationRequest, ApiError> {
        Ok(MigrationRequest {
            source_service: self.source_service,
            hsm_model: self.hsm_model,
            name: self.name,
            description: self.description,
            organisation: self.organisation,
            partition_size: self.partition_size,
            targets: self
                .targets
                .iter()
                .map(|t| partition_id(t))
                .collect::<Result<_, _>>()?,
            partition_label: self.partition_label,
            cloning_domain: self.cloning_domain,
            security_officer_challenge: self.security_officer_challenge,
            crypto_officer_challenge: self.crypto_officer_challenge,
        })
    }
}

async fn migratable_services(State(app): State<App>, caller: Caller) -> Answer {
    ok(administer(&app, &caller, "migrate services", |sel| {
        Ok(ccc::ccc_migratable_services(sel)?)
    })
    .await?)
}

async fn check_migration(
    State(app): State<App>,
    caller: Caller,
    JsonBody(body): JsonBody<MigrationBody>,
) -> Answer {
    let request = body.into_request()?;
    administer(&app, &caller, "migrate services", move |sel| {
        Ok(ccc::check_ccc_migration(sel, &request)?)
    })
    .await?;
    ok(json!({ "ok": true }))
}

async fn start_migration_route(
    State(app): State<App>,
    caller: Caller,
    JsonBody(body): JsonBody<MigrationBody>,
) -> Answer {
    caller.require_administrator("migrate services")?;
    let request = body.into_request()?;
    let (finished, migration) = start_migration(&app, request).await?;
    let status = if finished {
        StatusCode::CREATED
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        status,
        [(
            header::LOCATION,
            format!("/api/v1/migrations/{}", migration.id),
        )],
        Json(migration),
    )
        .into_response())
}

async fn list_migrations(State(app): State<App>, caller: Caller) -> Answer {
    ok(administer(&app, &caller, "migrate services", |sel| {
        Ok(ccc::ccc_migrations(sel)?)
    })
    .await?)
}

/// Migration `id` (404 for an unknown or malformed id).
pub fn migration(sel: &LabSelection, id: &str) -> Result<ccc::CccMigration, ApiError> {
    let unknown = || ApiError::not_found(format!("CCC has no migration \"{id}\""));
    let number: u64 = id.parse().map_err(|_| unknown())?;
    ccc::ccc_migrations(sel)?
        .into_iter()
        .find(|m| m.id == number)
        .ok_or_else(unknown)
}

async fn show_migration(
    State(app): State<App>,
    caller: Caller,
    Params(id): Params<String>,
) -> Answer {
    ok(administer(&app, &caller, "migrate services", move |sel| {
        migration(sel, &id)
    })
    .await?)
}
