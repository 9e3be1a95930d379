"""The one definition of aima's engine names: the stack, the catalogue and the knowledge base all use it.

A leaf module (no imports), so the knowledge base can import it and stay a leaf.
"""

ENGINES = ("asr", "llm", "tts")
