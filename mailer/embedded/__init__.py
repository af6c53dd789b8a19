"""Services `mailer demo` and the tests start for themselves."""
