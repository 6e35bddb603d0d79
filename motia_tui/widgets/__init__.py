"""Widget building blocks; the terminal-free geometry cores live beside the Textual widgets."""
