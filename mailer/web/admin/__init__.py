"""The staff admin pages under /admin (Japanese, server-rendered);
`mailer.web.admin.install` adds them and the REST API to the app."""
