# Sourced by the gpu_*.sh device scripts: results folder, log, wheels, paths, a step helper.
#   RES_DEFAULT=/tmp/molpt-gpu-xyz; source "$(dirname "$0")/gpu_env.sh"
# RDKit and OGB travel as wheels in .whl/ when the machine lacks them (see gpu_end_to_end.sh);
# the data travels in .gpucheck/ (git-ignored).  Results go to $OUT (or $RES_DEFAULT).
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RES="${OUT:-$RES_DEFAULT}"
mkdir -p "$RES"
exec > >(tee "$RES/log.txt") 2>&1
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export MOLPT_DATA="$PWD/.gpucheck" MOLPT_CACHE=/tmp/molpt-cache
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, torch_geometric, rdkit; print('torch', torch.__version__, 'pyg', torch_geometric.__version__, 'rdkit', rdkit.__version__)"
step() { echo; echo "== $*"; local t0=$SECONDS; "$@"; echo "== exit $? after $((SECONDS - t0)) s"; }
