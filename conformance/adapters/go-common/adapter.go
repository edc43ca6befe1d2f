// The NDJSON command loop of the Go adapters (docs/adapters.md): argument
// parsing, the echo application, read and accept gating and the per-stream
// ordered write queue. The implementation is reached only through Session
// and Stream (binding.go).
package gocommon

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const exitUnsupported = 89

var outMu sync.Mutex

func emit(fields map[string]interface{}) {
	b, err := json.Marshal(fields)
	if err != nil {
		b = []byte(`{"event":"log","message":"adapter: cannot encode event"}`)
	}
	outMu.Lock()
	_, _ = os.Stdout.Write(append(b, '\n'))
	outMu.Unlock()
}

func logf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "adapter: "+format+"\n", args...)
}

type command struct {
	ID     json.RawMessage `json:"id"`
	Cmd    string          `json:"cmd"`
	Stream *uint32         `json:"stream"`
	Hex    *string         `json:"hex"`
	Len    *int            `json:"len"`
	Code   *uint32         `json:"code"`
	// Benchmark commands (bench.go).
	Mode      *string `json:"mode"`
	Streams   *uint64 `json:"streams"`
	Bytes     *uint64 `json:"bytes"`
	WriteSize *uint64 `json:"write_size"`
	Count     *uint64 `json:"count"`
	Size      *uint64 `json:"size"`
}

func (c *command) reply(event string, extra map[string]interface{}) {
	m := map[string]interface{}{"event": event, "id": c.ID}
	if c.ID == nil {
		m["id"] = nil
	}
	for k, v := range extra {
		m[k] = v
	}
	emit(m)
}

func (c *command) ok(extra map[string]interface{}) { c.reply("ok", extra) }
func (c *command) fail(err error) {
	c.reply("error", map[string]interface{}{"message": err.Error()})
}
func (c *command) unsupported(why string) {
	c.reply("unsupported", map[string]interface{}{"message": why})
}

type job struct {
	data  []byte
	cmd   *command // nil for echo data, the automatic echo FIN and open's bytes
	close bool
	what  string // what a failure without cmd is reported as (default: echo)
}

type stream struct {
	a      *adapter
	ms     Stream
	id     uint32
	opened bool // opened by us (not echoed by default)

	// guarded by a.mu
	readOverride *bool
	echoOverride *bool
	resetSeen    bool
	queue        []job
	queueCond    *sync.Cond
}

type adapter struct {
	mu   sync.Mutex
	cond *sync.Cond // accept/read gates and session state
	sess Session
	impl Impl
	// accept gating for implementations without a visible backlog
	acceptCancel context.CancelFunc
	inAccept     bool
	ready        chan struct{}
	closed       bool
	acceptOn     bool
	readAll      bool
	echoAll      bool
	streams      map[uint32]*stream
	byUs         bool // session-close was requested

	// Set by Main before the first command; read-only afterwards.
	cfg Config
	// ln is the server's listener, kept open for `accept-sessions` (nil in
	// the client role); firstAccepted is closed once the first session's
	// connection was accepted (or the accept failed).
	ln            net.Listener
	firstAccepted chan struct{}
	// extraSessions numbers the extra sessions in log lines (sessions.go).
	extraSessions atomic.Uint64
}

func newAdapter() *adapter {
	a := &adapter{ready: make(chan struct{}), acceptOn: true, readAll: true, echoAll: true, streams: map[uint32]*stream{}}
	a.cond = sync.NewCond(&a.mu)
	return a
}

func (a *adapter) readEnabled(s *stream) bool {
	if s.readOverride != nil {
		return *s.readOverride
	}
	return a.readAll
}

func (a *adapter) echoEnabled(s *stream) bool {
	if s.echoOverride != nil {
		return *s.echoOverride
	}
	return a.echoAll && !s.opened
}

// register adds a stream and starts its writer; the reader is started by
// the caller after the accepted/ok event so that data events follow it.
func (a *adapter) register(ms Stream, opened bool) *stream {
	s := &stream{a: a, ms: ms, id: ms.ID(), opened: opened}
	s.queueCond = sync.NewCond(&a.mu)
	a.mu.Lock()
	a.streams[s.id] = s
	a.mu.Unlock()
	go s.writer()
	return s
}

func (s *stream) enqueue(j job) {
	s.a.mu.Lock()
	s.queue = append(s.queue, j)
	s.queueCond.Signal()
	s.a.mu.Unlock()
}

// reportReset emits at most one reset event per stream.
func (s *stream) reportReset() {
	s.a.mu.Lock()
	seen := s.resetSeen
	s.resetSeen = true
	s.a.mu.Unlock()
	if !seen {
		emit(map[string]interface{}{"event": "reset", "stream": s.id})
	}
}

func (s *stream) writer() {
	for {
		s.a.mu.Lock()
		for len(s.queue) == 0 {
			s.queueCond.Wait()
		}
		j := s.queue[0]
		s.queue = s.queue[1:]
		s.a.mu.Unlock()

		var err error
		n := 0
		if j.close {
			err = s.ms.CloseWrite()
		} else {
			n, err = s.ms.Write(j.data)
		}
		if err != nil && s.ms.IsReset(err) {
			s.reportReset()
		}
		switch {
		case j.cmd != nil && err != nil:
			j.cmd.fail(err)
		case j.cmd != nil && j.close:
			j.cmd.ok(nil)
		case j.cmd != nil:
			j.cmd.ok(map[string]interface{}{"len": n})
		case err != nil && !s.ms.IsReset(err):
			what := j.what
			switch {
			case what != "":
			case j.close:
				what = "echo half-close"
			default:
				what = "echo write"
			}
			emit(map[string]interface{}{"event": "stream-error", "stream": s.id, "message": what + ": " + err.Error()})
		}
	}
}

func (s *stream) reader() {
	a := s.a
	buf := make([]byte, 64*1024)
	for {
		a.mu.Lock()
		for !a.readEnabled(s) {
			a.cond.Wait()
		}
		a.mu.Unlock()

		n, err := s.ms.Read(buf)
		if n > 0 {
			data := append([]byte(nil), buf[:n]...)
			emit(map[string]interface{}{"event": "data", "stream": s.id, "hex": hex.EncodeToString(data)})
			a.mu.Lock()
			echo := a.echoEnabled(s)
			a.mu.Unlock()
			if echo {
				s.enqueue(job{data: data, what: "write after open"})
			}
		}
		if err == nil {
			continue
		}
		if err == io.EOF {
			emit(map[string]interface{}{"event": "eof", "stream": s.id})
			a.mu.Lock()
			echo := a.echoEnabled(s)
			a.mu.Unlock()
			if echo {
				s.enqueue(job{close: true})
			}
			return
		}
		if s.ms.IsReset(err) {
			s.reportReset()
		} else {
			emit(map[string]interface{}{"event": "stream-error", "stream": s.id, "message": "read: " + err.Error()})
		}
		return
	}
}

func (a *adapter) acceptLoop() {
	for {
		a.mu.Lock()
		for !a.acceptOn && !a.closed {
			a.cond.Wait()
		}
		closed := a.closed
		a.mu.Unlock()
		if closed {
			return
		}
		ms, err := a.acceptOne()
		if err != nil {
			select {
			case <-a.sess.CloseChan():
				return
			default:
			}
			if errors.Is(err, context.Canceled) || errors.Is(err, errNotYet) {
				continue
			}
			return
		}
		if mode := bench.serveMode(); mode != "" {
			go benchServe(ms, mode)
			continue
		}
		s := a.register(ms, false)
		emit(map[string]interface{}{"event": "accepted", "stream": s.id})
		go s.reader()
	}
}

var errNotYet = errors.New("no inbound stream waiting")

// acceptOne takes one inbound stream, making sure `no-accept` never leaves
// an accept call waiting inside the implementation (it would accept, and
// ACK, one more stream). Where the backlog is visible, Accept is called only
// when a stream is waiting; otherwise Accept gets a context that
// `no-accept` cancels, and `no-accept` waits for that call to return.
func (a *adapter) acceptOne() (Stream, error) {
	if n := a.sess.Backlog(); n >= 0 {
		if n == 0 && bench.serveMode() == "" {
			select {
			case <-a.sess.CloseChan():
			case <-time.After(time.Millisecond):
			}
			return nil, errNotYet
		}
		return a.sess.Accept(context.Background())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.mu.Lock()
	if !a.acceptOn {
		a.mu.Unlock()
		return nil, errNotYet
	}
	a.acceptCancel = cancel
	a.inAccept = true
	a.mu.Unlock()
	ms, err := a.sess.Accept(ctx)
	a.mu.Lock()
	a.inAccept = false
	a.acceptCancel = nil
	a.cond.Broadcast()
	a.mu.Unlock()
	return ms, err
}

func (a *adapter) start(sess Session) {
	a.mu.Lock()
	a.sess = sess
	a.mu.Unlock()
	close(a.ready)
	go a.acceptLoop()
	go func() {
		<-sess.CloseChan()
		a.mu.Lock()
		a.closed = true
		byUs := a.byUs
		a.cond.Broadcast()
		a.mu.Unlock()
		reason := sess.CloseReason()
		if byUs {
			reason = "closed by the session-close command (" + reason + ")"
		}
		emit(map[string]interface{}{"event": "closed", "reason": reason})
	}()
}

// session waits until the session exists.
func (a *adapter) session() Session {
	<-a.ready
	return a.sess
}

func boolPtr(b bool) *bool { return &b }

func (a *adapter) lookup(c *command) *stream {
	if c.Stream == nil {
		c.fail(fmt.Errorf("missing field stream"))
		return nil
	}
	a.mu.Lock()
	s := a.streams[*c.Stream]
	a.mu.Unlock()
	if s == nil {
		c.fail(fmt.Errorf("unknown stream %d", *c.Stream))
	}
	return s
}

// setGate implements read/no-read/echo/no-echo.
func (a *adapter) setGate(c *command, read bool, on bool) {
	a.mu.Lock()
	if c.Stream != nil {
		s := a.streams[*c.Stream]
		if s == nil {
			a.mu.Unlock()
			c.fail(fmt.Errorf("unknown stream %d", *c.Stream))
			return
		}
		if read {
			s.readOverride = boolPtr(on)
		} else {
			s.echoOverride = boolPtr(on)
		}
	} else {
		for _, s := range a.streams {
			if read {
				s.readOverride = nil
			} else {
				s.echoOverride = nil
			}
		}
		if read {
			a.readAll = on
		} else {
			a.echoAll = on
		}
	}
	a.cond.Broadcast()
	a.mu.Unlock()
	c.ok(nil)
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// The bytes of a write: hex, or len pattern bytes.
func (c *command) bytes() ([]byte, error) {
	switch {
	case c.Hex != nil:
		d, err := hex.DecodeString(*c.Hex)
		if err != nil {
			return nil, fmt.Errorf("bad hex: %v", err)
		}
		return d, nil
	case c.Len != nil && *c.Len >= 0:
		return pattern(*c.Len), nil
	default:
		return nil, fmt.Errorf("write needs hex or len")
	}
}

func (a *adapter) execute(c *command) {
	switch c.Cmd {
	case "open":
		// with hex or len: written at once on the new stream, after the
		// reply (a failure is reported as for echo data)
		var data []byte
		if c.Hex != nil || c.Len != nil {
			d, err := c.bytes()
			if err != nil {
				c.fail(err)
				return
			}
			data = d
		}
		go func() {
			ms, err := a.session().Open()
			if err != nil {
				c.fail(err)
				return
			}
			s := a.register(ms, true)
			c.ok(map[string]interface{}{"stream": s.id})
			if data != nil {
				s.enqueue(job{data: data})
			}
			go s.reader()
		}()
	case "write":
		s := a.lookup(c)
		if s == nil {
			return
		}
		data, err := c.bytes()
		if err != nil {
			c.fail(err)
			return
		}
		s.enqueue(job{data: data, cmd: c})
	case "close":
		if s := a.lookup(c); s != nil {
			s.enqueue(job{close: true, cmd: c})
		}
	case "reset", "reset-code":
		// reset-code always carries a code (0 when the field is missing);
		// plain reset carries one only when the runner gave it (an
		// extension for manual probing).
		code := c.Code
		if c.Cmd == "reset-code" && code == nil {
			zero := uint32(0)
			code = &zero
		}
		s := a.lookup(c)
		if s == nil {
			return
		}
		ok, err := s.ms.Reset(code)
		switch {
		case !ok && code != nil:
			c.unsupported(a.impl.Name + " cannot reset a stream with an error code")
		case !ok:
			c.unsupported(a.impl.Name + " has no public API to reset a stream")
		case err != nil:
			c.fail(err)
		default:
			c.ok(nil)
		}
	case "ping":
		go func() {
			rtt, err := a.session().Ping()
			if err != nil {
				c.fail(err)
				return
			}
			c.ok(map[string]interface{}{"rtt_ms": float64(rtt.Microseconds()) / 1000.0})
		}()
	case "goaway":
		code := uint32(0)
		if c.Code != nil {
			code = *c.Code
		}
		go func() {
			ok, err := a.session().GoAway(code)
			switch {
			case !ok:
				c.unsupported(a.impl.Name + " can send Go Away only with code 0 without closing the session (docs: README.md of the adapter)")
			case err != nil:
				c.fail(err)
			default:
				c.ok(nil)
			}
		}()
	case "session-close":
		go func() {
			sess := a.session()
			a.mu.Lock()
			a.byUs = true
			a.mu.Unlock()
			ok, err := sess.Close(c.Code)
			switch {
			case !ok:
				c.unsupported(a.impl.Name + " cannot close the session with a Go Away error code")
			case err != nil:
				c.fail(err)
			default:
				c.ok(nil)
			}
		}()
	case "accept", "no-accept":
		a.mu.Lock()
		a.acceptOn = c.Cmd == "accept"
		if !a.acceptOn {
			if a.acceptCancel != nil {
				a.acceptCancel()
			}
			for a.inAccept {
				a.cond.Wait()
			}
		}
		a.cond.Broadcast()
		a.mu.Unlock()
		c.ok(nil)
	case "crash":
		// The crash contract: a panic in a new goroutine, as an
		// implementation bug would cause. Never recovered.
		go func() {
			panic("deliberate crash (adapter crash command)")
		}()
	case "read", "no-read":
		a.setGate(c, true, c.Cmd == "read")
	case "echo", "no-echo":
		a.setGate(c, false, c.Cmd == "echo")
	case "accept-sessions":
		a.acceptSessions(c)
	default:
		if a.benchCommand(c) {
			return
		}
		c.unsupported("unknown command " + strconv.Quote(c.Cmd))
	}
}

func envConfig() Config {
	cfg := Config{KeepAlive: true}
	if v := os.Getenv("YAMUX_KEEPALIVE"); v == "0" {
		cfg.KeepAlive = false
	}
	num := func(name string) uint32 {
		v := os.Getenv(name)
		if v == "" {
			return 0
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			logf("%s=%q is not a 32-bit number", name, v)
			os.Exit(exitUnsupported)
		}
		return uint32(n)
	}
	cfg.Window = num("YAMUX_WINDOW")
	cfg.MaxStreams = num("YAMUX_MAX_STREAMS")
	return cfg
}

func parseArgs(args []string) (role, addr string) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		var name, val string
		if len(arg) > 2 && arg[:2] == "--" {
			name = arg[2:]
			for j := 0; j < len(name); j++ {
				if name[j] == '=' {
					name, val = name[:j], name[j+1:]
					goto have
				}
			}
			if i+1 >= len(args) {
				logf("option --%s needs a value", name)
				os.Exit(exitUnsupported)
			}
			i++
			val = args[i]
		} else {
			logf("unexpected argument %q", arg)
			os.Exit(exitUnsupported)
		}
	have:
		switch name {
		case "role":
			role = val
		case "addr":
			addr = val
		default:
			logf("unknown option --%s", name)
			os.Exit(exitUnsupported)
		}
	}
	if role != "server" && role != "client" {
		logf("unsupported role %q", role)
		os.Exit(exitUnsupported)
	}
	if addr == "" {
		logf("--addr is required")
		os.Exit(exitUnsupported)
	}
	return
}

// Main runs the adapter for impl: parses --role/--addr, reads the
// environment, connects, and runs the command loop until stdin ends.
func Main(impl Impl) {
	role, addr := parseArgs(os.Args[1:])
	cfg := envConfig()
	a := newAdapter()
	a.impl = impl
	a.cfg = cfg

	fatal := func(format string, args ...interface{}) {
		logf(format, args...)
		emit(map[string]interface{}{"event": "closed", "reason": fmt.Sprintf(format, args...)})
	}
	if role == "server" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			logf("listen %s: %v", addr, err)
			os.Exit(1)
		}
		// The listener stays open after the first connection (accepting
		// nothing until `accept-sessions`, sessions.go).
		a.ln = ln
		a.firstAccepted = make(chan struct{})
		emit(map[string]interface{}{"event": "ready", "addr": ln.Addr().String()})
		go func() {
			conn, err := acceptConn(ln)
			if err != nil {
				// A listener that failed its first accept serves no
				// extra session either.
				_ = ln.Close()
				close(a.firstAccepted)
				fatal("accept: %v", err)
				return
			}
			close(a.firstAccepted)
			sess, err := impl.NewSession(conn, false, cfg)
			var u unsupportedError
			if errors.As(err, &u) {
				logf("session: %v", err)
				os.Exit(exitUnsupported)
			}
			if err != nil {
				fatal("session: %v", err)
				_ = conn.Close()
				return
			}
			a.start(sess)
		}()
	} else {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			logf("connect %s: %v", addr, err)
			os.Exit(1)
		}
		sess, err := impl.NewSession(conn, true, cfg)
		if err != nil {
			logf("session: %v", err)
			var u unsupportedError
			if errors.As(err, &u) {
				os.Exit(exitUnsupported)
			}
			os.Exit(1)
		}
		emit(map[string]interface{}{"event": "ready", "addr": conn.LocalAddr().String()})
		a.start(sess)
	}

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<30)
	for in.Scan() {
		line := in.Bytes()
		if len(line) == 0 {
			continue
		}
		c := &command{}
		if err := json.Unmarshal(line, c); err != nil {
			emit(map[string]interface{}{"event": "log", "message": "ignored a line that is not a JSON command: " + err.Error()})
			continue
		}
		a.execute(c)
	}
	if err := in.Err(); err != nil {
		logf("stdin: %v", err)
	}
	os.Exit(0)
}
