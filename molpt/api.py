"""High-level Python API: load a checkpoint and embed molecules.

>>> import molpt
>>> model = molpt.load("runs/am/checkpoint.pt")
>>> z = model.embed(["CCO", "c1ccccc1O"])      # tensor (2, hidden_dim)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from molpt.featurize.api import FeaturizeReport, featurize_many
from molpt.featurize.featurizers import InvalidSmilesError
from molpt.nn.pooling import POOLINGS
from molpt.train.checkpoint import load_encoder
from molpt.train.device import resolve_device

log = logging.getLogger(__name__)


class PretrainedEncoder:
    """A checkpoint's encoder plus graph pooling, ready to embed SMILES.

    Attributes:
        encoder: the molpt.nn.Encoder (eval mode).
        featurizer: featurizer name the encoder was trained with.
        checkpoint: the loaded checkpoint dict (configs, provenance, history).
    """

    def __init__(
        self,
        path: str | Path,
        device: str = "auto",
        pooling: str = "mean",
        checkpoint_dir: str | Path | None = None,
    ) -> None:
        from molpt.published.resolve import resolve_checkpoint

        self.name = str(path)
        self.path = resolve_checkpoint(path, checkpoint_dir)  # a published name -> its file
        self.device = resolve_device(device)
        self.encoder, self.checkpoint = load_encoder(self.path, map_location="cpu")
        self.encoder.to(self.device).eval()
        self.featurizer: str = self.checkpoint["featurizer"]["name"]
        self.pool = POOLINGS.get(pooling)(self.encoder.out_dim).to(self.device)
        if pooling == "attention":
            raise ValueError("attention pooling has trained weights; use mean, sum or max")
        self.last_report: FeaturizeReport | None = None

    @property
    def dim(self) -> int:
        return self.encoder.out_dim

    @torch.no_grad()
    def embed(
        self,
        smiles: Sequence[str],
        batch_size: int = 512,
        on_invalid: str = "raise",
    ) -> torch.Tensor:
        """Graph embeddings of ``smiles``: a float tensor (len(smiles), dim) on the CPU.

        Args:
            on_invalid: ``raise`` (InvalidSmilesError naming the first bad row) or ``nan``
                (that row is all-NaN; the report is in ``self.last_report``).
        """
        out, self.last_report = embed_smiles(self.encoder, self.pool, self.featurizer,
                                             smiles, self.device, batch_size, on_invalid)
        return out


@torch.no_grad()
def embed_smiles(
    encoder: torch.nn.Module,
    pool: torch.nn.Module,
    featurizer: str,
    smiles: Sequence[str],
    device: torch.device,
    batch_size: int = 512,
    on_invalid: str = "raise",
) -> tuple[torch.Tensor, FeaturizeReport]:
    """Pooled graph embeddings (len(smiles), encoder.out_dim) on the CPU, and the report.

    ``encoder`` and ``pool`` must already be on ``device`` and in eval mode.  ``on_invalid``:
    ``raise`` (InvalidSmilesError naming the first bad row) or ``nan`` (an all-NaN row).
    """
    if on_invalid not in ("raise", "nan"):
        raise ValueError("on_invalid must be 'raise' or 'nan'")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    smiles = list(smiles)
    graphs, report = featurize_many(smiles, featurizer)
    if report.failed and on_invalid == "raise":
        f = report.failed[0]
        raise InvalidSmilesError(f.smiles, f"row {f.row}: {f.reason}")
    out = torch.full((len(smiles), int(encoder.out_dim)), float("nan"))
    if len(graphs):
        g = graphs.to(device)
        chunks = []
        for b in g.iter_batches(batch_size):
            h = encoder(b)
            chunks.append(pool(h, b.batch, b.num_graphs).float().cpu())
        out[graphs.rows] = torch.cat(chunks)
    return out, report


def load(
    path: str | Path,
    device: str = "auto",
    pooling: str = "mean",
    checkpoint_dir: str | Path | None = None,
) -> PretrainedEncoder:
    """Load a molpt checkpoint (safe loading) for embedding molecules.

    ``path`` may also be a published encoder name (``molpt checkpoints``), such as
    ``hu2020/gcn_supervised_contextpred``: its file is looked up under ``checkpoint_dir``
    (else ``$MOLPT_CHECKPOINTS``, else ``./checkpoints``) or downloaded and verified, then
    imported once (cached under ``$MOLPT_CACHE``).
    """
    return PretrainedEncoder(path, device=device, pooling=pooling, checkpoint_dir=checkpoint_dir)
