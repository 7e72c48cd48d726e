"""Every user-facing string is extracted, translated and compiled; pages render translated."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask.testing import FlaskClient
from plugin_fixtures import fixture_entry_points  # noqa: F401 - autouse fixture: the fixture plugins are installed

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "core" / "parrhesia" / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"
# Python code imports lazy_gettext as _l; the commands in translations/README.md match.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "N_": None}
LANGUAGES = sorted(p.parent.parent.name for p in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))


def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def po_path(language: str) -> Path:
    return TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"


def msgids(catalog: Catalog) -> set[object]:
    return {message.id for message in catalog if message.id}


def extracted_msgids() -> set[object]:
    with (ROOT / "core" / "parrhesia" / "translations" / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    return {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS
        )
    }


def test_french_and_spanish_catalogues_exist() -> None:
    assert {"fr", "es"} <= set(LANGUAGES)


def test_template_holds_every_string_in_the_code_and_templates() -> None:
    extracted = extracted_msgids()
    # Both kinds of source and the lazy keyword are really scanned.
    assert {"Report corruption safely and anonymously", "Your codename", "A form field is too long."} <= extracted
    missing = extracted - msgids(read_catalog(TEMPLATE))
    assert not missing, (
        f"strings missing from messages.pot; re-extract (core/parrhesia/translations/README.md): {sorted(map(str, missing))}"
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_has_every_template_string(language: str) -> None:
    missing = msgids(read_catalog(TEMPLATE)) - msgids(read_catalog(po_path(language), language))
    assert not missing, f"{language}: run pybabel update; missing {sorted(map(str, missing))}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_is_fully_translated(language: str) -> None:
    catalog = read_catalog(po_path(language), language)
    assert not catalog.fuzzy
    untranslated = [m.id for m in catalog if m.id and not m.string]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not untranslated, f"{language}: untranslated {untranslated}"
    assert not fuzzy, f"{language}: fuzzy {fuzzy}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_their_placeholders(language: str) -> None:
    problems = [(m.id, [str(e) for e in errors]) for m, errors in read_catalog(po_path(language), language).check()]
    assert not problems


@pytest.mark.parametrize("language", LANGUAGES)
def test_compiled_catalogue_matches_its_source(language: str) -> None:
    source = read_catalog(po_path(language), language)
    with (po_path(language).with_suffix(".mo")).open("rb") as handle:
        compiled = read_mo(handle)
    translations = {m.id: m.string for m in source if m.id}
    assert {m.id: m.string for m in compiled if m.id} == translations, (
        f"{language}: messages.mo is out of date; run pybabel compile"
    )


def test_landing_page_in_french(client: FlaskClient) -> None:
    page = client.get("/?lang=fr").get_data(as_text=True)
    assert '<html lang="fr"' in page
    assert "Signalez la corruption en toute sécurité et de façon anonyme" in page
    assert "Qui peut lire les signalements sur ce site" in page
    assert "Report corruption safely" not in page


def test_chosen_language_stays_for_the_session(client: FlaskClient) -> None:
    client.get("/?lang=fr")
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="fr"' in page
    assert "Votre nom de code" in page  # a lazy_gettext label from the login form


def test_browser_language_is_used_when_none_was_chosen(client: FlaskClient) -> None:
    page = client.get("/", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).get_data(as_text=True)
    assert '<html lang="fr"' in page


def test_unknown_language_falls_back_to_english(client: FlaskClient) -> None:
    page = client.get("/?lang=xx").get_data(as_text=True)
    assert '<html lang="en"' in page
    assert "Report corruption safely and anonymously" in page


class TestSpanishInstance:
    @pytest.fixture
    def instance_settings(self) -> dict[str, object]:
        return {"instance": {"languages": ["es", "en"]}}

    def test_landing_page_in_spanish_by_default(self, client: FlaskClient) -> None:
        page = client.get("/").get_data(as_text=True)
        assert '<html lang="es"' in page
        assert "Denuncie la corrupción de forma segura y anónima" in page


# --- Plugins' own catalogues (docs/writing-plugins.md, "Translations") -------------------

PLUGIN_TRANSLATIONS = sorted(ROOT.glob("plugins/*/*/translations"))
PLUGIN_CATALOGUES = [
    (folder, po.parent.parent.name)
    for folder in PLUGIN_TRANSLATIONS
    for po in sorted(folder.glob("*/LC_MESSAGES/messages.po"))
]


def _plugin_id(value: object) -> str:
    return value.parent.name if isinstance(value, Path) else str(value)


def test_the_reference_plugins_with_text_ship_catalogues() -> None:
    assert {folder.parent.name for folder in PLUGIN_TRANSLATIONS} >= {"parrhesia_demo", "parrhesia_eu_directive"}
    for folder in PLUGIN_TRANSLATIONS:
        assert {"fr", "es"} <= {language for f, language in PLUGIN_CATALOGUES if f == folder}, folder


@pytest.mark.parametrize("folder", PLUGIN_TRANSLATIONS, ids=_plugin_id)
def test_a_plugins_template_holds_every_string_of_its_code(folder: Path) -> None:
    extracted = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(folder.parent), [("**.py", "python")], {}, keywords=KEYWORDS
        )
    }
    assert extracted, f"{folder.parent.name} marks no text for translation"
    missing = extracted - msgids(read_catalog(folder / "messages.pot"))
    assert not missing, f"{folder}: re-extract (docs/writing-plugins.md); missing {sorted(map(str, missing))}"


@pytest.mark.parametrize(("folder", "language"), PLUGIN_CATALOGUES, ids=_plugin_id)
def test_a_plugins_catalogue_is_complete_translated_and_compiled(folder: Path, language: str) -> None:
    po = folder / language / "LC_MESSAGES" / "messages.po"
    catalog = read_catalog(po, language)
    assert msgids(read_catalog(folder / "messages.pot")) <= msgids(catalog), f"{po}: run pybabel update"
    assert not catalog.fuzzy
    assert not [m.id for m in catalog if m.id and (not m.string or m.fuzzy)], f"{po}: untranslated or fuzzy"
    assert not [(m.id, errors) for m, errors in catalog.check()]
    with po.with_suffix(".mo").open("rb") as handle:
        compiled = read_mo(handle)
    assert {m.id: m.string for m in compiled if m.id} == {m.id: m.string for m in catalog if m.id}, (
        f"{po.with_suffix('.mo')} is out of date; run pybabel compile"
    )


def test_stored_english_text_is_shown_translated_and_escaped(app: object) -> None:
    from flask import render_template_string

    with app.test_request_context("/?lang=fr"):  # type: ignore[attr-defined]
        shown = render_template_string("{{ label|translate }}", label="Respond to imminent danger")
        assert shown == "Répondre à un danger imminent"
        assert render_template_string("{{ label|translate }}", label="<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"
        assert render_template_string("[{{ label|translate }}]", label="") == "[]"  # not the catalogue's header


def test_a_plugin_without_a_catalogue_for_an_instance_language_is_warned_about_at_start_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from parrhesia.instance import init_instance
    from parrhesia.web.app import create_app

    instance = init_instance(tmp_path / "i", name="T", plugins=["demo", "testland"],
                             settings={"route": [], "last_resort": ["example-ombudsman"], "languages": ["en", "fr"]})
    instance.dispose()
    with caplog.at_level(logging.WARNING, logger="parrhesia.web.app"):
        app = create_app(tmp_path / "i", {"TESTING": True})
    app.extensions["parrhesia.instance"].dispose()
    warned = [r.getMessage() for r in caplog.records if "has no" in r.getMessage()]
    assert warned == ["plugin testland has no 'fr' translations: its text shows in English on 'fr' pages"]
