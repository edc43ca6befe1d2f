// libp2p/go-yamux v5 configured and created the way go-libp2p nodes do it:
// the session comes from go-libp2p's own muxer transport
// (p2p/muxer/yamux.DefaultTransport.NewConn), with the peer scope of a
// resource manager built like libp2p.New's default one. Everything else is
// ../go-common; the go-yamux binding is ../go-yamux/goyamux.
package main

import (
	"fmt"
	"net"
	"os"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	lpyamux "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	yamux "github.com/libp2p/go-yamux/v5"
	manet "github.com/multiformats/go-multiaddr/net"

	gocommon "yamux-conformance/go-common"
	"yamux-conformance/go-yamux/goyamux"
)

func main() {
	gocommon.Main(gocommon.Impl{
		Name: "go-libp2p " + gocommon.ModuleVersion("github.com/libp2p/go-libp2p") +
			" yamux transport (libp2p/go-yamux " + gocommon.ModuleVersion("github.com/libp2p/go-yamux/v5") + ")",
		NewSession: newSession,
	})
}

// resourceManager is built like libp2p.New's default (defaults.go:
// DefaultResourceManager: rcmgr.DefaultLimits, auto-scaled to this
// machine, fixed limiter) minus SetDefaultServiceLimits, which only adds
// limits for named services/protocols (identify, ping, ...) that raw yamux
// streams never get. With YAMUX_MAX_STREAMS (the benchmark's many idle
// streams) the limits are infinite instead.
//
// One resource manager per process, as one libp2p host has one: the extra
// sessions of accept-sessions (resilience.many-sessions) share its system
// limits, so a node's connection limits can turn sessions away as they
// would on a real node. Every session of a process has the same cfg.
func resourceManager(cfg gocommon.Config) (network.ResourceManager, error) {
	rmOnce.Do(func() {
		limits := rcmgr.DefaultLimits.AutoScale()
		if cfg.MaxStreams != 0 {
			limits = rcmgr.InfiniteLimits
		}
		rmShared, rmErr = rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits))
	})
	return rmShared, rmErr
}

var (
	rmOnce   sync.Once
	rmShared network.ResourceManager
	rmErr    error
)

func newSession(conn net.Conn, client bool, cfg gocommon.Config) (gocommon.Session, error) {
	// go-libp2p's transport config, copied so that the runner's
	// environment (YAMUX_WINDOW, YAMUX_KEEPALIVE) does not change the
	// package's DefaultTransport; unchanged when no variable is set.
	c := *lpyamux.DefaultTransport.Config()
	// go-libp2p sets LogOutput = io.Discard; its log lines are kept on
	// stderr here (logging only, no wire effect).
	c.LogOutput = os.Stderr
	goyamux.Apply(&c, cfg)
	if err := goyamux.Verify(&c); err != nil {
		return nil, err
	}

	rm, err := resourceManager(cfg)
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	dir := network.DirOutbound
	remote := conn.RemoteAddr()
	if !client {
		dir = network.DirInbound
	}
	maddr, err := manet.FromNetAddr(remote)
	if err != nil {
		return nil, fmt.Errorf("multiaddr of %v: %w", remote, err)
	}
	connScope, err := rm.OpenConnection(dir, true, maddr)
	if err != nil {
		return nil, fmt.Errorf("resource manager refused the connection: %w", err)
	}
	// The upgrader calls SetPeer with the peer id from the security
	// handshake; there is none on raw TCP, so a fresh key stands in.
	_, pub, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, err
	}
	pid, err := peer.IDFromPublicKey(pub)
	if err != nil {
		return nil, err
	}
	if err := connScope.SetPeer(pid); err != nil {
		return nil, fmt.Errorf("resource manager refused the peer: %w", err)
	}
	t := (*lpyamux.Transport)(&c)
	mc, err := t.NewConn(conn, !client, connScope.PeerScope())
	if err != nil {
		return nil, err
	}
	var s *yamux.Session
	if !mc.As(&s) {
		return nil, fmt.Errorf("go-libp2p's muxed conn is not a go-yamux session")
	}
	return goyamux.Session(s), nil
}
