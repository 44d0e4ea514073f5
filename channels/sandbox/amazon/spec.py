"""Request and response validation against Amazon's official SP-API models (Swagger 2.0).

The sandbox answers only what the real API would accept: every request is matched to its
operation by path template and checked against the declared parameters and body schema, and the
sandbox's own answers can be checked against the declared response schemas. The models are the
byte-for-byte copies in `data/models/` (Apache-2.0, amzn/selling-partner-api-models).

What python-amazon-sp-api adds on top of a request is tolerated, as the real API tolerates it:
unknown query keys (`MarketplaceId`, `marketplace_ids`, ...) and unknown body keys (`path`,
`MarketplaceIds`) are ignored, array parameters arrive as CSV or as repeated keys.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft4Validator, Draft7Validator, FormatChecker

DATA_DIR = Path(__file__).with_name("data")
MODELS_DIR = DATA_DIR / "models"
HTTP_METHODS = ("get", "put", "post", "delete", "patch")

# RFC 3339 date-time as Amazon writes it; seconds and the offset are optional on input because
# Amazon documents "ISO 8601" and clients (python-amazon-sp-api's isoformat()) leave them out.
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}:?\d{2})?)?$"
)
_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # a type error, reported by "type"
    if not _DATE_TIME.match(value):
        raise ValueError(f"{value!r} is not an ISO 8601 date-time")
    return True


def is_date_time(value: str) -> bool:
    return bool(_DATE_TIME.match(value))


@dataclass(frozen=True)
class Operation:
    """One operation of one model: `operation_id` is Amazon's (not unique across models:
    `getOrder` exists in Orders v0 and 2026-01-01); `key` is `<model>.<operationId>`."""

    model: str
    operation_id: str
    method: str
    path_template: str
    parameters: tuple[dict, ...]
    responses: dict
    deprecated: bool
    definitions: dict = field(repr=False, compare=False, hash=False)

    @property
    def key(self) -> str:
        return f"{self.model}.{self.operation_id}"

    @functools.cached_property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path_template.strip("/").split("/"))

    def param(self, location: str) -> list[dict]:
        return [p for p in self.parameters if p.get("in") == location]


@dataclass(frozen=True)
class Match:
    """A concrete request path resolved to its operation, with decoded path parameters."""

    operation: Operation
    path_params: dict[str, str]

    @property
    def operation_id(self) -> str:
        return self.operation.operation_id

    @property
    def key(self) -> str:
        return self.operation.key


class Spec:
    """All operations of the bundled models, indexed for path matching."""

    def __init__(self, models_dir: Path = MODELS_DIR) -> None:
        self.operations: list[Operation] = []
        for path in sorted(models_dir.glob("*.json")):
            self._load(path.stem, json.loads(path.read_text(encoding="utf-8")))
        self._validators: dict[tuple[str, str], Draft4Validator] = {}

    def _load(self, model: str, document: dict) -> None:
        base = (document.get("basePath") or "").rstrip("/")
        definitions = document.get("definitions", {})
        for template, item in document.get("paths", {}).items():
            shared = item.get("parameters", []) if isinstance(item, dict) else []
            for method, op in item.items():
                if method not in HTTP_METHODS:
                    continue  # path-level "parameters" and "x-amzn-api-sandbox" blocks
                # Operation-level parameters override path-level ones with the same name+in.
                own = {(p.get("name"), p.get("in")) for p in op.get("parameters", [])}
                params = [p for p in shared if (p.get("name"), p.get("in")) not in own]
                params += op.get("parameters", [])
                self.operations.append(
                    Operation(
                        model=model,
                        operation_id=op["operationId"],
                        method=method.upper(),
                        path_template=base + template,
                        parameters=tuple(params),
                        responses=op.get("responses", {}),
                        deprecated=bool(op.get("deprecated", False)),
                        definitions=definitions,
                    )
                )

    # lookup ------------------------------------------------------------------------------------
    def match(self, method: str, path: str) -> Match | None:
        """`path` as sent on the wire (percent-encoded segments are decoded here, after the split,
        so a SKU containing `/` sent as `%2F` stays one segment)."""
        raw = path.split("?", 1)[0]
        segments = raw.strip("/").split("/")
        best: Match | None = None
        best_literals = -1
        for op in self.operations:
            if op.method != method.upper() or len(op.segments) != len(segments):
                continue
            params: dict[str, str] = {}
            literals = 0
            for pattern, actual in zip(op.segments, segments, strict=True):
                if pattern.startswith("{") and pattern.endswith("}"):
                    if not actual:
                        break
                    params[pattern[1:-1]] = unquote(actual)
                elif pattern == actual:
                    literals += 1
                else:
                    break
            else:
                # A literal segment beats a template one: /items/inventory over /items/{sku}.
                if literals > best_literals:
                    best, best_literals = Match(op, params), literals
        return best

    def find(self, operation: str | Operation) -> Operation:
        """By `Operation`, by key (`orders_2026-01-01.getOrder`) or by bare operationId; a bare
        id shared by several models means the non-deprecated one."""
        if isinstance(operation, Operation):
            return operation
        candidates = [op for op in self.operations if operation in (op.key, op.operation_id)]
        if not candidates:
            raise KeyError(f"unknown operation {operation!r}")
        candidates.sort(key=lambda op: (op.deprecated, op.key != operation))
        return candidates[0]

    # validation --------------------------------------------------------------------------------
    def validator(self, op: Operation, schema: dict) -> Draft4Validator:
        key = (op.model, json.dumps(schema, sort_keys=True))
        validator = self._validators.get(key)
        if validator is None:
            # "$ref": "#/definitions/X" resolves against the root, so the definitions ride along.
            root = {"allOf": [schema], "definitions": op.definitions}
            validator = Draft4Validator(root, format_checker=_FORMATS)
            self._validators[key] = validator
        return validator

    def validate_request(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: object | None,
        headers: dict[str, str] | None = None,
    ) -> list[str]:
        match = self.match(method, path)
        if match is None:
            return [f"no operation for {method.upper()} {path}"]
        op = match.operation
        problems: list[str] = []
        for param in op.param("path"):
            name = param["name"]
            value = match.path_params.get(name)
            if value is None or value == "":
                problems.append(f"path parameter {name!r} is required")
            else:
                problems += _check_scalar(f"path parameter {name!r}", value, param)
        for param in op.param("query"):
            problems += _check_query(param, query.get(param["name"]))
        if headers is not None:
            lowered = {k.lower(): v for k, v in headers.items()}
            for param in op.param("header"):
                value = lowered.get(param["name"].lower())
                if value is None:
                    if param.get("required"):
                        problems.append(f"header {param['name']!r} is required")
                else:
                    problems += _check_scalar(f"header {param['name']!r}", value, param)
        body_params = op.param("body")
        if body_params:
            param = body_params[0]
            if body is None:
                if param.get("required"):
                    problems.append("a JSON request body is required")
            else:
                validator = self.validator(op, param["schema"])
                problems += [f"body: {_describe(error)}" for error in _errors(validator, body)]
        return problems

    def validate_response(
        self, operation: str | Operation, status: int | str, body: object | None
    ) -> list[str]:
        op = self.find(operation)
        declared = op.responses.get(str(status)) or op.responses.get("default")
        if declared is None:
            return [f"{op.key} does not declare HTTP {status}"]
        schema = declared.get("schema")
        if schema is None:
            if body not in (None, b"", "", {}):
                return [f"{op.key} HTTP {status} declares no body but one was sent"]
            return []
        if body is None:
            return [f"{op.key} HTTP {status} declares a body but none was sent"]
        validator = self.validator(op, schema)
        return [f"response: {_describe(error)}" for error in _errors(validator, body)]


def _errors(validator: Draft4Validator | Draft7Validator, instance: object) -> list:
    return sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))


def _describe(error: Any) -> str:
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{where or '<root>'}: {error.message}"


def _split_array(values: list[str], param: dict) -> list[str]:
    # Swagger 2.0's default collectionFormat is csv; "multi" means repeated keys. Clients send
    # either (python-amazon-sp-api: CSV for normalized params, repeated keys otherwise), so both
    # are accepted whatever the model declares, as Amazon's gateway does.
    items: list[str] = []
    for value in values:
        if param.get("collectionFormat") == "multi":
            items.append(value)
        else:
            items += value.split(",") if value != "" else []
    return items


def _check_query(param: dict, values: list[str] | None) -> list[str]:
    name = param["name"]
    label = f"query parameter {name!r}"
    if not values:
        return [f"{label} is required"] if param.get("required") else []
    if param.get("type") == "array":
        items = _split_array(values, param)
        problems = []
        if "minItems" in param and len(items) < param["minItems"]:
            problems.append(f"{label} needs at least {param['minItems']} item(s)")
        if "maxItems" in param and len(items) > param["maxItems"]:
            problems.append(f"{label} allows at most {param['maxItems']} item(s)")
        if param.get("required") and not items:
            problems.append(f"{label} is required")
        item_schema = param.get("items", {})
        for item in items:
            problems += _check_scalar(label, item, item_schema)
        return problems
    if len(values) > 1:
        return [f"{label} is given {len(values)} times"]
    return _check_scalar(label, values[0], param)


def _check_scalar(label: str, raw: str, schema: dict) -> list[str]:
    kind = schema.get("type", "string")
    value: Any = raw
    if kind == "integer":
        try:
            value = int(raw)
        except ValueError:
            return [f"{label}: {raw!r} is not an integer"]
    elif kind == "number":
        try:
            value = float(raw)
        except ValueError:
            return [f"{label}: {raw!r} is not a number"]
    elif kind == "boolean":
        if raw not in ("true", "false"):
            return [f"{label}: {raw!r} is not a boolean (true or false)"]
        return []
    problems = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{label}: {raw!r} is not one of {schema['enum']}")
    if "minimum" in schema and isinstance(value, int | float) and value < schema["minimum"]:
        problems.append(f"{label}: {raw} is less than the minimum of {schema['minimum']}")
    if "maximum" in schema and isinstance(value, int | float) and value > schema["maximum"]:
        problems.append(f"{label}: {raw} is greater than the maximum of {schema['maximum']}")
    if schema.get("format") == "date-time" and isinstance(value, str) and not is_date_time(value):
        problems.append(f"{label}: {raw!r} is not an ISO 8601 date-time")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        problems.append(f"{label}: {raw!r} does not match {schema['pattern']!r}")
    if "maxLength" in schema and isinstance(value, str) and len(value) > schema["maxLength"]:
        problems.append(f"{label} is longer than {schema['maxLength']} characters")
    if "minLength" in schema and isinstance(value, str) and len(value) < schema["minLength"]:
        problems.append(f"{label} is shorter than {schema['minLength']} characters")
    return problems


# JSON Schemas shipped next to the models (feeds and notifications, draft-07) ---------------------
@functools.cache
def json_schema(relative: str) -> Draft7Validator:
    schema = json.loads((DATA_DIR / relative).read_text(encoding="utf-8"))
    return Draft7Validator(schema, format_checker=_FORMATS)


def validate_json(relative: str, instance: object) -> list[str]:
    """Problems of `instance` against a bundled JSON Schema, e.g. `feeds/listings-feed-schema-v2.json`."""
    return [_describe(error) for error in _errors(json_schema(relative), instance)]


# module-level API (one shared, lazily built Spec) -------------------------------------------------
@functools.cache
def spec() -> Spec:
    return Spec()


def operation_for(method: str, path: str) -> Match | None:
    """The operation a concrete request path belongs to (with its decoded path parameters)."""
    return spec().match(method, path)


def validate_request(
    method: str,
    path: str,
    query: dict[str, list[str]],
    body: object | None,
    headers: dict[str, str] | None = None,
) -> list[str]:
    """Problems with a request against its official model; empty when it is valid."""
    return spec().validate_request(method, path, query, body, headers)


def validate_response(operation_id: str | Operation, status: int | str, body: object | None):
    """Problems with an answer against the declared response of `operation_id` (a bare id, or
    `<model>.<operationId>` where a bare id is ambiguous, e.g. `ordersV0.getOrder`)."""
    return spec().validate_response(operation_id, status, body)
