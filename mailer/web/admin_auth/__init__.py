"""Login, logout, the audit log pages, and the handler that renders AuthError;
`mailer.web.admin_auth.install` adds them to the app."""
