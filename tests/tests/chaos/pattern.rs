//! What the chaos test writes and how a read is matched to one write: every
//! commit rewrites a client's whole array with a pattern of its tag, so a result
//! either is one tag's pattern (of the cells it covers) or is torn.

use arrayq_client::QueryResult;
use rand::Rng;

/// Rows and columns of each client's array; chunks of 4 x 16 cells, so a commit
/// writes 16 chunks and a torn read would mix tags across them.
pub const ROWS: u64 = 16;
pub const COLS: u64 = 64;
pub const CELLS: u64 = ROWS * COLS;

/// A client's array name.
pub fn array_name(client: usize) -> String {
    format!("chaos_{client}")
}

/// The array's `CREATE ARRAY`: cell (y, x) holds `v`.
pub fn create_sql(client: usize) -> String {
    format!(
        "CREATE ARRAY {} (y DOUBLE START 0 STEP 1 LENGTH {ROWS}, \
         x DOUBLE START 0 STEP 1 LENGTH {COLS}, v BIGINT) WITH (chunks = (4, 16))",
        array_name(client)
    )
}

/// Tag of a client's `seq`-th write: unique across clients and writes.
pub fn tag(client: usize, seq: u64) -> u64 {
    assert!(seq < 10_000, "more than 10000 writes of one client");
    client as u64 * 10_000 + seq
}

/// Value of cell `i` (row-major) under `tag`; below 2^53, so exact in f64 sums.
pub fn value(tag: u64, i: u64) -> i64 {
    (tag * CELLS + i) as i64
}

/// The whole array under `tag`.
pub fn pattern(tag: u64) -> Vec<i64> {
    (0..CELLS).map(|i| value(tag, i)).collect()
}

/// Little-endian bytes of [`pattern`]: what a read of the whole array returns.
pub fn pattern_bytes(tag: u64) -> Vec<u8> {
    pattern(tag).iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A query of one of several shapes over one array.
#[derive(Clone, Debug)]
pub enum Shape {
    /// Every cell.
    Whole,
    /// One row.
    Row(u64),
    /// Columns `from..to` of every row.
    Columns(u64, u64),
    /// The sum of every cell (chunk statistics answer it).
    Sum,
    /// The largest value of each row.
    RowMax,
}

impl Shape {
    pub fn random(rng: &mut impl Rng) -> Shape {
        match rng.gen_range(0..5) {
            0 => Shape::Whole,
            1 => Shape::Row(rng.gen_range(0..ROWS)),
            2 => {
                let from = rng.gen_range(0..COLS - 1);
                Shape::Columns(from, rng.gen_range(from + 1..=COLS))
            }
            3 => Shape::Sum,
            _ => Shape::RowMax,
        }
    }

    pub fn sql(&self, array: &str) -> String {
        match self {
            Shape::Whole => format!("SELECT v FROM {array}"),
            Shape::Row(y) => format!("SELECT v FROM {array} WHERE y = {y}"),
            Shape::Columns(from, to) => {
                format!("SELECT v FROM {array} WHERE x >= {from} AND x < {to}")
            }
            Shape::Sum => format!("SELECT sum(v) FROM {array}"),
            Shape::RowMax => format!("SELECT max(v) FROM {array} GROUP BY y"),
        }
    }

    /// The values this shape reads under `tag`, in result order.
    fn expected(&self, tag: u64) -> Vec<f64> {
        let cell = |y: u64, x: u64| value(tag, y * COLS + x) as f64;
        match *self {
            Shape::Whole => (0..CELLS).map(|i| value(tag, i) as f64).collect(),
            Shape::Row(y) => (0..COLS).map(|x| cell(y, x)).collect(),
            Shape::Columns(from, to) => (0..ROWS)
                .flat_map(|y| (from..to).map(move |x| (y, x)))
                .map(|(y, x)| cell(y, x))
                .collect(),
            Shape::Sum => vec![(0..CELLS).map(|i| value(tag, i) as f64).sum()],
            Shape::RowMax => (0..ROWS).map(|y| cell(y, COLS - 1)).collect(),
        }
    }

    /// The tag whose pattern `result` is, or why it is none (a torn read).
    pub fn tag_of(&self, result: &QueryResult) -> Result<u64, String> {
        let column = result.columns.first().ok_or("no column")?;
        let got = column.values.to_f64_vec();
        let first = *got.first().ok_or("an empty result")?;
        // The first value alone names the candidate tag; every value must agree.
        let offset = self.expected(0)[0];
        let per_tag = self.expected(1)[0] - offset;
        let tag = (first - offset) / per_tag;
        if tag < 0.0 || tag.fract() != 0.0 {
            return Err(format!("first value {first} is no tag's"));
        }
        let tag = tag as u64;
        let want = self.expected(tag);
        if got != want {
            let bad = got.iter().zip(&want).position(|(g, w)| g != w);
            return Err(format!(
                "{} values ({} expected) not all of tag {tag}; first difference at {bad:?}",
                got.len(),
                want.len()
            ));
        }
        Ok(tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_values_follow_the_cell_formula() {
        assert_eq!(
            Shape::Row(2).expected(3)[1],
            (3 * CELLS + 2 * COLS + 1) as f64
        );
        let n = CELLS as f64;
        assert_eq!(Shape::Sum.expected(5)[0], 5.0 * n * n + n * (n - 1.0) / 2.0);
        assert_eq!(pattern_bytes(1).len(), CELLS as usize * 8);
    }
}
