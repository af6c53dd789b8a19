"""Authoring: issue folders parsed into typed documents."""
