#!/bin/bash
# Thresholds against genuine video (docs/weights.md, "Genuine video"): recalibrate a checkpoint with genuine
# video crops of training identities added, then at a 5 % false-alarm rate on them, evaluating each where it
# matters (held-out synthetic, held-out genuine video, the forgery videos' aligned frames).
#   bench/genuine_video_thresholds.sh LABEL CHECKPOINT     -> runs/genuine_video/LABEL/{balanced,fpr5}/...
# Needs: runs/calib_video and runs/genuine_video_calib, runs/genuine_video_val (bench/genuine_video_pool.py),
# runs/loso (bench/loso.py prepare), the 'video' pools of bench/learnability.py.
set -euo pipefail
L=$1; C=$2; O=runs/genuine_video/$L
E=".venv/bin/python -m fakeseg eval"
VAL=runs/learnability/all_rendered_video/val/manifest.csv
evaluate() {  # $1: weights, $2: output folder
  $E --weights "$1" --data runs/genuine_video_val/manifest.csv --no-face-crop --no-references --out "$2/genuine_val"
  for s in ghost_video_swap wav2lip_lipsync; do
    $E --weights "$1" --data runs/loso/$s/manifest.csv --out "$2/loso_$s"
  done
}
rm -rf "$O" && mkdir -p "$O/balanced" "$O/fpr5"
cp -r "$C" "$O/balanced/weights"
$E --weights "$O/balanced/weights" --save-thresholds --calibrate runs/calib_video/manifest.csv \
   --data $VAL --no-face-crop --out "$O/balanced/val"
evaluate "$O/balanced/weights" "$O/balanced"
cp -r "$O/balanced/weights" "$O/fpr5/weights"   # keeps the balanced tau1; tau2 is replaced
$E --weights "$O/fpr5/weights" --save-thresholds --target-fpr 0.05 --calibrate runs/genuine_video_calib/manifest.csv \
   --data $VAL --no-face-crop --out "$O/fpr5/val"
evaluate "$O/fpr5/weights" "$O/fpr5"
