"""`python -m channels.sandbox.amazon --port 8702 [--seed-demo]`: the SP-API sandbox for the demo."""

from __future__ import annotations

import argparse
import sys

from channels.sandbox.common.server import serve_forever

from .model import SandboxConfig
from .server import build_server

# MFN listings carry a merchant quantity; AFN ones FBA buckets. SKUs match the Shopify demo.
DEMO_LISTINGS = [
    {"sku": "TEE-BLK-M", "title": "Classic tee black M", "quantity": 20},
    {"sku": "TEE-BLK-L", "title": "Classic tee black L", "quantity": 15},
    {
        "sku": "HOODIE-GRY-M",
        "title": "Hoodie grey M",
        "channel": "AFN",
        "fba": {"fulfillable": 30, "inbound_shipped": 12, "pending_customer_order": 2},
    },
    {"sku": "CAP-NAVY", "title": "Cap navy", "quantity": 25},
    {
        "sku": "SNEAKER-WHT-42",
        "title": "Sneaker white 42",
        "channel": "AFN",
        "fba": {"fulfillable": 6, "customer_damaged": 1},
    },
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m channels.sandbox.amazon")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8702)
    parser.add_argument("--public-url", help="the URL clients reach the sandbox at")
    parser.add_argument("--seller-id", default=SandboxConfig.default_seller_id)
    parser.add_argument("--seed-demo", action="store_true", help="load a few demo listings")
    parser.add_argument("--notify-url", help="deliver notifications to this URL")
    parser.add_argument("--notify-api-key", default="sandbox-api-key")
    parser.add_argument("--notify-header", default="x-api-key")
    parser.add_argument("--envelope", choices=("eventbridge", "raw"), default="eventbridge")
    parser.add_argument("--buyers", type=float, default=0.0, help="orders per second")
    parser.add_argument("--rate-scale", type=float, default=1.0)
    parser.add_argument("--no-rate-limits", action="store_true")
    args = parser.parse_args(argv)

    server, sandbox = build_server(
        args.host,
        args.port,
        public_url=args.public_url,
        default_seller_id=args.seller_id,
        rate_scale=args.rate_scale,
        rate_limits=not args.no_rate_limits,
    )
    if args.seed_demo:
        for listing in DEMO_LISTINGS:
            sandbox.add_listing(**listing)
    if args.notify_url:
        sandbox.subscribe_notifications(
            args.notify_url,
            envelope=args.envelope,
            api_key_header=args.notify_header,
            api_key=args.notify_api_key,
        )
    if args.buyers:
        sandbox.start_buyers(args.buyers)
    url = server.app.base_url  # type: ignore[attr-defined]
    return serve_forever(
        server,
        sandbox,
        {
            "endpoint": url,
            "token_url": f"{url}/auth/o2/token",
            "control": f"{url}/_sandbox/",
            "seller_id": args.seller_id,
            "credentials": {
                "refresh_token": sandbox.seller().refresh_token,
                "lwa_app_id": sandbox.config.client_id,
                "lwa_client_secret": sandbox.config.client_secret,
            },
        },
    )


if __name__ == "__main__":
    sys.exit(main())
