# The voicelab call server. Build: docker build -t voicelab .
# Run:   docker run --env-file .env -p 8765:8765 voicelab
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1
# A compiler for llama-cpp-python (built from source on install) and libsndfile for soundfile.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake libsndfile1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY voicelab ./voicelab
COPY evals ./evals
# Portable AVX2 build of llama.cpp: a -march=native build segfaults on some AVX-512/AMX CPUs
# (see the Makefile), and an image runs on CPUs other than the one that built it.
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF"
# With the otel extra: VOICELAB_OTLP_ENDPOINT sends every call's spans to a collector.
RUN pip install --no-cache-dir -e '.[otel]'

EXPOSE 8765
CMD ["voicelab", "serve", "--host", "0.0.0.0", "--port", "8765"]
