//! The simulated Crypto Command Center (seed 004) served over HTTP (`hsmsim ccc serve`): a
//! REST API under `/api/v1` (JSON, `api.rs`, documented by `openapi.json`) and a web console
//! with CCC's pages (`pages.rs`, `templates.rs`), both over `hsmsim::estate::ccc` and nothing
//! else of the estate. Every request but logging in needs a CCC user's session (`app.rs`: the
//! sessions, role rules, per-service locks and error answers); Migrate Service runs in the
//! background (`migrations.rs`). The server listens on loopback unless told otherwise; bodies
//! over `app::BODY_LIMIT` are refused (413); a panic in a handler answers 500 and the server
//! goes on.
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hsmsim::estate::LabSelection;
use hsmsim::estate::ccc::{self, CccMigration};
use std::net::SocketAddr;

mod api;
mod app;
mod migrations;
mod pages;
mod templates;

pub use api::API_ROUTES;
pub use app::{BODY_LIMIT, SESSION_COOKIE};

/// The address `hsmsim ccc serve` listens on unless told otherwise (loopback).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8181";

/// The OpenAPI 3 description of the REST API (served at `/api/v1/openapi.json`).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
}

/// Serves the lab's CCC until interrupted (Ctrl-C / SIGTERM). `Err`: a sentence (the address
/// cannot be bound, the lab's store cannot be opened, ...). The migrations a stopped server
/// left running are recovered first, each reported on standard error.
pub fn serve(selection: LabSelection, options: ServeOptions) -> Result<(), String> {
    let server = start(selection, options)?;
    for run in server.recovered() {
        eprintln!(
            "hsmsim ccc serve: migration {} of \"{}\" to \"{}\" was interrupted: now {:?}{}",
            run.id,
            run.source_service,
            run.new_service,
            run.state,
            run.error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
    }
    eprintln!(
        "hsmsim ccc serve: the Crypto Command Center of lab \"{}\" at http://{}/ (API: /api/v1); Ctrl-C stops it",
        server.lab_name,
        server.local_addr()
    );
    let waited = match &server.runtime {
        Some(runtime) => runtime.block_on(interrupted()),
        None => Ok(()),
    };
    waited.map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
    server.stop()
}

/// Ctrl-C, or SIGTERM on Unix.
async fn interrupted() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

/// How long a stopping server waits for background work (a migration) before it goes.
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// A server running on its own threads (`start`); stopped by `stop` or when dropped.
pub struct RunningServer {
    /// `None` once stopped.
    runtime: Option<tokio::runtime::Runtime>,
    address: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    recovered: Vec<CccMigration>,
    lab_name: String,
}

impl RunningServer {
    /// The address it listens on (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// The migrations found interrupted at the start, as recovery left them.
    pub fn recovered(&self) -> &[CccMigration] {
        &self.recovered
    }

    /// Stops accepting, lets the requests under way finish, and stops; a migration still
    /// running after `STOP_GRACE` is left as the store records it, for the next start to
    /// recover.
    pub fn stop(mut self) -> Result<(), String> {
        self.stop_serving()
    }

    fn stop_serving(&mut self) -> Result<(), String> {
        let Some(runtime) = self.runtime.take() else {
            return Ok(());
        };
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let served = self.served.take().map(|served| runtime.block_on(served));
        runtime.shutdown_timeout(STOP_GRACE);
        match served {
            Some(Ok(Ok(()))) | None => Ok(()),
            Some(Ok(Err(e))) => Err(format!("the CCC server failed: {e}")),
            Some(Err(e)) => Err(format!("the CCC server stopped: {e}")),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop_serving();
    }
}

/// Starts serving the lab's CCC on its own threads and returns at once (tests and callers
/// that serve alongside other work). The address is bound before it returns; interrupted
/// migrations are recovered first (a recovery that fails is reported on standard error and
/// the server starts: the runs stay as recorded, visible at `/api/v1/migrations`).
pub fn start(selection: LabSelection, options: ServeOptions) -> Result<RunningServer, String> {
    ccc::ccc_state(&selection).map_err(|e| format!("cannot read the CCC state of the lab: {e}"))?;
    let recovered = match ccc::recover_ccc_migrations(&selection) {
        Ok(runs) => runs,
        Err(e) => {
            eprintln!("hsmsim ccc serve: cannot recover interrupted migrations: {e}");
            Vec::new()
        }
    };
    let listener = std::net::TcpListener::bind(options.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ccc-web")
        .enable_io()
        .build()
        .map_err(|e| format!("cannot start the server's threads: {e}"))?;
    let lab_name = selection.lab.file.lab.name.clone();
    let router = router(app::App::new(selection));
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = {
        let _entered = runtime.enter();
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
        runtime.spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        })
    };
    Ok(RunningServer {
        runtime: Some(runtime),
        address,
        shutdown: Some(shutdown),
        served: Some(served),
        recovered,
        lab_name,
    })
}

/// The whole application: the API and the console, `guarded`.
fn router(app: app::App) -> Router {
    guarded(
        Router::new()
            .nest("/api/v1", api::router())
            .merge(pages::router()),
    )
    .with_state(app)
}

/// `routes` with the answers of what matches no route, the body limit and the panic guard.
fn guarded<S: Clone + Send + Sync + 'static>(routes: Router<S>) -> Router<S> {
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
}

async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        app::ApiError::not_found(format!("no API route {}", uri.path())).into_response()
    } else {
        pages::not_found_page(uri.path())
    }
}

async fn method_not_allowed(uri: Uri) -> Response {
    app::ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "CKR_FUNCTION_NOT_SUPPORTED",
        format!("{} does not take this method", uri.path()),
    )
    .into_response()
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    app::ApiError::internal(
        "the server failed on this request (a bug); CCC's changes are transactional, so none was half made",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler with a bug.
    async fn boom(axum::extract::RawQuery(query): axum::extract::RawQuery) -> String {
        query.expect("a bug in a handler: no query")
    }

    #[test]
    fn a_panicking_handler_answers_500_in_json_and_the_server_goes_on() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_io()
            .build()
            .unwrap();
        let routes = Router::new()
            .route("/boom", axum::routing::get(boom))
            .route("/fine", axum::routing::get(|| async { "fine" }));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap();
        runtime.spawn(async move { axum::serve(listener, guarded(routes)).await });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut answer = agent.get(format!("http://{address}/boom")).call().unwrap();
        assert_eq!(answer.status(), 500);
        let body: serde_json::Value =
            serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(body["error"], "CKR_GENERAL_ERROR");
        let mut answer = agent.get(format!("http://{address}/fine")).call().unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.body_mut().read_to_string().unwrap(), "fine");
    }
}
