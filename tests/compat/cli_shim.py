"""Run the real `swarph` CLI, recording every gateway request it makes.

Usage: python cli_shim.py <record-file> mesh <verb> ...

Wraps (does not replace) swarph_cli.commands.mesh._post_json / _http_get_json so a
test can see WHICH endpoints the CLI used (e.g. bulk POST /messages/read), then runs
the unmodified CLI entry point. One JSON line per request: {"method", "path", "status"}.
"""

import json
import sys
import urllib.parse

record_path = sys.argv[1]
argv = sys.argv[2:]

from swarph_cli.commands import mesh  # noqa: E402
from swarph_cli.main import main  # noqa: E402

_post, _get = mesh._post_json, mesh._http_get_json


def _log(method, url, status):
    with open(record_path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"method": method, "path": urllib.parse.urlparse(url).path,
                            "status": status}) + "\n")


def _post_json(url, body, token, **kw):
    status, payload = _post(url, body, token, **kw)
    _log("POST", url, status)
    return status, payload


def _http_get_json(url, token, **kw):
    status, payload = _get(url, token, **kw)
    _log("GET", url, status)
    return status, payload


mesh._post_json = _post_json
mesh._http_get_json = _http_get_json
raise SystemExit(main(argv))
