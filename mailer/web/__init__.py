"""The public web app: archive, images, unsubscribe (RFC 8058) and preferences."""

from __future__ import annotations

from mailer.web.app import create_app

__all__ = ["create_app"]
