"""The torch backend (work in progress: registers nothing yet)."""
