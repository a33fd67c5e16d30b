"""Example hfcore plugin: the ``recall`` task and the ``fixed`` damping."""
