"""RDKit molecule -> integer atom/bond matrices for the basic, ogb and rich featurizers.

Speed: per molecule, Python only reads raw RDKit integers (one tuple per atom / bond);
the mapping of those raw values to feature indices is done in bulk with numpy lookup
tables over a whole chunk of molecules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdchem

from molpt.featurize.vocab import BASIC, OGB, RICH, FeatureSpec
from molpt.registry import Registry

FEATURIZERS: Registry[type[Featurizer]] = Registry("featurizer")


class InvalidSmilesError(ValueError):
    """A SMILES string that RDKit cannot turn into a molecule with at least one atom."""

    def __init__(self, smiles: object, reason: str) -> None:
        super().__init__(f"invalid SMILES {smiles!r}: {reason}")
        self.smiles = smiles
        self.reason = reason


def _lut(size: int, mapping: dict[int, int], default: int) -> np.ndarray:
    table = np.full(size, default, dtype=np.int64)
    for k, v in mapping.items():
        table[int(k)] = v
    return table


def _by_name(enum: type, names: Sequence[str]) -> dict[int, int]:
    """Map RDKit enum integer values to positions in ``names`` (robust across versions)."""
    return {int(enum.names[n]): i for i, n in enumerate(names) if n in enum.names}


_ENUM_SIZE = 64  # larger than any RDKit enum value used here


#: longest SMILES molpt parses: RDKit's parse grows faster than linearly (about 1 s at
#: 12,000 characters); a longer one is reported as invalid instead of stalling every step
MAX_SMILES_CHARS = 20_000


def smiles_problem(smiles: object) -> str | None:
    """Why ``smiles`` (already stripped) must not reach RDKit, or None.

    RDKit reads whatever follows whitespace as the molecule's name, so ``"CCO c1ccccc1"``
    would silently become ethanol: a SMILES with whitespace inside is invalid.
    """
    if not isinstance(smiles, str) or not smiles:
        return "empty or missing SMILES"
    if len(smiles) > MAX_SMILES_CHARS:
        return (
            f"SMILES has {len(smiles):,} characters, more than molpt's limit of "
            f"{MAX_SMILES_CHARS:,} (larger molecules would stall RDKit)"
        )
    if any(c.isspace() for c in smiles):
        return "SMILES contains whitespace (RDKit would read only the part before it)"
    return None


def parse_smiles(smiles: object) -> Chem.Mol:
    """Parse a SMILES string with RDKit; raise InvalidSmilesError with RDKit's reason.

    Surrounding whitespace is ignored; whitespace inside is an error (see
    ``smiles_problem``).
    """
    problem = smiles_problem(smiles.strip() if isinstance(smiles, str) else smiles)
    if problem is not None:
        raise InvalidSmilesError(smiles, problem)
    mol = Chem.MolFromSmiles(smiles.strip())
    if mol is None:
        raise InvalidSmilesError(smiles, explain_invalid(smiles))
    if mol.GetNumAtoms() == 0:
        raise InvalidSmilesError(smiles, "molecule has no atoms")
    return mol


# Characters that make MolFromSmiles' extra steps matter: explicit-H removal needs bracket
# atoms; stereo perception needs '@', '/' or '\'.  Without them, parse + SanitizeMol yields
# the same molecule ~20% faster (guarded by tests against the full path).
_FULL_PARSE_CHARS = "[@/\\"


def parse_for_features(smiles: str) -> Chem.Mol | None:
    """Parse + sanitize like ``Chem.MolFromSmiles``, skipping steps this SMILES cannot need.

    Returns None where MolFromSmiles would (callers ask ``explain_invalid`` for the reason).
    """
    for c in _FULL_PARSE_CHARS:
        if c in smiles:
            return Chem.MolFromSmiles(smiles)
    mol = Chem.MolFromSmiles(smiles, sanitize=False)
    if mol is None:
        return None
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # valence / kekulization errors: MolFromSmiles would return None
        return None
    return mol


def explain_invalid(smiles: str) -> str:
    """RDKit's reason why a SMILES fails (only called for failures, so speed is no concern)."""
    raw = Chem.MolFromSmiles(smiles, sanitize=False)
    if raw is None:
        return "SMILES syntax error (RDKit could not parse it)"
    try:
        Chem.SanitizeMol(raw)
    except Exception as exc:  # RDKit raises several exception types with a message
        return f"{type(exc).__name__}: {exc}".strip()
    return "RDKit returned no molecule"


@dataclass
class Encoded:
    """A chunk of molecules in compact form (local node indices per molecule)."""

    x: np.ndarray  # (N_total, num_atom_features)
    edge_index: np.ndarray  # (2, E_total) local indices, both directions per bond
    edge_attr: np.ndarray  # (E_total, num_bond_features)
    num_nodes: np.ndarray  # (G,)
    num_edges: np.ndarray  # (G,)


@dataclass
class _Accumulator:
    """Raw per-column values of many molecules, collected before the bulk mapping."""

    atom_cols: list[list] = field(default_factory=list)
    bond_cols: list[list] = field(default_factory=list)
    extra_atom: list = field(default_factory=list)
    num_nodes: list[int] = field(default_factory=list)
    num_bonds: list[int] = field(default_factory=list)
    #: (first bond position, exact RDKit BondType ints) of molecules that may hold dative bonds
    exact_bond_types: list[tuple[int, list[int]]] = field(default_factory=list)
    bonds_seen: int = 0


A = Chem.Atom
B = Chem.Bond

# Raw values that are 0 (CHI_UNSPECIFIED, no radicals, BondDir NONE, STEREONONE) unless the
# SMILES string has the syntax that creates them: tetrahedral/other atom stereo only comes
# from '@'; radicals only on bracket atoms ('['; organic-subset atoms get implicit Hs);
# bond directions and double-bond stereo only from '/' or '\'.  Guarded by tests comparing
# the fast path with the full one and with OGB.
ZERO_UNLESS: dict = {
    A.GetChiralTag: "@",
    A.GetNumRadicalElectrons: "[",
    B.GetBondDir: "/\\",
    B.GetStereo: "/\\",
}


# RDKit float bond order -> BondType enum value (orders a SMILES can produce; others OTHER)
_ORDER_TO_TYPE = {
    1.0: int(rdchem.BondType.SINGLE),
    1.5: int(rdchem.BondType.AROMATIC),
    2.0: int(rdchem.BondType.DOUBLE),
    3.0: int(rdchem.BondType.TRIPLE),
    4.0: int(rdchem.BondType.QUADRUPLE),
    0.0: int(rdchem.BondType.ZERO),
}
_AROMATIC = int(rdchem.BondType.AROMATIC)
_ORDER_LUT = np.full(17, int(rdchem.BondType.OTHER), dtype=np.int64)
for _order, _type in _ORDER_TO_TYPE.items():
    _ORDER_LUT[int(_order * 2)] = _type


def _bond_type_codes(acc: _Accumulator, col: int) -> np.ndarray:
    """Bond column ``col`` (bond orders) as RDKit BondType ints, exact where recorded."""
    orders = np.asarray(acc.bond_cols[col], dtype=np.float64)
    codes = _ORDER_LUT[np.clip(np.rint(orders * 2), 0, 16).astype(np.int64)]
    for first, exact in acc.exact_bond_types:
        codes[first : first + len(exact)] = exact
    return codes


class Featurizer:
    """Base class.

    Subclasses list the RDKit getters to read per atom / per bond (``atom_getters``,
    ``bond_getters``; bonds always start with begin and end index) and map the raw
    columns to feature indices in bulk (``map_atoms``, ``map_bonds``).  A subclass that
    needs more than plain getters overrides ``atom_extra``.
    """

    name: str = ""
    spec: FeatureSpec
    atom_getters: tuple = ()
    bond_getters: tuple = ()
    #: getter -> SMILES characters: the getter's raw value is 0 for every atom (bond) unless
    #: the SMILES string contains one of those characters, so ``collect`` skips the RDKit
    #: calls when it is given the SMILES (see ``ZERO_UNLESS``)
    zero_unless: dict = {}

    def atom_extra(self, mol: Chem.Mol, atoms: list[Chem.Atom]) -> list[tuple] | None:
        return None

    def map_atoms(
        self, raw: np.ndarray, explicit_degree: np.ndarray, aromatic: np.ndarray
    ) -> np.ndarray:
        raise NotImplementedError

    def map_bonds(self, raw: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def new_accumulator(self) -> _Accumulator:
        return _Accumulator(
            atom_cols=[[] for _ in self.atom_getters],
            bond_cols=[[] for _ in range(2 + len(self.bond_getters))],
        )

    def collect(self, mol: Chem.Mol, acc: _Accumulator, smiles: str | None = None) -> None:
        """Read one molecule's raw numbers into ``acc`` (the only per-molecule Python).

        With ``smiles`` (the string ``mol`` was parsed from), getters listed in
        ``zero_unless`` are skipped when the string cannot produce a non-zero value.
        Bond types are read as RDKit's cheap float bond order; only molecules whose SMILES
        may hold a dative bond (order 1.0, like a single bond) also read the exact bond-type
        enum: ``->``/``<-`` in the SMILES, or a bracket atom (sanitization turns some bonds
        to metals, which always need brackets, into dative bonds).
        """
        n = mol.GetNumAtoms()
        atoms = list(map(mol.GetAtomWithIdx, range(n)))
        zero = self._zero_getters(smiles)
        for col, getter in zip(acc.atom_cols, self.atom_getters, strict=True):
            if getter in zero:
                col.extend(repeat(0, n))
            else:
                col.extend(map(getter, atoms))
        extra = self.atom_extra(mol, atoms)
        if extra is not None:
            acc.extra_atom.extend(extra)
        acc.num_nodes.append(n)
        nb = mol.GetNumBonds()
        acc.num_bonds.append(nb)
        if nb:
            bonds = list(map(mol.GetBondWithIdx, range(nb)))
            getters = (B.GetBeginAtomIdx, B.GetEndAtomIdx, *self._bond_readers)
            for col, getter in zip(acc.bond_cols, getters, strict=True):
                if getter in zero:
                    col.extend(repeat(0, nb))
                else:
                    col.extend(map(getter, bonds))
            if self._type_col is not None and (
                smiles is None or "[" in smiles or ">" in smiles or "<" in smiles
            ):
                acc.exact_bond_types.append(
                    (acc.bonds_seen, [int(t) for t in map(B.GetBondType, bonds)])
                )
            acc.bonds_seen += nb

    def _zero_getters(self, smiles: str | None) -> frozenset:
        """Getters whose value must be 0 for this SMILES (memoised by character pattern)."""
        if smiles is None or not self.zero_unless:
            return frozenset()
        key = tuple(any(c in smiles for c in chars) for chars in self._zero_chars)
        hit = self._zero_cache.get(key)
        if hit is None:
            pairs = zip(self._zero_keys, key, strict=True)
            hit = frozenset(g for g, present in pairs if not present)
            self._zero_cache[key] = hit
        return hit

    def __init__(self) -> None:
        self._zero_keys = tuple(self.zero_unless)
        self._zero_chars = tuple(self.zero_unless[g] for g in self._zero_keys)
        self._zero_cache: dict[tuple, frozenset] = {}
        getters = list(self.bond_getters)
        self._type_col = getters.index(B.GetBondType) if B.GetBondType in getters else None
        if self._type_col is not None:
            getters[self._type_col] = B.GetBondTypeAsDouble
        self._bond_readers = tuple(getters)

    def encode_mols(self, mols: Sequence[Chem.Mol]) -> Encoded:
        """Featurize already-parsed molecules in one bulk pass."""
        acc = self.new_accumulator()
        for mol in mols:
            self.collect(mol, acc)
        return self.finish(acc)

    def finish(self, acc: _Accumulator) -> Encoded:
        """Map the collected raw numbers to feature indices in bulk."""
        nb = self.spec.num_bond_features
        num_nodes = np.asarray(acc.num_nodes, dtype=np.int64)
        num_bonds = np.asarray(acc.num_bonds, dtype=np.int64)
        n_total = int(num_nodes.sum())
        cols = [np.asarray(c, dtype=np.int64) for c in acc.atom_cols]
        if acc.extra_atom:
            extra = np.asarray(acc.extra_atom, dtype=np.int64).reshape(n_total, -1)
            cols.extend(extra.T)
        raw_atoms = np.stack(cols, axis=1) if cols else np.zeros((n_total, 0), np.int64)
        if num_bonds.sum():
            bcols = [np.asarray(c, dtype=np.int64) for c in acc.bond_cols]
            if self._type_col is not None:
                bcols[2 + self._type_col] = _bond_type_codes(acc, 2 + self._type_col)
            braw = np.stack(bcols, axis=1)
            # global atom ids of each bond's ends -> explicit degree in bulk
            offs = np.repeat(np.cumsum(num_nodes) - num_nodes, num_bonds)
            ends = np.concatenate([braw[:, 0] + offs, braw[:, 1] + offs])
            deg = np.bincount(ends, minlength=n_total)
            # an atom is aromatic iff it has an aromatic bond (RDKit sets both flags together)
            aromatic = np.zeros(n_total, dtype=np.int64)
            if self._type_col is not None:
                is_arom = np.tile(braw[:, 2 + self._type_col] == _AROMATIC, 2)
                aromatic[ends[is_arom]] = 1
            battr = self.map_bonds(braw[:, 2:])
            e = braw[:, :2]  # (B, 2) begin, end
            edge_index = np.stack([e, e[:, ::-1]], axis=1).reshape(-1, 2).T  # i->j, j->i
            edge_attr = np.repeat(battr, 2, axis=0)
        else:
            deg = np.zeros(n_total, dtype=np.int64)
            aromatic = np.zeros(n_total, dtype=np.int64)
            edge_index = np.zeros((2, 0), dtype=np.int64)
            edge_attr = np.zeros((0, nb), dtype=np.int64)
        x = self.map_atoms(raw_atoms, deg, aromatic)
        assert x.shape[1] == self.spec.num_atom_features
        return Encoded(
            x=x,
            edge_index=np.ascontiguousarray(edge_index),
            edge_attr=edge_attr,
            num_nodes=num_nodes,
            num_edges=num_bonds * 2,
        )


# ------------------------------------------------------------------------------------------
# basic: Hu et al. 2020
# ------------------------------------------------------------------------------------------
_BOND_TYPE_HU = _lut(
    _ENUM_SIZE, _by_name(rdchem.BondType, ["SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"]), 0
)
_BOND_DIR_HU = _lut(_ENUM_SIZE, _by_name(rdchem.BondDir, ["NONE", "ENDUPRIGHT", "ENDDOWNRIGHT"]), 0)
_CHIRAL_HU = _lut(
    _ENUM_SIZE,
    _by_name(
        rdchem.ChiralType,
        ["CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW", "CHI_OTHER"],
    ),
    3,  # any newer tag (allene, square planar, ...) -> CHI_OTHER
)


def _atomic_index(z: np.ndarray, max_z: int) -> np.ndarray:
    """Z-1 for 1 <= Z <= max_z, else the unknown slot max_z."""
    return np.where((z >= 1) & (z <= max_z), z - 1, max_z)


@FEATURIZERS.register("basic")
class BasicFeaturizer(Featurizer):
    """Hu et al. 2020: atom [Z-1, chirality], bond [type, direction]."""

    zero_unless = ZERO_UNLESS
    name = "basic"
    spec = BASIC
    atom_getters = (A.GetAtomicNum, A.GetChiralTag)
    bond_getters = (B.GetBondType, B.GetBondDir)

    def map_atoms(
        self, raw: np.ndarray, explicit_degree: np.ndarray, aromatic: np.ndarray
    ) -> np.ndarray:
        return np.stack([_atomic_index(raw[:, 0], 118), _CHIRAL_HU[raw[:, 1]]], axis=1)

    def map_bonds(self, raw: np.ndarray) -> np.ndarray:
        return np.stack([_BOND_TYPE_HU[raw[:, 0]], _BOND_DIR_HU[raw[:, 1]]], axis=1)


# ------------------------------------------------------------------------------------------
# ogb: identical to ogb.utils.smiles2graph
# ------------------------------------------------------------------------------------------
_CHIRAL_OGB = _lut(
    _ENUM_SIZE,
    _by_name(
        rdchem.ChiralType,
        ["CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW", "CHI_OTHER"],
    ),
    4,  # 'misc'
)
_HYB_OGB = _lut(
    _ENUM_SIZE, _by_name(rdchem.HybridizationType, ["SP", "SP2", "SP3", "SP3D", "SP3D2"]), 5
)
_BOND_TYPE_OGB = _lut(
    _ENUM_SIZE, _by_name(rdchem.BondType, ["SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"]), 4
)
# OGB raises on stereo tags outside its list (atropisomers); molpt maps them to STEREOANY.
_STEREO_OGB = _lut(
    _ENUM_SIZE,
    _by_name(
        rdchem.BondStereo,
        ["STEREONONE", "STEREOZ", "STEREOE", "STEREOCIS", "STEREOTRANS", "STEREOANY"],
    ),
    5,
)


def _clip_index(v: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Index of v in [lo..hi] (as list position), else the 'misc' slot hi - lo + 1."""
    return np.where((v >= lo) & (v <= hi), v - lo, hi - lo + 1)


@FEATURIZERS.register("ogb")
class OgbFeaturizer(Featurizer):
    """The OGB featurization (9 atom, 3 bond features), identical to smiles2graph.

    Total degree is computed in bulk as explicit degree (from the bonds) + total H count,
    which is how RDKit defines it, and the aromatic flag from the aromatic bonds, saving two
    RDKit calls per atom.
    """

    zero_unless = ZERO_UNLESS
    name = "ogb"
    spec = OGB
    atom_getters = (
        A.GetAtomicNum,
        A.GetChiralTag,
        A.GetFormalCharge,
        A.GetTotalNumHs,
        A.GetNumRadicalElectrons,
        A.GetHybridization,
        A.IsInRing,
    )
    bond_getters = (B.GetBondType, B.GetStereo, B.GetIsConjugated)

    def map_atoms(
        self, raw: np.ndarray, explicit_degree: np.ndarray, aromatic: np.ndarray
    ) -> np.ndarray:
        return np.stack(
            [
                _atomic_index(raw[:, 0], 118),
                _CHIRAL_OGB[raw[:, 1]],
                _clip_index(explicit_degree + raw[:, 3], 0, 10),
                _clip_index(raw[:, 2], -5, 5),
                _clip_index(raw[:, 3], 0, 8),
                _clip_index(raw[:, 4], 0, 4),
                _HYB_OGB[raw[:, 5]],
                aromatic,
                raw[:, 6],
            ],
            axis=1,
        )

    def map_bonds(self, raw: np.ndarray) -> np.ndarray:
        return np.stack([_BOND_TYPE_OGB[raw[:, 0]], _STEREO_OGB[raw[:, 1]], raw[:, 2]], axis=1)


# ------------------------------------------------------------------------------------------
# rich: GROVER / Sun et al. 2022 (151 atom, 14 bond features after expansion)
# ------------------------------------------------------------------------------------------
_SMARTS = {
    "acceptor": "[$([O,S;H1;v2;!$(*-*=[O,N,P,S])]),$([O,S;H0;v2]),$([O,S;-]),"
    "$([N;v3;!$(N-*=[O,N,P,S])]),n&H0&+0,$([o,s;+0;!$([o,s]:n);!$([o,s]:c:n)])]",
    "donor": "[$([N;!H0;v3,v4&+1]),$([O,S;H1;+0]),n&H1&+0]",
    "acidic": "[$([C,S](=[O,S,P])-[O;H1,-1])]",
    "basic": "[#7;+,$([N;H2&+0][$([C,a]);!$([C,a](=O))]),"
    "$([N;H1&+0]([$([C,a]);!$([C,a](=O))])[$([C,a]);!$([C,a](=O))]),"
    "$([N;H0&+0]([C;!$(C(=O))])([C;!$(C(=O))])[C;!$(C(=O))])]",
}
_PATTERNS = {k: Chem.MolFromSmarts(v) for k, v in _SMARTS.items()}
_CHARGE_RICH = _lut(_ENUM_SIZE, {(-1) % _ENUM_SIZE: 0, (-2) % _ENUM_SIZE: 1, 1: 2, 2: 3, 0: 4}, 5)
_HYB_RICH = _HYB_OGB  # SP, SP2, SP3, SP3D, SP3D2 + unknown (5)
_BOND_TYPE_RICH = _lut(
    _ENUM_SIZE,
    {
        k: v + 1
        for k, v in _by_name(rdchem.BondType, ["SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"]).items()
    },
    0,
)


if hasattr(Chem, "ValenceType"):

    def _implicit_valence(atom: Chem.Atom) -> int:
        return atom.GetValence(Chem.ValenceType.IMPLICIT)

else:  # older RDKit

    def _implicit_valence(atom: Chem.Atom) -> int:
        return atom.GetImplicitValence()


def _matched_atoms(mol: Chem.Mol, pattern: Chem.Mol) -> set[int]:
    return {m[0] for m in mol.GetSubstructMatches(pattern)}


@FEATURIZERS.register("rich")
class RichFeaturizer(Featurizer):
    """GROVER's atom (151) and bond (14) features, stored as integer columns."""

    zero_unless = ZERO_UNLESS
    name = "rich"
    spec = RICH
    atom_getters = (
        A.GetAtomicNum,
        A.GetFormalCharge,
        A.GetChiralTag,
        A.GetTotalNumHs,
        A.GetHybridization,
        A.GetIsAromatic,
        _implicit_valence,
    )
    bond_getters = (B.GetBondType, B.GetIsConjugated, B.IsInRing, B.GetStereo)

    def atom_extra(self, mol: Chem.Mol, atoms: list[Chem.Atom]) -> list[tuple]:
        """Mass (milli-dalton), SMARTS flags and ring-size membership, per atom."""
        acc, don, acid, base = (_matched_atoms(mol, _PATTERNS[k]) for k in _PATTERNS)
        ri = mol.GetRingInfo()
        out = []
        for a in atoms:
            i = a.GetIdx()
            out.append(
                (
                    round(a.GetMass() * 1000),
                    i in acc,
                    i in don,
                    i in acid,
                    i in base,
                    *(ri.IsAtomInRingOfSize(i, k) for k in range(3, 9)),
                )
            )
        return out

    def map_atoms(
        self, raw: np.ndarray, explicit_degree: np.ndarray, aromatic: np.ndarray
    ) -> np.ndarray:
        # raw: Z, charge, chiral, Hs, hybridization, aromatic, valence, mass, 4 flags, 6 rings
        return np.stack(
            [
                _atomic_index(raw[:, 0], 100),
                _clip_index(explicit_degree + raw[:, 3], 0, 5),
                _CHARGE_RICH[raw[:, 1] % _ENUM_SIZE],
                np.where(raw[:, 2] <= 3, raw[:, 2], 4),
                _clip_index(raw[:, 3], 0, 4),
                _HYB_RICH[raw[:, 4]],
                raw[:, 5],
                raw[:, 7],
                _clip_index(raw[:, 6], 0, 6),
                *(raw[:, j] for j in range(8, 18)),
            ],
            axis=1,
        )

    def map_bonds(self, raw: np.ndarray) -> np.ndarray:
        return np.stack(
            [
                _BOND_TYPE_RICH[raw[:, 0]],
                raw[:, 1],
                raw[:, 2],
                np.where(raw[:, 3] <= 5, raw[:, 3], 6),
            ],
            axis=1,
        )


_INSTANCES: dict[str, Featurizer] = {}


def get_featurizer(name_or_obj: str | Featurizer) -> Featurizer:
    """A featurizer instance from its registered name (or the instance itself)."""
    if isinstance(name_or_obj, Featurizer):
        return name_or_obj
    if name_or_obj not in _INSTANCES:
        _INSTANCES[name_or_obj] = FEATURIZERS.get(name_or_obj)()
    return _INSTANCES[name_or_obj]
