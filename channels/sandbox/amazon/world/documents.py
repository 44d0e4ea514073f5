"""Documents on presigned URLs, and the feeds and reports that read and write them."""

from __future__ import annotations

import uuid

from channels.sandbox.amazon import feeds, reports

from .base import WorldBase
from .records import Document


class DocumentsMixin(WorldBase):
    def new_document(
        self, seller_id: str, kind: str, content_type: str, content: bytes | None = None
    ) -> Document:
        prefix = "amzn1.tortuga.4.na" if kind != "report" else "amzn1.spdoc.1.4.na"
        document = Document(
            document_id=f"{prefix}.{uuid.uuid4()}.T{uuid.uuid4().hex[:12].upper()}",
            token=uuid.uuid4().hex,
            kind=kind,
            seller_id=seller_id,
            content_type=content_type,
            created=self.now(),
            content=content,
            gzip=self.config.gzip_documents and kind != "feed_input",
        )
        self.documents[document.document_id] = document
        self.documents_by_token[document.token] = document
        return document

    def create_feed(self, seller_id: str, body: dict) -> tuple[int, dict]:
        return feeds.create_feed(self, seller_id, body)

    def create_report(self, seller_id: str, body: dict) -> tuple[int, dict]:
        return reports.create_report(self, seller_id, body)
