//! The ingest sink: validates what it is given, stages it (memory, then a spill
//! file) and commits it as one version through [`WriteTx`].

use super::error::{IngestError, IngestResult};
use super::records::Tiles;
use super::staging::Staging;
use crate::error::StorageError;
use crate::meta::CommitInfo;
use crate::region::Region;
use crate::schema::ArraySchema;
use crate::store::Store;
use crate::write::WriteTx;
use crate::write_source::{BufferSource, WriteSource};
use crate::{Buffer, DType};
use std::borrow::Cow;

/// How much a sink may hold.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// Staged bytes kept in memory before they spill to the staging file. Records
    /// being assembled into tiles are sealed into staging once tiles and staged
    /// bytes together pass it, so a records load holds at most about twice this.
    pub memory_bytes: usize,
    /// Total bytes one write may stage (all blocks and records); none if `None`.
    pub max_bytes: Option<u64>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            memory_bytes: 64 << 20,
            max_bytes: None,
        }
    }
}

/// A block begun in a sink, to push its bytes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockId(usize);

/// One write to an array, fed in blocks and records, committed as one version or
/// not at all. Dropping it (or [`IngestSink::abort`]) discards everything staged.
///
/// Where staged data overlaps, what was staged later wins: a block is staged when it
/// is begun, records when their tile is sealed (at the latest, at commit).
pub struct IngestSink {
    tx: WriteTx,
    staging: Staging,
    /// Attribute index and region of each staging item.
    items: Vec<(usize, Region)>,
    /// Buffers handed over whole ([`IngestSink::write_owned`]), by staging item: they
    /// go to the chunk writer as they are, never copied into staging.
    owned: Vec<Option<Box<dyn WriteSource>>>,
    /// The staging item of each block.
    blocks: Vec<usize>,
    tiles: Tiles,
    memory_bytes: usize,
    max_bytes: Option<u64>,
    reserved: u64,
}

impl Store {
    /// Starts an ingest sink on `array` with default bounds.
    pub fn ingest(&self, array: &str) -> IngestResult<IngestSink> {
        self.ingest_with(array, IngestOptions::default())
    }

    /// Starts an ingest sink on `array`.
    pub fn ingest_with(&self, array: &str, opts: IngestOptions) -> IngestResult<IngestSink> {
        let tx = self.begin_write(array)?;
        let tile_shape = tx.schema().layouts[0].chunk_shape.clone();
        Ok(IngestSink {
            tx,
            staging: Staging::new(self, opts.memory_bytes),
            items: Vec::new(),
            owned: Vec::new(),
            blocks: Vec::new(),
            tiles: Tiles::new(tile_shape),
            memory_bytes: opts.memory_bytes,
            max_bytes: opts.max_bytes,
            reserved: 0,
        })
    }
}

impl IngestSink {
    /// The schema the write is checked against.
    pub fn schema(&self) -> &ArraySchema {
        self.tx.schema()
    }

    /// Appends labels to a growable labels dimension; blocks and records begun
    /// afterwards may address them.
    pub fn append_labels(&mut self, dim: &str, labels: &[i64]) -> IngestResult<&mut Self> {
        self.tx.append_labels(dim, labels)?;
        Ok(self)
    }

    /// Grows dimension `dim` backward by `cells` cells (see [`WriteTx::prepend`]);
    /// what was staged before moves with its cells, and indices given from now on
    /// are in the new numbering.
    pub fn prepend(&mut self, dim: &str, cells: u64) -> IngestResult<&mut Self> {
        let d = self.schema().dim_index(dim)?;
        self.tx.prepend(dim, cells)?;
        for (_, region) in &mut self.items {
            let r = &mut region.0[d];
            *r = r.start + cells..r.end + cells;
        }
        self.tiles.shift(d, cells);
        Ok(self)
    }

    /// Sets a mark with the commit (see [`WriteTx::set_mark`]).
    pub fn set_mark(&mut self, key: &str, value: &str) -> &mut Self {
        self.tx.set_mark(key, value);
        self
    }

    /// Appends text labels to a growable text labels dimension; as [`Self::append_labels`].
    pub fn append_text_labels<S: AsRef<str>>(
        &mut self,
        dim: &str,
        labels: &[S],
    ) -> IngestResult<&mut Self> {
        self.tx.append_text_labels(dim, labels)?;
        Ok(self)
    }

    /// Appends labels of either kind (the Write RPC's label appends).
    pub fn append_label_values(
        &mut self,
        dim: &str,
        labels: crate::coord::Labels,
    ) -> IngestResult<&mut Self> {
        self.tx.append_label_values(dim, labels)?;
        Ok(self)
    }

    /// Fails the commit unless the head is still `version`.
    pub fn expect_version(&mut self, version: u64) -> &mut Self {
        self.tx.expect_version(version);
        self
    }

    /// Begins a block: the hyperslab at `start` of `shape` (index space) of `attr`,
    /// whose row-major little-endian bytes follow in [`IngestSink::push_block`].
    pub fn begin_block(
        &mut self,
        attr: &str,
        start: &[u64],
        shape: &[u64],
    ) -> IngestResult<BlockId> {
        let a = self.schema().attr_index(attr)?;
        if start.len() != shape.len() {
            return Err(StorageError::ShapeMismatch(format!(
                "block of attribute '{attr}': start of rank {} but shape of rank {}",
                start.len(),
                shape.len()
            ))
            .into());
        }
        let too_large = || IngestError::RegionTooLarge {
            attr: attr.to_string(),
            region: format!("start {start:?} shape {shape:?}"),
        };
        let ranges = start
            .iter()
            .zip(shape)
            .map(|(&s, &n)| s.checked_add(n).map(|e| s..e).ok_or_else(too_large))
            .collect::<IngestResult<_>>()?;
        let region = Region(ranges);
        if region.is_empty() {
            return Err(IngestError::EmptyRegion {
                attr: attr.to_string(),
                region: region.to_string(),
            });
        }
        self.tx.check_region(&region)?;
        let esize = self.schema().attrs[a].dtype.size() as u64;
        let need = shape
            .iter()
            .try_fold(esize, |acc, &n| acc.checked_mul(n))
            .filter(|&n| usize::try_from(n).is_ok())
            .ok_or_else(too_large)?;
        self.reserve(need)?;
        let item = self.add_item(a, region, need as usize);
        self.blocks.push(item);
        Ok(BlockId(self.blocks.len() - 1))
    }

    /// Adds `data` at `byte_offset` of a block's bytes; pieces arrive in order.
    pub fn push_block(
        &mut self,
        block: BlockId,
        byte_offset: u64,
        data: &[u8],
    ) -> IngestResult<()> {
        let &item = self
            .blocks
            .get(block.0)
            .ok_or(IngestError::UnknownBlock(block.0))?;
        let (a, region) = &self.items[item];
        let attr = &self.tx.schema().attrs[*a];
        let received = self.staging.len(item) as u64;
        let need = region.len() * attr.dtype.size() as u64;
        if byte_offset != received {
            return Err(IngestError::OffsetMismatch {
                attr: attr.name.clone(),
                offset: byte_offset,
                received,
            });
        }
        if received + data.len() as u64 > need {
            return Err(IngestError::PastRegion {
                attr: attr.name.clone(),
                region: region.to_string(),
                end: received + data.len() as u64,
                len: need,
            });
        }
        if attr.dtype == DType::Bool && data.iter().any(|&b| b > 1) {
            // Stored bools are 0/1 bytes, whatever true byte the sender used.
            let norm: Vec<u8> = data.iter().map(|&b| (b != 0) as u8).collect();
            self.staging.append(item, &norm)?;
        } else {
            self.staging.append(item, data)?;
        }
        Ok(())
    }

    /// Stages a whole buffer at `start` as one block.
    pub fn write(&mut self, attr: &str, start: &[u64], data: &Buffer) -> IngestResult<BlockId> {
        self.check_dtype(attr, data)?;
        let shape: Vec<u64> = data.shape().iter().map(|&n| n as u64).collect();
        let block = self.begin_block(attr, start, &shape)?;
        // Borrowed when the buffer is already its bytes (numeric, standard layout).
        let bytes = match crate::codec::buffer_bytes(data) {
            Some(b) => Cow::Borrowed(b),
            None => Cow::Owned(data.to_le_bytes()),
        };
        self.push_block(block, 0, &bytes)?;
        Ok(block)
    }

    /// Stages a whole buffer the caller hands over at `start`, without copying it:
    /// it stays in memory (the caller holds it already) and goes to the chunk writer
    /// as it is at commit. For loaders that build whole slabs in memory; streams of
    /// pieces go through [`IngestSink::begin_block`].
    pub fn write_owned(&mut self, attr: &str, start: &[u64], data: Buffer) -> IngestResult<()> {
        self.check_dtype(attr, &data)?;
        let a = self.schema().attr_index(attr)?;
        if start.len() != data.shape().len() {
            return Err(StorageError::ShapeMismatch(format!(
                "buffer of attribute '{attr}': start of rank {} but data of rank {}",
                start.len(),
                data.shape().len()
            ))
            .into());
        }
        let region = Region::from_start_shape(start, data.shape());
        if region.is_empty() {
            return Err(IngestError::EmptyRegion {
                attr: attr.to_string(),
                region: region.to_string(),
            });
        }
        self.tx.check_region(&region)?;
        let bytes = region.len() * self.schema().attrs[a].dtype.size() as u64;
        self.reserve(bytes)?;
        let item = self.add_item(a, region, 0);
        self.owned[item] = Some(Box::new(BufferSource::new(data)));
        Ok(())
    }

    /// Sets single cells of `attr`: `coords` holds one index tuple per value (flat,
    /// rank numbers each), `values` the values in the same order (any shape; its
    /// dtype must be the attribute's). Cells never given keep their stored values.
    pub fn push_cells(&mut self, attr: &str, coords: &[u64], values: &Buffer) -> IngestResult<()> {
        let a = self.schema().attr_index(attr)?;
        self.check_dtype(attr, values)?;
        let rank = self.schema().dims.len();
        let n = values.len();
        if coords.len() != n * rank {
            return Err(IngestError::CellCount {
                attr: attr.to_string(),
                values: n,
                cells: coords.len() / rank.max(1),
                rank,
                coords: coords.len(),
            });
        }
        if n == 0 {
            return Ok(());
        }
        // One range check for the batch: its bounding box.
        let mut bbox = Region(coords[..rank].iter().map(|&c| c..c + 1).collect());
        for cell in coords.chunks_exact(rank).skip(1) {
            for (r, &c) in bbox.0.iter_mut().zip(cell) {
                r.start = r.start.min(c);
                r.end = r.end.max(c + 1);
            }
        }
        self.tx.check_region(&bbox)?;
        let esize = values.dtype().size();
        self.reserve((n * esize) as u64)?;
        let bytes = match crate::codec::buffer_bytes(values) {
            Some(b) => Cow::Borrowed(b),
            None => Cow::Owned(values.to_le_bytes()),
        };
        self.tiles.push(a, esize, coords, &bytes);
        if self.tiles.bytes() + self.staging.in_memory() > self.memory_bytes {
            self.seal_tiles()?;
        }
        Ok(())
    }

    /// Bytes staged so far (blocks begun count in full).
    pub fn staged_bytes(&self) -> u64 {
        self.reserved
    }

    /// Bytes moved to the staging file so far.
    pub fn spilled_bytes(&self) -> u64 {
        self.staging.spilled()
    }

    /// The staging file, once data has spilled.
    pub fn spill_path(&self) -> Option<&std::path::Path> {
        self.staging.spill_path()
    }

    /// Commits everything staged as one version (or nothing, on error); the
    /// staging file is removed either way.
    pub fn commit(mut self) -> IngestResult<CommitInfo> {
        self.seal_tiles()?;
        for &item in &self.blocks {
            // (Owned buffers are whole by construction.)
            let (a, region) = &self.items[item];
            let attr = &self.tx.schema().attrs[*a];
            let need = region.len() * attr.dtype.size() as u64;
            let got = self.staging.len(item) as u64;
            if got != need {
                return Err(IngestError::Incomplete {
                    attr: attr.name.clone(),
                    region: region.to_string(),
                    got,
                    need,
                });
            }
        }
        let mut tx = self.tx;
        let staged = self.staging.into_sources();
        for (((a, region), source), owned) in self.items.into_iter().zip(staged).zip(self.owned) {
            tx.stage(a, region, owned.unwrap_or(source));
        }
        Ok(tx.commit()?)
    }

    /// Discards everything staged.
    pub fn abort(self) {}

    fn check_dtype(&self, attr: &str, data: &Buffer) -> IngestResult<()> {
        let want = self.schema().attr(attr)?.dtype;
        if data.dtype() != want {
            return Err(StorageError::DTypeMismatch {
                attr: attr.to_string(),
                expected: want,
                got: data.dtype(),
            }
            .into());
        }
        Ok(())
    }

    fn reserve(&mut self, bytes: u64) -> IngestResult<()> {
        let total = self.reserved.saturating_add(bytes);
        if let Some(limit) = self.max_bytes.filter(|&l| total > l) {
            return Err(IngestError::TooLarge {
                bytes: total,
                limit,
            });
        }
        self.reserved = total;
        Ok(())
    }

    fn add_item(&mut self, attr: usize, region: Region, bytes: usize) -> usize {
        let item = self.staging.add(bytes);
        debug_assert_eq!(item, self.items.len());
        self.items.push((attr, region));
        self.owned.push(None);
        item
    }

    /// Moves the assembled tiles into staging as blocks.
    fn seal_tiles(&mut self) -> IngestResult<()> {
        for b in self.tiles.seal() {
            let item = self.add_item(b.attr, b.region, b.bytes.len());
            self.staging.append(item, &b.bytes)?;
        }
        Ok(())
    }
}
