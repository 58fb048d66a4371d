#!/usr/bin/env bash
# The molpt_gin_budget study's remaining fine-tuning on a CUDA machine, as one prepared device run.
# Size it to the lease: on an H200 one fused group of 15 runs (BBBP, 100 epochs, fp32) needs
# ~200 s (2.0 s per epoch, measured 2026-12-04); two groups side by side cost each little, but
# seven at once finished none in 420 s, so a call of ~8 minutes finishes 2-3 groups (the
# defaults; the second lease's calls, below, used --fuse 10).  The CPU needs ~3.5
# thread-hours for the same 15 runs.
#   1. the fused-trainer tests on the GPU's torch (in the background: they check the CUDA path),
#   2. PROCS processes of `molpt benchmark --study molpt_gin_budget --device cuda --fuse FUSE`
#      on the study's own results folder: each claims the next pending fused group (the grid's
#      cell order), so the groups run side by side on the one GPU; each process is stopped at
#      BUDGET_S seconds (a group left unfinished is lost: its state, ~340 MB for 15 runs, is
#      too large to come back from the device machine),
#   3. with the time left, the fused-throughput benchmark of gpu_fused.sh on BBBP,
#   4. the finished jobs (jobs/<id>/metrics.json), the logs and GPU load packed into $OUT.
# Fine-tuning stays fp32 (the hu2020 protocol; TF32 is off, torch's default for matmuls).
#
# Needs: RDKit as a cp312 wheel in .whl/ (the machine lacks it; rdkit/Contrib and the stubs may
# be left out of the wheel to fit the 64 MiB tree), the four sets in .gpucheck/ (BBBP.csv,
# bace.csv, clintox.csv.gz, sider.csv.gz; delaney-processed.csv and tox21.csv.gz for the tests
# and the throughput step) and the study's checkpoints of record in checkpoints/molpt/.  With all
# eight records the tracked tree is ~89 MB, over the 64 MiB that travels: delete the other
# records' checkpoint.pt files (and other studies' results) in the checkout for the call, and
# `git checkout -- .` after it.
# Merge on the CPU machine: unpack budget_jobs.tgz into a folder (it holds the device's
# results.csv and the new jobs/<id>/), then `python benchmarks/results/merge.py FOLDER
# molpt_gin_budget`: the new rows are appended by job id (each keeps its device) and the report
# is rebuilt.
# Measured 2026-12-04 (second lease), H200: two processes, --fuse 10, CELLS leaving out what the
# CPU ran, finished 30 ClinTox/BACE runs in 405 s and 20 BBBP/SIDER runs in 276 s.  One group
# alone keeps the SMs busy ~30% of the time (the loop is bound by the host); two side by side
# ~98%, at nearly no cost to either (a BACE group of 10: 190 s beside another, 179 s alone).
set -uo pipefail
RES_DEFAULT=/tmp/molpt-gpu-budget
source "$(dirname "$0")/gpu_env.sh"
STUDY=molpt_gin_budget
DIR=benchmarks/results/$STUDY
BUDGET_S=${BUDGET_S:-450}
PROCS=${PROCS:-2}
FUSE=${FUSE:-15}
DEVICE=${DEVICE:-cuda}
T0=$SECONDS

if command -v nvidia-smi >/dev/null; then
    nvidia-smi dmon -s um -d 5 > "$RES/dmon.txt" 2>&1 &
    DMON=$!
fi
if [ "${TESTS:-1}" = 1 ]; then  # TESTS=0 leaves the GPU to the fine-tuning
    ( timeout 150 python3 -m pytest -q -x tests/nn/test_stacked.py tests/train/test_fused.py \
        -p no:cacheprovider > "$RES/fused_tests.txt" 2>&1; echo "exit $?" >> "$RES/fused_tests.txt" ) &
    TPID=$!
fi

finished() { (cd "$DIR" && ls jobs/*/metrics.json 2>/dev/null | sort); }
finished > /tmp/jobs_before.txt
echo "== $PROCS processes, --fuse $FUSE, stopped at $BUDGET_S s"
# CELLS (optional): ';'-separated grid overrides, e.g. "--datasets bace;--datasets clintox", to
# leave out cells another machine is running; process i walks them starting at cell i, so the
# processes begin on different cells and then help with the others (the claim board keeps
# each group to one process).
IFS=';' read -r -a cells <<< "${CELLS:-}"
[ "${#cells[@]}" -eq 0 ] && cells=("")
walk() {  # walk START: run the cells in turn from START, until the deadline
    local n=${#cells[@]} j
    for j in $(seq 0 $((n - 1))); do
        local left=$((BUDGET_S - (SECONDS - T0)))
        [ "$left" -le 5 ] && break
        # shellcheck disable=SC2086  # a cell is a list of options
        timeout -s TERM "$left" python3 -m molpt benchmark --study "$STUDY" --device "$DEVICE" \
            --fuse "$FUSE" --no-progress ${cells[$(((START + j) % n))]}
    done
}
pids=()
for i in $(seq "$PROCS"); do
    START=$((i - 1)) walk > "$RES/proc$i.log" 2>&1 &
    pids+=($!)
    sleep 3
done
for p in "${pids[@]}"; do wait "$p"; echo "process $p exit $?"; done
echo "== fine-tuning done after $((SECONDS - T0)) s"
finished > /tmp/jobs_after.txt
NEW=$(comm -13 /tmp/jobs_before.txt /tmp/jobs_after.txt)
echo "new finished jobs: $(echo "$NEW" | grep -c .)"
( cd "$DIR" && tar czf "$RES/budget_jobs.tgz" $NEW results.csv report.md )
if [ "${TESTS:-1}" = 1 ]; then wait "$TPID"; tail -3 "$RES/fused_tests.txt"; fi

LEFT=$((BUDGET_S + 60 - (SECONDS - T0)))
if [ "${THROUGHPUT:-1}" = 1 ] && [ "$LEFT" -gt 90 ]; then
    step timeout -s TERM "$LEFT" python3 benchmarks/finetune_throughput.py --datasets bbbp --k 10 \
        --rounds 2 --epochs 3 --device "$DEVICE" --results "$RES/RESULTS.gpu.md"
fi
[ -n "${DMON:-}" ] && kill "$DMON" 2>/dev/null
for i in $(seq "$PROCS"); do tail -n 4 "$RES/proc$i.log"; done
( cd "$RES" && tar czf logs.tgz proc*.log && rm -f proc*.log )
echo "== done after $((SECONDS - T0)) s"
