"""Resume: how long a rerun takes to reach training after a run was killed in the Trainer, on the full dataset.

    scripts/run_benchmark.sh resume [--output-dir benchmarks/results]

1. `textrnn run --epochs 1` on a fresh output root, killed (SIGKILL, the whole process group) as soon as its
   Trainer starts: the time it took to get there is the baseline, what a rerun without the cache repeats.
2. The same command again on that root: the time until its Trainer starts, from the process start and from
   the pipeline's start (the "running pipeline" line, after imports and the dataset check), with each
   component's time; it then trains and finishes, which must succeed.
Writes resume.md and resume.json to --output-dir.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

from benchmarks.provenance import provenance

_PROGRESS = re.compile(r"^\s+(\S+) (finished|reused from the cache) in ([\d.]+)s$")


def run_until_trainer(command, kill: bool) -> dict:
    """Starts `command`; times its stderr lines until "Trainer running"; kills it there or lets it finish."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    result = {"components": {}}
    for line in process.stderr:
        now = time.monotonic() - started
        if line.startswith("running pipeline"):
            result["pipeline_started_s"] = now
        match = _PROGRESS.match(line.rstrip("\n"))
        if match:
            result["components"][match.group(1)] = (match.group(2), float(match.group(3)))
        if "Trainer running" in line:
            result["trainer_started_s"] = now
            break
    if "trainer_started_s" not in result:
        raise SystemExit(f"the run never reached its Trainer (exit {process.wait()})")
    result["pipeline_to_trainer_s"] = result["trainer_started_s"] - result["pipeline_started_s"]
    if kill:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    else:
        process.stderr.read()
        result["exit"] = process.wait()
        result["total_s"] = time.monotonic() - started
    return result


def render(killed, resumed) -> str:
    lines = [
        "# Resume after a kill in the Trainer (full dataset, 26,709 headlines)",
        "",
        "`python -m benchmarks.resume`: `textrnn run --epochs 1` on a fresh root, killed with SIGKILL as soon as "
        "its Trainer started, then the same command again on that root (TFX's cache on, the default).",
        "",
        "| | killed run (no cache to reuse) | rerun |",
        "| --- | --- | --- |",
        f"| process start to Trainer start | {killed['trainer_started_s']:.1f} s | {resumed['trainer_started_s']:.1f} s |",
        f"| pipeline start to Trainer start | {killed['pipeline_to_trainer_s']:.1f} s | "
        f"{resumed['pipeline_to_trainer_s']:.1f} s |",
        f"| ratio, pipeline time | 1.00 | {resumed['pipeline_to_trainer_s'] / killed['pipeline_to_trainer_s']:.2f} |",
        "",
        "| component | killed run | rerun |",
        "| --- | --- | --- |",
    ]
    for name, (how, seconds) in killed["components"].items():
        again = resumed["components"].get(name)
        rerun = f"{again[1]:.1f} s ({again[0]})" if again else ""
        lines.append(f"| {name} | {seconds:.1f} s ({how}) | {rerun} |")
    lines += ["", f"The rerun then trained one epoch and finished with exit status {resumed['exit']} after "
              f"{resumed['total_s']:.0f} s in all.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default="benchmarks/results")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="textrnn-resume-") as work:
        command = [os.path.join(os.path.dirname(sys.executable), "textrnn"), "run", "--output-root", work,
                   "--epochs", "1", "--eval-loss-bound", "10"]
        killed = run_until_trainer(command, kill=True)
        print(f"killed at the Trainer after {killed['trainer_started_s']:.1f} s", file=sys.stderr, flush=True)
        resumed = run_until_trainer(command, kill=False)
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "resume.json"), "w") as f:
        json.dump({"provenance": provenance(__doc__.split("\n\n")[0], {**vars(args), "run": command[1:]}),
                   "killed": killed, "resumed": resumed}, f, indent=1)
    report = render(killed, resumed)
    with open(os.path.join(args.output_dir, "resume.md"), "w") as f:
        f.write(report)
    print(report)
    return 0 if resumed["exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
