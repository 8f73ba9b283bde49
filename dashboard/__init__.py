"""Dash app, CLI, routes, JSON API and tokens of the employment big-screen service."""

from dashboard.app import create_app, get_runtime

__all__ = ["create_app", "get_runtime"]
