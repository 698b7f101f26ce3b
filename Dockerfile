# One image for every process of the Procfile (docker-compose.yml picks the command).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.lock .
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY . .
RUN useradd --create-home cj && chown -R cj /app
USER cj
EXPOSE 8000 5555
CMD ["gunicorn", "cjproject.wsgi", "--bind", "0.0.0.0:8000"]
