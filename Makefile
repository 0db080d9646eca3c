# rwproxy developer targets. `make test` runs every test tier, including the
# MariaDB sandbox tests (scripts/sandbox; install with `scripts/sandbox install`).
GO ?= go

# Build identity embedded by `make build` (and reused by other targets, e.g.
# a release build): version from git describe, the commit and its commit
# date. A plain `go build`/`go install` still reports the commit from the Go
# toolchain's VCS stamp (internal/buildinfo).
BUILDINFO := github.com/rwproxy/rwproxy/internal/buildinfo
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
BUILD_DATE ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null)
LDFLAGS := -X $(BUILDINFO).Version=$(VERSION) -X $(BUILDINFO).Commit=$(COMMIT) -X $(BUILDINFO).Date=$(BUILD_DATE)

.PHONY: all build test vet lint tidy-check fuzz-short demo bench bench-go sandbox-up sandbox-down

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/rwproxy ./cmd/rwproxy

vet:
	$(GO) vet ./...
	$(GO) -C sysbench vet ./...

# golangci-lint at the version pinned in tools/go.mod, built once into bin/
# (rebuilt when tools/go.mod changes). .golangci.yml says which linters run
# and why; the bar is zero findings. The benchmark module (sysbench/) is
# vetted and tested, not linted: it is a measuring tool, not shipped code.
GOLANGCI_LINT := bin/golangci-lint
$(GOLANGCI_LINT): tools/go.mod tools/go.sum
	$(GO) -C tools build -o ../$(GOLANGCI_LINT) github.com/golangci/golangci-lint/v2/cmd/golangci-lint

lint: $(GOLANGCI_LINT) tidy-check
	$(GOLANGCI_LINT) run ./...

# go.mod and go.sum of the proxy's module and of the benchmark module are
# what `go mod tidy` makes of them.
tidy-check:
	$(GO) mod tidy -diff
	$(GO) -C sysbench mod tidy -diff

test: vet lint fuzz-short
	$(GO) test -race -count=1 -timeout 25m ./...
	$(GO) -C sysbench test -race -count=1 ./...
	$(MAKE) --no-print-directory test-norace

# Tests built only without the race detector (`//go:build !race`: allocation counts and stack
# sizes, which the detector changes) run here, without it, so that CI runs them too. Found by
# their build line, so a new one is included without editing this file.
.PHONY: test-norace
test-norace:
	@set -e; grep -rl '^//go:build !race' --include='*_test.go' . | xargs -n1 dirname | sort -u | \
	while read -r pkg; do \
		tests=$$(grep -l '^//go:build !race' $$pkg/*_test.go | xargs grep -hoE '^func Test[A-Za-z0-9_]+' | cut -d' ' -f2 | paste -sd'|'); \
		[ -n "$$tests" ] || continue; \
		echo "norace $$pkg $$tests"; \
		$(GO) test -count=1 -run "^($$tests)$$" $$pkg; \
	done

# Every fuzz target explores FUZZTIME (default 5000 inputs; a count, not a duration: with a
# duration, a worker still busy when the time runs out on a loaded machine fails the run with
# "context deadline exceeded") beyond its seed corpus
# (testdata/fuzz/<target>, run by every `go test`). Targets are found by name,
# so a new Fuzz function is included without editing this file. A failure
# leaves its input in testdata/fuzz/<target>: commit it with the fix.
FUZZTIME ?= 5000x
.PHONY: fuzz-short
fuzz-short:
	@set -e; grep -rlE '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' --include='*_test.go' . | xargs -n1 dirname | sort -u | \
	while read -r pkg; do \
		for fn in $$(grep -hoE '^func Fuzz[A-Za-z0-9_]+' $$pkg/*_test.go | cut -d' ' -f2); do \
			echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime=$(FUZZTIME) $$pkg; \
		done; \
	done

# Sandbox + rwproxy + sysbench through the proxy; KEEP=1 leaves it all running.
demo:
	GO="$(GO)" scripts/demo

# sysbench on a fresh sandbox: direct vs relay vs rwproxy, interleaved; results in
# sysbench/results. Settings via BENCH_* or BENCH_FLAGS, see sysbench/README.md.
# BENCH_PROXYSQL=/path/to/proxysql and BENCH_HAPROXY=/usr/sbin/haproxy add ProxySQL
# (an equivalent configuration) and HAProxy (mode tcp) as targets; off when unset.
# The harness is a module of its own (sysbench/go.mod: its plotting libraries
# are no requirement of the proxy's module); its binaries run from here.
bench:
	$(GO) -C sysbench build -o ../bin/bench ./cmd/bench
	GO="$(GO)" bin/bench $(BENCH_FLAGS)

# Go micro-benchmarks (relay, classifier, balancer, cluster) with allocs/op.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) -C sysbench test -run '^$$' -bench . -benchmem ./...

# A long run under load with replica kills, a promotion and reloads: RSS and
# goroutines over time, no acknowledged write lost. Not part of `make test`.
# SOAK_TIME (seconds, default 600), SOAK_THREADS, SOAK_BASE_PORT, SOAK_DIR: see scripts/soak.
.PHONY: soak
soak:
	GO="$(GO)" scripts/soak

sandbox-up:
	scripts/sandbox up

# make dist, make deb, make image, make test-packaging
include release/release.mk

sandbox-down:
	scripts/sandbox down

# The balancing algorithms compared on their own sandbox (base port 3536): replicas equal, then
# one slowed (responses delayed 2 ms; CPU-starved), ~5 minutes; results in sysbench/balance/results,
# the table and chart in docs/balancing.md and docs/img/balance.png. Flags via BALANCE_FLAGS
# (make bench-balance BALANCE_FLAGS=-h).
.PHONY: bench-balance
bench-balance:
	$(GO) -C sysbench build -o ../bin/balance ./balance
	bin/balance $(BALANCE_FLAGS)

# The whole architecture on this machine: HAProxy -> 3 rwproxy nodes sharing their configuration
# by gossip (given to one node through its admin interface) -> a real MySQL 9.7 Group
# Replication group; a short sysbench through HAProxy and where the statements went. Installs
# haproxy, sysbench and mariadb-client when missing (root). KEEP=1 leaves it running; ports and
# settings: scripts/demo-cluster -h.
.PHONY: demo-cluster
demo-cluster:
	GO="$(GO)" scripts/demo-cluster

# QPS through a zero-downtime upgrade (sysbench oltp_read_write at 8 and 64
# threads, `rwproxy upgrade` at t=10 s): sysbench/results/upgrade-<time>.*,
# docs/benchmarks.md "Zero-downtime upgrade". Settings UB_*: scripts/upgrade-bench.
.PHONY: bench-upgrade
bench-upgrade:
	GO="$(GO)" scripts/upgrade-bench

# The architecture study (~15 minutes, needs root for the group): sysbench through HAProxy ->
# 3 rwproxy -> Group Replication, one rwproxy, and directly against the primary; CPU per query
# of every tier; 1 vs 2 secondaries; faults (rwproxy node killed, primary killed with the
# acknowledged writes checked, configuration change). Results in sysbench/results/architecture-*,
# charts in docs/img/architecture-*.png; docs/architecture-study.md. Flags via ARCH_FLAGS
# (make bench-architecture ARCH_FLAGS=-h).
.PHONY: bench-architecture
bench-architecture:
	$(GO) -C sysbench build -o ../bin/architecture ./architecture
	bin/architecture $(ARCH_FLAGS)
