"""The shared core every domain builds on; it imports no domain.

extensions (db, sock, Redis, the job queue), models (UTC columns, mixins), after_commit,
errors, htmx (page/partial rendering), forms, workflow, uploads, navigation and badges.
"""
