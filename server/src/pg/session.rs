//! Per-connection state (backend pid and secret key, the running query's cancel
//! flag, LISTEN channels) and the door-wide registry CancelRequests look in.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use pgwire::messages::response::NotificationResponse;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use pgwire::error::PgWireResult;

use crate::auth::constant_time_eq;
use crate::pg::copy::CopyIn;
use crate::pg::errors::{denied, error, BAD_PASSWORD};
use crate::roles::{authorize, Access, Caller};
use crate::state::{CallCancel, Reason};

/// One client connection.
pub struct Session {
    pub pid: i32,
    pub secret: i32,
    /// The cancel flag of the statement running now, if any.
    running: Mutex<Option<Arc<CallCancel>>>,
    /// Notifications for the connection loop to send.
    pub notify_tx: mpsc::Sender<NotificationResponse>,
    /// LISTEN channel -> its feed task.
    pub listens: Mutex<HashMap<String, JoinHandle<()>>>,
    /// The COPY FROM STDIN in progress.
    pub copy: Mutex<Option<CopyIn>>,
    /// Who the session authenticated as (None until then).
    caller: Mutex<Option<Caller>>,
}

impl Session {
    /// Marks `cancel` as the running statement's until the guard drops.
    pub fn running(self: &Arc<Self>, cancel: Arc<CallCancel>) -> RunningGuard {
        *lock(&self.running) = Some(cancel);
        RunningGuard(self.clone())
    }

    /// Set once authentication succeeds.
    pub fn authenticated(&self, caller: Caller) {
        *lock(&self.caller) = Some(caller);
    }

    /// Who the session authenticated as.
    pub fn caller(&self) -> PgWireResult<Caller> {
        lock(&self.caller)
            .clone()
            .ok_or_else(|| error(BAD_PASSWORD, "the session is not authenticated"))
    }

    /// Fails with insufficient_privilege unless the session's role allows `access`.
    pub fn authorize(&self, access: &Access) -> PgWireResult<()> {
        authorize(&self.caller()?, access).map_err(denied)
    }

    fn cancel(&self) {
        if let Some(c) = lock(&self.running).as_ref() {
            c.cancel(Reason::Client);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Feeds end when their task is aborted (their receiver goes away).
        for (_, task) in lock(&self.listens).drain() {
            task.abort();
        }
    }
}

pub struct RunningGuard(Arc<Session>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        *lock(&self.0.running) = None;
    }
}

/// All open sessions by backend pid.
#[derive(Default)]
pub struct Sessions {
    by_pid: Mutex<HashMap<i32, Weak<Session>>>,
    next_pid: AtomicI32,
}

impl Sessions {
    /// A new session with a fresh pid and random secret key.
    pub fn open(&self, notify_tx: mpsc::Sender<NotificationResponse>) -> Arc<Session> {
        let pid = self.next_pid.fetch_add(1, Ordering::Relaxed) + 1;
        let session = Arc::new(Session {
            pid,
            secret: random_i32(),
            running: Mutex::new(None),
            notify_tx,
            listens: Mutex::new(HashMap::new()),
            copy: Mutex::new(None),
            caller: Mutex::new(None),
        });
        let mut map = lock(&self.by_pid);
        map.retain(|_, s| s.strong_count() > 0);
        map.insert(pid, Arc::downgrade(&session));
        session
    }

    /// A CancelRequest: cancels the session's running statement when pid and secret
    /// match (compared in constant time); unknown pids are ignored, as in Postgres.
    pub fn cancel(&self, pid: i32, secret: &[u8]) -> bool {
        let Some(s) = lock(&self.by_pid).get(&pid).and_then(Weak::upgrade) else {
            return false;
        };
        if !constant_time_eq(&s.secret.to_be_bytes(), secret) {
            return false;
        }
        s.cancel();
        true
    }
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A secret key nobody can guess from the pid: std's randomly keyed hasher.
fn random_i32() -> i32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    h.write_u64(now.map_or(0, |d| d.as_nanos() as u64));
    h.finish() as i32
}
