"""The recipients' JSON API: ciphertext and public keys only, behind a bearer token."""

from parrhesia.api.views import bp

__all__ = ["bp"]
