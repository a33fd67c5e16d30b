"""PyTorch backend of hfcore: the tanh RNN and the linear model, on CPU or CUDA.

Importing this package (or its ``plugin`` module) does not import torch; the
model modules do, and :func:`hfcore_torch.plugin.make_model` imports them lazily.
"""
