#!/usr/bin/env bash
# Fine-tuning against training from scratch: the demo model (eSpeak NG English, 16 kHz) fine-tuned on
# the Free Spoken Digit Dataset (real voices, 8 kHz, resampled to the model's 16 kHz), and the same
# architecture trained on the same FSDD data from random weights, with the same number of epochs and
# the same batches. Test: the held-out speaker theo (500 recordings); dev: 2 other recordings of each
# (speaker, digit) pair of the training speakers.
# --runs lists the training sets and their epochs, K:EPOCHS, K recordings of each (speaker, digit) pair
# of the five training speakers (2: 100 utterances, 46 s of audio; 10: 500, 3.7 min; 45: all, 16.5 min).
# Each is trained three ways: fine-tuned with conf/finetune.yaml at peak lr 3e-4 (its first default) and at
# 1e-3 (its default since these runs), and from scratch with conf/demo.yaml (the source model's own recipe,
# peak lr 2e-3). Identical batches, epochs and seed; trainer.threads=1.
# Stages: 1 manifests (FSDD speaker split, subsets), 2 fine-tune, 3 from scratch, 4 decode, 5 table.
# Usage: recipes/finetune/run.sh [--stage N] [--stop-stage M] [--source-model FILE] [--runs "2:80 10:30 45:15"]
#        [--threads N] [--corpus DIR]
cd "$(dirname "$0")"
corpus=../../../shared/corpora/fsdd
source_model=../demo/exp/demo/model_best.pt   # recipes/demo/run.sh writes it
runs="2:80 10:30 45:15"
threads=1
stage=1
stop_stage=100
source ../common.sh

# Identical batches and augmentation every way; only the weights at step 0 and the learning rate differ.
common="data.max_batch_seconds=20 data.num_buckets=8 specaugment.freq_width=10 specaugment.time_width=20
  trainer.threads=$threads trainer.progress_bar=false trainer.seed=0"
sizes=""
for run in $runs; do sizes="$sizes ${run%%:*}"; done

if run_stage 1; then
  log "stage 1: FSDD manifests (test speaker theo) and training subsets"
  [ -f "$source_model" ] || { echo "no source model $source_model: run recipes/demo/run.sh first" >&2; exit 2; }
  asr prepare fsdd "$corpus" -o data/fsdd --held-out-speaker theo --dev-speaker jackson >/dev/null
  python local/subset.py data/fsdd/speaker_dev.jsonl 2 -o data/dev.jsonl
  for k in $sizes; do python local/subset.py data/fsdd/speaker_train.jsonl "$k" -o data/train_k$k.jsonl; done
fi
train() {  # train NAME K EPOCHS CONFIG [ARGS...]: logs the wall time of the whole command to exp/NAME/wall_s
  local name=$1 k=$2 epochs=$3 conf=$4; shift 4
  if [ -f "exp/$name/wall_s" ]; then log "exp/$name is done (rm -r it to train again)"; return; fi
  local t0; t0=$(date +%s)
  # shellcheck disable=SC2086
  asr train --config "$conf" "$@" data.train=data/train_k$k.jsonl data.dev=data/dev.jsonl \
    trainer.exp_dir=exp/$name trainer.max_epochs="$epochs" $common > exp/$name.log 2>&1
  echo $(( $(date +%s) - t0 )) > exp/$name/wall_s
}
mkdir -p exp
for run in $runs; do
  k=${run%%:*} epochs=${run##*:}
  if run_stage 2; then
    log "stage 2: fine-tune $source_model on train_k$k ($epochs epochs; peak lr 3e-4, then 1e-3)"
    train ft_k$k "$k" "$epochs" ../../conf/finetune.yaml --init "$source_model" optim.lr=0.0003
    train ftlr_k$k "$k" "$epochs" ../../conf/finetune.yaml --init "$source_model" optim.lr=0.001
  fi
  if run_stage 3; then
    log "stage 3: the same architecture from scratch on train_k$k ($epochs epochs)"
    train scratch_k$k "$k" "$epochs" ../../conf/demo.yaml
  fi
  if run_stage 4; then
    for way in ft ftlr scratch; do
      [ -f "exp/${way}_k$k/test/report.txt" ] && continue
      log "stage 4: decoding the held-out speaker with exp/${way}_k$k/model_best.pt"
      asr test exp/${way}_k$k/model_best.pt data/fsdd/speaker_test.jsonl -o exp/${way}_k$k/test >/dev/null
    done
  fi
done
if run_stage 5; then
  log "stage 5: results"
  # shellcheck disable=SC2086
  python local/table.py exp $sizes
fi
