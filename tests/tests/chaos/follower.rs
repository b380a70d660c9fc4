//! A Subscribe follower: follows every array's change events from the start of
//! the log and, when the stream breaks (the server was killed), resubscribes from
//! its last sequence number + 1, as the contract says.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrayq_client::Client;

use crate::load::{Fault, LoadCtx};

/// The events a follower received, in order: (seq, array, version, kind).
#[derive(Debug, Default)]
pub struct Followed {
    pub events: Vec<(u64, String, u64, i32)>,
    pub faults: Vec<Fault>,
    pub resumes: u64,
}

impl Followed {
    pub fn last_seq(&self) -> u64 {
        self.events.last().map_or(0, |e| e.0)
    }
}

/// Follows until the task is aborted; `out` holds what arrived so far.
pub async fn run_follower(ctx: Arc<LoadCtx>, url: String, id: usize, out: Arc<Mutex<Followed>>) {
    let client = Client::connect(url)
        .await
        .expect("connect while the server is up");
    loop {
        let from = out.lock().unwrap().last_seq() + 1;
        let started = ctx.t0.elapsed();
        let error = match client.subscribe("", from).await {
            Ok(mut feed) => loop {
                match feed.next().await {
                    Ok(Some(ev)) => out
                        .lock()
                        .unwrap()
                        .events
                        .push((ev.seq, ev.array, ev.version, ev.kind)),
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                }
            },
            Err(e) => Some(e),
        };
        {
            let mut followed = out.lock().unwrap();
            followed.resumes += 1;
            if let Some(e) = error {
                followed.faults.push(Fault {
                    client: id,
                    op: "subscribe",
                    code: e.code(),
                    message: e.to_string(),
                    started,
                    ended: ctx.t0.elapsed(),
                });
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
