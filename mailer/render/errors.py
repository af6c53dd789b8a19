"""Errors raised while rendering. All are ValueErrors: bad input, not bad luck,
so the delivery engine should treat them as permanent for that delivery."""

from __future__ import annotations


class RenderError(ValueError):
    """The part or the recipient's values cannot be rendered into a message."""


class CharsetError(RenderError):
    """Text cannot be carried in the recipient's charset (ISO-2022-JP)."""
