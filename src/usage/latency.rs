//! Latency percentiles that survive the rollups: every raw call, hourly row and daily row
//! counts its calls in the same sixteen latency buckets (`lat_0` .. `lat_15`), which add up
//! across rows and levels, so a 30-day p95 costs a sum of columns, not a scan of raw calls.
//!
//! A percentile is estimated within its bucket by linear interpolation (the way Prometheus's
//! `histogram_quantile` does); the bounds are dense where exchange APIs answer (50 to 250 ms),
//! so the estimate is within a few milliseconds there. The last bucket has no upper bound: a
//! percentile that falls in it is reported as its lower bound (10 s).

/// Upper bounds (exclusive) of the buckets but the last, in milliseconds.
pub const BOUNDS_MS: [i64; 15] = [10, 25, 50, 75, 100, 125, 150, 200, 250, 350, 500, 750, 1000, 2500, 10_000];
/// How many buckets there are (`lat_0` .. `lat_15`).
pub const BUCKETS: usize = BOUNDS_MS.len() + 1;

/// The bucket a latency falls in.
pub fn bucket(latency_ms: i64) -> usize {
    BOUNDS_MS.iter().position(|&b| latency_ms < b).unwrap_or(BOUNDS_MS.len())
}

/// The column names, `lat_0, lat_1, …`.
pub fn columns() -> String {
    (0..BUCKETS).map(|i| format!("lat_{i}")).collect::<Vec<_>>().join(", ")
}

/// `SUM(lat_0), SUM(lat_1), …` for rollup rows.
pub fn sum_columns() -> String {
    (0..BUCKETS).map(|i| format!("SUM(lat_{i})")).collect::<Vec<_>>().join(", ")
}

/// The bucket counts of raw rows, one expression per bucket: `COALESCE(SUM(latency_ms < 10), 0)`,
/// `COALESCE(SUM(latency_ms >= 10 AND latency_ms < 25), 0)`, …
pub fn raw_sums() -> Vec<String> {
    (0..BUCKETS)
        .map(|i| {
            let lower = i.checked_sub(1).map(|j| BOUNDS_MS[j]);
            let cond = match (lower, BOUNDS_MS.get(i)) {
                (None, Some(u)) => format!("latency_ms < {u}"),
                (Some(l), Some(u)) => format!("latency_ms >= {l} AND latency_ms < {u}"),
                (Some(l), None) => format!("latency_ms >= {l}"),
                (None, None) => "0".into(),
            };
            format!("COALESCE(SUM({cond}), 0)")
        })
        .collect()
}

/// `lat_0 = lat_0 + excluded.lat_0, …` for an upsert.
pub fn upsert_columns() -> String {
    (0..BUCKETS).map(|i| format!("lat_{i} = lat_{i} + excluded.lat_{i}")).collect::<Vec<_>>().join(", ")
}

/// Calls per latency bucket.
pub type Histogram = [i64; BUCKETS];

/// The latency (ms) below which `q` (0 to 1) of the calls fall, estimated from the buckets;
/// `None` without calls.
pub fn percentile(h: &Histogram, q: f64) -> Option<f64> {
    let total: i64 = h.iter().sum();
    if total <= 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut below = 0i64;
    for (i, &n) in h.iter().enumerate() {
        if n > 0 && (below + n) as f64 >= rank {
            let lower = if i == 0 { 0.0 } else { BOUNDS_MS[i - 1] as f64 };
            let Some(&upper) = BOUNDS_MS.get(i) else { return Some(lower) };
            let within = ((rank - below as f64) / n as f64).clamp(0.0, 1.0);
            return Some(lower + within * (upper as f64 - lower));
        }
        below += n;
    }
    BOUNDS_MS.last().map(|&b| b as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram_of(latencies: &[i64]) -> Histogram {
        let mut h = [0; BUCKETS];
        for &l in latencies {
            h[bucket(l)] += 1;
        }
        h
    }

    #[test]
    fn buckets_follow_the_bounds() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(9), 0);
        assert_eq!(bucket(10), 1);
        assert_eq!(bucket(99), 4);
        assert_eq!(bucket(100), 5);
        assert_eq!(bucket(9_999), 14);
        assert_eq!(bucket(10_000), 15);
        assert_eq!(bucket(i64::MAX), 15);
    }

    #[test]
    fn percentiles_land_near_the_true_ones_where_exchanges_answer() {
        // 1000 calls spread evenly over 60-159 ms.
        let latencies: Vec<i64> = (0..1000).map(|i| 60 + i % 100).collect();
        let h = histogram_of(&latencies);
        let p50 = percentile(&h, 0.5).expect("p50");
        let p95 = percentile(&h, 0.95).expect("p95");
        assert!((p50 - 110.0).abs() <= 10.0, "p50 {p50}");
        // Within the width of its bucket (150-200 ms).
        assert!((p95 - 155.0).abs() <= 25.0, "p95 {p95}");
        assert!(p50 < p95);
    }

    #[test]
    fn no_calls_have_no_percentile_and_the_open_bucket_reports_its_floor() {
        assert_eq!(percentile(&[0; BUCKETS], 0.5), None);
        assert_eq!(percentile(&histogram_of(&[20_000, 30_000]), 0.99), Some(10_000.0));
    }

    #[test]
    fn raw_sql_counts_each_latency_in_exactly_one_bucket() {
        let conn = rusqlite::Connection::open_in_memory().expect("in-memory database");
        conn.execute_batch("CREATE TABLE calls (latency_ms INTEGER)").expect("table");
        let latencies = [0, 9, 10, 24, 25, 80, 100, 149, 150, 999, 1000, 9_999, 10_000, 60_000];
        for l in latencies {
            conn.execute("INSERT INTO calls VALUES (?1)", [l]).expect("insert");
        }
        let sql = format!("SELECT {} FROM calls", raw_sums().join(", "));
        let got: Vec<i64> = conn
            .query_row(&sql, [], |r| (0..BUCKETS).map(|i| r.get(i)).collect::<Result<Vec<i64>, _>>())
            .expect("sums");
        assert_eq!(got, histogram_of(&latencies).to_vec());
    }
}
