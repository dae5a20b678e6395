"""WSGI entry point: uWSGI loads ``module = notes.wsgi:app``."""

from notes import create_app

app = create_app()
