#!/usr/bin/env bash
# Kaldi's yes/no corpus: the fastest real end-to-end check (about a minute on 2 CPU cores).
# Stages: 0 download (skipped when the corpus is already on disk), 1 prepare manifests,
# 3 train, 4 decode the test half (greedy, and a beam search over the training transcripts' words), 5 print
# the scores.
# Usage: recipes/yesno/run.sh [--stage N] [--stop-stage M] [--corpus DIR] [--config FILE]
cd "$(dirname "$0")"
corpus=../../../shared/corpora/yesno
config=../../conf/yesno.yaml
exp=exp/yesno
stage=0
stop_stage=100
source ../common.sh

if run_stage 0 && [ ! -d "$corpus/waves_yesno" ]; then
  log "stage 0: downloading yesno (OpenSLR 1) into downloads/"
  asr download yesno downloads
  corpus=downloads
fi
if run_stage 1; then
  log "stage 1: manifests"
  asr prepare yesno "$corpus" -o data
fi
# Stage 2 (features and CMVN statistics) runs inside training and is cached under $exp/cache.
if run_stage 3; then
  log "stage 3: training"
  asr train --config "$config" data.train=data/train.jsonl data.dev=data/dev.jsonl trainer.exp_dir="$exp"
fi
if run_stage 4; then
  log "stage 4: decoding the test half"
  asr test "$exp/model_best.pt" data/test.jsonl -o "$exp/test"
  # Greedy decoding may split or run words together at a boundary ("yesno no", "y yes": 0-5 of 232 words
  # with the thread count alone, RESULTS.md); a search that may only write the training words does not.
  python -c 'import json, sys; print(*sorted({w for line in open(sys.argv[1]) for w in json.loads(line)["text"].split()}), sep="\n")' \
    data/train.jsonl > data/words.txt
  asr test "$exp/model_best.pt" data/test.jsonl --decoder beam --lexicon data/words.txt -o "$exp/test_words"
fi
if run_stage 5; then
  log "stage 5: score"
  head -n 4 "$exp/test/report.txt"
  head -n 4 "$exp/test_words/report.txt"
fi
