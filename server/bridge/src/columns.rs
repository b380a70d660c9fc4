//! The source query's columns: which play which role, their types checked before
//! anything is read, and the COPY statement that reads them in a fixed shape.

use tokio_postgres::types::Type;

use crate::error::BridgeError;
use crate::source::{quote_ident, quote_literal, Columns, SourceSpec};

/// A column's role and the types it may have.
struct Role {
    what: &'static str,
    flag: &'static str,
    accepts: &'static [Type],
    expected: &'static str,
}

const LABEL: Role = Role {
    what: "label",
    flag: "--label-col",
    accepts: &[
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::TEXT,
        Type::VARCHAR,
        Type::BPCHAR,
    ],
    expected: "an integer (smallint, integer, bigint) or text",
};
const TIME: Role = Role {
    what: "time",
    flag: "--time-col",
    accepts: &[Type::TIMESTAMPTZ, Type::TIMESTAMP],
    expected: "timestamptz (or timestamp, read as UTC)",
};
const VERSION: Role = Role {
    what: "version",
    flag: "--version-col",
    accepts: &[Type::INT2, Type::INT4, Type::INT8],
    expected: "an integer",
};
const VALUE: Role = Role {
    what: "value",
    flag: "--value-col",
    accepts: &[
        Type::FLOAT4,
        Type::FLOAT8,
        Type::NUMERIC,
        Type::INT2,
        Type::INT4,
        Type::INT8,
    ],
    expected: "a number (real, double precision, numeric or an integer)",
};
const WATERMARK: Role = Role {
    what: "watermark",
    flag: "--watermark-col",
    accepts: &[
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMP,
        Type::NUMERIC,
    ],
    expected: "an integer, a numeric or a timestamp that grows with every new row",
};

/// Prepares the query and checks its columns' roles and types.
pub(crate) async fn check(
    client: &tokio_postgres::Client,
    spec: &SourceSpec,
) -> Result<Columns, BridgeError> {
    let stmt = client
        .prepare(&spec.query)
        .await
        .map_err(|e| BridgeError::pg("the source query", e))?;
    let find = |name: &str, role: &Role, required: bool| -> Result<Option<Type>, BridgeError> {
        let Some(col) = stmt.columns().iter().find(|c| c.name() == name) else {
            if !required {
                return Ok(None);
            }
            let have: Vec<&str> = stmt.columns().iter().map(|c| c.name()).collect();
            return Err(BridgeError::Column(format!(
                "the source query has no column '{name}' for the {} (it has {}; name it with {})",
                role.what,
                have.join(", "),
                role.flag
            )));
        };
        if !role.accepts.contains(col.type_()) {
            return Err(BridgeError::Column(format!(
                "column '{name}' of the source query is {}; the {} must be {}",
                col.type_().name(),
                role.what,
                role.expected
            )));
        }
        Ok(Some(col.type_().clone()))
    };
    let label = find(&spec.label_col, &LABEL, true)?.expect("required");
    find(&spec.time_col, &TIME, true)?;
    let has_version = find(&spec.version_col, &VERSION, false)?.is_some();
    find(&spec.value_col, &VALUE, true)?;
    let watermark_type = match &spec.watermark_col {
        Some(w) => Some(
            find(w, &WATERMARK, true)?
                .expect("required")
                .name()
                .to_string(),
        ),
        None => None,
    };
    Ok(Columns {
        text_labels: !matches!(label, Type::INT2 | Type::INT4 | Type::INT8),
        has_version,
        watermark_type,
    })
}

/// `COPY (SELECT label, time, version, value[, watermark] FROM (query) q [WHERE
/// watermark > after] ORDER BY ...) TO STDOUT (FORMAT binary)`, every column cast to
/// the one type the decoder reads.
pub(crate) fn copy_sql(spec: &SourceSpec, cols: &Columns, after: Option<&str>) -> String {
    let q = |c: &str| format!("q.{}", quote_ident(c));
    let label = if cols.text_labels {
        format!("{}::text", q(&spec.label_col))
    } else {
        format!("{}::int8", q(&spec.label_col))
    };
    let version = if cols.has_version {
        format!("{}::int8", q(&spec.version_col))
    } else {
        "NULL::int8".to_string()
    };
    let mut select = format!(
        "SELECT {label}, {}::timestamptz, {version}, {}::float8",
        q(&spec.time_col),
        q(&spec.value_col)
    );
    let mut filter = String::new();
    let order = match (&spec.watermark_col, &cols.watermark_type) {
        (Some(w), Some(ty)) => {
            select.push_str(&format!(", {}::text", q(w)));
            if let Some(a) = after {
                filter = format!(" WHERE {} > {}::{ty}", q(w), quote_literal(a));
            }
            // Within one pull the higher version wins, so version order is not
            // needed; the watermark order makes the last row's the new watermark.
            format!(" ORDER BY {}", q(w))
        }
        // Rounds in order: the series ingest commits at each change of version. Within
        // a round, by label: labels are appended in order of first appearance, and a
        // sort on the version alone leaves ties in whatever order PostgreSQL's
        // (maybe parallel) sort gives, so the label order would differ between loads.
        _ if cols.has_version => {
            format!(" ORDER BY {}, {}", q(&spec.version_col), q(&spec.label_col))
        }
        _ => format!(" ORDER BY {}", q(&spec.label_col)),
    };
    format!(
        "COPY ({select} FROM ({}) q{filter}{order}) TO STDOUT (FORMAT binary)",
        spec.query.trim().trim_end_matches(';')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_reads_past_the_watermark_in_its_order() {
        let mut spec = SourceSpec::new("", "SELECT * FROM src;");
        spec.watermark_col = Some("id".into());
        let cols = Columns {
            text_labels: true,
            has_version: true,
            watermark_type: Some("int8".into()),
        };
        assert_eq!(
            copy_sql(&spec, &cols, Some("4'2")),
            "COPY (SELECT q.\"asset_id\"::text, q.\"ts\"::timestamptz, q.\"version\"::int8, \
             q.\"value\"::float8, q.\"id\"::text FROM (SELECT * FROM src) q \
             WHERE q.\"id\" > '4''2'::int8 ORDER BY q.\"id\") TO STDOUT (FORMAT binary)"
        );
        spec.watermark_col = None;
        let cols = Columns {
            text_labels: false,
            has_version: false,
            watermark_type: None,
        };
        assert_eq!(
            copy_sql(&spec, &cols, None),
            "COPY (SELECT q.\"asset_id\"::int8, q.\"ts\"::timestamptz, NULL::int8, \
             q.\"value\"::float8 FROM (SELECT * FROM src) q ORDER BY q.\"asset_id\") \
             TO STDOUT (FORMAT binary)"
        );
    }
}
