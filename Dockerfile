# One image for the API, the workers and Flower (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md celeryconfig.py ./
COPY stocksync ./stocksync
COPY workers ./workers
COPY api ./api
COPY cli ./cli
COPY migrations ./migrations
RUN pip install --no-cache-dir -e .
ENV STOCKSYNC_DATA_DIR=/data
