"""MPI communicator for data-parallel hfcore runs (mpi4py)."""
