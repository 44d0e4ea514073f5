"""The GraphQL documents the Shopify client sends (one named operation per file in `graphql/`)
and what each costs by Shopify's published rules, so pages stay under the per-query cap."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
)
from graphql.utilities import value_from_ast_untyped

DOCUMENTS_DIR = Path(__file__).with_name("graphql")
# Shopify rejects any single query whose requested cost exceeds 1000 (MAX_COST_EXCEEDED). Our
# estimate follows the published rules but is not Shopify's own, so pages aim below it.
MAX_QUERY_COST = 1000
COST_TARGET = 900


@dataclass(frozen=True, slots=True)
class Document:
    name: str
    text: str
    operation_name: str
    operation: OperationDefinitionNode
    fragments: Mapping[str, FragmentDefinitionNode]


def document_names() -> list[str]:
    return sorted(p.stem for p in DOCUMENTS_DIR.glob("*.graphql"))


@functools.cache
def load_document(name: str) -> Document:
    text = (DOCUMENTS_DIR / f"{name}.graphql").read_text(encoding="utf-8")
    ast: DocumentNode = parse(text)
    operations = [d for d in ast.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].name is None:
        raise ValueError(f"{name}.graphql must hold exactly one named operation")
    fragments = {d.name.value: d for d in ast.definitions if isinstance(d, FragmentDefinitionNode)}
    return Document(name, text, operations[0].name.value, operations[0], fragments)


def estimate_cost(document: Document, variables: Mapping[str, Any]) -> int:
    """Requested cost by Shopify's published rules: scalars 0, objects 1, connections
    2 + first × node, `nodes(ids:)` one node per id, interfaces the dearest branch, mutations 10.

    Used to reserve budget before sending and to size pages below the 1000-point cap.
    """

    def argument(node: FieldNode, name: str) -> Any:
        for arg in node.arguments or ():
            if arg.name.value == name:
                return value_from_ast_untyped(arg.value, dict(variables))
        return None

    def selection(sel: SelectionSetNode | None) -> int:
        if sel is None:
            return 0
        plain, branches = 0, [0]
        for item in sel.selections:
            if isinstance(item, FieldNode):
                plain += field_cost(item)
            elif isinstance(item, InlineFragmentNode):
                branches.append(selection(item.selection_set))
            elif isinstance(item, FragmentSpreadNode):
                branches.append(selection(document.fragments[item.name.value].selection_set))
        return plain + max(branches)

    def per_node(connection: SelectionSetNode) -> int:
        cost = 0
        for item in connection.selections:
            if not isinstance(item, FieldNode) or item.selection_set is None:
                continue
            if item.name.value == "nodes":
                cost = max(cost, 1 + selection(item.selection_set))
            elif item.name.value == "edges":
                for inner in item.selection_set.selections:
                    if isinstance(inner, FieldNode) and inner.name.value == "node":
                        cost = max(cost, 1 + selection(inner.selection_set))
        return cost

    def field_cost(node: FieldNode) -> int:
        if node.selection_set is None or node.name.value == "pageInfo":
            return 0
        size = argument(node, "first") or argument(node, "last")
        if isinstance(size, int):
            return 2 + size * per_node(node.selection_set)
        ids = argument(node, "ids")
        if isinstance(ids, list):
            return len(ids) * (1 + selection(node.selection_set))
        return 1 + selection(node.selection_set)

    op = document.operation
    if op.operation == OperationType.MUTATION:
        fields = [f for f in op.selection_set.selections if isinstance(f, FieldNode)]
        return sum(10 + selection(f.selection_set) for f in fields)
    return selection(op.selection_set)


def largest_batch(
    document: Document, make_variables: Callable[[int], Mapping[str, Any]], ceiling: int
) -> int:
    """The biggest n ≤ ceiling whose estimated cost stays under COST_TARGET (cost is linear)."""
    one = estimate_cost(document, make_variables(1))
    two = estimate_cost(document, make_variables(2))
    slope = max(1, two - one)
    fixed = one - slope
    return max(1, min(ceiling, (COST_TARGET - fixed) // slope))
