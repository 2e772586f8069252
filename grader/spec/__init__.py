"""A lab's spec.yaml: its typed model (model), the loader (loader) and its JSON Schema."""
