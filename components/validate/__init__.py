from mlrail.components.validate.component import validate

__all__ = ["validate"]
