#!/usr/bin/env bash
# speechocean762 (OpenSLR 101): train on `train`, select and report on `dev`.
# Stages: 0 download (only when --corpus does not exist), 1 prepare manifests, 3 train, 4 decode dev,
# 5 print the score.
# Usage: recipes/speechocean762/run.sh [--stage N] [--stop-stage M] [--corpus DIR] [--config FILE] [--exp DIR]
cd "$(dirname "$0")"
corpus=../../../shared/corpora/speechocean762
config=../../conf/speechocean762.yaml
exp=exp/baseline
stage=0
stop_stage=100
source ../common.sh

if run_stage 0 && [ ! -d "$corpus" ]; then
  log "stage 0: downloading speechocean762 (OpenSLR 101) into downloads/"
  corpus=$(python -c "from asr.data.download import download_corpus; print(download_corpus('speechocean762', 'downloads'))")
fi
if run_stage 1; then
  log "stage 1: manifests"
  asr prepare speechocean762 "$corpus" -o data
fi
if run_stage 3; then
  log "stage 3: training"
  asr train --config "$config" data.train=data/train.jsonl data.dev=data/dev.jsonl trainer.exp_dir="$exp"
fi
if run_stage 4; then
  log "stage 4: decoding dev"
  asr test "$exp/model_best.pt" data/dev.jsonl -o "$exp/dev"
fi
if run_stage 5; then
  log "stage 5: score"
  head -n 4 "$exp/dev/report.txt"
fi
