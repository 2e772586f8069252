"""Scenarios: what the grader runs for a check, and the observations that come back."""
