# rwproxy developer targets. `make test` runs every test tier, including the
# MariaDB sandbox tests (scripts/sandbox; install with `scripts/sandbox install`).
GO ?= go

.PHONY: all build test vet demo bench sandbox-up sandbox-down

all: build

build:
	$(GO) build -o bin/rwproxy ./cmd/rwproxy

vet:
	$(GO) vet ./...

test: vet
	$(GO) test -race -count=1 -timeout 25m ./...

# Sandbox + rwproxy + sysbench through the proxy; KEEP=1 leaves it all running.
demo:
	GO="$(GO)" scripts/demo

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

sandbox-up:
	scripts/sandbox up

sandbox-down:
	scripts/sandbox down
