// hashicorp/yamux binding of the Go conformance adapter; everything else is
// ../go-common (module yamux-conformance/go-common).
package main

import (
	"context"
	"errors"
	"net"
	"os"
	"time"

	"github.com/hashicorp/yamux"

	gocommon "yamux-conformance/go-common"
)

func main() {
	gocommon.Main(gocommon.Impl{Name: "hashicorp/yamux " + libVersion(), NewSession: newSession})
}

// libVersion is the module version linked in (from the build info).
func libVersion() string { return gocommon.ModuleVersion("github.com/hashicorp/yamux") }

func newSession(conn net.Conn, client bool, cfg gocommon.Config) (gocommon.Session, error) {
	c := yamux.DefaultConfig()
	c.LogOutput = os.Stderr
	c.EnableKeepAlive = cfg.KeepAlive
	if cfg.Window != 0 {
		c.MaxStreamWindowSize = cfg.Window
	}
	// YAMUX_MAX_STREAMS: v0.1.2 has no limit on open streams; it only
	// bounds un-accepted inbound and un-ACKed outbound streams by
	// AcceptBacklog, so nothing is raised here.
	if err := yamux.VerifyConfig(c); err != nil {
		return nil, gocommon.Unsupported(err)
	}
	var s *yamux.Session
	var err error
	if client {
		s, err = yamux.Client(conn, c)
	} else {
		s, err = yamux.Server(conn, c)
	}
	if err != nil {
		return nil, err
	}
	return hcSession{s}, nil
}

type hcSession struct{ s *yamux.Session }

func (h hcSession) Open() (gocommon.Stream, error) {
	st, err := h.s.OpenStream()
	if err != nil {
		return nil, err
	}
	return hcStream{st}, nil
}

// Accept: v0.1.2 has AcceptStreamWithContext, so `no-accept` cancels a
// waiting accept through the public API (Backlog returns -1).
func (h hcSession) Accept(ctx context.Context) (gocommon.Stream, error) {
	st, err := h.s.AcceptStreamWithContext(ctx)
	if err != nil {
		return nil, err
	}
	return hcStream{st}, nil
}

func (h hcSession) Backlog() int { return -1 }

func (h hcSession) Ping() (time.Duration, error) { return h.s.Ping() }

// GoAway: Session.GoAway() always sends code 0 and there is no API that
// sends another code (goAway(reason) is unexported).
func (h hcSession) GoAway(code uint32) (bool, error) {
	if code != 0 {
		return false, nil
	}
	return true, h.s.GoAway()
}

// Close: Session.Close() closes the connection (it sends no Go Away);
// there is no close with an error code.
func (h hcSession) Close(code *uint32) (bool, error) {
	if code != nil {
		return false, nil
	}
	return true, h.s.Close()
}

func (h hcSession) CloseChan() <-chan struct{} { return h.s.CloseChan() }

func (h hcSession) CloseReason() string {
	// After shutdown AcceptStream returns the session's shutdown error.
	_, err := h.s.AcceptStream()
	if err == nil {
		return "session closed"
	}
	return err.Error()
}

type hcStream struct{ st *yamux.Stream }

func (h hcStream) ID() uint32                  { return h.st.StreamID() }
func (h hcStream) Read(p []byte) (int, error)  { return h.st.Read(p) }
func (h hcStream) Write(p []byte) (int, error) { return h.st.Write(p) }

// CloseWrite: Stream.Close() sends FIN and moves to streamLocalClose; in
// v0.1.2 Read keeps working in that state until the peer's FIN
// (stream.go: Read, case streamLocalClose), so it is a true half-close.
func (h hcStream) CloseWrite() error { return h.st.Close() }

// Reset: v0.1.2 has no public way to send RST on a stream (RST is sent only
// internally: backlog overflow, SYN after our Go Away, StreamCloseTimeout).
func (h hcStream) Reset(*uint32) (bool, error) { return false, nil }

func (h hcStream) IsReset(err error) bool { return errors.Is(err, yamux.ErrConnectionReset) }
