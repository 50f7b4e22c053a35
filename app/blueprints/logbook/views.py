"""Logbook pages (being written)."""
