"""Convex's limits, in one configurable place. Every breach names the limit it broke."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prefmem.values import check_value

if TYPE_CHECKING:
    from prefmem.validators import Validator

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    document_size: int = 1 * MiB
    nesting_depth: int = 16
    array_items: int = 8192
    object_fields: int = 1024
    arguments_size: int = 16 * MiB
    return_value_size: int = 16 * MiB
    documents_read: int = 32_000
    bytes_read: int = 16 * MiB
    index_ranges_read: int = 4_096
    documents_written: int = 16_000
    bytes_written: int = 16 * MiB
    query_mutation_time_ms: float = 1_000.0
    action_time_ms: float = 600_000.0
    functions_scheduled: int = 1_000
    log_lines: int = 256
    search_terms: int = 16
    search_results: int = 1_024
    vector_dimensions_min: int = 2
    vector_dimensions_max: int = 4_096
    vector_results: int = 256

    def check_shape(self, value: Any, path: str = "") -> None:
        """Raise ``InvalidValue`` unless ``value`` is a Convex value within these shape limits."""
        check_value(value, path, max_depth=self.nesting_depth, max_array=self.array_items,
                    max_fields=self.object_fields)

    def covers(self, validator: "Validator | None") -> bool:
        """Whether every value ``validator`` accepts is a Convex value within these limits,
        so a value it is about to check needs no ``check_shape`` walk of its own."""
        shape = validator.shape if validator is not None else None
        # ``nesting_depth`` counts from 0 at the outermost object: n levels of objects nest n - 1 deep.
        return shape is not None and shape[0] - 1 <= self.nesting_depth and shape[1] <= self.object_fields


DEFAULT_LIMITS = Limits()
