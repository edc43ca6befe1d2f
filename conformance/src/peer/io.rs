//! The peer's input and output: the reader task (socket to frames, with
//! the read gate of the floods), raw writes, split and coalesced sends, and
//! every frame sent passed to the judge.

use super::*;

/// Connects the reader task for a TCP stream.
pub(super) fn spawn_reader(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    tx: mpsc::UnboundedSender<Input>,
    mut gate: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut codec = FrameCodec::new(64 * 1024 * 1024);
        let mut buf = BytesMut::with_capacity(64 * 1024);
        loop {
            loop {
                match codec.decode_frame(&mut buf) {
                    Ok(Some(f)) => {
                        if tx.send(Input::Frame(f)).is_err() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Input::Undecodable(e.to_string()));
                        return;
                    }
                }
            }
            // A `peer` step with `"read": false` closes the gate: nothing is
            // read from the socket until it opens again.
            while !*gate.borrow_and_update() {
                if gate.changed().await.is_err() {
                    return;
                }
            }
            match rd.read_buf(&mut buf).await {
                Ok(0) => {
                    let why = if buf.is_empty() && codec.pending_header().is_none() {
                        "connection closed by the IUT".to_string()
                    } else {
                        format!(
                            "connection closed by the IUT inside a frame ({} bytes pending)",
                            buf.len()
                        )
                    };
                    let _ = tx.send(Input::Eof(why));
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.send(Input::Eof(format!("connection error: {e}")));
                    return;
                }
            }
        }
    });
}

impl Peer {
    pub(super) async fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), String> {
        let Some(w) = self.writer.as_mut() else {
            return Err("the peer's side of the connection is closed".into());
        };
        w.write_all(bytes)
            .await
            .map_err(|e| format!("write failed: {e}"))
    }

    pub(super) async fn send_frame_bytes(
        &mut self,
        bytes: Vec<u8>,
        split: &[usize],
        delay: Option<u64>,
        coalesce: bool,
    ) -> Result<(), String> {
        if coalesce {
            self.coalesced.extend_from_slice(&bytes);
            return Ok(());
        }
        let mut all = std::mem::take(&mut self.coalesced);
        all.extend_from_slice(&bytes);
        if split.is_empty() {
            return self.write_bytes(&all).await;
        }
        let mut rest: &[u8] = &all;
        for &n in split {
            let n = n.min(rest.len());
            let (a, b) = rest.split_at(n);
            self.write_bytes(a).await?;
            rest = b;
            if let Some(ms) = delay {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
        if !rest.is_empty() {
            self.write_bytes(rest).await?;
        }
        Ok(())
    }

    /// Sends a well-formed frame through the codec, with accounting.
    pub(super) async fn send_frame(&mut self, f: Frame, why: &str) -> Result<(), String> {
        self.account_out(&f.header);
        let bytes = f.to_vec().map_err(|e| e.to_string())?;
        let extra = if why.is_empty() {
            String::new()
        } else {
            format!(" ({why})")
        };
        self.note("->", format!("{}{extra}", describe(&f)));
        self.send_frame_bytes(bytes, &[], None, false).await
    }

    /// A frame the peer sends: the judge's ledger follows it.
    pub(super) fn account_out(&mut self, h: &Header) {
        self.judge.sent(h);
        self.out_body_owed = 0;
    }

    /// A `send` frame: its header goes to the tracker; a Data header whose
    /// Length exceeds the body sent with it leaves the rest owed (a `raw`
    /// step may send it).
    pub(super) fn account_frame(&mut self, h: &Header, body_len: usize) {
        self.account_out(h);
        self.out_body_owed = match h.typ {
            FrameType::Data => u64::from(h.length).saturating_sub(body_len as u64),
            _ => 0,
        };
    }

    /// The bytes of a `raw` step, as the tracker must see them: first the
    /// rest of a body owed, then whole frames (each header accounted, its
    /// body skipped). At a header that does not decode, the peer's bytes
    /// stop being frames for the tracker; a header cut by the end of the
    /// step is not accounted.
    pub(super) fn account_raw(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.out_opaque {
            if self.out_body_owed > 0 {
                let n = usize::try_from(self.out_body_owed)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                self.out_body_owed -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            let Some(raw) = RawHeader::parse(bytes) else {
                return;
            };
            let Ok(h) = raw.validate() else {
                self.out_opaque = true;
                return;
            };
            bytes = &bytes[HEADER_LEN..];
            let body = match h.typ {
                FrameType::Data => (h.length as usize).min(bytes.len()),
                _ => 0,
            };
            self.account_frame(&h, body);
            bytes = &bytes[body..];
        }
    }
}
