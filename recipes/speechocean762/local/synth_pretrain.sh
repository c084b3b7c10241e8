#!/usr/bin/env bash
# Issue 11's synthetic-pretraining experiment: eSpeak NG speaks everyday sentences (the SGD text of the
# general-English LM) in English and accented voices; the character model of conf/speechocean762.yaml is
# pretrained on it, then fine-tuned on speechocean762's train set with the recipe's own schedule, so its
# per-epoch dev CER compares with the from-scratch run's at the same epoch and learning rate.
# Usage (from recipes/speechocean762, after run.sh stage 1): local/synth_pretrain.sh [STAGE ["key=value ..."]]
# (the second argument: extra overrides for the fine-tuning run). RESULTS.md's run stopped pretraining after
# epoch 4 of these 8 and fine-tuning after epoch 2 of 15.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${1:-1}
finetune_args=${2:-}
text=../../../shared/corpora/text/sgd/sentences.txt.gz
out=exp/synth
if [ "$stage" -le 1 ]; then
  asr synth "$text" -o "$out/data" --train 3000 --dev 100 --voices both
fi
if [ "$stage" -le 2 ]; then
  # No speed perturbation: eSpeak's rates already vary; 8 epochs of about 3 hours.
  asr train --config ../../conf/speechocean762.yaml data.train="$out/data/train.jsonl" data.dev="$out/data/dev.jsonl" \
    "data.speed_perturb=[]" trainer.max_epochs=8 trainer.average_last=0 trainer.exp_dir="$out/pretrain"
fi
if [ "$stage" -le 3 ]; then
  # CMVN from the real recordings: synthetic speech has other levels and spectra.
  # shellcheck disable=SC2086  # finetune_args is a list of key=value words
  asr train --config ../../conf/speechocean762.yaml --init "$out/pretrain/model_best.pt" trainer.init_cmvn=data \
    data.train=data/train.jsonl data.dev=data/dev.jsonl trainer.exp_dir="$out/finetune" $finetune_args
fi
