"""Let the tensor-only parts of molpt import on a machine without RDKit (e.g. a GPU box).

``molpt.featurize``'s package ``__init__`` imports the RDKit featurizers, but GraphSet
(``molpt.featurize.graphs``) and the vocabularies do not need RDKit.  When RDKit is
missing, register ``molpt.featurize`` as a bare namespace so that its submodules import
without running the ``__init__``.  Import this module before anything from molpt.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

if importlib.util.find_spec("rdkit") is None and "molpt.featurize" not in sys.modules:
    import molpt

    pkg = types.ModuleType("molpt.featurize")
    pkg.__path__ = [str(Path(molpt.__file__).resolve().parent / "featurize")]
    sys.modules["molpt.featurize"] = pkg
