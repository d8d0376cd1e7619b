# revocast: `make test` is the one command that runs every test on a fresh machine with Go.
GO ?= go
PKGS ?= ./...
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME ?= 1m
BENCHTIME ?= 1s

.PHONY: test deps lint fuzz bench soak chaos build screenshot

test: deps
	$(GO) test -race -timeout 20m $(PKGS)

# deps installs what the tests need when it is missing, through apt-get when available:
# redis-server (required) and chromium (the console's browser tests skip without it).
deps:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing redis-server with apt-get"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; \
	  else \
	    echo "redis-server is missing and apt-get is not available: install Redis 7 and retry" >&2; exit 2; \
	  fi; }
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium with apt-get (the console's browser tests)"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; } || \
	      echo "chromium could not be installed: the browser tests will be skipped" >&2; \
	  else \
	    echo "chromium is missing and apt-get is not available: the browser tests will be skipped" >&2; \
	  fi; }

build:
	$(GO) build -o bin/revocast ./cmd/revocast

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

# fuzz runs every Fuzz target for FUZZTIME each.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# soak runs the 10-minute soak (1,000 revocations/s, 20 subscribers, history and heap checked every
# 10 s) without -race; make test runs a 10-second version. SOAK=30m for longer.
SOAK ?= 10m
soak: deps
	$(GO) test -run '^TestSoak$$' -timeout 0 -v ./internal/chaos -soak=$(SOAK)

# chaos runs every fault scenario at full size (NATS down 30 s, a 100k burst, ...) and writes
# their checker lines to chaos-report.md (the table of docs/RELIABILITY.md).
chaos: deps
	rm -f chaos-report.md
	REVOCAST_CHAOS_REPORT=$(CURDIR)/chaos-report.md $(GO) test -race -count=1 -timeout 30m -v ./internal/chaos -chaos.full

# bench runs every benchmark beside its baseline and rewrites the generated section of BENCHMARKS.md
# and docs/bench/*.svg (about 10 minutes; BENCH_FLAGS=-quick for 2, -full adds 5M entries).
bench: deps
	$(GO) run ./cmd/revocast bench $(BENCH_FLAGS)

# screenshot retakes docs/console.png from the browser test.
screenshot: deps
	REVOCAST_SCREENSHOT=$(CURDIR)/docs/console.png $(GO) test -count=1 -run TestConsoleInBrowser ./cmd/revocast
