#!/usr/bin/env bash
# Fused fine-tuning on a CUDA machine, as one prepared device run (~8 minutes on an H100/H200):
#   1. the fused-trainer and stacked-model tests on the GPU's torch,
#   2. benchmarks/finetune_throughput.py on cuda (plain PyG loop vs molpt-1 vs molpt-K, fp32
#      and bf16) with the projected hu2020 wall time for one method,
#   3. fp32 vs bf16 on BBBP (10 seeds, --max-minutes bounded) into $OUT/precision/.
#
# Needs what gpu_end_to_end.sh needs: RDKit/OGB wheels in .whl/ and the data files in
# .gpucheck/ (BBBP.csv, tox21.csv.gz).  Results land in $OUT; copy the RESULTS section into
# benchmarks/RESULTS.md with the card's name (the script prints it), and merge the study rows
# with `python benchmarks/results/merge.py $OUT/precision/fp32 hu2020_gin_none`.
set -uo pipefail
RES_DEFAULT=/tmp/molpt-gpu-fused
source "$(dirname "$0")/gpu_env.sh"
step python3 -m pytest -q -x tests/nn/test_stacked.py tests/train/test_fused.py -p no:cacheprovider
step python3 benchmarks/finetune_throughput.py --datasets bbbp,tox21 --k 10 --rounds 2 \
    --epochs 3 --device cuda --results "$RES/RESULTS.gpu.md"
for prec in fp32 bf16; do
    flag=""; [ "$prec" = bf16 ] && flag="--bf16"
    step python3 -m molpt benchmark --profile hu2020 --datasets bbbp --seeds 0-9 $flag \
        --device cuda --max-minutes 2 --no-progress --out "$RES/precision/$prec"
done
cat "$RES/RESULTS.gpu.md"
