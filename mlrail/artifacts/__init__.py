"""The formats mlrail's components pass to each other, each owned by one module.

A component never imports another component: what two of them share (the examples layout, the
model spec, the model repository, tensorflow-metadata files, the V2 codec, JSON-safe floats, the
parity bound) lives here, below every component, and imports nothing above it.
"""
