//! Request deadlines: the server's `--deadline`, or the client's `grpc-timeout` header when
//! that is shorter, both counted from the request's arrival.
//!
//! tonic's server enforces `grpc-timeout` itself: its timer answers CANCELLED ("Timeout
//! expired") and drops the handler, so our metrics would never see the request. The service's
//! own timer therefore starts from [`Arrived`], stamped by an interceptor in the same poll that
//! starts tonic's timer, and fires [`CLIENT_DEADLINE_MARGIN`] earlier: the service answers
//! DEADLINE_EXCEEDED naming the client's deadline, and counts it. (A client that enforces the
//! deadline itself, as tonic's does, may report its own timeout first.)

use std::time::{Duration, Instant};
use tonic::{Request, Status};

/// When a request arrived, stamped by [`stamp_arrival`] before its body is read: the client's
/// `grpc-timeout` counts from there.
#[derive(Clone, Copy, Debug)]
pub struct Arrived(pub Instant);

/// The interceptor `cli.rs` puts in front of the service (see [`Arrived`]).
#[allow(clippy::result_large_err)] // tonic's interceptor signature
pub fn stamp_arrival(mut request: Request<()>) -> Result<Request<()>, Status> {
    request.extensions_mut().insert(Arrived(Instant::now()));
    Ok(request)
}

/// The `grpc-timeout` header (gRPC over HTTP/2: at most 8 digits and a unit `H M S m u n`), or
/// `None` if absent or malformed (then only the server's deadline applies, as in tonic).
pub fn grpc_timeout(metadata: &tonic::metadata::MetadataMap) -> Option<Duration> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let digits = value.get(..value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match value.get(digits.len()..)? {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// How long a request may take, and whose limit that is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Deadline {
    /// When to give up.
    pub at: Instant,
    /// The limit that applies, for the message.
    pub budget: Duration,
    /// Whether it is the client's.
    pub client: bool,
}

/// tonic's own `grpc-timeout` timer started a moment before the arrival stamp and would answer
/// CANCELLED; ours fires this much earlier so the client gets DEADLINE_EXCEEDED.
const CLIENT_DEADLINE_MARGIN: Duration = Duration::from_millis(2);

impl Deadline {
    /// The earlier of the server's deadline and the client's `grpc-timeout`, from arrival.
    pub fn new(arrived: Instant, server: Duration, client: Option<Duration>) -> Deadline {
        match client {
            Some(c) if c < server => Deadline {
                at: later(arrived, c.saturating_sub(CLIENT_DEADLINE_MARGIN)),
                budget: c,
                client: true,
            },
            _ => Deadline {
                at: later(arrived, server),
                budget: server,
                client: false,
            },
        }
    }
}

/// `from + by`, or about 30 years from `from` if that overflows (as tokio's `timeout` does).
fn later(from: Instant, by: Duration) -> Instant {
    from.checked_add(by)
        .or_else(|| from.checked_add(Duration::from_secs(86_400 * 365 * 30)))
        .unwrap_or(from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::{MetadataMap, MetadataValue};

    fn parse(value: &str) -> Option<Duration> {
        let mut m = MetadataMap::new();
        m.insert(
            "grpc-timeout",
            MetadataValue::try_from(value).expect("ascii"),
        );
        grpc_timeout(&m)
    }

    #[test]
    fn grpc_timeout_header_is_parsed_as_the_spec_says() {
        assert_eq!(parse("3H"), Some(Duration::from_secs(3 * 3600)));
        assert_eq!(parse("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse("10S"), Some(Duration::from_secs(10)));
        assert_eq!(parse("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse("99999999u"), Some(Duration::from_micros(99_999_999)));
        assert_eq!(parse("5n"), Some(Duration::from_nanos(5)));
        for bad in [
            "",
            "m",
            "5",
            "5s",
            "123456789m",
            "-5m",
            "+5m",
            " 5m",
            "5 m",
            "1.5S",
            "5mm",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(grpc_timeout(&MetadataMap::new()), None);
    }

    #[test]
    fn the_shorter_of_server_and_client_deadlines_applies() {
        let t = Instant::now();
        let server = Duration::from_secs(30);
        let d = Deadline::new(t, server, None);
        assert_eq!((d.at, d.budget, d.client), (t + server, server, false));
        let d = Deadline::new(t, server, Some(Duration::from_secs(60)));
        assert_eq!((d.at, d.budget, d.client), (t + server, server, false));
        let c = Duration::from_millis(100);
        let d = Deadline::new(t, server, Some(c));
        assert_eq!((d.budget, d.client), (c, true));
        assert_eq!(d.at, t + c - CLIENT_DEADLINE_MARGIN);
        // A client deadline shorter than the margin: give up at once.
        let d = Deadline::new(t, server, Some(Duration::from_micros(1)));
        assert_eq!((d.at, d.client), (t, true));
        // An absurd server deadline does not overflow.
        let d = Deadline::new(t, Duration::MAX, None);
        assert!(d.at > t + Duration::from_secs(86_400 * 365));
    }
}
