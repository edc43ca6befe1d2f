// Prints go-yamux's DefaultConfig() next to go-libp2p's yamux transport
// config, field by field: go run ./printconfig
package main

import (
	"fmt"
	"reflect"

	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	lpyamux "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	yamux "github.com/libp2p/go-yamux/v5"
)

func main() {
	d := reflect.ValueOf(*yamux.DefaultConfig())
	l := reflect.ValueOf(*lpyamux.DefaultTransport.Config())
	fmt.Printf("%-24s %-28s %-28s\n", "field", "go-yamux DefaultConfig()", "go-libp2p DefaultTransport")
	for i := 0; i < d.NumField(); i++ {
		a, b := fmt.Sprintf("%v", d.Field(i).Interface()), fmt.Sprintf("%v", l.Field(i).Interface())
		if d.Type().Field(i).Name == "LogOutput" {
			a, b = fmt.Sprintf("%T", d.Field(i).Interface()), fmt.Sprintf("%T", l.Field(i).Interface())
		}
		mark := ""
		if a != b {
			mark = "  <- differs"
		}
		fmt.Printf("%-24s %-28s %-28s%s\n", d.Type().Field(i).Name, a, b, mark)
	}
	lim := rcmgr.DefaultLimits.AutoScale().ToPartialLimitConfig()
	fmt.Printf("\nresource manager (rcmgr.DefaultLimits.AutoScale() on this machine):\n")
	fmt.Printf("  system: memory %v, streams %v (inbound %v)\n", lim.System.Memory, lim.System.Streams, lim.System.StreamsInbound)
	fmt.Printf("  peer:   memory %v, streams %v (inbound %v)\n", lim.PeerDefault.Memory, lim.PeerDefault.Streams, lim.PeerDefault.StreamsInbound)
}
