# Build, run and test the MCP gateway: make -f xcaddy.mk [build|run|test]
XCADDY_VERSION ?= v0.4.5
CADDY_VERSION  ?= v2.11.9
MODULE         := github.com/caddymcp/gateway
GOBIN          := $(shell go env GOPATH)/bin
XCADDY         := $(GOBIN)/xcaddy
SOURCES        := $(shell find caddymodule registryapp webui internal -type f 2>/dev/null) gateway.go go.mod go.sum

.PHONY: build run test check deps clean

build: caddy

$(XCADDY):
	go install github.com/caddyserver/xcaddy/cmd/xcaddy@$(XCADDY_VERSION)

# The local checkout is pinned (@v0.0.0=.) so that xcaddy never asks the
# module proxy for it.
caddy: $(XCADDY) $(SOURCES)
	$(XCADDY) build $(CADDY_VERSION) --output ./caddy --with $(MODULE)@v0.0.0=.

run: caddy
	./caddy run --config Caddyfile --adapter caddyfile

# check fails on unformatted code and go vet findings.
check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet ./...

# deps installs what the tests need on a fresh machine.
deps:
	./scripts/install-test-deps.sh

test: deps check caddy
	CADDY_BINARY=$(CURDIR)/caddy go test -count=1 -timeout 15m ./...

clean:
	rm -f ./caddy
