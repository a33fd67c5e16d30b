"""``hf-ui``: the MLflow UI on a store, opened where a user of hf-train wants to land.

``mlflow ui`` opens an experiment on MLflow 3's GenAI pages unless the link says otherwise (the UI
reads the mode from the link's ``workflowType`` or the browser's stored choice, not from the
experiment). This command starts ``mlflow ui`` on the store and prints the link to the training
runs, charts first, in the saved view hf-train stores (docs/tracking.md)::

    hf-ui                       # ./mlflow.db (or $MLFLOW_TRACKING_URI), experiment hfcore, port 5000
    hf-ui --experiment hfcore-figure3 --port 5001
"""

from __future__ import annotations

import argparse
import os
import sys


def ui_command(uri: str, host: str, port: int) -> list[str]:
    """The ``mlflow ui`` command line for ``uri`` at ``host:port`` (this interpreter's mlflow)."""
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: print the link, then become ``mlflow ui`` (Ctrl-C stops it)."""
    from hfcore.tracking import VIEW_KEY, default_tracking_uri, existing_experiment

    parser = argparse.ArgumentParser(prog="hf-ui", description=__doc__.splitlines()[0])
    parser.add_argument("--uri", default=None, help="tracking URI (default: $MLFLOW_TRACKING_URI or ./mlflow.db)")
    parser.add_argument("--experiment", default="hfcore")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--dry-run", action="store_true", help="print the link and the command, start nothing")
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    uri = args.uri or default_tracking_uri()
    if uri.startswith(("http://", "https://")):
        parser.error(f"{uri} is a tracking server: its UI is already there; open it in a browser")
    _, experiment = existing_experiment(uri, args.experiment, "hf-ui")
    link = (f"http://{args.host}:{args.port}/#/experiments/{experiment.experiment_id}/runs"
            f"?workflowType=machine_learning&viewStateShareKey={VIEW_KEY}&compareRunsMode=CHART")
    command = ui_command(uri, args.host, args.port)
    print(f"hf-ui: the runs of '{args.experiment}', key curves first: {link}", flush=True)
    if args.dry_run:
        print("hf-ui: would run: " + " ".join(command))
        return
    os.execv(command[0], command)  # the UI's own output and Ctrl-C from here on


if __name__ == "__main__":
    main(sys.argv[1:])
