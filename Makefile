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
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
	-DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF \
	-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF

# Re-install only when the project's dependencies change.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip wheel --quiet --no-cache-dir \
		--no-deps "llama-cpp-python==$(LLAMA_VERSION)" -w $(LLAMA_WHEELS)
	$(BIN)/python -m pip install --quiet $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(BIN)/python -m pip install --quiet -e '.[dev,ray,otel]'
	touch $(STAMP)

test: install lint
	$(BIN)/python -m pytest -q

# The fast loop: lint + every test that places no real-time call (tests marked `slow` do).
check: install lint
	$(BIN)/python -m pytest -q -m "not slow"

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

# Issue 10's benchmarks P1-P5 (bench/run_all.py), each its own process; appends one dated
# section to bench/RESULTS.md (about 25 min on 2 cores; run it on a quiet machine).
# `make bench BENCH_ARGS=--quick` runs the short versions; `--only p2,p4` some parts.
BENCH_ARGS ?=
bench: install
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
