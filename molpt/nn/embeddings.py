"""Input embeddings sized from the featurizer vocabulary (molpt.featurize.vocab)."""

from __future__ import annotations

import torch
from torch import nn

from molpt.featurize.vocab import FeatureSpec, get_spec


class CategoricalEmbedding(nn.Module):
    """Sum of one embedding per integer column, fused into a single table lookup.

    Column ``j`` value ``v`` reads row ``offset[j] + v`` of one table, and the rows of all
    columns are summed: mathematically ``sum_j Emb_j(x[:, j])`` (Hu et al.), but one kernel.

    Shapes: x (N, C) long -> (N, hidden_dim).
    """

    def __init__(self, vocab: tuple[int, ...], hidden_dim: int) -> None:
        super().__init__()
        self.vocab = tuple(vocab)
        offsets = torch.tensor([0, *vocab[:-1]], dtype=torch.long).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        self.table = nn.Embedding(sum(vocab), hidden_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Xavier-uniform per original table (Hu et al. initialise each table that way)
        with torch.no_grad():
            start = 0
            for n in self.vocab:
                nn.init.xavier_uniform_(self.table.weight[start : start + n])
                start += n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 0:
            return self.table.weight.new_zeros(0, self.table.embedding_dim)
        return self.table(x + self.offsets).sum(dim=1)


class AtomEmbedding(nn.Module):
    """Atom integer features -> (N, hidden_dim): embeddings (basic/ogb) or Linear (rich)."""

    def __init__(self, spec: FeatureSpec | str, hidden_dim: int) -> None:
        super().__init__()
        self.spec = get_spec(spec) if isinstance(spec, str) else spec
        if self.spec.dense:
            self.proj: nn.Module = nn.Linear(self.spec.atom_dense_dim, hidden_dim)
        else:
            self.proj = CategoricalEmbedding(self.spec.atom_vocab, hidden_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spec.dense:
            return self.proj(self.spec.expand_atoms(x))
        return self.proj(x)


class BondEmbedding(nn.Module):
    """Bond features -> (E, hidden_dim).

    Takes the *prepared* bond input from :func:`prepare_bonds` (long indices for
    categorical featurizers, the dense float expansion for ``rich``), so the expansion is
    done once per forward pass and shared by every layer.
    """

    def __init__(self, spec: FeatureSpec | str, hidden_dim: int) -> None:
        super().__init__()
        self.spec = get_spec(spec) if isinstance(spec, str) else spec
        if self.spec.dense:
            self.proj: nn.Module = nn.Linear(self.spec.bond_dense_dim, hidden_dim)
        else:
            self.proj = CategoricalEmbedding(self.spec.bond_vocab, hidden_dim)

    def forward(self, bond_input: torch.Tensor) -> torch.Tensor:
        return self.proj(bond_input)


def prepare_bonds(spec: FeatureSpec, edge_attr: torch.Tensor) -> torch.Tensor:
    """Integer bond matrix -> what BondEmbedding consumes (long or dense float)."""
    return spec.expand_bonds(edge_attr) if spec.dense else edge_attr.long()


def self_loop_input(spec: FeatureSpec, device: torch.device) -> torch.Tensor:
    """The self-loop bond token prepared like a bond row: shape (1, C)."""
    return prepare_bonds(spec, spec.token("bond_self_loop", device).unsqueeze(0))
