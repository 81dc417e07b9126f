from e2e_support import api_url, workers  # type: ignore[import-not-found]  # noqa: F401
