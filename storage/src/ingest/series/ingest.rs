//! The series ingest itself: rows in, cells into the sink, commits out.

use super::grid::{lcm, LabelIndex, TimeGrid};
use super::{
    CommitPolicy, Label, SeriesCommit, SeriesError, SeriesOptions, SeriesRow, SeriesSpec,
    PUSH_ROWS, SERIES_CHUNK, TIME_RESERVE_CHUNKS,
};
use crate::coord::Coordinate;
use crate::dtype::{Buffer, DType, Scalar};
use crate::error::StorageError;
use crate::ingest::IngestSink;
use crate::schema::{ArraySchema, Attribute, Dimension, Layout};
use crate::store::Store;
use crate::CodecChain;
use std::collections::HashMap;

/// Feeds rows into an (asset x time) array; see the module docs.
pub struct SeriesIngest {
    store: Store,
    spec: SeriesSpec,
    opts: SeriesOptions,
    /// Index of the label and time dimensions in the array, once it exists.
    dims: Option<(usize, usize)>,
    labels: LabelIndex,
    time: TimeGrid,
    sink: Option<IngestSink>,
    /// Rows not yet handed to the sink.
    pending: Vec<SeriesRow>,
    /// Per cell of this commit given more than once candidate: the version it holds.
    versions: HashMap<(u64, u64), i64>,
    round: Option<i64>,
    /// Marks to set with the next commit.
    marks: Vec<(String, String)>,
    rows_seen: u64,
    rows_in_commit: u64,
    commits: Vec<SeriesCommit>,
}

impl SeriesIngest {
    /// Starts feeding `spec.array`, which is checked now if it exists and created
    /// from the first rows otherwise.
    pub fn start(
        store: &Store,
        spec: SeriesSpec,
        opts: SeriesOptions,
    ) -> Result<Self, SeriesError> {
        let mut me = SeriesIngest {
            store: store.clone(),
            spec,
            opts,
            dims: None,
            labels: LabelIndex::default(),
            time: TimeGrid::default(),
            sink: None,
            pending: Vec::new(),
            versions: HashMap::new(),
            round: None,
            marks: Vec::new(),
            rows_seen: 0,
            rows_in_commit: 0,
            commits: Vec::new(),
        };
        if let Ok(snap) = store.snapshot(&me.spec.array, crate::AsOf::Latest) {
            me.adopt(&snap.meta().schema)?;
        }
        Ok(me)
    }

    /// Rows received so far.
    pub fn rows(&self) -> u64 {
        self.rows_seen
    }

    /// Commits made so far.
    pub fn commits(&self) -> &[SeriesCommit] {
        &self.commits
    }

    /// Sets a mark with the next commit (see `WriteTx::set_mark`): a source's
    /// watermark lands atomically with the rows read up to it.
    pub fn set_mark(&mut self, key: &str, value: &str) {
        self.marks.push((key.to_string(), value.to_string()));
    }

    /// The value of mark `key` at the array's head, if the array and the mark exist.
    pub fn mark(store: &Store, array: &str, key: &str) -> Option<String> {
        let snap = store.snapshot(array, crate::AsOf::Latest).ok()?;
        snap.meta().marks.get(key).cloned()
    }

    /// Takes one row (committing first when a new round begins).
    pub fn push(&mut self, row: SeriesRow) -> Result<(), SeriesError> {
        self.rows_seen += 1;
        if let Some(v) = row.version {
            if let Some(r) = self.round {
                if v != r && self.opts.policy == CommitPolicy::PerVersion {
                    if v < r {
                        return Err(SeriesError::VersionOrder {
                            row: self.rows_seen,
                            version: v,
                            after: r,
                        });
                    }
                    self.commit_pending()?;
                }
            }
            self.round = Some(self.round.map_or(v, |r| r.max(v)));
        }
        self.pending.push(row);
        if self.pending.len() >= PUSH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// Commits what is staged and returns every commit made.
    pub fn finish(mut self) -> Result<Vec<SeriesCommit>, SeriesError> {
        self.commit_pending()?;
        Ok(self.commits)
    }

    fn commit_pending(&mut self) -> Result<(), SeriesError> {
        self.flush()?;
        let Some(mut sink) = self.sink.take() else {
            return Ok(());
        };
        self.labels.append_new(&mut sink, &self.spec.label_dim)?;
        for (k, v) in self.marks.drain(..) {
            sink.set_mark(&k, &v);
        }
        let info = sink.commit()?;
        self.commits.push(SeriesCommit {
            info,
            rows: std::mem::take(&mut self.rows_in_commit),
            version: self.round,
        });
        self.versions.clear();
        Ok(())
    }

    /// Hands the pending rows to the sink (creating the array first if need be).
    fn flush(&mut self) -> Result<(), SeriesError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        let first_row = self.rows_seen - rows.len() as u64 + 1;
        if self.dims.is_none() {
            self.create(&rows)?;
        }
        let (ld, td) = self.dims.expect("array adopted");
        if self.sink.is_none() {
            let sink = self
                .store
                .ingest_with(&self.spec.array, self.opts.sink.clone())?;
            self.sink = Some(sink);
        }
        self.grow_backward(&rows)?;
        let rank = 2;
        let mut coords = Vec::with_capacity(rows.len() * rank);
        let mut values = Vec::with_capacity(rows.len());
        for (k, row) in rows.iter().enumerate() {
            let at = first_row + k as u64;
            let li = self.labels.index_of(&row.label, at, &self.spec.label_dim)?;
            let ti = self.time.index_of(row.time_ns, at, &self.spec.time_dim)?;
            if let (Some(v), CommitPolicy::Once) = (row.version, self.opts.policy) {
                // Keep the higher version of a cell given twice in one commit.
                match self.versions.entry((li, ti)) {
                    std::collections::hash_map::Entry::Occupied(mut e) => {
                        if *e.get() > v {
                            continue;
                        }
                        e.insert(v);
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(v);
                    }
                }
            }
            let mut cell = [0u64; 2];
            cell[ld] = li;
            cell[td] = ti;
            coords.extend_from_slice(&cell);
            values.push(row.value.unwrap_or(f64::NAN));
        }
        self.rows_in_commit += rows.len() as u64;
        let sink = self.sink.as_mut().expect("sink begun");
        self.labels.append_new(sink, &self.spec.label_dim)?;
        let dtype = sink.schema().attr(&self.spec.attribute)?.dtype;
        let n = values.len();
        let values = match dtype {
            DType::F32 => Buffer::F32(
                ndarray::ArrayD::from_shape_vec(
                    vec![n],
                    values.iter().map(|&v| v as f32).collect(),
                )
                .expect("1-d"),
            ),
            _ => Buffer::F64(ndarray::ArrayD::from_shape_vec(vec![n], values).expect("1-d")),
        };
        sink.push_cells(&self.spec.attribute, &coords, &values)?;
        Ok(())
    }

    /// Moves the time start back (whole chunks) when rows precede it.
    fn grow_backward(&mut self, rows: &[SeriesRow]) -> Result<(), SeriesError> {
        let Some(earliest) = rows.iter().map(|r| r.time_ns).min() else {
            return Ok(());
        };
        if earliest >= self.time.start_ns {
            return Ok(());
        }
        let (_, td) = self.dims.expect("array adopted");
        let sink = self.sink.as_mut().expect("sink begun");
        let chunk = sink
            .schema()
            .layouts
            .iter()
            .map(|l| l.chunk_shape[td])
            .fold(1, lcm);
        let need = (self.time.start_ns - earliest).div_euclid(self.time.step_ns) as u64 + 1;
        let cells = need.div_ceil(chunk) * chunk;
        sink.prepend(&self.spec.time_dim, cells)?;
        self.time.start_ns -= cells as i64 * self.time.step_ns;
        self.versions = std::mem::take(&mut self.versions)
            .into_iter()
            .map(|((l, t), v)| ((l, t + cells), v))
            .collect();
        Ok(())
    }

    /// Creates the array from the first rows: labels of their kind, time from the
    /// earliest of them.
    fn create(&mut self, rows: &[SeriesRow]) -> Result<(), SeriesError> {
        let spec = &self.spec;
        let start_ns = rows.iter().map(|r| r.time_ns).min().unwrap_or(0);
        // Typed labels decide by the first row; untyped ones are integers only if
        // every one of this first batch parses as an integer.
        let int_labels = match &rows[0].label {
            Label::Int(_) => true,
            Label::Text(_) => false,
            Label::Untyped(_) => rows.iter().all(|r| match &r.label {
                Label::Untyped(s) => s.trim().parse::<i64>().is_ok(),
                Label::Int(_) => true,
                Label::Text(_) => false,
            }),
        };
        let label_coord = if int_labels {
            Coordinate::int_labels(Vec::new())
        } else {
            Coordinate::text_labels(Vec::<String>::new())
        };
        let mut layout = Layout::new(
            "rows",
            SERIES_CHUNK.to_vec(),
            CodecChain::shuffle_zstd(spec.dtype.size(), crate::schema::DEFAULT_ZSTD_LEVEL),
        );
        layout.key_offset = vec![0, TIME_RESERVE_CHUNKS];
        let schema = ArraySchema {
            name: spec.array.clone(),
            dims: vec![
                Dimension {
                    name: spec.label_dim.clone(),
                    coord: label_coord,
                    len: 0,
                    growable: true,
                },
                Dimension {
                    name: spec.time_dim.clone(),
                    coord: Coordinate::Time {
                        start_ns,
                        step_ns: spec.step_ns,
                    },
                    len: 0,
                    growable: true,
                },
            ],
            attrs: vec![Attribute::new(
                &spec.attribute,
                spec.dtype,
                Some(Scalar::F64(f64::NAN)),
            )],
            layouts: vec![layout],
            metadata: Default::default(),
        };
        match self.store.create_array(schema) {
            Ok(_) => {}
            // Someone else made it meanwhile: take theirs, checked.
            Err(StorageError::ArrayExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let snap = self.store.snapshot(&self.spec.array, crate::AsOf::Latest)?;
        self.adopt(&snap.meta().schema)
    }

    /// Checks an existing array and learns its labels and time grid.
    fn adopt(&mut self, schema: &ArraySchema) -> Result<(), SeriesError> {
        let spec = &self.spec;
        let bad = |why: String| SeriesError::Shape {
            array: spec.array.clone(),
            why,
        };
        if schema.dims.len() != 2 {
            return Err(bad(format!(
                "it has {} dimensions; series rows need ({}, {})",
                schema.dims.len(),
                spec.label_dim,
                spec.time_dim
            )));
        }
        let ld = schema
            .dim_index(&spec.label_dim)
            .map_err(|_| bad(format!("it has no dimension '{}'", spec.label_dim)))?;
        let td = schema
            .dim_index(&spec.time_dim)
            .map_err(|_| bad(format!("it has no dimension '{}'", spec.time_dim)))?;
        let attr = schema
            .attr(&spec.attribute)
            .map_err(|_| bad(format!("it has no attribute '{}'", spec.attribute)))?;
        if !matches!(attr.dtype, DType::F32 | DType::F64) {
            return Err(bad(format!(
                "attribute '{}' is {}, not a floating-point type",
                spec.attribute,
                attr.dtype.name()
            )));
        }
        let Coordinate::Time { start_ns, step_ns } = schema.dims[td].coord else {
            return Err(bad(format!(
                "dimension '{}' has {} coordinates, not time",
                spec.time_dim,
                schema.dims[td].coord.kind_name()
            )));
        };
        self.labels = LabelIndex::of(&schema.dims[ld]).ok_or_else(|| {
            bad(format!(
                "dimension '{}' has {} coordinates, not labels",
                spec.label_dim,
                schema.dims[ld].coord.kind_name()
            ))
        })?;
        self.time = TimeGrid { start_ns, step_ns };
        self.dims = Some((ld, td));
        Ok(())
    }
}
