"""Vocabularies: the single source of every feature size and special token.

Every featurizer stores atoms and bonds as small integer matrices (one column per
categorical feature).  ``FeatureSpec`` says how many values each column takes, where
the mask and self-loop tokens live, and (for dense featurizers such as ``rich``) how the
integer columns expand into the model's float input.  Embedding layers size themselves
from here, so a featurizer and a model cannot disagree about a vocabulary.

Conventions shared by all featurizers
-------------------------------------
* atom column 0 is the atom type; the mask token is ``atom_dims[0]`` in column 0 and 0 in
  every other column (Hu et al.: ``[119, 0]``).
* bond column 0 is the bond type; ``bond_dims[0]`` is the self-loop type and
  ``bond_dims[0] + 1`` the masked-bond type, other columns 0 (Hu et al.: ``[4, 0]``, ``[5, 0]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

# --- basic (Hu et al. 2020) -------------------------------------------------------------
NUM_ATOM_TYPE = 119  # Z-1 for Z in 1..118 -> 0..117, 118 = unknown/dummy atom
NUM_CHIRALITY = 4  # unspecified, CW, CCW, other (size 4, not 3)
NUM_BOND_TYPE = 4  # single, double, triple, aromatic
NUM_BOND_DIR = 3  # none, endupright, enddownright

# --- ogb (ogb.utils.features) -------------------------------------------------------------
OGB_ATOM_DIMS = (119, 5, 12, 12, 10, 6, 6, 2, 2)
OGB_BOND_DIMS = (5, 6, 2)

# --- rich (GROVER / Sun et al. 2022) ------------------------------------------------------
# compact integer columns -> one-hot blocks.  (name, number of integer values, one-hot width)
RICH_ATOM_COLUMNS: tuple[tuple[str, int, int], ...] = (
    ("atomic_num", 101, 101),  # Z-1 for Z in 1..100, 100 = unknown
    ("degree", 7, 7),  # 0..5 + unknown
    ("formal_charge", 6, 6),  # -1, -2, 1, 2, 0 + unknown
    ("chiral_tag", 5, 5),  # 0..3 + unknown
    ("num_hs", 6, 6),  # 0..4 + unknown
    ("hybridization", 6, 6),  # SP, SP2, SP3, SP3D, SP3D2 + unknown
    ("aromatic", 2, 1),  # flag
    ("mass", 0, 1),  # continuous: stored as round(mass * 1000), expanded to mass * 0.01
    ("implicit_valence", 8, 8),  # 0..6 + unknown
    ("hbond_acceptor", 2, 1),
    ("hbond_donor", 2, 1),
    ("acidic", 2, 1),
    ("basic", 2, 1),
    ("ring3", 2, 1),
    ("ring4", 2, 1),
    ("ring5", 2, 1),
    ("ring6", 2, 1),
    ("ring7", 2, 1),
    ("ring8", 2, 1),
)
RICH_MASS_SCALE = 1e-5  # stored milli-dalton * 1e-5 = dalton * 0.01
# bond type column: 0 = other, 1..4 = single, double, triple, aromatic; 5 = self-loop ("none")
RICH_BOND_COLUMNS: tuple[tuple[str, int, int], ...] = (
    ("bond_type", 5, 5),  # expands to [is_none, single, double, triple, aromatic]
    ("conjugated", 2, 1),
    ("in_ring", 2, 1),
    ("stereo", 7, 7),  # 0..5 + unknown
)
RICH_ATOM_DIM = 151
RICH_BOND_DIM = 14


@dataclass(frozen=True)
class FeatureSpec:
    """Sizes and special tokens of one featurizer's integer encoding.

    Attributes:
        name: featurizer name (``basic``, ``ogb``, ``rich``).
        version: bumped whenever the encoding changes; part of every cache key.
        atom_dims: number of values of each atom column (0 for a continuous column).
        bond_dims: number of values of each bond column.
        dense: whether the model consumes a dense float expansion (``rich``) rather than
            categorical embeddings (``basic``, ``ogb``).
        num_atom_classes: classes of the atom-type prediction target (column 0).
    """

    name: str
    version: str
    atom_dims: tuple[int, ...]
    bond_dims: tuple[int, ...]
    dense: bool = False
    atom_dense_dim: int = 0
    bond_dense_dim: int = 0
    storage_dtype: torch.dtype = field(default=torch.int16)

    # ---- sizes -----------------------------------------------------------------------
    @property
    def num_atom_features(self) -> int:
        return len(self.atom_dims)

    @property
    def num_bond_features(self) -> int:
        return len(self.bond_dims)

    @property
    def num_atom_classes(self) -> int:
        return self.atom_dims[0]

    @property
    def num_bond_classes(self) -> int:
        return self.bond_dims[0]

    @property
    def atom_vocab(self) -> tuple[int, ...]:
        """Embedding-table sizes per atom column: column 0 gets one extra row (mask)."""
        return (self.atom_dims[0] + 1, *self.atom_dims[1:])

    @property
    def bond_vocab(self) -> tuple[int, ...]:
        """Embedding-table sizes per bond column: column 0 gets self-loop and mask rows."""
        return (self.bond_dims[0] + 2, *self.bond_dims[1:])

    # ---- special tokens ----------------------------------------------------------------
    @property
    def atom_mask_token(self) -> tuple[int, ...]:
        return (self.atom_dims[0],) + (0,) * (len(self.atom_dims) - 1)

    @property
    def bond_self_loop_token(self) -> tuple[int, ...]:
        return (self.bond_dims[0],) + (0,) * (len(self.bond_dims) - 1)

    @property
    def bond_mask_token(self) -> tuple[int, ...]:
        return (self.bond_dims[0] + 1,) + (0,) * (len(self.bond_dims) - 1)

    def token(self, kind: str, device: torch.device | None = None) -> torch.Tensor:
        """A special token as a long tensor of shape (num_features,)."""
        values = {
            "atom_mask": self.atom_mask_token,
            "bond_self_loop": self.bond_self_loop_token,
            "bond_mask": self.bond_mask_token,
        }[kind]
        return torch.tensor(values, dtype=torch.long, device=device)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "atom_dims": list(self.atom_dims),
            "bond_dims": list(self.bond_dims),
            "dense": self.dense,
        }

    # ---- dense expansion (rich) ---------------------------------------------------------
    def expand_atoms(self, x: torch.Tensor) -> torch.Tensor:
        """Integer atom matrix (N, num_atom_features) -> float model input (N, atom_dense_dim).

        A masked atom (column 0 == mask token, others 0) expands to an all-zero atom-type
        block, so nothing about its identity leaks into the input.
        """
        if not self.dense:
            raise TypeError(f"featurizer {self.name!r} is categorical; embed it instead")
        return _expand(x, RICH_ATOM_COLUMNS, special=1)

    def expand_bonds(self, edge_attr: torch.Tensor) -> torch.Tensor:
        """Integer bond matrix (E, num_bond_features) -> float (E, bond_dense_dim).

        Bond type 5 (self-loop) sets GROVER's "bond is none" flag; 6 (mask) sets nothing.
        """
        if not self.dense:
            raise TypeError(f"featurizer {self.name!r} is categorical; embed it instead")
        bt = edge_attr[:, 0].long()
        type_block = torch.nn.functional.one_hot(bt, num_classes=7).float()
        type_block = type_block[:, [5, 1, 2, 3, 4]]
        rest = _expand(edge_attr[:, 1:], RICH_BOND_COLUMNS[1:], special=0)
        return torch.cat([type_block, rest], dim=1)


def _expand(
    x: torch.Tensor, columns: tuple[tuple[str, int, int], ...], special: int
) -> torch.Tensor:
    """One-hot expand integer columns; column 0 may carry ``special`` extra (mask) values."""
    blocks = []
    for j, (_name, n_values, width) in enumerate(columns):
        col = x[:, j]
        if n_values == 0:  # continuous
            blocks.append(col.float().unsqueeze(1) * RICH_MASS_SCALE)
        elif width == 1:  # flag
            blocks.append((col == 1).float().unsqueeze(1))
        else:
            extra = special if j == 0 else 0
            oh = torch.nn.functional.one_hot(col.long(), num_classes=n_values + extra).float()
            blocks.append(oh[:, :width])
    return torch.cat(blocks, dim=1)


BASIC = FeatureSpec(
    name="basic",
    version="1",
    atom_dims=(NUM_ATOM_TYPE, NUM_CHIRALITY),
    bond_dims=(NUM_BOND_TYPE, NUM_BOND_DIR),
)
OGB = FeatureSpec(name="ogb", version="1", atom_dims=OGB_ATOM_DIMS, bond_dims=OGB_BOND_DIMS)
RICH = FeatureSpec(
    name="rich",
    version="1",
    atom_dims=tuple(n for _, n, _ in RICH_ATOM_COLUMNS),
    bond_dims=tuple(n for _, n, _ in RICH_BOND_COLUMNS),
    dense=True,
    atom_dense_dim=RICH_ATOM_DIM,
    bond_dense_dim=RICH_BOND_DIM,
    storage_dtype=torch.int32,
)
SPECS: dict[str, FeatureSpec] = {s.name: s for s in (BASIC, OGB, RICH)}


def get_spec(name: str) -> FeatureSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"unknown featurizer {name!r}; choose one of: {', '.join(SPECS)}") from None


assert sum(w for _, _, w in RICH_ATOM_COLUMNS) == RICH_ATOM_DIM
assert sum(w for _, _, w in RICH_BOND_COLUMNS) == RICH_BOND_DIM
