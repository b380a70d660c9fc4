//! Physical execution: chunk-aligned scans through one layout, element-wise
//! evaluation over whole chunks, and partial aggregates per chunk merged across rayon
//! workers. Nothing here holds more than the result, the aggregation state and the
//! chunks in flight.

use crate::error::QueryError;
use crate::eval::{eval, Col, EType, Inputs, Lit, PExpr};
use crate::logical::{AggFunc, AggInput, GroupKey, Kind, Plan, SKIP};
use arrayq_storage::{Coordinate, ReadOptions, ReadStats, Region};
use parking_lot::Mutex;
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Cancellation, deadline and counters shared by one query's workers.
pub struct Exec {
    pub cancel: Arc<AtomicBool>,
    pub deadline: Option<Instant>,
    pub read: ReadStats,
    pub read_ns: AtomicU64,
    pub compute_ns: AtomicU64,
    pub merge_ns: AtomicU64,
}

impl Exec {
    pub fn new(cancel: Arc<AtomicBool>, deadline: Option<Instant>) -> Exec {
        Exec {
            cancel,
            deadline,
            read: ReadStats::default(),
            read_ns: AtomicU64::new(0),
            compute_ns: AtomicU64::new(0),
            merge_ns: AtomicU64::new(0),
        }
    }

    pub fn check(&self) -> Result<(), QueryError> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(QueryError::Cancelled);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(QueryError::Timeout);
        }
        Ok(())
    }

    fn timed<T>(&self, ctr: &AtomicU64, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let r = f();
        ctr.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        r
    }
}

/// The pieces of `region` cut along the chunks of `chunk_shape`, row-major.
pub fn chunk_pieces(region: &Region, chunk_shape: &[u64]) -> Vec<Region> {
    region
        .chunks(chunk_shape)
        .iter()
        .map(|c| {
            Region::of_chunk(c, chunk_shape)
                .intersect(region)
                .expect("chunk touches region")
        })
        .collect()
}

/// The pieces of `region` that hold at least one selected cell: with label picks
/// (`asset IN (1, 51, 101)`) chunks between the picked labels are never read.
pub fn selected_pieces(plan: &Plan, region: &Region) -> Vec<Region> {
    let chunk_shape = &plan.snap.schema().layouts[plan.layout].chunk_shape;
    let mut pieces = chunk_pieces(region, chunk_shape);
    pieces.retain(|p| {
        plan.dims.iter().zip(&p.0).all(|(sel, r)| match &sel.picks {
            None => true,
            Some(picks) => {
                let k = picks.partition_point(|&i| i < r.start);
                k < picks.len() && picks[k] < r.end
            }
        })
    });
    pieces
}

/// Reads every input attribute over `piece` (one chunk) and converts to columns.
fn read_piece(plan: &Plan, ex: &Exec, piece: &Region) -> Result<Vec<Col>, QueryError> {
    ex.check()?;
    ex.timed(&ex.read_ns, || {
        plan.attrs
            .iter()
            .map(|&a| {
                let opts = ReadOptions {
                    layout: Some(plan.layout),
                    cancel: Some(&ex.cancel),
                    stats: Some(&ex.read),
                };
                plan.snap
                    .read_with(a, piece, opts)
                    .map(Col::from_buffer)
                    .map_err(QueryError::from_storage)
            })
            .collect()
    })
}

fn origin(piece: &Region) -> Vec<u64> {
    piece.0.iter().map(|r| r.start).collect()
}

/// Per dimension, for every index of `piece`: its offset contribution (or SKIP).
fn contributions(
    piece: &Region,
    region: &Region,
    maps: &[Option<&[u32]>],
    lo: &[u32],
    strides: &[usize],
) -> Vec<Vec<usize>> {
    piece
        .0
        .iter()
        .enumerate()
        .map(|(d, r)| {
            let base = region.0[d].start;
            (r.start..r.end)
                .map(|i| match maps[d] {
                    None => 0,
                    Some(m) => {
                        let p = m[(i - base) as usize];
                        if p == SKIP {
                            usize::MAX
                        } else {
                            (p - lo[d]) as usize * strides[d]
                        }
                    }
                })
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------- aggregation

/// Accumulated statistics per group for one input, with values shifted by `k`
/// (the first value seen) so sums of squares keep their precision.
struct Acc {
    k: f64,
    n: Vec<u64>,
    s: Vec<f64>,
    q: Vec<f64>,
    mn: Vec<f64>,
    mx: Vec<f64>,
}

impl Acc {
    fn new(len: usize, inp: &AggInput) -> Acc {
        Acc {
            k: f64::NAN,
            n: vec![0; len],
            s: vec![0.0; len],
            q: if inp.var { vec![0.0; len] } else { vec![] },
            mn: if inp.minmax {
                vec![f64::INFINITY; len]
            } else {
                vec![]
            },
            mx: if inp.minmax {
                vec![f64::NEG_INFINITY; len]
            } else {
                vec![]
            },
        }
    }
}

trait Val: Copy + Send + Sync {
    fn f(self) -> f64;
}
impl Val for f32 {
    #[inline(always)]
    fn f(self) -> f64 {
        self as f64
    }
}
impl Val for f64 {
    #[inline(always)]
    fn f(self) -> f64 {
        self
    }
}
impl Val for i64 {
    #[inline(always)]
    fn f(self) -> f64 {
        self as f64
    }
}
impl Val for bool {
    #[inline(always)]
    fn f(self) -> f64 {
        self as u8 as f64
    }
}

fn accumulate(
    acc: &mut Acc,
    col: &Col,
    shape: &[usize],
    contrib: &[Vec<usize>],
    uniform_last: bool,
    n: usize,
) {
    let (mm, var) = (!acc.mn.is_empty(), !acc.q.is_empty());
    macro_rules! go {
        ($v:expr) => {
            match (mm, var) {
                (false, false) => {
                    acc_typed::<_, false, false>(acc, $v, shape, contrib, uniform_last)
                }
                (true, false) => acc_typed::<_, true, false>(acc, $v, shape, contrib, uniform_last),
                (false, true) => acc_typed::<_, false, true>(acc, $v, shape, contrib, uniform_last),
                (true, true) => acc_typed::<_, true, true>(acc, $v, shape, contrib, uniform_last),
            }
        };
    }
    match col {
        Col::F32(v) => go!(v),
        Col::F64(v) => go!(v),
        Col::I64(v) => go!(v),
        Col::Bool(v) => go!(v),
        Col::Const(l) => {
            let v = vec![crate::eval::lit_f64(*l); n];
            go!(&v)
        }
    }
}

#[inline(always)]
fn acc_typed<T: Val, const MM: bool, const VAR: bool>(
    acc: &mut Acc,
    data: &[T],
    shape: &[usize],
    contrib: &[Vec<usize>],
    uniform_last: bool,
) {
    if data.is_empty() {
        return;
    }
    if acc.k.is_nan() {
        if let Some(x) = data.iter().map(|x| x.f()).find(|x| !x.is_nan()) {
            acc.k = x;
        } else {
            return;
        }
    }
    let k = acc.k;
    let rank = shape.len();
    let inner = shape[rank - 1];
    let outer = data.len() / inner;
    let mut idx = vec![0usize; rank - 1];
    let last = &contrib[rank - 1];
    let contiguous_last = last
        .iter()
        .enumerate()
        .all(|(i, &c)| c != usize::MAX && c == last[0] + i);
    for o in 0..outer {
        let mut base = 0usize;
        let mut skip = false;
        for d in 0..rank - 1 {
            let c = contrib[d][idx[d]];
            if c == usize::MAX {
                skip = true;
                break;
            }
            base += c;
        }
        if !skip {
            let row = &data[o * inner..(o + 1) * inner];
            if uniform_last {
                reduce_run::<T, MM, VAR>(acc, base, row, k);
            } else if contiguous_last {
                let g0 = base + last[0];
                accumulate_slice::<T, MM, VAR>(acc, g0, row, k);
            } else {
                for (i, &x) in row.iter().enumerate() {
                    let c = last[i];
                    let v = x.f();
                    if c == usize::MAX || v.is_nan() {
                        continue;
                    }
                    let g = base + c;
                    let y = v - k;
                    acc.n[g] += 1;
                    acc.s[g] += y;
                    if VAR {
                        acc.q[g] += y * y;
                    }
                    if MM {
                        acc.mn[g] = acc.mn[g].min(v);
                        acc.mx[g] = acc.mx[g].max(v);
                    }
                }
            }
        }
        // Next outer index.
        let mut d = rank - 1;
        while d > 0 {
            d -= 1;
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

const LANES: usize = 8;

/// Reduces a run into one group: branch-free lanes (NaN masked), so it vectorises.
#[inline(always)]
fn reduce_run<T: Val, const MM: bool, const VAR: bool>(acc: &mut Acc, g: usize, row: &[T], k: f64) {
    let mut n = [0u64; LANES];
    let mut s = [0.0f64; LANES];
    let mut q = [0.0f64; LANES];
    let mut mn = [f64::INFINITY; LANES];
    let mut mx = [f64::NEG_INFINITY; LANES];
    let mut it = row.chunks_exact(LANES);
    for c in it.by_ref() {
        for l in 0..LANES {
            let v = c[l].f();
            let ok = !v.is_nan();
            let y = if ok { v - k } else { 0.0 };
            n[l] += ok as u64;
            s[l] += y;
            if VAR {
                q[l] += y * y;
            }
            if MM {
                // f64::min/max ignore a NaN operand.
                mn[l] = mn[l].min(v);
                mx[l] = mx[l].max(v);
            }
        }
    }
    for (l, x) in it.remainder().iter().enumerate() {
        let v = x.f();
        let ok = !v.is_nan();
        let y = if ok { v - k } else { 0.0 };
        n[l] += ok as u64;
        s[l] += y;
        if VAR {
            q[l] += y * y;
        }
        if MM {
            mn[l] = mn[l].min(v);
            mx[l] = mx[l].max(v);
        }
    }
    acc.n[g] += n.iter().sum::<u64>();
    acc.s[g] += s.iter().sum::<f64>();
    if VAR {
        acc.q[g] += q.iter().sum::<f64>();
    }
    if MM {
        acc.mn[g] = mn.iter().fold(acc.mn[g], |a, &b| a.min(b));
        acc.mx[g] = mx.iter().fold(acc.mx[g], |a, &b| a.max(b));
    }
}

/// Accumulates a run into consecutive groups `g0..g0 + row.len()` (zipped slices).
#[inline(always)]
fn accumulate_slice<T: Val, const MM: bool, const VAR: bool>(
    acc: &mut Acc,
    g0: usize,
    row: &[T],
    k: f64,
) {
    let m = row.len();
    let n = &mut acc.n[g0..g0 + m];
    let s = &mut acc.s[g0..g0 + m];
    for i in 0..m {
        let v = row[i].f();
        let ok = !v.is_nan();
        n[i] += ok as u64;
        s[i] += if ok { v - k } else { 0.0 };
    }
    if VAR {
        let q = &mut acc.q[g0..g0 + m];
        for i in 0..m {
            let v = row[i].f();
            let y = if !v.is_nan() { v - k } else { 0.0 };
            q[i] += y * y;
        }
    }
    if MM {
        let mn = &mut acc.mn[g0..g0 + m];
        for i in 0..m {
            mn[i] = mn[i].min(row[i].f());
        }
        let mx = &mut acc.mx[g0..g0 + m];
        for i in 0..m {
            mx[i] = mx[i].max(row[i].f());
        }
    }
}

/// Merges a partial over the group box `lo..lo+shape` into the global state.
fn merge(global: &mut Acc, part: &Acc, lo: &[u32], pshape: &[usize], gstrides: &[usize]) {
    if part.k.is_nan() {
        return; // saw nothing
    }
    if global.k.is_nan() {
        global.k = part.k;
    }
    let delta = part.k - global.k;
    let total: usize = pshape.iter().product();
    let rank = pshape.len();
    let mut idx = vec![0usize; rank];
    for p in 0..total {
        let mut g = 0usize;
        for d in 0..rank {
            g += (lo[d] as usize + idx[d]) * gstrides[d];
        }
        let n = part.n[p];
        if n > 0 {
            let nf = n as f64;
            let s = part.s[p];
            global.n[g] += n;
            global.s[g] += s + nf * delta;
            if !global.q.is_empty() {
                global.q[g] += part.q[p] + 2.0 * delta * s + nf * delta * delta;
            }
            if !global.mn.is_empty() {
                global.mn[g] = global.mn[g].min(part.mn[p]);
                global.mx[g] = global.mx[g].max(part.mx[p]);
            }
        }
        let mut d = rank;
        while d > 0 {
            d -= 1;
            idx[d] += 1;
            if idx[d] < pshape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

fn finish(acc: &Acc, f: AggFunc) -> Col {
    let k = acc.k;
    let n = acc.n.len();
    let per = |g: usize| -> f64 {
        let c = acc.n[g];
        let nf = c as f64;
        match f {
            AggFunc::Count => nf,
            AggFunc::Sum => {
                if c == 0 {
                    0.0
                } else {
                    nf * k + acc.s[g]
                }
            }
            _ if c == 0 => f64::NAN,
            AggFunc::Avg => k + acc.s[g] / nf,
            AggFunc::Min => acc.mn[g],
            AggFunc::Max => acc.mx[g],
            AggFunc::VarPop | AggFunc::StdPop | AggFunc::VarSamp | AggFunc::StdSamp => {
                let s = acc.s[g];
                let m2 = (acc.q[g] - s * s / nf).max(0.0);
                let v = match f {
                    AggFunc::VarPop | AggFunc::StdPop => m2 / nf,
                    _ if c < 2 => f64::NAN,
                    _ => m2 / (nf - 1.0),
                };
                if matches!(f, AggFunc::StdPop | AggFunc::StdSamp) {
                    v.sqrt()
                } else {
                    v
                }
            }
        }
    };
    if f == AggFunc::Count {
        Col::I64(acc.n.iter().map(|&c| c as i64).collect())
    } else {
        Col::F64((0..n).map(per).collect())
    }
}

/// A group box (per group key: lo..hi) and the pieces accumulated into it.
type Task = (Vec<(u32, u32)>, Vec<usize>);

/// Runs an aggregate plan; returns the output columns (each over all groups).
pub fn aggregate(plan: &Plan, ex: &Exec) -> Result<Vec<Col>, QueryError> {
    let Kind::Aggregate {
        inputs,
        calls,
        outputs,
        groups,
    } = &plan.kind
    else {
        return Err(QueryError::Internal("aggregate() on a projection".into()));
    };
    let rank = plan.region.rank();
    let gshape: Vec<usize> = groups.iter().map(|g| g.len).collect();
    let ng: usize = gshape.iter().product();
    // Global strides per output (group) dimension, and which group key each dim has.
    let mut gstrides = vec![1usize; groups.len()];
    for o in (0..groups.len().saturating_sub(1)).rev() {
        gstrides[o] = gstrides[o + 1] * gshape[o + 1];
    }
    let key_of_dim: Vec<Option<usize>> = (0..rank)
        .map(|d| groups.iter().position(|g| g.dim == d))
        .collect();
    // Dimensions with picks but no group key still need a map (to skip unpicked cells).
    let pick_maps: Vec<Option<Vec<u32>>> = plan
        .dims
        .iter()
        .map(|s| {
            s.picks.as_ref().map(|_| {
                s.positions()
                    .into_iter()
                    .map(|p| if p == SKIP { SKIP } else { 0 })
                    .collect()
            })
        })
        .collect();
    let maps: Vec<Option<&[u32]>> = (0..rank)
        .map(|d| match key_of_dim[d] {
            Some(o) => Some(groups[o].map.as_slice()),
            None => pick_maps[d].as_deref(),
        })
        .collect();

    let mut global: Vec<Acc> = inputs.iter().map(|i| Acc::new(ng, i)).collect();
    if !plan.empty {
        let pieces = selected_pieces(plan, &plan.region);
        // Group box (per group key: lo..hi) of each piece.
        let gbox = |p: &Region| -> Vec<(u32, u32)> {
            groups
                .iter()
                .map(|g| {
                    let r = &p.0[g.dim];
                    let base = plan.region.0[g.dim].start;
                    let vals = (r.start..r.end)
                        .map(|i| g.map[(i - base) as usize])
                        .filter(|&x| x != SKIP);
                    let (mut lo, mut hi) = (u32::MAX, 0u32);
                    for v in vals {
                        lo = lo.min(v);
                        hi = hi.max(v + 1);
                    }
                    if lo == u32::MAX {
                        (0, 0)
                    } else {
                        (lo, hi)
                    }
                })
                .collect()
        };
        // Tasks: pieces sharing a group box, split further for parallelism.
        let mut order: Vec<Vec<(u32, u32)>> = Vec::new();
        let mut by_box: HashMap<Vec<(u32, u32)>, Vec<usize>> = HashMap::new();
        for (i, p) in pieces.iter().enumerate() {
            let b = gbox(p);
            if b.iter().any(|(lo, hi)| lo == hi) {
                continue; // nothing selected in this piece
            }
            by_box
                .entry(b.clone())
                .or_insert_with(|| {
                    order.push(b);
                    Vec::new()
                })
                .push(i);
        }
        let threads = rayon::current_num_threads().max(1);
        let want = 4 * threads;
        let mut tasks: Vec<Task> = Vec::new();
        let per = want.div_ceil(order.len().max(1));
        for b in order {
            let list = by_box.remove(&b).unwrap_or_default();
            let k = per.min(list.len()).max(1);
            let size = list.len().div_ceil(k);
            for part in list.chunks(size.max(1)) {
                tasks.push((b.clone(), part.to_vec()));
            }
        }
        let global_m = Mutex::new(std::mem::take(&mut global));
        let coords: Vec<Coordinate> = plan.coords();
        tasks
            .par_iter()
            .try_for_each(|(b, list)| -> Result<(), QueryError> {
                let lo: Vec<u32> = b.iter().map(|x| x.0).collect();
                let pshape: Vec<usize> = b.iter().map(|x| (x.1 - x.0) as usize).collect();
                let plen: usize = pshape.iter().product();
                let mut pstrides = vec![1usize; pshape.len()];
                for o in (0..pshape.len().saturating_sub(1)).rev() {
                    pstrides[o] = pstrides[o + 1] * pshape[o + 1];
                }
                let dim_lo: Vec<u32> = (0..rank)
                    .map(|d| key_of_dim[d].map(|o| lo[o]).unwrap_or(0))
                    .collect();
                let dim_stride: Vec<usize> = (0..rank)
                    .map(|d| key_of_dim[d].map(|o| pstrides[o]).unwrap_or(0))
                    .collect();
                let mut part: Vec<Acc> = inputs.iter().map(|i| Acc::new(plen, i)).collect();
                for &pi in list {
                    let piece = &pieces[pi];
                    let cols = read_piece(plan, ex, piece)?;
                    let t = Instant::now();
                    let shape = piece.shape();
                    let n: usize = shape.iter().product();
                    let org = origin(piece);
                    let contrib = contributions(piece, &plan.region, &maps, &dim_lo, &dim_stride);
                    let uniform_last = maps[rank - 1].is_none();
                    let inp = Inputs {
                        slots: &cols,
                        shape: &shape,
                        origin: &org,
                        coords: &coords,
                        n,
                    };
                    for (acc, input) in part.iter_mut().zip(inputs) {
                        match &input.expr {
                            PExpr::Slot { k, .. } => {
                                accumulate(acc, &cols[*k], &shape, &contrib, uniform_last, n)
                            }
                            e => {
                                let c = eval(e, &inp);
                                accumulate(acc, &c, &shape, &contrib, uniform_last, n)
                            }
                        }
                    }
                    ex.compute_ns
                        .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                }
                let t = Instant::now();
                let mut g = global_m.lock();
                for (ga, pa) in g.iter_mut().zip(&part) {
                    merge(ga, pa, &lo, &pshape, &gstrides);
                }
                ex.merge_ns
                    .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                Ok(())
            })?;
        global = global_m.into_inner();
    }
    ex.check()?;
    let call_cols: Vec<Col> = calls
        .iter()
        .map(|c| finish(&global[c.input], c.func))
        .collect();
    let coords: Vec<Coordinate> = Vec::new();
    let shape = if gshape.is_empty() {
        vec![1]
    } else {
        gshape.clone()
    };
    let origin = vec![0u64; shape.len()];
    let inp = Inputs {
        slots: &call_cols,
        shape: &shape,
        origin: &origin,
        coords: &coords,
        n: ng,
    };
    Ok(outputs
        .iter()
        .map(|o| eval(o, &inp).into_type(o.ty(), ng))
        .collect())
}

/// Group keys' coordinates are computed at plan time; this is only for EXPLAIN.
pub fn group_text(g: &GroupKey, dim_name: &str) -> String {
    match g.trunc {
        None => dim_name.to_string(),
        Some((u, None)) => format!("date_trunc('{}', {dim_name})", u.name()),
        Some((u, Some(tz))) => format!("date_trunc('{}', {dim_name}, '{}')", u.name(), tz.name()),
    }
}

// ---------------------------------------------------------------- projection

/// One slab of a projection: a chunk-aligned part of the region along the slab
/// dimension, contiguous in the output.
pub struct Slab {
    pub region: Region,
    pub out_offset: usize,
    pub out_len: usize,
}

/// Cuts the region into chunk-aligned slabs along the first dimension whose output
/// extent exceeds 1 (every earlier dimension has extent 1, so each slab is one
/// contiguous run of the row-major output).
pub fn slabs(plan: &Plan) -> Vec<Slab> {
    if plan.empty {
        return vec![];
    }
    let rank = plan.region.rank();
    let cs = &plan.snap.schema().layouts[plan.layout].chunk_shape;
    let sd = (0..rank).find(|&d| plan.dims[d].count() > 1).unwrap_or(0);
    let per_row: usize = (0..rank)
        .filter(|&d| d != sd)
        .map(|d| plan.dims[d].count())
        .product();
    let r = plan.region.0[sd].clone();
    let mut out = Vec::new();
    let mut a = r.start;
    let mut off = 0usize;
    while a < r.end {
        let b = ((a / cs[sd] + 1) * cs[sd]).min(r.end);
        let rows = match &plan.dims[sd].picks {
            None => (b - a) as usize,
            Some(p) => p.iter().filter(|&&i| i >= a && i < b).count(),
        };
        if rows > 0 {
            let mut reg = plan.region.clone();
            reg.0[sd] = a..b;
            out.push(Slab {
                region: reg,
                out_offset: off,
                out_len: rows * per_row,
            });
            off += rows * per_row;
        }
        a = b;
    }
    out
}

/// Computes every column over one slab (chunk-parallel), in row-major output order.
pub fn project_slab(plan: &Plan, ex: &Exec, slab: &Slab) -> Result<Vec<Col>, QueryError> {
    let Kind::Project { cols } = &plan.kind else {
        return Err(QueryError::Internal(
            "project_slab() on an aggregate".into(),
        ));
    };
    let rank = plan.region.rank();
    let pieces = selected_pieces(plan, &slab.region);
    let coords = plan.coords();
    let computed: Vec<(Region, Vec<Col>)> = pieces
        .into_par_iter()
        .map(|piece| {
            let inputs = read_piece(plan, ex, &piece)?;
            let t = Instant::now();
            let shape = piece.shape();
            let n: usize = shape.iter().product();
            let org = origin(&piece);
            let inp = Inputs {
                slots: &inputs,
                shape: &shape,
                origin: &org,
                coords: &coords,
                n,
            };
            let out: Vec<Col> = cols
                .iter()
                .map(|c| eval(c, &inp).into_type(c.ty(), n))
                .collect();
            ex.compute_ns
                .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            Ok((piece, out))
        })
        .collect::<Result<_, QueryError>>()?;
    // Scatter into the slab's output, honouring picks.
    let positions: Vec<Vec<u32>> = (0..rank)
        .map(|d| {
            let mut p = plan.dims[d].positions();
            if let Some(first) = slab_first(plan, slab, d) {
                for x in p.iter_mut() {
                    if *x != SKIP {
                        *x = x.wrapping_sub(first);
                    }
                }
            }
            p
        })
        .collect();
    let oshape: Vec<usize> = (0..rank)
        .map(|d| {
            let r = &slab.region.0[d];
            let base = plan.region.0[d].start;
            positions[d][(r.start - base) as usize..(r.end - base) as usize]
                .iter()
                .filter(|&&x| x != SKIP)
                .count()
        })
        .collect();
    let mut ostrides = vec![1usize; rank];
    for d in (0..rank.saturating_sub(1)).rev() {
        ostrides[d] = ostrides[d + 1] * oshape[d + 1];
    }
    let maps: Vec<Option<&[u32]>> = positions.iter().map(|p| Some(p.as_slice())).collect();
    let zeros = vec![0u32; rank];
    let mut outs: Vec<Col> = cols
        .iter()
        .map(|c| empty_col(c.ty(), slab.out_len))
        .collect();
    for (piece, vals) in computed {
        let contrib = contributions(&piece, &plan.region, &maps, &zeros, &ostrides);
        let shape = piece.shape();
        for (o, v) in outs.iter_mut().zip(vals) {
            scatter(o, v, &shape, &contrib);
        }
    }
    Ok(outs)
}

/// The first output position (along `d`) inside the slab, to make positions
/// slab-relative.
fn slab_first(plan: &Plan, slab: &Slab, d: usize) -> Option<u32> {
    let base = plan.region.0[d].start;
    let r = &slab.region.0[d];
    let pos = plan.dims[d].positions();
    pos[(r.start - base) as usize..(r.end - base) as usize]
        .iter()
        .copied()
        .find(|&x| x != SKIP)
}

fn empty_col(ty: EType, n: usize) -> Col {
    match ty {
        EType::F32 => Col::F32(vec![0.0; n]),
        EType::F64 => Col::F64(vec![0.0; n]),
        EType::I64 => Col::I64(vec![0; n]),
        EType::Bool => Col::Bool(vec![false; n]),
    }
}

fn scatter(out: &mut Col, v: Col, shape: &[usize], contrib: &[Vec<usize>]) {
    fn go<T: Copy>(out: &mut [T], v: &[T], shape: &[usize], contrib: &[Vec<usize>]) {
        let rank = shape.len();
        let inner = shape[rank - 1];
        if inner == 0 {
            return;
        }
        let outer = v.len() / inner;
        let last = &contrib[rank - 1];
        let contiguous = last
            .iter()
            .enumerate()
            .all(|(i, &c)| c != usize::MAX && c == last[0] + i);
        let mut idx = vec![0usize; rank - 1];
        for o in 0..outer {
            let mut base = 0usize;
            let mut skip = false;
            for d in 0..rank - 1 {
                let c = contrib[d][idx[d]];
                if c == usize::MAX {
                    skip = true;
                    break;
                }
                base += c;
            }
            if !skip {
                let row = &v[o * inner..(o + 1) * inner];
                if contiguous {
                    let s = base + last[0];
                    out[s..s + inner].copy_from_slice(row);
                } else {
                    for (i, &x) in row.iter().enumerate() {
                        if last[i] != usize::MAX {
                            out[base + last[i]] = x;
                        }
                    }
                }
            }
            let mut d = rank - 1;
            while d > 0 {
                d -= 1;
                idx[d] += 1;
                if idx[d] < shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
    }
    let n = v_len(&v);
    match out {
        Col::F32(o) => go(o, &v.f32s(n), shape, contrib),
        Col::F64(o) => go(o, &v.f64s(n), shape, contrib),
        Col::I64(o) => go(o, &v.i64s(n), shape, contrib),
        Col::Bool(o) => go(o, &v.bools(n), shape, contrib),
        Col::Const(_) => {}
    }
}

fn v_len(c: &Col) -> usize {
    match c {
        Col::F32(v) => v.len(),
        Col::F64(v) => v.len(),
        Col::I64(v) => v.len(),
        Col::Bool(v) => v.len(),
        Col::Const(_) => 0,
    }
}

#[allow(dead_code)]
fn _lit(_: Lit) {}
