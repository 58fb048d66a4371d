"""Neural network parts: embeddings, convolutions, encoders, pooling, GraphModel."""

from molpt.nn.convs import CONVS, GATConv, GCNConv, GINConv, SAGEConv
from molpt.nn.embeddings import AtomEmbedding, BondEmbedding, CategoricalEmbedding
from molpt.nn.encoder import JK_MODES, Encoder, build_encoder
from molpt.nn.model import GraphModel
from molpt.nn.pooling import POOLINGS

ENCODERS = CONVS  # encoder names are the conv names: gin, gcn, sage, gat

__all__ = [
    "CONVS",
    "ENCODERS",
    "JK_MODES",
    "POOLINGS",
    "AtomEmbedding",
    "BondEmbedding",
    "CategoricalEmbedding",
    "Encoder",
    "GATConv",
    "GCNConv",
    "GINConv",
    "GraphModel",
    "SAGEConv",
    "build_encoder",
]
