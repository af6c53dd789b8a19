"""Registering this package's routes and handlers on the app."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Register the admin pages and the REST API on `app` (call after the
    app's own exception handlers: the API's JSON handlers wrap them)."""
    from mailer.web import api
    from mailer.web.admin import (
        pages_editor,
        pages_parts,
        pages_people,
        pages_schedule,
        pages_sends,
        pages_subscriber_edit,
        static,
    )
    from mailer.web.admin.common import admin_environment
    from mailer.web.admin.error_pages import install_error_pages

    app.state.admin_pages = admin_environment(site_name=app.state.web.settings.list_name)
    # pages_subscriber_edit before pages_people: /admin/subscribers/new is not an id
    # pages_editor before pages_parts: /admin/issues/new is not an issue
    for module in (pages_sends, pages_editor, pages_parts, pages_schedule, pages_subscriber_edit,
                   pages_people, static):
        app.include_router(module.router)
    install_error_pages(app)  # before the API wraps the handlers again
    api.install(app)
