# syntax=docker/dockerfile:1
# Build stage: resolve and install dependencies into a venv (cached while pyproject.toml
# is unchanged), then the project itself.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
# Dependencies first, from pyproject.toml alone: this layer survives code changes.
RUN mkdir tracker && touch tracker/__init__.py \
    && pip install . \
    && pip uninstall -y tracker
COPY tracker ./tracker
RUN pip install --no-deps .

# Final stage: no compilers, no pip cache, a non-root user.
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TRACKER_MIGRATIONS=/app/migrations \
    TRACKER_FEEDS=/app/feeds/feeds.toml \
    TRACKER_HOST=0.0.0.0 \
    TRACKER_LOG_FORMAT=json
RUN useradd --create-home --uid 10001 tracker
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY migrations ./migrations
COPY feeds ./feeds
USER tracker
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status == 200 else 1)"
CMD ["tracker", "serve"]
