"""python-amazon-sp-api's API classes, pointed at our endpoint and giving back raw answers.

Requests are built and sent by the library's own API classes, subclassed so that `endpoint` is
ours, the Host header is right for `http://` endpoints (the library cuts 8 characters off the
endpoint), and the raw HTTP answer comes back to us: the library's `ApiResponse` has no status
code and an error status without an `errors` body does not raise. Where a library method sends
something the model does not declare, the same path is called through the library's generic
`_request` with exactly the model's parameters.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
from sp_api.api import (
    FeedsV20210630,
    Inventories,
    ListingsItemsV20210801,
    OrdersV0,
    OrdersV20260101,
    Reports,
)
from sp_api.base import Marketplaces, fill_query_params, sp_endpoint

from .errors import BadAnswer

USER_AGENT = "inventory-sync/0.1 (Language=Python; python-amazon-sp-api)"


class HttpFailure(Exception):
    """A non-2xx answer, raised from inside the library before it can parse it away."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class Reply:
    """A 2xx answer as it came."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status = response.status_code
        self.headers = response.headers
        self.body = response.content

    def json(self) -> Any:
        if not self.body:
            raise BadAnswer(f"HTTP {self.status} with an empty body")
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise BadAnswer(f"HTTP {self.status} with a body that is not JSON") from exc


class _Pointed:
    """Mixin for a library API class: our endpoint, a correct Host header, raw answers."""

    endpoint: str
    marketplace_id: str

    @property
    def headers(self) -> dict[str, str]:
        headers = super().headers  # type: ignore[misc]
        # The library sets host = endpoint[8:], which assumes "https://".
        headers["host"] = urlsplit(self.endpoint).netloc
        headers["user-agent"] = USER_AGENT
        return headers

    def _check_response(
        self,
        res: httpx.Response,
        res_no_data: bool = False,
        bulk: bool = False,
        wrap_list: bool = False,
    ) -> Reply:
        if not 200 <= res.status_code < 300:
            raise HttpFailure(res)
        return Reply(res)


class ListingsApi(_Pointed, ListingsItemsV20210801):
    pass


class FeedsApi(_Pointed, FeedsV20210630):
    # The library's create_feed/create_feed_document put `path` and two marketplace keys into
    # the body; these send exactly CreateFeedDocumentSpecification / CreateFeedSpecification.
    @sp_endpoint("/feeds/2021-06-30/documents", method="POST")
    def create_document(self, content_type: str, **kwargs: Any) -> Reply:
        return self._request(
            kwargs.pop("path"),
            params=kwargs,
            data={"contentType": content_type},
            add_marketplace=False,
        )

    @sp_endpoint("/feeds/2021-06-30/feeds", method="POST")
    def create_feed_exactly(
        self, feed_type: str, input_feed_document_id: str, **kwargs: Any
    ) -> Reply:
        return self._request(
            kwargs.pop("path"),
            params=kwargs,
            data={
                "feedType": feed_type,
                "marketplaceIds": [self.marketplace_id],
                "inputFeedDocumentId": input_feed_document_id,
            },
            add_marketplace=False,
        )

    # The library's get_feed_document downloads too (no timeout, Latin-1); we want the URL.
    @sp_endpoint("/feeds/2021-06-30/documents/{}", method="GET")
    def feed_document(self, feed_document_id: str, **kwargs: Any) -> Reply:
        return self._request(
            fill_query_params(kwargs.pop("path"), feed_document_id),
            params=kwargs,
            add_marketplace=False,
        )


class OrdersApi(_Pointed, OrdersV20260101):
    pass


class OrdersV0Api(_Pointed, OrdersV0):
    pass


class InventoryApi(_Pointed, Inventories):
    pass


class ReportsApi(_Pointed, Reports):
    # The library's get_report adds four marketplace query keys getReport does not declare.
    @sp_endpoint("/reports/2021-06-30/reports/{}", method="GET")
    def report_exactly(self, report_id: str, **kwargs: Any) -> Reply:
        return self._request(
            fill_query_params(kwargs.pop("path"), report_id),
            params=kwargs,
            add_marketplace=False,
        )


def marketplace_enum(marketplace_id: str) -> Marketplaces:
    for member in Marketplaces:
        if member.marketplace_id == marketplace_id:
            return member
    return Marketplaces.US  # only its endpoint is used by the library, and we replace it
