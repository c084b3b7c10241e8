#!/usr/bin/env bash
# speechocean762 (OpenSLR 101): train on `train`, select and report on `dev`.
# Stages: 0 download (only when --corpus does not exist), 1 manifests and the dev split into a tuning
# half and a scoring half (by speaker), 2 LMs: a 3-gram from the train transcripts, a pruned 3-gram from
# general English (../shared/corpora/text/sgd), their mixture (weight by perplexity on the tuning half),
# perplexity and OOV on dev, 3 train: eSpeak speaks SGD sentences in English and
# accented voices (`asr synth`; --synth-transcripts N adds N training transcripts),
# the model is pretrained on that for --pretrain-epochs epochs (0 skips it), then trained on `train` from the
# pretrained weights (features are extracted and cached on the first run), 4 decode dev
# with the model's own decoder, 5 print the score, 6 tune LM weight and word score on the tuning half,
# score greedy and LM decoding on the scoring half.
# --units char (default) trains characters; --units phone trains ARPAbet phone CTC with CMUdict (+ the corpus
# lexicon for training words CMUdict lacks). With synthetic pretraining both reach about 51% held-out WER
# (phones 51.0%, characters 51.1%: RESULTS.md, sixth and seventh sessions); characters stay the default because they can
# write any spelling, phones only the words of their lexicon.
# On one GPU: --config ../../conf/speechocean762_gpu.yaml (characters; with --units phone,
# ../../conf/speechocean762_phone_gpu.yaml), 30 epochs; neither measured yet (no GPU lent so far).
# Usage: recipes/speechocean762/run.sh [--stage N] [--stop-stage M] [--units phone|char] [--corpus DIR]
#        [--config FILE] [--exp DIR] [--lm-text FILE] [--lm-weights a,b,...] [--word-scores a,b,...] [--lexicon lm|'']
#        [--train-args "key=value ..."] [--pretrain-epochs N] [--synth-train N] [--synth-transcripts N]
#        [--synth-connected SHARE] [--beam-size N]
cd "$(dirname "$0")"
corpus=../../../shared/corpora/speechocean762
lm_text=../../../shared/corpora/text/sgd/sentences.txt.gz
units=char
config=
exp=
# Stage 6's search grid (empty: per --units, set below) and vocabulary ('': lexicon-free for characters,
# training + LM words for phones; lm: the LM's words).
lm_weights=
word_scores=
lexicon=
# Stage 6's beam: 200 hypotheses instead of the decoder's default 50 gave about 1 point less held-out WER on
# three 3x192 character models for twice the search time; 500 added little (RESULTS.md, eleventh session;
# phone models get it too, not measured).
beam_size=200
train_args=
# Synthetic pretraining: 3,000 + 100 SGD sentences (about 2.9 h), 5 epochs (RESULTS.md, third and fourth
# sessions). --synth-transcripts N also speaks N training transcripts (tried with 2,400 and 3 epochs: dev CER
# 0.9 points worse, held-out WER 0.9 points worse; RESULTS.md, fifth session).
pretrain_epochs=5
synth_train=3000
synth_transcripts=0
# Share of the synthetic sentences spoken in one piece (words running together) rather than word by word:
# half of them cost 2 points of held-out WER with the 3x192 (slower off the blank plateau; RESULTS.md, tenth
# session), so 0.
synth_connected=0
stage=0
stop_stage=100
source ../common.sh

# Character models decode lexicon-free (any spelling, unknown words charged; RESULTS.md, fourth to sixth
# sessions); phone models over their training words + the LM's words (''). With the compiled search a
# lexicon-free point costs a few seconds (25-28 s with the Python LM before), so both grids are full.
case "$units" in
  phone) config=${config:-../../conf/speechocean762_phone.yaml}; exp=${exp:-exp/phone}
    lm_weights=${lm_weights:-0.5,1,1.5,2,3}; word_scores=${word_scores:--2,-1,0,1,2} ;;
  char) config=${config:-../../conf/speechocean762.yaml}; exp=${exp:-exp/char}
    lm_weights=${lm_weights:-1.5,2,2.5,3,3.5}; word_scores=${word_scores:-0,1,2,3,4,5,6} ;;
  *) echo "--units must be phone or char" >&2; exit 2 ;;
esac

if run_stage 0 && [ ! -d "$corpus" ]; then
  log "stage 0: downloading speechocean762 (OpenSLR 101) into downloads/"
  corpus=$(asr download speechocean762 downloads)
fi
if run_stage 1; then
  log "stage 1: manifests"
  asr prepare speechocean762 "$corpus" -o data
  python local/split_dev.py data/dev.jsonl data/dev_tune.jsonl data/dev_eval.jsonl
fi
if run_stage 2; then
  log "stage 2: language models (train transcripts, general English, their mixture)"
  mkdir -p exp/lm
  asr lm build data/train.jsonl --order 3 -o exp/lm/train3.arpa
  asr lm build "$lm_text" --order 3 --prune 0 1 1 -o exp/lm/general3.arpa
  asr lm mix exp/lm/train3.arpa exp/lm/general3.arpa --tune data/dev_tune.jsonl -o exp/lm/mix3.arpa
  asr lm eval exp/lm/train3.arpa exp/lm/general3.arpa exp/lm/mix3.arpa data/dev_eval.jsonl
fi
# The corpus lexicon gives pronunciations of training words CMUdict lacks (the model keeps only those).
unit_args() { [ "$units" = phone ] && echo "tokenizer.lexicon=$corpus/resource/lexicon.txt" || true; }
if run_stage 3; then
  init_args=
  if [ "$pretrain_epochs" -gt 0 ]; then
    log "stage 3a: synthetic speech ($synth_train sentences) and $pretrain_epochs epochs of pretraining on it"
    # One folder per size and share, so a changed --synth-train never reuses a corpus of another size.
    synth=data/synth_$synth_train
    [ "$synth_connected" = 0 ] || synth=${synth}_connected$synth_connected
    [ -f "$synth/train.jsonl" ] || asr synth "$lm_text" -o "$synth" --train "$synth_train" --dev 100 --voices both \
      --connected "$synth_connected"
    pretrain_train=$synth/train.jsonl pretrain_dev=$synth/dev.jsonl
    if [ "$synth_transcripts" -gt 0 ]; then
      # The training transcripts too, each sentence once in one random voice: the words the real data holds
      # (95% of dev's words), heard in voices the corpus lacks. Never dev text.
      spoken=data/synth_transcripts_$synth_transcripts
      [ -f "$spoken/train.jsonl" ] || asr synth data/train.jsonl -o "$spoken" --train "$synth_transcripts" \
        --dev 100 --min-words 1 --max-words 40 --voices both --seed 1 --id-prefix spoken
      python ../combine_manifests.py "$synth/train.jsonl" "$spoken/train.jsonl" -o "$spoken/pretrain_train.jsonl"
      python ../combine_manifests.py "$synth/dev.jsonl" "$spoken/dev.jsonl" -o "$spoken/pretrain_dev.jsonl"
      pretrain_train=$spoken/pretrain_train.jsonl pretrain_dev=$spoken/pretrain_dev.jsonl
    fi
    # No speed perturbation: eSpeak's rates already vary. The same units as the real training (phone models
    # spell the synthetic words through CMUdict + the corpus lexicon for training words). 20-second batches
    # and lr 1e-3 whatever the config trains with: from random weights the updates are what leaves the blank
    # plateau (RESULTS.md, third session).
    # shellcheck disable=SC2046  # unit_args is a list of key=value words
    asr train --config "$config" data.train="$pretrain_train" data.dev="$pretrain_dev" \
      "data.speed_perturb=[]" trainer.max_epochs="$pretrain_epochs" trainer.average_last=0 \
      data.max_batch_seconds=20 optim.lr=0.001 optim.warmup_steps=500 trainer.exp_dir="$exp/pretrain" $(unit_args)
    # CMVN from the real recordings: synthetic speech has other levels and spectra.
    init_args="--init $exp/pretrain/model_best.pt trainer.init_cmvn=data"
  fi
  log "stage 3: training ($units units)"
  # shellcheck disable=SC2086,SC2046  # init_args, unit_args and train_args are lists of words
  asr train --config "$config" $init_args data.train=data/train.jsonl data.dev=data/dev.jsonl \
    trainer.exp_dir="$exp" $(unit_args) $train_args
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
  log "stage 6: LM weight and word score tuned on half the dev speakers, scored on the other half"
  # The unknown-word charge of today's default (-25, chosen on dev_tune, RESULTS.md sixth session), also for
  # models whose files carry the older -10.
  asr lm tune "$exp/model_best.pt" data/dev_tune.jsonl --lm exp/lm/mix3.arpa --lexicon "$lexicon" \
    --lm-weights "$lm_weights" --word-scores "$word_scores" --unk-prefix-score -25 --beam-size "$beam_size" \
    -o "$exp/lm_tuned.json" --write-model "$exp/model_lm.pt"
  asr test "$exp/model_best.pt" data/dev_eval.jsonl -o "$exp/dev_eval_nolm"
  asr test "$exp/model_best.pt" data/dev_eval.jsonl -o "$exp/dev_eval_greedy" --decoder greedy
  asr test "$exp/model_lm.pt" data/dev_eval.jsonl -o "$exp/dev_eval_lm"
  for d in dev_eval_greedy dev_eval_nolm dev_eval_lm; do echo "$d: $(sed -n 4p "$exp/$d/report.txt")"; done
fi
