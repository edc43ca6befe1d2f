module yamux-conformance/hashicorp

go 1.21

require (
	github.com/hashicorp/yamux v0.1.2
	yamux-conformance/go-common v0.0.0
)

replace yamux-conformance/go-common => ../go-common
