"""One rule for attachment file names on both desks: ``parrhesia desk pull``
(:func:`parrhesia.crypto.sanitise_filename`) and the browser desk (``sanitiseFilename``
in themes/default/static/desk/partformat.js, under node) give each input of
tests/vectors/filenames.json the expected name, or refuse it (the fallback is used)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_desk_js_crypto import _run_node

from parrhesia.crypto import sanitise_filename

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "filenames.json").read_text(encoding="utf-8")
)


def _expected(vector: dict[str, Any]) -> str:
    fallback = vector.get("fallback", VECTORS["fallback"])
    return fallback if vector.get("refused") else str(vector["output"])


def test_the_vectors_cover_what_must_be_refused() -> None:
    refused = {vector["comment"] for vector in VECTORS["vectors"] if vector.get("refused")}
    assert {"right-to-left override (U+202E)", "NUL", "line feed", "dot-dot", "lone surrogate"} <= refused
    assert len({vector["comment"] for vector in VECTORS["vectors"]}) == len(VECTORS["vectors"])


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=[v["comment"] for v in VECTORS["vectors"]])
def test_python_names_each_vector_as_expected(vector: dict[str, Any]) -> None:
    fallback = vector.get("fallback", VECTORS["fallback"])
    assert sanitise_filename(vector["input"], fallback=fallback) == _expected(vector)


def test_the_browser_names_each_vector_as_expected() -> None:
    answered = _run_node({"filenames": True})["filenames"]
    assert [a["comment"] for a in answered] == [v["comment"] for v in VECTORS["vectors"]]
    wrong = {vector["comment"]: (given["output"], _expected(vector))
             for vector, given in zip(VECTORS["vectors"], answered, strict=True) if given["output"] != _expected(vector)}
    assert wrong == {}
