//! One function per step kind (`send`, `expect_data`, `act`,
//! `expect_event`, `sessions`, ...), and `step`, which dispatches to them.

use super::*;

impl Peer {
    pub(super) async fn step(&mut self, step: &Step) -> StepResult {
        let within = step
            .within_ms
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_WITHIN);
        let deadline = Instant::now() + within;
        match &step.kind {
            StepKind::Send(s) => self.do_send(s).await,
            StepKind::Raw(r) => {
                let bytes = r.hex.0.clone();
                self.account_raw(&bytes);
                self.note(
                    "->",
                    format!(
                        "raw {} bytes: {}",
                        bytes.len(),
                        hex::encode(&bytes[..bytes.len().min(24)])
                    ),
                );
                match self
                    .send_frame_bytes(bytes, &r.split, r.split_delay_ms, r.coalesce)
                    .await
                {
                    Ok(()) => StepResult::Ok,
                    Err(e) => self.write_failed(e),
                }
            }
            StepKind::SendData(d) => {
                let id = self.resolve_for_send(&d.stream);
                let frame = u64::from(d.frame.unwrap_or(16384).max(1));
                let mut sent = 0u64;
                let mut d = d.clone();
                if d.fill {
                    self.drain_ready().await;
                    let credit = self.peer_credit(id);
                    d.len = u64::try_from(credit.max(0)).unwrap_or(0);
                    self.note(
                        "note",
                        format!("sending the whole credit granted: {} bytes", d.len),
                    );
                }
                let total_deadline = Instant::now() + within.max(Duration::from_secs(5));
                while sent < d.len || (d.len == 0 && sent == 0 && d.fin) {
                    self.drain_ready().await;
                    let credit = self.peer_credit(id);
                    let want = (d.len - sent).min(frame);
                    let n = want.min(u64::try_from(credit.max(0)).unwrap_or(0));
                    if n == 0 && want > 0 {
                        if self.closed.is_some() {
                            return StepResult::Failed {
                                expected: format!(
                                    "credit to send {} more bytes on stream {id}",
                                    d.len - sent
                                ),
                                actual: self.closed.clone().unwrap_or_default(),
                            };
                        }
                        if !self.pump(total_deadline).await {
                            return StepResult::Failed {
                                expected: format!("credit to send {} more bytes on stream {id} (flow.window-update)", d.len - sent),
                                actual: format!(
                                    "no Window Update; {sent} of {} bytes sent{}",
                                    d.len,
                                    self.end_note()
                                ),
                            };
                        }
                        continue;
                    }
                    let body: Vec<u8> = (sent..sent + n).map(pattern_byte).collect();
                    sent += n;
                    let flags = if d.fin && sent >= d.len {
                        Flags::FIN
                    } else {
                        Flags::NONE
                    };
                    if let Err(e) = self
                        .send_frame(Frame::data(StreamId::new(id), flags, body), "")
                        .await
                    {
                        return self.write_failed(e);
                    }
                    if d.len == 0 {
                        break;
                    }
                }
                StepResult::Ok
            }
            StepKind::Expect(p) => self.do_expect(p, deadline).await,
            StepKind::ExpectData(d) => self.do_expect_data(d, deadline).await,
            StepKind::ExpectGoaway(g) => loop {
                if let Some(code) = self.goaway {
                    return match g.code {
                        Some(c) if c != code => StepResult::Failed {
                            expected: format!("go-away code={c}"),
                            actual: format!("go-away code={code}"),
                        },
                        _ => StepResult::Ok,
                    };
                }
                if self.closed.is_some() && self.rx.is_empty() {
                    return StepResult::Failed {
                        expected: "a Go Away".into(),
                        actual: format!(
                            "{} without Go Away",
                            self.closed.clone().unwrap_or_default()
                        ),
                    };
                }
                if !self.pump(deadline).await {
                    return StepResult::Failed {
                        expected: "a Go Away".into(),
                        actual: format!("nothing within {} ms", within.as_millis()),
                    };
                }
            },
            StepKind::ExpectTerminate(t) => {
                let want = t.code.unwrap_or(1);
                loop {
                    if let Some(code) = self.goaway {
                        // Give the IUT a moment to close; not required.
                        let grace = Instant::now() + Duration::from_millis(200);
                        while self.closed.is_none() && self.pump(grace).await {}
                        let how = if self.closed.is_some() {
                            "go-away then close"
                        } else {
                            "go-away, connection left open"
                        };
                        self.observations
                            .push(format!("session ended: {how}, code {code}"));
                        if code != want {
                            self.failures.push(Failure {
                                step: 0,
                                level: Level::Should,
                                rule: Some(if want == 1 {
                                    Rule::ErrorsProtocol
                                } else {
                                    Rule::GoawayCodes
                                }),
                                note: Some("the Go Away code tells the peer why".into()),
                                expected: format!("go-away code={want}"),
                                actual: format!("go-away code={code}"),
                            });
                        }
                        return StepResult::Ok;
                    }
                    if let Some(why) = self.closed.clone() {
                        self.drain_ready().await;
                        if self.goaway.is_some() {
                            continue;
                        }
                        self.observations
                            .push("session ended: close without Go Away".into());
                        self.failures.push(Failure {
                            step: 0,
                            level: Level::Should,
                            rule: Some(Rule::GoawaySend),
                            note: Some(
                                "a Go Away should tell the peer why the session ends".into(),
                            ),
                            expected: format!("go-away code={want} before the close"),
                            actual: why,
                        });
                        return StepResult::Ok;
                    }
                    if !self.pump(deadline).await {
                        return StepResult::Failed {
                            expected: format!(
                                "the session ends (go-away code={want} and/or close)"
                            ),
                            actual: format!("session still open after {} ms", within.as_millis()),
                        };
                    }
                }
            }
            StepKind::ExpectClose(_) => loop {
                if self.closed.is_some() {
                    return StepResult::Ok;
                }
                if !self.pump(deadline).await {
                    return StepResult::Failed {
                        expected: "the IUT closes the connection".into(),
                        actual: format!("still open after {} ms", within.as_millis()),
                    };
                }
            },
            StepKind::ExpectSilence(s) => {
                let until = Instant::now() + Duration::from_millis(s.ms);
                let first = self.seq;
                let stream = match &s.stream {
                    Some(r) => match self.resolve(r) {
                        Some(id) => Some(id),
                        None => return StepResult::HarnessError(format!("{r} is not bound")),
                    },
                    None => None,
                };
                let types: Vec<u8> = s.types.iter().map(|t| t.byte()).collect();
                let flags = s.flags;
                while self.pump(until).await {}
                let hit = self.inbox.iter().find(|(idx, f)| {
                    *idx > first
                        && stream.is_none_or(|id| f.stream_id().val() == id)
                        && if types.is_empty() {
                            !matches!(f.typ(), FrameType::WindowUpdate | FrameType::Ping)
                                || flags.is_some_and(|fl| f.flags().intersects(fl))
                        } else {
                            types.contains(&(f.typ() as u8))
                        }
                        && flags.is_none_or(|fl| f.flags().intersects(fl))
                        && (!s.payload || !f.body.is_empty())
                });
                match hit {
                    Some((_, f)) => StepResult::Failed {
                        expected: format!("no such frame for {} ms", s.ms),
                        actual: describe(f),
                    },
                    None => StepResult::Ok,
                }
            }
            StepKind::Sync(sy) => {
                let v = sy.value.unwrap_or_else(|| {
                    self.next_ping += 1;
                    self.next_ping
                });
                if let Err(e) = self.send_frame(Frame::ping(Flags::SYN, v), "sync").await {
                    return self.write_failed(e);
                }
                let p = FramePattern {
                    typ: Some(TypeByte::of(FrameType::Ping)),
                    flags: Some(Flags::ACK),
                    value: Some(v),
                    ..FramePattern::default()
                };
                self.do_expect(&p, deadline).await
            }
            StepKind::Act(a) => self.do_act(a, deadline).await,
            StepKind::ExpectEvent(e) => self.do_expect_event(e, deadline).await,
            StepKind::ExpectNoEvent(e) => {
                let stream = match &e.stream {
                    Some(r) => match self.resolve(r) {
                        Some(id) => Some(u64::from(id)),
                        None => return StepResult::HarnessError(format!("{r} is not bound")),
                    },
                    None => None,
                };
                let first = self.events.len();
                let until = Instant::now() + Duration::from_millis(e.ms);
                while self.pump(until).await {}
                let hit = self.events.iter().skip(first).find(|ev| {
                    e.event.is(ev)
                        && stream
                            .is_none_or(|id| ev.get("stream").and_then(Value::as_u64) == Some(id))
                });
                match hit {
                    Some(ev) => StepResult::Failed {
                        expected: format!("no `{}` event for {} ms", e.event, e.ms),
                        actual: ev.to_string(),
                    },
                    None => StepResult::Ok,
                }
            }
            StepKind::Wait(w) => {
                let until = Instant::now() + Duration::from_millis(w.ms);
                while self.pump(until).await {}
                StepResult::Ok
            }
            StepKind::Observe(o) => {
                let until = Instant::now() + Duration::from_millis(o.ms);
                while self.pump(until).await {}
                let first = self.observed_upto;
                self.observed_upto = self.trace.len();
                let stream = o.stream.as_ref().and_then(|r| self.resolve(r));
                let seen: Vec<String> = self.trace[first..]
                    .iter()
                    .filter(|l| {
                        l.dir == "<-"
                            && stream.is_none_or(|id| l.text.contains(&format!("stream={id} ")))
                    })
                    .map(|l| l.text.clone())
                    .collect();
                let text = match seen.len() {
                    0 => "nothing".to_string(),
                    n if n <= 6 => seen.join("; "),
                    n => format!(
                        "{}; … {} more, {n} frames in all; last: {}",
                        seen[..3].join("; "),
                        n - 4,
                        seen[n - 1]
                    ),
                };
                self.observations.push(format!("{}: {text}", o.label));
                StepResult::Ok
            }
            StepKind::Peer(p) => {
                if let Some(v) = p.answer_pings {
                    self.answer_pings = v;
                }
                if let Some(v) = p.grant_credit {
                    self.grant_credit = v;
                }
                if let Some(v) = p.auto_ack {
                    self.auto_ack = v;
                }
                if let Some(v) = p.read {
                    self.read_gate.send_replace(v);
                    self.note(
                        "note",
                        if v {
                            "the peer reads again"
                        } else {
                            "the peer stops reading the connection"
                        }
                        .into(),
                    );
                }
                StepResult::Ok
            }
            StepKind::Flood(f) => self.do_flood(f).await,
            StepKind::Responsive(r) => self.do_responsive(r, deadline).await,
            StepKind::Sessions(m) => self.do_sessions(m, deadline).await,
            StepKind::CloseTcp(_) => {
                if let Some(mut w) = self.writer.take() {
                    let _ = w.shutdown().await;
                }
                self.note("->", "TCP FIN (peer closes its side)".into());
                StepResult::Ok
            }
        }
    }

    /// `sessions`: more sessions beside this one, held until the case ends.
    pub(super) async fn do_sessions(
        &mut self,
        m: &crate::vector::SessionsStep,
        deadline: Instant,
    ) -> StepResult {
        let Some(addr) = self.iut_listen else {
            return StepResult::HarnessError("sessions: the IUT is not the server here".into());
        };
        if self.adapter.is_some() {
            let act = Act {
                count: Some(m.count),
                ..Act::new(Command::AcceptSessions)
            };
            let r = self.do_act(&act, deadline).await;
            if !matches!(r, StepResult::Ok) {
                return r;
            }
        }
        let echo = m.echo.unwrap_or(64);
        self.note(
            "->",
            format!(
                "{} more sessions to {addr}, each: stream 1 opened (WU|SYN) with {echo} bytes to echo, a Ping",
                m.count
            ),
        );
        let (crowd, t) = crate::sessions::open(addr, m.count, echo, deadline).await;
        let reason = t
            .first_reason
            .as_deref()
            .map(|r| format!(" (first: {r})"))
            .unwrap_or_default();
        self.note(
            "<-",
            format!(
                "sessions: {} served, {} turned away{reason}, {} undecided; the served ones stay open",
                t.served, t.turned, t.timed_out
            ),
        );
        self.observations
            .push(format!("sessions: {} of {} served", t.served, m.count));
        if t.turned > 0 {
            self.observations.push(format!(
                "defence: the IUT turned away {} of {} sessions{reason}",
                t.turned, m.count
            ));
        }
        self.crowd = Some(crowd);
        StepResult::Ok
    }

    /// What the peer may still send on `id` (the initial window on a
    /// stream it has not used yet).
    pub(super) fn peer_credit(&self, id: u32) -> i64 {
        self.judge.peer_credit(id)
    }

    /// How the IUT ended the session, if it did: a Go Away, the end of the
    /// connection, or (nothing on the wire) its application was told.
    pub(super) fn iut_ended(&self) -> Option<String> {
        if let Some(c) = self.goaway {
            Some(format!(
                "sent go-away code={}",
                yamux::frame::GoAwayCode::new(c)
            ))
        } else if let Some(c) = &self.closed {
            Some(format!("ended the session ({c})"))
        } else {
            self.app_closed
                .as_ref()
                .map(|r| format!("ended the session, sending nothing (its application saw: {r})"))
        }
    }

    pub(super) fn write_failed(&mut self, e: String) -> StepResult {
        match &self.closed {
            Some(c) => StepResult::Failed {
                expected: "the connection stays open".into(),
                actual: c.clone(),
            },
            None => StepResult::Failed {
                expected: "the connection stays open".into(),
                actual: e,
            },
        }
    }

    /// The parts of a frame to send: type, stream id (bindings resolved),
    /// flags, body, and the base value of the Length (delta, value or code).
    #[allow(clippy::type_complexity)]
    pub(super) fn frame_parts(
        &mut self,
        s: &SendFrame,
    ) -> Result<(u8, u32, Flags, Vec<u8>, u32), String> {
        let typ = s.typ.byte();
        let id = s
            .stream
            .as_ref()
            .map(|r| self.resolve_for_send(r))
            .unwrap_or(0);
        let body = s
            .body
            .as_ref()
            .map(|b| b.bytes())
            .transpose()?
            .unwrap_or_default();
        let base = s.delta.or(s.value).or(s.code).unwrap_or(0);
        Ok((typ, id, s.flags.unwrap_or(Flags::NONE), body, base))
    }

    pub(super) async fn do_send(&mut self, s: &SendFrame) -> StepResult {
        let (typ, id, flags, body, base) = match self.frame_parts(s) {
            Ok(p) => p,
            Err(e) => return StepResult::HarnessError(e),
        };
        let repeat = s.repeat.unwrap_or(1).max(1);
        self.drain_ready().await;
        if let (true, Some(how)) = (s.or_end, self.iut_ended()) {
            self.note("note", format!("not sent: the IUT {how}"));
            return StepResult::Ok;
        }
        let mut wire = Vec::new();
        for k in 0..repeat {
            let value = base.wrapping_add(k.wrapping_mul(s.step.unwrap_or(0)));
            let length = match s.length {
                Some(l) => l,
                None if typ == 0 => match u32::try_from(body.len()) {
                    Ok(l) => l,
                    Err(_) => return StepResult::HarnessError("body too long".into()),
                },
                None => value,
            };
            let id = id.wrapping_add(k.wrapping_mul(s.stream_step.unwrap_or(0)));
            if s.stream_step.is_some()
                && id >= self.next_peer_id
                && id % 2 == self.next_peer_id % 2
                && id < 1000
            {
                self.next_peer_id = id + 2;
            }
            let raw = RawHeader {
                version: s.version.unwrap_or(0),
                typ,
                flags: flags.bits(),
                stream_id: id,
                length,
            };
            if typ == 0 && s.overrun && id != 0 {
                // An overrun the IUT's ledger does not make one: it granted
                // credit for what it received although the application does
                // not read (js-libp2p-yamux does, by design). The case's
                // point cannot be made; judging the answer would be wrong.
                let credit = self.peer_credit(id);
                if i64::from(length) <= credit {
                    // The amount goes to the trace only: it is the IUT's
                    // window tuning at that moment (js-libp2p-yamux grows
                    // its grants with the measured round trip), and the
                    // verdict text the matrix compares must not move with it.
                    self.note(
                        "note",
                        format!("the IUT's credit on stream {id}: {credit} bytes"),
                    );
                    return StepResult::Unsupported(format!(
                        "the case needs a full window, but the IUT granted credit for what it received without the application reading it (on stream {id}): a {length}-byte Data frame is no overrun"
                    ));
                }
            }
            if typ == 0 && !body.is_empty() && !s.overrun && id != 0 {
                let credit = self.peer_credit(id);
                if body.len() as i64 > credit {
                    return StepResult::HarnessError(format!(
                        "sending {} bytes on stream {id} would exceed the IUT's window ({credit} bytes of credit); say \"overrun\": true if that is the point",
                        body.len()
                    ));
                }
            }
            match raw.validate() {
                Ok(h) => {
                    if h.typ == FrameType::Data && h.flags.contains(Flags::FIN) && !body.is_empty()
                    {
                        let before = self.judge.peer_bytes(id);
                        self.streams
                            .entry(id)
                            .or_default()
                            .dfin_at
                            .get_or_insert(before);
                    }
                    self.account_frame(&h, body.len());
                    let text = if h.typ == FrameType::Data && h.length as usize != body.len() {
                        format!(
                            "data stream={id} flags={flags} len={} (header) with {} body bytes",
                            h.length,
                            body.len()
                        )
                    } else {
                        describe(&Frame {
                            header: h,
                            body: body.clone().into(),
                        })
                    };
                    self.note("->", text);
                }
                Err(_) => self.note(
                    "->",
                    format!(
                        "raw header version={} type={} ({}) flags={} stream={id} length={length}{}",
                        raw.version,
                        typ,
                        type_name(typ),
                        flags,
                        if body.is_empty() {
                            String::new()
                        } else {
                            format!(" + {} bytes", body.len())
                        }
                    ),
                ),
            }
            wire.extend_from_slice(&raw.to_bytes());
            wire.extend_from_slice(&body);
        }
        debug_assert!(wire.len() >= HEADER_LEN);
        match self
            .send_frame_bytes(wire, &s.split, s.split_delay_ms, s.coalesce)
            .await
        {
            Ok(()) => StepResult::Ok,
            Err(e) if s.or_end => {
                // the connection ended under the write: an end like any other
                self.note("note", format!("not sent: {e}"));
                StepResult::Ok
            }
            Err(e) => self.write_failed(e),
        }
    }

    pub(super) async fn do_expect_data(&mut self, d: &ExpectData, deadline: Instant) -> StepResult {
        let Some(id) = self.resolve(&d.stream) else {
            return StepResult::HarnessError(format!("{} is not bound", d.stream));
        };
        let want: Vec<u8> = match (&d.body.len, &d.body.offset) {
            (Some(n), None) => {
                let off = self.streams.get(&id).map(|s| s.cursor as u64).unwrap_or(0);
                (0..u64::from(*n)).map(|i| pattern_byte(i + off)).collect()
            }
            _ => match d.body.bytes() {
                Ok(b) => b,
                Err(e) => return StepResult::HarnessError(e),
            },
        };
        loop {
            let (fin, rst) = (self.judge.iut_fin(id), self.judge.iut_rst(id));
            let ended = match rst {
                true => Some("reset the stream".to_string()),
                false if d.or_end => self.iut_ended(),
                false => None,
            };
            let st = self.streams.entry(id).or_default();
            let have = st.received.len() - st.cursor;
            if have >= want.len() && (!d.fin || fin) {
                let got = &st.received[st.cursor..st.cursor + want.len()];
                if !d.any_bytes && got != want.as_slice() {
                    let pos = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
                    return StepResult::Failed {
                        expected: format!("{} bytes on stream {id}", want.len()),
                        actual: format!("different bytes from offset {} (byte {pos}: {:#04x} instead of {:#04x})", st.cursor, got.get(pos).copied().unwrap_or(0), want.get(pos).copied().unwrap_or(0)),
                    };
                }
                st.cursor += want.len();
                if d.fin && st.received.len() > st.cursor {
                    return StepResult::Failed {
                        expected: format!("FIN after {} bytes on stream {id}", want.len()),
                        actual: format!("{} more bytes", st.received.len() - st.cursor),
                    };
                }
                return StepResult::Ok;
            }
            if let (true, Some(how)) = (d.or_end, ended) {
                self.observations.push(format!(
                    "step {}: after {have} of {} bytes on stream {id}, the IUT {how}",
                    self.current_step,
                    want.len()
                ));
                return StepResult::Ok;
            }
            if rst {
                return StepResult::Failed {
                    expected: format!("{} bytes on stream {id}", want.len()),
                    actual: format!("{have} bytes, then RST"),
                };
            }
            if fin && have < want.len() {
                let expected = format!("{} bytes on stream {id}", want.len());
                // An echo that ends exactly where the peer's D|FIN payload
                // began: that payload was dropped with its FIN taken.
                if st.dfin_at == Some(st.received.len() as u64) {
                    return StepResult::FailedUnder {
                        rule: Rule::FlagsFin,
                        expected,
                        actual: format!(
                            "{have} bytes, then FIN: the payload of the peer's D|FIN (from byte {}) is missing, its FIN was taken",
                            st.received.len()
                        ),
                    };
                }
                return StepResult::Failed {
                    expected,
                    actual: format!("{have} bytes, then FIN"),
                };
            }
            if self.closed.is_some() && self.rx.is_empty() {
                return StepResult::Failed {
                    expected: format!(
                        "{} bytes{} on stream {id}",
                        want.len(),
                        if d.fin { " and FIN" } else { "" }
                    ),
                    actual: format!(
                        "{have} bytes, then {}",
                        self.closed.clone().unwrap_or_default()
                    ),
                };
            }
            if !self.pump(deadline).await {
                let expected = format!(
                    "{} bytes{} on stream {id}",
                    want.len(),
                    if d.fin { " and FIN" } else { "" }
                );
                let actual = format!(
                    "{have} bytes{} (timed out){}",
                    if fin { " and FIN" } else { "" },
                    self.end_note()
                );
                // Every byte came back but the FIN did not, although the
                // peer half-closed: the IUT never delivered the peer's FIN
                // (an echo half-closes after it reads EOF).
                if have >= want.len() && d.fin && self.judge.peer_fin(id) {
                    return self.fin_not_delivered(expected, actual);
                }
                return StepResult::Failed { expected, actual };
            }
        }
    }

    pub(super) async fn do_act(&mut self, a: &Act, deadline: Instant) -> StepResult {
        if self.adapter.is_none() {
            return StepResult::HarnessError("this step needs an adapter".into());
        }
        let mut cmd = Map::new();
        cmd.insert("cmd".into(), Value::from(a.cmd.as_str()));
        if let Some(s) = &a.stream {
            match self.resolve(s) {
                Some(id) => {
                    cmd.insert("stream".into(), Value::from(id));
                }
                None => return StepResult::HarnessError(format!("{s} is not bound")),
            }
        }
        if let Some(h) = &a.hex {
            cmd.insert("hex".into(), Value::from(hex::encode(&h.0)));
        }
        if let Some(n) = a.len {
            cmd.insert("len".into(), Value::from(n));
        }
        if let Some(c) = a.code {
            cmd.insert("code".into(), Value::from(c));
        }
        if let Some(c) = a.count {
            cmd.insert("count".into(), Value::from(c));
        }
        self.drain_ready().await;
        for _ in 1..a.repeat.unwrap_or(1).max(1) {
            let r = match self.adapter.as_mut() {
                Some(ad) => ad.send(cmd.clone()).await,
                None => return StepResult::HarnessError("no adapter".into()),
            };
            match r {
                Ok((id, shown)) => {
                    self.note("cmd", shown);
                    self.pending_replies.insert(id);
                }
                Err(e) => return StepResult::HarnessError(e.to_string()),
            }
        }
        let sent = match self.adapter.as_mut() {
            Some(ad) => ad.send(cmd).await,
            None => return StepResult::HarnessError("no adapter".into()),
        };
        let id = match sent {
            Ok((id, shown)) => {
                self.note("cmd", shown);
                id
            }
            Err(e) => return StepResult::HarnessError(e.to_string()),
        };
        let want = a.expect_reply.unwrap_or_default();
        if want == Reply::None {
            self.pending_replies.insert(id);
            return StepResult::Ok;
        }
        loop {
            let pos = self
                .events
                .iter()
                .position(|e| e.get("id").and_then(Value::as_u64) == Some(id));
            if let Some(pos) = pos {
                let Some(ev) = self.events.remove(pos) else {
                    continue;
                };
                let kind = ev
                    .get("event")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if kind == "unsupported" {
                    return StepResult::Unsupported(format!("the adapter cannot `{}`", a.cmd));
                }
                if want != Reply::Any && kind != want.as_str() {
                    let msg = ev
                        .get("message")
                        .and_then(Value::as_str)
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default();
                    return StepResult::Failed {
                        expected: format!("`{}` answered {want}", a.cmd),
                        actual: format!("{kind}{msg}"),
                    };
                }
                if let Some(b) = &a.bind {
                    match ev
                        .get("stream")
                        .and_then(Value::as_u64)
                        .and_then(|v| u32::try_from(v).ok())
                    {
                        Some(s) => {
                            self.bindings.insert(b.clone(), s);
                            self.streams.entry(s).or_default();
                        }
                        None if kind == "ok" => {
                            return StepResult::HarnessError(format!(
                                "`{}` reply has no stream id",
                                a.cmd
                            ))
                        }
                        None => {}
                    }
                }
                return StepResult::Ok;
            }
            if self.adapter_done {
                return StepResult::HarnessError(format!(
                    "the adapter exited before answering `{}`",
                    a.cmd
                ));
            }
            let long = deadline.max(Instant::now() + Duration::from_millis(500));
            if !self.pump(long).await {
                return StepResult::Failed {
                    expected: format!("a reply to `{}`", a.cmd),
                    actual: "no reply (timed out)".into(),
                };
            }
        }
    }

    pub(super) async fn do_expect_event(
        &mut self,
        e: &ExpectEvent,
        deadline: Instant,
    ) -> StepResult {
        let stream = match &e.stream {
            Some(s) => match self.resolve(s) {
                Some(id) => Some(id),
                None if e.event == Event::Accepted => None,
                None => return StepResult::HarnessError(format!("{s} is not bound")),
            },
            None => None,
        };
        let names: Vec<&str> = std::iter::once(e.event)
            .chain(e.or.iter().copied())
            .map(Event::as_str)
            .collect();
        loop {
            if e.event == Event::Data {
                if let (Some(id), Some(n)) = (stream, e.len) {
                    let read = self.streams.get(&id).map(|s| s.app_read).unwrap_or(0);
                    if read >= n {
                        return StepResult::Ok;
                    }
                }
            }
            let pos = self.events.iter().position(|ev| {
                let kind = ev.get("event").and_then(Value::as_str).unwrap_or("");
                let sid = ev.get("stream").and_then(Value::as_u64);
                names.contains(&kind)
                    && (e.event != Event::Data || e.len.is_none())
                    && stream.is_none_or(|id| sid == Some(u64::from(id)))
            });
            if let Some(pos) = pos {
                if let Some(ev) = self.events.remove(pos) {
                    if let (Some(StreamRef::Bind(b)), None) = (&e.stream, stream) {
                        if let Some(s) = ev
                            .get("stream")
                            .and_then(Value::as_u64)
                            .and_then(|v| u32::try_from(v).ok())
                        {
                            self.bindings.insert(b.clone(), s);
                        }
                    }
                }
                return StepResult::Ok;
            }
            if self.adapter_done {
                return StepResult::Failed {
                    expected: format!("adapter event {}", names.join(" or ")),
                    actual: "the adapter exited".into(),
                };
            }
            if !self.pump(deadline).await {
                let read = stream
                    .and_then(|id| self.streams.get(&id))
                    .map(|s| s.app_read)
                    .unwrap_or(0);
                let extra = if e.event == Event::Data {
                    format!(" ({read} bytes read)")
                } else {
                    String::new()
                };
                let sid = stream
                    .map(|s| format!(" on stream {s}"))
                    .unwrap_or_default();
                let expected = format!("adapter event {}{sid}", names.join(" or "));
                // The application never learns of the FIN the peer sent.
                if e.event == Event::Eof && stream.is_some_and(|id| self.judge.peer_fin(id)) {
                    return self.fin_not_delivered(expected, format!("none (timed out){extra}"));
                }
                return StepResult::Failed {
                    expected,
                    actual: format!("none (timed out){extra}"),
                };
            }
        }
    }
}
