"""Importers: a foreign state dict -> molpt ``Encoder`` weights -> an ordinary molpt checkpoint.

One importer per file format, registered in ``IMPORTERS``.  An importer receives the loaded
state dict (tensors only: files are read with ``weights_only=True``) and the molpt encoder
name, checks every key and shape, and returns the molpt encoder config and state dict plus
notes on anything it had to change.  :func:`import_checkpoint` writes the result with
:func:`molpt.train.checkpoint.save_checkpoint`; after that, nothing in molpt knows the file
was ever foreign.

``hu2020``: the ``GNN`` class of Hu et al. 2020 (snap-stanford/pretrain-gnns) and the later
releases in the same layout (GraphMAE, GraphCL, Mole-BERT, GraphLoG)::

    x_embedding1.weight             (120, d)    atom type, 118 = unknown, 119 = mask
    x_embedding2.weight             (3, d)      chirality (molpt: 4 rows)
    gnns.{l}.edge_embedding1.weight (6, d')     bond type, 4 = self-loop, 5 = mask
    gnns.{l}.edge_embedding2.weight (3, d')     bond direction
    gin:      gnns.{l}.mlp.0.{weight,bias} (2d, d), gnns.{l}.mlp.2.{weight,bias} (d, 2d)
    gcn/sage: gnns.{l}.linear.{weight,bias} (d, d)
    gat:      gnns.{l}.weight_linear.{weight,bias} (H d, d), gnns.{l}.att (1, H, 2d),
              gnns.{l}.bias (d)
    batch_norms.{l}.{weight,bias,running_mean,running_var[,num_batches_tracked]}

with d' = d except GAT (d' = H d).  molpt's basic featurizer uses exactly these vocabularies
(atom table 120 + chirality 4 rows, bond table 6 + 3 rows), so the tables are concatenated
into molpt's fused embedding tables.  Hu's chirality table has 3 rows (index 3, CHI_OTHER,
crashed their code); molpt's row 3 becomes a copy of row 0 (CHI_UNSPECIFIED): an atom whose
chirality is "other" is embedded like one with no chirality information.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from molpt.featurize.vocab import BASIC
from molpt.nn.convs import GATConv
from molpt.nn.encoder import Encoder
from molpt.registry import Registry
from molpt.train.checkpoint import CheckpointError, save_checkpoint
from molpt.utils import file_sha256

log = logging.getLogger(__name__)

#: bumped whenever an importer's output changes (part of the import cache key)
IMPORTER_VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"


class CheckpointImportError(CheckpointError):
    """A file that the named importer cannot turn into the named encoder (one line)."""


@dataclass
class Imported:
    """What an importer returns.

    Attributes:
        encoder_config: ``Encoder`` kwargs (featurizer, conv, num_layers, hidden_dim, ...).
        encoder_state: the ``Encoder`` state dict (float32 CPU tensors).
        notes: what the importer changed or inferred, stored in the checkpoint.
    """

    encoder_config: dict[str, Any]
    encoder_state: dict[str, torch.Tensor]
    notes: dict[str, Any] = field(default_factory=dict)


Importer = Callable[[dict[str, torch.Tensor], str | None], Imported]
IMPORTERS: Registry[Importer] = Registry("checkpoint format")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a foreign state dict safely: CPU, ``weights_only=True``, tensors only."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # an arbitrary file fails in many ways inside the unpickler
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointImportError(
            f"{path} is not a loadable state dict ({first[:200]})"
        ) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj:
        raise CheckpointImportError(f"{path} is not a state dict (found {type(obj).__name__})")
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointImportError(
                f"{path} is not a state dict: entry {key!r} is a {type(value).__name__}, "
                "not a tensor"
            )
    return dict(obj)


# ------------------------------------------------------------------------------------------
# hu2020
# ------------------------------------------------------------------------------------------
HU_ATOM_ROWS = 120  # 118 elements + unknown (118) + mask (119)
HU_CHIRALITY_ROWS = 3
HU_BOND_TYPE_ROWS = 6  # 4 types + self-loop (4) + mask (5)
HU_BOND_DIR_ROWS = 3
_HU_CONV_KEYS = {
    "gin": ("mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias"),
    "gcn": ("linear.weight", "linear.bias"),
    "sage": ("linear.weight", "linear.bias"),
    "gat": ("att", "bias", "weight_linear.weight", "weight_linear.bias"),
}
_BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _hu_looks_like(sd: dict[str, torch.Tensor]) -> str:
    """The encoder(s) a Hu-format file's layer-0 keys suggest, for error messages."""
    if "gnns.0.mlp.0.weight" in sd:
        return "gin"
    if "gnns.0.weight_linear.weight" in sd or "gnns.0.att" in sd:
        return "gat"
    if "gnns.0.linear.weight" in sd:
        return "gcn or sage"
    return "unknown"


def _hu_expected(encoder: str, num_layers: int, d: int, heads: int) -> dict[str, tuple]:
    """Every key of a Hu-format ``encoder`` file with its shape, in the file's order."""
    de = heads * d if encoder == "gat" else d
    exp: dict[str, tuple] = {
        "x_embedding1.weight": (HU_ATOM_ROWS, d),
        "x_embedding2.weight": (HU_CHIRALITY_ROWS, d),
    }
    for li in range(num_layers):
        p = f"gnns.{li}."
        if encoder == "gin":
            exp.update({p + "mlp.0.weight": (2 * d, d), p + "mlp.0.bias": (2 * d,),
                        p + "mlp.2.weight": (d, 2 * d), p + "mlp.2.bias": (d,)})  # fmt: skip
        elif encoder in ("gcn", "sage"):
            exp.update({p + "linear.weight": (d, d), p + "linear.bias": (d,)})
        else:
            exp.update({p + "att": (1, heads, 2 * d), p + "bias": (d,),
                        p + "weight_linear.weight": (heads * d, d),
                        p + "weight_linear.bias": (heads * d,)})  # fmt: skip
        exp[p + "edge_embedding1.weight"] = (HU_BOND_TYPE_ROWS, de)
        exp[p + "edge_embedding2.weight"] = (HU_BOND_DIR_ROWS, de)
    for li in range(num_layers):
        for k in _BN_KEYS:
            exp[f"batch_norms.{li}.{k}"] = () if k == "num_batches_tracked" else (d,)
    return exp


def _fmt_shape(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


@IMPORTERS.register("hu2020")
def import_hu2020(sd: dict[str, torch.Tensor], encoder: str | None) -> Imported:
    """Map a Hu et al. 2020 ``GNN`` state dict onto a molpt ``Encoder`` (basic featurizer).

    Layers, width and GAT heads are read from the file and checked against ``encoder``.
    ``encoder=None`` is accepted when the keys decide it (gin, gat); GCN and GraphSAGE
    files have identical keys, so for them the caller must say which one it is.

    Raises:
        CheckpointImportError: not a Hu-format state dict, or a missing / unexpected key, or a
            shape that does not fit the named encoder; the message names the first such key.
    """
    if "x_embedding1.weight" not in sd:
        first = next(iter(sd))
        raise CheckpointImportError(
            f"not a Hu-format state dict: no key x_embedding1.weight (first key: {first})"
        )
    looks = _hu_looks_like(sd)
    if encoder is None:
        if looks in ("gin", "gat"):
            encoder = looks
        else:
            raise CheckpointImportError(
                f"cannot tell the encoder from the file (it looks like {looks}): GCN and "
                "GraphSAGE files have identical keys; name it with --encoder gcn or sage"
            )
    if encoder not in _HU_CONV_KEYS:
        raise CheckpointImportError(
            f"format hu2020 has no encoder {encoder!r}; choose one of: "
            f"{', '.join(_HU_CONV_KEYS)}"
        )
    emb = sd["x_embedding1.weight"]
    if emb.dim() != 2:
        raise CheckpointImportError(
            f"x_embedding1.weight has shape {_fmt_shape(tuple(emb.shape))}, expected (120, d)"
        )
    d = int(emb.shape[1])
    layer_ids = sorted({int(m.group(1)) for k in sd if (m := re.match(r"gnns\.(\d+)\.", k))})
    num_layers = len(layer_ids)
    if num_layers == 0:
        raise CheckpointImportError("not a Hu-format state dict: no gnns.{l}.* keys")
    if layer_ids != list(range(num_layers)):
        missing = next(i for i in range(num_layers) if i not in layer_ids)
        raise CheckpointImportError(f"layers are not numbered 0..L-1: no gnns.{missing}.* keys")
    heads = 1
    if encoder == "gat" and "gnns.0.att" in sd and sd["gnns.0.att"].dim() == 3:
        heads = int(sd["gnns.0.att"].shape[1])
        if heads != GATConv.heads:
            raise CheckpointImportError(
                f"gnns.0.att has {heads} attention heads; molpt's gat has {GATConv.heads}"
            )
    elif encoder == "gat":
        heads = GATConv.heads
    expected = _hu_expected(encoder, num_layers, d, heads)
    fits = looks == "unknown" or encoder in looks.split(" or ")
    hint = "" if fits else f" (the file looks like {looks}, not {encoder})"
    what = f"{encoder} {num_layers}x{d}"
    # the file's own order: the first offending key is the first one a reader would see
    for key, value in sd.items():
        if key not in expected:
            raise CheckpointImportError(f"unexpected key {key} for a hu2020 {what}{hint}")
        want = expected[key]
        if key == "x_embedding2.weight" and tuple(value.shape) == (4, d):
            continue  # already molpt's 4 chirality rows
        if tuple(value.shape) != want:
            raise CheckpointImportError(
                f"{key} has shape {_fmt_shape(tuple(value.shape))}, a hu2020 {what} expects "
                f"{_fmt_shape(want)}{hint}"
            )
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    for key in expected:
        if key not in sd and key not in optional:
            raise CheckpointImportError(f"missing key {key} for a hu2020 {what}{hint}")

    def f32(t: torch.Tensor) -> torch.Tensor:
        return t.detach().to(torch.float32).contiguous().clone()

    notes: dict[str, Any] = {}
    chir = f32(sd["x_embedding2.weight"])
    if chir.shape[0] == HU_CHIRALITY_ROWS:
        chir = torch.cat([chir, chir[0:1]], dim=0)
        notes["chirality_rows"] = (
            "Hu's 3-row chirality table extended to molpt's 4 rows: row 3 (CHI_OTHER) is a "
            "copy of row 0 (CHI_UNSPECIFIED)"
        )
    state: dict[str, torch.Tensor] = {
        "atom_emb.proj.table.weight": torch.cat([f32(emb), chir], dim=0)
    }
    for li in range(num_layers):
        p, q = f"gnns.{li}.", f"convs.{li}."
        state[q + "bond_emb.proj.table.weight"] = torch.cat(
            [f32(sd[p + "edge_embedding1.weight"]), f32(sd[p + "edge_embedding2.weight"])]
        )
        if encoder == "gin":
            for k in _HU_CONV_KEYS["gin"]:
                state[q + k] = f32(sd[p + k])
        elif encoder in ("gcn", "sage"):
            state[q + "linear.weight"] = f32(sd[p + "linear.weight"])
            state[q + "linear.bias"] = f32(sd[p + "linear.bias"])
        else:
            state[q + "linear.weight"] = f32(sd[p + "weight_linear.weight"])
            state[q + "linear.bias"] = f32(sd[p + "weight_linear.bias"])
            state[q + "att"] = f32(sd[p + "att"])
            state[q + "bias"] = f32(sd[p + "bias"])
        for k in _BN_KEYS:
            src = sd.get(f"batch_norms.{li}.{k}")
            if k == "num_batches_tracked":
                state[f"norms.{li}.{k}"] = (
                    src.detach().to(torch.long).clone() if src is not None
                    else torch.tensor(0, dtype=torch.long)
                )  # fmt: skip
            else:
                state[f"norms.{li}.{k}"] = f32(sd[f"batch_norms.{li}.{k}"])
    config = dict(featurizer=BASIC.name, conv=encoder, num_layers=num_layers, hidden_dim=d,
                  dropout=0.0, jk="last")  # fmt: skip
    # the molpt module must take exactly these tensors (guards the mapping itself)
    Encoder(**config).load_state_dict(state, strict=True)
    notes["layers_read_from_file"] = num_layers
    notes["width_read_from_file"] = d
    if encoder == "gat":
        notes["gat_heads_read_from_file"] = heads
    return Imported(config, state, notes)


# ------------------------------------------------------------------------------------------
# the public entry point
# ------------------------------------------------------------------------------------------
def import_checkpoint(
    src: str | Path,
    format: str = "hu2020",
    encoder: str | None = None,
    out: str | Path | None = None,
    *,
    provenance: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Import a published encoder file as a molpt checkpoint ``OUT/checkpoint.pt``.

    Args:
        src: the foreign file (loaded on the CPU with ``weights_only=True``).
        format: importer name (``hu2020``).
        encoder: molpt encoder name (``gin``, ``gcn``, ``sage``, ``gat``); checked against
            the file.  None only where the file decides it.
        out: output folder (created).
        provenance: extra provenance (paper, licence, objective, corpus, url, name); when
            the file's sha256 is in the catalogue its entry fills what is not given.
        overwrite: replace an existing ``OUT/checkpoint.pt``.

    Returns:
        the path of the written ``checkpoint.pt``.

    Raises:
        CheckpointImportError: the file does not fit the format or the encoder.
        FileExistsError: ``OUT/checkpoint.pt`` exists and ``overwrite`` is False.
    """
    from molpt.published.catalogue import entries

    if out is None:
        raise ValueError("import_checkpoint needs an output folder (out=...)")
    src = Path(src)
    importer = IMPORTERS.get(format)
    dest = Path(out) / CHECKPOINT_NAME
    if dest.exists() and not overwrite:
        raise FileExistsError(f"{dest} already exists; choose another output folder")
    sd = read_state_dict(src)
    imported = importer(sd, encoder)
    sha = file_sha256(src)
    known = next((e for e in entries() if e.sha256 == sha), None)
    prov: dict[str, Any] = {
        "source": src.name,
        "source_sha256": sha,
        "format": format,
        "name": None,
        "paper": None,
        "licence": None,
        "objective": None,
        "corpus": None,
        "url": None,
    }
    if known is not None:
        prov.update(name=known.name, paper=known.paper, licence=known.licence,
                    objective=known.objective, corpus=known.corpus, url=known.url)  # fmt: skip
        if known.encoder != imported.encoder_config["conv"]:
            msg = (
                f"{src.name} is {known.name} in the catalogue, a {known.encoder} encoder; "
                f"imported as {imported.encoder_config['conv']} as asked"
            )
            log.warning(msg)
            imported.notes["warning"] = msg
    prov.update({k: v for k, v in (provenance or {}).items() if v is not None})
    payload = {
        "kind": "imported",
        "encoder_config": imported.encoder_config,
        "encoder_state": imported.encoder_state,
        "provenance": prov,
        "import": {"importer": format, "importer_version": IMPORTER_VERSION,
                   **imported.notes},  # fmt: skip
    }
    save_checkpoint(dest, payload)
    log.info("imported %s (%s, %s) -> %s", src, format, imported.encoder_config["conv"], dest)
    return dest


__all__ = [
    "CHECKPOINT_NAME",
    "IMPORTERS",
    "IMPORTER_VERSION",
    "CheckpointImportError",
    "Imported",
    "import_checkpoint",
    "import_hu2020",
    "read_state_dict",
]
