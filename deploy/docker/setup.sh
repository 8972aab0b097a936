#!/usr/bin/env bash
# For a machine that can pull no image (this project's machines): prepares
# `docker-compose up --build` (or `docker compose up --build`). Where images
# can be pulled it is not needed: the Dockerfile builds FROM golang:1.26, and
# the gossip key is made by compose's `keys` service in any case.
#
# It makes the Go builder image the Dockerfile's first stage starts FROM
# (build arg GO_IMAGE): it packs the host's Go toolchain and the modules
# go.mod needs into a local image, lattice-go-builder, with `docker import`.
# No image is pulled, and the dependencies are compiled into its build
# cache. It is remade only when the Go version or go.sum changes. Then it
# sets LATTICE_GO_IMAGE=lattice-go-builder in .env at the repository's root
# (git-ignored; compose reads it for variable substitution; its other lines
# are kept), so that compose builds from it.
#
# The gossip key is not its business: compose's keys service makes one in
# the keys volume, where it stays. (Earlier versions put one in .env; a
# LATTICE_GOSSIP_KEY line there is still used, see docker-compose.yml.)
#
# If LATTICE_GO_IMAGE, in the environment or in .env, names another image,
# it makes no builder: that image is the builder.
#
# Usage: deploy/docker/setup.sh      (idempotent; run it again at will)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

# set_env NAME VALUE: NAME=VALUE in .env, replacing any line for NAME and
# keeping the others. Mode 0600: it holds the gossip key.
set_env() {
	(
		umask 077
		{
			if [ -f .env ]; then grep -v "^$1=" .env || true; fi
			echo "$1=$2"
		} >.env.tmp
	)
	mv .env.tmp .env
}

builder=lattice-go-builder
image=${LATTICE_GO_IMAGE:-}
if [ -z "$image" ] && [ -f .env ]; then
	image=$(sed -n 's/^LATTICE_GO_IMAGE=//p' .env | tail -n 1)
fi
image=${image:-$builder}
if [ "$image" != "$builder" ]; then
	echo "setup: builder is $image (LATTICE_GO_IMAGE); not making $builder"
	exit 0
fi

# .env: LATTICE_GO_IMAGE=lattice-go-builder, replacing any such line.
if ! grep -qx "LATTICE_GO_IMAGE=$builder" .env 2>/dev/null; then
	set_env LATTICE_GO_IMAGE "$builder"
	echo "setup: set LATTICE_GO_IMAGE=$builder in .env"
fi

if ! command -v go >/dev/null 2>&1; then
	echo "setup: no Go toolchain here to pack into $builder;" >&2
	echo "       with a registry, no setup is needed: remove LATTICE_GO_IMAGE from .env" >&2
	exit 1
fi
goroot=$(go env GOROOT)
stamp=$( (go version; cat go.sum) | sha256sum | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "lattice.stamp"}}' "$builder" 2>/dev/null)" = "$stamp" ]; then
	echo "setup: $builder is up to date ($stamp)"
	exit 0
fi

echo "setup: making $builder from $goroot and the modules of go.sum ($stamp)"
old=$(docker image inspect -f '{{.Id}}' "$builder" 2>/dev/null || true)
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
		- "$builder:bare" >/dev/null
# Compile the dependencies once, with the Dockerfile's settings, so that its
# build finds them in the cache and compiles only Lattice's own packages.
# The sources go to /warm, not /src, so no stale file reaches a later build.
docker build -q -t "$builder" --label "lattice.stamp=$stamp" -f - . >/dev/null <<DOCKERFILE
FROM $builder:bare
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
WORKDIR /warm
COPY . .
RUN ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", "/dev/null", "./cmd/lattice"]
WORKDIR /src
DOCKERFILE
docker image rm "$builder:bare" >/dev/null
# The builder it replaces would stay as an untagged image of 600 MB.
if [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$builder")" ]; then
	docker image rm "$old" >/dev/null 2>&1 || echo "setup: the old $builder ($old) is still in use; remove it later"
fi
echo "setup: made $builder"
