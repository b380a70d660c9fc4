//! Statements whose answer is a small table (DDL outcomes, `SHOW ARRAYS`,
//! `DESCRIBE`) as an ordinary Query result: one dimension `row` with the integer
//! labels `0, 1, ..., n-1` and one column per
//! field, text as STRING columns (`DataBlock.strings`), counts as U64. A client
//! reads them like any other result.

use arrayq_proto::v1::{
    DType as PbDType, QueryResponse, ResultColumn, ResultDimension, ResultHeader,
};
use arrayq_query::TextTable;

use crate::frames::{data_blocks, string_blocks};

/// Name of the one dimension of a table result.
pub const ROW_DIMENSION: &str = "row";

/// The values of one column of a table result.
#[derive(Clone, Debug, PartialEq)]
pub enum TableValues {
    Text(Vec<String>),
    U64(Vec<u64>),
}

impl TableValues {
    fn len(&self) -> usize {
        match self {
            TableValues::Text(v) => v.len(),
            TableValues::U64(v) => v.len(),
        }
    }
}

/// A named column of a table result.
#[derive(Clone, Debug, PartialEq)]
pub struct TableColumn {
    pub name: String,
    pub values: TableValues,
}

impl TableColumn {
    pub fn text(name: &str, values: Vec<String>) -> TableColumn {
        TableColumn {
            name: name.to_string(),
            values: TableValues::Text(values),
        }
    }

    pub fn u64(name: &str, values: Vec<u64>) -> TableColumn {
        TableColumn {
            name: name.to_string(),
            values: TableValues::U64(values),
        }
    }
}

/// The columns of an engine listing (`SHOW ARRAYS`, `DESCRIBE`): every field is text.
pub fn listing_columns(t: TextTable) -> Vec<TableColumn> {
    let mut columns: Vec<TableColumn> = t
        .columns
        .iter()
        .map(|name| TableColumn::text(name, Vec::with_capacity(t.rows.len())))
        .collect();
    for row in t.rows {
        for (k, cell) in row.into_iter().enumerate() {
            if let Some(TableColumn {
                values: TableValues::Text(v),
                ..
            }) = columns.get_mut(k)
            {
                v.push(cell);
            }
        }
    }
    columns
}

/// The one-row table of a DDL outcome: `result` (what happened), `array` (when the
/// statement names one) and `version` (when it committed a version).
pub fn ddl_columns(
    message: String,
    array: Option<String>,
    version: Option<u64>,
) -> Vec<TableColumn> {
    let mut columns = vec![TableColumn::text("result", vec![message])];
    if let Some(a) = array {
        columns.push(TableColumn::text("array", vec![a]));
    }
    if let Some(v) = version {
        columns.push(TableColumn::u64("version", vec![v]));
    }
    columns
}

/// The header and data messages of a table result (the caller adds the footer).
/// Fails if the columns differ in length or a text value can never fit a message.
pub fn table_messages(columns: Vec<TableColumn>) -> Result<Vec<QueryResponse>, String> {
    let rows = columns.first().map_or(0, |c| c.values.len());
    if let Some(c) = columns.iter().find(|c| c.values.len() != rows) {
        return Err(format!(
            "table column '{}' has {} values, the first column {rows}",
            c.name,
            c.values.len()
        ));
    }
    let header = ResultHeader {
        dimensions: vec![ResultDimension::with_labels(
            ROW_DIMENSION,
            (0..rows as i64).collect(),
        )],
        columns: columns
            .iter()
            .map(|c| ResultColumn {
                metadata: Default::default(),
                name: c.name.clone(),
                dtype: match c.values {
                    TableValues::Text(_) => PbDType::String,
                    TableValues::U64(_) => PbDType::U64,
                } as i32,
            })
            .collect(),
        shape: vec![rows as u64],
        scalar: false,
        notes: Vec::new(),
    };
    let mut out = vec![QueryResponse::header(header)];
    for (k, c) in columns.into_iter().enumerate() {
        let k = k as u32;
        match c.values {
            TableValues::Text(v) => {
                out.extend(string_blocks(k, v)?.into_iter().map(QueryResponse::from))
            }
            TableValues::U64(v) => {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                out.extend(data_blocks(k, 8, bytes.into()).map(QueryResponse::from));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrayq_proto::v1::query_response::Msg;
    use arrayq_proto::v1::result_dimension::Coordinates;

    #[test]
    fn listing_becomes_one_text_column_per_field() {
        let t = TextTable {
            columns: vec!["array".into(), "version".into()],
            rows: vec![vec!["a".into(), "0".into()], vec!["b".into(), "3".into()]],
        };
        let msgs = table_messages(listing_columns(t)).unwrap();
        assert_eq!(msgs.len(), 3);
        let Some(Msg::Header(h)) = &msgs[0].msg else {
            panic!("no header")
        };
        assert_eq!(h.shape, vec![2]);
        assert_eq!(h.dimensions[0].name, "row");
        assert_eq!(
            h.dimensions[0].coordinates,
            Some(Coordinates::Labels(arrayq_proto::v1::Int64List {
                values: vec![0, 1]
            }))
        );
        let names: Vec<&str> = h.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["array", "version"]);
        assert!(h.columns.iter().all(|c| c.dtype() == PbDType::String));
        let Some(Msg::Data(b)) = &msgs[2].msg else {
            panic!("no block")
        };
        assert_eq!((b.column, b.element_offset), (1, 0));
        assert_eq!(b.strings, ["0", "3"]);
    }

    #[test]
    fn ddl_outcome_is_one_row() {
        let msgs = table_messages(ddl_columns(
            "created array 'a'".into(),
            Some("a".into()),
            Some(0),
        ))
        .unwrap();
        let Some(Msg::Header(h)) = &msgs[0].msg else {
            panic!("no header")
        };
        assert_eq!(h.shape, vec![1]);
        let types: Vec<PbDType> = h.columns.iter().map(|c| c.dtype()).collect();
        assert_eq!(types, [PbDType::String, PbDType::String, PbDType::U64]);
        let Some(Msg::Data(v)) = &msgs[3].msg else {
            panic!("no version block")
        };
        assert_eq!(&v.data[..], &0u64.to_le_bytes());
        // Without an array or a version only `result` remains.
        let msgs = table_messages(ddl_columns("nothing".into(), None, None)).unwrap();
        assert_eq!(msgs.len(), 2);
        let bad = vec![
            TableColumn::text("a", vec!["x".into()]),
            TableColumn::u64("b", vec![]),
        ];
        assert_eq!(
            table_messages(bad).unwrap_err(),
            "table column 'b' has 0 values, the first column 1"
        );
    }
}
