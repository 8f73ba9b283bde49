"""Dash app, CLI, routes, JSON API and tokens of the employment big-screen service.

The factory is `dashboard.app.create_app`; this package init imports nothing, so importing
any one module of the package never loads the whole app (and no import runs in a circle).
"""
