"""LOG_FORMAT=json: one JSON object a line, with the ids a log call passes as keys."""

from __future__ import annotations

import io
import json
import logging
import logging.config

from django.conf import settings


def test_a_log_line_is_json_with_the_ids_it_names():
    # The formatter exactly as settings.LOGGING defines it for LOG_FORMAT=json.
    configurator = logging.config.DictConfigurator(settings.LOGGING)
    formatter = configurator.configure_formatter(dict(settings.LOGGING["formatters"]["json"]))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("tests.json-logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "channel listing %s: %s", 7, "refused", extra={"listing_id": 7, "channel_id": 2}
        )
    finally:
        logger.removeHandler(handler)

    line = json.loads(stream.getvalue())
    assert line["message"] == "channel listing 7: refused"
    assert (line["level"], line["logger"]) == ("WARNING", "tests.json-logs")
    assert (line["listing_id"], line["channel_id"]) == (7, 2)
    assert line["time"]
