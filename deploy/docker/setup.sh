#!/usr/bin/env bash
# Prepares `docker compose up --build` (or docker-compose) on this machine:
#
#  1. deploy/docker/gossip.env: a fresh random gossip key for the cluster, if
#     the file is not there yet. It is git-ignored; keep it secret.
#  2. The Go builder image the Dockerfile's first stage starts FROM
#     (build arg GO_IMAGE, default lattice-go-builder). With a registry,
#     set LATTICE_GO_IMAGE=golang:1.26 and this step is skipped. Without one
#     (this project's machines), it packs the host's Go toolchain and the
#     modules go.mod needs into a local image with `docker import`: no image
#     is pulled, and the dependencies are compiled into its build cache. It
#     is remade only when the Go version or go.sum changes.
#
# Usage: deploy/docker/setup.sh      (idempotent; run it again at will)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

env_file=deploy/docker/gossip.env
if [ ! -s "$env_file" ]; then
	key=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
	umask 077
	sed "s|^LATTICE_GOSSIP_KEY=.*|LATTICE_GOSSIP_KEY=$key|" deploy/docker/gossip.env.example >"$env_file"
	echo "setup: wrote $env_file with a new random gossip key"
fi

image=${LATTICE_GO_IMAGE:-lattice-go-builder}
if [ "$image" != lattice-go-builder ]; then
	echo "setup: builder is $image (LATTICE_GO_IMAGE); not making lattice-go-builder"
	exit 0
fi
if ! command -v go >/dev/null 2>&1; then
	echo "setup: no Go toolchain here to pack into lattice-go-builder;" >&2
	echo "       with a registry, use LATTICE_GO_IMAGE=golang:1.26 instead" >&2
	exit 1
fi
goroot=$(go env GOROOT)
stamp=$( (go version; cat go.sum) | sha256sum | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "lattice.stamp"}}' "$image" 2>/dev/null)" = "$stamp" ]; then
	echo "setup: $image is up to date ($stamp)"
	exit 0
fi

echo "setup: making $image from $goroot and the modules of go.sum ($stamp)"
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
# Fill a module cache holding exactly what go.mod needs, from the host's
# cache first and the module proxy for anything missing.
hostcache=$(go env GOMODCACHE)/cache/download
GOMODCACHE="$tmp/go/pkg/mod" GOFLAGS=-mod=mod GOPROXY="file://$hostcache,$(go env GOPROXY)" \
	go mod download
mkdir -p "$tmp/tmp" "$tmp/root"
chmod 1777 "$tmp/tmp"
tar -C / -c --transform "s|^${goroot#/}|usr/local/go|" \
	--exclude="${goroot#/}/test" --exclude="${goroot#/}/api" --exclude="${goroot#/}/doc" \
	"${goroot#/}" \
	-C "$tmp" go tmp root |
	docker import \
		-c 'ENV PATH=/usr/local/go/bin:/go/bin' \
		-c 'ENV GOPATH=/go' \
		-c 'ENV GOPROXY=off' \
		-c 'ENV GOTOOLCHAIN=local' \
		-c 'ENV HOME=/root' \
		-c 'ENV TMPDIR=/tmp' \
		-c 'WORKDIR /src' \
		-m "Go toolchain of the host, for deploy/docker/setup.sh" \
		- "$image:bare" >/dev/null
# Compile the dependencies once, with the Dockerfile's settings, so that its
# build finds them in the cache and compiles only Lattice's own packages.
# The sources go to /warm, not /src, so no stale file reaches a later build.
docker build -q -t "$image" --label "lattice.stamp=$stamp" -f - . >/dev/null <<DOCKERFILE
FROM $image:bare
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
WORKDIR /warm
COPY . .
RUN ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", "/dev/null", "./cmd/lattice"]
WORKDIR /src
DOCKERFILE
docker image rm "$image:bare" >/dev/null
echo "setup: made $image"
