#!/usr/bin/env bash
# CMU AN4 (the SPHERE release): the small real corpus deepspeech.pytorch and NeMo start from.
# Not yet run end to end (see RESULTS.md); download and preparation are tested on a fixture tree in the
# release's layout (tests/unit/test_recipe_corpora.py).
# Stages: 0 download (an4_sphere.tar.gz), 1 manifests (train / dev = first 100 by name / test),
#         3 train, 4 greedy decoding of the test set, 5 print the score.
# Usage: recipes/an4/run.sh [--stage N] [--stop-stage M] [--corpus DIR] [--url URL] [--config FILE] [--gpus N]
cd "$(dirname "$0")"
corpus=downloads/an4
url=
config=../../conf/an4.yaml
gpus=1
exp=exp/an4
stage=0
stop_stage=100
source ../common.sh

if run_stage 0 && [ ! -d "$corpus/etc" ]; then
  log "stage 0: downloading AN4 into downloads/"
  corpus=$(asr download an4 downloads ${url:+--url "$url"})
fi
if run_stage 1; then
  log "stage 1: manifests"
  asr prepare an4 "$corpus" -o data
fi
if run_stage 3; then
  log "stage 3: training on $gpus device(s)"
  strategy=auto; [ "$gpus" -gt 1 ] && strategy=ddp
  asr train --config "$config" data.train=data/train.jsonl data.dev=data/dev.jsonl trainer.exp_dir="$exp" \
    trainer.devices="$gpus" trainer.strategy=$strategy
fi
model=$exp/model_avg.pt
[ -f "$model" ] || model=$exp/model_best.pt
if run_stage 4; then
  log "stage 4: greedy decoding of the test set"
  asr test "$model" data/test.jsonl --decoder greedy -o "$exp/test"
fi
if run_stage 5; then
  log "stage 5: score (deepspeech.pytorch: 9.57% WER greedy)"
  head -n 4 "$exp/test/report.txt"
fi
