"""Parrhesia: secure, anonymous reporting of corruption and organised crime.

The import package is small on purpose: the application factory lives in
:mod:`parrhesia.web.app`, the storage in :mod:`parrhesia.storage.db` and :mod:`parrhesia.storage.blobs`,
the cryptography in :mod:`parrhesia.crypto`, the source interface in
:mod:`parrhesia.web.source` and the recipients' API in :mod:`parrhesia.web.api`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("parrhesia")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

__all__ = ["__version__", "create_app"]


def __getattr__(name: str) -> object:
    # Imported lazily so that `import parrhesia.crypto` does not pull in Flask.
    if name == "create_app":
        from parrhesia.web.app import create_app

        return create_app
    raise AttributeError(name)
