"""langfuse-aio: the Langfuse v3 server as one installable Python process."""

__version__ = "0.1.0"
