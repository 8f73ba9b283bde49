"""Gunicorn settings picked up from the working directory (`gunicorn dashboard.wsgi:server`).

The access log uses the path without its query string, so a `?token=` never lands in logs.
"""

bind = "0.0.0.0:8050"
workers = 4
# Threads keep the tiny /_wall/state polls from queueing behind a panel render.
worker_class = "gthread"
threads = 8
timeout = 60
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)ss'
