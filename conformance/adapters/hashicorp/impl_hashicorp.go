// hashicorp/yamux binding of the adapter (Debian golang-github-hashicorp-yamux-dev,
// snapshot 0.0+git20190923.df201c7).
package main

import (
	"net"
	"os"
	"reflect"
	"time"

	"github.com/hashicorp/yamux"
)

const implName = "hashicorp/yamux 0.0+git20190923.df201c7"

// Values of the snapshot's unexported streamState (stream.go).
const (
	hcStreamLocalClose = 4 // streamLocalClose
)

type hcSession struct {
	s *yamux.Session
	// acceptCh is the session's unexported backlog channel, read only for
	// its length (reflect allows that without unsafe).
	acceptCh reflect.Value
}

func newSession(conn net.Conn, client bool, window uint32, keepalive bool) (muxSession, error) {
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = os.Stderr
	cfg.EnableKeepAlive = keepalive
	if window != 0 {
		cfg.MaxStreamWindowSize = window
	}
	var s *yamux.Session
	var err error
	if client {
		s, err = yamux.Client(conn, cfg)
	} else {
		s, err = yamux.Server(conn, cfg)
	}
	if err != nil {
		return nil, err
	}
	ch := reflect.ValueOf(s).Elem().FieldByName("acceptCh")
	if !ch.IsValid() || ch.Kind() != reflect.Chan {
		logf("cannot see the accept backlog; accept will block inside AcceptStream")
		ch = reflect.Value{}
	}
	return &hcSession{s: s, acceptCh: ch}, nil
}

func (h *hcSession) open() (muxStream, error) {
	st, err := h.s.OpenStream()
	if err != nil {
		return nil, err
	}
	return newHCStream(st), nil
}

func (h *hcSession) accept() (muxStream, error) {
	st, err := h.s.AcceptStream()
	if err != nil {
		return nil, err
	}
	return newHCStream(st), nil
}

func (h *hcSession) backlog() int {
	if !h.acceptCh.IsValid() {
		return -1
	}
	return h.acceptCh.Len()
}

func (h *hcSession) ping() (time.Duration, error) { return h.s.Ping() }

func (h *hcSession) goAway(code uint32) (bool, error) {
	if code != 0 {
		// GoAway() always sends code 0; Close() sends no Go Away at all.
		return false, nil
	}
	return true, h.s.GoAway()
}

func (h *hcSession) close() error               { return h.s.Close() }
func (h *hcSession) closeChan() <-chan struct{} { return h.s.CloseChan() }

func (h *hcSession) closeReason() string {
	// After shutdown AcceptStream returns the session's shutdown error.
	_, err := h.s.AcceptStream()
	if err == nil {
		return "session closed"
	}
	return err.Error()
}

type hcStream struct {
	st    *yamux.Stream
	state reflect.Value
}

func newHCStream(st *yamux.Stream) *hcStream {
	state := reflect.ValueOf(st).Elem().FieldByName("state")
	if !state.IsValid() || state.Kind() != reflect.Int {
		state = reflect.Value{}
	}
	return &hcStream{st: st, state: state}
}

func (h *hcStream) id() uint32                  { return h.st.StreamID() }
func (h *hcStream) Read(p []byte) (int, error)  { return h.st.Read(p) }
func (h *hcStream) Write(p []byte) (int, error) { return h.st.Write(p) }

// closeWrite: this snapshot has no CloseWrite; Close() sends FIN (WU|FIN)
// and is a half-close on the wire, but from then on Read returns EOF as
// soon as the receive buffer is empty (see eofIsFinal).
func (h *hcStream) closeWrite() error { return h.st.Close() }

// reset: the snapshot has no public way to send RST on a stream.
func (h *hcStream) reset() (bool, error) { return false, nil }

// eofIsFinal: after a local Close() the stream is in streamLocalClose until
// the peer's FIN arrives, yet Read already returns EOF whenever its buffer
// is empty. The public API cannot tell the two EOFs apart, so the adapter
// peeks at the unexported state (read only) and keeps polling Read while
// the peer has not finished.
func (h *hcStream) eofIsFinal() bool {
	if !h.state.IsValid() {
		return true
	}
	return h.state.Int() != hcStreamLocalClose
}

func (h *hcStream) isReset(err error) bool { return err == yamux.ErrConnectionReset }
