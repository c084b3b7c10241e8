#!/usr/bin/env bash
# Free Spoken Digit Dataset: three experiments on the same recipe.
#   select:   config selection without the test speaker: train on four speakers, test on the dev speaker
#             (--dev-speaker, default jackson); every config change is judged on these numbers only
#   speaker:  train on the five speakers other than --held-out-speaker (default theo) with the config chosen
#             on the select split, test once on the held-out speaker
#   official: the dataset's own split (take index 0-4 of every speaker and digit is test)
# Decoding (stage 4) uses model_avg.pt where the config writes one (trainer.average_last), else
# model_best.pt. It writes greedy results to exp/<split>/test_greedy and the chosen decoding, a beam search
# restricted to the words of the training transcripts (data/lang/<split>_words.txt, written in stage 2 from
# the TRAIN manifest only), to exp/<split>/test.
# --synth N adds N synthetic utterances to each training set: eSpeak NG speaks the split's own training
# transcripts (one digit each) in 72 English and accented voices at 8 kHz (asr synth), so the model hears
# more voices than the corpus's five; the dev set stays real. 0 turns it off. Chosen on the select split
# (dev speaker jackson), used for select and speaker; the official split keeps its 2026-11-22 setup
# (recipes/fsdd/RESULTS.md; 3,000 chosen over 1,500 on jackson, fifth session).
# Stages: 0 download, 1 prepare manifests, 2 word lists (and the synthetic voices), 3 train, 4 decode,
# 5 print scores.
# Usage: recipes/fsdd/run.sh [--stage N] [--stop-stage M] [--split select|speaker|official|both|all]
#        [--held-out-speaker NAME] [--dev-speaker NAME] [--corpus DIR] [--config FILE]
#        [--official-config FILE] [--synth N]     (both = speaker official, the old default; all = select speaker official)
cd "$(dirname "$0")"
corpus=../../../shared/corpora/fsdd
config=../../conf/fsdd_speaker.yaml
official_config=../../conf/fsdd.yaml
held_out_speaker=theo
dev_speaker=jackson
synth=3000
split=all
stage=0
stop_stage=100
source ../common.sh

case "$split" in
  all) splits="select speaker official" ;;
  both) splits="speaker official" ;;
  select|speaker|official) splits=$split ;;
  *) echo "--split must be select, speaker, official, both or all" >&2; exit 2 ;;
esac

if run_stage 0 && [ ! -d "$corpus/recordings" ]; then
  log "stage 0: downloading FSDD into downloads/"
  corpus=$(asr download fsdd downloads)
fi
if run_stage 1; then
  log "stage 1: manifests (held-out speaker: $held_out_speaker, dev speaker: $dev_speaker)"
  asr prepare fsdd "$corpus" -o data --held-out-speaker "$held_out_speaker" --dev-speaker "$dev_speaker"
fi
# Synthetic voices go into the select and speaker splits' training sets (see --synth above).
with_synth() { [ "$synth" -gt 0 ] && [ "$1" != official ]; }
if run_stage 2; then
  log "stage 2: word lists from the training manifests"
  for s in select speaker official; do
    python local/word_list.py data/${s}_train.jsonl -o data/lang/${s}_words.txt --transcripts data/lang/${s}_text.txt
    if with_synth "$s"; then
      # asr synth draws lines without replacement: repeat the transcripts until they cover N + 1 draws.
      n=$(wc -l < data/lang/${s}_text.txt)
      for _ in $(seq $(( synth / n + 1 ))); do cat data/lang/${s}_text.txt; done > data/lang/${s}_text_synth.txt
      asr synth data/lang/${s}_text_synth.txt -o data/synth_${s} --train "$synth" --dev 1 --min-words 1 \
        --max-words 1 --sample-rate 8000 --voices both
      python ../combine_manifests.py data/${s}_train.jsonl data/synth_${s}/train.jsonl -o data/${s}_train_synth.jsonl
    fi
  done
fi
for s in $splits; do
  exp=exp/$s
  conf=$config
  [ "$s" = official ] && conf=$official_config
  if run_stage 3; then
    log "stage 3: training ($s split, $conf)"
    train=data/${s}_train.jsonl
    with_synth "$s" && train=data/${s}_train_synth.jsonl
    asr train --config "$conf" data.train="$train" data.dev=data/${s}_dev.jsonl \
      trainer.exp_dir="$exp"
  fi
  if run_stage 4; then
    model=$exp/model_best.pt
    [ -f "$exp/model_avg.pt" ] && model=$exp/model_avg.pt
    log "stage 4: decoding ($s split, $model): greedy, and beam search over the training words"
    asr test "$model" data/${s}_test.jsonl -o "$exp/test_greedy"
    asr test "$model" data/${s}_test.jsonl --decoder beam --lexicon data/lang/${s}_words.txt -o "$exp/test"
  fi
  if run_stage 5; then
    log "stage 5: score ($s split; greedy, then lexicon beam)"
    head -n 4 "$exp/test_greedy/report.txt"
    head -n 4 "$exp/test/report.txt"
  fi
done
