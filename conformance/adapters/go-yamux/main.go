// libp2p/go-yamux v5 with yamux.DefaultConfig(), under the Go conformance
// adapter (../go-common); the binding is ./goyamux.
package main

import (
	"net"
	"os"

	yamux "github.com/libp2p/go-yamux/v5"

	gocommon "yamux-conformance/go-common"
	"yamux-conformance/go-yamux/goyamux"
)

func main() {
	gocommon.Main(gocommon.Impl{
		Name:       "libp2p/go-yamux " + gocommon.ModuleVersion("github.com/libp2p/go-yamux/v5"),
		NewSession: newSession,
	})
}

func newSession(conn net.Conn, client bool, cfg gocommon.Config) (gocommon.Session, error) {
	c := yamux.DefaultConfig()
	c.LogOutput = os.Stderr
	goyamux.Apply(c, cfg)
	if err := goyamux.Verify(c); err != nil {
		return nil, err
	}
	var s *yamux.Session
	var err error
	// No memory manager (nil): go-yamux then uses its null manager.
	if client {
		s, err = yamux.Client(conn, c, nil)
	} else {
		s, err = yamux.Server(conn, c, nil)
	}
	if err != nil {
		return nil, err
	}
	return goyamux.Session(s), nil
}
