#!/usr/bin/env bash
# LibriSpeech (OpenSLR 12) on GPUs with Lightning DDP, 100 h or 960 h, and the official LM (OpenSLR 11).
# Not yet run end to end (see RESULTS.md); every stage's commands are tested on fixture trees or on
# small corpora (tests/unit/test_recipe_corpora.py, test_shards.py, test_ddp.py).
# Stages: 0 download (parts + LM files, sha256-verified parts), 1 manifests, 2 tar shards of the training
#         set + lower-cased LMs, 3 train (DDP), 4 greedy decoding of dev/test, 5 LM: tune on dev-clean,
#         decode test-clean and test-other with the 4-gram.
# Usage: recipes/librispeech/run.sh [--stage N] [--stop-stage M] [--size 100|960] [--gpus 8]
#        [--downloads DIR] [--config FILE] [--shards DIR_OR_URL]
# Launching training on 8 GPUs (stage 3 does the first; the others run the same command line):
#   Lightning's own launcher:  asr train --config C ... trainer.devices=8 trainer.strategy=ddp
#   torchrun (one node):       torchrun --standalone --nproc_per_node=8 "$(command -v asr)" train --config C ...
#   SLURM:                     sbatch local/slurm.sbatch   (one node, 8 tasks, 8 GPUs; srun asr train ...)
cd "$(dirname "$0")"
size=100
gpus=8
downloads=downloads
config=
shards=
stage=0
stop_stage=100
source ../common.sh

case "$size" in
  100) train=train-100; parts="train-clean-100" ;;
  960) train=train-960; parts="train-clean-100 train-clean-360 train-other-500" ;;
  *) echo "--size must be 100 or 960" >&2; exit 2 ;;
esac
config=${config:-../../conf/librispeech_${size}h.yaml}
shards=${shards:-data/shards/$train}
exp=exp/librispeech_${size}h
evals="dev-clean dev-other test-clean test-other"

if run_stage 0; then
  log "stage 0: downloading $parts $evals and the LM files into $downloads/"
  for part in $parts $evals; do asr download "librispeech-$part" "$downloads"; done
  for lm in 4gram 3gram-pruned vocab; do asr download "librispeech-lm-$lm" "$downloads/lm"; done
fi
if run_stage 1; then
  log "stage 1: manifests (one per part; train-100 / train-960)"
  asr prepare librispeech "$downloads" -o data
fi
if run_stage 2; then
  log "stage 2: tar shards of data/$train.jsonl, lower-cased LMs (our transcripts are normalised to lower case)"
  asr shard "data/$train.jsonl" -o "$shards" --max-mb 256
  mkdir -p data/lm
  for lm in 4-gram 3-gram.pruned.1e-7; do
    [ -s "data/lm/$lm.arpa" ] || gzip -dc "$downloads/lm/$lm.arpa.gz" | tr '[:upper:]' '[:lower:]' > "data/lm/$lm.arpa"
  done
fi
if run_stage 3; then
  log "stage 3: training on $gpus GPUs (DDP), streaming $shards"
  asr train --config "$config" data.train_shards="$shards" data.dev=data/dev-clean.jsonl \
    trainer.exp_dir="$exp" trainer.devices="$gpus" trainer.strategy=ddp
fi
model=$exp/model_avg.pt
[ -f "$model" ] || model=$exp/model_best.pt
if run_stage 4; then
  log "stage 4: greedy decoding"
  for set in $evals; do asr test "$model" "data/$set.jsonl" -o "$exp/greedy_$set"; done
fi
if run_stage 5; then
  log "stage 5: LM weight and word score on dev-clean (pruned 3-gram), then the 4-gram on the test sets"
  asr lm tune "$model" data/dev-clean.jsonl --lm data/lm/3-gram.pruned.1e-7.arpa --lexicon lm \
    --write-model "$exp/model_lm.pt"
  for set in test-clean test-other; do
    asr test "$exp/model_lm.pt" "data/$set.jsonl" --lm data/lm/4-gram.arpa -o "$exp/lm4_$set"
  done
  for d in "$exp"/greedy_* "$exp"/lm4_*; do echo "$d: $(sed -n 4p "$d/report.txt")"; done
fi
