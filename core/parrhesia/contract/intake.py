"""The intake questionnaire: questions a jurisdiction asks, marked routing or content.

A *routing* field is visible to the server (it decides where a report goes) and the
form says so; a *content* field is encrypted with the report like the message. Fields
from several plugins are merged by name: the first definition (plugins before the
built-in defaults) wins, and the choices of a field defined twice are merged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from parrhesia.config import ConfigError

__all__ = [
    "FieldKind",
    "Choice",
    "IntakeField",
    "SourceNotice",
    "IntakeError",
    "InvalidAnswer",
    "merge_fields",
    "clean_routing_answers",
]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
RESERVED_NAMES = frozenset({"csrf_token", "message", "attachments", "step"})


class IntakeError(ConfigError):
    """An intake field definition that cannot be used."""


class FieldKind(StrEnum):
    CHOICE = "choice"
    MULTICHOICE = "multichoice"
    TEXT = "text"
    TEXTAREA = "textarea"


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    jurisdiction: str | None = None


@dataclass(frozen=True)
class IntakeField:
    """One question. ``routing=True`` means the server sees the answer."""

    name: str
    label: str
    kind: FieldKind
    routing: bool
    choices: tuple[Choice, ...] = ()
    required: bool = False
    help: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or self.name in RESERVED_NAMES:
            raise IntakeError(f"intake field name {self.name!r} is not allowed")
        try:
            object.__setattr__(self, "kind", FieldKind(self.kind))
        except ValueError:
            raise IntakeError(f"intake field {self.name!r} has unknown kind {self.kind!r}") from None
        if self.kind in (FieldKind.CHOICE, FieldKind.MULTICHOICE) and not self.choices and self.required:
            raise IntakeError(f"required choice field {self.name!r} has no choices")
        if self.routing and self.kind in (FieldKind.TEXT, FieldKind.TEXTAREA):
            # Free text visible to the server could carry anything a source writes.
            raise IntakeError(f"routing field {self.name!r} must be a choice, not free text")

    def allows(self, value: str) -> bool:
        return any(choice.value == value for choice in self.choices)


@dataclass(frozen=True)
class SourceNotice:
    """Information shown to the source before sending (e.g. Art 15 conditions)."""

    id: str
    title: str
    text: str
    legal_source: str = ""
    jurisdiction: str | None = None


def merge_fields(definitions: Iterable[IntakeField]) -> list[IntakeField]:
    """Merge fields by name, keeping the first definition and the union of choices."""
    merged: dict[str, IntakeField] = {}
    for definition in definitions:
        existing = merged.get(definition.name)
        if existing is None:
            merged[definition.name] = definition
            continue
        if existing.routing != definition.routing:
            raise IntakeError(f"intake field {definition.name!r} is routing in one plugin and content in another")
        known = {c.value for c in existing.choices}
        extra = tuple(c for c in definition.choices if c.value not in known)
        if extra:
            merged[definition.name] = replace(existing, choices=existing.choices + extra)
    return list(merged.values())


class InvalidAnswer(ValueError):
    """A routing answer that is not one of the field's choices (or is missing)."""

    def __init__(self, field: IntakeField, problem: str) -> None:
        super().__init__(f"{field.name}: {problem}")
        self.field = field


def clean_routing_answers(
    fields: Iterable[IntakeField], answers: Mapping[str, Sequence[str]]
) -> dict[str, tuple[str, ...]]:
    """Validate the routing answers a form sent; unknown names are dropped.

    Only routing fields are read here: an answer to a content question must never
    reach this function (it is encrypted by the upload parser instead).
    """
    cleaned: dict[str, tuple[str, ...]] = {}
    for field in fields:
        if not field.routing:
            continue
        values = tuple(v for v in answers.get(field.name, ()) if v)
        if field.kind is FieldKind.CHOICE and len(values) > 1:
            raise InvalidAnswer(field, "choose only one")
        unknown = [v for v in values if not field.allows(v)]
        if unknown:
            raise InvalidAnswer(field, "not one of the choices")
        if field.required and not values:
            raise InvalidAnswer(field, "an answer is required")
        if values:
            cleaned[field.name] = tuple(sorted(set(values)))
    return cleaned
