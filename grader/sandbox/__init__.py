"""The Docker side: engine, runtime image, lab networks and containers, all labelled."""
