//! Property test: random hyperslab writes over random versions and layouts, every read
//! compared with a plain in-memory model of every version.

mod common;
use arrayq_storage::*;
use ndarray::{ArrayD, IxDyn, SliceInfoElem};
use proptest::prelude::*;

/// One write of a commit: start, extent, base value.
type SlabWrite = (Vec<u64>, Vec<usize>, i16);
/// One read: version pick, layout pick, start, extent.
type SlabRead = (usize, usize, Vec<u64>, Vec<u64>);

#[derive(Clone, Debug)]
struct Case {
    shape: Vec<u64>,
    layouts: Vec<Vec<u64>>,
    commits: Vec<Vec<SlabWrite>>,
    reads: Vec<SlabRead>,
    /// Pick of the vacuum floor applied after the first round of reads.
    vacuum: usize,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..=3)
        .prop_flat_map(|rank| {
            (
                prop::collection::vec(1u64..=9, rank),
                prop::collection::vec(prop::collection::vec(1u64..=5, rank), 1..=3),
            )
        })
        .prop_flat_map(|(shape, layouts)| {
            let rank = shape.len();
            let sh = shape.clone();
            let slab = move || {
                let sh = sh.clone();
                prop::collection::vec(any::<(u64, u64)>(), rank).prop_map(move |v| {
                    let start: Vec<u64> = v.iter().zip(&sh).map(|(p, &n)| p.0 % n).collect();
                    let count: Vec<usize> = v
                        .iter()
                        .zip(&sh)
                        .zip(&start)
                        .map(|((p, &n), &s)| (1 + p.1 % (n - s)) as usize)
                        .collect();
                    (start, count)
                })
            };
            let write = (slab(), any::<i16>()).prop_map(|((s, c), v)| (s, c, v));
            let commits = prop::collection::vec(prop::collection::vec(write, 1..=3), 1..=6);
            let reads = prop::collection::vec((any::<usize>(), any::<usize>(), slab()), 1..=8)
                .prop_map(|r| {
                    r.into_iter()
                        .map(|(v, l, (s, c))| (v, l, s, c.into_iter().map(|x| x as u64).collect()))
                        .collect()
                });
            (Just(shape), Just(layouts), commits, reads, any::<usize>())
        })
        .prop_map(|(shape, layouts, commits, reads, vacuum)| Case {
            shape,
            layouts,
            commits,
            reads,
            vacuum,
        })
}

fn slice_of(start: &[u64], count: &[usize]) -> Vec<SliceInfoElem> {
    start
        .iter()
        .zip(count)
        .map(|(&s, &c)| SliceInfoElem::Slice {
            start: s as isize,
            end: Some(s as isize + c as isize),
            step: 1,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn reads_match_the_model_at_every_version_and_layout(c in case()) {
        let dir = tempfile::tempdir().unwrap();
        // Tiny segments, no inline payloads, mappings released every few reads: every
        // chunk goes through segment files, rotation and (after vacuum) compaction.
        let opts = Options { durable: false, inline_bytes: 0, segment_bytes: 4096, resident_bytes: 1024, ..Options::default() };
        let store = Store::open_with(dir.path().join("db"), opts.clone()).unwrap();
        let rank = c.shape.len();
        store.create_array(ArraySchema {
            name: "m".into(),
            dims: (0..rank).map(|d| common::regular(&format!("d{d}"), c.shape[d], false)).collect(),
            attrs: vec![Attribute::new("x", DType::I16, Some(Scalar::I64(-1)))],
            layouts: c.layouts.iter().enumerate()
                .map(|(k, cs)| Layout::new(&format!("l{k}"), cs.clone(), CodecChain::shuffle_zstd(2, 1)))
                .collect(),
            metadata: Default::default(),
        }).unwrap();
        let dims: Vec<usize> = c.shape.iter().map(|&n| n as usize).collect();
        let mut versions = vec![ArrayD::<i16>::from_elem(IxDyn(&dims), -1)];
        for commit in &c.commits {
            let mut next = versions.last().unwrap().clone();
            let mut tx = store.begin_write("m").unwrap();
            for (k, (start, count, base)) in commit.iter().enumerate() {
                let data = ArrayD::from_shape_fn(IxDyn(count), |ix| {
                    base.wrapping_add((k as i16) << 8).wrapping_add(ndarray::Dimension::slice(&ix).iter().sum::<usize>() as i16)
                });
                next.slice_mut(slice_of(start, count).as_slice()).assign(&data);
                tx.write("x", start, Buffer::I16(data)).unwrap();
            }
            tx.commit().unwrap();
            versions.push(next);
        }
        let check = |store: &Store, floor: usize| -> Result<(), TestCaseError> {
            for (v, l, start, count) in &c.reads {
                let v = floor + v % (versions.len() - floor);
                let l = l % c.layouts.len();
                let snap = store.snapshot("m", AsOf::Version(v as u64)).unwrap();
                let region = Region(start.iter().zip(count).map(|(&s, &n)| s..s + n).collect());
                let got = snap.read_with(0, &region, ReadOptions { layout: Some(l), ..Default::default() }).unwrap();
                let counts: Vec<usize> = count.iter().map(|&n| n as usize).collect();
                let want = versions[v].slice(slice_of(start, &counts).as_slice()).to_owned();
                prop_assert_eq!(got, Buffer::I16(want), "version {} layout {} region {}", v, l, region);
            }
            Ok(())
        };
        check(&store, 0)?;
        // Vacuum (which compacts segments), reopen, and every kept version still reads
        // as the model says; the vacuumed ones are refused.
        let floor = c.vacuum % versions.len();
        store.vacuum("m", floor as u64).unwrap();
        drop(store);
        let store = Store::open_with(dir.path().join("db"), opts).unwrap();
        check(&store, floor)?;
        if floor > 0 {
            let vacuumed = matches!(store.snapshot("m", AsOf::Version(floor as u64 - 1)), Err(StorageError::Vacuumed { .. }));
            prop_assert!(vacuumed);
        }
    }
}
