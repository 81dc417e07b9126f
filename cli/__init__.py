"""The ``stocksync`` command line: a front end like the API, calling the same services."""
