// Package gocommon is the implementation-independent part of the Go
// conformance adapters (docs/adapters.md): argument parsing, the NDJSON
// command loop, the echo application, read and accept gating, per-stream
// ordered write queues, the extra sessions of `accept-sessions`, the
// benchmark commands and the crash command.
//
// An adapter for one Go yamux implementation is a main package that fills
// in an Impl and calls Main:
//
//	func main() {
//		gocommon.Main(gocommon.Impl{Name: "x/yamux v1.2.3", NewSession: newSession})
//	}
//
// newSession wraps the implementation's session in the Session interface
// below; its streams in Stream.
package gocommon

import (
	"context"
	"net"
	"runtime/debug"
	"time"
)

// Config is what the runner can set through environment variables.
type Config struct {
	// Window is YAMUX_WINDOW (receive window in bytes); 0 = the default.
	Window uint32
	// KeepAlive is false when YAMUX_KEEPALIVE=0.
	KeepAlive bool
	// MaxStreams is YAMUX_MAX_STREAMS; 0 = the default.
	MaxStreams uint32
}

// Impl is what an implementation binding supplies.
type Impl struct {
	// Name is "module version" and appears in messages.
	Name string
	// NewSession starts a yamux session over conn (client or server role).
	// An error that means "this configuration cannot be run" should be
	// wrapped with Unsupported, so the adapter exits 89.
	NewSession func(conn net.Conn, client bool, cfg Config) (Session, error)
}

// Session is the part of a yamux session API the adapter drives.
type Session interface {
	Open() (Stream, error)
	// Accept waits for the next inbound stream. If Backlog returns -1,
	// Accept must return (with ctx.Err()) once ctx is cancelled: that is
	// how `no-accept` stops an accept already waiting.
	Accept(ctx context.Context) (Stream, error)
	// Backlog is the number of inbound streams waiting for Accept, or -1
	// when the implementation cannot tell (then Accept must honour ctx).
	Backlog() int
	Ping() (time.Duration, error)
	// GoAway sends Go Away with code without closing the session;
	// ok=false when the API cannot send that code.
	GoAway(code uint32) (ok bool, err error)
	// Close closes the session with the normal close API. With code != nil
	// (an extension of the Go adapters: `session-close` with `code`), close
	// with that Go Away code; ok=false when the API cannot.
	Close(code *uint32) (ok bool, err error)
	CloseChan() <-chan struct{}
	// CloseReason is called once the session is over.
	CloseReason() string
}

// Stream is one yamux stream.
type Stream interface {
	ID() uint32
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	// CloseWrite half-closes (FIN); reading goes on.
	CloseWrite() error
	// Reset sends RST, with an error code when code != nil (an extension:
	// `reset` with `code`); ok=false when the API cannot.
	Reset(code *uint32) (ok bool, err error)
	// IsReset tells whether a Read/Write error means the stream was reset.
	IsReset(err error) bool
}

type unsupportedError struct{ err error }

func (u unsupportedError) Error() string { return u.err.Error() }
func (u unsupportedError) Unwrap() error { return u.err }

// Unsupported marks a NewSession error as "configuration not supported"
// (exit 89 instead of 1).
func Unsupported(err error) error { return unsupportedError{err} }

// ModuleVersion is the version of module path linked into this binary
// ("(devel)" or "unknown" when the build info does not say).
func ModuleVersion(path string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, m := range info.Deps {
		if m.Path == path {
			if m.Replace != nil {
				return m.Version + " => " + m.Replace.Path
			}
			return m.Version
		}
	}
	return "unknown"
}
