"""Safe local file names for decrypted attachments.

The name of an attachment comes from the source, i.e. from anyone on the
internet. Before a recipient's machine writes it to disk we reduce it to a
single, harmless path component. The browser desk applies the same rule
(``sanitiseFilename`` in themes/default/static/desk/partformat.js); both are checked
against the vectors in tests/vectors/filenames.json.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["sanitise_filename"]

_MAX_NAME_BYTES = 255  # the common file-system limit for one path component
_FORBIDDEN = re.compile(r'[<>:"|?*]')  # not allowed in names on Windows
_EDGES = re.compile(r"^[\s.]+|[\s.]+$")  # leading and trailing spaces and dots, mixed in any order
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in range(1, 10)]
    + [f"LPT{i}" for i in range(1, 10)]
)


def sanitise_filename(name: object, fallback: str) -> str:
    """Return a safe single-component file name for ``name``, else for ``fallback``.

    Path components are stripped (``"../../etc/passwd"`` gives ``"passwd"``),
    leading and trailing dots and spaces removed, ``".."`` refused. A name
    with control or invisible formatting characters (such as a right-to-left
    override that makes ``"fdp.exe"`` look like a PDF) is refused outright.
    If nothing usable remains, the fallback (normally the part id) is used.
    """
    return _clean(name) or _clean(fallback) or "attachment"


def _clean(name: object) -> str | None:
    if not isinstance(name, str):
        return None
    name = unicodedata.normalize("NFC", name)
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"} for ch in name):
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _EDGES.sub("", _FORBIDDEN.sub("_", name))
    if not name:
        return None
    if name.partition(".")[0].upper() in _WINDOWS_RESERVED:
        name = "_" + name
    return _truncate(name)


def _truncate(name: str) -> str:
    if len(name.encode("utf-8")) <= _MAX_NAME_BYTES:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or len(suffix) > 16:
        stem, dot, suffix = name, "", ""
    tail = (dot + suffix).encode("utf-8")
    head = stem.encode("utf-8")[: _MAX_NAME_BYTES - len(tail)]
    return head.decode("utf-8", "ignore").rstrip(". ") + tail.decode("utf-8")
