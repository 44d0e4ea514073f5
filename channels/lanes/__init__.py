"""Channel lanes: one package per channel kind behind one protocol (base.py), found through
the registry (registry.py), the only place that maps a channel kind to its lane."""
