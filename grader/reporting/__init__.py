"""Reporters: they only format results (terminal, Gradescope, CSV); they never judge."""
