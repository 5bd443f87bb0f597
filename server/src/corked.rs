//! Write coalescing for HTTP/2 connections: [`Corked`] holds written bytes until a flush, and
//! defers each flush by one turn of the scheduler.
//!
//! Why: h2 writes and flushes after every poll of the connection task, and tokio runs a task
//! woken by the task that just ran next (its LIFO slot). So when a request's handler finishes,
//! the connection task runs at once and sends that one response with its own `writev` (and the
//! peer wakes up for it), although many more handlers are ready and would finish in the next
//! microseconds. Under load that is one system call, one loopback delivery and one peer wakeup
//! per response, most of a cached answer's cost. Deferred, the flush runs after the tasks that
//! were already ready, and one `write` carries all their frames.
//!
//! What it costs: one copy of the outgoing bytes, and at most one scheduler turn of latency
//! per flush (the task re-queues itself behind the ready tasks; nothing waits for a timer).
//! Bytes are never held without a flush pending: h2 flushes after every batch of writes, and
//! a deferred flush always wakes its task, so it completes on the next poll.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// More than this buffered makes a write drain the buffer first (back-pressure).
const MAX_BUFFERED: usize = 256 << 10;

pub struct Corked<T> {
    inner: T,
    buf: Vec<u8>,
    /// How much of `buf` the socket has taken.
    sent: usize,
    /// Whether the pending flush has already let the other ready tasks run once.
    deferred: bool,
}

impl<T> Corked<T> {
    pub fn new(inner: T) -> Corked<T> {
        Corked {
            inner,
            buf: Vec::with_capacity(16 << 10),
            sent: 0,
            deferred: false,
        }
    }

    pub fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: AsyncWrite + Unpin> Corked<T> {
    /// Writes everything buffered to the inner stream.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.buf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.buf.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Corked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Corked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.buf.len() >= MAX_BUFFERED {
            ready!(self.poll_drain(cx))?;
        }
        self.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.buf.len() >= MAX_BUFFERED {
            ready!(self.poll_drain(cx))?;
        }
        let mut n = 0;
        for d in data {
            self.buf.extend_from_slice(d);
            n += d.len();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.buf.len() > self.sent && !self.deferred {
            // Let the tasks that are ready run first (a task that wakes itself goes to the
            // back of the run queue); they may add frames to this flush.
            self.deferred = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        ready!(self.poll_drain(cx))?;
        self.deferred = false;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<T: tonic::transport::server::Connected> tonic::transport::server::Connected for Corked<T> {
    type ConnectInfo = T::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_arrive_in_order_after_flush_and_shutdown() {
        let (a, mut b) = tokio::io::duplex(1 << 10);
        let mut a = Corked::new(a);
        let reader = tokio::spawn(async move {
            let mut got = vec![];
            b.read_to_end(&mut got).await.map(|_| got)
        });
        let mut expected = vec![];
        for i in 0..3000u32 {
            let chunk = i.to_le_bytes().repeat(1 + (i % 7) as usize);
            a.write_all(&chunk).await.expect("write");
            expected.extend_from_slice(&chunk);
            if i % 100 == 0 {
                a.flush().await.expect("flush");
            }
        }
        a.shutdown().await.expect("shutdown");
        drop(a);
        assert_eq!(reader.await.expect("join").expect("read"), expected);
    }

    #[tokio::test]
    async fn a_flush_completes_on_its_own() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut a = Corked::new(a);
        a.write_all(b"hello").await.expect("write");
        // The deferred flush wakes itself: no other event is needed for it to finish.
        tokio::time::timeout(std::time::Duration::from_secs(5), a.flush())
            .await
            .expect("flush finished")
            .expect("flush");
        let mut got = [0; 5];
        b.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"hello");
    }
}
