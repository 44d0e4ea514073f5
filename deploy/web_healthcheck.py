"""The web container's health check (docker-compose.yml): a 200 from the login page, asked over
plain HTTP the way the TLS proxy in front asks, so it holds with SECURE_SSL_REDIRECT on: one of
DJANGO_ALLOWED_HOSTS as the host, and the SECURE_PROXY_SSL_HEADER header saying HTTPS. A
redirect (no proxy header configured: browsers would loop), a refused host, a server error or
no answer within 5 s is unhealthy (exit 1, the reason on stdout for `docker inspect`).

    python deploy/web_healthcheck.py [port]      # 8000 by default
"""

from __future__ import annotations

import http.client
import os
import sys


def allowed_host() -> str:
    for name in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(","):
        name = name.strip()
        if name and name != "*":
            # ".example.com" allows example.com itself and its subdomains.
            return name.lstrip(".")
    return "localhost"


def proxy_headers() -> dict[str, str]:
    """SECURE_PROXY_SSL_HEADER as the proxy sends it: HTTP_X_FORWARDED_PROTO,https is
    `X-Forwarded-Proto: https`."""
    meta_name, _, value = os.environ.get("SECURE_PROXY_SSL_HEADER", "").partition(",")
    if not meta_name.startswith("HTTP_") or not value:
        return {}
    return {meta_name.removeprefix("HTTP_").replace("_", "-").title(): value.strip()}


def main(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Host": allowed_host(), **proxy_headers()}
    try:
        connection.request("GET", "/accounts/login/", headers=headers)
        status = connection.getresponse().status
    except OSError as error:
        print(f"web does not answer on port {port}: {error}")
        return 1
    finally:
        connection.close()
    if status != 200:
        print(f"web answered {status} to GET /accounts/login/ with {headers}, not 200")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8000))
