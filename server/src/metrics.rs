//! Prometheus metrics, in the text exposition format over a minimal HTTP/1.0 responder on
//! `--metrics ADDR` (`GET /metrics`). Hand-written: a handful of atomics needs no framework,
//! and the responder reads at most 8 KiB per request with a 5 s timeout.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Upper bounds (seconds) of the latency histogram buckets: cached answers take tens of
/// microseconds, cold verifications milliseconds to seconds.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// gRPC status codes we answer with, in the order of [`Metrics::requests`].
pub const CODES: [tonic::Code; 7] = [
    tonic::Code::Ok,
    tonic::Code::InvalidArgument,
    tonic::Code::ResourceExhausted,
    tonic::Code::DeadlineExceeded,
    tonic::Code::Unavailable,
    tonic::Code::Internal,
    tonic::Code::Unknown,
];

#[derive(Default)]
pub struct Metrics {
    /// Per method (Verify, GetKeys) and code.
    requests: [[AtomicU64; CODES.len()]; 2],
    /// Per bucket, the requests in it and not in an earlier one.
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub inflight: AtomicU64,
    pub audit_records: AtomicU64,
}

#[derive(Clone, Copy)]
pub enum Method {
    Verify = 0,
    GetKeys = 1,
}

impl Metrics {
    pub fn request(&self, method: Method, code: tonic::Code, elapsed: Duration) {
        let i = CODES
            .iter()
            .position(|c| *c == code)
            .unwrap_or(CODES.len() - 1);
        self.requests[method as usize][i].fetch_add(1, Relaxed);
        if let Method::Verify = method {
            // One count in the first bucket that holds it (none past the last); `render` sums
            // them into Prometheus's cumulative buckets.
            let secs = elapsed.as_secs_f64();
            if let Some(b) = BUCKETS.iter().position(|le| secs <= *le) {
                self.buckets[b].fetch_add(1, Relaxed);
            }
            self.latency_count.fetch_add(1, Relaxed);
            self.latency_sum_micros.fetch_add(
                elapsed.as_micros().min(u128::from(u64::MAX)) as u64,
                Relaxed,
            );
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP vouch_requests_total gRPC requests answered, by method and status code.\n# TYPE vouch_requests_total counter\n");
        for (m, name) in ["Verify", "GetKeys"].iter().enumerate() {
            for (c, code) in CODES.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "vouch_requests_total{{method=\"{name}\",code=\"{code:?}\"}} {}",
                    self.requests[m][c].load(Relaxed)
                );
            }
        }
        out.push_str("# HELP vouch_verify_duration_seconds Time to answer Verify.\n# TYPE vouch_verify_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (b, le) in self.buckets.iter().zip(BUCKETS) {
            cumulative += b.load(Relaxed);
            let _ = writeln!(
                out,
                "vouch_verify_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let count = self.latency_count.load(Relaxed);
        let _ = writeln!(
            out,
            "vouch_verify_duration_seconds_bucket{{le=\"+Inf\"}} {count}\nvouch_verify_duration_seconds_sum {}\nvouch_verify_duration_seconds_count {count}",
            self.latency_sum_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "# HELP vouch_cache_hits_total Program verdicts answered from the cache.\n# TYPE vouch_cache_hits_total counter\nvouch_cache_hits_total {}",
            self.cache_hits.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP vouch_cache_misses_total Program verdicts that needed a verification.\n# TYPE vouch_cache_misses_total counter\nvouch_cache_misses_total {}",
            self.cache_misses.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP vouch_verdicts_total Verdicts issued, by result.\n# TYPE vouch_verdicts_total counter\nvouch_verdicts_total{{verdict=\"accepted\"}} {}\nvouch_verdicts_total{{verdict=\"rejected\"}} {}",
            self.accepted.load(Relaxed),
            self.rejected.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP vouch_verifications_in_flight Verifications running on the blocking pool.\n# TYPE vouch_verifications_in_flight gauge\nvouch_verifications_in_flight {}",
            self.inflight.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP vouch_audit_records_total Audit log records written by this process.\n# TYPE vouch_audit_records_total counter\nvouch_audit_records_total {}",
            self.audit_records.load(Relaxed)
        );
        out
    }
}

/// Serves `GET /metrics` until the task is dropped.
pub async fn serve(listener: TcpListener, metrics: std::sync::Arc<Metrics>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut len = 0;
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while len < buf.len() {
                    match stream.read(&mut buf[len..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => len += n,
                    }
                    if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let head = String::from_utf8_lossy(&buf[..len]);
            let (status, body) = if head.starts_with("GET /metrics ") || head.starts_with("GET / ")
            {
                ("200 OK", metrics.render())
            } else {
                ("404 Not Found", "not found: try GET /metrics\n".to_owned())
            };
            let response = format!(
                "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        for micros in [50, 50, 300, 2_000, 20_000_000] {
            m.request(
                Method::Verify,
                tonic::Code::Ok,
                Duration::from_micros(micros),
            );
        }
        let text = m.render();
        for (le, n) in [
            ("0.0001", 2),
            ("0.00025", 2),
            ("0.0005", 3),
            ("0.0025", 4),
            ("10", 4),
        ] {
            let line = format!("vouch_verify_duration_seconds_bucket{{le=\"{le}\"}} {n}\n");
            assert!(text.contains(&line), "{line}{text}");
        }
        assert!(text.contains("vouch_verify_duration_seconds_bucket{le=\"+Inf\"} 5\n"));
        assert!(text.contains("vouch_verify_duration_seconds_count 5\n"));
        assert!(text.contains("vouch_requests_total{method=\"Verify\",code=\"Ok\"} 5\n"));
    }
}
