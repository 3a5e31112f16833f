# sipswitch: `make run` starts the switch, `make test` checks everything.
# Both create the virtual environment and install what they need on a fresh Debian machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck pytest native bench debs clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# the hot path compiled with mypyc (a minute or two when the sources changed; SIPSWITCH_NATIVE=0: none)
native: $(STAMP)
	$(BIN)/python scripts/build_native.py

run: $(STAMP)
	$(BIN)/python scripts/build_native.py || echo "native build failed: the switch runs interpreted"
	$(BIN)/sipswitch init
	$(BIN)/sipswitch serve

debs:
	@PYTHON=$(PYTHON) bash scripts/ensure-debs.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) native
	bash scripts/pg-test-server.sh run -- $(BIN)/pytest

test: debs $(STAMP) lint typecheck native pytest

bench: $(STAMP)
	$(BIN)/python -m bench.parse_bench
	$(BIN)/python -m bench.sdp_bench
	$(BIN)/python -m bench.udp_echo_bench

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache build src/*.so src/sipswitch/native.stamp
	find src -name '*.so' -delete
