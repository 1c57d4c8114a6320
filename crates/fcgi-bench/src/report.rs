//! What a run measured, shared by the connection tasks, and its JSON line.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

/// Latencies in nanoseconds, 1 ns .. 1 h, 3 significant digits.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("histogram bounds")
}

#[derive(Debug)]
pub struct Recorder {
    histogram: Histogram<u64>,
    /// Completed requests inside the measured window (also the histogram's count).
    pub ok: u64,
    /// Failed requests (and failed connects) by kind, inside the window.
    pub errors: BTreeMap<&'static str, u64>,
    /// Response status codes of completed requests inside the window.
    pub statuses: BTreeMap<u16, u64>,
    /// Response body (FastCGI: STDOUT content) bytes inside the window.
    pub bytes_in: u64,
    /// Request bytes written inside the window.
    pub bytes_out: u64,
    /// Requests still in flight when the hard deadline came.
    pub unfinished: u64,
    /// Connections opened (any time).
    pub connects: u64,
    /// Requests answered at any time, warm-up and drain included (to divide
    /// the server's CPU time measured over the whole run).
    pub answered_all: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            histogram: new_histogram(),
            ok: 0,
            errors: BTreeMap::new(),
            statuses: BTreeMap::new(),
            bytes_in: 0,
            bytes_out: 0,
            unfinished: 0,
            connects: 0,
            answered_all: 0,
        }
    }
}

impl Recorder {
    pub fn latency(&mut self, latency: Duration) {
        let nanos = (latency.as_nanos() as u64).max(1);
        self.histogram.saturating_record(nanos);
        self.ok += 1;
    }

    pub fn error(&mut self, kind: &'static str, count: u64) {
        if count > 0 {
            *self.errors.entry(kind).or_default() += count;
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The JSON line: `meta` first, then the measurements.
    pub fn to_json(&self, mut meta: Map<String, Value>, seconds: f64, gen_cpu: f64) -> Value {
        let us = |q: f64| {
            if self.ok == 0 {
                Value::Null
            } else {
                json!(round(
                    self.histogram.value_at_quantile(q) as f64 / 1000.0,
                    1
                ))
            }
        };
        let errors: Map<String, Value> = self
            .errors
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let statuses: Map<String, Value> = self
            .statuses
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let rps = if seconds > 0.0 {
            self.ok as f64 / seconds
        } else {
            0.0
        };
        meta.insert("seconds".into(), json!(round(seconds, 3)));
        meta.insert("requests".into(), json!(self.ok));
        meta.insert("rps".into(), json!(round(rps, 1)));
        meta.insert("errors".into(), json!(self.error_count()));
        meta.insert("error_kinds".into(), Value::Object(errors));
        meta.insert("statuses".into(), Value::Object(statuses));
        meta.insert("unfinished".into(), json!(self.unfinished));
        meta.insert("connects".into(), json!(self.connects));
        meta.insert("answered_all".into(), json!(self.answered_all));
        meta.insert(
            "latency_us".into(),
            json!({
                "p50": us(0.5), "p90": us(0.9), "p99": us(0.99), "p999": us(0.999),
                "max": if self.ok == 0 { Value::Null } else { json!(round(self.histogram.max() as f64 / 1000.0, 1)) },
                "mean": if self.ok == 0 { Value::Null } else { json!(round(self.histogram.mean() / 1000.0, 1)) },
            }),
        );
        meta.insert("bytes_in".into(), json!(self.bytes_in));
        meta.insert("bytes_out".into(), json!(self.bytes_out));
        meta.insert("gen_cpu_s".into(), json!(round(gen_cpu, 3)));
        Value::Object(meta)
    }
}

pub fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// When to issue requests and which completions count.
#[derive(Debug)]
pub struct Window {
    /// Completions before this are warm-up and not recorded.
    pub measure_start: Instant,
    /// No new request is issued after this (duration mode).
    pub issue_end: Option<Instant>,
    /// In-flight requests still open at this point are given up on.
    pub hard_deadline: Instant,
    /// Requests left to issue (count mode).
    pub budget: Option<std::sync::atomic::AtomicU64>,
}

impl Window {
    pub fn new(warmup: f64, duration: Option<f64>, requests: Option<u64>, grace: f64) -> Self {
        let now = Instant::now();
        let measure_start = now + Duration::from_secs_f64(warmup);
        let issue_end = duration.map(|d| measure_start + Duration::from_secs_f64(d));
        // Count mode has no natural end: 10 minutes at most.
        let hard_deadline =
            issue_end.unwrap_or(now + Duration::from_secs(600)) + Duration::from_secs_f64(grace);
        Self {
            measure_start,
            issue_end,
            hard_deadline,
            budget: requests.map(std::sync::atomic::AtomicU64::new),
        }
    }

    /// Whether one more request may be issued (takes it from the budget).
    pub fn take(&self) -> bool {
        let now = Instant::now();
        if now >= self.hard_deadline || self.issue_end.is_some_and(|end| now >= end) {
            return false;
        }
        match &self.budget {
            None => true,
            Some(left) => left
                .fetch_update(
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                    |n| n.checked_sub(1),
                )
                .is_ok(),
        }
    }

    /// Whether no request may be issued any more (without taking one).
    pub fn over(&self) -> bool {
        let now = Instant::now();
        now >= self.hard_deadline
            || self.issue_end.is_some_and(|end| now >= end)
            || self
                .budget
                .as_ref()
                .is_some_and(|left| left.load(std::sync::atomic::Ordering::Relaxed) == 0)
    }

    /// Whether a completion at `at` is measured.
    pub fn counts(&self, at: Instant) -> bool {
        at >= self.measure_start && self.issue_end.is_none_or(|end| at <= end)
    }

    /// Seconds measured: the window in duration mode, else from the start to `last`.
    pub fn seconds(&self, last: Instant) -> f64 {
        match self.issue_end {
            Some(end) => (end - self.measure_start).as_secs_f64(),
            None => last
                .saturating_duration_since(self.measure_start)
                .as_secs_f64(),
        }
    }
}

pub type Shared = Arc<Mutex<Recorder>>;

pub fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Recorder> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
