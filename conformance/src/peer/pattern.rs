//! Frame patterns: how an `expect` step matches the IUT's frames, and the
//! text a pattern reads as in failures.

use super::*;

pub(super) fn pattern_text(p: &FramePattern, bound: Option<u32>) -> String {
    let mut parts = vec![p
        .typ
        .map(|t| t.to_string())
        .unwrap_or_else(|| "any frame".into())];
    match (&p.stream, bound) {
        (_, Some(id)) => parts.push(format!("stream={id}")),
        (Some(s), None) => parts.push(format!("stream={s}")),
        _ => {}
    }
    if let Some(f) = &p.flags {
        parts.push(format!("flags⊇{f}"));
    }
    if let Some(f) = &p.flags_any {
        parts.push(format!("flags∩{f}"));
    }
    if let Some(f) = &p.flags_exact {
        parts.push(format!("flags={f}"));
    }
    if let Some(f) = &p.flags_absent {
        parts.push(format!("without {f}"));
    }
    if let Some(v) = p.value {
        parts.push(format!("value={v}"));
    }
    if let Some(par) = &p.parity {
        parts.push(format!("parity={par}"));
    }
    parts.join(" ")
}

impl Peer {
    /// One frame can carry two lifecycle events (`WU|ACK|FIN`: accept and
    /// half-close). An expectation that asked for some of its lifecycle
    /// flags takes only those: the frame stays in the inbox with the others,
    /// for the step that expects them.
    fn keep_residual(&mut self, pos: usize, seq: usize, mut f: Frame, p: &FramePattern) {
        self.residual.remove(&seq);
        if p.flags.is_none() && p.flags_any.is_none() {
            return;
        }
        let known = f.flags().intersection(Flags::KNOWN);
        let any = p.flags_any.unwrap_or(Flags::NONE).intersection(known);
        let taken = p.flags.unwrap_or(Flags::NONE).union(any);
        let rest = known.difference(taken);
        if rest.is_empty() {
            return;
        }
        f.header.flags = rest;
        self.residual.insert(seq);
        self.inbox.insert(pos, (seq, f));
    }

    pub(super) fn matches(&self, p: &FramePattern, f: &Frame) -> bool {
        if let Some(t) = p.typ {
            if t.byte() != f.typ() as u8 {
                return false;
            }
        }
        if let Some(fl) = p.flags {
            if !f.flags().contains(fl) {
                return false;
            }
        }
        if let Some(fl) = p.flags_any {
            if !f.flags().intersects(fl) {
                return false;
            }
        }
        if let Some(fl) = p.flags_absent {
            if f.flags().intersects(fl) {
                return false;
            }
        }
        if let Some(fl) = p.flags_exact {
            if f.flags() != fl {
                return false;
            }
        }
        let id = f.stream_id().val();
        if let Some(s) = &p.stream {
            match self.resolve(s) {
                Some(want) => {
                    if want != id {
                        return false;
                    }
                }
                None => {
                    // Binding on first use: a stream frame, not yet bound to another name.
                    if id == 0 || self.bindings.values().any(|v| *v == id) {
                        return false;
                    }
                }
            }
        }
        if let Some(par) = p.parity {
            let ok = match par {
                Parity::Odd => id % 2 == 1,
                Parity::Even => id % 2 == 0 && id != 0,
                Parity::Iut => self.iut_parity_ok(id),
                Parity::Peer => !self.iut_parity_ok(id) && id != 0,
            };
            if !ok {
                return false;
            }
        }
        if let Some(v) = p.value {
            if f.header.length != v {
                return false;
            }
        }
        true
    }

    pub(super) async fn do_expect(&mut self, p: &FramePattern, deadline: Instant) -> StepResult {
        let count = p.count.unwrap_or(1).max(1);
        for k in 0..count {
            match self.expect_one(p, deadline).await {
                StepResult::Failed { expected, actual } if count > 1 => {
                    return StepResult::Failed {
                        expected: format!("{count} × {expected}"),
                        actual: format!("{k} matched, then {actual}"),
                    };
                }
                StepResult::Ok => {}
                other => return other,
            }
        }
        StepResult::Ok
    }

    pub(super) async fn expect_one(&mut self, p: &FramePattern, deadline: Instant) -> StepResult {
        let start_len = self.trace.len();
        let start_seq = self.seq;
        // Frames are only appended while waiting, so each is examined once.
        let mut scanned = 0;
        loop {
            let bound = p.stream.as_ref().and_then(|s| self.resolve(s));
            let found = self
                .inbox
                .iter()
                .enumerate()
                .skip(scanned)
                .find(|(_, (seq, f))| {
                    self.matches(p, f)
                        && (p.flags.is_some()
                            || p.flags_any.is_some()
                            || !self.residual.contains(seq))
                })
                .map(|(i, _)| i);
            if let Some(pos) = found {
                if let Some((seq, f)) = self.inbox.remove(pos) {
                    if let Some(StreamRef::Bind(b)) = &p.stream {
                        self.bindings
                            .entry(b.clone())
                            .or_insert(f.stream_id().val());
                    }
                    self.keep_residual(pos, seq, f, p);
                }
                return StepResult::Ok;
            }
            // Conflicts: a Go Away, or RST on the expected stream, that arrived during this step.
            let want_ga = p.typ.and_then(TypeByte::frame_type) == Some(FrameType::GoAway);
            let want_rst = [p.flags, p.flags_any, p.flags_exact]
                .iter()
                .any(|f| f.is_some_and(|f| f.contains(Flags::RST)));
            if let Some((_, f)) = self.inbox.iter().skip(scanned).find(|(idx, f)| {
                *idx > start_seq
                    && ((f.typ() == FrameType::GoAway && !want_ga)
                        || (!want_rst
                            && f.flags().contains(Flags::RST)
                            && bound.is_some_and(|b| b == f.stream_id().val())))
            }) {
                return StepResult::Failed {
                    expected: pattern_text(p, bound),
                    actual: describe(f),
                };
            }
            scanned = self.inbox.len();
            if self.closed.is_some() && self.rx.is_empty() {
                return StepResult::Failed {
                    expected: pattern_text(p, bound),
                    actual: self.closed.clone().unwrap_or_default(),
                };
            }
            if !self.pump(deadline).await {
                let recent: Vec<String> = self.trace[start_len..]
                    .iter()
                    .filter(|l| l.dir == "<-")
                    .map(|l| l.text.clone())
                    .take(3)
                    .collect();
                let actual = if recent.is_empty() {
                    "no frame".to_string()
                } else {
                    format!("only {}", recent.join("; "))
                };
                return StepResult::Failed {
                    expected: pattern_text(p, bound),
                    actual: format!("{actual} (timed out){}", self.end_note()),
                };
            }
        }
    }
}
