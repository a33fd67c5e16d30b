"""Run hf-train with a fault injected on one rank (used by test_parallel.py through a real launcher).

Usage: python faulty_rank.py RANK ITERATION MODE [hf-train overrides...]. On ``RANK``, the gradient of
HF iteration ``ITERATION`` (1-based) raises ``RuntimeError`` (MODE ``raise``) or the process kills itself
with SIGKILL (MODE ``kill``). Every other rank runs normally.
"""

import os
import signal
import sys

import hfcore.cli
from hfcore.registry import load_plugins

bad_rank, bad_iteration, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
del sys.argv[1:4]


def faulty_plugins(*args, **kwargs):
    pm, registry = load_plugins(*args, **kwargs)
    backend = registry.get("backend", "numpy")

    def factory(*fargs):
        model = backend.factory(*fargs)
        original = model.loss_and_grad
        calls = {"n": 0}

        def loss_and_grad(theta, batch):
            rank = int(os.environ.get("PMI_RANK", os.environ.get("RANK", "0")))
            calls["n"] += 1
            if rank == bad_rank and calls["n"] > (bad_iteration - 1) * sharded_calls_per_iteration():
                if mode == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise RuntimeError(f"injected fault at iteration {bad_iteration}")
            return original(theta, batch)

        model.loss_and_grad = loss_and_grad
        return model

    registry._components[("backend", "numpy")] = backend.__class__(**{**backend.__dict__, "factory": factory})
    return pm, registry


def sharded_calls_per_iteration():
    # Each rank computes shards/ranks gradient shards per HF iteration.
    shards = next(int(a.split("=")[1]) for a in sys.argv if a.startswith("parallel.shards="))
    ranks = int(os.environ.get("PMI_SIZE", os.environ.get("WORLD_SIZE", "1")))
    return shards // ranks


hfcore.cli.load_plugins = faulty_plugins
hfcore.cli.main()
