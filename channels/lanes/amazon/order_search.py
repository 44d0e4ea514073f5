"""The orders of one searchOrders query, read page by page as the caller iterates."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .values import OrdersPage


class OrderSearch(Iterator[dict[str, Any]]):
    """The orders of one searchOrders query, page after page (filters repeated with the
    paginationToken), each page read by `read_page(params)`. `last_updated_before` is Amazon's
    window end once a page was read."""

    def __init__(
        self, read_page: Callable[[Mapping[str, Any]], OrdersPage], params: Mapping[str, Any]
    ) -> None:
        self._read_page = read_page
        self._params = dict(params)
        self._buffer: list[dict[str, Any]] = []
        self._token: str | None = None
        self._started = False
        self._seen: set[str] = set()
        self.last_updated_before: str | None = None
        self.pages = 0

    def __iter__(self) -> OrderSearch:
        return self

    def __next__(self) -> dict[str, Any]:
        while not self._buffer:
            if self._started and not self._token:
                raise StopIteration
            params = dict(self._params)
            if self._token:
                params["paginationToken"] = self._token
            page = self._read_page(params)
            self._started = True
            self.pages += 1
            self.last_updated_before = page.last_updated_before or self.last_updated_before
            token = page.next_token
            # A token seen before would loop forever: stop instead.
            self._token = token if token and token not in self._seen else None
            if token:
                self._seen.add(token)
            self._buffer = list(page.orders)
        return self._buffer.pop(0)
