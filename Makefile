# voicelab: `make demo` runs the main job, `make test` the test suite. No API keys needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export ORT_DISABLE_TELEMETRY := 1
export HF_HUB_OFFLINE := 1

.PHONY: install test check lint demo serve lab soak bench clean

install: $(STAMP)

# llama-cpp-python ships only a source package: it compiles on install (about 9 minutes on
# 2 cores). A default build targets the build machine's CPU (-march=native), and on CPUs with
# AVX-512/AMX that build segfaults on the first multi-token prompt (seen here: Xeon with
# AMX_INT8). So it is built once for portable AVX2 and kept as a wheel outside the checkout,
# where every later install (a fresh clone, CI, `make clean`) finds it.
LLAMA_VERSION := 0.3.36
LLAMA_WHEELS := $(HOME)/.cache/voicelab/wheels/llama-cpp-python-$(LLAMA_VERSION)-avx2
# The flags' one home (voicelab ships it too: `voicelab extras` prints the install command).
LLAMA_CMAKE_ARGS := $(shell cat voicelab/defaults/llama-cmake-args.txt)

# Re-install only when the project's dependencies change.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip wheel --quiet --no-cache-dir \
		--no-deps "llama-cpp-python==$(LLAMA_VERSION)" -w $(LLAMA_WHEELS)
	$(BIN)/python -m pip install --quiet $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

test: install lint
	$(BIN)/python -m pytest -q

# The fast loop: lint + every test that places no real-time call and runs no real model or
# browser (tests marked `slow` do).
check: install lint
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff format --check voicelab tests bench
	$(BIN)/ruff check voicelab tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# A guest reports an allergy: the reference agent logs it (severity high) and puts them through
# to the duty manager. The scripted LLM decides the tools by rules, so every run shows them
# (SmolLM2-135M cannot choose tools reliably: bench/RESULTS.md); `--providers offline` for it.
demo: install
	$(BIN)/voicelab demo --providers scripted --scenario evals/scenarios/allergy_concern.yaml

serve: install
	$(BIN)/voicelab serve

lab: install
	$(BIN)/jupyter lab notebooks/

# 64 simultaneous calls, then 500 in a row, on the instant stack with real Silero VAD;
# appends its figures to bench/RESULTS.md (takes a while: about 15-20 min on 2 cores).
soak: install
	$(BIN)/python bench/soak.py

# Issue 10's benchmarks P1-P5 (bench/run_all.py), each its own process; appends one dated
# section to bench/RESULTS.md (about 25 min on 2 cores; run it on a quiet machine).
# `make bench BENCH_ARGS=--quick` runs the short versions; `--only p2,p4` some parts.
BENCH_ARGS ?=
bench: install
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
