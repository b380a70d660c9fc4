use super::*;
use crate::ast::Statement;
use crate::eval::Col;
use crate::logical::LogicalPlan;
use crate::{optimizer, parser, planner};
use arrayq_storage::{AsOf, Buffer, Store};
use ndarray::{ArrayD, IxDyn};
use std::sync::atomic::AtomicBool;

/// `a(y, x; v f32)`, 6 x 5, chunks (4, 2), `v = 10 y + x`.
fn store() -> Store {
    let store = Store::temporary().unwrap();
    let create = "CREATE ARRAY a (y DOUBLE START 0 STEP 1 LENGTH 6, \
                  x DOUBLE START 0 STEP 1 LENGTH 5, v REAL) WITH (chunks = (4, 2))";
    let Statement::CreateArray(c) = parser::parse(create).unwrap() else {
        panic!("not a CREATE ARRAY");
    };
    crate::command::create_array(&store, &c).unwrap();
    let v: Vec<f32> = (0..6)
        .flat_map(|y| (0..5).map(move |x| (10 * y + x) as f32))
        .collect();
    let b = Buffer::F32(ArrayD::from_shape_vec(IxDyn(&[6, 5]), v).unwrap());
    store.write("a", "v", &[0, 0], b).unwrap();
    store
}

/// The optimized scan of `sql`.
fn scan_of(store: &Store, sql: &str) -> ScanExec {
    let Statement::Select(sel) = parser::parse(sql).unwrap() else {
        panic!("not a SELECT");
    };
    let snap = store.snapshot("a", AsOf::Latest).unwrap();
    let plan = planner::plan_select(snap, &sel, 1 << 20, None).unwrap();
    let mut node = optimizer::optimize(plan.root).unwrap();
    loop {
        node = match node {
            LogicalPlan::Scan(s) => return ScanExec::new(s).unwrap(),
            LogicalPlan::Filter(f) => *f.input,
            LogicalPlan::Projection(p) => *p.input,
            LogicalPlan::Aggregate(a) => *a.input,
            LogicalPlan::StoredChunks(s) => *s.input,
            LogicalPlan::Mask(m) => *m.input,
            LogicalPlan::Sort(s) => *s.input,
            LogicalPlan::Window(w) => *w.input,
        }
    }
}

#[test]
fn a_scan_alone_streams_its_pieces_in_chunk_order() {
    let store = store();
    // y in 1..=4, x in 1..=3: chunks (4, 2) cut it at y = 4 and x = 2, 4.
    let scan = Arc::new(scan_of(
        &store,
        "SELECT v FROM a WHERE y BETWEEN 1 AND 4 AND x BETWEEN 1 AND 3",
    ));
    assert_eq!(scan.region, Region(vec![1..5, 1..4]));
    let ctx = Arc::new(TaskContext {
        cancel: Arc::new(AtomicBool::new(false)),
        deadline: None,
        block_bytes: 1 << 20,
        stored_chunks: None,
        memory: crate::memory::MemoryPool::unbounded(),
    });
    let mut got = Vec::new();
    for block in scan.clone().execute(ctx).unwrap() {
        let Block::Piece { region, columns } = block.unwrap() else {
            panic!("a scan yields pieces");
        };
        let Col::F32(values) = &columns[0] else {
            panic!("v is f32");
        };
        // Row-major over the piece: v = 10 y + x.
        let want: Vec<f32> = region.0[0]
            .clone()
            .flat_map(|y| region.0[1].clone().map(move |x| (10 * y + x) as f32))
            .collect();
        assert_eq!(values, &want, "{region}");
        got.push(region);
    }
    let want = [
        Region(vec![1..4, 1..2]),
        Region(vec![1..4, 2..4]),
        Region(vec![4..5, 1..2]),
        Region(vec![4..5, 2..4]),
    ];
    assert_eq!(got, want);
    // Every piece lies in one chunk of (4, 2): chunks (0,0), (0,1), (1,0), (1,1).
    assert_eq!(scan.metrics.read.get().0, 4);
}

#[test]
fn rules_push_the_region_choose_the_layout_and_keep_unpicked_chunks_out() {
    let store = store();
    let scan = scan_of(&store, "SELECT v FROM a WHERE y = 5");
    assert_eq!(scan.region, Region(vec![5..6, 0..5]));
    assert_eq!(scan.layout_why, LayoutWhy::LeastBytes);
    assert_eq!(scan.filters, vec!["y = 5".to_string()]);
    // x IN (0, 4): a bounding region of 0..5, but the chunk of x 2..4 holds no
    // picked x and is not read.
    let scan = scan_of(&store, "SELECT v FROM a WHERE y < 4 AND x IN (0, 4)");
    assert_eq!(scan.region, Region(vec![0..4, 0..5]));
    assert_eq!(
        scan.selected_pieces(&scan.region),
        vec![Region(vec![0..4, 0..2]), Region(vec![0..4, 4..5])]
    );
}
