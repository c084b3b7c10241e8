#!/usr/bin/env bash
# speechocean762 (OpenSLR 101): train on `train`, select and report on `dev`.
# Stages: 0 download (only when --corpus does not exist), 1 prepare manifests, 3 train, 4 decode dev,
# 5 print the score, 6 n-gram LM from the train transcripts, tuned on half of the dev speakers and
# scored on the other half (lexicon-free and lexicon-constrained beam search).
# Usage: recipes/speechocean762/run.sh [--stage N] [--stop-stage M] [--corpus DIR] [--config FILE] [--exp DIR]
#        [--lm-order N] [--lm-weights a,b,...] [--word-scores a,b,...]
cd "$(dirname "$0")"
corpus=../../../shared/corpora/speechocean762
config=../../conf/speechocean762.yaml
exp=exp/lstm_sp
lm_order=3
lm_weights=0.5,1,1.5,2
word_scores=0,1,2,3
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
if run_stage 6; then
  log "stage 6: language model"
  python - <<'PY'
from asr.data.manifest import read_manifest, write_manifest
dev = read_manifest("data/dev.jsonl")
speakers = sorted({u.speaker for u in dev})
tune = set(speakers[::2])  # every other speaker: tune and eval halves share no speaker
write_manifest("data/dev_tune.jsonl", [u for u in dev if u.speaker in tune])
write_manifest("data/dev_eval.jsonl", [u for u in dev if u.speaker not in tune])
PY
  asr lm build data/train.jsonl --order "$lm_order" -o "$exp/lm.arpa"
  asr lm tune "$exp/model_best.pt" data/dev_tune.jsonl --lm "$exp/lm.arpa" --lm-weights "$lm_weights" \
    --word-scores "$word_scores" -o "$exp/lm_tuned.json" --write-model "$exp/model_lm.pt"
  asr test "$exp/model_best.pt" data/dev_eval.jsonl -o "$exp/dev_eval_greedy" --decoder greedy
  asr test "$exp/model_lm.pt" data/dev_eval.jsonl -o "$exp/dev_eval_lm"
  asr test "$exp/model_lm.pt" data/dev_eval.jsonl -o "$exp/dev_eval_lm_lexicon" --lexicon lm
  for d in dev_eval_greedy dev_eval_lm dev_eval_lm_lexicon; do echo "$d: $(sed -n 4p "$exp/$d/report.txt")"; done
fi
