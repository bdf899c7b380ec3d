//! Latency aggregation: the sparse log-scale [`Histogram`] stored with each rollup row, and
//! the rollup bucket ([`Agg`]) that merges counts and latencies through it.

use std::time::Duration;

const BINS: usize = 64;
const BINS_PER_DOUBLING: f64 = 4.0;

/// A latency histogram: bin `i` holds latencies in [2^(i/4), 2^((i+1)/4)) ms; bin 0 also holds
/// 0 ms and bin 63 everything from ~55 s up.
#[derive(Clone, PartialEq, Eq)]
pub struct Histogram {
    bins: [u32; BINS],
}

impl Default for Histogram {
    fn default() -> Self {
        Self { bins: [0; BINS] }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nonzero: Vec<(usize, u32)> = self.bins.iter().copied().enumerate().filter(|(_, c)| *c > 0).collect();
        f.debug_struct("Histogram").field("bins", &nonzero).finish()
    }
}

impl Histogram {
    fn bin(ms: u32) -> usize {
        if ms <= 1 {
            return 0;
        }
        let b = (f64::from(ms).log2() * BINS_PER_DOUBLING).floor();
        (b as usize).min(BINS - 1)
    }

    pub fn add(&mut self, ms: u32) {
        let b = Self::bin(ms);
        self.bins[b] = self.bins[b].saturating_add(1);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.bins.iter_mut().zip(other.bins.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    pub fn total(&self) -> u64 {
        self.bins.iter().map(|c| u64::from(*c)).sum()
    }

    /// The value at quantile `q` (geometric middle of its bin).
    pub fn quantile(&self, q: f64) -> Option<u32> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0u64;
        for (i, c) in self.bins.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                let mid = 2f64.powf((i as f64 + 0.5) / BINS_PER_DOUBLING);
                return Some(mid.round() as u32);
            }
        }
        None
    }

    /// Sparse encoding: (bin: u8, count: u32 LE) per non-empty bin.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, c) in self.bins.iter().enumerate().filter(|(_, c)| **c > 0) {
            out.push(i as u8);
            out.extend_from_slice(&c.to_le_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Self {
        let mut h = Self::default();
        for chunk in bytes.chunks_exact(5) {
            let i = usize::from(chunk[0]).min(BINS - 1);
            let c = u32::from_le_bytes([chunk[1], chunk[2], chunk[3], chunk[4]]);
            h.bins[i] = h.bins[i].saturating_add(c);
        }
        h
    }
}

/// One rollup bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agg {
    pub count: u64,
    pub failures: u64,
    pub maintenance: u64,
    pub lat_count: u64,
    pub lat_sum: u64,
    pub lat_min: Option<u32>,
    pub lat_max: Option<u32>,
    pub hist: Histogram,
}

impl Agg {
    pub fn add(&mut self, ok: bool, maintenance: bool, latency: Duration) {
        self.count += 1;
        if !ok {
            self.failures += 1;
        }
        if maintenance {
            self.maintenance += 1;
        }
        if ok {
            let ms = u32::try_from(latency.as_millis()).unwrap_or(u32::MAX);
            self.lat_count += 1;
            self.lat_sum += u64::from(ms);
            self.lat_min = Some(self.lat_min.map_or(ms, |m| m.min(ms)));
            self.lat_max = Some(self.lat_max.map_or(ms, |m| m.max(ms)));
            self.hist.add(ms);
        }
    }

    pub fn merge(&mut self, o: &Agg) {
        self.count += o.count;
        self.failures += o.failures;
        self.maintenance += o.maintenance;
        self.lat_count += o.lat_count;
        self.lat_sum += o.lat_sum;
        self.lat_min = match (self.lat_min, o.lat_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.lat_max = match (self.lat_max, o.lat_max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.hist.merge(&o.hist);
    }

    /// The 95th percentile: exact when it is the largest sample (few samples), else the
    /// histogram's estimate clamped to the exact min and max.
    pub fn p95(&self) -> Option<u32> {
        let total = self.hist.total();
        if total > 0 && (0.95 * total as f64).ceil() as u64 >= total {
            return self.lat_max;
        }
        let q = self.hist.quantile(0.95)?;
        Some(q.clamp(self.lat_min.unwrap_or(0), self.lat_max.unwrap_or(u32::MAX)))
    }

    pub fn avg(&self) -> Option<f64> {
        (self.lat_count > 0).then(|| self.lat_sum as f64 / self.lat_count as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_within_a_bin_of_the_truth() {
        let mut h = Histogram::default();
        for ms in 1..=1000 {
            h.add(ms);
        }
        let p95 = f64::from(h.quantile(0.95).expect("data"));
        assert!((p95 - 950.0).abs() / 950.0 < 0.10, "p95 {p95}");
        let p50 = f64::from(h.quantile(0.5).expect("data"));
        assert!((p50 - 500.0).abs() / 500.0 < 0.10, "p50 {p50}");
    }

    #[test]
    fn histogram_survives_its_encoding_and_merges() {
        let mut a = Histogram::default();
        [0, 1, 5, 120, 120, 70_000].into_iter().for_each(|v| a.add(v));
        let b = Histogram::decode(&a.encode());
        assert_eq!(a, b);
        let mut c = b.clone();
        c.merge(&a);
        assert_eq!(c.total(), 12);
    }

    #[test]
    fn agg_tracks_failures_and_latency_of_successes_only() {
        let mut a = Agg::default();
        a.add(true, false, Duration::from_millis(100));
        a.add(true, true, Duration::from_millis(300));
        a.add(false, false, Duration::from_millis(10_000));
        assert_eq!((a.count, a.failures, a.maintenance, a.lat_count), (3, 1, 1, 2));
        assert_eq!((a.lat_min, a.lat_max), (Some(100), Some(300)));
        assert_eq!(a.avg(), Some(200.0));
        assert_eq!(a.p95(), Some(300), "clamped to the exact max");
    }
}
