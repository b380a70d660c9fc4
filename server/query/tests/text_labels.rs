//! Text label dimensions through the query language: CREATE with TEXT LABELS, WHERE
//! by label (=, IN, <>, NOT IN, order), GROUP BY with text coordinates, DESCRIBE, and
//! the type errors of mixing text and numbers. Expected values are computed here from
//! the formula the data was written with.

use arrayq_query::{CoordValues, Engine, EngineConfig, Execution, QueryContext, QueryResult};
use arrayq_storage::{Buffer, Store};
use ndarray::{ArrayD, IxDyn};

const NA: usize = 50;
const NT: usize = 24;

fn asset(a: usize) -> String {
    format!("NL-WIND-{a:03}")
}

/// value[a, t] = 100 a + t (exact in f32).
fn value(a: usize, t: usize) -> f64 {
    (100 * a + t) as f64
}

fn engine() -> Engine {
    let e = Engine::new(Store::temporary().unwrap(), EngineConfig::default());
    let ctx = QueryContext::default();
    e.execute(
        "CREATE ARRAY power (
            asset TEXT LABELS () GROWABLE,
            time TIMESTAMP START '2023-01-01T00:00:00Z' STEP '1 hour' LENGTH 24,
            value REAL
         ) WITH (chunks = (8, 24))",
        &ctx,
    )
    .unwrap();
    let store = e.store();
    // Two commits: the first 30 assets, then the other 20 with their values.
    for (lo, hi) in [(0, 30), (30, NA)] {
        let mut tx = store.begin_write("power").unwrap();
        let names: Vec<String> = (lo..hi).map(asset).collect();
        tx.append_text_labels("asset", &names).unwrap();
        let vals: Vec<f32> = (lo..hi)
            .flat_map(|a| (0..NT).map(move |t| value(a, t) as f32))
            .collect();
        tx.write(
            "value",
            &[lo as u64, 0],
            Buffer::F32(ArrayD::from_shape_vec(IxDyn(&[hi - lo, NT]), vals).unwrap()),
        )
        .unwrap();
        tx.commit().unwrap();
    }
    e.execute(
        "CREATE ARRAY ean (id LABELS (8712345, 8712346), v REAL)",
        &ctx,
    )
    .unwrap();
    e
}

fn query(e: &Engine, sql: &str) -> QueryResult {
    match e.execute(sql, &QueryContext::default()) {
        Ok(Execution::Rows(s)) => s.collect_all().unwrap(),
        Ok(_) => panic!("{sql}: not rows"),
        Err(err) => panic!("{}", err.render(sql)),
    }
}

fn error(e: &Engine, sql: &str) -> (String, Option<(u64, u64)>) {
    let err = match e.execute(sql, &QueryContext::default()) {
        Ok(Execution::Rows(s)) => s.collect_all().map(|_| ()).unwrap_err(),
        Ok(_) => panic!("{sql}: no error"),
        Err(err) => err,
    };
    (err.message_without_position(), err.position())
}

#[test]
fn where_asset_equals_a_text_label_selects_its_row() {
    let e = engine();
    let r = query(&e, "SELECT value FROM power WHERE asset = 'NL-WIND-042'");
    assert_eq!(r.header.dims, vec!["time".to_string()]);
    let want: Vec<f64> = (0..NT).map(|t| value(42, t)).collect();
    assert_eq!(r.columns[0].to_f64_vec(), want);
}

#[test]
fn in_lists_and_exclusions_sum_the_rows_they_name() {
    let e = engine();
    let r = query(
        &e,
        "SELECT sum(value) AS s FROM power WHERE asset IN ('NL-WIND-042', 'NL-WIND-003', 'XX-NONE') GROUP BY asset",
    );
    // Array order, not list order; the unknown label is noted.
    assert_eq!(
        r.header.coords,
        vec![CoordValues::Texts(vec![asset(3), asset(42)])]
    );
    let sum = |a: usize| (0..NT).map(|t| value(a, t)).sum::<f64>();
    assert_eq!(r.columns[0].to_f64_vec(), vec![sum(3), sum(42)]);
    assert!(
        r.header
            .notes
            .iter()
            .any(|n| n.contains("'XX-NONE' is not in 'asset'")),
        "{:?}",
        r.header.notes
    );

    // <> and NOT IN keep every other asset.
    let r = query(
        &e,
        "SELECT sum(value) FROM power WHERE asset <> 'NL-WIND-000' AND asset NOT IN ('NL-WIND-049', 'NL-WIND-001')",
    );
    let want: f64 = (2..49).map(sum).sum();
    assert_eq!(r.columns[0].to_f64_vec(), vec![want]);

    // Order comparisons by byte order: 'NL-WIND-045' .. 'NL-WIND-049'.
    let r = query(
        &e,
        "SELECT max(value) FROM power WHERE asset >= 'NL-WIND-045' GROUP BY asset",
    );
    assert_eq!(
        r.header.coords,
        vec![CoordValues::Texts((45..NA).map(asset).collect())]
    );
    let want: Vec<f64> = (45..NA).map(|a| value(a, NT - 1)).collect();
    assert_eq!(r.columns[0].to_f64_vec(), want);
}

#[test]
fn group_by_asset_gives_text_coordinates_for_every_asset() {
    let e = engine();
    let r = query(
        &e,
        "SELECT avg(value) FROM power WHERE time < '2023-01-01T02:00:00Z' GROUP BY asset",
    );
    assert_eq!(
        r.header.coords,
        vec![CoordValues::Texts((0..NA).map(asset).collect())]
    );
    // avg of 100 a + 0 and 100 a + 1.
    let want: Vec<f64> = (0..NA).map(|a| 100.0 * a as f64 + 0.5).collect();
    assert_eq!(r.columns[0].to_f64_vec(), want);
    // Element-wise results keep the labels too.
    let r = query(
        &e,
        "SELECT value FROM power WHERE asset IN ('NL-WIND-007', 'NL-WIND-009') AND time = '2023-01-01T05:00:00Z'",
    );
    assert_eq!(
        r.header.coords,
        vec![CoordValues::Texts(vec![asset(7), asset(9)])]
    );
    assert_eq!(r.columns[0].to_f64_vec(), vec![value(7, 5), value(9, 5)]);
}

#[test]
fn an_unknown_label_selects_nothing_with_a_note() {
    let e = engine();
    let r = query(&e, "SELECT value FROM power WHERE asset = 'XX-NONE'");
    assert_eq!(r.header.shape, vec![0, NT]);
    assert!(
        r.header.notes.iter().any(|n| n
            == "asset = 'XX-NONE': 'XX-NONE' lies outside the grid of 'asset' (50 labels), nothing selected"),
        "{:?}",
        r.header.notes
    );
}

#[test]
fn text_against_numbers_is_a_type_error_at_the_value() {
    let e = engine();
    let sql = "SELECT value FROM power WHERE asset = 42";
    let (msg, pos) = error(&e, sql);
    assert!(
        msg.contains("text label dimension 'asset' is compared with 42"),
        "{msg}"
    );
    assert_eq!(pos, Some((1, 39)));
    let sql = "SELECT value FROM power WHERE asset IN ('NL-WIND-001', 7)";
    let (msg, pos) = error(&e, sql);
    assert!(msg.contains("text label dimension 'asset'"), "{msg}");
    assert_eq!(pos, Some((1, 56)));
    let sql = "SELECT v FROM ean WHERE id = 'NL-WIND-001'";
    let (msg, pos) = error(&e, sql);
    assert!(
        msg.contains("label dimension 'id' is compared with 'NL-WIND-001'; labels are integers"),
        "{msg}"
    );
    assert_eq!(pos, Some((1, 30)));
    // A text label dimension has no numeric value.
    let sql = "SELECT value + asset FROM power";
    let (msg, pos) = error(&e, sql);
    assert!(
        msg.contains("text label dimension 'asset' has no numeric value"),
        "{msg}"
    );
    assert_eq!(pos, Some((1, 16)));
}

#[test]
fn create_and_describe_show_text_labels() {
    let e = engine();
    let ctx = QueryContext::default();
    let t = match e.execute("DESCRIBE power", &ctx).unwrap() {
        Execution::Table(t) => t,
        _ => panic!("DESCRIBE gives a table"),
    };
    let text = arrayq_query::render_table(&t);
    assert!(
        text.contains("text labels")
            && text.contains("labels ('NL-WIND-000', 'NL-WIND-001',")
            && text.contains("... (50 labels)) length 50 growable"),
        "{text}"
    );
    // Labels given inline: TEXT LABELS, or quoted labels without a type name.
    e.execute("CREATE ARRAY a1 (k TEXT LABELS ('x', 'y'), v REAL)", &ctx)
        .unwrap();
    e.execute("CREATE ARRAY a2 (k LABELS ('x', 'y', 'z'), v REAL)", &ctx)
        .unwrap();
    let s = e
        .store()
        .snapshot("a2", arrayq_storage::AsOf::Latest)
        .unwrap();
    assert_eq!(
        s.schema().dims[0].coord,
        arrayq_storage::Coordinate::text_labels(["x", "y", "z"])
    );
    let sql = "CREATE ARRAY a3 (k TEXT LABELS ('x', 1), v REAL)";
    let err = e.execute(sql, &ctx).map(|_| ()).unwrap_err();
    assert_eq!(err.position(), Some((1, 38)), "{}", err.render(sql));
    let sql = "CREATE ARRAY a4 (k TEXT LABELS ('x', 'x'), v REAL)";
    let err = e.execute(sql, &ctx).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("repeated labels"), "{err}");
}
