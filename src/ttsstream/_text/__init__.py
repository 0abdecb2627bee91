"""Sans-IO text processing: sentence splitting and Markdown-to-speech cleaning."""
