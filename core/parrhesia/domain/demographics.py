"""The optional "who reports" questions: self-described, skippable, counted only.

Offered to a source after the codename page, never required and never asked before
the report is sent (DOMAIN.md, victim-centred intake). Each answer only adds one to a
yearly counter (:class:`parrhesia.storage.models.DemographicCount`): nothing links it to a
report, a day, a session or the other answers of the same person. Free text is not
offered: it would be plaintext a source wrote, and a rare description could identify.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from parrhesia.storage.models import DemographicCount

__all__ = ["PREFER_NOT_TO_SAY", "Question", "QUESTIONS", "record_answers", "yearly_counts"]

PREFER_NOT_TO_SAY = "prefer-not-to-say"


@dataclass(frozen=True)
class Question:
    name: str
    label: str
    choices: tuple[tuple[str, str], ...]  # (value, label); "prefer not to say" is always last

    def allows(self, value: str) -> bool:
        return any(value == choice for choice, _label in self.choices)

    def label_of(self, value: str) -> str:
        return str(next((label for choice, label in self.choices if choice == value), value))


_PREFER_NOT = (PREFER_NOT_TO_SAY, _l("Prefer not to say"))

QUESTIONS: tuple[Question, ...] = (
    Question(
        "gender",
        _l("How do you describe your gender?"),
        (
            ("woman", _l("Woman")),
            ("man", _l("Man")),
            ("non-binary", _l("Non-binary")),
            ("another", _l("In another way")),
            _PREFER_NOT,
        ),
    ),
    Question(
        "age",
        _l("How old are you?"),
        (
            ("under-25", _l("Under 25")),
            ("25-39", _l("25 to 39")),
            ("40-54", _l("40 to 54")),
            ("55-plus", _l("55 or older")),
            _PREFER_NOT,
        ),
    ),
    Question(
        "role",
        _l("What best describes you in what you reported?"),
        (
            ("victim", _l("I was harmed by it")),
            ("witness", _l("I saw or heard it")),
            ("insider", _l("I work or worked where it happened")),
            ("told", _l("Someone told me about it")),
            ("other", _l("Something else")),
            _PREFER_NOT,
        ),
    ),
)


def record_answers(db: Session, answers: Mapping[str, str], *, year: int) -> None:
    """Add one to the counter of each answer (an unanswered or unknown one counts as
    "prefer not to say"); the caller commits."""
    for question in QUESTIONS:
        answer = answers.get(question.name) or PREFER_NOT_TO_SAY
        if not question.allows(answer):
            answer = PREFER_NOT_TO_SAY
        _increment(db, year, question.name, answer)


def yearly_counts(db: Session, year: int) -> dict[str, dict[str, int]]:
    """``{question: {answer: count}}`` for one year (raw: publish only through statistics)."""
    counts: dict[str, dict[str, int]] = {q.name: {} for q in QUESTIONS}
    for row in db.scalars(select(DemographicCount).where(DemographicCount.year == year)):
        counts.setdefault(row.question, {})[row.answer] = row.count
    return counts


def _increment(db: Session, year: int, question: str, answer: str) -> None:
    # One atomic upsert: concurrent answers never lose a count or collide on insert.
    dialect = db.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(DemographicCount).values(year=year, question=question, answer=answer, count=1)
    db.execute(
        statement.on_conflict_do_update(
            index_elements=["year", "question", "answer"],
            set_={"count": DemographicCount.count + 1},
        )
    )
