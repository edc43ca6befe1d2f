module yamux-conformance/go-yamux

go 1.23

require (
	github.com/libp2p/go-yamux/v5 v5.1.0
	yamux-conformance/go-common v0.0.0
)

require github.com/libp2p/go-buffer-pool v0.0.2 // indirect

replace yamux-conformance/go-common => ../go-common
