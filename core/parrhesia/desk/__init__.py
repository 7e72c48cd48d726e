"""The recipients' desk (web): log-in with password and TOTP, inbox, casework."""

from parrhesia.desk.views import bp

__all__ = ["bp"]
