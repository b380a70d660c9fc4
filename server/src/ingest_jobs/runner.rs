//! One ingest job's task: pulls its source into the series ingest until dropped,
//! paused or the server shuts down. A pull in flight when that happens is
//! abandoned: nothing of it is committed, and the watermark mark (committed with
//! each pull's rows) says where the next run resumes.

use std::sync::{Arc, Mutex};

use arrayq_bridge::{BridgeError, Follower, Source};
use arrayq_proto::v1 as pb;
use arrayq_storage::series::SeriesIngest;
use tokio::sync::watch;
use tracing::{info, warn};

use super::{JobSpec, JobStatus};
use crate::ingest_rows::{spec_of, SeriesWorker};
use crate::state::Shared;

/// The mark a one-shot job (no watermark column) leaves when it has loaded.
const DONE: &str = "done";

pub(super) fn spawn(
    shared: Arc<Shared>,
    spec: JobSpec,
    status: Arc<Mutex<JobStatus>>,
    paused: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut job = Runner {
            shared,
            spec,
            status,
            paused,
        };
        job.run().await;
    });
}

struct Runner {
    shared: Arc<Shared>,
    spec: JobSpec,
    status: Arc<Mutex<JobStatus>>,
    paused: watch::Receiver<bool>,
}

/// Why a wait ended.
enum Stop {
    /// Dropped or the server is shutting down.
    Exit,
    /// Paused, resumed or poked: start over (waiting while paused).
    Again,
}

impl Runner {
    fn set(&self, f: impl FnOnce(&mut JobStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Resolves when the job should stop what it does: paused or resumed (a RESUME
    /// also restarts a failed job), dropped, or the server shuts down.
    async fn interrupted(
        paused: &mut watch::Receiver<bool>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Stop {
        if *shutdown.borrow() {
            return Stop::Exit;
        }
        if *paused.borrow_and_update() {
            return Stop::Again;
        }
        tokio::select! {
            r = paused.changed() => if r.is_err() { Stop::Exit } else { Stop::Again },
            _ = shutdown.changed() => Stop::Exit,
        }
    }

    async fn run(&mut self) {
        let mut shutdown = self.shared.shutdown.clone();
        loop {
            // Paused: wait for resume (or the end).
            while *self.paused.borrow() {
                self.set(|s| s.state = "paused".into());
                tokio::select! {
                    r = self.paused.changed() => if r.is_err() { return },
                    _ = shutdown.changed() => return,
                }
            }
            if *shutdown.borrow() {
                return;
            }
            let outcome = match self.spec.channel.clone() {
                None => self.once(&mut shutdown).await,
                Some(channel) => self.follow(&channel, &mut shutdown).await,
            };
            match outcome {
                Stop::Exit => return,
                Stop::Again => continue,
            }
        }
    }

    /// Loads the source once (past the watermark, if any), then idles.
    async fn once(&mut self, shutdown: &mut watch::Receiver<bool>) -> Stop {
        let mark = self.mark();
        if self.spec.watermark_col.is_none() && mark.as_deref() == Some(DONE) {
            self.set(|s| s.state = "done".into());
        } else {
            self.set(|s| s.state = "loading".into());
            let result = async {
                let source = Source::connect(&self.spec.source()).await?;
                Ok::<_, BridgeError>(source)
            }
            .await;
            match result {
                Ok(source) => {
                    let per_version =
                        source.columns().has_version && self.spec.watermark_col.is_none();
                    let mut paused = self.paused.clone();
                    tokio::select! {
                        r = self.pull(&source, mark, per_version) => match r {
                            Ok(()) => self.set(|s| s.state = "done".into()),
                            Err(e) => self.failed(e),
                        },
                        why = Self::interrupted(&mut paused, shutdown) => return why,
                    }
                }
                Err(e) => self.failed(e.to_string()),
            }
        }
        let mut paused = self.paused.clone();
        Self::interrupted(&mut paused, shutdown).await
    }

    async fn follow(&mut self, channel: &str, shutdown: &mut watch::Receiver<bool>) -> Stop {
        let mut follower = Follower::new(self.spec.source(), channel);
        let mut paused = self.paused.clone();
        loop {
            self.set(|s| s.state = "waiting".into());
            let source = tokio::select! {
                s = follower.due() => match s {
                    Ok(s) => s,
                    Err(e) => {
                        self.failed(e.to_string());
                        return Self::interrupted(&mut paused, shutdown).await;
                    }
                },
                why = Self::interrupted(&mut paused, shutdown) => return why,
            };
            self.set(|s| s.state = "pulling".into());
            let mark = self.mark();
            let pulled = tokio::select! {
                r = self.pull(source, mark, false) => r,
                why = Self::interrupted(&mut paused, shutdown) => return why,
            };
            if let Err(e) = pulled {
                warn!(target: "arrayq::ingest", job = %self.spec.name, error = %e, "pull failed; retrying");
                self.set(|s| s.last_error = Some(e));
                follower.reset();
                follower.back_off().await;
            }
        }
    }

    fn failed(&self, e: String) {
        warn!(target: "arrayq::ingest", job = %self.spec.name, error = %e, "ingest job failed");
        self.set(|s| {
            s.state = "failed".into();
            s.last_error = Some(e);
        });
    }

    fn mark(&self) -> Option<String> {
        SeriesIngest::mark(&self.shared.store, &self.spec.array, &self.spec.mark_key())
    }

    /// One pull into one series ingest; its watermark (or "done" for a one-shot
    /// load without one) is committed with its rows. Dropped midway (the select
    /// around it), the worker is dropped too and commits nothing.
    async fn pull(
        &self,
        source: &Source,
        after: Option<String>,
        per_version: bool,
    ) -> Result<(), String> {
        let header = pb::IngestRowsHeader {
            array: self.spec.array.clone(),
            commit_per_version: per_version,
            ..Default::default()
        };
        let (spec, opts) = spec_of(&self.shared, &header).map_err(|s| s.message().to_string())?;
        let worker = SeriesWorker::start(&self.shared, spec, opts);
        let guard = AbandonOnDrop(Some(worker));
        let status = self.status.clone();
        let after = if self.spec.watermark_col.is_some() {
            after
        } else {
            None
        };
        let pulled = source
            .pull(after.as_deref(), guard.worker().sender(), |n| {
                status.lock().unwrap_or_else(|e| e.into_inner()).rows += n;
            })
            .await;
        let worker = guard.take();
        let pulled = match pulled {
            Ok(p) => p,
            Err(e) => {
                worker.abandon().await;
                return Err(e.to_string());
            }
        };
        let mark = match (&self.spec.watermark_col, pulled.watermark) {
            (Some(_), Some(w)) => Some(w),
            (None, _) => Some(DONE.to_string()),
            (Some(_), None) => None,
        };
        if let Some(m) = mark {
            let mut last = pb::RowBatch::default();
            last.marks.insert(self.spec.mark_key(), m);
            worker.send(last).await;
        }
        let (rows, commits) = worker.finish().await.map_err(|s| s.message().to_string())?;
        self.set(|s| {
            s.pulls += 1;
            s.last_error = None;
        });
        if rows > 0 {
            info!(target: "arrayq::ingest", job = %self.spec.name, rows, commits = commits.len(), "ingest pull committed");
        }
        Ok(())
    }
}

/// Abandons the worker if the pull is dropped before it is taken back.
struct AbandonOnDrop(Option<SeriesWorker>);

impl AbandonOnDrop {
    fn worker(&self) -> &SeriesWorker {
        self.0.as_ref().expect("worker present")
    }

    fn take(mut self) -> SeriesWorker {
        self.0.take().expect("worker present")
    }
}

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        if let Some(w) = self.0.take() {
            w.abandon_now();
        }
    }
}
