# The operator image: Debian's Python 3 + a wheel of this package and its dependencies in a
# virtual environment. Also the image of the telemetry agent sidecar the operator adds to
# InCluster managers (it runs `workqueue-operator agent ...` as the container's args).
#
#   DOCKER_BUILDKIT=1 docker build -t workqueue-operator/operator:0.1.0 .
#
# Needs BuildKit (RUN --mount). No `# syntax=` line: the builder's own Dockerfile frontend is
# used, so nothing is pulled to parse this file. images/build.sh builds it on the local
# mmdebstrap base (--build-arg BASE_IMAGE=localhost/workqueue-operator/debian-base:bookworm-KEY)
# and passes the host's CA bundle as the secret `cacerts` (a TLS-intercepting proxy's CA must
# be trusted to reach PyPI from some networks; the secret never lands in a layer).
# See docs/images.md.

ARG BASE_IMAGE=debian:bookworm-slim

# ---- python: the interpreter both later stages share (so the venv's symlinks hold) -------
FROM ${BASE_IMAGE} AS python
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends python3; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log

# ---- build: wheel of this package, venv with it and its dependencies --------------------
FROM python AS build
# uv from PyPI, at a pinned version; dependencies resolve as PyPI stood at PYPI_EXCLUDE_NEWER
# (uv --exclude-newer): the same inputs give the same versions without a lock file.
ARG UV_VERSION=0.13.9
ARG PYPI_EXCLUDE_NEWER=2026-11-24T00:00:00Z
ENV UV_EXCLUDE_NEWER=${PYPI_EXCLUDE_NEWER} \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    VIRTUAL_ENV=/opt/venv
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends python3-venv ca-certificates; \
    rm -rf /var/lib/apt/lists/*
RUN --mount=type=secret,id=cacerts --mount=type=cache,target=/root/.cache/pip \
    set -eux; \
    if [ -s /run/secrets/cacerts ]; then export PIP_CERT=/run/secrets/cacerts; fi; \
    python3 -m venv /opt/uv; \
    /opt/uv/bin/pip install --disable-pip-version-check "uv==${UV_VERSION}"; \
    ln -s /opt/uv/bin/uv /usr/local/bin/uv; \
    uv venv --python /usr/bin/python3 /opt/venv
WORKDIR /src
# Dependencies first (a layer that survives edits of the source), then the package itself.
COPY pyproject.toml ./
# (numpy, scipy and scikit-learn ship their test suites, ~60 MB; nothing imports them.)
RUN --mount=type=secret,id=cacerts --mount=type=cache,target=/root/.cache/uv \
    set -eux; \
    if [ -s /run/secrets/cacerts ]; then export SSL_CERT_FILE=/run/secrets/cacerts; fi; \
    uv pip install -r pyproject.toml; \
    find /opt/venv/lib/python3*/site-packages/numpy /opt/venv/lib/python3*/site-packages/scipy \
      /opt/venv/lib/python3*/site-packages/sklearn -depth -type d -name tests -exec rm -rf {} +
COPY README.md ./
COPY operator/ operator/
RUN --mount=type=secret,id=cacerts --mount=type=cache,target=/root/.cache/uv \
    set -eux; \
    if [ -s /run/secrets/cacerts ]; then export SSL_CERT_FILE=/run/secrets/cacerts; fi; \
    uv build --wheel --out-dir /dist .; \
    uv pip install --no-deps /dist/*.whl; \
    /opt/venv/bin/workqueue-operator --version

# ---- the image --------------------------------------------------------------------------
FROM python
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="workqueue-operator" \
      org.opencontainers.image.description="Kubernetes operator for CCTools Work Queue applications" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN set -eux; \
    groupadd --gid 1000 workqueue; \
    useradd --uid 1000 --gid 1000 --home-dir /workspace --create-home --shell /bin/sh workqueue
COPY --from=build /opt/venv /opt/venv
# Bytecode is compiled at install time (UV_COMPILE_BYTECODE); with a read-only root
# filesystem (the agent sidecar) Python must not try to write any.
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/workspace
WORKDIR /workspace
USER 1000:1000
ENTRYPOINT ["workqueue-operator"]
CMD ["run", "--all-namespaces"]
