# Stratus: the two commands a new machine needs are `make run` and `make test`.

GO        ?= go
BIN       := bin/stratus
DATA      ?= ./data
# Debian packages the build needs: libvirt.org/go/libvirt is cgo against libvirt's C library.
BUILD_APT_PACKAGES ?= gcc pkg-config libvirt-dev
# Debian packages the tests drive as real peers. libvirt-daemon-system-sysv comes with
# libvirt-daemon-system so apt does not pull in systemd; busybox-static and the kernel of the
# compute boot tests' guest are fetched by the tests themselves (apt-get download).
APT_PACKAGES ?= awscli python3-boto3 s3cmd rclone qemu-utils libnbd-bin fio chromium \
	libvirt-daemon-system libvirt-daemon-system-sysv qemu-system-x86 busybox-static

# apt_install installs the packages named in $(1) that are missing, so a warm machine does
# nothing.
define apt_install
	@missing=""; for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
endef

.PHONY: all build build-deps run test deps vet unit bench bench-go chaos clean

all: build

build: build-deps
	$(GO) build -o $(BIN) ./cmd/stratus

build-deps:
	$(call apt_install,$(BUILD_APT_PACKAGES))

# run starts the all-in-one cluster in the foreground; Ctrl-C stops it.
run: build
	$(BIN) server --data $(DATA)

# deps installs what the build and the tests need: Debian packages (only if missing) and Go
# modules pinned by go.mod.
deps:
	$(call apt_install,$(BUILD_APT_PACKAGES) $(APT_PACKAGES))
	$(GO) mod download

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 15m ./...

test: deps vet unit

# bench runs the standard set against a fresh stratus server (a few minutes; then EC 4+2
# beside 3 replicas, 1 MiB and 64 MiB PUT and GET and GET with fragments lost, three runs
# each, about 8 minutes, on a server of six devices) and saves
# bench/results/<date>.json and .md, then the block-volume set beside qemu-nbd (fio's nbd
# engine, about 2.5 minutes; bench/results/volume-<date>.*), then instance launches through
# EC2 under TCG with the test guest (about 4 minutes; bench/results/ec2-<date>.*; skipped
# with a message where libvirt or QEMU cannot run); bench-go runs the Go
# benchmarks of the parts (ring, storage node against the disk, catalog commit rate, the
# load tool's own ceiling, erasure-code throughput, and 3 replicas against EC 4+2 through
# the proxy and real storage nodes).
bench: build
	$(BIN) --log-level warn bench suite --out bench/results
	$(BIN) --log-level warn bench volume suite --out bench/results
	$(BIN) --log-level warn bench ec2 suite --out bench/results

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./ring/ ./objectd/ ./meta/ ./bench/ ./ec/ ./proxy/

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
