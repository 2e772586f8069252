"""Scripts the grader runs inside its own containers on the lab network (standard library only)."""
