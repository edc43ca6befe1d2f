module yamux-conformance/go-common

go 1.21
