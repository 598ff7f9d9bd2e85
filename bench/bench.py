#!/usr/bin/env python3
"""Every figure of issue 17, each against its anchor measured in the same run (see bench/all.sh).

Each case runs Sluice and its anchor in turn (A B A B ...) after one warm-up run of each; the ratio is taken pair
by pair and its median printed, so a machine whose speed drifts during the run still gives a fair ratio. Wall time
is a monotonic clock around the whole process; CPU and peak RSS are the kernel's accounting of the reaped child
(wait4). Figures are printed, never judged.

    bench/bench.py SLUICE_BINARY [CASE ...]      # cases: make100 smallest scale stages artifact (default: all)

Environment: RUNS (paired runs per case, default 5), ARTIFACT_RUNS (default 3), SLUICE_BENCH_ARTIFACT_MB (the
artifact case's size, default 288, with about 19k files at that size), SLUICE_BENCH_SCALE (the action counts of
the scale case, default "10 100 500"), BENCH_WORK (the work folder, default target/bench: on disk, not tmpfs).
"""

import os
import random
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(os.environ.get("RUNS", "5"))
ARTIFACT_RUNS = int(os.environ.get("ARTIFACT_RUNS", "3"))
ARTIFACT_MB = float(os.environ.get("SLUICE_BENCH_ARTIFACT_MB", "288"))
SCALE = [int(n) for n in os.environ.get("SLUICE_BENCH_SCALE", "10 100 500").split()]
WORK = os.path.abspath(os.environ.get("BENCH_WORK", os.path.join(ROOT, "target", "bench")))
DEVNULL = os.open(os.devnull, os.O_RDWR)


def run_once(argv, cwd=None):
    """Runs argv to its end; returns (wall s, cpu s, peak RSS MiB). A failing command stops the benchmark."""
    log = os.path.join(WORK, "last.out")
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            if cwd:
                os.chdir(cwd)
            os.dup2(DEVNULL, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - start
    os.close(out)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.stderr.write(f"benchmark command failed: {' '.join(argv)}\n{open(log).read()}")
        sys.exit(1)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0


def paired(a, b, runs, prepare=None):
    """Runs a and b in turn `runs` times after a warm-up of each; returns both runs' figures."""
    ra, rb = [], []
    for i in range(runs + 1):
        if prepare:
            prepare()
        fa = run_once(*a)
        fb = run_once(*b)
        if i > 0:
            ra.append(fa)
            rb.append(fb)
    return ra, rb


def med(runs, i):
    return statistics.median(r[i] for r in runs)


def ratio(ra, rb):
    return statistics.median(x[0] / y[0] for x, y in zip(ra, rb))


def spread(runs):
    walls = sorted(r[0] for r in runs)
    return f"{walls[0]:.3f}..{walls[-1]:.3f}"


def report(what, ra, rb, anchor):
    print(f"{what}")
    print(f"  sluice  wall {med(ra, 0):8.3f} s ({spread(ra)})  cpu {med(ra, 1):7.3f} s  peak {med(ra, 2):6.1f} MiB")
    print(f"  {anchor:<7.7} wall {med(rb, 0):8.3f} s ({spread(rb)})  cpu {med(rb, 1):7.3f} s  peak {med(rb, 2):6.1f} MiB")
    print(f"  ratio sluice/{anchor.split()[0]}: {ratio(ra, rb):.2f} (median of {len(ra)} paired runs)")
    sys.stdout.flush()


def pipeline(path, name, stages, width, source=True):
    """A pipeline of `stages` stages of `width` parallel no-op Commands actions after a LocalSource stage."""
    lines = [
        f"name: {name}",
        "pipelineType: V2",
        "executionMode: PARALLEL",
        "stages:",
        "  - name: Source",
        "    actions:",
        "      - name: Checkout",
        "        actionTypeId: {category: Source, owner: ThirdParty, provider: LocalSource, version: '1'}",
        f"        configuration: {{Path: {source}}}",
        "        outputArtifacts: [{name: Src}]",
    ]
    for s in range(stages):
        lines += [f"  - name: S{s}", "    actions:"]
        for a in range(width):
            lines += [
                f"      - name: A{a}",
                "        actionTypeId: {category: Compute, owner: AWS, provider: Commands, version: '1'}",
                "        commands: ['true']",
                "        inputArtifacts: [{name: Src}]",
            ]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def makefile(path, stages, width):
    """The same graph for make: `stages` barriers of `width` parallel `true` recipes."""
    mk = [".PHONY: all", f"all: stage{stages - 1}"]
    prev = ""
    for s in range(stages):
        targets = " ".join(f"s{s}a{a}" for a in range(width))
        mk += [f".PHONY: stage{s} {targets}", f"stage{s}: {targets}"]
        for a in range(width):
            mk += [f"s{s}a{a}: {prev}", "\t@true"]
        prev = f"stage{s}"
    with open(path, "w") as f:
        f.write("\n".join(mk) + "\n")


class Bench:
    def __init__(self, sluice):
        self.sluice = sluice
        # (issue 17's goal, the figure measured, whether it holds), printed together at the end.
        self.goals = []

    def goal(self, what, figure, holds):
        self.goals.append((what, figure, holds))

    def case_dir(self, name, stages, width, source="src"):
        d = os.path.join(WORK, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(os.path.join(d, "src"))
        with open(os.path.join(d, "src", "README"), "w") as f:
            f.write("bench\n")
        pipeline(os.path.join(d, "pipeline.yaml"), name, stages, width, source)
        makefile(os.path.join(d, "Makefile"), stages, width)
        return d

    def run_argv(self, d):
        return [self.sluice, "--state-dir", os.path.join(d, "state"), "run", os.path.join(d, "pipeline.yaml")]

    def check_actions(self, d, name, expected):
        """Every action of the last run really ran."""
        import json

        state = os.path.join(d, "state")
        out = subprocess.run(
            [self.sluice, "--state-dir", state, "--output", "json", "history", name, "--limit", "1"],
            check=True, capture_output=True, text=True,
        ).stdout
        last = json.loads(out)[0]["pipelineExecutionId"]
        out = subprocess.run(
            [self.sluice, "--state-dir", state, "--output", "json", "show", last],
            check=True, capture_output=True, text=True,
        ).stdout
        ok = sum(a["status"] == "Succeeded" for a in json.loads(out)["actions"])
        if ok != expected:
            sys.exit(f"{name}: expected {expected} succeeded actions, found {ok}")

    def make100(self):
        d = self.case_dir("bench-100", 10, 10)
        ra, rb = paired((self.run_argv(d),), (["make", "-s", "-j10", "-C", d],), RUNS)
        self.check_actions(d, "bench-100", 101)
        report("100 no-op actions (source + 10 stages x 10 parallel Commands `true`) vs make -j10", ra, rb, "make -j10")
        print(f"  per action (sluice): {med(ra, 0) * 1000 / 101:.2f} ms wall, {med(ra, 1) * 1000 / 101:.2f} ms cpu")
        self.goal("100 actions at most 1.5x make -j10", f"{ratio(ra, rb):.2f}x", ratio(ra, rb) <= 1.5)

    def smallest(self):
        d = self.case_dir("bench-smallest", 1, 1)
        ra, rb = paired((self.run_argv(d),), (["sh", "-c", "true"],), RUNS * 2)
        report("smallest pipeline (LocalSource + one Commands `true`) vs sh -c true", ra, rb, "sh -c true")
        self.goal("smallest pipeline under 30 ms wall", f"{med(ra, 0) * 1000:.0f} ms", med(ra, 0) < 0.030)

    def scale(self):
        walls = {}
        for n in SCALE:
            # A pipeline holds at most 500 actions, the source's included.
            stages = max(1, min(n // 10, 49))
            name = f"bench-scale-{n}"
            d = self.case_dir(name, stages, 10)
            ra, rb = paired((self.run_argv(d),), (["make", "-s", "-j10", "-C", d],), RUNS)
            self.check_actions(d, name, stages * 10 + 1)
            report(f"{stages * 10} actions ({stages} stages x 10) vs make -j10", ra, rb, "make -j10")
            walls[n] = med(ra, 0) / (stages * 10)
            peak = med(ra, 2)
            print(f"  per action: {walls[n] * 1000:.2f} ms wall, {med(ra, 1) * 1000 / (stages * 10):.2f} ms cpu")
        if 100 in walls and 500 in walls:
            flat = walls[500] / walls[100]
            print(f"cost per action, 500 vs 100 actions (wall per action): ratio {flat:.2f}")
            self.goal("wall per action at 500 actions within 1.2x that at 100", f"{flat:.2f}x", flat <= 1.2)
            self.goal("peak RSS at 500 actions at most 64 MiB", f"{peak:.0f} MiB", peak <= 64)

    def stages(self):
        d = self.case_dir("bench-stages", 20, 1)
        ra, rb = paired((self.run_argv(d),), (["make", "-s", "-j10", "-C", d],), RUNS)
        self.check_actions(d, "bench-stages", 21)
        report("per-stage transition: 20 one-action stages (after a source) vs make's chain of 20", ra, rb, "make -j10")
        print(f"  per stage: sluice {med(ra, 0) * 1000 / 20:.2f} ms, make {med(rb, 0) * 1000 / 20:.2f} ms")

    def artifact(self):
        d = os.path.join(WORK, "bench-artifact")
        tree = generate_tree(os.path.join(WORK, f"tree-{ARTIFACT_MB:g}mb"), ARTIFACT_MB)
        os.makedirs(d, exist_ok=True)
        pipeline(os.path.join(d, "pipeline.yaml"), "bench-artifact", 1, 1, tree)
        state = os.path.join(d, "state")
        out_zip = os.path.join(d, "anchor.zip")

        def prepare():
            shutil.rmtree(state, ignore_errors=True)
            if os.path.exists(out_zip):
                os.remove(out_zip)

        ra, rb = paired(
            (self.run_argv(d),), (["zip", "-qr", out_zip, "."], tree), ARTIFACT_RUNS, prepare
        )
        self.check_actions(d, "bench-artifact", 2)
        files, size = tree_size(tree)
        report(
            f"artifact: {size / 1e6:.0f} MB / {files} files, LocalSource + one consumer vs zip -qr", ra, rb, "zip -qr"
        )
        cores = med(ra, 1) / med(ra, 0)
        print(f"  cores used (cpu/wall): sluice {cores:.2f}, zip {med(rb, 1) / med(rb, 0):.2f}")
        self.goal("artifact faster than zip -qr", f"{ratio(ra, rb):.2f}x", ratio(ra, rb) < 1)
        self.goal("artifact on both cores (at least 1.5 of 2 busy)", f"{cores:.2f}", cores >= 1.5)
        self.goal("artifact peak RSS at most 64 MiB", f"{med(ra, 2):.0f} MiB", med(ra, 2) <= 64)


def generate_tree(path, mb):
    """A deterministic source-like tree: text files of about 15 KB on average (288 MB -> about 19k files),
    in nested folders; the same seed and size always give the same bytes. Kept between runs."""
    marker = path + ".complete"
    if os.path.exists(marker):
        return path
    shutil.rmtree(path, ignore_errors=True)
    rng = random.Random(17)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(2, 12))) for _ in range(5000)]
    pool_lines = []
    for _ in range(40000):
        indent = "    " * rng.randint(0, 4)
        pool_lines.append(indent + " ".join(rng.choice(words) for _ in range(rng.randint(1, 12))))
    pool = ("\n".join(pool_lines) + "\n").encode()
    target = int(mb * 1_000_000)
    written = 0
    n = 0
    while written < target:
        size = min(int(rng.lognormvariate(9.1, 1.0)) + 1, 400_000, target - written)
        start = rng.randrange(0, len(pool) - size) if len(pool) > size else 0
        sub = os.path.join(path, f"d{n % 37:02d}", f"e{(n // 37) % 13:02d}")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"f{n:06d}.txt"), "wb") as f:
            f.write(pool[start:start + size])
        written += size
        n += 1
    open(marker, "w").close()
    return path


def tree_size(path):
    files = size = 0
    for dirpath, _, names in os.walk(path):
        for name in names:
            files += 1
            size += os.path.getsize(os.path.join(dirpath, name))
    return files, size


def main():
    sluice = os.path.abspath(sys.argv[1])
    cases = sys.argv[2:] or ["make100", "smallest", "scale", "stages", "artifact"]
    os.makedirs(WORK, exist_ok=True)
    b = Bench(sluice)
    print(f"release binary {sluice}; {os.cpu_count()} cores; RUNS={RUNS}; work folder {WORK}")
    for c in cases:
        getattr(b, c)()
    if b.goals:
        print("goals (issue 17):")
        for what, figure, holds in b.goals:
            print(f"  {'met    ' if holds else 'NOT MET'}  {what}: {figure}")


if __name__ == "__main__":
    main()
