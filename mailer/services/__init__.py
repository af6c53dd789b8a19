"""Use cases called by the CLI, the web app and the workers."""
