//! Prometheus metrics, kept in memory and rendered as text for `/metrics`.
//!
//! Hand-written rather than pulled from a metrics crate: a handful of
//! counters, one histogram family and some gauges is all the server needs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::service::ServiceInfo;

/// Upper bounds (seconds) of the latency histogram buckets.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Default)]
struct Histogram {
    /// Cumulative-free counts per bucket; the last slot is `+Inf`.
    counts: [u64; LATENCY_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let slot = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.counts[slot] += 1;
        self.sum += seconds;
        self.count += 1;
    }
}

#[derive(Default)]
struct GenerationTotals {
    deltas: u64,
    seconds: f64,
    last_rate: f64,
}

/// The server's counters and gauges. Shared through `AppState`.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    generations_in_flight: AtomicI64,
    generations_rejected: AtomicU64,
    generation: Mutex<GenerationTotals>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Records one finished request.
    pub fn record_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        *self
            .requests
            .lock()
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        self.latency
            .lock()
            .entry(route.to_owned())
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// A generation started (it holds a slot until [`Metrics::generation_finished`]).
    pub fn generation_started(&self) {
        self.generations_in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A generation ended; `deltas` text pieces were streamed in `elapsed`.
    pub fn generation_finished(&self, deltas: u64, elapsed: Duration) {
        self.generations_in_flight.fetch_sub(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        let mut totals = self.generation.lock();
        totals.deltas += deltas;
        totals.seconds += seconds;
        if deltas > 0 && seconds > 0.0 {
            totals.last_rate = deltas as f64 / seconds;
        }
    }

    /// A generation was refused because all slots were busy.
    pub fn generation_rejected(&self) {
        self.generations_rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Generations running now.
    pub fn generations_in_flight(&self) -> i64 {
        self.generations_in_flight.load(Ordering::Relaxed)
    }

    /// Prometheus text exposition format (version 0.0.4).
    pub fn render(&self, info: Option<&ServiceInfo>) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; the results are ignored on purpose.
        let _ = writeln!(
            out,
            "# HELP tingwen_http_requests_total HTTP requests by route, method and status."
        );
        let _ = writeln!(out, "# TYPE tingwen_http_requests_total counter");
        for ((route, method, status), count) in self.requests.lock().iter() {
            let _ = writeln!(
                out,
                "tingwen_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {count}",
                escape_label(route),
                escape_label(method)
            );
        }

        let _ = writeln!(out, "# HELP tingwen_http_request_duration_seconds Time until the response started, by route.");
        let _ = writeln!(
            out,
            "# TYPE tingwen_http_request_duration_seconds histogram"
        );
        for (route, histogram) in self.latency.lock().iter() {
            let route = escape_label(route);
            let mut cumulative = 0;
            for (bound, count) in LATENCY_BUCKETS.iter().zip(histogram.counts.iter()) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "tingwen_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "tingwen_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "tingwen_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "tingwen_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                histogram.count
            );
        }

        let totals = self.generation.lock();
        let gauges: [(&str, &str, &str, String); 5] = [
            (
                "tingwen_generations_in_flight",
                "gauge",
                "Answers being generated now (the generation queue depth).",
                self.generations_in_flight().to_string(),
            ),
            (
                "tingwen_generations_rejected_total",
                "counter",
                "Answers refused with 429 because all generation slots were busy.",
                self.generations_rejected
                    .load(Ordering::Relaxed)
                    .to_string(),
            ),
            (
                "tingwen_generated_deltas_total",
                "counter",
                "Streamed answer pieces (about one per generated token).",
                totals.deltas.to_string(),
            ),
            (
                "tingwen_generation_seconds_total",
                "counter",
                "Time spent answering questions.",
                totals.seconds.to_string(),
            ),
            (
                "tingwen_generation_tokens_per_second",
                "gauge",
                "Streamed pieces per second of the latest generated answer.",
                totals.last_rate.to_string(),
            ),
        ];
        drop(totals);
        for (name, kind, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {value}");
        }

        if let Some(info) = info {
            let _ = writeln!(out, "# HELP tingwen_documents Documents in the collection.");
            let _ = writeln!(out, "# TYPE tingwen_documents gauge");
            let _ = writeln!(out, "tingwen_documents {}", info.documents);
            let _ = writeln!(
                out,
                "# HELP tingwen_chunks Chunks indexed in the collection."
            );
            let _ = writeln!(out, "# TYPE tingwen_chunks gauge");
            let _ = writeln!(out, "tingwen_chunks {}", info.chunks);
        }
        out
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.record_request("/api/search", "POST", 200, Duration::from_millis(3));
        metrics.record_request("/api/search", "POST", 200, Duration::from_millis(70));
        metrics.record_request("/api/search", "POST", 400, Duration::from_millis(1));
        let text = metrics.render(None);
        assert!(text.contains(
            "tingwen_http_requests_total{route=\"/api/search\",method=\"POST\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "tingwen_http_request_duration_seconds_bucket{route=\"/api/search\",le=\"0.005\"} 2"
        ));
        assert!(text.contains(
            "tingwen_http_request_duration_seconds_bucket{route=\"/api/search\",le=\"0.1\"} 3"
        ));
        assert!(
            text.contains("tingwen_http_request_duration_seconds_count{route=\"/api/search\"} 3")
        );
    }

    #[test]
    fn tracks_generations() {
        let metrics = Metrics::default();
        metrics.generation_started();
        assert_eq!(metrics.generations_in_flight(), 1);
        metrics.generation_finished(20, Duration::from_secs(2));
        metrics.generation_rejected();
        let text = metrics.render(None);
        assert!(text.contains("tingwen_generations_in_flight 0"));
        assert!(text.contains("tingwen_generations_rejected_total 1"));
        assert!(text.contains("tingwen_generation_tokens_per_second 10"));
    }
}
