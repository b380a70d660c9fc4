//! The write target's model: the array as plain vectors (one byte vector per
//! attribute, row-major over the current shape) and its labels, updated by the
//! rules the Write RPC documents (docs/grpc.md), independently of the store.

use arrayq_proto::v1 as pb;

/// The target's array: `t` (time, growable), `site` (int labels, growable),
/// `x` (regular, 3 cells); attributes `v` REAL FILL NaN, `n` INT FILL -1, `ok` BOOLEAN.
pub const CREATE: &str = "CREATE ARRAY w (
    t TIMESTAMP START '2023-01-01T00:00:00Z' STEP '1 hour' GROWABLE,
    site LABELS (1, 2) GROWABLE,
    x DOUBLE START 0 STEP 1 LENGTH 3,
    v REAL FILL NaN, n INT FILL -1, ok BOOLEAN
  ) WITH (chunks = (4, 2, 2))";

pub const ATTRS: [(&str, usize); 3] = [("v", 4), ("n", 4), ("ok", 1)];

fn fill(attr: usize) -> Vec<u8> {
    match attr {
        0 => f32::NAN.to_le_bytes().to_vec(),
        1 => (-1i32).to_le_bytes().to_vec(),
        _ => vec![0],
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub shape: [u64; 3],
    pub labels: Vec<i64>,
    /// Per attribute, its cells' little-endian bytes, row-major over `shape`.
    pub cells: Vec<Vec<u8>>,
}

impl Model {
    pub fn new() -> Model {
        let shape = [0, 2, 3];
        Model {
            shape,
            labels: vec![1, 2],
            cells: (0..3).map(|_| Vec::new()).collect(),
        }
    }

    /// The model after a committed write of `header` whose attributes' bytes are
    /// `data` (one vector per header attribute, row-major over the region).
    /// Panics when the store accepted what the rules forbid.
    pub fn apply(&self, h: &pb::WriteHeader, data: &[Vec<u8>]) -> Model {
        let mut labels = self.labels.clone();
        for l in &h.labels {
            assert_eq!(l.dim, "site", "a label append to '{}' was accepted", l.dim);
            assert!(
                l.text_labels.is_empty(),
                "text labels accepted on int labels"
            );
            for &x in &l.labels {
                assert!(!labels.contains(&x), "label {x} accepted twice");
                labels.push(x);
            }
        }
        let end: Vec<u64> = h.region.iter().map(|r| r.start + r.count).collect();
        let shape = [self.shape[0].max(end[0]), labels.len() as u64, 3];
        assert!(
            end[1] <= shape[1] && end[2] <= 3,
            "region {end:?} past shape {shape:?} accepted"
        );
        let mut next = Model {
            shape,
            labels,
            cells: (0..3).map(|a| self.regrown(a, shape)).collect(),
        };
        for (name, bytes) in h.attributes.iter().zip(data) {
            let a = ATTRS
                .iter()
                .position(|(n, _)| n == name)
                .expect("a known attribute");
            let size = ATTRS[a].1;
            let count: Vec<u64> = h.region.iter().map(|r| r.count).collect();
            for (k, cell) in bytes.chunks(size).enumerate() {
                let mut rest = k as u64;
                let mut at = [0u64; 3];
                for d in (0..3).rev() {
                    at[d] = h.region[d].start + rest % count[d];
                    rest /= count[d];
                }
                let i = ((at[0] * shape[1] + at[1]) * shape[2] + at[2]) as usize * size;
                let dst = &mut next.cells[a][i..i + size];
                if a == 2 {
                    dst[0] = (cell[0] != 0) as u8;
                } else {
                    dst.copy_from_slice(cell);
                }
            }
        }
        next
    }

    /// Attribute `a`'s cells laid out over a larger `shape`, new cells filled.
    fn regrown(&self, a: usize, shape: [u64; 3]) -> Vec<u8> {
        let size = ATTRS[a].1;
        let n = (shape.iter().product::<u64>()) as usize;
        let mut out: Vec<u8> = fill(a).repeat(n);
        let old = self.shape;
        for t in 0..old[0] {
            for s in 0..old[1] {
                let from = ((t * old[1] + s) * old[2]) as usize * size;
                let to = ((t * shape[1] + s) * shape[2]) as usize * size;
                let len = old[2] as usize * size;
                out[to..to + len].copy_from_slice(&self.cells[a][from..from + len]);
            }
        }
        out
    }
}
