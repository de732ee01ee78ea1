"""Rows and table of scripts/reproduce.sh.

  results_table.py --row DIR I key=value ...   one row's JSON (stdout) from the run directory
                                               DIR of scripts/reproduce.sh, sampler I
  results_table.py RESULTS_DIR MODEL/DATASET ...   results.json and results.md from
                                               RESULTS_DIR/rows/*.json (the rows listed but not
                                               run appear under "not run yet")

Only the standard library: it runs wherever the scripts do.
"""
import glob
import json
import os
import platform
import statistics
import sys
import time

STATS = ["degree", "clustering", "orbit", "spectral"]

# Published numbers under the same protocol (GraphRNN kernels: Gaussian EMD for degree and
# clustering, Gaussian RBF σ = 30 for orbits; first 20 % test), with their source
# (../shared/models.md §7, where the secondary ones are marked).
PUBLISHED = [
    ("community-small", "EDP-GNN (Niu et al. 2020)", "0.053", "0.144", "0.026", "0.074",
     "paper table as quoted by a later paper (secondary)"),
    ("community-small", "GDSS (Jo et al. 2022)", "", "", "", "0.046",
     "average quoted by later papers (secondary)"),
    ("ego-small", "EDP-GNN (Niu et al. 2020)", "0.052", "0.093", "0.007", "0.050",
     "paper table as quoted by a later paper (secondary)"),
    ("ego-small", "GDSS (Jo et al. 2022)", "", "", "", "0.0173",
     "average quoted by later papers (secondary)"),
    ("grid", "GDSS (Jo et al. 2022)", "0.111", "0.005", "0.070", "0.062",
     "paper values quoted in harryjo97/GDSS#5"),
    ("enzymes", "GDSS (Jo et al. 2022)", "", "", "", "0.032",
     "average quoted by later papers (secondary)"),
]
NOT_PUBLISHED = ("The discrete DDPM paper (Haefeli et al. 2022) reports a 1.5× lower average MMD "
                 "than its Gaussian baseline; its tables could not be retrieved. GraphGDP "
                 "(Huang et al. 2022) evaluates with another protocol (max-over-σ RBF, test = last "
                 "20 %), not comparable with these rows.")


def row(d, i, kv):
    meta = dict(x.split("=", 1) for x in kv)
    seeds = meta["seeds"].split()
    vals = []
    for s in seeds:
        r = json.load(open(f"{d}/eval-{i}-{s}.json"))
        vals.append({e["statistic"]: e["value"] for e in r["report"]["mmd"]})
    mmd = {}
    for st in STATS:
        xs = [v[st] for v in vals if st in v]
        if xs:
            mmd[st] = {"mean": statistics.mean(xs),
                       "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0,
                       "values": xs}
    log = open(f"{d}/sample-{i}-{seeds[0]}.log").read()
    nfe = int(log.split(" network evaluations per graph")[0].split()[-1])
    secs = [int(open(f"{d}/sample-seconds-{i}-{s}.txt").read()) for s in seeds]
    steps = step_s = 0.0
    for line in open(f"{d}/run/metrics.jsonl"):
        rec = json.loads(line)
        if rec["step"] > int(meta["steps"]):
            break  # logged past the budget by an earlier, longer request; sampling used the budget's checkpoint
        steps = rec["step"]
        step_s += rec["step_time_s"] * rec["steps"]
    wall = sum(int(x) for x in open(f"{d}/train-seconds.txt").read().split())
    cpu = "unknown"
    if os.path.exists("/proc/cpuinfo"):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "model": meta["model"], "dataset": meta["dataset"], "sampler": meta["sampler"],
        "protocol": "graphrnn", "nfe_per_graph": nfe, "mmd": mmd,
        "samples": int(meta["samples"]), "seeds": [int(s) for s in seeds],
        "train": {"steps": int(steps), "step_minutes": step_s / 60, "wall_minutes": wall / 60},
        "sample_seconds_per_seed": statistics.mean(secs),
        "budget": {"note": meta["budget"], "cut": meta["cut"] == "true",
                   "train_steps": int(meta["steps"]), "official_train_steps": int(meta["official_steps"])},
        "data": meta["source"], "device": meta["device"], "threads": meta["threads"],
        "machine": f"{os.cpu_count()} cores, {cpu}, {platform.system()}",
        "commit": meta["commit"], "command": meta["command"],
        "date": time.strftime("%Y-%m-%d"),
    }


def threads(t):
    return "default threads" if t == "default" else f"{t} thread{'' if t == '1' else 's'}"


ORDER = {"community-small": 0, "ego-small": 1, "grid": 2, "enzymes": 3}


def datasets(rows):
    """The datasets with a row or a published value, in the order of the tables."""
    return sorted({r["dataset"] for r in rows} | {p[0] for p in PUBLISHED}, key=lambda d: ORDER.get(d, 9))


def avg(m):
    """Mean of the degree, clustering and orbit means (the tables' avg)."""
    return statistics.mean(m[s]["mean"] for s in STATS[:3] if s in m)


def fmt(m):
    return f"{m['mean']:.4f} ± {m['sd']:.4f}" if m else "–"


def table(results, wanted):
    rows = []
    for p in sorted(glob.glob(f"{results}/rows/*.json")):
        rows.append(json.load(open(p)))
    done = {(r["model"], r["dataset"]) for r in rows}
    missing = [w for w in wanted if tuple(w.split("/", 1)) not in done]
    out = {"protocol": "graphrnn (Gaussian EMD degree/clustering/spectral, RBF σ=30 orbit; MMD²)",
           "rows": rows, "not_run": [{"row": w, "command": f"scripts/reproduce.sh {w}"} for w in missing],
           "published": [dict(zip(["dataset", "method", "degree", "clustering", "orbit", "avg", "source"], p))
                         for p in PUBLISHED]}
    tmp = f"{results}/results.json.tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    os.replace(tmp, f"{results}/results.json")
    rows.sort(key=lambda r: (ORDER.get(r["dataset"], 9), r["model"], r["sampler"]))
    md = ["# Results", "",
          "Written by `scripts/reproduce.sh` (never by hand). MMD² against the test split, graphrnn "
          "protocol (the EDP-GNN / GDSS tables: Gaussian EMD on degree, clustering and spectral "
          "histograms, Gaussian RBF σ = 30 on orbit counts; generated isolated nodes removed), "
          "mean ± sd over the sampling seeds; avg = mean of degree, clustering and orbit. "
          "NFE = network evaluations per generated graph.", ""]
    for ds in datasets(rows):
        md += [f"## {ds}", "",
               "| model | sampler | NFE | degree | clustering | orbit | spectral | avg | training | sampling / seed | budget | device | regenerate |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in (r for r in rows if r["dataset"] == ds):
            m = r["mmd"]
            md.append(
                f"| {r['model']} | {r['sampler']} | {r['nfe_per_graph']} | {fmt(m.get('degree'))} | "
                f"{fmt(m.get('clustering'))} | {fmt(m.get('orbit'))} | {fmt(m.get('spectral'))} | {avg(m):.4f} | "
                f"{r['train']['steps']} steps, {r['train']['step_minutes']:.0f} min | "
                f"{r['samples']} graphs, {r['sample_seconds_per_seed']:.0f} s | "
                f"{'**cut**: ' if r['budget']['cut'] else ''}{r['budget']['note']} | "
                f"{r['device']}, {threads(r['threads'])} | `{r['command']}` |")
        for p in (p for p in PUBLISHED if p[0] == ds):
            md.append(f"| {p[1]}, published | | | {p[2]} | {p[3]} | {p[4]} | | {p[5]} | | | {p[6]} | | |")
        md.append("")
    md += [NOT_PUBLISHED, ""]
    if missing:
        md += ["## Not run yet", "", "| row | command |", "|---|---|"]
        md += [f"| {w} | `scripts/reproduce.sh {w}` |" for w in missing]
        md.append("")
    if rows:
        md += [f"Machine: {rows[0]['machine']}; commits {', '.join(sorted({r['commit'] for r in rows}))}.", ""]
    tmp = f"{results}/results.md.tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(md))
    os.replace(tmp, f"{results}/results.md")
    print("\n".join(md))
    readme(results, rows)


BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def readme(results, rows):
    """The compact table between README.md's results markers, when RESULTS is the repository's
    own results/ (a pipeline check elsewhere leaves README alone)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "README.md")
    if os.path.abspath(results) != os.path.join(root, "results") or not os.path.exists(path):
        return
    text = open(path).read()
    if BEGIN not in text or END not in text:
        return
    md = ["| dataset | model, sampler | NFE | degree | clustering | orbit | avg | budget |",
          "|---|---|---|---|---|---|---|---|"]
    for ds in datasets(rows):
        for r in (r for r in rows if r["dataset"] == ds):
            m = r["mmd"]
            seeds = len(r["seeds"])
            budget = f"{r['train']['steps']} steps" + (" (cut)" if r["budget"]["cut"] else " (official)")
            md.append(f"| {ds} | **{r['model']}**, {r['sampler']} | {r['nfe_per_graph']} | "
                      f"{m['degree']['mean']:.4f} | {m['clustering']['mean']:.4f} | "
                      f"{m['orbit']['mean']:.4f} | **{avg(m):.4f}** | {budget}, {r['device']}, "
                      f"{seeds} seed{'s' if seeds > 1 else ''} |")
        for p in (p for p in PUBLISHED if p[0] == ds):
            md.append(f"| {ds} | {p[1]}, published | | {p[2]} | {p[3]} | {p[4]} | {p[5]} | {p[6]} |")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + BEGIN + "\n" + "\n".join(md) + "\n" + END + tail
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(new)
    os.replace(tmp, path)


if __name__ == "__main__":
    if sys.argv[1] == "--row":
        print(json.dumps(row(sys.argv[2], sys.argv[3], sys.argv[4:]), indent=1))
    else:
        table(sys.argv[1], sys.argv[2:])
