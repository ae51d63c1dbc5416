"""What every connection shares: the page info, and one generic connection and edge.

Strawberry names a specialised generic after its node (``Edge[TrainingJob]`` is ``TrainingJobEdge``);
a list with more to say (a total count, its own name) subclasses ``Connection[Node]``.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import strawberry

Node = TypeVar("Node")


@strawberry.type(description="Where a page of a connection ends.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more items follow `endCursor`.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last item of this page; pass it as `after` for the next page."
    )


@strawberry.type(description="An item of a list and its position in the list.")
class Edge(Generic[Node]):
    cursor: str = strawberry.field(
        description="Opaque position of this item; pass it as `after` for the next."
    )
    node: Node = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list, newest first.")
class Connection(Generic[Node]):
    edges: list[Edge[Node]] = strawberry.field(description="Items of this page, in list order.")
    page_info: PageInfo = strawberry.field(description="Whether and where the list goes on.")


__all__ = ["Connection", "Edge", "PageInfo"]
