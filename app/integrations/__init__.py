"""Adapters for outside services: each reads its config, times out and fails softly."""
