"""robalign: robust LLM alignment and evaluation."""
__version__ = "0.1.0"
