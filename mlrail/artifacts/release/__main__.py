"""``python -m mlrail.artifacts.release``: rewrite ``release.schema.json`` from the dataclasses."""

from mlrail.artifacts.release.codec import write_schema
from mlrail.artifacts.release.record import SCHEMA_FILE

write_schema()
print(f"wrote {SCHEMA_FILE}")
