"""gunicorn entry point (README, Production):

    gunicorn -k desk.server.ThreadWorker -w 2 --threads 2 --keep-alive 5 -b 0.0.0.0:8000 wsgi:app
"""
from desk import create_app

app = create_app()
