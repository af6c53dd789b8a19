"""The staff admin pages under /admin (Japanese, server-rendered).

`install(app)` adds them, the REST API under /api/v1 and the API's JSON
error handling to the web app.
"""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Register the admin pages and the REST API on `app` (call after the
    app's own exception handlers: the API's JSON handlers wrap them)."""
    # imported here: mailer.web.auth must load after mailer.web.admin_auth
    from mailer.web import api
    from mailer.web.admin import (
        pages_parts,
        pages_people,
        pages_sends,
        pages_subscriber_edit,
        static,
    )
    from mailer.web.admin.common import admin_environment

    app.state.admin_pages = admin_environment(site_name=app.state.web.settings.list_name)
    # pages_subscriber_edit before pages_people: /admin/subscribers/new is not an id
    for module in (pages_sends, pages_parts, pages_subscriber_edit, pages_people, static):
        app.include_router(module.router)
    api.install(app)
