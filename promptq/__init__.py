"""promptq: an asynchronous job queue for production LLM calls."""

__version__ = "0.1.0"
