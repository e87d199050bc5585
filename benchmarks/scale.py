"""Scale benchmark: the whole pipeline on 1×, 10× and 100× the headlines, each component timed and its memory
watched.

    scripts/run_benchmark.sh scale [--sizes 1 10 100] [--work-dir DIR] [--output-dir benchmarks/results]
    scripts/run_benchmark.sh scale --report-only   # rewrite the report from scale.json

The data are the real dataset and synthetic shards made from it (benchmarks/synthetic.py, seeded, kept in
--work-dir for the next run). Every size runs `textrnn run` as users do, one after the other in this one
benchmark run: a fresh output root, no cache, Beam's DirectRunner in multi_processing mode (one worker per
core) and one training epoch (with its four validations) whatever the loss. While it runs, the process tree
(the run and its Beam workers) is sampled every half second: resident memory summed over the processes (an
upper bound, as shared pages count once per process) and the machine's busy CPU. Each component's wall time
comes from ML Metadata; its peak memory and busy cores are those of the samples inside its execution.

Reports scale.md, scale.json and scale-time.png in --output-dir: per size and component the wall seconds,
seconds per 1,000 headlines, peak resident memory and busy cores; then, for the data components and the
training epoch, the largest size's time against the smallest size's extrapolated linearly (target ≤ 1.2),
and peak memory against 8 GB. Each size's results are written as soon as it ends.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time

from benchmarks.provenance import provenance
from benchmarks.synthetic import write_shards
from textrnn.models.train import HISTORY_FILE
from textrnn import contract
from textrnn import output_layout
from textrnn.components import run_record
from textrnn.pipeline import data, options

SAMPLE_SECONDS = 0.5
TRAINING_EPOCH = "training epoch (in Trainer)"
LINEAR_TARGET = 1.2
MEMORY_TARGET_BYTES = 8 * 10**9
PROCESS_START, SUMMARY = "process start (before the first component)", "summary (after the last component)"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def _tree(root_pid: int):
    """`root_pid` and all its descendants."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):  # the process ended meanwhile
                continue
            children.setdefault(parent, []).append(int(name))
    pids, queue = [], [root_pid]
    while queue:
        pid = queue.pop()
        pids.append(pid)
        queue += children.get(pid, [])
    return pids


def _resident_bytes(pids) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * _PAGE_BYTES
        except (OSError, IndexError, ValueError):
            continue
    return total


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / _CLOCK_TICKS


class TreeSampler(threading.Thread):
    """Samples (time, resident bytes of the tree, machine busy CPU seconds) of a running process."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.samples, self.done = pid, [], threading.Event()

    def run(self):
        while not self.done.is_set():
            self.samples.append((time.time(), _resident_bytes(_tree(self.pid)), _busy_seconds()))
            self.done.wait(SAMPLE_SECONDS)


def window_stats(samples, begin: float, end: float) -> dict:
    """Peak resident bytes and mean busy cores of the samples in [begin, end]."""
    inside = [s for s in samples if begin <= s[0] <= end]
    if len(inside) < 2:
        return {"peak_rss_bytes": max((s[1] for s in inside), default=None), "busy_cores": None}
    return {"peak_rss_bytes": max(s[1] for s in inside),
            "busy_cores": round((inside[-1][2] - inside[0][2]) / (inside[-1][0] - inside[0][0]), 2)}


def input_folder(shards, times: int, work_dir: str) -> str:
    """A folder holding the first `times` shards (hard links), the ExampleGen's input_base."""
    folder = os.path.join(work_dir, f"input-{times}x")
    os.makedirs(folder, exist_ok=True)
    wanted = {os.path.basename(path): path for path in shards[:times]}
    for name in set(os.listdir(folder)) - set(wanted):
        os.remove(os.path.join(folder, name))
    for name, path in wanted.items():
        if not os.path.exists(os.path.join(folder, name)):
            os.link(path, os.path.join(folder, name))
    return folder


def run_size(times: int, shards, work_dir: str, headlines_per_shard: int) -> dict:
    """One `textrnn run` on `times` shards; its per-component figures."""
    output_root = os.path.join(work_dir, "runs", f"{times}x")
    shutil.rmtree(output_root, ignore_errors=True)
    input_dir = input_folder(shards, times, work_dir)
    command = [os.path.join(os.path.dirname(sys.executable), "textrnn"), "run",
               "--input-dir", input_dir, "--output-root", output_root,
               "--epochs", "1", "--early-stopping-patience", "1000", "--eval-loss-bound", "10",
               "--eval-loss-tolerance", "10", "--beam-mode", "multi_processing", "--no-cache"]
    print(f"== {times}x ({times * headlines_per_shard:,} headlines):", " ".join(command), file=sys.stderr, flush=True)
    start = time.time()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    sampler = TreeSampler(process.pid)
    sampler.start()
    stdout, _ = process.communicate()
    end = time.time()
    sampler.done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"textrnn run on {times}x failed with exit status {process.returncode}")
    record = run_record.latest_run(output_layout.metadata_path(output_root))
    with open(os.path.join(record.output("Trainer", "model_run").uri, HISTORY_FILE)) as f:
        epoch_seconds = sum(json.load(f)["epoch_seconds"])
    headlines = times * headlines_per_shard
    parts = {}
    first = min(record.started.values())
    last = max(record.started[node] + record.seconds[node] for node in record.seconds)
    windows = [(PROCESS_START, start, first)]
    windows += sorted(((node, record.started[node], record.started[node] + record.seconds[node])
                       for node in record.seconds), key=lambda w: w[1])
    windows.append((SUMMARY, last, end))
    for name, begin, finish in windows:
        parts[name] = {"seconds": round(finish - begin, 2), **window_stats(sampler.samples, begin, finish)}
    parts[TRAINING_EPOCH] = {"seconds": round(epoch_seconds, 2), **window_stats(
        sampler.samples, record.started["Trainer"], record.started["Trainer"] + record.seconds["Trainer"])}
    for part in parts.values():
        part["seconds_per_1k"] = round(part["seconds"] / headlines * 1000, 4)
    shutil.rmtree(output_root)  # at 100x, gigabytes of artifacts
    return {"times": times, "headlines": headlines, "input_bytes": options.disk_bytes(input_dir),
            "wall_seconds": round(end - start, 1), "peak_rss_bytes": max(s[1] for s in sampler.samples),
            "test_accuracy_line": next((l for l in stdout.splitlines() if l.startswith("test split")), ""),
            "parts": parts}


def _gb(value) -> str:
    return "" if value is None else f"{value / 10**9:.2f}"


def render(result) -> str:
    runs = result["runs"]
    out = ["# Scale benchmark", "",
           f"Run {result['started']} on {result['machine']}; every size in this one benchmark run, one after the "
           "other. Data: the real dataset (1×) and synthetic shards recombined from it (benchmarks/synthetic.py, "
           f"seed {result['seed']}). Each size is one `textrnn run`: fresh output root, no cache, DirectRunner "
           "multi_processing (a worker per core), one epoch with four validations. Memory: resident memory of the "
           "run's process tree (the run and its Beam workers) summed, the peak of the samples taken every "
           f"{SAMPLE_SECONDS} s while the component ran. Busy cores: the machine's, over the same time. The test "
           "accuracy is not a model figure above 1×: a synthetic headline shares its halves with headlines of "
           "other splits.", ""]
    if result.get("conditions"):
        out += [f"Conditions: {result['conditions']}", ""]
    for run in runs:
        out += [f"## {run['times']}× — {run['headlines']:,} headlines, {run['input_bytes'] / 10**6:.0f} MB of JSON "
                f"Lines; the whole run {run['wall_seconds']:.0f} s, peak {_gb(run['peak_rss_bytes'])} GB", "",
                f"{run['test_accuracy_line']}", "",
                "| part | seconds | s per 1k headlines | peak memory GB | busy cores |", "| --- | --- | --- | --- | --- |"]
        for name, part in run["parts"].items():
            cores = "" if part["busy_cores"] is None else f"{part['busy_cores']:.2f}"
            out.append(f"| {name} | {part['seconds']:.1f} | {part['seconds_per_1k']:.3f} | "
                       f"{_gb(part['peak_rss_bytes'])} | {cores} |")
        out.append("")
    if len(runs) > 1:
        small, large = runs[0], runs[-1]
        factor = large["headlines"] / small["headlines"]
        out += [f"## {large['times']}× against {small['times']}× extrapolated linearly", "",
                f"| part | {small['times']}× s | {large['times']}× s | {large['times']}× ÷ ({factor:.0f} × "
                f"{small['times']}×) (target ≤ {LINEAR_TARGET}) | peak memory at {large['times']}× GB (target < "
                f"{MEMORY_TARGET_BYTES / 10**9:.0f}) |", "| --- | --- | --- | --- | --- |"]
        for name in (*contract.DATA_COMPONENTS, TRAINING_EPOCH, "Trainer"):
            a, b = small["parts"][name], large["parts"][name]
            ratio = b["seconds"] / (factor * a["seconds"])
            memory = b["peak_rss_bytes"] or 0
            out.append(f"| {name} | {a['seconds']:.1f} | {b['seconds']:.1f} | {ratio:.2f} "
                       f"{'met' if ratio <= LINEAR_TARGET else 'missed'} | {_gb(memory)} "
                       f"{'met' if memory < MEMORY_TARGET_BYTES else 'missed'} |")
        out.append("")
    out += ["![time against size](scale-time.png)", ""]
    return "\n".join(out)


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result["runs"]
    sizes = [run["headlines"] for run in runs]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in (*contract.DATA_COMPONENTS, TRAINING_EPOCH):
        seconds = [run["parts"][name]["seconds"] for run in runs]
        line, = ax.plot(sizes, seconds, marker="o", label=name)
        ax.plot(sizes, [seconds[0] * s / sizes[0] for s in sizes], linestyle=":", color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("headlines")
    ax.set_ylabel("seconds")
    ax.set_title("Wall time per component (dotted: linear from the smallest size)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100],
                        help="multiples of the dataset, in the order they run; the first is the baseline")
    parser.add_argument("--work-dir", default=os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "textrnn", "scale"),
                        help="where the synthetic shards are kept and the runs write (default %(default)s)")
    parser.add_argument("--output-dir", default="benchmarks/results")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic shards")
    parser.add_argument("--conditions", help="what else shared the machine, for the report")
    parser.add_argument("--report-only", action="store_true",
                        help="only rewrite scale.md and scale-time.png from --output-dir's scale.json")
    args = parser.parse_args(argv)
    if args.report_only:
        with open(os.path.join(args.output_dir, "scale.json")) as f:
            result = json.load(f)
        if args.conditions:
            result["conditions"] = args.conditions
            with open(os.path.join(args.output_dir, "scale.json"), "w") as f:
                json.dump(result, f, indent=1)
        write_report(result, args.output_dir)
        print(render(result))
        return

    dataset_file = os.path.join(data.ensure_dataset(), data.DATASET_FILE)
    shards = write_shards(dataset_file, os.path.join(args.work_dir, f"shards-seed{args.seed}"), max(args.sizes),
                          args.seed)
    with open(shards[0]) as f:
        headlines_per_shard = sum(1 for _ in f)
    result = {"provenance": provenance(__doc__.split("\n\n")[0], vars(args)),
              "started": datetime.datetime.now().isoformat(timespec="minutes"), "seed": args.seed,
              "machine": f"{os.cpu_count()} cores, {platform.platform()}", "conditions": args.conditions, "runs": []}
    os.makedirs(args.output_dir, exist_ok=True)
    for times in args.sizes:
        result["runs"].append(run_size(times, shards, args.work_dir, headlines_per_shard))
        with open(os.path.join(args.output_dir, "scale.json"), "w") as f:
            json.dump(result, f, indent=1)
        write_report(result, args.output_dir)
    print(render(result))


def write_report(result, output_dir):
    plot(result, os.path.join(output_dir, "scale-time.png"))
    with open(os.path.join(output_dir, "scale.md"), "w") as f:
        f.write(render(result))


if __name__ == "__main__":
    main()
