"""Add the hf column (the HF preset) to the fifteenth session's runs.csv, for hf-report figure3 --csv.

Runs logged before the sixteenth session carry no ``hf`` tag. Their presets are known from the scripts that ran
them: the T = 200 runs of the fifteenth session's store f.db used hf=is11 (stream15e.sh, stream15g.sh); every
other HF run of the table used the Figure 3 presets' hf=ms2011 (or, before the presets had a choice, the same
rules: walk-back and Armijo on the gradient batch). First-order runs have no preset.

    python annotate_hf.py ../figure3-s15/runs.csv runs-s15-hf.csv
"""

import csv
import sys

source, target = sys.argv[1:3]
with open(source, newline="") as fh:
    rows = list(csv.DictReader(fh))
for row in rows:
    if row["method"] == "sgd":
        row["hf"] = ""
    elif row["source"].endswith("/s15/mlruns/f.db"):
        row["hf"] = "is11"
    else:
        row["hf"] = "ms2011"
with open(target, "w", newline="") as fh:
    writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
