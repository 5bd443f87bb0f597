//! A lean gRPC client for `vouch load` over plaintext HTTP/2: the `h2` crate directly, one
//! pre-framed request body shared by every request, no tower layers, writes coalesced like
//! every `vouch` connection (`vouch_server::corked`).
//!
//! Why: client and server share the machine, so what the load client spends is taken from the
//! server. Through tonic's channel (buffer worker, reconnect, origin layers, per-request
//! encoding of the same 7.8 KB) the client cost about as much CPU per request as `vouchd`.
//! The wire is the same gRPC (POST `/vouch.v1.Verifier/Verify`, `application/grpc`, length-
//! prefixed protobuf, `grpc-status` trailer), and every answer is still decoded in full and
//! checked by the caller, so a lost, failed or empty answer is an error, not a faster number.

use anyhow::{Context, Result, bail};
use prost::Message;
use prost::bytes::{BufMut, Bytes, BytesMut};
use tokio::net::TcpStream;
use tonic::codegen::http::{Request, Uri};
use vouch_proto::api::{VerifyRequest, VerifyResponse};
use vouch_server::corked::Corked;

/// One HTTP/2 connection; clones share it (each clone is one stream at a time).
#[derive(Clone)]
pub struct Connection {
    send: h2::client::SendRequest<Bytes>,
    uri: Uri,
}

/// A request as gRPC frames it: flag byte 0 (not compressed), big-endian length, message.
pub fn frame(request: &VerifyRequest) -> Bytes {
    let len = request.encoded_len();
    let mut out = BytesMut::with_capacity(5 + len);
    out.put_u8(0);
    out.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    request.encode_raw(&mut out);
    out.freeze()
}

impl Connection {
    /// Connects to `http://HOST:PORT` (TCP_NODELAY, corked writes, large flow-control windows
    /// so many answers can be in flight).
    pub async fn open(server: &str) -> Result<Connection> {
        let base: Uri = server
            .parse()
            .with_context(|| format!("bad server URL `{server}`"))?;
        let authority = base
            .authority()
            .with_context(|| format!("no host:port in `{server}`"))?
            .clone();
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(80);
        let tcp = TcpStream::connect((host, port))
            .await
            .with_context(|| format!("cannot connect to {server}"))?;
        tcp.set_nodelay(true)?;
        let (send, connection) = h2::client::Builder::new()
            .initial_window_size(4 << 20)
            .initial_connection_window_size(16 << 20)
            .handshake(Corked::new(tcp))
            .await
            .with_context(|| format!("HTTP/2 handshake with {server}"))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("load connection ended: {e}");
            }
        });
        let uri = Uri::builder()
            .scheme("http")
            .authority(authority)
            .path_and_query("/vouch.v1.Verifier/Verify")
            .build()?;
        Ok(Connection { send, uri })
    }

    /// One Verify call with a request framed by [`frame`].
    pub async fn verify(&mut self, framed: &Bytes) -> Result<VerifyResponse> {
        let request = Request::post(self.uri.clone())
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())?;
        let send = self.send.clone().ready().await?;
        self.send = send;
        let (response, mut stream) = self.send.send_request(request, false)?;
        stream.send_data(framed.clone(), true)?;
        let (head, mut body) = response.await?.into_parts();
        if head.status != 200 {
            bail!("HTTP status {}", head.status);
        }
        let mut data = BytesMut::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk?;
            body.flow_control().release_capacity(chunk.len())?;
            data.extend_from_slice(&chunk);
        }
        // A failed call may carry its status in the headers alone (trailers-only).
        let trailers = body.trailers().await?.unwrap_or_default();
        let status = trailers
            .get("grpc-status")
            .or_else(|| head.headers.get("grpc-status"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(none)");
        if status != "0" {
            let message = trailers
                .get("grpc-message")
                .or_else(|| head.headers.get("grpc-message"))
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            bail!("gRPC status {status}: {message}");
        }
        if data.len() < 5 || data[0] != 0 {
            bail!("malformed gRPC answer ({} bytes)", data.len());
        }
        let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
        if data.len() != 5 + len {
            bail!("gRPC answer of {} bytes announces {len}", data.len() - 5);
        }
        Ok(VerifyResponse::decode(&data[5..])?)
    }
}
