"""Route modules of the web app, one per concern."""
