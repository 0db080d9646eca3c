# Release targets, included from the Makefile. release/ is a Go module of its own:
# nfpm and the Kubernetes libraries stay out of the proxy's go.mod. See
# CONTRIBUTING.md, "Releasing".
DIST ?= $(CURDIR)/dist

.PHONY: dist deb image test-packaging

# Reproducible tarballs (linux/amd64, linux/arm64) and SHA256SUMS in $(DIST).
dist:
	cd release && GO="$(GO)" $(GO) run ./cmd/dist -root .. -out $(DIST) -debs=false

# Debian packages in $(DIST) (SHA256SUMS rewritten over everything there).
deb:
	cd release && GO="$(GO)" $(GO) run ./cmd/dist -root .. -out $(DIST) -tarballs=false

# The container image (podman or buildah) from the host platform's tarball.
image:
	cd release && GO="$(GO)" $(GO) run ./cmd/dist -root .. -out $(DIST) -debs=false -image rwproxy:latest

# Packaging tests: make dist twice (byte-identical), the .deb in a Debian bookworm
# chroot (root; the chroot is cached in /var/cache/rwproxy), the systemd unit, the
# Kubernetes manifests decoded strictly, the container image (podman).
test-packaging:
	cd release && GO="$(GO)" $(GO) vet ./... && GO="$(GO)" $(GO) test -count=1 -timeout 15m ./...
