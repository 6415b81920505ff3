# syntax=docker/dockerfile:1
#
# The logweave image: one static binary, every role a subcommand
# (docker run logweave ingest|enrich|sink --name NAME|...). Build with
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#                --build-arg REVISION=$(git rev-parse HEAD) -t logweave .
# The build stage runs `make build`, the same build CI runs (.ci/run);
# tools/stackcheck checks that and runs it outside Docker.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so source edits do not re-download them.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
ARG REVISION=""
ENV CGO_ENABLED=0
RUN make build BIN=/out VERSION="${VERSION}" REVISION="${REVISION}"

# distroless/static: CA certificates and tzdata, no shell, no libc; the
# nonroot tag runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/logweave /usr/local/bin/logweave
USER 65532:65532
# 4317 OTLP/gRPC, 4318 OTLP/HTTP + NDJSON (ingest), 9464 /metrics /healthz /readyz.
EXPOSE 4317 4318 9464
ENTRYPOINT ["/usr/local/bin/logweave"]
CMD ["--help"]
