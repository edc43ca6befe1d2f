#!/usr/bin/env bash
# Shared install script of the Go adapters (docs/adapters.md, "Go adapters").
#   go-common/install.sh ADAPTER_DIR LIBRARY_MODULE_PATH...
# Builds ADAPTER_DIR/bin/adapter from the adapter's own module (committed
# go.mod + go.sum, go-common through a replace directive) with
# -mod=readonly -buildvcs=false GOTOOLCHAIN=local, after `go mod download`
# through the Go module proxy (GOPROXY as configured). Idempotent: skipped
# when bin/adapter is newer than every source, go.mod and go.sum (of the
# adapter and of the modules it replaces with local folders).
# Exit 0 when ready. Exit 89 only when Go is missing/too old or the module
# download fails: the last stdout line is then `install: not installed: WHY`
# and WHY is written to bin/NOT_INSTALLED (bin/adapter is removed, so `run`
# never starts an older build). A failed compile exits 1.
set -uo pipefail
here="$(cd "$1" && pwd)"
shift
libs=("$@")
cd "$here"
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"

not_installed() {
    mkdir -p bin
    rm -f bin/adapter bin/VERSION
    printf '%s\n' "$1" > bin/NOT_INSTALLED
    echo "install: not installed: $1"
    exit 89
}

go="${GO:-}"
if [ -z "$go" ]; then
    go="$(command -v go 2>/dev/null || true)"
    [ -z "$go" ] && [ -x /usr/local/go/bin/go ] && go=/usr/local/go/bin/go
fi
need="$(awk '$1 == "go" { print $2; exit }' go.mod)"
[ -n "$go" ] || not_installed "no Go toolchain found (need Go >= $need; set GO=/path/to/go)"
have="$("$go" env GOVERSION 2>/dev/null | sed 's/^go//')"
[ -n "$have" ] || not_installed "$go does not run"
if [ "$(printf '%s\n%s\n' "$have" "$need" | sort -V | head -n1)" != "$need" ]; then
    not_installed "$go is Go $have, this adapter's go.mod needs Go >= $need"
fi

# The folders whose sources go into the build: this module and every
# `replace ... => ../dir` target.
srcdirs=(.)
while read -r d; do srcdirs+=("$d"); done < <(sed -n 's/.*=> *\(\.\.\/[^ ]*\).*/\1/p' go.mod)
if [ -x bin/adapter ] && [ -f bin/VERSION ] && [ ! -f bin/NOT_INSTALLED ] && \
    [ -z "$(find "${srcdirs[@]}" \( -name '*.go' -o -name go.mod -o -name go.sum \) -not -path '*/bin/*' -newer bin/adapter 2>/dev/null | head -n1)" ]; then
    echo "install: bin/adapter is up to date ($(cat bin/VERSION), go $have)"
    exit 0
fi

echo "install: go mod download (GOPROXY=$("$go" env GOPROXY), go $have)"
if ! out="$("$go" mod download 2>&1)"; then
    printf '%s\n' "$out" >&2
    not_installed "go mod download failed: $(printf '%s\n' "$out" | grep -v '^\s*$' | tail -n1)"
fi
version="$("$go" list -m -f '{{.Path}} {{.Version}}' "${libs[@]}" 2>&1)" \
    || not_installed "go list -m ${libs[*]} failed: $version"
version="$(printf '%s\n' "$version" | paste -sd, - | sed 's/,/, /g')"
echo "install: go build -o bin/adapter ($version)"
mkdir -p bin
rm -f bin/NOT_INSTALLED
if ! "$go" build -o bin/adapter.tmp .; then
    rm -f bin/adapter.tmp
    echo "install: go build failed" >&2
    exit 1
fi
mv bin/adapter.tmp bin/adapter
printf '%s\n' "$version" > bin/VERSION
echo "install: ready: $version ($here/bin/adapter)"
