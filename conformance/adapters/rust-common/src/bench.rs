//! The benchmark commands of the adapter protocol (docs/adapters.md,
//! "Benchmark commands"), shared by every Rust adapter (the reference adapter,
//! rust-yamux and tokio-yamux through the command loop of this crate) and by
//! `yamuxctl`'s raw-TCP baseline. Generic over the stream type and the way to open one, so
//! every implementation is measured by exactly the same code.
//!
//! The data never crosses the control channel: the client side writes and
//! reads on its own, the server side sinks or echoes without `data` events,
//! and the command's reply carries the figures measured inside the adapter.

use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// What the server side does with inbound streams (`bench-serve`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServeMode {
    /// The default application behaviour of the adapter protocol.
    Off,
    /// Read and discard; at EOF write the byte count (8 bytes, big endian), then FIN.
    Sink,
    /// Write back what was read, FIN after EOF; no events.
    Echo,
}

/// A benchmark command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BenchCmd {
    /// `bench-serve` `mode`: how inbound streams accepted from now on are served.
    Serve(ServeMode),
    /// `bench-send` `streams`, `bytes` (per stream), `write_size`.
    Send {
        streams: u32,
        bytes: u64,
        write_size: usize,
    },
    /// `bench-rr` `count`, `size`: request/response round trips on one stream.
    Rr { count: u32, size: usize },
    /// `bench-open` `count`: open, 1-byte exchange, close, `count` times.
    Open { count: u32 },
    /// `bench-hold` `count`: open streams with a 1-byte exchange each and keep them.
    Hold { count: u32 },
    /// `rss`: the process's resident set size.
    Rss,
}

fn field_u64(v: &Value, name: &str, default: Option<u64>) -> Result<u64, String> {
    match v.get(name) {
        Some(x) => x
            .as_u64()
            .ok_or_else(|| format!("`{name}` must be a non-negative integer")),
        None => default.ok_or_else(|| format!("missing `{name}`")),
    }
}

fn field_u32(v: &Value, name: &str, default: Option<u64>) -> Result<u32, String> {
    u32::try_from(field_u64(v, name, default)?).map_err(|_| format!("`{name}` is too large"))
}

/// The reply to a benchmark command: `ok` with the figures of `Ok` (an
/// object) merged in, or `error` with the message of `Err`.
pub fn reply(id: &Value, r: Result<Value, String>) -> Value {
    match r {
        Ok(extra) => {
            let mut m = json!({"event": "ok", "id": id});
            if let (Value::Object(m), Value::Object(e)) = (&mut m, extra) {
                m.extend(e);
            }
            m
        }
        Err(msg) => json!({"event": "error", "id": id, "message": msg}),
    }
}

/// Parses a command object: `None` when it is not a benchmark command.
pub fn parse(v: &Value) -> Option<Result<BenchCmd, String>> {
    let cmd = v.get("cmd")?.as_str()?;
    let r = match cmd {
        "bench-serve" => match v.get("mode").and_then(Value::as_str) {
            Some("sink") => Ok(BenchCmd::Serve(ServeMode::Sink)),
            Some("echo") => Ok(BenchCmd::Serve(ServeMode::Echo)),
            Some("off") => Ok(BenchCmd::Serve(ServeMode::Off)),
            _ => Err("`mode` must be sink, echo or off".to_string()),
        },
        "bench-send" => (|| {
            let streams = field_u32(v, "streams", Some(1))?;
            let bytes = field_u64(v, "bytes", None)?;
            let write_size = field_u32(v, "write_size", Some(65536))?;
            if streams == 0 || write_size == 0 {
                return Err("`streams` and `write_size` must be at least 1".to_string());
            }
            Ok(BenchCmd::Send {
                streams,
                bytes,
                write_size: write_size as usize,
            })
        })(),
        "bench-rr" => (|| {
            let count = field_u32(v, "count", None)?;
            let size = field_u32(v, "size", Some(64))?;
            if size == 0 || size > 1 << 20 {
                return Err("`size` must be 1..=1048576".to_string());
            }
            Ok(BenchCmd::Rr {
                count,
                size: size as usize,
            })
        })(),
        "bench-open" => field_u32(v, "count", None).map(|count| BenchCmd::Open { count }),
        "bench-hold" => field_u32(v, "count", None).map(|count| BenchCmd::Hold { count }),
        "rss" => Ok(BenchCmd::Rss),
        _ => return None,
    };
    Some(r)
}

/// VmRSS of this process in bytes, from /proc/self/status.
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The `ok` reply of `rss`.
pub fn rss_reply() -> Result<Value, String> {
    rss_bytes()
        .map(|b| json!({ "rss_bytes": b }))
        .ok_or_else(|| "cannot read VmRSS from /proc/self/status".to_string())
}

/// Serves one inbound stream in `mode` (Sink or Echo) until the peer's FIN,
/// then half-closes. Errors end the stream silently (the client reports them).
pub async fn serve<S>(mut s: S, mode: ServeMode)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match mode {
        ServeMode::Off => {}
        ServeMode::Sink => {
            let mut buf = vec![0u8; 64 * 1024];
            let mut total: u64 = 0;
            loop {
                match s.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => total += n as u64,
                    Err(_) => return,
                }
            }
            if s.write_all(&total.to_be_bytes()).await.is_ok() {
                let _ = s.shutdown().await;
            }
        }
        ServeMode::Echo => {
            // Small: idle held streams each keep one of these.
            let mut buf = [0u8; 256];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
            let _ = s.shutdown().await;
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

async fn read_to_eof<S: AsyncRead + Unpin>(s: &mut S, what: &str) -> Result<Vec<u8>, String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf).await {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
}

/// Writes `bytes` bytes, half-closes, and reads the sink's 8-byte count to
/// EOF. The read side is polled all along, not only after the writes: some
/// implementations apply the peer's window updates only when the stream is
/// read (tokio-yamux 0.3: `StreamHandle` takes its frames, window updates
/// included, from a channel that only `poll_read` waits on), so a writer that
/// does not read at the same time would wait for credit forever. Both sides
/// are polled from this one task (no split, no lock); for the other
/// implementations the extra `poll_read` just returns `Pending`.
/// Writes one byte and reads the echo (the server is in `echo`).
async fn exchange_one<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> Result<(), String> {
    s.write_all(&[7]).await.map_err(|e| format!("write: {e}"))?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b)
        .await
        .map_err(|e| format!("read: {e}"))?;
    Ok(())
}

async fn send_one<S>(mut s: S, bytes: u64, write_size: usize) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let buf = pattern(write_size);
    let mut left = bytes;
    let mut off = 0usize; // bytes of `buf` taken by the current write
    let mut shut = false;
    let mut ack = Vec::new();
    let mut eof = false;
    let mut rbuf = [0u8; 64];
    std::future::poll_fn(|cx| {
        while !eof {
            let mut rb = ReadBuf::new(&mut rbuf);
            match Pin::new(&mut s).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) if rb.filled().is_empty() => eof = true,
                Poll::Ready(Ok(())) => ack.extend_from_slice(rb.filled()),
                Poll::Ready(Err(e)) => {
                    return Poll::Ready(Err(format!("reading the sink's count: {e}")))
                }
                Poll::Pending => break,
            }
        }
        while left > 0 {
            if eof {
                return Poll::Ready(Err(format!(
                    "the sink ended the stream with {left} bytes still to send"
                )));
            }
            let n = left.min(write_size as u64) as usize;
            let chunk = buf.get(off..n).unwrap_or_default();
            match Pin::new(&mut s).poll_write(cx, chunk) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err("write: wrote 0 bytes".to_string())),
                Poll::Ready(Ok(k)) => {
                    off += k;
                    if off >= n {
                        left -= n as u64;
                        off = 0;
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(format!("write: {e}"))),
                Poll::Pending => return Poll::Pending,
            }
        }
        if !shut {
            match Pin::new(&mut s).poll_shutdown(cx) {
                Poll::Ready(Ok(())) => shut = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(format!("close: {e}"))),
                Poll::Pending => return Poll::Pending,
            }
            // The count may have come while we closed: read again.
            if !eof {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        if eof {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
    .await?;
    let count: [u8; 8] = ack
        .as_slice()
        .try_into()
        .map_err(|_| format!("the sink answered {} bytes, not 8", ack.len()))?;
    let count = u64::from_be_bytes(count);
    if count != bytes {
        return Err(format!("the sink read {count} bytes, {bytes} were sent"));
    }
    Ok(())
}

/// Runs a client-side command (`Send`, `Rr`, `Open`, `Hold`): returns the
/// fields of the `ok` reply, or the error message. `open` opens one stream
/// through the implementation; held streams go to `held`.
pub async fn client<S, F, Fut>(
    cmd: BenchCmd,
    open: F,
    held: Arc<Mutex<Vec<S>>>,
) -> Result<Value, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<S, String>>,
{
    match cmd {
        BenchCmd::Send {
            streams,
            bytes,
            write_size,
        } => {
            let start = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..streams {
                let s = open().await?;
                tasks.spawn(send_one(s, bytes, write_size));
            }
            while let Some(r) = tasks.join_next().await {
                r.map_err(|e| format!("task: {e}"))??;
            }
            Ok(json!({ "elapsed_ms": ms(start.elapsed()) }))
        }
        BenchCmd::Rr { count, size } => {
            let mut s = open().await?;
            let req = pattern(size);
            let mut resp = vec![0u8; size];
            let warmup = (count / 10).min(100);
            let mut samples = Vec::with_capacity(count as usize);
            for i in 0..warmup + count {
                let t = Instant::now();
                s.write_all(&req).await.map_err(|e| format!("write: {e}"))?;
                s.read_exact(&mut resp)
                    .await
                    .map_err(|e| format!("read: {e}"))?;
                if i >= warmup {
                    samples.push(t.elapsed());
                }
            }
            s.shutdown().await.map_err(|e| format!("close: {e}"))?;
            read_to_eof(&mut s, "final read").await?;
            samples.sort();
            let pick = |q: f64| -> f64 {
                if samples.is_empty() {
                    return 0.0;
                }
                let i = ((samples.len() - 1) as f64 * q).round() as usize;
                samples.get(i).map(|d| d.as_secs_f64() * 1e6).unwrap_or(0.0)
            };
            Ok(json!({ "p50_us": pick(0.5), "p99_us": pick(0.99), "count": samples.len() }))
        }
        BenchCmd::Open { count } => {
            let start = Instant::now();
            for _ in 0..count {
                let mut s = open().await?;
                exchange_one(&mut s).await?;
                s.shutdown().await.map_err(|e| format!("close: {e}"))?;
                read_to_eof(&mut s, "reading to EOF").await?;
            }
            Ok(json!({ "elapsed_ms": ms(start.elapsed()) }))
        }
        BenchCmd::Hold { count } => {
            let start = Instant::now();
            for _ in 0..count {
                let mut s = open().await?;
                exchange_one(&mut s).await?;
                match held.lock() {
                    Ok(mut h) => h.push(s),
                    Err(p) => p.into_inner().push(s),
                }
            }
            Ok(json!({ "held": count, "elapsed_ms": ms(start.elapsed()) }))
        }
        BenchCmd::Serve(_) | BenchCmd::Rss => Err("not a client command".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_and_rejects_bad_fields() {
        let p = |s: &str| parse(&serde_json::from_str::<Value>(s).unwrap());
        assert_eq!(
            p(r#"{"cmd":"bench-send","streams":3,"bytes":10}"#),
            Some(Ok(BenchCmd::Send {
                streams: 3,
                bytes: 10,
                write_size: 65536
            }))
        );
        assert_eq!(
            p(r#"{"cmd":"bench-serve","mode":"sink"}"#),
            Some(Ok(BenchCmd::Serve(ServeMode::Sink)))
        );
        assert!(matches!(
            p(r#"{"cmd":"bench-serve","mode":"x"}"#),
            Some(Err(_))
        ));
        assert!(matches!(
            p(r#"{"cmd":"bench-rr","count":-1}"#),
            Some(Err(_))
        ));
        assert!(matches!(
            p(r#"{"cmd":"bench-send","streams":0,"bytes":1}"#),
            Some(Err(_))
        ));
        assert_eq!(p(r#"{"cmd":"open"}"#), None);
        assert_eq!(p(r#"{"cmd":"rss"}"#), Some(Ok(BenchCmd::Rss)));
    }

    /// A stream that, like tokio-yamux 0.3's `StreamHandle`, applies the
    /// peer's window updates only on the read side: every write makes the
    /// peer grant the credit back, but that update wakes only a task waiting
    /// in `poll_read`, and a writer waiting for credit is not woken at all.
    /// After the FIN it answers the byte count like a sink.
    #[derive(Default)]
    struct CreditOnRead {
        credit: usize,
        in_flight: usize,
        reader: Option<std::task::Waker>,
        written: u64,
        shut: bool,
        answered: bool,
    }

    impl AsyncRead for CreditOnRead {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let granted = std::mem::take(&mut self.in_flight);
            self.credit += granted;
            if self.shut {
                if !self.answered {
                    self.answered = true;
                    buf.put_slice(&self.written.to_be_bytes());
                }
                return Poll::Ready(Ok(()));
            }
            self.reader = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    impl AsyncWrite for CreditOnRead {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            if self.credit == 0 {
                return Poll::Pending; // no waker kept
            }
            let n = buf.len().min(self.credit);
            self.credit -= n;
            self.written += n as u64;
            self.in_flight += n; // the peer's window update for these bytes
            if let Some(w) = self.reader.take() {
                w.wake();
            }
            Poll::Ready(Ok(n))
        }

        fn poll_flush(
            self: Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            self.shut = true;
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn send_keeps_reading_while_it_writes() {
        let s = CreditOnRead {
            credit: 300,
            ..CreditOnRead::default()
        };
        // A write-then-read sender waits forever on this stream; the guard
        // only turns that hang into a failure.
        let r = tokio::time::timeout(Duration::from_secs(10), send_one(s, 12_345, 4096)).await;
        assert_eq!(r, Ok(Ok(())));
    }

    #[test]
    fn rss_is_positive() {
        assert!(rss_bytes().is_some_and(|b| b > 0));
    }
}
