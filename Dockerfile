# One image for every OneVisit process: gateway, engine worker, agency workers, CLI.
FROM python:3.11-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY chain chain
COPY workflows workflows
COPY agencies agencies
COPY contracts contracts
COPY gateway gateway
RUN uv sync --frozen --no-dev && useradd --system --uid 10001 onevisit
USER onevisit
ENV PATH=/opt/venv/bin:$PATH
ENTRYPOINT ["onevisit"]
CMD ["--help"]
