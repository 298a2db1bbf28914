"""Tracker: an event-sourced backend that follows the AI industry."""

__version__ = "0.1.0"
