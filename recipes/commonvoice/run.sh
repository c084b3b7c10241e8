#!/usr/bin/env bash
# Mozilla Common Voice, any language (English by default), on GPUs with Lightning DDP.
# Mozilla issues a signed download link per user and release: pass it as --url (or download the
# archive yourself and pass the extracted release folder as --release).
# Not yet run end to end (see RESULTS.md); download and import are tested on a fixture tree in a
# release's layout (tests/unit/test_recipe_corpora.py).
# Stages: 0 download (--url), 1 manifests from the release's train/dev/test TSVs, 2 tar shards of the
#         training set, 3 train (DDP), 4 greedy decoding of dev and test, 5 print the scores.
# Usage: recipes/commonvoice/run.sh [--stage N] [--stop-stage M] [--url URL] [--sha256 HEX]
#        [--release DIR] [--lang en] [--gpus 8] [--config FILE]
cd "$(dirname "$0")"
url=
sha256=
release=
lang=en
gpus=8
config=../../conf/commonvoice.yaml
stage=0
stop_stage=100
source ../common.sh
exp=exp/commonvoice_$lang

if run_stage 0 && [ -z "$release" ]; then
  [ -n "$url" ] || { echo "$0: give --url (the link from commonvoice.mozilla.org) or --release DIR" >&2; exit 2; }
  log "stage 0: downloading the release into downloads/"
  release=$(asr download commonvoice downloads --url "$url" ${sha256:+--sha256 "$sha256"})
fi
release=${release:-$(ls -d downloads/cv-corpus-* 2>/dev/null | tail -n 1)}
if run_stage 1; then
  log "stage 1: manifests from $release/$lang/{train,dev,test}.tsv"
  for split in train dev test; do
    asr prepare commonvoice "$release/$lang/$split.tsv" -o "data/$lang/$split.jsonl"
  done
fi
if run_stage 2; then
  log "stage 2: tar shards of the training set"
  asr shard "data/$lang/train.jsonl" -o "data/$lang/shards" --max-mb 256
fi
if run_stage 3; then
  log "stage 3: training on $gpus GPUs"
  asr train --config "$config" data.train_shards="data/$lang/shards" data.dev="data/$lang/dev.jsonl" \
    trainer.exp_dir="$exp" trainer.devices="$gpus" trainer.strategy=ddp
fi
model=$exp/model_avg.pt
[ -f "$model" ] || model=$exp/model_best.pt
if run_stage 4; then
  log "stage 4: greedy decoding"
  for split in dev test; do asr test "$model" "data/$lang/$split.jsonl" -o "$exp/$split"; done
fi
if run_stage 5; then
  for split in dev test; do echo "$split: $(sed -n 4p "$exp/$split/report.txt")"; done
fi
