#!/usr/bin/env bash
# The built-in offline demo (what `make demo` runs): no download, no GPU.
# Stages: 1 generate the eSpeak NG corpus, 3 train, 4 decode the test set (voices unseen in training),
# 5 print the score and transcribe one freshly synthesised utterance.
# Usage: recipes/demo/run.sh [--stage N] [--stop-stage M] [--config FILE] [--seed N]
cd "$(dirname "$0")"
config=../../conf/demo.yaml
exp=exp/demo
seed=0
stage=0
stop_stage=100
source ../common.sh
start=$(date +%s)

if run_stage 1; then
  log "stage 1: generating the demo corpus with eSpeak NG (seed $seed)"
  asr prepare demo -o data --seed "$seed"
fi
if run_stage 3; then
  log "stage 3: training ($config)"
  asr train --config "$config" data.train=data/train.jsonl data.dev=data/dev.jsonl trainer.exp_dir="$exp" \
    trainer.seed="$seed"
fi
if run_stage 4; then
  log "stage 4: decoding the test set"
  asr test "$exp/model_best.pt" data/test.jsonl -o "$exp/test"
fi
if run_stage 5; then
  log "stage 5: results"
  head -n 4 "$exp/test/report.txt"
  python local/fresh_utterance.py data/fresh --seed 7
  echo -n "asr transcribe says:          "
  asr transcribe "$exp/model_best.pt" data/fresh/fresh.wav
fi
log "done in $(( $(date +%s) - start )) s"
