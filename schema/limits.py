"""Limits on what one GraphQL document may ask for: tokens, depth, aliases, cost and introspection."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from graphql import (
    ASTValidationRule,
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NamedTypeNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    value_from_ast_untyped,
)
from graphql.language.parser import MAX_NESTING_DEPTH
from graphql.validation import ASTValidationContext, MaxIntrospectionDepthRule, NoFragmentCyclesRule
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from schema.refusal import refuse

QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
# The largest page any list field serves: what a `first` of unknown value may cost.
MAX_PAGE = 100


@dataclass(frozen=True)
class QueryLimits:
    """What one document may ask for; `list_default_size` is the assumed length of a list without `first`."""

    max_depth: int = 10
    max_tokens: int = 2000
    max_aliases: int = 15
    max_cost: int = 5000
    list_default_size: int = 10
    allow_introspection: bool = True


class _Walk:
    """Sums the cost of selections with fragments expanded, each named fragment once per list size.

    Without a schema every field costs 1 and no directive is honoured: that is the plain expansion
    the validators walk, whatever `@skip` or `first: 0` would spare at execution.
    """

    def __init__(
        self,
        schema: GraphQLSchema | None,
        document: DocumentNode,
        values: Mapping[str, Any],
        list_default_size: int,
    ) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.values = values
        self.list_default_size = list_default_size
        # Memoised per (fragment, size of the lists directly in it): a fragment spread twice in
        # each of 30 nested fragments is walked 30 times, not 2**30.
        self.memo: dict[tuple[str, int | None], int] = {}
        self.expanding: set[str] = set()
        self.cyclic = False
        self.too_deep = False
        self.total = 0

    def selections(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None, page: int | None, depth: int
    ) -> int:
        if depth > MAX_NESTING_DEPTH:
            # graphql-core refuses such nesting too; stopping here keeps us off the recursion limit.
            self.too_deep = True
            return 0
        total = 0
        for selection in selection_set.selections:
            if not self.included(selection):
                continue
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, page, depth)
            elif isinstance(selection, InlineFragmentNode):
                inner = self.named_type(selection.type_condition) if selection.type_condition else parent
                total += self.selections(selection.selection_set, inner, page, depth + 1)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.spread(selection.name.value, page, depth)
        return total

    def spread(self, name: str, page: int | None, depth: int) -> int:
        fragment = self.fragments.get(name)
        if fragment is None:
            return 0
        if name in self.expanding:
            self.cyclic = True
            return 0
        key = (name, page)
        if key not in self.memo:
            self.expanding.add(name)
            inner = self.named_type(fragment.type_condition)
            self.memo[key] = self.selections(fragment.selection_set, inner, page, depth + 1)
            self.expanding.discard(name)
        return self.memo[key]

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, page: int | None, depth: int) -> int:
        if node.selection_set is None:
            return 1
        definition = self.definition(parent, node.name.value)
        if definition is None:
            # Unknown to the schema, or introspection: one per field, no lists.
            return 1 + self.selections(node.selection_set, None, None, depth + 1)
        inner = get_named_type(definition.type)
        is_list = isinstance(get_nullable_type(definition.type), GraphQLList)
        first = self.first(node, definition)
        if first is not None and not is_list:
            # A connection: its page size is the length of the lists directly in it (`edges`),
            # so `pageInfo` and `totalCount` are charged once, not once per item.
            return 1 + self.selections(node.selection_set, inner, first, depth + 1)
        if first is not None:
            size = first
        elif is_list:
            size = page if page is not None else self.list_default_size
        else:
            size = 1
        return 1 + size * self.selections(node.selection_set, inner, None, depth + 1)

    def definition(self, parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
        if self.schema is None or not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return None
        if parent.name.startswith("__"):
            # Introspection types (reached through fragments `on __Type`) are served from memory.
            return None
        field: GraphQLField | None = parent.fields.get(name)
        return field

    def named_type(self, node: NamedTypeNode) -> GraphQLNamedType | None:
        return self.schema.get_type(node.name.value) if self.schema is not None else None

    def first(self, node: FieldNode, definition: GraphQLField) -> int | None:
        argument = definition.args.get("first")
        if argument is None:
            return None
        given = next((a.value for a in node.arguments or () if a.name.value == "first"), None)
        if given is None:
            value = argument.default_value
        else:
            value = self.value(given)
            # GraphQL coerces an integral float variable (100.0) to the Int 100: charge it so.
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if value is None:  # null, or a variable not given: the argument's default applies
                value = argument.default_value
        # Anything else fails coercion at execution; meanwhile it is charged the largest page.
        return max(0, value) if _is_int(value) else MAX_PAGE

    def value(self, node: ValueNode) -> Any:
        if isinstance(node, VariableNode):
            return self.values.get(node.name.value)
        if isinstance(node, IntValueNode):
            return int(node.value)
        return None

    def included(self, selection: SelectionNode) -> bool:
        if self.schema is None:
            return True
        for directive in selection.directives or ():
            if directive.name.value not in ("skip", "include"):
                continue
            condition = next((a.value for a in directive.arguments or () if a.name.value == "if"), None)
            if isinstance(condition, BooleanValueNode):
                flag: Any = condition.value
            elif isinstance(condition, VariableNode):
                flag = self.values.get(condition.name.value)
            else:
                continue
            # Only a definite flag spares a selection: anything else is charged.
            if flag is (directive.name.value == "skip"):
                return False
        return True


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if operations else None
    return next((op for op in operations if op.name and op.name.value == name), None)


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    *,
    list_default_size: int,
) -> int:
    """Cost of the selected operation (0 if there is none): see `QueryCostLimiter`."""
    operation = _operation(document, operation_name)
    root = schema.get_root_type(operation.operation) if operation else None
    if operation is None or root is None:
        return 0
    values = {
        d.variable.name.value: value_from_ast_untyped(d.default_value)
        for d in operation.variable_definitions or ()
        if d.default_value is not None
    }
    values.update(variables or {})
    return _Walk(schema, document, values, list_default_size).selections(
        operation.selection_set, root, None, 0
    )


def _expand(document: DocumentNode) -> _Walk:
    """Walk every operation plainly: what the validators walk, whatever execution would spare."""
    walk = _Walk(None, document, {}, 1)
    walk.total = sum(
        walk.selections(d.selection_set, None, None, 0)
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    )
    return walk


@functools.cache
def _oversized(max_cost: int) -> type[ValidationRule]:
    # One class per limit, so a validation cache keys on it rather than on a class per request.
    class OversizedDocument(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            walk = _expand(context.document)
            message = (
                f"Document nests selections more than {MAX_NESTING_DEPTH} deep through its fragments."
                if walk.too_deep
                else f"Document expands to {walk.total} field selections; at most {max_cost} are allowed."
            )
            extensions = {"code": QUERY_TOO_COMPLEX, "selections": walk.total, "maxCost": max_cost}
            context.report_error(GraphQLError(message, extensions=extensions))

    return OversizedDocument


class QueryCostLimiter(SchemaExtension):
    """Refuses an operation whose cost is above `max_cost`, before any resolver runs.

    Each field selection costs 1; a field's sub-selection is multiplied by its list size: its
    `first` argument when it has one, else `list_default_size` for a list-typed field. A
    non-list field with `first` (a connection) hands its `first` to the lists directly inside it.
    """

    def __init__(self, max_cost: int, list_default_size: int = 10) -> None:
        super().__init__()
        self.max_cost = max_cost
        self.list_default_size = list_default_size

    def on_parse(self) -> Iterator[None]:
        yield
        document = self.execution_context.graphql_document
        if document is None:
            return
        walk = _expand(document)
        if not (walk.cyclic or walk.too_deep or walk.total > self.max_cost):
            return
        # The depth and alias limiters walk every expansion path without memoising: a fragment
        # spread twice per level, or a cycle of a dozen fragments, keeps them busy for minutes.
        # Such documents meet one cheap rule instead; replacing the rules (not setting errors)
        # also holds when a ValidationCache validates the document itself.
        rule = NoFragmentCyclesRule if walk.cyclic else _oversized(self.max_cost)
        self.execution_context.validation_rules = (rule,)

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None:
            cost = operation_cost(
                context.schema._schema,
                context.graphql_document,
                context.operation_name,
                context.variables,
                list_default_size=self.list_default_size,
            )
            if cost > self.max_cost:
                error = GraphQLError(
                    f"Query cost {cost} exceeds the limit of {self.max_cost}.",
                    extensions={"code": QUERY_TOO_COMPLEX, "cost": cost, "maxCost": self.max_cost},
                )
                refuse(context, error)
        yield


# How the limiters Strawberry and graphql-core ship word their refusals (they set no code).
_LIMIT_MESSAGES = ("exceeds maximum operation depth", "aliases found. Allowed:", "more than", "tokens.")


def is_limit_error(error: GraphQLError) -> bool:
    """A refusal by the depth, alias or token limit, which deserves QUERY_TOO_COMPLEX."""
    message = error.message
    if "tokens. Parsing aborted" in message and "more than" in message:
        return True
    return any(marker in message for marker in _LIMIT_MESSAGES[:2])


@functools.cache
def _shape_rules(max_depth: int, max_aliases: int) -> list[type[ASTValidationRule]]:
    """The depth and alias rules, made once per limit pair.

    Strawberry's limiters make a new rule class for every request they are built for, and the
    validation cache keys on the rules: built per request, it would never hit.
    """
    depth = QueryDepthLimiter(max_depth=max_depth).validation_rules
    aliases = MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules
    return [_tolerant(rule) for rule in (*depth, *aliases)]


def _tolerant(rule: type[ASTValidationRule]) -> type[ASTValidationRule]:
    """``rule``, minus its crashes on documents graphql-core's own rules refuse anyway.

    Strawberry's depth and alias rules do all their work when built and assume a valid document:
    an unknown fragment raises KeyError, an empty selection ValueError. Those documents get
    graphql-core's errors instead of a bare Python message.
    """

    class Tolerant(ASTValidationRule):
        def __init__(self, context: ASTValidationContext) -> None:
            super().__init__(context)
            with contextlib.suppress(KeyError, ValueError):
                rule(context)

    Tolerant.__name__ = f"Tolerant{rule.__name__}"
    return Tolerant


def limit_extensions(limits: QueryLimits) -> list[Callable[[], SchemaExtension]]:
    """Schema extension factories enforcing `limits`."""
    extensions: list[Callable[[], SchemaExtension]] = [
        functools.partial(MaxTokensLimiter, max_token_count=limits.max_tokens),
        functools.partial(AddValidationRules, _shape_rules(limits.max_depth, limits.max_aliases)),
        functools.partial(QueryCostLimiter, limits.max_cost, limits.list_default_size),
    ]
    if limits.allow_introspection:
        # The depth limiter skips `__` fields, so nothing else bounds `fields { type { fields … } }`.
        extensions.append(functools.partial(AddValidationRules, [MaxIntrospectionDepthRule]))
    else:
        extensions.append(DisableIntrospection)
    return extensions


__all__ = [
    "QUERY_TOO_COMPLEX",
    "QueryCostLimiter",
    "QueryLimits",
    "is_limit_error",
    "limit_extensions",
    "operation_cost",
]
