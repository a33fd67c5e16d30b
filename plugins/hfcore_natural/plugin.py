"""Natural sequence tasks (work in progress: registers nothing yet)."""
