"""Example hfcore plugin: the ``recall`` task, the ``fixed`` damping and the ``mgu`` model."""
