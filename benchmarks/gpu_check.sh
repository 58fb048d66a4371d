#!/usr/bin/env bash
# GPU check for pretraining (run from anywhere; ~2-4 minutes on an H100). Needs torch (CUDA)
# and torch-geometric; RDKit is NOT needed: the molecules come precomputed as a GraphSet file.
#
# Prepare once on a machine with RDKit (writes the git-ignored .devcache/):
#   MOLPT_DATA=../shared/data/moleculenet python benchmarks/pretrain_throughput.py \
#       --limit 50000 --save-graphs .devcache/moses50k.basic.pt --steps 3 --rounds 1 --no-write
# Then on the GPU machine (carry .devcache):
#   bash benchmarks/gpu_check.sh            # results also under $OUT when it is set
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
GRAPHS="${GRAPHS:-.devcache/moses50k.basic.pt}"
RES_DIR="${OUT:-/tmp/molpt-gpu-check}"
mkdir -p "$RES_DIR"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
echo "== throughput: attrmask GIN 5x300, molpt vs PyG baseline (cuda)"
python benchmarks/pretrain_throughput.py --graphs "$GRAPHS" --device cuda --steps 300 \
    --results "$RES_DIR/RESULTS.gpu.md"
echo "== pretrain loop smoke run (cuda, bf16)"
python benchmarks/gpu_smoke_pretrain.py "$GRAPHS" /tmp/molpt-gpu-smoke
rm -rf /tmp/molpt-gpu-smoke
echo "== section for benchmarks/RESULTS.md:"
cat "$RES_DIR/RESULTS.gpu.md"
