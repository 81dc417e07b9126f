"""The Flask API: thin routes that parse, call a stocksync service, and map errors."""

from api.app import create_app

__all__ = ["create_app"]
