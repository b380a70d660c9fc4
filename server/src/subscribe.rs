//! Change feeds: replay from the durable change log, then live events from the
//! store's commit listener (a tokio broadcast channel). A subscriber that falls
//! behind the broadcast buffer re-reads what it missed from the log, so no event is
//! lost or repeated; the sequence number decides what was already delivered.

use std::sync::Arc;
use std::time::Duration;

use arrayq_proto::v1::ChangeEvent as PbEvent;
use arrayq_storage::ChangeEvent;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};
use tonic::Status;
use tracing::debug;

use crate::convert::event_to_pb;
use crate::errors::storage_status;
use crate::state::Shared;

/// Events read from the log per request.
const PAGE: usize = 1024;

/// What a feed delivers: the gRPC message, or the storage event itself (the
/// Postgres door's LISTEN builds its payload from it).
pub trait FeedItem: Send + 'static {
    fn from_event(ev: &ChangeEvent) -> Self;
}

impl FeedItem for PbEvent {
    fn from_event(ev: &ChangeEvent) -> Self {
        event_to_pb(ev)
    }
}

impl FeedItem for ChangeEvent {
    fn from_event(ev: &ChangeEvent) -> Self {
        ev.clone()
    }
}

/// One subscription's feeder task: runs until the client goes away or the server
/// shuts down.
pub struct Feed<T: FeedItem = PbEvent> {
    pub shared: Arc<Shared>,
    /// Only this array's events (empty: all).
    pub array: String,
    /// Next sequence number to deliver.
    pub next: u64,
    pub live: broadcast::Receiver<ChangeEvent>,
    pub tx: mpsc::Sender<Result<T, Status>>,
}

enum End {
    ClientGone,
    Shutdown,
    Failed(Status),
}

impl<T: FeedItem> Feed<T> {
    pub async fn run(mut self) {
        let mut shutdown = self.shared.shutdown.clone();
        let end = loop {
            if let Err(end) = self.catch_up(&mut shutdown).await {
                break end;
            }
            match self.follow(&mut shutdown).await {
                // Fell behind (or saw a gap): read the missed events from the log.
                Ok(()) => continue,
                Err(end) => break end,
            }
        };
        match end {
            End::ClientGone => debug!(array = %self.array, "subscriber left"),
            End::Shutdown => {
                let bye = Err(Status::unavailable("server shutting down"));
                let _ = tokio::time::timeout(Duration::from_secs(1), self.tx.send(bye)).await;
            }
            End::Failed(s) => {
                let _ = self.tx.send(Err(s)).await;
            }
        }
    }

    /// Delivers every logged event with seq >= `next`.
    async fn catch_up(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<(), End> {
        loop {
            let store = self.shared.store.clone();
            let from = self.next;
            let array = self.array.clone();
            let page = self
                .shared
                .spawn_blocking(move || {
                    let filter = (!array.is_empty()).then_some(array.as_str());
                    store.changes_since_checked(filter, from, PAGE)
                })
                .await
                .map_err(|e| End::Failed(Status::internal(format!("change log reader: {e}"))))?
                .map_err(|e| End::Failed(storage_status(e)))?;
            let n = page.len();
            for ev in page {
                self.deliver(ev, shutdown).await?;
            }
            if n < PAGE {
                return Ok(());
            }
        }
    }

    /// Delivers live events until the subscriber falls behind (returns Ok to catch
    /// up from the log) or the feed ends.
    async fn follow(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<(), End> {
        loop {
            let received = tokio::select! {
                _ = self.tx.closed() => return Err(End::ClientGone),
                _ = shutdown.wait_for(|s| *s) => return Err(End::Shutdown),
                r = self.live.recv() => r,
            };
            match received {
                Ok(ev) if ev.seq < self.next => {}
                Ok(ev) if ev.seq == self.next => self.deliver(ev, shutdown).await?,
                // A gap: something between was not seen live; the log has it.
                Ok(_) => return Ok(()),
                Err(RecvError::Lagged(n)) => {
                    debug!(missed = n, "subscriber lagged; re-reading the change log");
                    return Ok(());
                }
                Err(RecvError::Closed) => return Err(End::Shutdown),
            }
        }
    }

    async fn deliver(
        &mut self,
        ev: ChangeEvent,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), End> {
        if ev.seq < self.next {
            return Ok(());
        }
        self.next = ev.seq + 1;
        if !self.array.is_empty() && ev.array != self.array {
            return Ok(());
        }
        let msg = T::from_event(&ev);
        tokio::select! {
            r = self.tx.send(Ok(msg)) => r.map_err(|_| End::ClientGone),
            _ = shutdown.wait_for(|s| *s) => Err(End::Shutdown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use arrayq_query::{Engine, EngineConfig};
    use arrayq_storage::{
        ArraySchema, Attribute, Buffer, CodecChain, Coordinate, DType, Dimension, Layout, Store,
    };

    /// A subscriber that does not read while the live buffer overflows still gets
    /// every event exactly once, in order (the feed re-reads the durable log).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lagging_subscriber_reads_the_log() {
        let store = Store::temporary().unwrap();
        let (events, _) = broadcast::channel(2);
        let feed_tx = events.clone();
        store.on_commit(move |ev| {
            let _ = feed_tx.send(ev.clone());
        });
        let (_stop_tx, stop_rx) = watch::channel(false);
        let engine = Engine::new(store.clone(), EngineConfig::default());
        let shared = Arc::new(Shared::new(
            store.clone(),
            engine,
            Limits::default(),
            stop_rx,
            events,
        ));
        let (tx, mut rx) = mpsc::channel::<Result<PbEvent, Status>>(1);
        let feed = Feed {
            shared: shared.clone(),
            array: String::new(),
            next: store.last_seq() + 1,
            live: shared.events.subscribe(),
            tx,
        };
        tokio::spawn(feed.run());

        let schema = ArraySchema {
            name: "a".into(),
            dims: vec![Dimension {
                name: "x".into(),
                coord: Coordinate::Regular {
                    start: 0.0,
                    step: 1.0,
                },
                len: 0,
                growable: true,
            }],
            attrs: vec![Attribute::new("v", DType::I32, None)],
            layouts: vec![Layout::new("l", vec![4], CodecChain::raw())],
            metadata: Default::default(),
        };
        let s = store.clone();
        tokio::task::spawn_blocking(move || {
            s.create_array(schema).unwrap();
            for k in 0..40u64 {
                let b = Buffer::from_le_bytes(DType::I32, &[1], &(k as i32).to_le_bytes()).unwrap();
                s.write("a", "v", &[k], b).unwrap();
            }
        })
        .await
        .unwrap();
        for seq in 1..=41u64 {
            let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("event in time")
                .expect("feed open")
                .expect("no error");
            assert_eq!(ev.seq, seq);
        }
        // Live again after catching up.
        let s = store.clone();
        tokio::task::spawn_blocking(move || s.drop_array("a").unwrap())
            .await
            .unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(ev.seq, 42);
    }
}
