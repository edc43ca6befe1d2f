// Package goyamux binds a libp2p/go-yamux v5 session to the Go conformance
// adapter (yamux-conformance/go-common). Used by the go-yamux adapter
// (yamux.DefaultConfig()) and the go-libp2p adapter (go-libp2p's muxer
// configuration); they differ only in how the session is created.
package goyamux

import (
	"context"
	"errors"
	"os"
	"reflect"
	"time"

	yamux "github.com/libp2p/go-yamux/v5"

	gocommon "yamux-conformance/go-common"
)

// Apply sets what the runner's environment asks for on a go-yamux config.
func Apply(c *yamux.Config, cfg gocommon.Config) {
	c.EnableKeepAlive = cfg.KeepAlive
	if cfg.Window != 0 {
		// Pin the receive window: start at it and never auto-tune past it.
		c.InitialStreamWindowSize = cfg.Window
		c.MaxStreamWindowSize = cfg.Window
	}
	if cfg.MaxStreams != 0 && cfg.MaxStreams > c.MaxIncomingStreams {
		c.MaxIncomingStreams = cfg.MaxStreams
	}
}

// Verify returns VerifyConfig's complaint as "unsupported" (exit 89).
func Verify(c *yamux.Config) error {
	if err := yamux.VerifyConfig(c); err != nil {
		return gocommon.Unsupported(err)
	}
	return nil
}

// Session wraps s.
func Session(s *yamux.Session) gocommon.Session {
	ch := reflect.ValueOf(s).Elem().FieldByName("acceptCh")
	if !ch.IsValid() || ch.Kind() != reflect.Chan {
		// The unexported backlog is gone in this version: fall back to a
		// blocking accept (no-accept may then accept one more stream).
		_, _ = os.Stderr.WriteString("adapter: cannot see go-yamux's accept backlog (acceptCh)\n")
		ch = reflect.Value{}
	}
	return &gySession{s: s, acceptCh: ch}
}

type gySession struct {
	s *yamux.Session
	// acceptCh: the session's unexported backlog channel, read only for
	// its length (reflect, no unsafe): AcceptStream has no context, so
	// the adapter calls it only when a stream is waiting.
	acceptCh reflect.Value
}

func (g *gySession) Open() (gocommon.Stream, error) {
	st, err := g.s.OpenStream(context.Background())
	if err != nil {
		return nil, err
	}
	return &gyStream{st}, nil
}

func (g *gySession) Accept(context.Context) (gocommon.Stream, error) {
	st, err := g.s.AcceptStream()
	if err != nil {
		return nil, err
	}
	return &gyStream{st}, nil
}

func (g *gySession) Backlog() int {
	if !g.acceptCh.IsValid() {
		return 1 // always call Accept (blocking)
	}
	return g.acceptCh.Len()
}

func (g *gySession) Ping() (time.Duration, error) { return g.s.Ping() }

// GoAway: Session.GoAway() sends code 0 and keeps the session; a code is
// sent only by CloseWithError, which also closes it.
func (g *gySession) GoAway(code uint32) (bool, error) {
	if code != 0 {
		return false, nil
	}
	return true, g.s.GoAway()
}

// Close: Session.Close() sends no Go Away (its doc says so);
// CloseWithError(code) sends Go Away(code) first — except for code 0,
// which it skips (session.go: close, "Only send GoAway if we have an error
// code").
func (g *gySession) Close(code *uint32) (bool, error) {
	if code != nil {
		return true, g.s.CloseWithError(*code)
	}
	return true, g.s.Close()
}

func (g *gySession) CloseChan() <-chan struct{} { return g.s.CloseChan() }

func (g *gySession) CloseReason() string {
	// After shutdown AcceptStream returns the session's shutdown error
	// (a remote Go Away shows up with its code).
	_, err := g.s.AcceptStream()
	if err == nil {
		return "session closed"
	}
	return err.Error()
}

type gyStream struct{ st *yamux.Stream }

func (g *gyStream) ID() uint32                  { return g.st.StreamID() }
func (g *gyStream) Read(p []byte) (int, error)  { return g.st.Read(p) }
func (g *gyStream) Write(p []byte) (int, error) { return g.st.Write(p) }
func (g *gyStream) CloseWrite() error           { return g.st.CloseWrite() }

// Reset: Reset() is ResetWithError(0); with a code, ResetWithError(code)
// puts it in the Length of the WU|RST frame.
func (g *gyStream) Reset(code *uint32) (bool, error) {
	if code != nil {
		return true, g.st.ResetWithError(*code)
	}
	return true, g.st.Reset()
}

// IsReset: a RST from the peer or our own reset gives a *StreamError (or
// ErrStreamReset itself for RST on a Data frame). errors.Is(err,
// ErrStreamReset) is not used: it is also true for the errors every stream
// gets when the session ends (GoAwayError.Is, and close() wraps
// ErrStreamReset), which are not stream resets.
func (g *gyStream) IsReset(err error) bool {
	var se *yamux.StreamError
	return errors.As(err, &se) || err == yamux.ErrStreamReset
}
