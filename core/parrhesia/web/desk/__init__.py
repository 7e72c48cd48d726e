"""The recipients' desk (web): log-in with password and TOTP, inbox, casework."""

from parrhesia.web.desk import admin as _admin  # noqa: F401  (registers its pages)
from parrhesia.web.desk import anchor as _anchor  # noqa: F401  (registers its pages)
from parrhesia.web.desk import evidence as _evidence  # noqa: F401  (registers its pages)
from parrhesia.web.desk import intake as _intake  # noqa: F401  (registers its pages)
from parrhesia.web.desk import keyfile as _keyfile  # noqa: F401  (registers its pages)
from parrhesia.web.desk import protection as _protection  # noqa: F401  (registers its pages)
from parrhesia.web.desk.views import bp

__all__ = ["bp"]
