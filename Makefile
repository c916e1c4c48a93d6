# Build, demo and test entry points. `make demo` and `make test` need only Go
# and the Go module proxy; the peer tools the tests run against are installed
# into .tools/bin at pinned versions.

GO        ?= go
BIN       := $(CURDIR)/bin
TOOLS_BIN := $(CURDIR)/.tools/bin
# pebblegozstd makes Pebble compress zstd blocks with its pure Go encoder
# even when cgo is on, so that pre-built index tables, and the kits that
# carry them, have the same bytes on every platform.
export GOFLAGS := -buildvcs=false -tags=pebblegozstd

ORAS_VERSION        := v1.3.6
CRANE_VERSION       := v0.22.1
COSIGN_VERSION      := v2.6.5
REGISTRY_VERSION    := v3.1.2
REGCTL_VERSION      := v0.11.7
OSV_SCANNER_VERSION := v2.3.5

# The release and the commit that `stella version` reports.
VERSION ?= $(shell git describe --tags --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git describe --always --dirty --abbrev=12 --exclude='*' 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

TOOLS := $(TOOLS_BIN)/oras $(TOOLS_BIN)/crane $(TOOLS_BIN)/cosign $(TOOLS_BIN)/registry \
         $(TOOLS_BIN)/regctl $(TOOLS_BIN)/osv-scanner

.PHONY: all build demo test test-short tools skopeo fuzz bench bench-db clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/stella ./cmd/stella

demo: build
	bash scripts/demo.sh

test: tools skopeo build
	STELLA_TOOLS_BIN=$${STELLA_TOOLS_BIN:-$(TOOLS_BIN)} STELLA_BIN=$(BIN)/stella $(GO) test -timeout 40m ./...

test-short:
	$(GO) test -short ./...

tools: $(TOOLS)

$(TOOLS_BIN)/oras:
	GOBIN=$(TOOLS_BIN) $(GO) install oras.land/oras/cmd/oras@$(ORAS_VERSION)

$(TOOLS_BIN)/crane:
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/google/go-containerregistry/cmd/crane@$(CRANE_VERSION)

$(TOOLS_BIN)/cosign:
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/sigstore/cosign/v2/cmd/cosign@$(COSIGN_VERSION)

$(TOOLS_BIN)/registry:
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/distribution/distribution/v3/cmd/registry@$(REGISTRY_VERSION)

$(TOOLS_BIN)/regctl:
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/regclient/regclient/cmd/regctl@$(REGCTL_VERSION)

$(TOOLS_BIN)/osv-scanner:
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/google/osv-scanner/v2/cmd/osv-scanner@$(OSV_SCANNER_VERSION)

# skopeo comes from Debian; tests that need it skip when it is absent, so a
# machine without root still runs the rest.
skopeo:
	@command -v skopeo >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq skopeo >/dev/null) || \
	    echo "skopeo not installed (needs root for apt-get); its tests will skip"; }

# Runs each fuzz target for a short while; `make test` runs only their seeds.
# Minimizing each new input may take a minute by default, which uses up a
# short run of a target whose seeds are large, so it is cut to 2 s.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s -fuzzminimizetime 2s $$pkg || exit 1; \
	  done; \
	done

bench: build tools skopeo
	bash bench/run.sh

# Vulnerability DB figures at 300,000 generated records; takes several minutes.
bench-db:
	$(GO) run ./bench/gen -o .bench/feeds -write 0,1 -nights 1
	$(GO) run ./bench/vulndb -feeds .bench/feeds

clean:
	rm -rf $(BIN) .demo .bench
