"""The source interface: plain HTML forms that work in Tor Browser at "Safest"."""

from parrhesia.source.views import bp

__all__ = ["bp"]
