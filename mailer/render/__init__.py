"""Rendering: typed documents to email bytes and web pages. Pure, no I/O."""
