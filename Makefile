# Pinned tool versions. protoc comes from Debian (protobuf-compiler, 3.21.12
# on bookworm); protoc-gen-go is built from the google.golang.org/protobuf
# version in go.mod, so generator and runtime never drift apart; likewise
# protoc-gen-go-vtproto (the decoders in *_vtproto.pb.go) from go.mod's
# github.com/planetscale/vtprotobuf.
STATICCHECK_VERSION := v0.8.2
BIN := $(CURDIR)/.bin
# Stamped into the binary (logweave version, logweave_build_info); empty
# values fall back to what the go command records (runtime/debug).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.revision=$(REVISION)

.PHONY: all build test test-short lint proto bench fuzz clean loki chaos soak capacity stackcheck

all: build test lint

# The one build of the binary: CI and the Dockerfile both run it. Static
# (CGO_ENABLED=0) so it runs on distroless/static.
build:
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/logweave ./cmd/logweave

# The README's test command.
test:
	go test -race ./...

test-short:
	go test -short ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'))" || { echo "gofmt -l reports files to format:"; gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'); exit 1; }
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

proto:
	go build -o $(BIN)/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
	go build -o $(BIN)/protoc-gen-go-vtproto github.com/planetscale/vtprotobuf/cmd/protoc-gen-go-vtproto
	protoc -I schemas --plugin=protoc-gen-go=$(BIN)/protoc-gen-go \
		--go_out=schemas --go_opt=paths=source_relative \
		--plugin=protoc-gen-go-vtproto=$(BIN)/protoc-gen-go-vtproto \
		--go-vtproto_out=schemas --go-vtproto_opt=paths=source_relative,features=unmarshal \
		schemas/logweave/v1/*.proto
	# The zero-copy decoders (features=unmarshal_unsafe) go to *_vtunsafe.gen.go
	# beside them (TestGeneratedUnsafeCodeIsFresh checks both).
	rm -rf $(BIN)/vtunsafe && mkdir -p $(BIN)/vtunsafe
	protoc -I schemas --plugin=protoc-gen-go-vtproto=$(BIN)/protoc-gen-go-vtproto \
		--go-vtproto_out=$(BIN)/vtunsafe --go-vtproto_opt=paths=source_relative,features=unmarshal_unsafe \
		schemas/logweave/v1/*.proto
	for f in $(BIN)/vtunsafe/logweave/v1/*_vtproto.pb.go; do \
		b=$$(basename $$f _vtproto.pb.go); cp $$f schemas/logweave/v1/$${b}_vtunsafe.gen.go; done

bench:
	go test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BIN) .logweave

# Every decoder and parser that takes outside input, each for a bounded
# time (FUZZTIME); about 2 minutes in all, as .ci/run runs it.
FUZZTIME ?= 12s
fuzz:
	go test -run '^$$' -fuzz '^FuzzNDJSON$$' -fuzztime $(FUZZTIME) ./ingest/
	go test -run '^$$' -fuzz '^FuzzOTLPJSON$$' -fuzztime $(FUZZTIME) ./ingest/
	go test -run '^$$' -fuzz '^FuzzOTLPProtobuf$$' -fuzztime $(FUZZTIME) ./ingest/
	go test -run '^$$' -fuzz '^FuzzAppendString$$' -fuzztime $(FUZZTIME) ./sinks/document/
	go test -run '^$$' -fuzz '^FuzzCompile$$' -fuzztime $(FUZZTIME) ./condition/
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./router/
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/config/
	go test -run '^$$' -fuzz '^FuzzEnvelope$$' -fuzztime $(FUZZTIME) ./enrich/
	go test -run '^$$' -fuzz '^FuzzParseCommitMeta$$' -fuzztime $(FUZZTIME) ./enrich/
	go test -run '^$$' -fuzz '^FuzzUnmarshal$$' -fuzztime $(FUZZTIME) ./schemas/logweave/v1/

# A real Loki for the Loki sink tests, built from its Go module at the
# version pinned in tools/loki/go.mod (a first build takes several minutes).
loki:
	cd tools/loki && go build -o $(BIN)/loki github.com/grafana/loki/v3/cmd/loki

# The chaos audit (test/fleet, docs/operations.md): every role as its own
# process of the real binary, faults injected, then every destination
# counted against the manifest. Fails on any lost record, visible
# duplicate or undrained group. Needs the real Loki (make loki). The audit
# table is printed; the JSON report and every process log go to
# $(CHAOS_OUT).
CHAOS_OUT ?= $(CURDIR)/.chaos
chaos:
	rm -rf $(CHAOS_OUT) && mkdir -p $(CHAOS_OUT)
	LOGWEAVE_CHAOS_OUT=$(CHAOS_OUT) LOGWEAVE_LOKI_BIN=$${LOGWEAVE_LOKI_BIN:-$(BIN)/loki} \
		go test -tags chaos -count=1 -timeout 15m -v -run '^TestChaos_' ./test/fleet/

# A longer chaos run: 20 minutes of load at a higher rate, a kill every 5s.
# Override any of LOGWEAVE_CHAOS_{DURATION,RATE,SEED,KILL_EVERY,CALM}.
soak:
	rm -rf $(CHAOS_OUT) && mkdir -p $(CHAOS_OUT)
	LOGWEAVE_CHAOS_OUT=$(CHAOS_OUT) LOGWEAVE_LOKI_BIN=$${LOGWEAVE_LOKI_BIN:-$(BIN)/loki} \
	LOGWEAVE_CHAOS_DURATION=$${LOGWEAVE_CHAOS_DURATION:-20m} LOGWEAVE_CHAOS_RATE=$${LOGWEAVE_CHAOS_RATE:-8} \
	LOGWEAVE_CHAOS_KILL_EVERY=$${LOGWEAVE_CHAOS_KILL_EVERY:-5s} LOGWEAVE_CHAOS_SEED=$${LOGWEAVE_CHAOS_SEED:-$$(date +%s)} \
		go test -tags chaos -count=1 -timeout 60m -v -run '^TestChaos_Fleet$$' ./test/fleet/
# A load-only fleet run (no faults) at LOGWEAVE_CHAOS_RATE submissions/s for
# LOGWEAVE_CHAOS_DURATION: the same audit, plus the load figures (CPU seconds
# per role, lag during the workload, drain time) used to find the machine's
# maximum (docs/BENCHMARKS.md, "Capacity of the fleet").
capacity:
	rm -rf $(CHAOS_OUT) && mkdir -p $(CHAOS_OUT)
	LOGWEAVE_CHAOS_OUT=$(CHAOS_OUT) LOGWEAVE_LOKI_BIN=$${LOGWEAVE_LOKI_BIN:-$(BIN)/loki} LOGWEAVE_CHAOS_FAULTS=0 \
	LOGWEAVE_CHAOS_RATE=$${LOGWEAVE_CHAOS_RATE:-400} LOGWEAVE_CHAOS_DURATION=$${LOGWEAVE_CHAOS_DURATION:-60s} \
		go test -tags chaos -count=1 -timeout 30m -v -run '^TestChaos_Fleet$$' ./test/fleet/
# Checks the deployment artifacts (Dockerfile, docker-compose.yml, deploy/)
# with the parsers of the tools that read them; a module of its own
# (tools/stackcheck) so their dependencies stay out of logweave's go.mod.
stackcheck:
	cd tools/stackcheck && go vet ./... && go test -race ./...
