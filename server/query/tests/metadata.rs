//! Array metadata (CF attributes) through the query language: `CREATE ARRAY` with
//! `METADATA (...)` clauses, DESCRIBE's metadata rows, result headers carrying the
//! descriptions of what a result shows unchanged (and none for computed columns),
//! and the errors of malformed clauses.

use arrayq_query::{Engine, EngineConfig, Execution, QueryContext, QueryResult};
use arrayq_storage::{MetadataMap, Store};

fn map(pairs: &[(&str, &str)]) -> MetadataMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn engine() -> Engine {
    let e = Engine::new(Store::temporary().unwrap(), EngineConfig::default());
    e.execute(
        "CREATE ARRAY era5 (
            valid_time TIMESTAMP START '2023-01-01T00:00:00Z' STEP '1 hour' LENGTH 4
                METADATA (long_name = 'time'),
            latitude DOUBLE START 52 STEP -1 LENGTH 3
                METADATA (units = 'degrees_north', standard_name = 'latitude'),
            longitude DOUBLE START 0 STEP 1 LENGTH 2,
            t2m REAL METADATA ('units' = 'K', 'long_name' = '2 metre temperature',
                standard_name = 'air_temperature'),
            tp REAL FILL 0
         ) METADATA (Conventions = 'CF-1.7', title = 'it''s ERA5')",
        &QueryContext::default(),
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

fn table(e: &Engine, sql: &str) -> Vec<Vec<String>> {
    match e.execute(sql, &QueryContext::default()) {
        Ok(Execution::Table(t)) => t.rows,
        Ok(_) => panic!("{sql}: not a table"),
        Err(err) => panic!("{}", err.render(sql)),
    }
}

#[test]
fn describe_lists_metadata_of_the_array_then_dimensions_then_attributes() {
    let e = engine();
    let rows: Vec<Vec<String>> = table(&e, "DESCRIBE era5")
        .into_iter()
        .filter(|r| r[0] == "metadata")
        .collect();
    let expected = [
        ["metadata", "era5", "Conventions", "CF-1.7"],
        ["metadata", "era5", "title", "it's ERA5"],
        ["metadata", "valid_time", "long_name", "time"],
        ["metadata", "latitude", "standard_name", "latitude"],
        ["metadata", "latitude", "units", "degrees_north"],
        ["metadata", "t2m", "long_name", "2 metre temperature"],
        ["metadata", "t2m", "standard_name", "air_temperature"],
        ["metadata", "t2m", "units", "K"],
    ];
    let expected: Vec<Vec<String>> = expected
        .iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect();
    assert_eq!(rows, expected);
}

#[test]
fn a_plain_attribute_reference_carries_its_metadata_and_its_dimensions_theirs() {
    let e = engine();
    let r = query(
        &e,
        "SELECT t2m AS temperature, tp FROM era5 WHERE latitude = 51",
    );
    assert_eq!(r.header.dims, ["valid_time", "longitude"]);
    assert_eq!(r.header.metadata.dim(0), &map(&[("long_name", "time")]));
    assert_eq!(r.header.metadata.dim(1), &MetadataMap::new());
    assert_eq!(
        r.header.metadata.column(0),
        &map(&[
            ("long_name", "2 metre temperature"),
            ("standard_name", "air_temperature"),
            ("units", "K"),
        ])
    );
    assert_eq!(r.header.metadata.column(1), &MetadataMap::new());
}

#[test]
fn computed_columns_and_computed_dimensions_carry_no_metadata() {
    let e = engine();
    let r = query(
        &e,
        "SELECT avg(t2m) - 273.15 AS celsius, max(t2m) FROM era5 GROUP BY latitude, date_trunc('day', valid_time)",
    );
    let lat = r.header.dims.iter().position(|d| d == "latitude").unwrap();
    assert_eq!(
        r.header.metadata.dim(lat)["units"],
        "degrees_north",
        "a grouped dimension keeps its description"
    );
    for c in 0..r.header.columns.len() {
        assert_eq!(
            r.header.metadata.column(c),
            &MetadataMap::new(),
            "column {c}"
        );
    }
}

#[test]
fn a_repeated_metadata_key_is_an_error_at_the_key() {
    let e = Engine::new(Store::temporary().unwrap(), EngineConfig::default());
    let sql = "CREATE ARRAY a (x DOUBLE START 0 STEP 1 LENGTH 2, v REAL METADATA (units = 'K', units = 'C'))";
    let Err(err) = e.execute(sql, &QueryContext::default()) else {
        panic!("{sql}: no error")
    };
    assert_eq!(
        err.message_without_position(),
        "metadata key 'units' is repeated"
    );
    assert_eq!(err.position(), Some((1, 81)));
    let sql = "CREATE ARRAY a (x DOUBLE START 0 STEP 1 LENGTH 2, v REAL METADATA (units = 3))";
    let Err(err) = e.execute(sql, &QueryContext::default()) else {
        panic!("{sql}: no error")
    };
    assert!(
        err.message_without_position()
            .contains("a metadata value ('quoted text')"),
        "{}",
        err.message_without_position()
    );
}
