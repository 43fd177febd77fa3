//! Migrate Service runs started over HTTP: checked first (a refusal answers at once, with
//! CCC's reason), then run in the background on a blocking thread holding the locks of the
//! source and new services, while the client polls the run's progress
//! (`GET /api/v1/migrations/{id}`, the console's progress page), which the estate records as
//! it goes. A server stopped mid-run finds the run at its next start
//! (`recover_ccc_migrations`, called by `start`).
use crate::app::{ApiError, App};
use hsmsim::estate::ccc::{self, CccMigration, MigrationRequest};
use std::time::{Duration, Instant};

/// How long a start waits for the estate to record a run it reported progress for.
const RECORD_WAIT: Duration = Duration::from_secs(10);

/// What the background run tells the request that started it: it is under way, or its end.
enum FirstNews {
    Progress,
    Finished(Result<CccMigration, ApiError>),
}

/// Checks and starts a migration. `Ok((true, run))`: it already ended (its final record);
/// `Ok((false, run))`: it is running (poll it by its id).
pub async fn start_migration(
    app: &App,
    request: MigrationRequest,
) -> Result<(bool, CccMigration), ApiError> {
    let source_lock = app.lock_service(&request.source_service).await;
    let new_lock = app.lock_service(&request.name).await;
    let checked = request.clone();
    app.run(move |sel| Ok(ccc::check_ccc_migration(sel, &checked)?))
        .await?;
    let (tell, news) = tokio::sync::oneshot::channel::<FirstNews>();
    let source = request.source_service.clone();
    let new_service = request.name.clone();
    let background = app.clone();
    // Detached: the run goes on when the request that started it has its answer.
    drop(tokio::task::spawn_blocking(move || {
        let _locks = (source_lock, new_lock);
        let mut tell = Some(tell);
        let mut on_progress = |_: &str| {
            if let Some(tell) = tell.take() {
                let _ = tell.send(FirstNews::Progress);
            }
        };
        let outcome = ccc::migrate_ccc_service(background.selection(), request, &mut on_progress)
            .map_err(ApiError::from);
        if let Some(tell) = tell.take() {
            let _ = tell.send(FirstNews::Finished(outcome));
        }
    }));
    match news.await {
        Ok(FirstNews::Finished(outcome)) => outcome.map(|run| (true, run)),
        Ok(FirstNews::Progress) => {
            let run = app
                .run(move |sel| recorded_run(sel, &source, &new_service))
                .await?;
            Ok((run.state != ccc::MigrationState::Running, run))
        }
        Err(_) => Err(ApiError::internal(
            "the migration stopped before it reported anything",
        )),
    }
}

/// The newest recorded run from `source` to `new_service` (waiting up to `RECORD_WAIT` for
/// the estate to record it).
fn recorded_run(
    sel: &hsmsim::estate::LabSelection,
    source: &str,
    new_service: &str,
) -> Result<CccMigration, ApiError> {
    let since = Instant::now();
    loop {
        let found = ccc::ccc_migrations(sel)?
            .into_iter()
            .rev()
            .find(|m| m.source_service == source && m.new_service == new_service);
        match found {
            Some(run) => return Ok(run),
            None if since.elapsed() < RECORD_WAIT => std::thread::sleep(Duration::from_millis(50)),
            None => {
                return Err(ApiError::internal(format!(
                    "the migration of \"{source}\" to \"{new_service}\" reported progress but is not recorded"
                )));
            }
        }
    }
}
