//! `arrayq load postgres`: the Postgres bridge from the shell. The source side
//! (`arrayq-bridge`) streams a query's rows out with binary COPY; they go to the
//! server's series ingest over IngestRows. Once: one commit per version round.
//! `--follow`: one commit per pull, each carrying the source watermark it read up
//! to as a commit mark, so no row is lost or applied twice across restarts of the
//! source, of the server or of this command.

use crate::shell::stdout::stdout_line;
use std::time::{Duration, Instant};

use arrayq_bridge::{BridgeError, Follower, Pulled, Source, SourceSpec};
use arrayq_client::{Client, Error};
use arrayq_proto::v1;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::Code;

/// What `arrayq load postgres` was asked to do.
#[derive(Clone, Debug)]
pub struct PgLoad {
    pub source: SourceSpec,
    pub array: String,
    /// `Some(channel)`: follow mode.
    pub follow: Option<String>,
    /// Name of the watermark mark (`bridge:<name>`).
    pub name: String,
}

fn bridge_error(e: BridgeError) -> Error {
    Error::InvalidInput(e.to_string())
}

/// Runs the load; returns the line to print at the end.
pub async fn load_postgres(client: &Client, job: &PgLoad) -> Result<String, Error> {
    match &job.follow {
        None => load_once(client, job).await,
        Some(channel) => follow(client, job, channel).await,
    }
}

async fn load_once(client: &Client, job: &PgLoad) -> Result<String, Error> {
    let started = Instant::now();
    let source = Source::connect(&job.source).await.map_err(bridge_error)?;
    let bar = rows_bar();
    let per_version = source.columns().has_version;
    let (pulled, resp) = pull_into(client, job, &source, None, per_version, &bar).await?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let versions: Vec<String> = resp.commits.iter().map(|c| c.version.to_string()).collect();
    Ok(format!(
        "loaded {} rows into '{}' in {:.2} s ({:.0} rows/s), {} commit(s): version {}",
        pulled.rows,
        job.array,
        secs,
        pulled.rows as f64 / secs.max(1e-9),
        resp.commits.len(),
        if versions.is_empty() {
            "-".to_string()
        } else {
            versions.join(", ")
        }
    ))
}

/// One pull of `source` (past `after`) into one IngestRows call; with a watermark,
/// the last batch carries it as the commit's mark.
async fn pull_into(
    client: &Client,
    job: &PgLoad,
    source: &Source,
    after: Option<&str>,
    per_version: bool,
    bar: &ProgressBar,
) -> Result<(Pulled, v1::IngestRowsResponse), Error> {
    let header = v1::IngestRowsHeader {
        array: job.array.clone(),
        commit_per_version: per_version,
        ..Default::default()
    };
    let (tx, rx) = mpsc::channel::<v1::RowBatch>(4);
    let sending: JoinHandle<Result<v1::IngestRowsResponse, Error>> = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .ingest_rows(header, tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
        })
    };
    let pulled = match source.pull(after, &tx, |n| bar.inc(n)).await {
        Ok(p) => p,
        Err(BridgeError::TargetGone) => {
            // The server refused a batch: its error is the answer.
            drop(tx);
            return Err(upload_result(sending.await)
                .err()
                .unwrap_or_else(|| Error::Protocol("the server stopped taking rows".into())));
        }
        Err(e) => {
            // Abandon the call: the server commits nothing of this pull.
            sending.abort();
            return Err(bridge_error(e));
        }
    };
    if let Some(w) = &pulled.watermark {
        let mut last = v1::RowBatch::default();
        last.marks.insert(mark_key(&job.name), w.clone());
        let _ = tx.send(last).await;
    }
    drop(tx);
    let resp = upload_result(sending.await)?;
    Ok((pulled, resp))
}

fn upload_result(
    r: Result<Result<v1::IngestRowsResponse, Error>, tokio::task::JoinError>,
) -> Result<v1::IngestRowsResponse, Error> {
    r.map_err(|e| Error::Protocol(format!("the upload task failed: {e}")))?
}

/// The commit mark holding a follower's watermark.
pub fn mark_key(name: &str) -> String {
    format!("bridge:{name}")
}

/// Follow mode: pull on every NOTIFY and (re)connect until Ctrl-C; a pull in
/// progress at Ctrl-C is abandoned (nothing of it is committed).
async fn follow(client: &Client, job: &PgLoad, channel: &str) -> Result<String, Error> {
    if job.source.watermark_col.is_none() {
        return Err(Error::InvalidInput(
            "--follow needs --watermark-col: a column that grows with every new row \
             (a serial id or an arrival time), so pulls resume where the last commit ended"
                .into(),
        ));
    }
    let mut follower = Follower::new(job.source.clone(), channel);
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    let (mut pulls, mut rows) = (0u64, 0u64);
    let mut target_wait = arrayq_bridge::Backoff::default();
    loop {
        let source = tokio::select! {
            s = follower.due() => s.map_err(bridge_error)?,
            _ = &mut stop => break,
        };
        let after = match watermark(client, job).await {
            Ok(w) => w,
            Err(e) if retryable(&e) => {
                eprintln!("arrayq: server unavailable ({e}); retrying");
                tokio::time::sleep(target_wait.next_wait()).await;
                follower.reset();
                continue;
            }
            Err(e) => return Err(e),
        };
        let bar = ProgressBar::hidden();
        let result = tokio::select! {
            r = pull_into(client, job, source, after.as_deref(), false, &bar) => r,
            _ = &mut stop => break,
        };
        match result {
            Ok((pulled, resp)) => {
                target_wait.reset();
                pulls += 1;
                rows += pulled.rows;
                if let Some(c) = resp.commits.last() {
                    stdout_line!(
                        "pulled {} rows into '{}': version {} (watermark {})",
                        pulled.rows,
                        job.array,
                        c.version,
                        pulled.watermark.as_deref().unwrap_or("-")
                    );
                }
            }
            Err(e) if retryable(&e) => {
                eprintln!("arrayq: pull abandoned ({e}); retrying");
                follower.reset();
                follower.back_off().await;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(format!("stopped after {pulls} pull(s), {rows} rows"))
}

/// Whether an error is the server or the source being away (retry) rather than
/// something that would repeat.
fn retryable(e: &Error) -> bool {
    match e {
        Error::InvalidInput(m) => m.starts_with("postgres:") && !m.contains("(SQLSTATE 4"),
        e => matches!(
            e.code(),
            Code::Unavailable | Code::Cancelled | Code::Unknown
        ),
    }
}

/// The durable watermark: the mark at the array's head (none before the first
/// commit or when the array does not exist yet).
async fn watermark(client: &Client, job: &PgLoad) -> Result<Option<String>, Error> {
    match client.describe_with(&job.array, 1, true).await {
        Ok(d) => Ok(d.marks.get(&mark_key(&job.name)).cloned()),
        Err(e) if e.code() == Code::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn rows_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {human_pos} rows  {per_sec}  {elapsed}")
            .expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
