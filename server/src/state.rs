//! State shared by all calls: the store and engine, the query slots, the registry of
//! running calls (so a shutdown can cancel them) and counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrayq_query::Engine;
use arrayq_storage::{ChangeEvent, Store};
use tokio::sync::{broadcast, watch, Notify, Semaphore};

use crate::config::Limits;

/// Why a call was cancelled: decides the status reported (if anyone still listens).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Reason {
    /// Not cancelled.
    None = 0,
    /// The client cancelled the call or went away.
    Client = 1,
    /// The call's deadline (grpc-timeout or timeout_ms) passed.
    Deadline = 2,
    /// The server is shutting down and the grace period is over.
    Shutdown = 3,
}

/// The cancellation flag of one call, shared with the query engine
/// (`QueryContext::cancel`) and with whatever waits on the call's behalf.
pub struct CallCancel {
    flag: Arc<AtomicBool>,
    reason: AtomicU8,
    notify: Notify,
}

impl CallCancel {
    pub fn new() -> Arc<CallCancel> {
        Arc::new(CallCancel {
            flag: Arc::new(AtomicBool::new(false)),
            reason: AtomicU8::new(Reason::None as u8),
            notify: Notify::new(),
        })
    }

    /// The flag the engine checks between chunks.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.flag.clone()
    }

    /// Cancels (the first reason wins) and wakes a waiter.
    pub fn cancel(&self, why: Reason) {
        let _ = self.reason.compare_exchange(
            Reason::None as u8,
            why as u8,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    pub fn reason(&self) -> Reason {
        match self.reason.load(Ordering::SeqCst) {
            1 => Reason::Client,
            2 => Reason::Deadline,
            3 => Reason::Shutdown,
            _ => Reason::None,
        }
    }

    /// Resolves once [`CallCancel::cancel`] has been called.
    pub async fn cancelled(&self) {
        while !self.is_cancelled() {
            self.notify.notified().await;
        }
    }
}

/// Counters reported by Health (as response metadata) and in logs.
#[derive(Default)]
pub struct Counters {
    pub queries_total: AtomicU64,
    pub queries_rejected: AtomicU64,
    pub writes_total: AtomicU64,
}

pub struct Shared {
    pub store: Store,
    pub engine: Arc<Engine>,
    pub limits: Limits,
    /// One permit per running query.
    pub slots: Arc<Semaphore>,
    /// One permit per running Write stream.
    pub write_slots: Arc<Semaphore>,
    pub started: Instant,
    /// False once a shutdown began.
    pub serving: AtomicBool,
    /// Becomes true when a shutdown begins (subscriptions end, new calls drain).
    pub shutdown: watch::Receiver<bool>,
    /// Live change events, fed by the store's commit listener.
    pub events: broadcast::Sender<ChangeEvent>,
    running: Mutex<HashMap<u64, Arc<CallCancel>>>,
    next_call: AtomicU64,
    /// Blocking tasks (engine work, commits) in flight.
    blocking: AtomicUsize,
    pub counters: Counters,
    /// The server's ingest jobs (`CREATE INGEST`).
    pub jobs: crate::ingest_jobs::IngestJobs,
}

impl Shared {
    pub fn new(
        store: Store,
        engine: Engine,
        limits: Limits,
        shutdown: watch::Receiver<bool>,
        events: broadcast::Sender<ChangeEvent>,
    ) -> Shared {
        Shared {
            store,
            engine: Arc::new(engine),
            slots: Arc::new(Semaphore::new(limits.max_concurrent_queries.max(1))),
            write_slots: Arc::new(Semaphore::new(limits.max_concurrent_writes.max(1))),
            limits,
            started: Instant::now(),
            serving: AtomicBool::new(true),
            shutdown,
            events,
            running: Mutex::new(HashMap::new()),
            next_call: AtomicU64::new(1),
            blocking: AtomicUsize::new(0),
            counters: Counters::default(),
            jobs: Default::default(),
        }
    }

    /// Registers a call's cancel flag until the returned guard drops.
    pub fn register(self: &Arc<Self>, cancel: Arc<CallCancel>) -> Registered {
        let id = self.next_call.fetch_add(1, Ordering::Relaxed);
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, cancel);
        Registered {
            shared: self.clone(),
            id,
        }
    }

    /// Number of registered (running) calls.
    pub fn running(&self) -> usize {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Cancels every registered call.
    pub fn cancel_all(&self, why: Reason) -> usize {
        let calls = self.running.lock().unwrap_or_else(|e| e.into_inner());
        for c in calls.values() {
            c.cancel(why);
        }
        calls.len()
    }

    /// Runs `f` on tokio's blocking pool, counted so shutdown can wait for it.
    pub fn spawn_blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        self.blocking.fetch_add(1, Ordering::SeqCst);
        let shared = self.clone();
        tokio::task::spawn_blocking(move || {
            struct Done(Arc<Shared>);
            impl Drop for Done {
                fn drop(&mut self) {
                    self.0.blocking.fetch_sub(1, Ordering::SeqCst);
                }
            }
            let _done = Done(shared);
            f()
        })
    }

    pub fn blocking_tasks(&self) -> usize {
        self.blocking.load(Ordering::SeqCst)
    }

    /// Waits until no blocking task runs, at most `limit`; true if idle.
    pub async fn wait_blocking_idle(&self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while self.blocking_tasks() > 0 {
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }
}

/// Removes a call from the registry when dropped.
pub struct Registered {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.shared
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// Cancels a call when dropped unless disarmed (unary calls: tonic drops the handler
/// future when the client cancels or the deadline passes).
pub struct CancelOnDrop(pub Option<Arc<CallCancel>>);

impl CancelOnDrop {
    pub fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.cancel(Reason::Client);
        }
    }
}
