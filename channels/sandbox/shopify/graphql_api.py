"""One Admin GraphQL request, from raw body to answer: auth, parse, validate, price, throttle,
execute, and the injected faults around it.

Order of checks follows Shopify: token (HTTP 401), body (HTTP 400), then everything else is
HTTP 200 with top-level `errors` (syntax and validation errors, MAX_COST_EXCEEDED, THROTTLED)
and `extensions.cost` on every GraphQL answer.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    execute_sync,
    get_operation_ast,
    parse,
    validate,
    value_from_ast_untyped,
)

from .cost import CostCalculator
from .faults import Fault
from .model import ShopifySandbox
from .resolvers import RequestContext, field_resolver
from .schema import admin_schema

THROTTLE_DOCS = "https://shopify.dev/api/usage/rate-limits"
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
PRE_EXECUTION_FAULTS = (
    "throttled",
    "http_429",
    "http_500",
    "http_502",
    "http_503",
    "internal_error",
)


@dataclass
class Answer:
    status: int
    body: Any  # dict -> JSON, str -> HTML/text
    headers: dict[str, str] = field(default_factory=dict)
    sleep_seconds: float = 0.0
    drop_connection: bool = False
    log: dict = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        if isinstance(self.body, str):
            return "text/html; charset=utf-8"
        return "application/json; charset=utf-8"


def _cost(requested: int, actual: int | None, sandbox: ShopifySandbox) -> dict:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": sandbox.bucket.status().as_json(),
        }
    }


def _throttled_body(requested: int, sandbox: ShopifySandbox) -> dict:
    return {
        "errors": [
            {
                "message": "Throttled",
                "extensions": {"code": "THROTTLED", "documentation": THROTTLE_DOCS},
            }
        ],
        "extensions": _cost(requested, None, sandbox),
    }


def _internal_error_body(sandbox: ShopifySandbox, request_id: str) -> dict:
    return {
        "errors": [
            {
                "message": "Internal error. Looks like something went wrong on our end.\n"
                f"Request ID: {request_id} (include this in support requests).",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
            }
        ],
        "extensions": _cost(0, None, sandbox),
    }


_GATEWAY_PAGES = {
    502: "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>"
    "</body></html>",
    503: "<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body>"
    "<h1>There was a problem loading this website</h1><p>Please try again later.</p>"
    "</body></html>",
}

_UNDEFINED_FIELD = re.compile(r"^Cannot query field '([^']+)' on type '([^']+)'\.")
_UNKNOWN_ARGUMENT = re.compile(r"^Unknown argument '([^']+)' on field '([^'.]+)\.([^']+)'\.")


def format_validation_error(error: GraphQLError) -> dict:
    """graphql-core's wording, recast like Shopify's graphql-ruby for the two common cases."""
    formatted = dict(error.formatted)
    if match := _UNDEFINED_FIELD.match(error.message):
        name, type_name = match.groups()
        formatted["message"] = f"Field '{name}' doesn't exist on type '{type_name}'"
        formatted["extensions"] = {
            "code": "undefinedField",
            "typeName": type_name,
            "fieldName": name,
        }
    elif match := _UNKNOWN_ARGUMENT.match(error.message):
        argument, type_name, name = match.groups()
        formatted["message"] = f"Field '{name}' doesn't accept argument '{argument}'"
        formatted["extensions"] = {
            "code": "argumentNotAccepted",
            "name": name,
            "typeName": "Field",
            "argumentName": argument,
        }
    else:
        formatted.setdefault("extensions", {"code": "GRAPHQL_VALIDATION_FAILED"})
    return formatted


def _root_field_names(operation: OperationDefinitionNode, fragments: dict) -> list[str]:
    names: list[str] = []

    def walk(selection_set) -> None:
        for selection in selection_set.selections:
            kind = selection.kind
            if kind == "field":
                names.append(selection.name.value)
            elif kind == "inline_fragment":
                walk(selection.selection_set)
            elif kind == "fragment_spread" and selection.name.value in fragments:
                walk(fragments[selection.name.value].selection_set)

    walk(operation.selection_set)
    return names


def handle_graphql(
    sandbox: ShopifySandbox,
    *,
    version: str,
    token: str | None,
    raw_body: bytes,
    content_type: str = "application/json",
) -> Answer:
    started = time.perf_counter()
    request_id = str(uuid.uuid4())
    log: dict[str, Any] = {"version": version, "operation_name": None, "root_fields": []}
    answer = _handle(sandbox, version, token, raw_body, content_type, request_id, log)
    answer.headers.setdefault("X-Shopify-API-Version", version)
    answer.headers.setdefault("X-Request-Id", request_id)
    log.update(
        status=answer.status,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        request_id=request_id,
    )
    answer.log = log
    return answer


def _handle(
    sandbox: ShopifySandbox,
    version: str,
    token: str | None,
    raw_body: bytes,
    content_type: str,
    request_id: str,
    log: dict,
) -> Answer:
    if token != sandbox.config.access_token:
        log["outcome"] = "unauthorized"
        return Answer(401, {"errors": INVALID_TOKEN})
    body = _read_body(raw_body, content_type)
    if body is None:
        log["outcome"] = "bad_request"
        return Answer(400, {"errors": {"query": "Required parameter missing or invalid"}})
    query, variables, operation_name = body
    log["operation_name"] = operation_name
    parsed = _parse(sandbox, query, variables, operation_name, log)
    if isinstance(parsed, Answer):
        return parsed

    faults = {f.kind: f for f in sandbox.faults.take((log["operation_name"], *parsed.root_fields))}
    log["faults"] = sorted(faults)
    requested = CostCalculator(
        parsed.schema, parsed.operation, parsed.fragments, variables
    ).requested()
    log["requested_cost"] = requested
    refused = _refuse_before_execution(sandbox, faults, requested, request_id, log)
    if refused is not None:
        return refused
    return _execute(sandbox, parsed, faults, requested, request_id, log)


@dataclass
class _Parsed:
    """A request's document once parsed and validated, with the operation to run."""

    schema: GraphQLSchema
    document: DocumentNode
    operation: OperationDefinitionNode
    operation_name: str | None
    fragments: dict[str, FragmentDefinitionNode]
    root_fields: list[str]
    variables: dict


def _read_body(raw_body: bytes, content_type: str) -> tuple[str, dict, str | None] | None:
    """(query, variables, operationName) of the request; None when the body has no query."""
    # Shopify also takes a bare document with Content-Type application/graphql.
    if content_type.startswith("application/graphql"):
        body: dict = {"query": raw_body.decode("utf-8", "replace")}
    else:
        try:
            body = json.loads(raw_body or b"{}")
        except ValueError:
            body = {}
    query = body.get("query") if isinstance(body, dict) else None
    variables = body.get("variables") if isinstance(body, dict) else None
    operation_name = body.get("operationName") if isinstance(body, dict) else None
    if not isinstance(query, str) or not query.strip() or not isinstance(variables, dict | None):
        return None
    return query, variables or {}, operation_name


def _parse(
    sandbox: ShopifySandbox, query: str, variables: dict, operation_name: str | None, log: dict
) -> _Parsed | Answer:
    """The validated document, or the HTTP 200 answer with the syntax or validation errors."""
    schema = admin_schema()
    try:
        document = parse(query)
    except GraphQLSyntaxError as exc:
        log["outcome"] = "syntax_error"
        return Answer(200, {"errors": [dict(exc.formatted)], "extensions": _cost(0, None, sandbox)})
    errors = validate(schema, document)
    if errors:
        log["outcome"] = "validation_error"
        return Answer(
            200,
            {
                "errors": [format_validation_error(e) for e in errors],
                "extensions": _cost(0, None, sandbox),
            },
        )
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        log["outcome"] = "validation_error"
        message = (
            f"No operation named '{operation_name}'"
            if operation_name
            else "An operation name is required when the document has several operations."
        )
        return Answer(
            200,
            {
                "errors": [{"message": message, "extensions": {"code": "OPERATION_NOT_FOUND"}}],
                "extensions": _cost(0, None, sandbox),
            },
        )
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root_fields = _root_field_names(operation, fragments)
    log.update(
        operation_name=operation_name or (operation.name.value if operation.name else None),
        operation_type=operation.operation.value,
        root_fields=root_fields,
    )
    return _Parsed(schema, document, operation, operation_name, fragments, root_fields, variables)


def _pre_execution_fault(faults: dict[str, Fault]) -> Fault | None:
    return next((faults[k] for k in PRE_EXECUTION_FAULTS if k in faults), None)


def _refuse_before_execution(
    sandbox: ShopifySandbox,
    faults: dict[str, Fault],
    requested: int,
    request_id: str,
    log: dict,
) -> Answer | None:
    """The answers given without running the document: injected faults that act before it,
    a query over the single-query limit, and an empty cost bucket."""
    drop = faults.get("drop_connection")
    if drop is not None and not drop.apply:
        log["outcome"] = "dropped"
        return Answer(200, {}, drop_connection=True)
    slow = faults.get("slow")
    if slow is not None and not slow.apply:
        # The write lands late, typically after the client has already given up.
        time.sleep(slow.seconds)
    pre = _pre_execution_fault(faults)
    if pre is not None and not pre.apply:
        return _fault_answer(pre, sandbox, requested, request_id, log, faults)

    max_cost = sandbox.config.max_query_cost
    if requested > max_cost:
        log["outcome"] = "max_cost_exceeded"
        return Answer(
            200,
            {
                "errors": [
                    {
                        "message": f"Query cost is {requested}, which exceeds the single query "
                        f"max cost limit ({max_cost}).",
                        "extensions": {
                            "code": "MAX_COST_EXCEEDED",
                            "cost": requested,
                            "maxCost": max_cost,
                            "documentation": THROTTLE_DOCS,
                        },
                    }
                ],
                "extensions": _cost(requested, None, sandbox),
            },
        )
    if not sandbox.bucket.try_debit(requested):
        log["outcome"] = "throttled"
        status = sandbox.config.throttle_http_status
        headers = {}
        if status == 429:
            headers["Retry-After"] = f"{max(1.0, sandbox.bucket.seconds_until(requested)):.1f}"
        return Answer(status, _throttled_body(requested, sandbox), headers)
    return None


def _execute(
    sandbox: ShopifySandbox,
    parsed: _Parsed,
    faults: dict[str, Fault],
    requested: int,
    request_id: str,
    log: dict,
) -> Answer:
    """Run the document under the shop's lock, refund the unused cost, and answer (or, with a
    fault that acts after execution, hide the answer behind the failure)."""
    context = RequestContext(
        sandbox=sandbox,
        variables=_with_defaults(parsed.operation, parsed.variables),
        lost_write="lost_write" in faults,
    )
    with sandbox.lock:
        result = execute_sync(
            parsed.schema,
            parsed.document,
            context_value=context,
            variable_values=parsed.variables,
            operation_name=parsed.operation_name,
            field_resolver=field_resolver,
        )
    actual = min(context.actual_cost, requested)
    sandbox.bucket.refund(requested - actual)
    log.update(actual_cost=actual, notes=list(context.notes))

    payload: dict[str, Any] = {}
    if result.errors:
        payload["errors"] = [dict(e.formatted) for e in result.errors]
    if result.data is not None:
        payload["data"] = result.data
    payload["extensions"] = _cost(requested, actual, sandbox)
    log["outcome"] = "errors" if result.errors else "ok"
    if result.data is not None and _has_user_errors(result.data):
        log["outcome"] = "user_errors"

    pre = _pre_execution_fault(faults)
    if pre is not None:
        # The request ran, but the client only sees the failure: the nastiest kind of 5xx.
        return _fault_answer(pre, sandbox, requested, request_id, log, faults)
    answer = Answer(200, payload)
    slow = faults.get("slow")
    if slow is not None and slow.apply:
        answer.sleep_seconds = slow.seconds
    if "drop_connection" in faults:
        answer.drop_connection = True
        log["outcome"] = "dropped"
    return answer


def _fault_answer(
    fault: Fault,
    sandbox: ShopifySandbox,
    requested: int,
    request_id: str,
    log: dict,
    faults: dict[str, Fault],
) -> Answer:
    log["outcome"] = f"fault:{fault.kind}"
    if fault.kind == "throttled":
        answer = Answer(200, _throttled_body(requested, sandbox))
    elif fault.kind == "http_429":
        answer = Answer(
            429,
            _throttled_body(requested, sandbox),
            {"Retry-After": f"{fault.retry_after:.1f}"},
        )
    elif fault.kind == "http_500":
        answer = Answer(500, _internal_error_body(sandbox, request_id))
    elif fault.kind == "internal_error":
        answer = Answer(200, _internal_error_body(sandbox, request_id))
    else:
        status = int(fault.kind.removeprefix("http_"))
        answer = Answer(status, _GATEWAY_PAGES[status])
    if "slow" in faults and faults["slow"].apply:
        answer.sleep_seconds = faults["slow"].seconds
    return answer


def _has_user_errors(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    for value in data.values():
        if isinstance(value, dict) and (
            value.get("userErrors") or value.get("orderCancelUserErrors")
        ):
            return True
    return False


def _with_defaults(operation: OperationDefinitionNode, variables: dict) -> dict:
    merged = dict(variables)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in merged and definition.default_value is not None:
            merged[name] = value_from_ast_untyped(definition.default_value)
    return merged
