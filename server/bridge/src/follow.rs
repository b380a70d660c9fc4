//! Follow mode: LISTEN on the source and pull past the watermark on every NOTIFY
//! and on every (re)connect, reconnecting with exponential backoff while the
//! source is away.

use std::time::Duration;

use tracing::warn;

use crate::error::BridgeError;
use crate::source::{Source, SourceSpec};

/// Waits between reconnects: from `min`, doubling up to `max`.
#[derive(Clone, Debug)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The wait before the next attempt (and doubles the one after).
    pub fn next_wait(&mut self) -> Duration {
        let w = self.next;
        self.next = (self.next * 2).min(self.max);
        w
    }

    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(200), Duration::from_secs(30))
    }
}

/// A source followed on a channel.
pub struct Follower {
    spec: SourceSpec,
    channel: String,
    source: Option<Source>,
    backoff: Backoff,
    catch_up: bool,
}

impl Follower {
    pub fn new(spec: SourceSpec, channel: &str) -> Follower {
        Follower {
            spec,
            channel: channel.to_string(),
            source: None,
            backoff: Backoff::default(),
            catch_up: true,
        }
    }

    /// Waits until a pull is due and returns the source to pull from: at once after
    /// a (re)connect, to catch up, then on the next NOTIFY on the channel (several
    /// waiting count as one). A source that is away is retried with backoff; an
    /// error that would only repeat (a bad query, a mistyped column) is returned.
    pub async fn due(&mut self) -> Result<&Source, BridgeError> {
        loop {
            if self.source.is_none() {
                match self.connect().await {
                    Ok(s) => {
                        self.source = Some(s);
                        self.backoff.reset();
                        self.catch_up = true;
                    }
                    Err(e) if e.is_transient() => {
                        let wait = self.backoff.next_wait();
                        warn!(target: "arrayq::bridge", error = %e, retry_in_ms = wait.as_millis() as u64, "source unavailable");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            let source = self.source.as_mut().expect("connected");
            if std::mem::take(&mut self.catch_up) {
                source.drain_notified();
                break;
            }
            match source.notified().await {
                Ok(_) => {
                    source.drain_notified();
                    break;
                }
                Err(e) if e.is_transient() => {
                    warn!(target: "arrayq::bridge", error = %e, "source connection lost");
                    self.source = None;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(self.source.as_ref().expect("connected"))
    }

    /// Drops the connection after a failed pull: the next [`Follower::due`]
    /// reconnects (with backoff) and pulls again from the durable watermark.
    pub fn reset(&mut self) {
        self.source = None;
    }

    /// Waits before retrying after a failed pull.
    pub async fn back_off(&mut self) {
        tokio::time::sleep(self.backoff.next_wait()).await;
    }

    async fn connect(&self) -> Result<Source, BridgeError> {
        let source = Source::connect(&self.spec).await?;
        source.listen(&self.channel).await?;
        Ok(source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(700));
        let waits: Vec<u128> = (0..5).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 400, 700, 700]);
        b.reset();
        assert_eq!(b.next_wait(), Duration::from_millis(100));
    }
}
