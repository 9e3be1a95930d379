"""aima: bring up a local ASR + LLM + TTS stack on whatever NVIDIA machine this is."""

__version__ = "0.1.0"
