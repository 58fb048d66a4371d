"""Published pretrained encoders: a catalogue (data), importers (one per file format) and
the resolution of catalogue names to local molpt checkpoints.

>>> from molpt.published import resolve_checkpoint
>>> path = resolve_checkpoint("hu2020/gcn_supervised_contextpred")  # a molpt checkpoint.pt
"""

from molpt.published.catalogue import CATALOGUE, PublishedEncoder, entries, get_entry
from molpt.published.importers import (
    IMPORTERS,
    CheckpointImportError,
    import_checkpoint,
    read_state_dict,
)
from molpt.published.records import record_checkpoint, records, refresh_cards
from molpt.published.resolve import (
    CheckpointUnavailableError,
    ChecksumMismatchError,
    catalogue_status,
    checkpoint_root,
    import_published,
    resolve_checkpoint,
)

__all__ = [
    "CATALOGUE",
    "IMPORTERS",
    "CheckpointImportError",
    "CheckpointUnavailableError",
    "ChecksumMismatchError",
    "PublishedEncoder",
    "catalogue_status",
    "checkpoint_root",
    "entries",
    "get_entry",
    "import_checkpoint",
    "import_published",
    "read_state_dict",
    "record_checkpoint",
    "records",
    "refresh_cards",
    "resolve_checkpoint",
]
