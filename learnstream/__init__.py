"""learnstream: an event-driven stream-processing backbone for learning platforms."""

from learnstream.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
__version__ = "0.1.0"
