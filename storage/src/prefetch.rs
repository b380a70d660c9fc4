//! Reading ahead the chunk payloads a read is about to decode.
//!
//! Payloads are decoded straight from a mapping of their segment. A cold page fault
//! on a mapping reads a whole readahead window around the page (the device's
//! `read_ahead_kb`, 8 MiB on the benchmark machine), so a cold read of one 92 KB
//! chunk read 8 MiB, and the faults of a query come one at a time per worker. Instead
//! a read first asks for exactly the byte ranges it needs: [`Snapshot::prefetch`]
//! resolves the chunks' pointers, sorts them by segment and offset, merges neighbours
//! and hands them to a thread of the store that submits them
//! (`posix_fadvise(WILLNEED)`: the kernel queues the reads and returns), all at once,
//! so the device has them queued while the workers decode the first chunks. Each
//! worker also asks for its chunk's range before touching it (`Segments`), in case the
//! queue has not reached it yet.

use crate::error::Result;
use crate::segments::Segment;
use crate::snapshot::Snapshot;
use parking_lot::Mutex;
use rayon::prelude::*;
use std::sync::mpsc::Sender;
use std::sync::Arc;

/// Payload ranges this close are read as one range (one request instead of two
/// costs more than reading the gap).
const MERGE_GAP: u64 = 64 << 10;

/// At most this many bytes are read ahead per call: a scan of a whole cube would
/// otherwise fill the page cache far ahead of its decoding.
const AHEAD_MAX: u64 = 256 << 20;

/// A byte range of a segment file.
pub(crate) struct Extent {
    pub segment: Arc<Segment>,
    pub offset: u64,
    pub len: u64,
}

/// The thread that submits read-ahead, so no reader waits for the submission (it
/// blocks when the device queue is full). It ends when the store is dropped.
pub(crate) struct Readahead {
    tx: Mutex<Sender<Vec<Extent>>>,
}

impl Readahead {
    pub fn start() -> std::io::Result<Readahead> {
        let (tx, rx) = std::sync::mpsc::channel::<Vec<Extent>>();
        std::thread::Builder::new()
            .name("arrayq-readahead".into())
            .spawn(move || {
                for extents in rx {
                    for e in extents {
                        e.segment.will_need(e.offset, e.len);
                    }
                }
            })?;
        Ok(Readahead { tx: Mutex::new(tx) })
    }

    fn submit(&self, extents: Vec<Extent>) {
        if !extents.is_empty() {
            let _ = self.tx.lock().send(extents);
        }
    }
}

/// `extents` sorted by segment and offset, neighbours closer than [`MERGE_GAP`]
/// merged, cut off after [`AHEAD_MAX`] bytes.
fn merged(mut extents: Vec<Extent>) -> Vec<Extent> {
    extents.sort_by_key(|e| (Arc::as_ptr(&e.segment) as usize, e.offset));
    let mut out: Vec<Extent> = Vec::with_capacity(extents.len());
    let mut total = 0;
    for e in extents {
        if total >= AHEAD_MAX {
            break;
        }
        total += e.len;
        match out.last_mut() {
            Some(last)
                if Arc::ptr_eq(&last.segment, &e.segment)
                    && e.offset <= last.offset + last.len + MERGE_GAP =>
            {
                last.len = last.len.max(e.offset + e.len - last.offset);
            }
            _ => out.push(e),
        }
    }
    out
}

impl Snapshot {
    /// Starts reading in the stored payloads of `chunks` (coordinates in layout index
    /// `layout`) of attribute index `attr`, in the background; returns at once. Reads
    /// are right without it: it only saves their waiting when the data is not in the
    /// page cache. When the first, middle and last chunk were read recently (resident)
    /// the rest is assumed to be too, and nothing else is looked up.
    pub fn prefetch(&self, attr: usize, layout: usize, chunks: &[Vec<u64>]) -> Result<()> {
        let schema = self.schema();
        let (Some(l), Some(a)) = (schema.layouts.get(layout), schema.attrs.get(attr)) else {
            return Ok(());
        };
        let store = self.store();
        let extent = |chunk: &Vec<u64>| -> Result<Option<(Extent, bool)>> {
            let found = store.newest_chunk_value(
                self.meta().array_id,
                l.id,
                a.id,
                &l.key_coords(chunk),
                self.version(),
            )?;
            Ok(found
                .and_then(|(_, v)| store.inner.segments.extent(&v))
                .map(|(segment, offset, len, resident)| {
                    let len = u64::from(len);
                    (
                        Extent {
                            segment,
                            offset,
                            len,
                        },
                        resident,
                    )
                }))
        };
        let n = chunks.len();
        if n == 0 {
            return Ok(());
        }
        let mut warm = true;
        for k in [0, n / 2, n - 1] {
            warm &= extent(&chunks[k])?.is_none_or(|(_, resident)| resident);
        }
        if warm {
            return Ok(());
        }
        let extents: Vec<Extent> = chunks
            .par_iter()
            .map(extent)
            .filter_map(|e| match e {
                Ok(Some((e, false))) => Some(Ok(e)),
                Ok(_) => None,
                Err(err) => Some(Err(err)),
            })
            .collect::<Result<_>>()?;
        store.inner.readahead.submit(merged(extents));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbouring_ranges_merge_in_offset_order_and_far_ones_stay_apart() {
        let dir = tempfile::tempdir().unwrap();
        let open = |name: &str| {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(dir.path().join(name))
                .unwrap();
            f.set_len(1 << 20).unwrap();
            Arc::new(Segment::open_for_test(f))
        };
        let (s1, s2) = (open("a"), open("b"));
        let e = |s: &Arc<Segment>, offset, len| Extent {
            segment: s.clone(),
            offset,
            len,
        };
        let out = merged(vec![
            e(&s1, 300_000, 1000),
            e(&s2, 0, 100),
            e(&s1, 0, 1000),
            e(&s1, 1000 + MERGE_GAP, 500),
            e(&s1, 10, 20),
        ]);
        let got: Vec<(bool, u64, u64)> = out
            .iter()
            .map(|x| (Arc::ptr_eq(&x.segment, &s1), x.offset, x.len))
            .collect();
        let mut want = vec![
            (true, 0, 1000 + MERGE_GAP + 500),
            (true, 300_000, 1000),
            (false, 0, 100),
        ];
        // Segments sort by address: either may come first.
        if Arc::as_ptr(&s2) < Arc::as_ptr(&s1) {
            want.rotate_right(1);
        }
        assert_eq!(got, want);
    }
}
