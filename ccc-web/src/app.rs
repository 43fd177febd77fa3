//! The server's shared state and the rules every request goes through: the lab selection, the
//! login sessions (random bearer tokens, also carried by the console's cookie), the per-service
//! locks, running estate work on a blocking thread, the role rules, and the errors a request
//! answers with (`ApiError`: JSON `{ "error": "CKR_NAME", "message": "sentence" }`).
//!
//! Role rules (simulator-defined from seed 004, whose guide has the Administrator manage CCC and
//! the Application Owner deploy and initialise its organisation's services): an Administrator
//! may do everything; an Application Owner sees only its organisation's services (another
//! organisation's service answers as unknown, 404) and its own organisation, reads the
//! templates, and on its organisation's services may initialise ("Uninitialized services can
//! be initialized by ... an Application Owner that is a member of the organization that owns
//! the service"), activate, initialise added partitions ("as a CCC administrator or an
//! application owner"), list keys and clients, deploy to a client, detach and delete
//! ("Services are normally deleted by the Application Owner"); everything else (devices,
//! organisations and users, templates, creating, editing, adding or removing partitions,
//! resizing, synchronising, import, Migrate Service) answers 403.
use axum::extract::FromRequestParts;
use axum::http::{StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use hsmsim::base::error::{Error as EstateError, rv_name};
use hsmsim::estate::LabSelection;
use hsmsim::estate::ccc::{self, CccUserRecord};
use hsmsim::lab::ccc::CccService;
use hsmsim::lab::schema::CccRole;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The largest request body accepted (413 above it): simulator-defined, far above any CCC form.
pub const BODY_LIMIT: usize = 64 * 1024;
/// The cookie the console keeps its session token in.
pub const SESSION_COOKIE: &str = "ccc_session";
/// How long an unused session lasts (simulator-defined); sessions also end at logout and
/// when the server stops (they are kept in memory only).
pub const SESSION_IDLE: std::time::Duration = std::time::Duration::from_secs(8 * 60 * 60);

/// What every handler shares.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    selection: Arc<LabSelection>,
    /// Session token -> user name and last use. A session's user is looked up again on each
    /// request, so a removed user's session ends and a changed role takes effect at once.
    sessions: Mutex<HashMap<String, (String, Instant)>>,
    /// Service name -> the lock that serialises the requests changing it.
    service_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// An error answer: status, `CKR_*` name and a sentence.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "CKR_ARGUMENTS_BAD", message)
    }

    pub fn not_logged_in() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "CKR_USER_NOT_LOGGED_IN",
            "log in as a CCC user first (POST /api/v1/login)",
        )
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "CKR_ARGUMENTS_BAD", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "CKR_GENERAL_ERROR",
            message,
        )
    }
}

/// How the estate's answers map to HTTP: `CKR_ARGUMENTS_BAD` (a name CCC does not know) 404,
/// `CKR_PIN_LEN_RANGE` 400, `CKR_DEVICE_ERROR` / `CKR_GENERAL_ERROR` (a damaged store) 500,
/// every other refusal (`CKR_FUNCTION_FAILED` for a CCC rule, a device's answer such as
/// `CKR_PIN_INCORRECT`) 409.
impl From<EstateError> for ApiError {
    fn from(e: EstateError) -> ApiError {
        let name = rv_name(e.rv);
        let status = match name {
            "CKR_ARGUMENTS_BAD" => StatusCode::NOT_FOUND,
            "CKR_PIN_LEN_RANGE" => StatusCode::BAD_REQUEST,
            "CKR_DEVICE_ERROR" | "CKR_GENERAL_ERROR" | "CKR_HOST_MEMORY" => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::CONFLICT,
        };
        let message = if e.detail.is_empty() {
            name.to_string()
        } else {
            e.detail.to_string()
        };
        ApiError::new(status, name, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.error, "message": self.message });
        (self.status, axum::Json(body)).into_response()
    }
}

impl App {
    pub fn new(selection: LabSelection) -> App {
        App {
            inner: Arc::new(Inner {
                selection: Arc::new(selection),
                sessions: Mutex::new(HashMap::new()),
                service_locks: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn selection(&self) -> &LabSelection {
        &self.inner.selection
    }

    /// Runs estate work on a blocking thread (the store's transactions and KDFs block).
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&LabSelection) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let selection = self.inner.selection.clone();
        tokio::task::spawn_blocking(move || work(&selection))
            .await
            .map_err(|e| ApiError::internal(format!("the CCC operation stopped: {e}")))?
    }

    /// The lock serialising the requests that change service `name` (held until dropped).
    pub async fn lock_service(&self, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .inner
                .service_locks
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            locks.entry(name.to_string()).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// Logs a user in: a new random session token.
    pub async fn log_in(
        &self,
        user: String,
        password: String,
    ) -> Result<(String, CccUserRecord), ApiError> {
        let record = self
            .run(move |sel| {
                ccc::check_ccc_user_password(sel, &user, &password).map_err(|e| {
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        rv_name(e.rv),
                        e.detail.to_string(),
                    )
                })
            })
            .await?;
        let mut bytes = [0u8; 32];
        hsmsim::base::random::random_fill(&mut bytes)?;
        let token = hex::encode(bytes);
        self.sessions()
            .insert(token.clone(), (record.name.clone(), Instant::now()));
        Ok((token, record))
    }

    pub fn log_out(&self, token: &str) {
        self.sessions().remove(token);
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The caller of a request carrying `token`, as CCC knows the user now.
    pub async fn caller(&self, token: Option<String>) -> Result<Caller, ApiError> {
        let token = token.ok_or_else(ApiError::not_logged_in)?;
        let name = {
            let mut sessions = self.sessions();
            let now = Instant::now();
            sessions.retain(|_, (_, used)| now.duration_since(*used) < SESSION_IDLE);
            let (name, used) = sessions
                .get_mut(&token)
                .ok_or_else(ApiError::not_logged_in)?;
            *used = now;
            name.clone()
        };
        let user = self
            .run(move |sel| ccc::ccc_user(sel, &name).map_err(|_| ApiError::not_logged_in()))
            .await?;
        Ok(Caller { token, user })
    }
}

/// The session token of a request: `Authorization: Bearer <token>`, else the console's cookie.
pub fn request_token(parts: &Parts) -> Option<String> {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    bearer.or_else(|| {
        parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == SESSION_COOKIE)
            .map(|(_, value)| value.to_string())
    })
}

/// A logged-in CCC user making a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: String,
    pub user: CccUserRecord,
}

impl Caller {
    pub fn is_administrator(&self) -> bool {
        self.user.role == CccRole::Administrator
    }

    /// 403 unless the caller is an Administrator; `what` says what was refused.
    pub fn require_administrator(&self, what: &str) -> Result<(), ApiError> {
        if self.is_administrator() {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "CKR_ACTION_PROHIBITED",
                format!(
                    "user \"{}\" is an Application Owner: only a CCC Administrator can {what}",
                    self.user.name
                ),
            ))
        }
    }

    /// Whether the caller sees `service` (an Application Owner: its organisation's only).
    pub fn sees(&self, service: &CccService) -> bool {
        self.is_administrator() || service.organisation == self.user.organisation
    }

    /// Service `name` when the caller sees it; 404 as for an unknown one otherwise.
    pub fn service(&self, selection: &LabSelection, name: &str) -> Result<CccService, ApiError> {
        let state = ccc::ccc_state(selection)?;
        let service = state.service(name)?;
        if self.sees(service) {
            Ok(service.clone())
        } else {
            Err(ApiError::not_found(format!(
                "CCC has no service \"{name}\""
            )))
        }
    }
}

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Caller, ApiError> {
        app.caller(request_token(parts)).await
    }
}
