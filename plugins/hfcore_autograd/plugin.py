"""The autograd backend (work in progress: registers nothing yet)."""
