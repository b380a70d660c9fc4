//! Ingest jobs: the Postgres bridge run by the server itself, named and persistent.
//! A job is kept as a store record (`ingest:<name>`, JSON), so it survives
//! restarts; each runs as a task that pulls its source (once, or following
//! LISTEN/NOTIFY past its watermark) into the series ingest. Statements:
//! [`statement`]; progress: `SHOW INGESTS`.

mod runner;
pub mod statement;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arrayq_query::TextTable;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tonic::Status;
use tracing::info;

use crate::state::Shared;
use statement::IngestStatement;

pub use statement::is_ingest_statement;

use crate::roles::{authorize, ingest_access, Caller};

const RECORD_PREFIX: &str = "ingest:";

/// What a job reads and where it writes; persisted as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub name: String,
    pub url: String,
    pub query: String,
    pub array: String,
    /// Follow mode: LISTEN on this channel.
    pub channel: Option<String>,
    pub watermark_col: Option<String>,
    pub label_col: String,
    pub time_col: String,
    pub version_col: String,
    pub value_col: String,
    pub paused: bool,
}

impl JobSpec {
    pub fn new(name: &str, url: &str, query: &str, array: &str) -> JobSpec {
        let d = arrayq_bridge::SourceSpec::new(url, query);
        JobSpec {
            name: name.to_string(),
            url: url.to_string(),
            query: query.to_string(),
            array: array.to_string(),
            channel: None,
            watermark_col: None,
            label_col: d.label_col,
            time_col: d.time_col,
            version_col: d.version_col,
            value_col: d.value_col,
            paused: false,
        }
    }

    /// Sets a `WITH (...)` option.
    pub fn set(&mut self, key: &str, value: String) -> Result<(), String> {
        match key.to_ascii_lowercase().as_str() {
            "channel" => self.channel = Some(value),
            "watermark" => self.watermark_col = Some(value),
            "label_col" => self.label_col = value,
            "time_col" => self.time_col = value,
            "version_col" => self.version_col = value,
            "value_col" => self.value_col = value,
            _ => return Err(
                "an option among channel, watermark, label_col, time_col, version_col, value_col"
                    .into(),
            ),
        }
        Ok(())
    }

    pub(crate) fn source(&self) -> arrayq_bridge::SourceSpec {
        let mut s = arrayq_bridge::SourceSpec::new(&self.url, &self.query);
        s.label_col = self.label_col.clone();
        s.time_col = self.time_col.clone();
        s.version_col = self.version_col.clone();
        s.value_col = self.value_col.clone();
        s.watermark_col = self.watermark_col.clone();
        s
    }

    /// The commit mark holding this job's watermark.
    pub(crate) fn mark_key(&self) -> String {
        format!("bridge:{}", self.name)
    }
}

/// What a job is doing, for `SHOW INGESTS`.
#[derive(Clone, Debug, Default)]
pub(crate) struct JobStatus {
    pub state: String,
    pub rows: u64,
    pub pulls: u64,
    pub last_error: Option<String>,
}

struct Job {
    spec: JobSpec,
    status: Arc<Mutex<JobStatus>>,
    /// True while paused; dropped (sender gone) when the job is dropped.
    pause: watch::Sender<bool>,
}

/// The server's ingest jobs.
#[derive(Default)]
pub struct IngestJobs {
    jobs: Mutex<BTreeMap<String, Job>>,
}

impl IngestJobs {
    /// Starts every job kept in the store (at server start).
    pub(crate) fn resume_all(shared: &Arc<Shared>) -> Result<usize, Status> {
        let records = shared
            .store
            .records(RECORD_PREFIX)
            .map_err(crate::errors::storage_status)?;
        let mut n = 0;
        for (name, bytes) in records {
            match serde_json::from_slice::<JobSpec>(&bytes) {
                Ok(spec) => {
                    shared.jobs.launch(shared, spec);
                    n += 1;
                }
                Err(e) => {
                    tracing::warn!(record = %name, error = %e, "unreadable ingest job skipped")
                }
            }
        }
        Ok(n)
    }

    fn launch(&self, shared: &Arc<Shared>, spec: JobSpec) {
        let status = Arc::new(Mutex::new(JobStatus::default()));
        let (pause, paused) = watch::channel(spec.paused);
        runner::spawn(shared.clone(), spec.clone(), status.clone(), paused);
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.insert(
            spec.name.clone(),
            Job {
                spec,
                status,
                pause,
            },
        );
    }

    fn persist(shared: &Shared, spec: &JobSpec) -> Result<(), Status> {
        let json = serde_json::to_vec(spec).expect("a job spec serializes");
        shared
            .store
            .put_record(&format!("{RECORD_PREFIX}{}", spec.name), &json)
            .map_err(crate::errors::storage_status)
    }
}

/// The columns of SHOW INGESTS.
const SHOW_COLUMNS: [&str; 8] = [
    "name",
    "array",
    "channel",
    "state",
    "pulls",
    "rows",
    "watermark",
    "error",
];

/// The columns an ingest statement answers with (known before it runs).
pub fn answer_columns(sql: &str) -> Vec<&'static str> {
    match statement::parse(sql) {
        Ok(IngestStatement::Show) => SHOW_COLUMNS.to_vec(),
        _ => vec!["result", "ingest"],
    }
}

/// Carries out an ingest statement if `caller` may; its answer as a table.
pub(crate) fn execute(
    shared: &Arc<Shared>,
    caller: &Caller,
    sql: &str,
) -> Result<TextTable, Status> {
    let stmt = statement::parse(sql).map_err(Status::invalid_argument)?;
    authorize(caller, &ingest_access(&stmt))?;
    let jobs = &shared.jobs;
    let done = |what: &str, name: &str| TextTable {
        columns: vec!["result".into(), "ingest".into()],
        rows: vec![vec![what.to_string(), name.to_string()]],
    };
    let pause = matches!(stmt, IngestStatement::Pause(_));
    match stmt {
        IngestStatement::Create(spec) => {
            if jobs
                .jobs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&spec.name)
            {
                return Err(Status::already_exists(format!(
                    "ingest '{}' already exists",
                    spec.name
                )));
            }
            let spec = *spec;
            IngestJobs::persist(shared, &spec)?;
            info!(target: "arrayq::ingest", job = %spec.name, array = %spec.array, "ingest job created");
            let name = spec.name.clone();
            jobs.launch(shared, spec);
            Ok(done("CREATE INGEST", &name))
        }
        IngestStatement::Pause(name) | IngestStatement::Resume(name) => {
            let mut all = jobs.jobs.lock().unwrap_or_else(|e| e.into_inner());
            let job = all.get_mut(&name).ok_or_else(|| unknown(&name))?;
            job.spec.paused = pause;
            IngestJobs::persist(shared, &job.spec)?;
            let _ = job.pause.send(pause);
            Ok(done(if pause { "PAUSE" } else { "RESUME" }, &name))
        }
        IngestStatement::Drop(name) => {
            let job = jobs
                .jobs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&name)
                .ok_or_else(|| unknown(&name))?;
            shared
                .store
                .remove_record(&format!("{RECORD_PREFIX}{name}"))
                .map_err(crate::errors::storage_status)?;
            // Dropping the sender stops the runner (a pull in flight is abandoned).
            drop(job);
            Ok(done("DROP INGEST", &name))
        }
        IngestStatement::Show => {
            let all = jobs.jobs.lock().unwrap_or_else(|e| e.into_inner());
            let rows = all
                .values()
                .map(|j| {
                    let st = j.status.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    let watermark = arrayq_storage::series::SeriesIngest::mark(
                        &shared.store,
                        &j.spec.array,
                        &j.spec.mark_key(),
                    );
                    vec![
                        j.spec.name.clone(),
                        j.spec.array.clone(),
                        j.spec.channel.clone().unwrap_or_default(),
                        st.state,
                        st.pulls.to_string(),
                        st.rows.to_string(),
                        watermark.unwrap_or_default(),
                        st.last_error.unwrap_or_default(),
                    ]
                })
                .collect();
            Ok(TextTable {
                columns: SHOW_COLUMNS.map(String::from).to_vec(),
                rows,
            })
        }
    }
}

fn unknown(name: &str) -> Status {
    Status::not_found(format!("no ingest named '{name}'"))
}
