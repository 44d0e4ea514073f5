"""Requested query cost, the way Shopify prices a document before running it.

Rules (shopify.dev "rate limits"): scalars and enums cost 0, objects 1, a connection costs 2
plus `first`/`last` times the cost of one node, each mutation field costs 10. Interface and
union selections cost the most expensive of their type-specific fragments. The actual cost is
counted while resolving (see `graphql_api`), from the objects really returned.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    value_from_ast_untyped,
)

MUTATION_FIELD_COST = 10


def _is_connection(type_name: str) -> bool:
    return type_name.endswith("Connection")


class CostCalculator:
    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments = fragments
        self.variables = dict(variables)
        # A variable the client did not send still has its declared default.
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.variables and definition.default_value is not None:
                self.variables[name] = value_from_ast_untyped(definition.default_value)

    def requested(self) -> int:
        if self.operation.operation == OperationType.MUTATION:
            return MUTATION_FIELD_COST * len(list(self._fields(self.operation.selection_set)))
        root = self.schema.query_type
        return self._selection_cost(self.operation.selection_set, root)

    def _argument(self, field: FieldNode, name: str) -> Any:
        for argument in field.arguments or ():
            if argument.name.value != name:
                continue
            value = argument.value
            if isinstance(value, VariableNode):
                return self.variables.get(value.name.value)
            if isinstance(value, NullValueNode):
                return None
            if isinstance(value, ListValueNode):
                return [value_from_ast_untyped(v, self.variables) for v in value.values]
            return value_from_ast_untyped(value, self.variables)
        return None

    def _fields(self, selection_set: SelectionSetNode | None):
        """Every field of a selection set with fragments flattened, ignoring type conditions."""
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                yield from self._fields(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    yield from self._fields(fragment.selection_set)

    def _selection_cost(self, selection_set: SelectionSetNode | None, parent) -> int:
        if selection_set is None:
            return 0
        common = 0
        per_type: dict[str, int] = {}
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                common += self._field_cost(selection, parent)
                continue
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = selection.selection_set
            else:
                fragment = self.fragments.get(selection.name.value)
                if fragment is None:
                    continue
                condition = fragment.type_condition
                inner = fragment.selection_set
            target = self.schema.get_type(condition.name.value) if condition else parent
            cost = self._selection_cost(inner, target or parent)
            if target is None or target is parent:
                common += cost
            else:
                per_type[target.name] = per_type.get(target.name, 0) + cost
        return common + max(per_type.values(), default=0)

    def _field_cost(self, field: FieldNode, parent) -> int:
        name = field.name.value
        fields = getattr(parent, "fields", None)
        if name.startswith("__") or not fields or name not in fields:
            return 0
        return_type = fields[name].type
        named = get_named_type(return_type)
        if is_leaf_type(named):
            return 0
        if _is_connection(named.name):
            size = self._argument(field, "first") or self._argument(field, "last") or 0
            return 2 + int(size) * self._connection_node_cost(field.selection_set, named)
        children = self._selection_cost(field.selection_set, named)
        unwrapped = return_type.of_type if is_non_null_type(return_type) else return_type
        if is_list_type(unwrapped):
            ids = self._argument(field, "ids")
            if isinstance(ids, list):
                return len(ids) * (1 + children)
            first = self._argument(field, "first")
            if isinstance(first, int):
                return first * (1 + children)
        return 1 + children

    def _connection_node_cost(self, selection_set: SelectionSetNode | None, connection) -> int:
        cost = 0
        for field in self._fields(selection_set):
            name = field.name.value
            if name == "nodes":
                node_type = get_named_type(connection.fields["nodes"].type)
                cost += 1 + self._selection_cost(field.selection_set, node_type)
            elif name == "edges":
                edge_type = get_named_type(connection.fields["edges"].type)
                for edge_field in self._fields(field.selection_set):
                    if edge_field.name.value == "node":
                        node_type = get_named_type(edge_type.fields["node"].type)
                        cost += 1 + self._selection_cost(edge_field.selection_set, node_type)
        return cost
