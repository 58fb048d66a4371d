#!/usr/bin/env bash
# End-to-end check of the molpt CLI on a CUDA machine (~4 minutes on an H100).
#
# Needs: torch (CUDA), torch-geometric, typer, pandas, scikit-learn, scipy, matplotlib, tqdm.
# RDKit and OGB travel as wheels when the machine lacks them: put them in .whl/ (git-ignored)
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 -d .whl rdkit ogb outdated littleutils
# Data travels in .gpucheck/ (git-ignored): BBBP.csv, bace.csv and pretrain/moses_train.csv.gz
# (a 50k-molecule slice of MOSES is enough).  Results go to $OUT (or /tmp/molpt-gpu-e2e).
set -uo pipefail
RES_DEFAULT=/tmp/molpt-gpu-e2e
source "$(dirname "$0")/gpu_env.sh"
step python3 -m molpt featurize moses --featurizer basic --workers 8 --out /tmp/moses.basic.pt
step python3 benchmarks/pretrain_throughput.py --graphs /tmp/moses.basic.pt --device cuda \
    --steps 300 --results "$RES/RESULTS.gpu.md"
step python3 -m molpt pretrain --objective attrmask --data moses --epochs 3 --device cuda \
    --out /tmp/am --no-progress
cp /tmp/am/history.json "$RES/attrmask_history.json"
step python3 -m molpt pretrain --objective contextpred --data moses --limit 20000 --epochs 1 \
    --device cuda --out /tmp/cp --no-progress
step python3 -m molpt benchmark --datasets bbbp,bace --splits scaffold,balanced_scaffold \
    --seeds 0-2 --epochs 10 --batch-size 32 --workers 4 --checkpoint am=/tmp/am/checkpoint.pt \
    --device cuda --out /tmp/bench --no-progress
cp /tmp/bench/report.md "$RES/bench_report.md"
cp /tmp/bench/results.csv "$RES/bench_results.csv"
