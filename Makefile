# voicelab: `make demo` runs the main job, `make test` the test suite. No API keys needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export ORT_DISABLE_TELEMETRY := 1
export HF_HUB_OFFLINE := 1

.PHONY: install test lint demo serve lab soak clean

install: $(STAMP)

# Re-install only when the project's dependencies change. llama-cpp-python compiles
# from source the first time (about 9 minutes on 2 cores); pip caches the wheel.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install lint
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff format --check voicelab tests bench
	$(BIN)/ruff check voicelab tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

demo: install
	$(BIN)/voicelab demo

serve: install
	$(BIN)/voicelab serve

lab: install
	$(BIN)/jupyter lab notebooks/

# 64 simultaneous calls, then 500 in a row, on the instant stack with real Silero VAD;
# appends its figures to bench/RESULTS.md (takes a while: about 15-20 min on 2 cores).
soak: install
	$(BIN)/python bench/soak.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
