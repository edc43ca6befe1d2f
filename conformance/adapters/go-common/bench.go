// Benchmark commands of the adapter protocol (docs/adapters.md, "Benchmark
// commands"), shared by the Go adapters. The data never
// crosses the control channel: the client writes and reads on its own, the
// server sinks or echoes without events, and replies carry figures measured
// here.
package gocommon

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

type benchState struct {
	mu   sync.Mutex
	mode string // "", "sink" or "echo"
	held []Stream
}

var bench benchState

func (b *benchState) serveMode() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mode
}

// benchServe serves one inbound stream in sink or echo mode until EOF.
func benchServe(s Stream, mode string) {
	if mode == "sink" {
		buf := make([]byte, 64*1024)
		var total uint64
		for {
			n, err := s.Read(buf)
			total += uint64(n)
			if err == io.EOF {
				break
			}
			if err != nil && err != io.EOF {
				return
			}
		}
		var c [8]byte
		binary.BigEndian.PutUint64(c[:], total)
		if writeAll(s, c[:]) == nil {
			_ = s.CloseWrite()
		}
		return
	}
	buf := make([]byte, 256)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			if writeAll(s, buf[:n]) != nil {
				return
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return
		}
	}
	_ = s.CloseWrite()
}

func writeAll(s Stream, b []byte) error {
	for len(b) > 0 {
		n, err := s.Write(b)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func readExact(s Stream, b []byte) error {
	for len(b) > 0 {
		n, err := s.Read(b)
		b = b[n:]
		if err != nil && len(b) > 0 {
			return err
		}
	}
	return nil
}

// readToEOF reads until the peer's FIN and returns what came.
func readToEOF(s Stream) ([]byte, error) {
	var got []byte
	buf := make([]byte, 64)
	for {
		n, err := s.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
	}
}

func sendOne(s Stream, total uint64, writeSize int) error {
	buf := pattern(writeSize)
	left := total
	for left > 0 {
		n := uint64(writeSize)
		if left < n {
			n = left
		}
		if err := writeAll(s, buf[:n]); err != nil {
			return fmt.Errorf("write: %v", err)
		}
		left -= n
	}
	if err := s.CloseWrite(); err != nil {
		return fmt.Errorf("close: %v", err)
	}
	ack, err := readToEOF(s)
	if err != nil {
		return fmt.Errorf("reading the sink's count: %v", err)
	}
	if len(ack) != 8 {
		return fmt.Errorf("the sink answered %d bytes, not 8", len(ack))
	}
	if got := binary.BigEndian.Uint64(ack); got != total {
		return fmt.Errorf("the sink read %d bytes, %d were sent", got, total)
	}
	return nil
}

func rssBytes() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, err := strconv.ParseUint(f[1], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func u64(p *uint64, def uint64) uint64 {
	if p == nil {
		return def
	}
	return *p
}

// benchCommand runs a benchmark command; false when c is not one.
func (a *adapter) benchCommand(c *command) bool {
	switch c.Cmd {
	case "bench-serve":
		m := ""
		if c.Mode != nil {
			m = *c.Mode
		}
		if m != "sink" && m != "echo" && m != "off" {
			c.fail(errors.New("`mode` must be sink, echo or off"))
			return true
		}
		if m == "off" {
			m = ""
		}
		bench.mu.Lock()
		bench.mode = m
		bench.mu.Unlock()
		c.ok(nil)
	case "rss":
		n, err := rssBytes()
		if err != nil {
			c.fail(err)
		} else {
			c.ok(map[string]interface{}{"rss_bytes": n})
		}
	case "bench-send":
		streams, total, ws := u64(c.Streams, 1), u64(c.Bytes, 0), u64(c.WriteSize, 65536)
		if streams == 0 || ws == 0 || c.Bytes == nil {
			c.fail(errors.New("bench-send needs bytes, streams >= 1, write_size >= 1"))
			return true
		}
		go func() {
			start := time.Now()
			errs := make(chan error, streams)
			for i := uint64(0); i < streams; i++ {
				s, err := a.session().Open()
				if err != nil {
					c.fail(err)
					return
				}
				go func() { errs <- sendOne(s, total, int(ws)) }()
			}
			var first error
			for i := uint64(0); i < streams; i++ {
				if err := <-errs; err != nil && first == nil {
					first = err
				}
			}
			if first != nil {
				c.fail(first)
				return
			}
			c.ok(map[string]interface{}{"elapsed_ms": ms(time.Since(start))})
		}()
	case "bench-rr":
		count, size := u64(c.Count, 0), u64(c.Size, 64)
		if size == 0 || size > 1<<20 {
			c.fail(errors.New("`size` must be 1..=1048576"))
			return true
		}
		go func() {
			s, err := a.session().Open()
			if err != nil {
				c.fail(err)
				return
			}
			req, resp := pattern(int(size)), make([]byte, size)
			warm := count / 10
			if warm > 100 {
				warm = 100
			}
			samples := make([]time.Duration, 0, count)
			for i := uint64(0); i < warm+count; i++ {
				t := time.Now()
				if err := writeAll(s, req); err != nil {
					c.fail(err)
					return
				}
				if err := readExact(s, resp); err != nil {
					c.fail(err)
					return
				}
				if i >= warm {
					samples = append(samples, time.Since(t))
				}
			}
			_ = s.CloseWrite()
			_, _ = readToEOF(s)
			sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
			pick := func(q float64) float64 {
				if len(samples) == 0 {
					return 0
				}
				i := int(float64(len(samples)-1)*q + 0.5)
				return float64(samples[i].Nanoseconds()) / 1e3
			}
			c.ok(map[string]interface{}{"p50_us": pick(0.5), "p99_us": pick(0.99), "count": len(samples)})
		}()
	case "bench-open", "bench-hold":
		count := u64(c.Count, 0)
		hold := c.Cmd == "bench-hold"
		go func() {
			start := time.Now()
			one := []byte{7}
			b := make([]byte, 1)
			for i := uint64(0); i < count; i++ {
				s, err := a.session().Open()
				if err != nil {
					c.fail(err)
					return
				}
				if err := writeAll(s, one); err != nil {
					c.fail(err)
					return
				}
				if err := readExact(s, b); err != nil {
					c.fail(err)
					return
				}
				if hold {
					bench.mu.Lock()
					bench.held = append(bench.held, s)
					bench.mu.Unlock()
					continue
				}
				if err := s.CloseWrite(); err != nil {
					c.fail(err)
					return
				}
				if _, err := readToEOF(s); err != nil {
					c.fail(err)
					return
				}
			}
			reply := map[string]interface{}{"elapsed_ms": ms(time.Since(start))}
			if hold {
				reply["held"] = count
			}
			c.ok(reply)
		}()
	default:
		return false
	}
	return true
}
