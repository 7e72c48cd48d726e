"""The one thing pyproject.toml cannot say: themes/ is package data of `parrhesia`.

The top level of the repository is fixed (core/, themes/), but an installed wheel
must carry the default theme: setuptools maps themes/ to `parrhesia/themes` inside
the package, and pyproject.toml's package-data says which of its files go along
(templates/ and static/, with the desk's libsodium that `make` builds into
static/vendor/). An editable install reads themes/ where it is; `parrhesia.web.app`
looks in both places, in one function (`bundled_themes`).
"""

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

VENDOR = Path(__file__).resolve().parent / "themes" / "default" / "static" / "vendor" / "libsodium-wrappers.js"


class BuildWithDeskLibsodium(build_py):
    """Refuse to build a wheel whose desk could not decrypt (no libsodium in static/vendor/)."""

    def run(self) -> None:
        if not self.editable_mode and not VENDOR.is_file():
            raise SystemExit(
                f"{VENDOR} is missing: build the desk's libsodium first "
                "(`make`, or `npm ci --ignore-scripts && npm run build` in themes/default/js)."
            )
        super().run()


setup(
    packages=[*find_packages("core"), "parrhesia.themes"],
    package_dir={"": "core", "parrhesia.themes": "themes"},
    cmdclass={"build_py": BuildWithDeskLibsodium},
)
