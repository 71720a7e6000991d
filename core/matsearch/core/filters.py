"""One typed filter model, translated by each store backend.

Full form (Qdrant-like)::

    {"must": [{"key": "type", "match": "microscopy"}, {"key": "year", "range": {"gte": 2015}}],
     "must_not": [{"key": "journal", "any": ["X"]}]}

Shorthand (what people type on a command line)::

    {"type": "microscopy", "year": {"gte": 2015}, "elements": {"all": ["Au", "O"]},
     "journal": {"not": "X"}, "technique": ["TEM", "HRTEM"]}

A scalar is an exact match, a list is "any of", ``{"all": [...]}`` needs every value (for list payloads such as
``elements``), ``{"gte"/"gt"/"lte"/"lt": n}`` is a numeric range and ``{"not": ...}`` negates any of these.
"""

from __future__ import annotations

import json
import re
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from matsearch.core.errors import InvalidFilter

Scalar = Union[str, int, bool]  # noqa: UP007 - pydantic needs a runtime union here
_RANGE_KEYS = {"gte", "gt", "lte", "lt"}
_FULL_KEYS = {"must", "should", "must_not"}
# A payload key: word characters and '-' per segment, segments joined by '.', list steps as [] or [n] ("a.b",
# "scale.nm_per_px", "documents[].doi"). Anything else is refused here, before a store sees it.
_KEY_RE = re.compile(r"[\w-]+(?:\[\d*\])*(?:\.[\w-]+(?:\[\d*\])*)*")
MAX_KEY_LENGTH = 200


class Range(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Range:
        if self.gte is None and self.gt is None and self.lte is None and self.lt is None:
            raise ValueError("a range needs at least one of gte, gt, lte, lt")
        return self


class FieldCondition(BaseModel):
    """Exactly one of ``match`` (equal), ``any`` (any of), ``all`` (all of) or ``range`` on payload field ``key``."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1)
    match: Scalar | None = None
    any: list[Scalar] | None = None
    all: list[Scalar] | None = None
    range: Range | None = None

    @field_validator("key")
    @classmethod
    def _valid_key(cls, key: str) -> str:
        if len(key) > MAX_KEY_LENGTH or not _KEY_RE.fullmatch(key):
            raise ValueError(
                f"invalid payload key {key[:60]!r} (letters, digits, '_' and '-', segments joined by '.', "
                "lists as [] or [n])"
            )
        return key

    @model_validator(mode="after")
    def _exactly_one(self) -> FieldCondition:
        given = [n for n in ("match", "any", "all", "range") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"condition on {self.key!r} needs exactly one of match, any, all, range (got {given})")
        for name in ("any", "all"):
            values = getattr(self, name)
            if values is not None and not values:
                raise ValueError(f"condition on {self.key!r}: '{name}' needs at least one value")
        return self


class Filter(BaseModel):
    """All of ``must``, at least one of ``should`` (when given), none of ``must_not``."""

    model_config = ConfigDict(extra="forbid")
    must: list[FieldCondition | Filter] = Field(default_factory=list)
    should: list[FieldCondition | Filter] = Field(default_factory=list)
    must_not: list[FieldCondition | Filter] = Field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.must or self.should or self.must_not)

    def and_(self, other: Filter | None) -> Filter:
        """Both filters must hold."""
        if other is None or other.is_empty():
            return self
        if self.is_empty():
            return other
        return Filter(must=[self, other])


def _shorthand_condition(key: str, spec: Any) -> tuple[FieldCondition | None, FieldCondition | None]:
    """Return (positive, negated) condition for one shorthand entry."""
    if isinstance(spec, dict):
        if "not" in spec:
            if len(spec) != 1:
                raise ValueError(f"{key!r}: 'not' cannot be combined with other keys")
            positive, _ = _shorthand_condition(key, spec["not"])
            return None, positive
        keys = set(spec)
        if keys <= _RANGE_KEYS and keys:
            return FieldCondition(key=key, range=Range(**spec)), None
        if keys == {"range"}:
            return FieldCondition(key=key, range=Range(**spec["range"])), None
        if len(keys) == 1 and keys <= {"any", "all", "match"}:
            return FieldCondition(key=key, **spec), None
        raise ValueError(f"{key!r}: unknown condition {sorted(keys)} (use any, all, match, not, gte, gt, lte, lt)")
    if isinstance(spec, list):
        return FieldCondition(key=key, any=spec), None
    return FieldCondition(key=key, match=spec), None


def _check_size(value: Any, max_depth: int, max_conditions: int) -> None:
    """Refuse filters nested deeper than ``max_depth`` must/should/must_not levels (JSON nesting ≤ 4 per level) or
    with more than ``max_conditions`` values; iterative, so a hostile document cannot exhaust the stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if depth > 4 * max_depth:
            raise InvalidFilter(f"filter is nested too deeply (at most {max_depth} levels of must/should/must_not)")
        if seen > 16 * max_conditions:
            raise InvalidFilter(f"filter is too large (at most {max_conditions} conditions)")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def _count_conditions(flt: Filter, depth: int, max_depth: int) -> int:
    if depth > max_depth:
        raise InvalidFilter(f"filter is nested too deeply (at most {max_depth} levels of must/should/must_not)")
    n = 0
    for c in (*flt.must, *flt.should, *flt.must_not):
        n += _count_conditions(c, depth + 1, max_depth) if isinstance(c, Filter) else 1
    return n


def parse_filter(value: str | dict[str, Any] | Filter | None) -> Filter | None:
    """Parse a filter from JSON text, a dict (full or shorthand form) or a Filter; raise InvalidFilter naming why."""
    from matsearch.core.settings import get_settings

    settings = get_settings()
    max_depth, max_conditions = settings.max_filter_depth, settings.max_filter_conditions
    if value is None:
        return value
    flt: Filter | None
    if isinstance(value, Filter):
        flt = value
    else:
        flt = _parse(value, max_depth, max_conditions)
    if flt is not None and _count_conditions(flt, 1, max_depth) > max_conditions:
        raise InvalidFilter(f"filter is too large (at most {max_conditions} conditions)")
    return flt


def _parse(value: str | dict[str, Any], max_depth: int, max_conditions: int) -> Filter | None:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidFilter(f"filter is not valid JSON: {exc.msg} at position {exc.pos}") from exc
        except RecursionError as exc:
            raise InvalidFilter(f"filter is nested too deeply (at most {max_depth} levels)") from exc
    if not isinstance(value, dict):
        raise InvalidFilter("filter must be a JSON object")
    _check_size(value, max_depth, max_conditions)
    try:
        if value and set(value) <= _FULL_KEYS:
            return Filter.model_validate(value)
        must: list[FieldCondition | Filter] = []
        must_not: list[FieldCondition | Filter] = []
        for key, spec in value.items():
            positive, negated = _shorthand_condition(str(key), spec)
            if positive is not None:
                must.append(positive)
            if negated is not None:
                must_not.append(negated)
        return Filter(must=must, must_not=must_not)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidFilter(f"invalid filter: {first.get('msg')}" + (f" (at {where})" if where else "")) from exc
    except (ValueError, TypeError) as exc:
        raise InvalidFilter(f"invalid filter: {exc}") from exc
