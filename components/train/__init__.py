from mlrail.components.train.component import train

__all__ = ["train"]
