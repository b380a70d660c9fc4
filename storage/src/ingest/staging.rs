//! Staging: the bytes of a sink's pending writes, in memory up to a bound and in a
//! spill file past it. Each staged item is the row-major bytes of one hyperslab,
//! appended in order; at commit each becomes a [`WriteSource`] the chunk writer
//! reads sub-regions from.
//!
//! A spill is a write to the store's disk like a commit's: it leaves the store's
//! free-space reserve alone (so sled, DROP and VACUUM keep their room while a large
//! write stages), and a full disk is [`StorageError::NoSpace`] naming the store.

use super::error::{IngestError, IngestResult};
use super::spill::SpillFile;
use crate::disk_space::is_no_space;
use crate::error::{Result, StorageError};
use crate::store::Store;
use crate::write_source::WriteSource;
use std::path::Path;
use std::sync::Arc;

/// Memory pieces of an item grow to at most this before a new one starts, so the
/// bytes held match the bytes staged (no doubling of a growing vector).
const PIECE_BYTES: usize = 1 << 20;

enum Part {
    Memory(Vec<u8>),
    File { offset: u64, len: usize },
}

impl Part {
    fn len(&self) -> usize {
        match self {
            Part::Memory(v) => v.len(),
            Part::File { len, .. } => *len,
        }
    }
}

/// The bytes of one staged item: consecutive parts, each in memory or in the file.
#[derive(Default)]
struct Item {
    parts: Vec<Part>,
    /// Byte offset of each part within the item.
    starts: Vec<usize>,
    len: usize,
    /// The item's final size, to size its memory pieces.
    expected: usize,
}

/// The staged items of one sink and the memory they hold.
pub(crate) struct Staging {
    /// The store the spill file is written for: its staging directory, its disk.
    store: Store,
    memory_bound: usize,
    in_memory: usize,
    spilled: u64,
    spill: Option<Arc<SpillFile>>,
    items: Vec<Item>,
}

impl Staging {
    /// Staging whose spill file (created on the first spill) goes into the
    /// store's staging directory.
    pub(crate) fn new(store: &Store, memory_bound: usize) -> Staging {
        Staging {
            store: store.clone(),
            memory_bound,
            in_memory: 0,
            spilled: 0,
            spill: None,
            items: Vec::new(),
        }
    }

    /// Starts an item that will hold `expected` bytes; returns its index.
    pub(crate) fn add(&mut self, expected: usize) -> usize {
        self.items.push(Item {
            expected,
            ..Item::default()
        });
        self.items.len() - 1
    }

    /// Bytes received so far by item `k`.
    pub(crate) fn len(&self, k: usize) -> usize {
        self.items[k].len
    }

    /// Bytes held in memory (capacity, not just length).
    pub(crate) fn in_memory(&self) -> usize {
        self.in_memory
    }

    /// Bytes written to the spill file so far.
    pub(crate) fn spilled(&self) -> u64 {
        self.spilled
    }

    /// The spill file, once there is one.
    pub(crate) fn spill_path(&self) -> Option<&Path> {
        self.spill.as_deref().map(SpillFile::path)
    }

    /// Appends `data` to item `k`, spilling everything held in memory first when
    /// `data` would take the memory past the bound.
    pub(crate) fn append(&mut self, k: usize, data: &[u8]) -> IngestResult<()> {
        if data.is_empty() {
            return Ok(());
        }
        let room = {
            let item = &self.items[k];
            match item.parts.last() {
                Some(Part::Memory(v)) => v.capacity() - v.len(),
                _ => 0,
            }
        };
        let grows = if data.len() <= room {
            0
        } else {
            let item = &self.items[k];
            let piece = PIECE_BYTES.min(self.memory_bound / 4).max(1);
            data.len()
                .max(item.expected.saturating_sub(item.len).min(piece))
        };
        if grows > 0 && self.in_memory + grows > self.memory_bound {
            self.spill_all()?;
            if data.len() > self.memory_bound / 2 {
                // Too large to be worth holding: straight to the file.
                let offset = self.write_file(data)?;
                self.spilled += data.len() as u64;
                self.items[k].push_file(offset, data.len());
                return Ok(());
            }
        }
        let item = &mut self.items[k];
        match item.parts.last_mut() {
            Some(Part::Memory(v)) if grows == 0 => v.extend_from_slice(data),
            _ => {
                let mut v = Vec::with_capacity(grows);
                v.extend_from_slice(data);
                item.starts.push(item.len);
                item.parts.push(Part::Memory(v));
                self.in_memory += grows;
            }
        }
        item.len += data.len();
        Ok(())
    }

    fn file(&mut self) -> IngestResult<Arc<SpillFile>> {
        if self.spill.is_none() {
            let file =
                SpillFile::create(&self.store.inner.staging_dir).map_err(|e| self.io_error(e))?;
            self.spill = Some(Arc::new(file));
        }
        Ok(self.spill.clone().expect("just created"))
    }

    /// Appends `data` to the spill file once the disk has room for it beside the
    /// reserve; returns its offset in the file.
    fn write_file(&mut self, data: &[u8]) -> IngestResult<u64> {
        self.store
            .ensure_space(data.len() as u64, "staging the write")?;
        let file = self.file()?;
        file.append(data).map_err(|e| self.io_error(e))
    }

    /// A spill file's I/O error: [`StorageError::NoSpace`] when the disk is full
    /// (the same error as a commit that does not fit), else a staging error.
    fn io_error(&self, e: std::io::Error) -> IngestError {
        if is_no_space(&e) {
            IngestError::Storage(self.store.name_no_space(StorageError::Io(e)))
        } else {
            IngestError::Staging(e)
        }
    }

    /// Moves every memory part of every item to the spill file.
    pub(crate) fn spill_all(&mut self) -> IngestResult<()> {
        if self.in_memory == 0 {
            return Ok(());
        }
        for k in 0..self.items.len() {
            let parts = std::mem::take(&mut self.items[k].parts);
            self.items[k].starts.clear();
            self.items[k].len = 0;
            for part in parts {
                match part {
                    Part::Memory(v) => {
                        let offset = self.write_file(&v)?;
                        self.spilled += v.len() as u64;
                        self.items[k].push_file(offset, v.len());
                    }
                    Part::File { offset, len } => self.items[k].push_file(offset, len),
                }
            }
        }
        self.in_memory = 0;
        Ok(())
    }

    /// The staged items as write sources, in staging order.
    pub(crate) fn into_sources(self) -> Vec<Box<dyn WriteSource>> {
        let file = self.spill;
        self.items
            .into_iter()
            .map(|item| {
                Box::new(StagedSource {
                    item,
                    file: file.clone(),
                }) as Box<dyn WriteSource>
            })
            .collect()
    }
}

impl Item {
    /// Adds a file part, merged with the previous one when they are adjacent.
    fn push_file(&mut self, offset: u64, len: usize) {
        if let Some(Part::File { offset: o, len: l }) = self.parts.last_mut() {
            if *o + *l as u64 == offset {
                *l += len;
                self.len += len;
                return;
            }
        }
        self.starts.push(self.len);
        self.parts.push(Part::File { offset, len });
        self.len += len;
    }
}

/// One staged item at commit; keeps the spill file alive (and so on disk) while
/// the chunk writer reads it.
struct StagedSource {
    item: Item,
    file: Option<Arc<SpillFile>>,
}

impl WriteSource for StagedSource {
    fn len(&self) -> usize {
        self.item.len
    }

    fn as_slice(&self) -> Option<&[u8]> {
        match self.item.parts.as_slice() {
            [Part::Memory(v)] => Some(v),
            [] => Some(&[]),
            _ => None,
        }
    }

    fn read_at(&self, offset: usize, out: &mut [u8]) -> Result<()> {
        let item = &self.item;
        let mut at = offset;
        let mut done = 0;
        let mut p = item.starts.partition_point(|&s| s <= at).saturating_sub(1);
        while done < out.len() {
            let part = &item.parts[p];
            let within = at - item.starts[p];
            let n = (part.len() - within).min(out.len() - done);
            let dst = &mut out[done..done + n];
            match part {
                Part::Memory(v) => dst.copy_from_slice(&v[within..within + n]),
                Part::File { offset, .. } => self
                    .file
                    .as_ref()
                    .expect("a file part has a spill file")
                    .read_at(offset + within as u64, dst)?,
            }
            done += n;
            at += n;
            p += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_and_memory_parts_read_back_in_order() {
        let store = Store::temporary().unwrap();
        let mut s = Staging::new(&store, 100);
        let a = s.add(300);
        let b = s.add(10);
        let bytes: Vec<u8> = (0..=255).chain(0..44).collect();
        s.append(a, &bytes[..30]).unwrap();
        s.append(b, &[7; 10]).unwrap();
        s.append(a, &bytes[30..200]).unwrap(); // past the bound: spills
        assert!(s.spilled() >= 30, "spilled {}", s.spilled());
        s.append(a, &bytes[200..]).unwrap();
        assert_eq!(s.len(a), 300);
        let path = s.spill_path().unwrap().to_path_buf();
        let sources = s.into_sources();
        let mut out = vec![0u8; 300];
        sources[0].read_at(0, &mut out).unwrap();
        assert_eq!(out, bytes);
        let mut mid = vec![0u8; 50];
        sources[0].read_at(180, &mut mid).unwrap();
        assert_eq!(mid, bytes[180..230]);
        let mut ten = [0u8; 10];
        sources[1].read_at(0, &mut ten).unwrap();
        assert_eq!(ten, [7; 10]);
        assert!(path.exists());
        drop(sources);
        assert!(!path.exists(), "the spill file goes with its last source");
    }
}
