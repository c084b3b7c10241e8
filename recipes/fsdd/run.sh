#!/usr/bin/env bash
# Free Spoken Digit Dataset: two experiments on the same recipe.
#   speaker:  train on five speakers, test on the held-out sixth (--held-out-speaker, default theo)
#   official: the dataset's own split (take index 0-4 of every speaker and digit is test)
# Stages: 0 download, 1 prepare manifests, 3 train, 4 decode, 5 print scores.
# Usage: recipes/fsdd/run.sh [--stage N] [--stop-stage M] [--split speaker|official|both]
#        [--held-out-speaker NAME] [--corpus DIR] [--config FILE]
cd "$(dirname "$0")"
corpus=../../../shared/corpora/fsdd
config=../../conf/fsdd.yaml
held_out_speaker=theo
split=both
stage=0
stop_stage=100
source ../common.sh

case "$split" in both) splits="speaker official" ;; speaker|official) splits=$split ;;
  *) echo "--split must be speaker, official or both" >&2; exit 2 ;; esac

if run_stage 0 && [ ! -d "$corpus/recordings" ]; then
  log "stage 0: downloading FSDD into downloads/"
  corpus=$(python -c "from asr.data.download import download_corpus; print(download_corpus('fsdd', 'downloads'))")
fi
if run_stage 1; then
  log "stage 1: manifests (held-out speaker: $held_out_speaker)"
  asr prepare fsdd "$corpus" -o data --held-out-speaker "$held_out_speaker"
fi
for s in $splits; do
  exp=exp/$s
  if run_stage 3; then
    log "stage 3: training ($s split)"
    asr train --config "$config" data.train=data/${s}_train.jsonl data.dev=data/${s}_dev.jsonl \
      trainer.exp_dir="$exp"
  fi
  if run_stage 4; then
    log "stage 4: decoding ($s split)"
    asr test "$exp/model_best.pt" data/${s}_test.jsonl -o "$exp/test"
  fi
  if run_stage 5; then
    log "stage 5: score ($s split)"
    head -n 4 "$exp/test/report.txt"
  fi
done
