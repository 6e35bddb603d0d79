"""Motia TUI: a terminal workbench for the Motia-style step engine."""
