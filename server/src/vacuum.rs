//! The Vacuum RPC (the same removal as SQL `VACUUM`) and the background task that
//! applies every array's stored retention policy.

use std::sync::Arc;
use std::time::Duration;

use arrayq_proto::v1 as pb;
use arrayq_storage::{Retention, VacuumStats};
use tonic::Status;
use tracing::{info, warn};

use crate::errors::storage_status;
use crate::state::Shared;

/// What a VacuumRequest keeps: the newest N versions, what is younger than an
/// interval, or (neither set) the newest version only.
pub fn retention_of(r: &pb::VacuumRequest) -> Result<Retention, Status> {
    match (r.keep_versions, r.older_than.as_deref()) {
        (Some(_), Some(_)) => Err(Status::invalid_argument(
            "set keep_versions or older_than, not both",
        )),
        (Some(0), None) => Err(Status::invalid_argument("keep_versions must be at least 1")),
        (Some(n), None) => Ok(Retention {
            versions: Some(n),
            max_age_ns: None,
        }),
        (None, Some(text)) => match arrayq_query::parse_duration(text).filter(|ns| *ns > 0) {
            Some(ns) => Ok(Retention {
                versions: None,
                max_age_ns: Some(ns),
            }),
            None => Err(Status::invalid_argument(format!(
                "older_than '{text}' is not a positive interval like '30 days'"
            ))),
        },
        (None, None) => Ok(Retention::NEWEST_ONLY),
    }
}

pub fn response(array: String, s: &VacuumStats) -> pb::VacuumResponse {
    pb::VacuumResponse {
        array,
        versions_removed: s.versions_removed,
        chunks_removed: s.chunks_removed,
        bytes_freed: s.bytes_reclaimed,
        log_entries_trimmed: s.events_trimmed,
        oldest_version: s.oldest_kept,
    }
}

/// Applies the stored retention policies every `interval` until shutdown. The
/// vacuums run on the blocking pool: they scan chunk keys and compact segments.
pub async fn retention_loop(shared: Arc<Shared>, interval: Duration) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let store = shared.store.clone();
        match shared.spawn_blocking(move || store.apply_retention()).await {
            Ok(Ok(done)) => {
                for (array, s) in done {
                    info!(
                        %array,
                        versions_removed = s.versions_removed,
                        chunks_removed = s.chunks_removed,
                        bytes_freed = s.bytes_reclaimed,
                        log_entries_trimmed = s.events_trimmed,
                        oldest_version = s.oldest_kept,
                        "retention applied"
                    );
                }
            }
            Ok(Err(e)) => warn!(error = %storage_status(e).message(), "retention failed"),
            Err(e) => warn!(error = %e, "retention task failed"),
        }
    }
}
