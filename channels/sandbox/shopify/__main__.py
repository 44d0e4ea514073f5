"""`python -m channels.sandbox.shopify --port 8701 [--seed-demo]`: the sandbox for the demo."""

from __future__ import annotations

import argparse
import sys

from channels.sandbox.common.server import serve_forever

from .model import SandboxConfig
from .server import build_server

DEMO_CATALOGUE = [
    {
        "sku": "TEE-BLK-M",
        "title": "Classic tee black M",
        "barcode": "0810000000011",
        "quantities": {"Main warehouse": 40, "SoHo store": 8},
    },
    {
        "sku": "TEE-BLK-L",
        "title": "Classic tee black L",
        "barcode": "0810000000028",
        "quantities": {"Main warehouse": 35, "SoHo store": 6},
    },
    {
        "sku": "HOODIE-GRY-M",
        "title": "Hoodie grey M",
        "barcode": "0810000000035",
        "quantities": {"Main warehouse": 12},
    },
    {
        "sku": "CAP-NAVY",
        "title": "Cap navy",
        "barcode": "0810000000042",
        "quantities": {"Main warehouse": 60, "SoHo store": 15},
    },
    {
        "sku": "SNEAKER-WHT-42",
        "title": "Sneaker white 42",
        "barcode": "0810000000059",
        "quantities": {"Main warehouse": 5},
    },
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m channels.sandbox.shopify")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8701)
    parser.add_argument("--shop-domain", default=SandboxConfig.shop_domain)
    parser.add_argument("--access-token", default=SandboxConfig.access_token)
    parser.add_argument("--seed-demo", action="store_true", help="load a small demo catalogue")
    parser.add_argument("--webhook-url", help="deliver webhooks to this URL")
    parser.add_argument("--webhook-secret", default="sandbox-webhook-secret")
    parser.add_argument("--shoppers", type=float, default=0.0, help="checkouts per second")
    parser.add_argument(
        "--order-id-offset",
        type=int,
        default=0,
        help="start order (and line, fulfilment, refund) ids this far on: a sandbox started "
        "again against the same database must not reuse an id",
    )
    args = parser.parse_args(argv)

    server, sandbox = build_server(
        args.host,
        args.port,
        shop_domain=args.shop_domain,
        access_token=args.access_token,
        order_id_offset=args.order_id_offset,
    )
    if args.seed_demo:
        sandbox.seed(DEMO_CATALOGUE, locations=["SoHo store"])
    if args.webhook_url:
        sandbox.subscribe_webhooks(args.webhook_url, args.webhook_secret)
    if args.shoppers:
        sandbox.start_shoppers(args.shoppers)
    url = f"http://{args.host}:{server.server_port}"
    return serve_forever(
        server,
        sandbox,
        {
            "url": url,
            "graphql": f"{url}/admin/api/{sandbox.config.api_version}/graphql.json",
            "control": f"{url}/_sandbox/",
            "shop_domain": sandbox.config.shop_domain,
            "access_token": sandbox.config.access_token,
        },
    )


if __name__ == "__main__":
    sys.exit(main())
