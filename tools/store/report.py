"""The run's report: `report.json` for machines (keys fixed by the contract), `report.md` for people."""

from __future__ import annotations

from pathlib import Path

from tools import kinds
from tools.store.data import write_json


def write_report(run_dir: str | Path, report: dict) -> None:
    run_dir = Path(run_dir)
    write_json(run_dir / "report.json", report)
    plots = _plots(run_dir, report)
    tmp = run_dir / "report.md.tmp"
    tmp.write_text(render_markdown(report, plots), encoding="utf-8")
    tmp.replace(run_dir / "report.md")


# What each triage reason means, for the person reading report.md (report.json keeps the codes).
REASONS = {
    "passed": "the judge passed it: learned from and used for the regression set",
    "failure": "a failure with a believable correction: trained on (a share held out to test generalisation)",
    "new_label": "a failure whose correction is a label the deployed model lacks, with enough examples to learn it",
    "prompt_injection": "instructions aimed at the model inside the request",
    "gibberish": "mostly not words",
    "off_task": "far from every trusted input (parent data and passed logs)",
    "negated_request": "a negation or false premise in a label whose data never negates: the label fits the request without it",
    "correction_unlikely": "the correction is less likely than chance under a model of the trusted data (confident learning)",
    "no_correction": "a failure without a correction: nothing to learn",
    "new_label_too_few": "a new label with too few examples to learn",
    "contradicts_trusted_labels": "the correction gives a word the trusted data settles (3+ times, 80%+ agreement) another type, or deletes it",
    "new_type": "a failure whose correction has an entity type the deployed model lacks, with enough examples to learn it",
    "new_type_too_few": "a new entity type with too few examples to learn",
    "correction_rejected": "the verifier rejects the correction itself (no final answer, a calculation that does not compute, not JSON)",
    "correction_ungrounded": "the correction holds a value its input does not, where the trusted answers copy theirs from the input",
    "contradicts_trusted": "the trusted data answers the same input otherwise",
    "pass_unreadable": "the judge passed an answer the verifier cannot read (no final answer, not JSON)",
}


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}" if v <= 1 else f"{v:.1f}"
    return str(v)


def summary_table(report: dict) -> list[tuple[str, str, str]]:
    """The headline rows first: figures on log lines the promoted model never trained on. The figures on all
    usable logs (most of which it trained on) come last, marked so."""
    b, f = report.get("baseline") or {}, report.get("final") or {}
    n = (b.get("held_out") or {}).get("n")
    entities = "entity_f1_on_logs" in b
    rows = [(f"accuracy on the traffic, estimated from {n} held-out log lines" + (" (sentences exactly right)" if entities else ""),
             (b.get("held_out") or {}).get("accuracy"), (f.get("held_out") or {}).get("accuracy"))]
    keys = [("regression-set accuracy (held-out passes)", "regression_accuracy"), ("held-out failures fixed", "held_out_failures_fixed")]
    if entities:
        keys += [("entity F1 on usable logs (trained on)", "entity_f1_on_logs"), ("entity precision (trained on)", "precision_on_logs"),
                 ("entity recall (trained on)", "recall_on_logs")]
    keys += [("accuracy on usable logs (trained on)" if not entities else "sentences exactly right on usable logs (trained on)", "accuracy_on_logs"),
             ("logged fixable failures fixed (trained on)", "logged_fixable_fixed")]
    rows += [(label, b.get(k), f.get(k)) for label, k in keys]
    return [(label, _fmt(x), _fmt(y)) for label, x, y in rows]


def node_seconds(timings: list[dict]) -> list[tuple[str, int, float]]:
    """(node, runs, seconds) in the order nodes first ran, from the state's timings."""
    out: dict[str, list] = {}
    for t in timings:
        e = out.setdefault(t["node"], [0, 0.0])
        e[0] += 1
        e[1] += t["seconds"]
    return [(k, n, round(sec, 1)) for k, (n, sec) in out.items()]


def render_markdown(r: dict, plots: list[str]) -> str:
    g = r.get("gate") or {}
    lines = [f"# Pioneer report: {r['mode']} mode", "",
             f"**Outcome:** {r['outcome']}", "",
             f"Task: {r['task']} · base model: `{r['base_model']}` · deployed: `{r.get('deployed_model')}`", ""]
    lines += ["| | deployed | promoted |", "| --- | --- | --- |"] + [f"| {a} | {b} | {c} |" for a, b, c in summary_table(r)] + [""]
    if g:
        from tools.gate import describe

        lines += [f"**Gate ({g.get('mode', 'absolute')}):** {describe(g)}" + (f" — {'; '.join(g.get('reasons', []))}" if g.get("reasons") else ""), ""]
        for s, v in (g.get("slices") or {}).items():
            lines.append(f"- {s}: {v}")
        lines.append("")
    again = (r.get("registry") or {}).get("ratchet_at_promotion")
    if again:
        lines += [f"**Ratchet at promotion:** another run promoted {again['version']} after this gate; checked against it before "
                  f"promoting: {again['negative_flips']} negative flips on its {again['n']} evaluation items.", ""]
    if r.get("memory", {}).get("used"):
        m = r["memory"]
        lines += [f"**Memory:** started from `{m['strategy']}`, found on {m['matches']} similar past patterns "
                  f"({', '.join(m.get('similar_patterns', []))}).", ""]
    elif r.get("memory", {}).get("matches"):
        lines += [f"**Memory:** {r['memory']['matches']} similar past patterns, none fixed by an attempt that passed the gate: "
                  "started from the default strategies.", ""]
    lines += _error_kinds(r)
    ing = r.get("ingest") or {}
    if "parent_examples" in ing:
        lines += [f"Parent data: {ing['parent_examples']} examples"
                  + (" (the deployed model's lineage, parent_data.jsonl)" if ing.get("parent_from_lineage") else ""), ""]
    lines += ["## Triage", "", "| category | reason | lines | meaning |", "| --- | --- | --- | --- |"]
    for k, v in sorted((r.get("triage") or {}).get("reasons", {}).items()):
        cat, reason = k.split(":", 1)
        lines.append(f"| {cat} | {reason} | {v} | {REASONS.get(reason, '')} |")
    lines += ["", "## Failure patterns", "", "| pattern | size | kind | make-up | example |", "| --- | --- | --- | --- | --- |"]
    for c in r.get("clusters", [])[:15]:
        ex = (c.get("examples") or [""])[0].replace("|", "/")[:70]
        lines.append(f"| {c['name']} | {c['size']} | {c['kind']} | {c.get('triage')} | {ex} |")
    lines += ["", "## Iterations", "", "| it | stage | strategy | examples | flips | fixed | decision |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for it in r.get("iterations", []):
        gg = it["gate"]
        lines.append(f"| {it['iteration']} | {it['stage']} | {it['strategy']} | {(it.get('training') or {}).get('examples')} | "
                     f"{gg['negative_flips']} | {gg['fixed']} | {it.get('decision', '')} |")
    ex = r.get("excluded") or []
    lines += ["", f"## Excluded lines ({len(ex)})", "", "| id | line | category | reason |", "| --- | --- | --- | --- |"]
    for e in ex[:200]:
        lines.append(f"| {e['id']} | {e.get('line')} | {e['category']} | {e['reason']} |")
    if len(ex) > 200:
        lines.append(f"| … | | | {len(ex) - 200} more in report.json |")
    lines += seconds_table(r)
    lines += [""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def seconds_table(r: dict) -> list[str]:
    rows = r.get("seconds_per_node") or []
    if not rows:
        return []
    return (["", f"## Seconds per node ({sum(e['seconds'] for e in rows):.0f} s before the report)", "", "| node | runs | seconds |",
             "| --- | --- | --- |"] + [f"| {e['node']} | {e['runs']} | {e['seconds']} |" for e in rows])


def _error_kinds(r: dict) -> list[str]:
    """Entity extraction: the mistakes on the usable logs by kind, before and after, overall and per type."""
    b, f = (r.get("baseline") or {}).get("errors"), (r.get("final") or {}).get("errors")
    if not b:
        return []
    kinds = list(b["total"])
    head = " | ".join(k.replace("_", " ") for k in kinds)
    lines = ["## Errors by kind (usable logs)", "", f"| | {head} |", "| --- |" + " --- |" * len(kinds),
             "| deployed | " + " | ".join(str(b["total"][k]) for k in kinds) + " |"]
    if f:
        lines.append("| promoted | " + " | ".join(str(f["total"][k]) for k in kinds) + " |")
    lines += ["", f"| type | {' / '.join(k.replace('_', ' ') for k in kinds)} (deployed → promoted) | F1 (deployed → promoted) |",
              "| --- | --- | --- |"]
    per_b, per_f = r["baseline"].get("per_type", {}), (r.get("final") or {}).get("per_type", {})
    for ty, counts in b["per_type"].items():
        after = (f["per_type"].get(ty) or dict.fromkeys(kinds, 0)) if f else None
        cells = " / ".join(f"{counts[k]}" + (f"→{after[k]}" if after else "") for k in kinds)
        f1 = f"{_fmt(per_b.get(ty, {}).get('f1'))}" + (f" → {_fmt(per_f.get(ty, {}).get('f1'))}" if per_f else "")
        lines.append(f"| {ty} | {cells} | {f1} |")
    return lines + [""]


def _plots(run_dir: Path, r: dict) -> list[str]:
    """Per-label recall before/after and learning curves, as PNGs beside the report."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out = []
    before = ((r.get("baseline") or {}).get("held_out") or {}).get("per_label_recall") or {}
    after = ((r.get("final") or {}).get("held_out") or {}).get("per_label_recall") or {}
    if before and after:
        labels = sorted(before)
        fig, ax = plt.subplots(figsize=(max(6, len(labels) * 0.35), 4))
        x = range(len(labels))
        ax.bar([i - 0.2 for i in x], [before[l] for l in labels], 0.4, label="deployed")
        ax.bar([i + 0.2 for i in x], [after.get(l, 0) for l in labels], 0.4, label="promoted")
        ax.set_xticks(list(x), labels, rotation=75, ha="right", fontsize=7)
        ax.set_ylabel("recall on the traffic (held-out logs)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(run_dir / "per_label.png", dpi=110)
        plt.close(fig)
        out.append("per_label.png")
    curves = [(it["strategy"], (it.get("training") or {}).get("curve") or []) for it in r.get("iterations", [])]
    if any(c for _, c in curves):
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, c in curves:
            if c:
                ax.plot([p["epoch"] for p in c], [p["loss"] for p in c], marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(run_dir / "learning_curves.png", dpi=110)
        plt.close(fig)
        out.append("learning_curves.png")
    return out


def write_cold_report(run_dir: str | Path, r: dict) -> None:
    """Cold start: report.json and report.md (what data, which evaluation set, which attempts, what gain)."""
    run_dir = Path(run_dir)
    write_json(run_dir / "report.json", r)
    tmp = run_dir / "report.md.tmp"
    tmp.write_text(render_cold_markdown(r), encoding="utf-8")
    tmp.replace(run_dir / "report.md")


def render_cold_markdown(r: dict) -> str:
    spec, ev, base, final = r["spec"], r["evaluation_set"], r["baseline"], r.get("final") or {}
    lines = ["# Pioneer report: cold-start mode", "", f"**Outcome:** {r['outcome']}", "",
             f"Task: *{r['description']}*", "",
             f"- kind: {spec['kind']}, " + (f"{len(spec['labels'])} labels, " if spec["labels"] else "") + f"metric {spec['metric']}"
             + (f" ({spec['metric_why']})" if spec.get("metric_why") else "")
             + (f", out-of-scope labels {spec['out_of_scope']}" if spec["out_of_scope"] else "")
             + f" (decided by: {', '.join(f'{k} from {v}' for k, v in spec['decided_by'].items())})",
             f"- base model: `{r['base_model']}`", "", "## Data sources (ranked by relevance to the description)", "",
             "| source | origin | kind | examples | relevance | used | why |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for s in r["sources"]:
        lines.append(f"| {s['name']} | {s['origin']} | {s['kind']} | {sum(s['splits'].values())} | {s['relevance']:.2f} | "
                     f"{'yes' if s['used'] else 'no'} | {s['why']} |")
    lines += ["", f"{r['hub']}. Pool: {r['pool']['train']} training and {r['pool']['test']} test examples; dropped {r['pool']['dropped']}.", "",
              "## Evaluation set (frozen before training)", "",
              f"{ev['n']} examples from {ev['origin']}; " + (f"{ev['labels_covered']} of {ev['labels']} labels covered; " if ev["labels"] else "")
              + f"{ev['boundary']} boundary cases; {ev['negatives']} negatives; sha256 `{ev['sha256']}`. "
              f"{ev['removed_from_training']} copies removed from training; development split {ev['dev']}, training split {ev['train']}.", ""]
    if ev["confusable_pairs"]:
        lines += ["Most confusable label pairs: " + ", ".join(f"{a} / {b} ({s})" for a, b, s in ev["confusable_pairs"][:5]), ""]
    if ev.get("survey"):
        sv = ev["survey"]
        lines += ["## Target (baseline survey)", "", f"Target {sv['target']} on the development split, from the {sv['source']}: {sv['why']}. "
                  "Met, it stops the search once an iteration gains little.", ""]
    lines += ["## Results on the evaluation set", ""]
    kind = kinds.get(spec["kind"])
    cols = kind.report_columns
    lines += ["| | " + " | ".join(c for c, _ in cols) + " |", "| --- |" + " --- |" * len(cols),
              f"| untrained ({base['method']}) | " + " | ".join(_fmt(base.get(k)) for _, k in cols) + " |",
              "| final model | " + " | ".join(_fmt(final.get(k)) for _, k in cols) + " |", ""]
    if final.get("by_tag"):
        lines += ["Share judged right by tag: " + ", ".join(f"{k} {v:.4f}" for k, v in final["by_tag"].items()), ""]
    if final.get("dev_eval_gap") is not None:
        lines += [f"Selected at {final['dev_score']:.4f} on the development split (held out), {final['score']:.4f} on the evaluation "
                  f"set: a gap of {final['dev_eval_gap'] * 100:+.1f} points"
                  + (f" (near a confusable label's boundary: {ev['near_boundary']['dev']:.0%} of the dev split, "
                     f"{ev['near_boundary']['eval']:.0%} of the evaluation set)" if ev.get("near_boundary") else "") + ".", ""]
    if r.get("memory", {}).get("used"):
        m = r["memory"]
        lines += [f"**Memory:** started from `{m['strategy']}` (remembered dev score {m['remembered_score']:.3f}, runs {m['from_runs']}); "
                  f"similar tasks: {m['similar_tasks']}", ""]
        if m.get("remembered_minutes") is not None and m.get("minutes_to_selected") is not None:
            saved = m["remembered_minutes"] - m["minutes_to_selected"]
            lines += [f"Time to the selected configuration: {m['minutes_to_selected']} min of training here, {m['remembered_minutes']} min in "
                      f"the run that found the remembered one: {saved:+.1f} min {'saved' if saved >= 0 else 'lost'} (an estimate: "
                      "that run's task was a similar one, not this one started cold).", ""]
    lines += ["## Attempts (scored on the development split)", "",
              f"| iteration | strategy | examples | epochs | learning rate | dev {kind.metric} | seconds | decision |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for e in r["iterations"]:
        t = e["config"]["train"]
        lines.append(f"| {e['iteration']} | {e['strategy']} | {e['training']['examples']} | {t['epochs']} | {t['learning_rate']} | "
                     f"{e['score']:.4f} | {e['seconds']} | {e['decision']} |")
    lines += ["", f"Stopped: {r['stopped_because']}", ""] + seconds_table(r)
    return "\n".join(lines)
