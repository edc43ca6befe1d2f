//! The resilience steps: `flood` (many frames as fast as the IUT takes
//! them, the peer's reading paused or not) and `responsive` (is the IUT
//! still answering a fresh stream and pings while under attack).

use super::*;

impl Peer {
    /// `flood`: batches of frames, each written whole (a frame is never cut:
    /// framing stays intact). The time limit is checked between writes; a
    /// write the IUT does not take (back-pressure) is waited for with the
    /// peer reading again, up to [`FLOOD_DRAIN`].
    pub(super) async fn do_flood(&mut self, f: &crate::vector::Flood) -> StepResult {
        let s = &f.frame;
        let (typ, base_id, flags, body, base) = match self.frame_parts(s) {
            Ok(p) => p,
            Err(e) => return StepResult::HarnessError(e),
        };
        let limit = Duration::from_millis(f.for_ms.unwrap_or(3000));
        // At most about 1 MiB per write, whatever the frame size.
        let per_copy = (HEADER_LEN + body.len()) * if f.then.is_some() { 2 } else { 1 };
        let by_size = u32::try_from((1 << 20) / per_copy)
            .unwrap_or(u32::MAX)
            .max(1);
        let batch = f.batch.unwrap_or(512).clamp(1, by_size);
        let then = f.then.as_ref().map(|t| {
            (
                t.typ.byte(),
                t.flags.unwrap_or(Flags::NONE),
                t.delta.or(t.value).or(t.code).or(t.length).unwrap_or(0),
            )
        });
        self.drain_ready().await;
        let started = Instant::now();
        let until = started + limit;
        let mut sent: u32 = 0;
        let mut blocked = Duration::ZERO;
        let mut wire = Vec::new();
        while sent < f.count && Instant::now() < until {
            wire.clear();
            let n = batch.min(f.count - sent);
            for k in sent..sent + n {
                let value = base.wrapping_add(k.wrapping_mul(s.step.unwrap_or(0)));
                let id = base_id.wrapping_add(k.wrapping_mul(s.stream_step.unwrap_or(0)));
                let length = match s.length {
                    Some(l) => l,
                    None if typ == 0 => body.len() as u32,
                    None => value,
                };
                let raw = RawHeader {
                    version: s.version.unwrap_or(0),
                    typ,
                    flags: flags.bits(),
                    stream_id: id,
                    length,
                };
                if let Ok(h) = raw.validate() {
                    if h.typ == FrameType::Data
                        && !s.overrun
                        && id != 0
                        && body.len() as i64 > self.peer_credit(id)
                    {
                        return StepResult::HarnessError(format!(
                            "flood frame {k} on stream {id} would exceed the IUT's window; say \"overrun\": true if that is the point"
                        ));
                    }
                    self.account_out(&h);
                }
                wire.extend_from_slice(&raw.to_bytes());
                wire.extend_from_slice(&body);
                if let Some((t_typ, t_flags, t_len)) = then {
                    let raw = RawHeader {
                        version: 0,
                        typ: t_typ,
                        flags: t_flags.bits(),
                        stream_id: id,
                        length: t_len,
                    };
                    if let Ok(h) = raw.validate() {
                        self.account_out(&h);
                    }
                    wire.extend_from_slice(&raw.to_bytes());
                }
            }
            let t = Instant::now();
            let Some(w) = self.writer.as_mut() else {
                return self.write_failed("the peer's side of the connection is closed".into());
            };
            let mut write = std::pin::pin!(w.write_all(&wire));
            let r = tokio::select! {
                r = &mut write => Some(r),
                _ = tokio::time::sleep_until(until) => None,
            };
            let r = match r {
                Some(r) => r,
                None => {
                    // Out of time inside a write the IUT is not taking: read
                    // again (its own writes may be what stops it) and let
                    // the write finish, so no frame is cut.
                    self.read_gate.send_replace(true);
                    match tokio::time::timeout(FLOOD_DRAIN, &mut write).await {
                        Ok(r) => r,
                        Err(_) => {
                            let msg = format!(
                                "a flood write did not complete within {} s after the peer read again (sent {sent} of {} frames)",
                                FLOOD_DRAIN.as_secs(),
                                f.count
                            );
                            self.note("note", msg.clone());
                            return StepResult::Failed {
                                expected: "the IUT reads the connection again once its peer reads"
                                    .into(),
                                actual: msg,
                            };
                        }
                    }
                }
            };
            blocked += t.elapsed().saturating_sub(Duration::from_millis(2));
            if let Err(e) = r {
                let e = format!("write failed after {sent} of {} frames: {e}", f.count);
                self.note("note", e.clone());
                // The IUT closing the connection is a defence, not a
                // failure of this step; later steps see the close.
                self.observations.push(format!("flood: {e}"));
                return StepResult::Ok;
            }
            sent += n;
            if let Some(ms) = f.pause_ms {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
        // Later streams of the peer's own must not reuse the flood's ids.
        if let Some(k) = s.stream_step.filter(|k| *k > 0 && sent > 0) {
            let last = base_id.wrapping_add((sent - 1).wrapping_mul(k));
            if last >= self.next_peer_id && last % 2 == self.next_peer_id % 2 && last < 0x7FFF_0000
            {
                self.next_peer_id = last + 2;
            }
        }
        let elapsed = started.elapsed();
        let text = format!(
            "flood: {sent} of {} × {} stream={base_id} flags={flags} in {} ms{}",
            f.count,
            type_name(typ),
            elapsed.as_millis(),
            if sent < f.count { " (time limit)" } else { "" }
        );
        self.note("->", text.clone());
        self.observations.push(text);
        if blocked > Duration::from_millis(200) {
            self.observations.push(format!(
                "defence: back-pressure (the flood's writes waited {} ms in total)",
                blocked.as_millis()
            ));
        }
        StepResult::Ok
    }

    /// `responsive`: reads again, then a ping must be answered and a new
    /// stream must echo; an IUT that ended the session has defended itself.
    pub(super) async fn do_responsive(
        &mut self,
        r: &crate::vector::Responsive,
        deadline: Instant,
    ) -> StepResult {
        self.read_gate.send_replace(true);
        // What is already there (answers to the flood) first.
        let settle = Instant::now() + Duration::from_millis(50);
        while self.pump(settle).await {}
        if self.iut_rsts > 0 {
            self.observations
                .push(format!("defence: the IUT sent {} RST", self.iut_rsts));
        }
        if let Some(c) = self.closed.clone() {
            let ga = self
                .goaway
                .map(|g| format!("Go Away code {g}, then "))
                .unwrap_or_default();
            self.observations
                .push(format!("defence: the IUT ended the session ({ga}{c})"));
            return StepResult::Ok;
        }
        // The IUT may still be working through the flood, and an
        // implementation that drops Ping answers under load (a defence of
        // its own) may drop this one too: a new ping (a new value: each
        // request gets its own answer) goes out every RESPONSIVE_PING_EVERY
        // until one of them is answered or the step's time is up.
        // Responsive means answering within the step, not at once.
        let mut sent: Vec<u32> = Vec::new();
        let first = Instant::now();
        // Frames are only appended while waiting: each is examined once (a
        // frame that came before a ping was sent cannot be its answer), so a
        // backlog of thousands of answers to the flood costs linear time.
        let mut scanned = self.inbox.len();
        'ping: loop {
            self.next_ping += 1;
            let v = self.next_ping;
            if let Err(e) = self
                .send_frame(Frame::ping(Flags::SYN, v), "responsive?")
                .await
            {
                return self.write_failed(e);
            }
            sent.push(v);
            let round = (Instant::now() + RESPONSIVE_PING_EVERY).min(deadline);
            loop {
                let answer = self.inbox.iter().skip(scanned).position(|(_, f)| {
                    f.typ() == FrameType::Ping
                        && f.flags().contains(Flags::ACK)
                        && sent.contains(&f.header.length)
                });
                if let Some(pos) = answer {
                    self.inbox.remove(scanned + pos);
                    break 'ping;
                }
                scanned = self.inbox.len();
                if self.closed.is_some() && self.rx.is_empty() {
                    self.observations
                        .push("defence: the IUT ended the session instead of answering".into());
                    return StepResult::Ok;
                }
                if !self.pump(round).await {
                    break;
                }
            }
            if Instant::now() >= deadline {
                return StepResult::Failed {
                    expected: format!(
                        "a responsive IUT: an answer (ping ACK) to one of {} pings sent a second apart",
                        sent.len()
                    ),
                    actual: "no answer (timed out)".into(),
                };
            }
        }
        let sent = sent.len();
        if sent > 1 {
            self.observations.push(format!(
                "responsive: the ping was answered {:.1} s after the flood, on try {sent}",
                first.elapsed().as_secs_f64()
            ));
        }
        if let Some(g) = self.goaway {
            // After the IUT's Go Away the peer must open no stream
            // (goaway.after): the answered ping is all there is to check.
            let seen = format!("defence: the IUT sent Go Away code {g} and still answers pings");
            if !self.observations.contains(&seen) {
                self.observations.push(seen);
            }
            return StepResult::Ok;
        }
        let len = r.echo.unwrap_or(64).min(16384);
        if len == 0 {
            return StepResult::Ok;
        }
        let name = StreamRef::Bind(Binding::peer("responsive"));
        // A new stream, opened by a Window Update and then given its bytes
        // (well within the initial window): opening with Data|SYN would
        // also test whether the payload of a SYN frame is kept, which is a
        // case of its own (stream.open.syn-on-data), not responsiveness.
        let id = self.resolve_for_send(&name);
        let body: Vec<u8> = (0..u64::from(len)).map(pattern_byte).collect();
        for f in [
            Frame::window_update(StreamId::new(id), Flags::SYN, 0),
            Frame::data(StreamId::new(id), Flags::NONE, body),
        ] {
            if let Err(e) = self.send_frame(f, "responsive?").await {
                return self.write_failed(e);
            }
        }
        if r.read_fresh && self.adapter.is_some() {
            if let Err(failed) = self.read_fresh_stream(id, deadline).await {
                return failed;
            }
        }
        let want = ExpectData {
            stream: name,
            body: crate::vector::Body {
                len: Some(len),
                ..Default::default()
            },
            fin: false,
            any_bytes: false,
            or_end: false,
        };
        match self.do_expect_data(&want, deadline).await {
            StepResult::Failed { .. } if self.closed.is_none() && self.judge.iut_rst(id) => {
                // It answered the ping: the session is alive, and refusing a
                // stream it has no room for is back-pressure (go-yamux's
                // memory manager, backlog.inbound), not a hang.
                self.observations.push(
                    "defence: the IUT refused the new stream (RST) and answered the ping".into(),
                );
                StepResult::Ok
            }
            StepResult::Failed { expected, actual } if self.closed.is_none() => {
                StepResult::Failed {
                    expected: format!("a responsive IUT: a new stream echoes ({expected})"),
                    actual,
                }
            }
            StepResult::Failed { .. } => {
                self.observations
                    .push("defence: the IUT ended the session instead of echoing".into());
                StepResult::Ok
            }
            other => other,
        }
    }

    /// `responsive` with `read_fresh`: waits for the adapter to accept
    /// stream `id`, then turns `echo` and `read` on for it alone.
    pub(super) async fn read_fresh_stream(
        &mut self,
        id: u32,
        deadline: Instant,
    ) -> Result<(), StepResult> {
        // Events are only appended while waiting: each is examined once.
        let mut scanned = 0;
        loop {
            let accepted = self.events.iter().skip(scanned).any(|ev| {
                Event::Accepted.is(ev)
                    && ev.get("stream").and_then(Value::as_u64) == Some(u64::from(id))
            });
            if accepted {
                break;
            }
            scanned = self.events.len();
            if self.judge.iut_rst(id) || self.closed.is_some() {
                return Ok(()); // refused or ended: judged by the caller
            }
            if !self.pump(deadline).await {
                return Err(StepResult::Failed {
                    expected: format!(
                        "a responsive IUT: the application accepts the new stream {id}"
                    ),
                    actual: "no `accepted` event (timed out)".into(),
                });
            }
        }
        // Echo first: what is read before echo is on is not echoed.
        for cmd in [Command::Echo, Command::Read] {
            let a = Act {
                stream: Some(StreamRef::Id(id)),
                ..Act::new(cmd)
            };
            match self.do_act(&a, deadline).await {
                StepResult::Ok => {}
                other => return Err(other),
            }
        }
        Ok(())
    }
}
