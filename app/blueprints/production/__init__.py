"""Production: downtime records for now (lines, shifts, counts and OEE come later).

No pages yet, so no blueprint: the logbook and andon open and close downtime through
services.py.
"""
