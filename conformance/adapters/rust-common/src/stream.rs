//! One accepted or opened stream: a reader task, a writer task and a
//! supervisor that resets or releases the handle.
//!
//! The handle sits behind a mutex that is only held for the duration of one
//! `poll_*` call, so the reader and the writer run independently (a write
//! blocked on flow control does not stop reads) and either side can ask the
//! handle how an operation ended.

use crate::proto::{emit, error, hex_encode, ok};
use crate::{End, EndCtx, MuxStream};
use serde_json::{json, Value};
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

const READ_BUF: usize = 64 * 1024;
const RESET_REASON: &str = "the stream was reset locally (reset command)";
const RELEASED_REASON: &str = "the stream is closed in both directions and was released";

/// What the command loop keeps of a stream.
pub(crate) struct StreamCtl {
    pub read: watch::Sender<bool>,
    pub echo: watch::Sender<bool>,
    pub cmds: mpsc::UnboundedSender<WCmd>,
    pub reset: mpsc::UnboundedSender<Value>,
}

/// Work for the writer task, done in order.
pub(crate) enum WCmd {
    Write {
        id: Value,
        data: Vec<u8>,
    },
    Close {
        id: Value,
    },
    Echo(Vec<u8>),
    /// The bytes of an `open` with `hex`/`len`: written without a reply; a
    /// failure is reported as the stream's error.
    OpenBytes(Vec<u8>),
    EchoFin,
}

type Cancel = watch::Receiver<Option<&'static str>>;

struct Shared<S> {
    id: u32,
    io: Mutex<S>,
    fin_sent: AtomicBool,
    reset_reported: AtomicBool,
    alive: Arc<AtomicBool>,
}

enum WriteErr {
    /// Cancelled after this many bytes.
    Cancelled(usize, &'static str),
    /// Failed after this many bytes.
    Io(usize, io::Error),
}

impl<S: MuxStream> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, S> {
        self.io.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn ctx(&self) -> EndCtx {
        EndCtx {
            fin_sent: self.fin_sent.load(Ordering::SeqCst),
            session_alive: self.alive.load(Ordering::SeqCst),
        }
    }

    fn classify(&self, err: &io::Error) -> End {
        let ctx = self.ctx();
        self.lock().classify_error(err, ctx)
    }

    /// Reports how a read or write ended (one `reset` event per stream at most).
    fn report(&self, end: &End) {
        match end {
            End::Eof => emit(json!({"event": "eof", "stream": self.id})),
            End::Reset => {
                if !self.reset_reported.swap(true, Ordering::SeqCst) {
                    emit(json!({"event": "reset", "stream": self.id}));
                }
            }
            End::Error(m) => {
                emit(json!({"event": "stream-error", "stream": self.id, "message": m}))
            }
        }
    }

    async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| {
            let mut rb = ReadBuf::new(&mut *buf);
            match self.lock().poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// Writes all of `data` (one write call when it is empty), then flushes;
    /// gives up when cancelled while the implementation makes it wait.
    async fn write_all(&self, data: &[u8], cancel: &mut Cancel) -> Result<(), WriteErr> {
        let mut off = 0;
        loop {
            let rest = data.get(off..).unwrap_or_default();
            let step = poll_fn(|cx| self.lock().poll_write(cx, rest));
            let r = tokio::select! {
                biased;
                r = step => r,
                c = cancel.wait_for(Option::is_some) => {
                    return Err(WriteErr::Cancelled(off, c.ok().and_then(|c| *c).unwrap_or(RESET_REASON)));
                }
            };
            match r {
                Ok(0) if !rest.is_empty() => {
                    return Err(WriteErr::Io(off, io::ErrorKind::WriteZero.into()))
                }
                Ok(n) => off += n,
                Err(e) => return Err(WriteErr::Io(off, e)),
            }
            if off >= data.len() {
                break;
            }
        }
        let flush = poll_fn(|cx| Pin::new(self.lock().io()).poll_flush(cx));
        tokio::select! {
            biased;
            r = flush => r.map_err(|e| WriteErr::Io(off, e)),
            c = cancel.wait_for(Option::is_some) => {
                Err(WriteErr::Cancelled(off, c.ok().and_then(|c| *c).unwrap_or(RESET_REASON)))
            }
        }
    }

    /// Half-closes the write side (the implementation's shutdown / close).
    async fn shutdown(&self, cancel: &mut Cancel) -> Result<(), WriteErr> {
        let step = poll_fn(|cx| Pin::new(self.lock().io()).poll_shutdown(cx));
        tokio::select! {
            biased;
            r = step => match r {
                Ok(()) => {
                    self.fin_sent.store(true, Ordering::SeqCst);
                    Ok(())
                }
                Err(e) => Err(WriteErr::Io(0, e)),
            },
            c = cancel.wait_for(Option::is_some) => {
                Err(WriteErr::Cancelled(0, c.ok().and_then(|c| *c).unwrap_or(RESET_REASON)))
            }
        }
    }
}

/// A [`MuxStream`] as a tokio I/O object, for the code that drives a stream
/// without the per-stream tasks (the benchmark commands, the echo of extra
/// sessions): reads and writes go through the stream's `poll_read` and
/// `poll_write`, flushes and half-closes to its handle.
pub(crate) struct AsIo<S>(pub S);

impl<S: MuxStream> AsyncRead for AsIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().0.poll_read(cx, buf)
    }
}

impl<S: MuxStream> AsyncWrite for AsIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().0.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().0.io()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().0.io()).poll_shutdown(cx)
    }
}

/// Starts the tasks of a stream the application now owns.
pub(crate) fn spawn<S: MuxStream>(
    stream: S,
    read: bool,
    echo: bool,
    alive: Arc<AtomicBool>,
    on_finish: impl FnOnce() + Send + 'static,
) -> StreamCtl {
    let shared = Arc::new(Shared {
        id: stream.id(),
        io: Mutex::new(stream),
        fin_sent: AtomicBool::new(false),
        reset_reported: AtomicBool::new(false),
        alive,
    });
    let (read_tx, read_rx) = watch::channel(read);
    let (echo_tx, echo_rx) = watch::channel(echo);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (reset_tx, reset_rx) = mpsc::unbounded_channel();
    let (cancel_tx, cancel_rx) = watch::channel(None);
    let (closed_tx, closed_rx) = watch::channel(false);
    let reader = tokio::spawn(reader(
        shared.clone(),
        read_rx,
        echo_rx,
        cmd_tx.clone(),
        cancel_rx.clone(),
    ));
    let writer = tokio::spawn(writer(shared.clone(), cmd_rx, cancel_rx, closed_tx));
    tokio::spawn(supervise(
        shared, reader, writer, cancel_tx, reset_rx, closed_rx, on_finish,
    ));
    StreamCtl {
        read: read_tx,
        echo: echo_tx,
        cmds: cmd_tx,
        reset: reset_tx,
    }
}

async fn reader<S: MuxStream>(
    sh: Arc<Shared<S>>,
    mut read_on: watch::Receiver<bool>,
    echo_on: watch::Receiver<bool>,
    to_writer: mpsc::UnboundedSender<WCmd>,
    mut cancel: Cancel,
) {
    let mut buf = vec![0u8; READ_BUF];
    loop {
        // Wait until reading is wanted.
        tokio::select! {
            biased;
            _ = cancel.wait_for(Option::is_some) => return,
            r = read_on.wait_for(|on| *on) => if r.is_err() { return },
        }
        let res = tokio::select! {
            biased;
            _ = cancel.wait_for(Option::is_some) => return,
            r = read_on.wait_for(|on| !*on) => {
                if r.is_err() {
                    return;
                }
                continue;
            }
            r = sh.read(&mut buf) => r,
        };
        match res {
            Ok(0) => {
                let ctx = sh.ctx();
                let end = sh.lock().read_end(ctx);
                sh.report(&end);
                if end == End::Eof && *echo_on.borrow() {
                    let _ = to_writer.send(WCmd::EchoFin);
                }
                return;
            }
            Ok(n) => {
                let chunk = buf.get(..n).unwrap_or_default();
                emit(json!({"event": "data", "stream": sh.id, "hex": hex_encode(chunk)}));
                if *echo_on.borrow() {
                    let _ = to_writer.send(WCmd::Echo(chunk.to_vec()));
                }
            }
            Err(e) => {
                let end = match sh.classify(&e) {
                    End::Eof => End::Error(e.to_string()),
                    other => other,
                };
                sh.report(&end);
                return;
            }
        }
    }
}

async fn writer<S: MuxStream>(
    sh: Arc<Shared<S>>,
    mut rx: mpsc::UnboundedReceiver<WCmd>,
    mut cancel: Cancel,
    write_closed: watch::Sender<bool>,
) {
    let mut echo_broken = false;
    let reason = loop {
        let cmd = tokio::select! {
            biased;
            c = rx.recv() => match c {
                Some(c) => c,
                None => return,
            },
            c = cancel.wait_for(Option::is_some) => break c.ok().and_then(|c| *c).unwrap_or(RESET_REASON),
        };
        match cmd {
            WCmd::Write { id, data } => match sh.write_all(&data, &mut cancel).await {
                Ok(()) => emit(json!({"event": "ok", "id": id, "len": data.len()})),
                Err(WriteErr::Cancelled(n, why)) => {
                    emit(error(
                        &id,
                        format!("{why} after {n} of {} bytes", data.len()),
                    ));
                    break why;
                }
                Err(WriteErr::Io(n, e)) => {
                    if sh.classify(&e) == End::Reset {
                        sh.report(&End::Reset);
                    }
                    emit(error(
                        &id,
                        format!("write failed after {n} of {} bytes: {e}", data.len()),
                    ));
                }
            },
            WCmd::Echo(data) | WCmd::OpenBytes(data) if !echo_broken => {
                match sh.write_all(&data, &mut cancel).await {
                    Ok(()) => {}
                    Err(WriteErr::Cancelled(_, why)) => break why,
                    Err(WriteErr::Io(n, e)) => {
                        echo_broken = true;
                        match sh.classify(&e) {
                            End::Reset => sh.report(&End::Reset),
                            _ => sh.report(&End::Error(format!(
                                "write failed after {n} of {} bytes: {e}",
                                data.len()
                            ))),
                        }
                    }
                }
            }
            WCmd::Echo(_) | WCmd::OpenBytes(_) => {}
            WCmd::EchoFin => {
                if echo_broken || sh.fin_sent.load(Ordering::SeqCst) {
                    continue;
                }
                match sh.shutdown(&mut cancel).await {
                    Ok(()) => {
                        write_closed.send_replace(true);
                    }
                    Err(WriteErr::Cancelled(_, why)) => break why,
                    Err(WriteErr::Io(_, e)) => {
                        sh.report(&End::Error(format!("half-close after echo failed: {e}")))
                    }
                }
            }
            WCmd::Close { id } => match sh.shutdown(&mut cancel).await {
                Ok(()) => {
                    write_closed.send_replace(true);
                    emit(ok(&id));
                }
                Err(WriteErr::Cancelled(_, why)) => {
                    emit(error(&id, why));
                    break why;
                }
                Err(WriteErr::Io(_, e)) => emit(error(&id, format!("close failed: {e}"))),
            },
        }
    };
    // Answer what is still queued.
    rx.close();
    while let Ok(cmd) = rx.try_recv() {
        if let WCmd::Write { id, .. } | WCmd::Close { id } = cmd {
            emit(error(&id, format!("{reason} before this command ran")));
        }
    }
}

async fn supervise<S: MuxStream>(
    sh: Arc<Shared<S>>,
    mut reader: JoinHandle<()>,
    writer: JoinHandle<()>,
    cancel: watch::Sender<Option<&'static str>>,
    mut reset_rx: mpsc::UnboundedReceiver<Value>,
    mut write_closed: watch::Receiver<bool>,
    on_finish: impl FnOnce(),
) {
    let mut reader_done = false;
    let mut closed = false;
    let reset_id = loop {
        if reader_done && closed {
            break None;
        }
        tokio::select! {
            r = reset_rx.recv() => break r,
            _ = &mut reader, if !reader_done => reader_done = true,
            _ = write_closed.wait_for(|c| *c), if !closed => closed = true,
        }
    };
    cancel.send_replace(Some(if reset_id.is_some() {
        RESET_REASON
    } else {
        RELEASED_REASON
    }));
    if !reader_done {
        let _ = reader.await;
    }
    let _ = writer.await;
    let outcome = match Arc::try_unwrap(sh) {
        Ok(sh) => {
            let stream = sh.io.into_inner().unwrap_or_else(PoisonError::into_inner);
            if reset_id.is_some() {
                stream.reset()
            } else {
                drop(stream);
                Ok(())
            }
        }
        Err(_) => Err("internal: the stream handle is still in use".to_string()),
    };
    if let Some(id) = reset_id {
        emit(match outcome {
            Ok(()) => ok(&id),
            Err(m) => error(&id, m),
        });
    }
    on_finish();
    reset_rx.close();
    while let Ok(id) = reset_rx.try_recv() {
        emit(error(&id, RELEASED_REASON));
    }
}
