# letterbox: the two commands a newcomer needs are `make sim` and `make test`.
# Every target installs what it needs first, so a fresh clone works.

SHELL := /bin/bash
NODE_DEPS := node_modules/.package-lock.json
TSC := node_modules/.bin/tsc
TSTL := node_modules/.bin/tstl
export npm_config_loglevel := error
# Postfix, Dovecot and smtp-source live in /usr/sbin, which a non-login or minimal environment leaves off PATH.
export PATH := $(PATH):/usr/sbin:/sbin

.PHONY: all sim test build check deps debian-deps clean espruino lua lua-vm torture fuzz web

all: build

# Install from the lock file when it changed since the last install. Not
# `npm ci`: it insists on lock entries for every platform's optional
# msgpackr-extract binary, which the package mirror here does not carry.
# --no-save: npm would add those entries to the lock, leaving the tree dirty.
$(NODE_DEPS): package.json package-lock.json
	@echo "installing npm packages (npm install; the first time takes a minute)"
	@npm install --no-audit --no-fund --no-save >/dev/null
	@touch $(NODE_DEPS)

deps: $(NODE_DEPS)

# Debian packages some tests drive (listed in test/debian-packages.txt).
debian-deps:
	@bash test/tools/install-debian-deps.sh

# Compiles only when a source changed since the last build (a stamp file), so a
# second `make sim` starts at once.
BUILD_STAMP := build/.stamp
SOURCES := $(shell find firmware sim host test bench -name '*.ts' -not -path '*/node_modules/*' 2>/dev/null) tsconfig.json

$(BUILD_STAMP): $(NODE_DEPS) $(SOURCES)
	@echo "compiling TypeScript (tsc)"
	@$(TSC) -p tsconfig.json
	@touch $(BUILD_STAMP)

build: $(BUILD_STAMP)

# The simulator's Lua VM: Debian's lua5.3 source built with LUA_32BITS (the
# board's numbers) to WebAssembly by Debian's emscripten, cached in .cache/.
lua-vm:
	@bash test/tools/build-lua-wasm.sh

# The portable-core gates: ES5 compile, Lua 5.3 compile, subset lint.
check: $(NODE_DEPS)
	$(TSC) -p firmware/tsconfig.es5.json
	$(TSTL) -p firmware/tsconfig.lua.json
	node test/tools/check-portable.js

# The web page for the card: web/src type-checked (web/tsconfig.json, DOM types), bundled by esbuild,
# gzipped with 8.3 names and a MANIFEST in dist/web/ (host/web/build.ts); rebuilt when a source changed.
WEB_SOURCES := $(shell find web -type f 2>/dev/null)
dist/web/MANIFEST: $(BUILD_STAMP) $(WEB_SOURCES)
	@$(TSC) -p web/tsconfig.json
	@node build/host/web/build.js

web: dist/web/MANIFEST

# The Espruino firmware: one minified ES5 file in dist/espruino/, checked against the board's budget.
espruino: build web
	node build/host/espruino/build.js

# The NodeMCU firmware: one Lua 5.3 file plus init.lua in dist/nodemcu/, checked against the LFS budget.
lua: build lua-vm web
	node build/host/nodemcu/build.js

# --serial: the board's serial line as a pseudo-terminal (socat) for `letterbox provision --port ...`.
# Needs only socat of the Debian packages.
sim: build web
	@bash test/tools/install-debian-deps.sh socat
	@node host/bin/letterbox.js sim --serial

test: check build web debian-deps lua-vm espruino lua
	node --test --test-concurrency=2 --test-timeout=600000 $$(find build/test -name '*.test.js' | sort)

# The full power-cut workload (test/powercut.test.ts): a cut at every card operation, every runtime.
torture: check build lua-vm
	LETTERBOX_TORTURE=1 node --test --test-timeout=3600000 build/test/powercut.test.js

# Property-based fuzzing at full strength: over 100,000 cases (make test runs 1/100 of them).
fuzz: check build lua-vm
	FUZZ_SCALE=100 node --test --test-concurrency=2 --test-timeout=3600000 build/test/fuzz-lines.test.js build/test/fuzz-sessions.test.js

# Side by side with private Postfix + Dovecot instances (installed from Debian when missing), memory per
# runtime, device build sizes; writes BENCHMARKS.md. Not part of make test (about 10 minutes).
# ESPRUINO=/path/to/espruino adds a real interpreter's memory figures beside the estimate (5 more minutes).
.PHONY: bench
bench: build lua-vm
	ESPRUINO=$(if $(ESPRUINO),$(abspath $(ESPRUINO))) node build/bench/run.js

# The bundle on a REAL Espruino interpreter (Espruino built for Linux, bound to loopback, Telnet on 2323):
# boot from flash, round trip, early close, smuggling, memory flat, logins, memory against the emulated
# board's estimate (test/helpers/memory-scenario.ts). Not part of make test (CI has none).
# CPU of DATA and RETR against their floors on a real Espruino (64-bit Linux build), under callgrind; prints a table.
.PHONY: espruino-cpu
espruino-cpu: build espruino
	@test -n "$(ESPRUINO)" || { echo "usage: make espruino-cpu ESPRUINO=/path/to/espruino (see docs/ESPRUINO.md)"; exit 2; }
	ESPRUINO=$(abspath $(ESPRUINO)) node build/bench/espruino-cpu.js

.PHONY: real-espruino
real-espruino: build espruino
	@test -n "$(ESPRUINO)" || { echo "usage: make real-espruino ESPRUINO=/path/to/espruino (see docs/ESPRUINO.md)"; exit 2; }
	ESPRUINO=$(abspath $(ESPRUINO)) node --test --test-timeout=600000 build/test/real-espruino.test.js

clean:
	rm -rf build dist .cache
