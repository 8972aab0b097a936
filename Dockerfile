# A small image for `lattice`: a static binary on an empty base.
#
# The first stage compiles. GO_IMAGE is any image with Go 1.26 on its PATH:
# golang:1.26 (the default) where a registry can be reached, or
# lattice-go-builder, which deploy/docker/setup.sh makes from the host's
# toolchain where none can (this project's machines). Every RUN is in exec
# form, so the builder needs no shell.
ARG GO_IMAGE=golang:1.26
FROM ${GO_IMAGE} AS build
# The classic builder keeps this stage as an untagged image (the size of
# GO_IMAGE, about 640 MB) after every build; the label finds them:
#   docker image prune -f --filter label=lattice.stage=build
LABEL lattice.stage=build
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# The data directory and the keys directory (docker-compose.yml's `keys`
# volume), made here because the last stage has no mkdir: a named volume
# mounted on one starts out with its owner. Early, so they stay cached.
WORKDIR /out/keys
WORKDIR /out/data
WORKDIR /src
# Modules first, so that a code change does not fetch them again.
COPY go.mod go.sum ./
RUN ["go", "mod", "download"]
COPY . .
RUN ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", "/out/lattice", "./cmd/lattice"]

FROM scratch
COPY --from=build /out/lattice /lattice
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build --chown=65532:65532 /out/keys /keys
# Numeric, since scratch has no /etc/passwd: an unprivileged user that owns
# only /data and /keys.
USER 65532:65532
ENV LATTICE_DATA=/data
# 8080 HTTP and WebSocket, 7946 gossip (TCP and UDP).
EXPOSE 8080 7946 7946/udp
VOLUME /data
# No shell or curl here: the binary probes itself. `lattice health` reads
# LATTICE_HTTP like serve does, so it finds the node on any port.
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 CMD ["/lattice", "health"]
ENTRYPOINT ["/lattice"]
CMD ["serve"]
