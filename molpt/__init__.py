"""molpt: molecular GNN pretraining and benchmarking."""

__version__ = "0.1.0"
