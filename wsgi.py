"""gunicorn entry point: `gunicorn -k desk.server.ThreadWorker -w 2 --threads 2 --keep-alive 5 -b 0.0.0.0:8000 wsgi:app` (README, Production)."""
from desk import create_app

app = create_app()
