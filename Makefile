# Stratus: the two commands a new machine needs are `make run` and `make test`.

GO        ?= go
BIN       := bin/stratus
DATA      ?= ./data
# Debian packages the tests drive as real peers. Installed only when missing.
APT_PACKAGES ?= awscli python3-boto3 s3cmd rclone qemu-utils libnbd-bin fio

.PHONY: all build run test deps vet unit bench bench-go chaos clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/stratus

# run starts the all-in-one cluster in the foreground; Ctrl-C stops it.
run: build
	$(BIN) server --data $(DATA)

# deps installs what the tests need: Debian packages (only if missing, so a warm machine
# does nothing) and Go modules pinned by go.mod.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	$(GO) mod download

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 15m ./...

test: deps vet unit

# bench runs the standard set against a fresh stratus server (a few minutes) and saves
# bench/results/<date>.json and .md; bench-go runs the Go benchmarks of the parts (ring,
# storage node against the disk, catalog commit rate, the load tool's own ceiling).
bench: build
	$(BIN) --log-level warn bench suite --out bench/results

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./ring/ ./objectd/ ./meta/ ./bench/

# chaos runs the long form of every fault-tolerance scenario against a real multi-process
# cluster (about 10 minutes) and appends each scenario's figures to
# bench/results/chaos-<date>.txt. Tune it with CHAOS_FLAGS, e.g.
# CHAOS_FLAGS='-chaos.load=120s -chaos.outage=60s -chaos.keys=400'.
CHAOS_FLAGS ?=
chaos:
	$(GO) test -count=1 -timeout 3h -v -run . ./internal/chaos/ -args -chaos.long \
		-chaos.results $(CURDIR)/bench/results/chaos-$$(date -u +%Y-%m-%d).txt $(CHAOS_FLAGS)

clean:
	rm -rf bin
