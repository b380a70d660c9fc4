//! The ERA5 cube's `CREATE ARRAY` text (what `arrayq demo` sends over a connection)
//! creates exactly the schema the embedded loader builds.

use arrayq_query::{Engine, EngineConfig, QueryContext};
use arrayq_storage::{AsOf, Store};
use arrayq_workload::{load, plan, Scale};

#[test]
fn era5_create_sql_makes_the_loader_schema() {
    let engine = Engine::new(Store::temporary().unwrap(), EngineConfig::default());
    for (scale, chunk, level) in [
        (Scale::XS, plan::BALANCED, 3),
        (Scale::S, plan::MAP_TILES, 5),
    ] {
        let name = format!("cube_{}", format!("{scale:?}").to_lowercase());
        let sql = plan::era5_create_sql(&name, scale, "maps", chunk, level);
        engine
            .execute(&sql, &QueryContext::default())
            .unwrap_or_else(|e| panic!("{sql}\n{e}"));
        let snap = engine.store().snapshot(&name, AsOf::Latest).unwrap();
        let want = load::era5_schema(&name, scale, &[("maps", chunk)], level);
        assert_eq!(snap.schema().dims, want.dims, "{sql}");
        assert_eq!(snap.schema().layouts, want.layouts, "{sql}");
        assert_eq!(snap.schema().attrs.len(), 1);
        assert_eq!(snap.schema().attrs[0].name, want.attrs[0].name);
        assert_eq!(snap.schema().attrs[0].dtype, want.attrs[0].dtype);
        let fill = snap.schema().attrs[0].fill_value().as_f64();
        assert!(fill.is_nan(), "fill {fill}");
    }
}
