// libp2p/go-yamux v5 binding of the adapter. Built by ./install together with
// ../hashicorp/adapter.go (the shared, implementation-independent part).
//
// Written against the public v5 API (it could not be compiled against the
// real module on the machine it was written on; see README.md):
//
//	yamux.DefaultConfig() *Config
//	yamux.Server/Client(conn net.Conn, cfg *Config, mm func() (MemoryManager, error)) (*Session, error)
//	(*Session) OpenStream(ctx) (*Stream, error), AcceptStream() (*Stream, error),
//	  Ping() (time.Duration, error), GoAway() error, Close() error,
//	  CloseChan() <-chan struct{}
//	(*Stream) StreamID() uint32, Read, Write, CloseWrite() error, Reset() error
//	yamux.ErrStreamReset
package main

import (
	"context"
	"errors"
	"net"
	"os"
	"reflect"
	"strings"
	"time"

	yamux "github.com/libp2p/go-yamux/v5"
)

const implName = "libp2p/go-yamux v5"

type gySession struct {
	s *yamux.Session
	// acceptCh: the session's unexported backlog channel, read only for
	// its length (see acceptLoop in adapter.go).
	acceptCh reflect.Value
}

func newSession(conn net.Conn, client bool, window uint32, keepalive bool) (muxSession, error) {
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = os.Stderr
	cfg.EnableKeepAlive = keepalive
	if window != 0 {
		// Pin the receive window: start at it and never auto-tune past it.
		cfg.InitialStreamWindowSize = window
		cfg.MaxStreamWindowSize = window
	}
	var s *yamux.Session
	var err error
	if client {
		s, err = yamux.Client(conn, cfg, nil)
	} else {
		s, err = yamux.Server(conn, cfg, nil)
	}
	if err != nil {
		return nil, err
	}
	ch := reflect.ValueOf(s).Elem().FieldByName("acceptCh")
	if !ch.IsValid() || ch.Kind() != reflect.Chan {
		logf("cannot see the accept backlog; accept will block inside AcceptStream")
		ch = reflect.Value{}
	}
	return &gySession{s: s, acceptCh: ch}, nil
}

func (g *gySession) open() (muxStream, error) {
	st, err := g.s.OpenStream(context.Background())
	if err != nil {
		return nil, err
	}
	return gyStream{st}, nil
}

func (g *gySession) accept() (muxStream, error) {
	st, err := g.s.AcceptStream()
	if err != nil {
		return nil, err
	}
	return gyStream{st}, nil
}

func (g *gySession) backlog() int {
	if !g.acceptCh.IsValid() {
		return -1
	}
	return g.acceptCh.Len()
}

func (g *gySession) ping() (time.Duration, error) { return g.s.Ping() }

func (g *gySession) goAway(code uint32) (bool, error) {
	if code != 0 {
		// GoAway() sends code 0; CloseWithError(code) also closes the session.
		return false, nil
	}
	return true, g.s.GoAway()
}

func (g *gySession) close() error               { return g.s.Close() }
func (g *gySession) closeChan() <-chan struct{} { return g.s.CloseChan() }

func (g *gySession) closeReason() string {
	// After shutdown AcceptStream returns the session's shutdown error
	// (a remote Go Away shows up with its code).
	_, err := g.s.AcceptStream()
	if err == nil {
		return "session closed"
	}
	return err.Error()
}

type gyStream struct{ st *yamux.Stream }

func (g gyStream) id() uint32                  { return g.st.StreamID() }
func (g gyStream) Read(p []byte) (int, error)  { return g.st.Read(p) }
func (g gyStream) Write(p []byte) (int, error) { return g.st.Write(p) }
func (g gyStream) closeWrite() error           { return g.st.CloseWrite() }
func (g gyStream) reset() (bool, error)        { return true, g.st.Reset() }
func (g gyStream) eofIsFinal() bool            { return true }

func (g gyStream) isReset(err error) bool {
	return errors.Is(err, yamux.ErrStreamReset) || strings.Contains(err.Error(), "stream reset")
}
