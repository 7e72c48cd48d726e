"""Attachment file names are reduced to one harmless path component."""

from __future__ import annotations

import pytest

from parrhesia.crypto import sanitise_filename


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("Überweisung 2024.pdf", "Überweisung 2024.pdf"),
        ("../../etc/passwd", "passwd"),
        ("/etc/shadow", "shadow"),
        ("..\\..\\Windows\\system.ini", "system.ini"),
        ("C:\\Users\\x\\file.txt", "file.txt"),
        (".bashrc", "bashrc"),
        ("notes.txt. . ", "notes.txt"),
        ("a<b>c:d|e?.txt", "a_b_c_d_e_.txt"),
        ("CON.txt", "_CON.txt"),
        ("nul", "_nul"),
    ],
)
def test_filenames_are_sanitised(name, expected):
    assert sanitise_filename(name, fallback="part-1") == expected


@pytest.mark.parametrize(
    "name",
    ["..", ".", "", "   ", "../", "a/..", "evil\x00.pdf", "line\nbreak.txt",
     "invoice\u202efdp.exe", None, 42],
)
def test_unusable_names_fall_back_to_the_part_id(name):
    assert sanitise_filename(name, fallback="part-1") == "part-1"


def test_unusable_fallback_still_gives_a_safe_name():
    assert sanitise_filename("..", fallback="../..") == "attachment"


def test_very_long_names_are_shortened_keeping_the_extension():
    name = sanitise_filename("ä" * 300 + ".pdf", fallback="x")
    assert name.endswith(".pdf")
    assert len(name.encode("utf-8")) <= 255
