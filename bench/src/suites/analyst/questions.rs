//! The analyst's questions a-e: arrayq's SQL (one or more steps each), the array and
//! index region each step reads (for its decode floor), the xarray code it is
//! compared with, and its targets.

use arrayq_storage::Region;
use arrayq_workload::era5;

/// (a): the monthly climatology per cell.
const CLIM_SELECT: &str = "SELECT extract(month FROM time) AS month, avg(t2m) AS t2m \
     FROM era5 GROUP BY month, lat, lon";

/// (e): the same, stored in the data's type (REAL), as xarray's float32 mean is; the
/// anomaly (b) of float32 data against it is then float32 too, as in xarray.
const CLIM_STORED: &str = "SELECT extract(month FROM time) AS month, \
     CAST(avg(t2m) AS REAL) AS t2m FROM era5 GROUP BY month, lat, lon";

/// One statement of a question.
pub(crate) struct Step {
    /// What it does, for the table.
    pub what: &'static str,
    pub sql: String,
    /// The array a `CREATE ARRAY ... AS` step makes (dropped, untimed, before each run).
    pub creates: Option<&'static str>,
    /// The array it reads and the index region of it (the decode floor's chunks).
    pub reads: (&'static str, Region),
}

/// One question: its steps, run one after another, and how it is judged.
pub(crate) struct Question {
    pub id: &'static str,
    pub name: &'static str,
    pub steps: Vec<Step>,
    /// The statement whose result is the answer (the last step's, or a read-back of
    /// what a CREATE stored).
    pub answer_sql: String,
    /// `analyst_peers.py`'s question with the same answer.
    pub peer: &'static str,
    /// The xarray code of it, for the report.
    pub xarray: &'static str,
    /// arrayq / decode floor must stay under this (a, b).
    pub floor_bound: Option<f64>,
    /// Best xarray+Dask time / arrayq must reach this (a-d).
    pub xarray_bound: Option<f64>,
    /// (e): the SELECT that the CREATE stores, timed beside it; CREATE / SELECT must
    /// stay under the bound.
    pub select_bound: Option<(String, f64)>,
}

/// The questions at `n` hours, in the order they run: (e) right after (a), since
/// (b) joins the climatology (e) stores. The anomaly's month is January (the whole
/// cube at S).
pub(crate) fn questions(n: usize) -> Vec<Question> {
    let n = n as u64;
    let (nl, nm) = (era5::N_LAT as u64, era5::N_LON as u64);
    let cube = Region(vec![0..n, 0..nl, 0..nm]);
    let january = Region(vec![0..n.min(31 * 24), 0..nl, 0..nm]);
    let days = n.div_ceil(24);
    let point = crate::suites::layouts::queries(n as usize)[0].1.clone();
    vec![
        Question {
            id: "a",
            name: "monthly climatology per cell",
            steps: vec![Step {
                what: "SELECT",
                sql: CLIM_SELECT.into(),
                creates: None,
                reads: ("era5", cube.clone()),
            }],
            answer_sql: CLIM_SELECT.into(),
            peer: "clim",
            xarray: "t.groupby('time.month').mean()",
            floor_bound: Some(1.5),
            xarray_bound: Some(10.0),
            select_bound: None,
        },
        Question {
            id: "e",
            name: "the climatology stored",
            steps: vec![Step {
                what: "CREATE ARRAY clim AS",
                sql: format!("CREATE ARRAY clim AS {CLIM_STORED}"),
                creates: Some("clim"),
                reads: ("era5", cube.clone()),
            }],
            answer_sql: "SELECT t2m FROM clim".into(),
            peer: "clim",
            xarray: "t.groupby('time.month').mean()",
            floor_bound: None,
            xarray_bound: None,
            select_bound: Some((CLIM_STORED.into(), 2.0)),
        },
        Question {
            id: "b",
            name: "January's hourly anomaly against the stored climatology",
            steps: vec![Step {
                what: "SELECT ... JOIN clim",
                sql: ANOMALY.into(),
                creates: None,
                reads: ("era5", january),
            }],
            answer_sql: ANOMALY.into(),
            peer: "anomaly",
            xarray: "t.sel(time=January) - clim.sel(month=1)",
            floor_bound: Some(1.5),
            xarray_bound: Some(10.0),
            select_bound: None,
        },
        Question {
            id: "c",
            name: "95th percentile of daily maxima per cell",
            steps: vec![
                Step {
                    what: "CREATE ARRAY daily_max AS",
                    sql: "CREATE ARRAY daily_max AS SELECT date_trunc('day', time) AS day, \
                          CAST(max(t2m) AS REAL) AS t2m FROM era5 GROUP BY day, lat, lon"
                        .into(),
                    creates: Some("daily_max"),
                    reads: ("era5", cube.clone()),
                },
                Step {
                    what: "SELECT percentile_cont",
                    sql: P95.into(),
                    creates: None,
                    reads: ("daily_max", Region(vec![0..days, 0..nl, 0..nm])),
                },
            ],
            answer_sql: P95.into(),
            peer: "p95",
            xarray: "t.resample(time='1D').max().chunk(time=-1).quantile(0.95, dim='time')",
            floor_bound: None,
            xarray_bound: Some(10.0),
            select_bound: None,
        },
        Question {
            id: "d",
            name: "24-hour rolling mean of one point",
            steps: vec![Step {
                what: "SELECT ... OVER",
                sql: ROLLING.into(),
                creates: None,
                reads: ("era5", point),
            }],
            answer_sql: ROLLING.into(),
            peer: "rolling",
            xarray: "t.sel(lat=52, lon=5, method='nearest').rolling(time=24, min_periods=1).mean()",
            floor_bound: None,
            xarray_bound: Some(10.0),
            select_bound: None,
        },
    ]
}

/// (b): every hour of January minus its month's mean, by a join on the month.
const ANOMALY: &str = "SELECT e.t2m - c.t2m AS anomaly FROM era5 e JOIN clim c \
     ON extract(month FROM e.time) = c.month AND e.lat = c.lat AND e.lon = c.lon \
     WHERE e.time >= '2023-01-01T00:00:00Z' AND e.time < '2023-02-01T00:00:00Z'";

/// (c), second step: over the stored daily maxima.
const P95: &str = "SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY t2m) AS p95 \
     FROM daily_max GROUP BY lat, lon";

/// (d): the point of the era5 suite's Q1 (52N 5E).
const ROLLING: &str = "SELECT avg(t2m) OVER (ORDER BY time ROWS BETWEEN 23 PRECEDING AND \
     CURRENT ROW) AS t2m_24h FROM era5 WHERE lat = 52.0 AND lon = 5.0";
