# A small image for `lattice`: a static binary on an empty base.
#
# The first stage compiles. GO_IMAGE is any image with Go 1.26 on its PATH:
# golang:1.26 where a registry can be reached, or lattice-go-builder, which
# deploy/docker/setup.sh makes from the host's toolchain where none can (the
# default, since this project's machines have no registry). Every RUN is in
# exec form, so the builder needs no shell.
ARG GO_IMAGE=lattice-go-builder
FROM ${GO_IMAGE} AS build
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# The data directory, made here because the last stage has no mkdir: a named
# volume mounted on it starts out with its owner. Early, so it stays cached.
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
# Numeric, since scratch has no /etc/passwd: an unprivileged user that owns
# only /data.
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
