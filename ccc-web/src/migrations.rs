//! Migrate Service runs started over HTTP: checked first (a refusal answers at once, with
//! CCC's reason), then run in the background on a blocking thread holding the locks of the
//! source and new services, while the client polls the run's progress
//! (`GET /api/v1/migrations/{id}`, the console's progress page), which the estate records as
//! it goes. A server stopped mid-run finds the run at its next start
//! (`recover_ccc_migrations`, called by `start`).
use crate::app::{ApiError, App};
use hsmsim::estate::ccc::{self, CccMigration, MigrationRequest};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a start looks for the record of a run that reported progress.
const POLL: Duration = Duration::from_millis(50);

/// The first news of a background run: it reported progress, or it ended before that.
enum FirstNews {
    Progress,
    Finished,
}

/// A run's end, left by the background thread for the request that started it.
type Outcome = Arc<Mutex<Option<Result<CccMigration, ApiError>>>>;

/// Checks and starts a migration. `Ok((true, run))`: it already ended (its final record);
/// `Ok((false, run))`: it is running (poll it by its id). The run is found by its source and
/// new service in the estate's records once it reports progress; should the estate record it
/// only at its end, the request waits for that end.
pub async fn start_migration(
    app: &App,
    request: MigrationRequest,
) -> Result<(bool, CccMigration), ApiError> {
    let source_lock = app.lock_service(&request.source_service).await;
    let new_lock = app.lock_service(&request.name).await;
    let checked = request.clone();
    // The runs recorded before this one (a failed earlier run may share its names).
    let before = app
        .run(move |sel| {
            ccc::check_ccc_migration(sel, &checked)?;
            Ok(ccc::ccc_migrations(sel)?.iter().map(|m| m.id).max())
        })
        .await?;
    let (tell, news) = tokio::sync::oneshot::channel::<FirstNews>();
    let outcome: Outcome = Arc::default();
    let source = request.source_service.clone();
    let new_service = request.name.clone();
    let background = app.clone();
    let ended = outcome.clone();
    // Detached: the run goes on when the request that started it has its answer.
    drop(tokio::task::spawn_blocking(move || {
        let _locks = (source_lock, new_lock);
        let mut tell = Some(tell);
        let mut on_progress = |_: &str| {
            if let Some(tell) = tell.take() {
                let _ = tell.send(FirstNews::Progress);
            }
        };
        let result = ccc::migrate_ccc_service(background.selection(), request, &mut on_progress)
            .map_err(ApiError::from);
        *ended.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        if let Some(tell) = tell.take() {
            let _ = tell.send(FirstNews::Finished);
        }
    }));
    match news.await {
        Ok(FirstNews::Finished) => taken(&outcome)
            .unwrap_or_else(|| Err(ApiError::internal("the migration left no outcome")))
            .map(|run| (true, run)),
        Ok(FirstNews::Progress) => {
            app.run(move |sel| recorded_run(sel, before, &source, &new_service, &outcome))
                .await
        }
        Err(_) => Err(ApiError::internal(
            "the migration stopped before it reported anything",
        )),
    }
}

fn taken(outcome: &Outcome) -> Option<Result<CccMigration, ApiError>> {
    outcome.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// The run from `source` to `new_service` recorded after run `before` (and whether it
/// ended), or the run's end if it comes first.
fn recorded_run(
    sel: &hsmsim::estate::LabSelection,
    before: Option<u64>,
    source: &str,
    new_service: &str,
    outcome: &Outcome,
) -> Result<(bool, CccMigration), ApiError> {
    loop {
        let found = ccc::ccc_migrations(sel)?.into_iter().rev().find(|m| {
            Some(m.id) > before && m.source_service == source && m.new_service == new_service
        });
        if let Some(run) = found {
            return Ok((run.state != ccc::MigrationState::Running, run));
        }
        if let Some(end) = taken(outcome) {
            return end.map(|run| (true, run));
        }
        std::thread::sleep(POLL);
    }
}
