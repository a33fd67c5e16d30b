"""Tag the HF runs of a store with the preset they ran (tag hf), for stores written by a clone from before hf-train
logged it (the sixteenth session's streams ran a clone of 6102068).

    python tag_presets.py sqlite:///a.db is11 sqlite:///b.db ms2011
"""

import sys

from mlflow.tracking import MlflowClient

pairs = sys.argv[1:]
for uri, preset in zip(pairs[::2], pairs[1::2], strict=True):
    client = MlflowClient(tracking_uri=uri)
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id], max_results=10000):
            if run.data.tags.get("optimizer") == "hf" and "hf" not in run.data.tags:
                client.set_tag(run.info.run_id, "hf", preset)
                print(uri, run.info.run_name, "hf =", preset)
