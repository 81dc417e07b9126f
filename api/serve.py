"""``python -m api.serve``: serve the API with Werkzeug's threaded server (local use).

The server's own answers (a request line over 64 KiB, a malformed request) are in the API's
JSON error shape too, and its access log never shows a token sent in a URL."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any
from urllib.parse import parse_qsl, quote

from werkzeug.serving import WSGIRequestHandler, run_simple

from api.app import create_app
from api.auth import is_token_parameter
from api.errors import error_body, status_code_name

REDACTED = "[redacted]"
MIN_REDACTED_LENGTH = 8  # a shorter token is only redacted from query strings, or every log
# line would lose its letters to it
_QUERY = re.compile(r"\?[^\s\"']*")


def redact(line: str, token: str | None = None) -> str:
    """``line`` (a request line, or a log message quoting one) with every query string that
    carries a token, and ``token`` itself wherever it appears, replaced by ``[redacted]``."""

    def scrub(match: re.Match[str]) -> str:
        pairs = parse_qsl(match.group(0)[1:], keep_blank_values=True)
        if any(is_token_parameter(name) for name, _ in pairs) or (
            token and any(token in value for _, value in pairs)
        ):
            return f"?{REDACTED}"
        return match.group(0)

    line = _QUERY.sub(scrub, line)
    if token and len(token) >= MIN_REDACTED_LENGTH:
        line = line.replace(token, REDACTED).replace(quote(token, safe=""), REDACTED)
    return line


class RequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler, with JSON error pages and a redacted log."""

    def _token(self) -> str | None:
        config = getattr(getattr(self.server, "app", None), "config", None)
        return config.get("API_TOKEN") if config is not None else None

    def log(self, type: str, message: str, *args: Any) -> None:
        text = message % args if args else message
        super().log(type, "%s", redact(text, self._token()))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The server's own error answers (before the app runs), in the API's error shape."""
        detail = redact(message or self.responses.get(code, ("error",))[0], self._token())
        self.log_error("code %d, message %s", code, detail)
        if self.request_version == "HTTP/0.9":  # what an unparsable request line defaults to
            self.request_version = "HTTP/1.0"  # so the answer has a status line and headers
        self.send_response(code)
        self.send_header("Connection", "close")
        body = json.dumps(error_body(status_code_name(code), detail)).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the stocksync API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    run_simple(
        args.host,
        args.port,
        create_app(),
        threaded=True,
        use_reloader=False,
        request_handler=RequestHandler,
    )


if __name__ == "__main__":
    main()
