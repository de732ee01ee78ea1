#!/usr/bin/env bash
# The results table: every model on Community-small, Ego-small, Grid and ENZYMES, each with its
# default and its fast sampler (the discrete DDPM also with its ancestral sampler), over 3
# sampling seeds, evaluated against the test split with
# the graphrnn protocol (the EDP-GNN / GDSS tables). Writes one JSON file per row under
# results/rows/ and, from every row there, results/results.json and results/results.md (MMD
# mean ± sd, network evaluations per graph, training and sampling times, device, threads,
# budget, commit, and the command that regenerates the row); draws each model's samples next
# to test graphs, and its training curves, into results/figures/ (SVG).
#
# Usage: scripts/reproduce.sh [MODEL/DATASET ...]
#   e.g. scripts/reproduce.sh graph-ddpm/community-small edp-gnn/ego-small
#   no argument: every row; `--table`: only rebuild results.json / results.md from the rows.
# Models: edp-gnn, graph-ddpm, graph-gdp. Datasets: community-small, ego-small, grid, enzymes
# (the published lists of ../shared/datasets/gdss/ when present; the built-in generators
# otherwise, where the dataset has one).
# Knobs: BUDGET (cpu, default: what fits 2 CPU cores, stated per row; official: the papers'
#        training budgets, for a GPU), DEVICE (cpu|cuda), THREADS, SEEDS ("0 1 2"),
#        SAMPLERS (indices of the row's samplers to run, e.g. "1" for the fast one only;
#        default all), OUT (work directory, default runs/reproduce), GRAPHDIFF_BIN (a built binary),
#        STEPS and SAMPLES (override every row's training steps / sample count, for a quick
#        check of the pipeline; the rows then say so), RESULTS (default results).
# A rerun continues: a trained model resumes, finished evaluations are kept.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-runs/reproduce}"
budget="${BUDGET:-cpu}"
device="${DEVICE:-cpu}"
seeds="${SEEDS:-0 1 2}"
threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
res="${RESULTS:-results}"
mkdir -p "$res/rows" "$out"

all_rows=()
for m in edp-gnn graph-ddpm graph-gdp; do
    for d in community-small ego-small grid enzymes; do all_rows+=("$m/$d"); done
done

table() {
    python3 scripts/results_table.py "$res" "${all_rows[@]}"
}
if [ "${1:-}" = "--table" ]; then
    table
    exit 0
fi
rows=("$@")
[ ${#rows[@]} -gt 0 ] || rows=("${all_rows[@]}")

./setup-libtorch.sh >/dev/null
if [ -n "${GRAPHDIFF_BIN:-}" ]; then
    gd="$GRAPHDIFF_BIN"
else
    cargo build --quiet --release -p graphdiff
    gd=target/release/graphdiff
fi
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || commit="$commit+dirty"

# dataset DATASET → sets data_args (train/split source), list, max_nodes, samples
dataset() {
    local g6
    case "$1" in
        community-small) g6=community_small.g6; max_nodes=20; builtin=(--dataset community-small) ;;
        ego-small) g6=ego_small.g6; max_nodes=18; builtin=() ;;
        grid) g6=grid.g6; max_nodes=361; builtin=(--dataset grid-gdss) ;;
        enzymes) g6=enzymes.g6; max_nodes=125; builtin=() ;;
        *) echo "unknown dataset $1" >&2; return 1 ;;
    esac
    if [ -f "../shared/datasets/gdss/$g6" ]; then
        data_args=(--data "../shared/datasets/gdss/$g6" --split gdss)
        source_name="../shared/datasets/gdss/$g6 (published list; first 20 % test)"
    elif [ ${#builtin[@]} -gt 0 ]; then
        data_args=("${builtin[@]}")
        source_name="built-in generator ${builtin[1]} (seed of its recipe; first 20 % test)"
    else
        echo "skipping $1: ../shared/datasets/gdss/$g6 is missing and there is no built-in generator" >&2
        return 1
    fi
    # The GDSS convention: 1024 samples for the small sets, as many as test graphs otherwise.
    case "$1" in community-small|ego-small) samples=1024 ;; *) samples=0 ;; esac
}

# spec MODEL DATASET → train_args, official (steps of the official budget), cut, budget_note,
# and the samplers: sampler_names, sampler_sets_<i>
spec() {
    local model=$1 ds=$2 preset recipe=""
    sampler_names=(); sampler_sets_0=(); sampler_sets_1=(); sampler_sets_2=()
    case "$model" in
        edp-gnn)
            preset=configs/edp-gnn/community-small.json
            [ "$ds" = ego-small ] && preset=configs/edp-gnn/ego-small.json
            train_args=(--config "$preset" --set "max_nodes=$max_nodes")
            sampler_names=("default (6 × 1000 Langevin steps)" "fast (6 × 100 Langevin steps)")
            sampler_sets_1=(--set sampler.step_num=100)
            case "$ds" in
                community-small) official=15003; cpu=15003 ;;
                ego-small) official=25005; cpu=25005 ;;
                grid) official=15003; cpu=1000; train_args+=(--set train.batch_size=8) ;;
                enzymes) official=75015; cpu=3000 ;;
            esac ;;
        graph-ddpm)
            preset=configs/graph-ddpm/community-small.json
            [ "$ds" = ego-small ] && preset=configs/graph-ddpm/ego-small.json
            train_args=(--config "$preset" --set "max_nodes=$max_nodes")
            # The official pairing (L_simple training, its sampler), the fast setting, and the
            # ancestral sampler through the exact posterior, which does better on these sets
            # (BENCHMARKS.md, "Discrete DDPM quality").
            sampler_names=("default (L_simple sampler, T = 32)" "fast (L_simple sampler, 16 levels)"
                           "ancestral (VLB sampler, T = 32)")
            sampler_sets_1=(--set sampler.steps=16)
            sampler_sets_2=(--set sampler.kind=vlb)
            case "$ds" in
                community-small) official=15000; cpu=15000 ;;
                ego-small) official=25000; cpu=25000 ;;
                grid) official=15000; cpu=1000; train_args+=(--set train.batch_size=8) ;;
                enzymes) official=75000; cpu=4000 ;;
            esac ;;
        graph-gdp)
            preset=configs/graph-gdp/community-small.json
            [ "$ds" = ego-small ] && preset=configs/graph-gdp/ego-small.json
            [ "$ds" = enzymes ] && preset=configs/graph-gdp/enzymes.json
            train_args=(--config "$preset" --set "max_nodes=$max_nodes")
            # the official README trains Community-small with `--config.model.beta_max 5.0`
            # (its config file says 20; Ego-small's command keeps 20)
            if [ "$ds" = community-small ]; then
                train_args+=(--set sde.beta_max=5)
                recipe="; VP β_max 5 as in the official README's training command"
            fi
            # the official sampler, and the preset's few-step one (`samplers.few_step`: 32 steps
            # in the Community-small preset, which Grid also trains with, 20 in the others;
            # BENCHMARKS.md "GraphGDP quality")
            few_steps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["samplers"]["few_step"]["steps"])' "$preset")
            sampler_names=("default (1000 Euler–Maruyama steps)" "fast (SDE-DPM-Solver++ 2M, $few_steps steps)")
            sampler_sets_0=(--set 'sampler={"kind":"pc","steps":1000,"predictor":"euler_maruyama","corrector":"none","noise_removal":true}')
            sampler_sets_1=(--sampler few_step)
            case "$ds" in
                community-small) official=1500001; cpu=40000 ;;
                ego-small) official=200001; cpu=20000 ;;
                grid) official=1500001; cpu=1000 ;;
                enzymes) official=2000001; cpu=4000 ;;
            esac
            # the CPU budget of scripts/reproduce_graph_gdp.sh: a larger learning rate that
            # decays (its factor set below, from the steps) and a shorter EMA for few steps;
            # Grid's 361-node graphs take about 2 GB of training memory each with the dense
            # pair features (batch 32 was killed for memory on 24 GB; batch 1 peaks at
            # 2.3 GB), so batch 4
            if [ "$budget" = cpu ]; then
                train_args+=(--set train.optimizer.lr=5e-4 --set train.ema.decay=0.999)
                if [ "$ds" = grid ]; then train_args+=(--set train.batch_size=4); fi
            fi ;;
    esac
    if [ -n "${STEPS:-}" ]; then
        steps=$STEPS; cut=true
        budget_note="a pipeline check: $STEPS of the official $official steps (STEPS override)"
    elif [ "$budget" = official ]; then
        steps=$official; cut=false
        budget_note="official budget ($official steps)"
    else
        steps=$cpu
        if [ "$cpu" = "$official" ]; then
            cut=false; budget_note="official budget ($official steps)"
        else
            cut=true; budget_note="cut to fit 2 CPU cores: $cpu of the official $official steps"
            if [ "$model" = graph-gdp ]; then
                budget_note="$budget_note, lr 5e-4 decaying exponentially to 2.5e-5 and EMA 0.999 instead of a constant 2e-5 and 0.9999"
                if [ "$ds" = grid ]; then
                    budget_note="$budget_note, batch 4 (GraphGDP has no official Grid config: the Community-small network)"
                fi
            elif [ "$ds" = grid ]; then
                budget_note="$budget_note, batch 8"
            fi
        fi
    fi
    if [ "$model" = graph-gdp ] && [ "$budget" = cpu ]; then
        # the rate decays by a constant factor per step to a twentieth at the last step
        gamma=$(awk -v s="$steps" 'BEGIN { printf "%.17g", exp(log(0.05) / s) }')
        train_args+=(--set "train.lr_schedule={\"kind\":\"exponential\",\"gamma\":$gamma,\"every\":\"step\"}")
    fi
    budget_note="$budget_note$recipe"
}

for row in "${rows[@]}"; do
    model=${row%%/*}; ds=${row#*/}
    dataset "$ds" || continue
    spec "$model" "$ds"
    dir="$out/$model--$ds"
    mkdir -p "$dir"
    echo "== $row: $budget_note" >&2
    "$gd" dataset "${data_args[@]}" --part test --out "$dir/test.g6" --no-manifest >/dev/null
    n_test=$("$gd" stats "$dir/test.g6" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["graphs"])')
    [ "$samples" = 0 ] && samples=$n_test
    [ -n "${SAMPLES:-}" ] && samples=$SAMPLES
    args=("${data_args[@]}" "${train_args[@]}")
    if compgen -G "$dir/run/checkpoints/step-*" >/dev/null; then
        args=(--resume)
    else
        rm -rf "$dir/run"
    fi
    t0=$(date +%s)
    "$gd" train "$model" --run-dir "$dir/run" --device "$device" --steps "$steps" \
        "${threads[@]}" "${args[@]}" >&2
    echo "$(( $(date +%s) - t0 ))" >>"$dir/train-seconds.txt"
    for i in "${!sampler_names[@]}"; do
        case " ${SAMPLERS:-${!sampler_names[*]}} " in *" $i "*) ;; *) continue ;; esac
        name=${sampler_names[$i]}
        declare -n sets="sampler_sets_$i"
        for s in $seeds; do
            [ -f "$dir/eval-$i-$s.json" ] && continue
            t0=$(date +%s)
            "$gd" sample --run "$dir/run" -n "$samples" --seed "$s" --device "$device" \
                "${threads[@]}" "${sets[@]}" --out "$dir/samples-$i-$s.g6" >"$dir/sample-$i-$s.log"
            echo "$(( $(date +%s) - t0 ))" >"$dir/sample-seconds-$i-$s.txt"
            "$gd" eval --ref "$dir/test.g6" --gen "$dir/samples-$i-$s.g6" --protocol graphrnn \
                --json "$dir/eval-$i-$s.json" >/dev/null
        done
        python3 scripts/results_table.py --row "$dir" "$i" \
            "model=$model" "dataset=$ds" "sampler=$name" "source=$source_name" \
            "budget=$budget_note" "cut=$cut" "steps=$steps" "official_steps=$official" \
            "samples=$samples" "seeds=$seeds" "device=$device" "threads=${THREADS:-default}" \
            "commit=$commit" "command=scripts/reproduce.sh $row${BUDGET:+ (BUDGET=$budget)}" \
            >"$res/rows/$model--$ds--$i.json"
        unset -n sets
    done
    # Pictures: 12 graphs of the default sampler's first seed next to 12 test graphs, and the
    # training curves.
    mkdir -p "$res/figures"
    first=${seeds%% *}
    if [ -f "$dir/samples-0-$first.g6" ]; then
        "$gd" plot samples "$dir/samples-0-$first.g6" --real "$dir/test.g6" -n 12 --cols 4 \
            --title "$model, ${sampler_names[0]}" --out "$res/figures/$model--$ds--samples.svg" >/dev/null
    fi
    "$gd" plot curves "$dir/run" --out "$res/figures/$model--$ds--training.svg" >/dev/null
done
table
