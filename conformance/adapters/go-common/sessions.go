// More sessions on the server's listener (docs/adapters.md, "More
// sessions: `accept-sessions`"): each accepted connection becomes its own
// yamux server session, created through Impl.NewSession exactly as the
// first one, served by a plain echo application that prints no events and
// takes no commands. Nothing here recovers a panic: a crash of the
// implementation on an extra session is a crash of the process.
package gocommon

import (
	"context"
	"errors"
	"net"
	"time"
)

// acceptConn accepts one TCP connection for a server session. Go enables
// TCP_NODELAY on every TCP connection by default; it is set here anyway so
// that the first session and the extra ones are sure to match
// (docs/adapters.md, "Invocation").
func acceptConn(ln net.Listener) (net.Conn, error) {
	conn, err := ln.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		if err := tc.SetNoDelay(true); err != nil {
			logf("TCP_NODELAY on %v: %v", conn.RemoteAddr(), err)
		}
	}
	return conn, nil
}

// acceptSessions implements `accept-sessions`: the reply comes at once,
// the connections are accepted in the background. Several commands add up
// (each accepts its own count).
func (a *adapter) acceptSessions(c *command) {
	if a.ln == nil {
		c.unsupported("accept-sessions needs the server role (there is no listener in the client role)")
		return
	}
	if c.Count == nil {
		c.fail(errors.New("accept-sessions needs count"))
		return
	}
	go a.acceptMore(*c.Count)
	c.ok(nil)
}

// acceptMore accepts count connections on the listener and serves each as
// an extra session; then it stops (the listener stays open, accepting
// nothing).
func (a *adapter) acceptMore(count uint64) {
	// The listener's first connection belongs to the first session: take
	// nothing before Main has accepted it (or failed to).
	<-a.firstAccepted
	backoff := 5 * time.Millisecond
	for i := uint64(0); i < count; {
		conn, err := acceptConn(a.ln)
		if errors.Is(err, net.ErrClosed) {
			logf("accept-sessions: the listener is closed, %d of %d connections accepted", i, count)
			return
		}
		if err != nil {
			// Out of file descriptors and the like: wait and retry, as a
			// server would, rather than leave the rest un-accepted.
			logf("accept-sessions: accept: %v (retrying in %v)", err, backoff)
			time.Sleep(backoff)
			if backoff < time.Second {
				backoff *= 2
			}
			continue
		}
		backoff = 5 * time.Millisecond
		i++
		go a.serveExtra(conn, a.extraSessions.Add(1))
	}
}

// serveExtra runs one extra session over conn until it ends, then releases
// the session and the connection. Whatever happens here is logged on
// stderr only; it never touches the first session or the process.
func (a *adapter) serveExtra(conn net.Conn, n uint64) {
	defer conn.Close()
	sess, err := a.impl.NewSession(conn, false, a.cfg)
	if err != nil {
		logf("extra session %d (%v): %v", n, conn.RemoteAddr(), err)
		return
	}
	// Close after the end too: the session may still be up when Accept
	// failed, and closing twice is harmless.
	defer func() { _, _ = sess.Close(nil) }()
	for {
		// Accept returns when the session ends, context or not.
		ms, err := sess.Accept(context.Background())
		if err != nil {
			logf("extra session %d (%v) ended: %v", n, conn.RemoteAddr(), err)
			return
		}
		go benchServe(ms, "echo")
	}
}
