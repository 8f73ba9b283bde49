"""WSGI entry for production: `gunicorn dashboard.wsgi:server` (run the scheduler apart)."""

from dashboard.app import create_app

app = create_app()
server = app.server
