#!/usr/bin/env bash
# the calibration on the study demo's validation split (8 pairs; the same train/val identities as docs/study/params.yaml),
# with c23 crops, over 5 teacher seeds: bench/results/calibration_study.json (~14 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
W=data/recal; rm -rf $W; mkdir -p $W
python3 - <<'PY'
import yaml
raw = yaml.safe_load(open("docs/study/params.yaml"))
raw["data"]["qualities"] = ["raw", "c23", "c40"]
raw["demo"]["pairs"] = [10, 8, 1]
yaml.safe_dump(raw, open("data/recal/params.yaml", "w"), sort_keys=False)
PY
P=$W/params.yaml
uv run add videos --params $P --out $W/videos.parquet --demo-root $W/demo --twins $W/twins
uv run add extract --params $P --videos $W/videos.parquet --out-dir $W/faces --manifest $W/manifest.parquet --metrics $W/extract.json
uv run add shards --params $P --faces $W/faces --manifest $W/manifest.parquet --out $W/shards
uv run add teacher --params $P --method Deepfakes --shards $W/shards --models $W/models --dvclive $W/dvclive
uv run add student --params $P --method Deepfakes --quality c40 --distill none --shards $W/shards --models $W/models --dvclive $W/dvclive
uv run python bench/calibration.py --params $P --demo $W/demo --clean $W/demo-clean --shards $W/shards --models $W/models --teacher-seeds 1 2 3 4 --c23-seeds 0 1 2 3 4 --frames 0 16 --seeded $W/calibration --out bench/results/calibration_study.json
