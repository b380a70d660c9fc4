//! LISTEN / UNLISTEN: a channel per array, fed by the same change feed as gRPC
//! Subscribe (durable change log, then live commits; exactly once, in order).
//!
//! `LISTEN name` delivers every commit to array `name` from now on (the array
//! need not exist yet). `LISTEN "name@SEQ"` resumes: every event with a sequence
//! number above SEQ (the `seq` of the last payload the client saw), read back from
//! the change log first. Notifications name the channel `name` either way.

use arrayq_storage::{ChangeEvent, CoordValue};
use pgwire::error::PgWireResult;
use pgwire::messages::response::NotificationResponse;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use tracing::debug;

use crate::pg::errors::{error, storage_sqlstate, BAD_VALUE};
use crate::pg::session::lock;
use crate::pg::Handler;
use crate::roles::{Access, Operation};
use crate::subscribe::Feed;

/// Events buffered between a channel's feed and the connection.
const FEED_BUFFER: usize = 64;

/// `name` or `name@SEQ`.
pub fn parse_channel(channel: &str) -> Result<(String, Option<u64>), String> {
    match channel.rsplit_once('@') {
        Some((name, seq)) => seq
            .parse()
            .map(|s| (name.to_string(), Some(s)))
            .map_err(|_| format!("'{seq}' in LISTEN \"{channel}\" is not a sequence number")),
        None => Ok((channel.to_string(), None)),
    }
}

impl Handler {
    pub async fn listen(&self, channel: &str) -> PgWireResult<()> {
        let (array, after) = parse_channel(channel).map_err(|m| error(BAD_VALUE, m))?;
        let access = Access::new(Operation::Subscribe, Some(&array));
        self.session.authorize(&access)?;
        let mut listens = lock(&self.session.listens);
        // LISTEN twice is a no-op, as in Postgres; a resume replaces the feed.
        if after.is_none() && listens.contains_key(&array) {
            return Ok(());
        }
        let shared = self.door.shared.clone();
        // Subscribe before reading the head, so nothing committed between is missed
        // (the feed drops what it already delivered by sequence number).
        let live = shared.events.subscribe();
        let next = after.map_or_else(|| shared.store.last_seq() + 1, |s| s + 1);
        // A resume from events vacuum trimmed is an error, not a silent gap.
        shared
            .store
            .check_log_position(Some(&array), next)
            .map_err(|e| error(storage_sqlstate(&e), e.to_string()))?;
        let (tx, mut rx) = mpsc::channel::<Result<ChangeEvent, tonic::Status>>(FEED_BUFFER);
        tokio::spawn(
            Feed {
                shared,
                array: array.clone(),
                next,
                live,
                tx,
            }
            .run(),
        );
        let (notify, pid, name) = (
            self.session.notify_tx.clone(),
            self.session.pid,
            array.clone(),
        );
        let task = tokio::spawn(async move {
            while let Some(Ok(ev)) = rx.recv().await {
                let n = NotificationResponse::new(pid, name.clone(), payload(&ev));
                if notify.send(n).await.is_err() {
                    break;
                }
            }
            debug!(channel = %name, "LISTEN feed ended");
        });
        if let Some(old) = listens.insert(array, task) {
            old.abort();
        }
        Ok(())
    }

    /// `UNLISTEN name` (None: `UNLISTEN *`). Dropping a feed's receiver ends it.
    pub fn unlisten(&self, channel: Option<&str>) {
        let mut listens = lock(&self.session.listens);
        match channel {
            Some(c) => {
                let name = parse_channel(c).map_or(c.to_string(), |(n, _)| n);
                if let Some(t) = listens.remove(&name) {
                    t.abort();
                }
            }
            None => listens.drain().for_each(|(_, t)| t.abort()),
        }
    }
}

/// The JSON payload of a change event: array, version, seq, kind, cells, and when
/// the event carries them the written time range (first and last timestamp,
/// ISO-8601 UTC) and the labels written along a label dimension (only when the
/// extent names every one of them: one or two labels).
pub fn payload(ev: &ChangeEvent) -> String {
    let kind = ev.kind.name();
    let mut m = Map::new();
    m.insert("array".into(), json!(ev.array));
    m.insert("version".into(), json!(ev.version));
    m.insert("seq".into(), json!(ev.seq));
    m.insert("kind".into(), json!(kind));
    if let Some(r) = ev
        .region
        .iter()
        .find(|r| matches!(r.first, CoordValue::Time(_)))
    {
        if let (CoordValue::Time(a), CoordValue::Time(b)) = (&r.first, &r.last) {
            m.insert(
                "time_range".into(),
                json!([
                    arrayq_storage::time::format_unix_ns(*a),
                    arrayq_storage::time::format_unix_ns(*b)
                ]),
            );
        }
    }
    // The event records the extent of the labels touched, so the labels themselves
    // are known only when the extent holds one or two.
    let labels = ev.region.iter().find_map(|r| match (&r.first, &r.last) {
        (CoordValue::Label(a), CoordValue::Label(b)) => Some((r, json!(a), json!(b))),
        (CoordValue::Text(a), CoordValue::Text(b)) => Some((r, json!(a), json!(b))),
        _ => None,
    });
    if let Some((r, a, b)) = labels {
        match r.end.saturating_sub(r.start) {
            1 => {
                m.insert("assets".into(), json!([a]));
            }
            2 => {
                m.insert("assets".into(), json!([a, b]));
            }
            _ => {}
        }
    }
    m.insert("cells".into(), json!(ev.cells_written));
    Value::Object(m).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrayq_storage::{ChangeKind, DimExtent};

    #[test]
    fn channel_spellings() {
        assert_eq!(parse_channel("power").unwrap(), ("power".into(), None));
        assert_eq!(
            parse_channel("power@12").unwrap(),
            ("power".into(), Some(12))
        );
        assert!(parse_channel("power@x").is_err());
    }

    #[test]
    fn payload_carries_what_the_event_has() {
        let ev = ChangeEvent {
            seq: 7,
            array: "power".into(),
            kind: ChangeKind::Write,
            version: 3,
            timestamp_ns: 0,
            region: vec![
                DimExtent {
                    dim: "asset".into(),
                    start: 4,
                    end: 5,
                    first: CoordValue::Label(42),
                    last: CoordValue::Label(42),
                },
                DimExtent {
                    dim: "time".into(),
                    start: 0,
                    end: 2,
                    first: CoordValue::Time(0),
                    last: CoordValue::Time(900_000_000_000),
                },
            ],
            cells_written: 2,
        };
        let v: Value = serde_json::from_str(&payload(&ev)).unwrap();
        assert_eq!(
            v,
            json!({"array": "power", "version": 3, "seq": 7, "kind": "write",
                   "time_range": ["1970-01-01T00:00:00Z", "1970-01-01T00:15:00Z"],
                   "assets": [42], "cells": 2})
        );
    }
}
