//! Text forms of results: psql-like tables (plain and expanded), summaries
//! with sparklines and heat maps for large results, CSV and JSON; and error
//! messages with a caret under the offending position.
//!
//! JSON form of a result (one object):
//!
//! ```json
//! {"dims": ["time", "lat"], "shape": [2, 3],
//!  "coords": {"time": ["2023-01-01T00:00:00Z", "2023-01-01T01:00:00Z"], "lat": [72.0, 71.75, 71.5]},
//!  "values": {"t2m": [270.5, 271.0, null, 269.25, 270.0, 270.5]}}
//! ```
//!
//! `values` are row-major over `dims` (the last dimension varies fastest);
//! timestamps are ISO-8601 UTC strings, NaN and infinities are `null`,
//! booleans `true`/`false`, text columns JSON strings. Catalog answers (`SHOW
//! ARRAYS`, `DESCRIBE`, DDL) are results too, with one dimension `row`:
//! `{"dims": ["row"], ..., "values": {"array": ["a", "b"], ...}}`. A scalar result (for example a full aggregate)
//! has `"dims": []`, `"shape": []`, `"coords": {}` and one value per column:
//! `{"values": {"avg": [280.1]}}`.

mod cell;
mod chart;
mod csv;
mod error;
mod json;
mod summary;
mod table;
#[cfg(test)]
mod tests;

pub use cell::{column_text, value_text};
pub use chart::{heatmap, sparkline};
pub use csv::write_csv;
pub use error::{caret, render_error};
pub use json::write_json;
pub use summary::{column_stats, fmt_count, fmt_num, render_summary, whole_duration, ColumnStats};
pub use table::{render_expanded, render_result, render_table, result_rows, DisplayOptions};
