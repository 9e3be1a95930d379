"""Model files: where each model comes from (Hugging Face), the shared hub cache, and resumable verified downloads."""
