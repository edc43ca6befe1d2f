//! For an implementation whose session is one value that must be polled all
//! the time, because the poll that yields inbound streams also drives all of
//! its I/O (rust-yamux's `Connection`, tokio-yamux's `Session`): one task owns
//! the session and keeps polling it, and the [`Driver`](crate::Driver) hands
//! that task its requests through a channel ([`Requests`]).

use crate::{BoxFut, Outcome, SessionEvents};
use std::future::poll_fn;
use std::task::{Context, Poll};
use tokio::sync::{mpsc, oneshot};

/// Where the session task answers one request.
pub type Reply<T> = oneshot::Sender<Result<T, String>>;

/// The implementation's session as the task that owns it sees it.
pub trait PolledSession: Send + 'static {
    type Driver: crate::Driver;
    /// What the driver asks of the session (each with a [`Reply`]).
    type Req: Send + 'static;
    /// A request, in command order: answer it now, or keep it for `poll`.
    fn request(&mut self, req: Self::Req, cx: &mut Context<'_>);
    /// Drives the session (after the requests that came), handing inbound
    /// streams to `events`; `Ready(reason)` once the session is over.
    fn poll(&mut self, cx: &mut Context<'_>, events: &SessionEvents<Self::Driver>) -> Poll<String>;
}

/// The driver's end of the channel to the session task.
pub struct Requests<R> {
    tx: mpsc::UnboundedSender<R>,
}

impl<R: Send + 'static> Requests<R> {
    /// Hands the session task, now, the request `make` builds around a reply
    /// channel; the future is the answer, or `Err(gone)` when the session is
    /// over (the task no longer takes requests, or dropped the reply: a
    /// request it kept, or one that came after the end).
    pub fn call<T: Send + 'static>(
        &self,
        make: impl FnOnce(Reply<T>) -> R,
        gone: &'static str,
    ) -> BoxFut<Result<T, String>> {
        let (tx, rx) = oneshot::channel();
        let sent = self.tx.send(make(tx)).is_ok();
        Box::pin(async move {
            if !sent {
                return Err(gone.into());
            }
            rx.await.unwrap_or_else(|_| Err(gone.into()))
        })
    }

    /// [`Requests::call`] for a request answered with `()`, as an [`Outcome`].
    pub fn outcome(
        &self,
        make: impl FnOnce(Reply<()>) -> R,
        gone: &'static str,
    ) -> BoxFut<Outcome<()>> {
        let answer = self.call(make, gone);
        Box::pin(async move { answer.await.into() })
    }
}

/// Spawns the task that owns `session`: it takes the driver's requests and
/// polls the session until it is over, then reports the end to `events` and
/// drops the session (and every request still waiting, which is answered
/// `gone`, as is any later one). Returns the driver's end.
pub fn spawn_polled<P: PolledSession>(
    session: P,
    events: SessionEvents<P::Driver>,
) -> Requests<P::Req> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(drive(session, rx, events));
    Requests { tx }
}

async fn drive<P: PolledSession>(
    mut session: P,
    mut rx: mpsc::UnboundedReceiver<P::Req>,
    events: SessionEvents<P::Driver>,
) {
    let mut requests_open = true;
    let reason = poll_fn(|cx| {
        while requests_open {
            match rx.poll_recv(cx) {
                Poll::Ready(Some(req)) => session.request(req, cx),
                Poll::Ready(None) => requests_open = false,
                Poll::Pending => break,
            }
        }
        session.poll(cx, &events)
    })
    .await;
    eprintln!("adapter: session over: {reason}");
    events.closed(reason);
    drop(session);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Msg;
    use crate::{Driver, End, EndCtx, MuxStream};
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use tokio::io::DuplexStream;
    use tokio::sync::watch;

    struct TestStream(DuplexStream);

    impl MuxStream for TestStream {
        type Io = DuplexStream;
        fn io(&mut self) -> &mut DuplexStream {
            &mut self.0
        }
        fn id(&self) -> u32 {
            1
        }
        fn read_end(&self, _ctx: EndCtx) -> End {
            End::Eof
        }
        fn classify_error(&self, err: &std::io::Error, _ctx: EndCtx) -> End {
            End::Error(err.to_string())
        }
    }

    struct TestDriver;

    impl Driver for TestDriver {
        type Stream = TestStream;
        const NO_ACCEPT_UNSUPPORTED: Option<&'static str> = None;
        fn open(&self) -> BoxFut<Result<TestStream, String>> {
            crate::ready(Err("no".into()))
        }
        fn ping(&self) -> BoxFut<Outcome<f64>> {
            crate::ready(Outcome::Unsupported("no".into()))
        }
        fn goaway(&self, _code: u32) -> BoxFut<Outcome<()>> {
            crate::ready(Outcome::Unsupported("no".into()))
        }
        fn session_close(&self) -> BoxFut<Outcome<()>> {
            crate::ready(Outcome::Unsupported("no".into()))
        }
    }

    enum Req {
        /// Answered at once.
        Double(u32, Reply<u32>),
        /// Kept, never answered.
        Keep(Reply<u32>),
        /// Ends the session at the next poll.
        End(Reply<()>),
    }

    impl PolledSession for TestSession {
        type Driver = TestDriver;
        type Req = Req;
        fn poll(
            &mut self,
            _cx: &mut Context<'_>,
            _events: &SessionEvents<TestDriver>,
        ) -> Poll<String> {
            match self.ending.take() {
                Some(r) => {
                    let _ = r.send(Ok(()));
                    Poll::Ready("ended on request".into())
                }
                None => Poll::Pending,
            }
        }

        fn request(&mut self, req: Req, _cx: &mut Context<'_>) {
            match req {
                Req::Double(n, r) => {
                    let _ = r.send(Ok(2 * n));
                }
                Req::Keep(r) => self.kept.push(r),
                Req::End(r) => self.ending = Some(r),
            }
        }
    }

    #[derive(Default)]
    struct TestSession {
        kept: Vec<Reply<u32>>,
        ending: Option<Reply<()>>,
    }

    #[tokio::test]
    async fn requests_in_order_then_gone_after_the_end() {
        let (tx, mut msgs) = mpsc::unbounded_channel();
        let (_accepting, accepting) = watch::channel(true);
        let events = SessionEvents {
            tx,
            alive: Arc::new(AtomicBool::new(true)),
            accepting,
        };
        let requests = spawn_polled(TestSession::default(), events);
        assert_eq!(requests.call(|r| Req::Double(21, r), "over").await, Ok(42));
        let kept = requests.call(Req::Keep, "over");
        assert_eq!(requests.outcome(Req::End, "over").await, Outcome::Ok(()));
        // The session's end is reported once, and what it kept is dropped.
        match msgs.recv().await {
            Some(Msg::Closed(reason)) => assert_eq!(reason, "ended on request"),
            _ => panic!("expected the closed message"),
        }
        assert_eq!(kept.await, Err("over".to_string()));
        // Later requests: gone.
        assert_eq!(
            requests.call(|r| Req::Double(1, r), "gone").await,
            Err("gone".to_string())
        );
        assert_eq!(
            requests.outcome(Req::End, "gone").await,
            Outcome::Err("gone".to_string())
        );
    }
}
