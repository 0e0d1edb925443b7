"""Segments without SQL: documents, the operator table, validation, compiler and engine.

Typical use::

    from workbench.segments import count, preview, describe_segment
    n = count(ws, {"name": "SE", "entity": "customers",
                   "filter": {"column": "country", "op": "eq", "value": "SE"}})
"""

from workbench.segments.analysis import (
    ConditionCount,
    Overlap,
    breakdown,
    condition_counts,
    overlap,
)
from workbench.segments.compiler import (
    DIALECTS,
    CompiledSegment,
    compile_segment,
    resolve_as_of,
)
from workbench.segments.describe import describe_node, describe_segment
from workbench.segments.engine import (
    Preview,
    count,
    export_members,
    members,
    preview,
    segment_sql,
)
from workbench.segments.explain import Explanation, Verdict, explain
from workbench.segments.model import FORMAT_VERSION, Segment, load_segment_file, parse_segment
from workbench.segments.operators import OPERATORS, Operator, get_operator, operators_for
from workbench.segments.validate import validate_segment
from workbench.segments.values import ValueShape

__all__ = [
    "DIALECTS",
    "FORMAT_VERSION",
    "OPERATORS",
    "CompiledSegment",
    "ConditionCount",
    "Explanation",
    "Operator",
    "Overlap",
    "Preview",
    "Segment",
    "ValueShape",
    "Verdict",
    "breakdown",
    "compile_segment",
    "condition_counts",
    "count",
    "describe_node",
    "describe_segment",
    "explain",
    "export_members",
    "get_operator",
    "load_segment_file",
    "members",
    "operators_for",
    "overlap",
    "parse_segment",
    "preview",
    "resolve_as_of",
    "segment_sql",
    "validate_segment",
]
