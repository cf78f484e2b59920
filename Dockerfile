# One image for every promptq role (api, worker, flower, sim); the command picks the role.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md celeryconfig.py ./
COPY promptq ./promptq
COPY api ./api
COPY workers ./workers
COPY tasks ./tasks
COPY prompts ./prompts
COPY store ./store
COPY sim ./sim
RUN pip install . && useradd --system --uid 10001 promptq
USER promptq
EXPOSE 8000
CMD ["promptq", "api", "--host", "0.0.0.0", "--port", "8000"]
