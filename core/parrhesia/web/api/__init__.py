"""The recipients' JSON API: ciphertext and public keys only, behind a bearer token."""

from parrhesia.web.api import anchor as _anchor  # noqa: F401  (registers its routes)
from parrhesia.web.api import custody as _custody  # noqa: F401  (registers its routes)
from parrhesia.web.api import intake as _intake  # noqa: F401  (registers its routes)
from parrhesia.web.api import protection as _protection  # noqa: F401  (registers its routes)
from parrhesia.web.api.views import bp

__all__ = ["bp"]
