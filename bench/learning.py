"""Benchmark the whole sleep-time job on the development set, and ask the set's own questions.

For each N (`--memories 20 50 100 200`) the first N memories of bench/data/devset.txt (balanced
across shapes) are approved in a fresh data folder, the real job runs (its own trainer, gate and
promotion), and then every one of the set's questions, written independently of the training
generator, is asked:
  - adapter, bare: the trained adapter (kept even if the gate rejected it), no memories in the
    prompt: what the weights alone hold;
  - adapter, in chat: the same adapter with the prompt chat would send (the memories the job did
    not mark learned, chosen by chat's own relevance and budget);
  - base, in context: the base model with chat's prompt holding every memory (retrieval only);
  - base, bare: the floor (guessing).
Prints recall per condition and per shape, the job's drift, training tokens, wall time and peak
RSS. Each run is a child process (fresh data folder) so peak RSS is that run's alone.

Usage: .venv/bin/python bench/learning.py [--memories 20 50] [--trainer llamacpp|mlx] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import devset  # noqa: E402  (after the path: run as a script)

QUICK_REPLAY = 8
QUICK_DRIFT = 4
LABEL_WIDTH = 38  # the longest row label ("in chat (adapter): memory in prompt") and a gap


def _answers(engine, questions: list[str], system_for) -> list[str]:
    from ondevice.evaluation import short_answer

    return [short_answer(engine, system_for(question), question) for question in questions]


def ask_dev_questions(app, memories, adapter: Path | None, learned: set[int], quick: bool = False,
                      shown: dict[str, list[bool]] | None = None) -> dict[str, list[str]]:
    """Every dev question of `memories`, asked of the base model and of base + `adapter`, bare
    and with the prompt chat sends (which leaves out the memories in `learned`). `shown`, when
    given, gets per in-chat condition whether each question's own memory was in the prompt."""
    from app.chat import ChatSettings
    from app.memory_context import memories_for_prompt
    from app.prompt import SYSTEM_PROMPT, system_message
    from ondevice.llama_engine import LlamaEngine

    questions = [q.question for m in memories for q in m.questions]
    budget = ChatSettings().memory_budget
    model, threads = app.model(), app.settings.get("threads")

    ids = {row["text"]: row["id"] for row in app.store.query("SELECT id, text FROM memories")}
    targets = [ids.get(m.text) for m in memories for _ in m.questions]

    def chat_prompt(engine, skip, record: list[bool]):
        def system_for(question):
            count = lambda text: engine.count_tokens([{"role": "user", "content": text}])  # noqa: E731
            chosen = memories_for_prompt(app.store, question, count, budget, skip=skip)
            record.append(targets[len(record)] in {memory_id for memory_id, _ in chosen})
            return system_message([text for _, text in chosen])["content"]
        return system_for

    conditions = {}
    for label, path in [("base", None)] + ([("adapter", adapter)] if adapter else []):
        engine = LlamaEngine(model, adapter_path=path, adapter_version=label if path else None, n_threads=threads)
        engine.load()
        try:
            if path or not quick:
                conditions[f"{label}_bare"] = _answers(engine, questions, lambda q: SYSTEM_PROMPT)
            record = (shown if shown is not None else {}).setdefault(f"{label}_in_chat", [])
            conditions[f"{label}_in_chat"] = _answers(engine, questions, chat_prompt(engine, learned if path else set(), record))
        finally:
            engine.close()
    return conditions


def reading(memories, conditions: dict[str, list[str]], shown: dict[str, list[bool]]) -> dict:
    """Per in-chat condition: how often the question's memory was in chat's prompt (retrieval),
    and how often the answer was right when it was (the model reading its prompt)."""
    questions = [q for m in memories for q in m.questions]
    out = {}
    for key, flags in shown.items():
        right = [q.answered_by(a) for q, a, flag in zip(questions, conditions[key], flags) if flag]
        out[key] = {"in_prompt": sum(flags) / len(flags) if flags else None,
                    "right_when_shown": sum(right) / len(right) if right else None}
    return out


def _regroup(memories, flat: list[str]) -> list[list[str]]:
    """Answers in question order, grouped per memory."""
    out, i = [], 0
    for m in memories:
        out.append(flat[i:i + len(m.questions)])
        i += len(m.questions)
    return out


def score_conditions(memories, conditions: dict[str, list[str]]) -> dict:
    return {k: devset.score(memories, _regroup(memories, v)) for k, v in conditions.items()}


def _kept_trainer(name: str, keep: Path):
    """The named trainer, copying its adapter out before the job cleans its work folder."""
    from ondevice.training.select import trainer_class

    base = trainer_class(name)

    class Keeping(base):  # a real subclass: trains exactly as the job's own trainer
        def train(self, dataset, args, callback):
            asked = sorted({e.messages[1]["content"] for e in dataset.examples if e.messages and e.memory_id})
            keep.with_suffix(".questions.json").write_text(json.dumps(asked, ensure_ascii=False), encoding="utf-8")
            trained = super().train(dataset, args, callback)
            shutil.copy(trained.path, keep)
            return trained

    return Keeping


def run_one(trainer: str, n: int, cache: Path, max_minutes: float | None = None, quick: bool = False,
            model: str | None = None, chat_template: str | None = None, tuning: dict | None = None) -> dict:
    """Run the job on the first n dev memories, then ask the dev questions (called in a child)."""
    from app.context import Nocturne
    from app.learning_job import JobOptions, run_learning_job
    from tests.learning_helpers import add_memories

    memories = devset.first(n)
    home = Path(tempfile.mkdtemp(prefix=f"nocturne-bench-{trainer}-{n}-"))
    (home / "cache").mkdir(parents=True)
    os.symlink(cache, home / "cache" / "training")  # F32 copy, replay and yardstick made once
    kept = home / "candidate.gguf"
    app = Nocturne(home)
    try:
        if model:  # any GGUF instead of the bundled model
            app.settings.set("model_path", model)
        if chat_template:  # a base model without its own template
            app.settings.set("chat_template", chat_template)
        add_memories(app, [m.text for m in memories])
        started = time.monotonic()
        # --quick (a loaded machine): fewer replay prompts and drift texts, no base-bare column.
        limits = {"replay_limit": QUICK_REPLAY, "drift_text_limit": QUICK_DRIFT} if quick else {}
        tuning = dict(tuning or {})
        if "epochs" in tuning:
            limits["epochs"] = tuning.pop("epochs")
        if "reading_share" in tuning:
            limits["reading_share"] = tuning.pop("reading_share")
        if "replay_limit" in tuning:
            limits["replay_limit"] = tuning.pop("replay_limit")
        nights = tuning.pop("nights", 1)  # nights in a row on the same data folder
        limits["fresh"] = tuning.pop("fresh", False)
        if "targets" in tuning:  # a list after JSON
            tuning["targets"] = tuple(tuning["targets"])
        if "rank" in tuning:  # the same scale (alpha / rank) at every rank, so only capacity changes
            from ondevice.architectures import family_defaults
            from ondevice.training.select import trainer_class

            defaults = family_defaults(trainer_class(trainer).default_args, app.model().path)
            tuning["alpha"] = defaults.alpha / defaults.rank * tuning["rank"]
        options = JobOptions(trainer_cls=_kept_trainer(trainer, kept), tuning=tuning, **limits)
        each_night = []
        for _ in range(nights):
            night_started = time.monotonic()
            report = run_learning_job(app, trainer=trainer, max_minutes=max_minutes, options=options)
            each_night.append({"status": report.status, "steps": report.trainer_metrics.get("steps"),
                               "drift_kl": report.drift_kl, "strength": report.adapter_strength,
                               "starting_point": report.starting_point,
                               "wall_s": time.monotonic() - night_started})
        wall = time.monotonic() - started
        learned = set(report.learned_memories) if report.status == "succeeded" else set()
        shown: dict[str, list[bool]] = {}
        conditions = ask_dev_questions(app, memories, kept if kept.exists() else None, learned, quick, shown)
    finally:
        app.close()

    trained_questions = json.loads(kept.with_suffix(".questions.json").read_text())
    return {
        "trainer": trainer, "memories": n, "status": report.status, "reason": report.reason,
        "nights": each_night,
        **scored(memories, conditions, trained_questions),
        "reading": reading(memories, conditions, shown),
        "job_probe_recall": report.recall.adapter if report.recall else None,
        "job_probes": report.recall.probes if report.recall else None,
        "job_chat_recall": asdict(report.chat_recall) if report.chat_recall else None,
        "dev_questions_trained_verbatim": len({q.question.lower() for m in memories for q in m.questions}
                                              & {q.lower() for q in trained_questions}),
        "learned_in_chat": len(learned), "memories_trained": report.memories_trained,
        "examples": report.examples, "tokens": report.tokens,
        "drift_kl": report.drift_kl, "drift_limit": report.drift_limit, "wall_s": wall,
        "general_answers": asdict(report.general_answers) if report.general_answers else None,
        "train_s": report.training_seconds, "iterations": report.args.get("iterations"),
        "steps": report.trainer_metrics.get("steps"),  # fewer than planned when the budget ran out
        "lora": {k: report.args.get(k) for k in ("rank", "num_layers", "targets")},
        "reading_share": options.reading_share,  # None: the job's own choice (reading_practice says)
        "reading_examples": report.reading_examples, "reading_practice": report.reading_practice,
        "peak_rss_mb": max(report.trainer_metrics.get("peak_rss_mb") or 0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        **saved_answers(memories, conditions, trained_questions),
    }


def saved_answers(memories, conditions: dict[str, list[str]], trained_questions: list[str]) -> dict:
    """What --out keeps of a run's answers, enough for --rescore to score it again."""
    questions = [q.question for m in memories for q in m.questions]
    return {"answers": {k: dict(zip(questions, v)) for k, v in conditions.items()},
            "trained_questions": trained_questions}


def scored(memories, conditions: dict[str, list[str]], trained_questions: list[str] | None) -> dict:
    """Recall per condition, per memory and per shape, as run_one reports it."""
    scores = score_conditions(memories, conditions)
    # Dev questions the generator happened to train word for word ("What am I allergic to?" is
    # simply the natural question): scored apart too, so transfer is measured on unseen wording.
    if trained_questions is not None:
        trained = {q.lower() for q in trained_questions}
        unseen = [[q.question.lower() not in trained for q in m.questions] for m in memories]
        for k, v in list(conditions.items()):
            if k.startswith("adapter"):
                scores[k + "_unseen"] = devset.score_subset(memories, _regroup(memories, v), unseen)
    return {"recall": {k: s.rate for k, s in scores.items()},
            "memories_recalled": {k: s.memories_recalled for k, s in scores.items()},
            "by_shape": {k: s.by_shape for k, s in scores.items()}}


def rescored(result: dict) -> dict:
    """A saved run (--out) scored again with today's keywords, from the answers it kept; runs
    saved before the trained questions were kept lose the never-trained rows."""
    if "answers" not in result:
        return result
    memories = devset.first(result["memories"])
    questions = [q.question for m in memories for q in m.questions]
    conditions = {k: [answers[q] for q in questions] for k, answers in result["answers"].items()}
    return {**result, **scored(memories, conditions, result.get("trained_questions"))}


def _or_dash(value, missing: str) -> str:
    return missing if value is None else str(value)


def _pct(value) -> str:
    return "-" if value is None else f"{value:.0%}"


def print_table(results: list[dict]) -> None:
    cols = [f"N={r['memories']}" for r in results]
    print("".ljust(LABEL_WIDTH) + "".join(f"{c:<13} " for c in cols))

    def row(label, get):  # a cell longer than its column still keeps a space before the next
        print(label.ljust(LABEL_WIDTH) + "".join(f"{get(r)!s:<13} " for r in results))

    row("status", lambda r: r.get("status", "failed"))
    for key, label in [("adapter_bare", "dev recall: adapter, bare"), ("adapter_in_chat", "dev recall: adapter, in chat"),
                       ("adapter_bare_unseen", "  on wording never trained"),
                       ("adapter_in_chat_unseen", "  in chat, wording never trained"),
                       ("base_in_chat", "dev recall: base, in context"), ("base_bare", "dev recall: base, bare")]:
        row(label, lambda r, k=key: _pct(r.get("recall", {}).get(k)))
        row("  memories with every answer", lambda r, k=key: r.get("memories_recalled", {}).get(k, "-"))
    for key, label in [("adapter_in_chat", "adapter"), ("base_in_chat", "base")]:
        row(f"in chat ({label}): memory in prompt", lambda r, k=key: _pct(r.get("reading", {}).get(k, {}).get("in_prompt")))
        row("  right when it was", lambda r, k=key: _pct(r.get("reading", {}).get(k, {}).get("right_when_shown")))
    row("dev questions trained verbatim", lambda r: r.get("dev_questions_trained_verbatim", "-"))
    row("job's own probe recall", lambda r: _pct(r.get("job_probe_recall")))
    row("job's probes in chat (base)", lambda r: "-" if not r.get("job_chat_recall") else
        f"{r['job_chat_recall']['adapter']:.0%} ({r['job_chat_recall']['base']:.0%})")
    row("learned in chat (job)", lambda r: r.get("learned_in_chat", "-"))
    row("drift KL (limit)", lambda r: "-" if r.get("drift_kl") is None else f"{r['drift_kl']:.3f} ({r['drift_limit']:.3f})")
    row("general questions (gate), base", lambda r: "-" if not r.get("general_answers") else
        "{adapter} of {questions} ({base})".format(**r["general_answers"]))
    row("replay share of tokens", lambda r: "-" if not r.get("tokens") else
        f"{(r['tokens'].get('replay', 0) + r['tokens'].get('plain', 0)) / sum(r['tokens'].values()):.0%}")
    row("training tokens (all sources)", lambda r: sum(r["tokens"].values()) if r.get("tokens") else "-")
    row("steps done / planned", lambda r: f"{r.get('steps', '?')} / {r.get('iterations', '-')}")
    row("nights: steps (c: continued)", lambda r: " + ".join(
        f"{n['steps']}{'c' if (n.get('starting_point') or '').startswith('Training continued') else ''}"
        for n in r.get("nights") or []) or "-")
    row("rank / layers / targets", lambda r: "-" if not r.get("lora") else
        f"{r['lora']['rank']} / {r['lora']['num_layers']} / {'+'.join(r['lora']['targets'] or [])}")
    row("reading practice share (examples)",
        lambda r: f"{_or_dash(r.get('reading_share'), 'job')} ({_or_dash(r.get('reading_examples'), '-')})")
    row("wall time (job)", lambda r: "-" if r.get("wall_s") is None else f"{r['wall_s'] / 60:.1f} min")
    row("peak RSS", lambda r: "-" if r.get("peak_rss_mb") is None else f"{r['peak_rss_mb']:.0f} MB")
    shapes = sorted({s for r in results for s in r.get("by_shape", {}).get("adapter_bare", {})})
    if shapes:
        print("\nper shape, adapter bare / adapter in chat / base in context:")
        for shape in shapes:
            row(f"  {shape}", lambda r, s=shape: "/".join(
                _pct(r.get("by_shape", {}).get(k, {}).get(s)) for k in ("adapter_bare", "adapter_in_chat", "base_in_chat")))
    for r in results:
        if r.get("reason"):
            print(f"\nN={r['memories']}: {r['reason']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", nargs="+", type=int, default=[20], help="how many dev memories (e.g. 20 50 100)")
    parser.add_argument("--trainer", default="llamacpp", choices=["mlx", "llamacpp"])
    parser.add_argument("--out", help="also write every number and answer to this JSON file")
    parser.add_argument("--max-minutes", type=float, help="the night's training time budget (as `nocturne learn --max-minutes`)")
    parser.add_argument("--quick", action="store_true",
                        help=f"for a loaded machine: {QUICK_REPLAY} replay prompts, {QUICK_DRIFT} drift texts, no base-bare column")
    parser.add_argument("--model", help="a GGUF to learn on instead of the bundled model")
    parser.add_argument("--chat-template", help="chat template for a base model (chatml, gemma, llama3 or a file)")
    parser.add_argument("--rank", type=int, help="LoRA rank, at the default's scale alpha/rank (default: the trainer's)")
    parser.add_argument("--layers", type=int, help="train the last N layers (default: the trainer's)")
    parser.add_argument("--targets", nargs="+", help="tensor kinds to adapt, e.g. attn_q attn_k attn_v attn_output")
    parser.add_argument("--epochs", type=float, help="passes over the training set (default: the job's)")
    parser.add_argument("--reading-share", type=float,
                        help="share of questions asked again with their own memory among others in the prompt "
                             "(default: the job's choice, off on a first night: app/reading_practice.py)")
    parser.add_argument("--replay-limit", type=int, help="replay only the first N shipped prompts (the 30 of before)")
    parser.add_argument("--nights", type=int, help="run the job N nights in a row on the same memories, then ask")
    parser.add_argument("--fresh", action="store_true", help="every night trains from zero (no continuing)")
    parser.add_argument("--rescore", nargs="+", metavar="JSON",
                        help="print saved runs (--out files) again, scored with today's keywords; runs nothing")
    parser.add_argument("--tuning", help=argparse.SUPPRESS)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.trainer, args.one, Path(args.cache), args.max_minutes, args.quick,
                                 args.model, args.chat_template, json.loads(args.tuning or "{}"))))
        return 0
    if args.rescore:
        print_table([rescored(r) for path in args.rescore for r in json.loads(Path(path).read_text(encoding="utf-8"))])
        return 0
    tuning = {key: value for key, value in (("rank", args.rank), ("num_layers", args.layers), ("epochs", args.epochs),
                                            ("targets", tuple(args.targets) if args.targets else None),
                                            ("reading_share", args.reading_share),
                                            ("replay_limit", args.replay_limit), ("nights", args.nights),
                                            ("fresh", args.fresh or None)) if value is not None}
    available = len(devset.load())
    if any(n < 1 or n > available for n in args.memories):
        parser.error(f"--memories takes numbers from 1 to {available} (the development set's size)")

    from ondevice.training.blas import blas_env

    cache = Path(tempfile.mkdtemp(prefix="nocturne-bench-cache-"))
    env = {**os.environ, **(blas_env() if args.trainer == "mlx" else {})}
    results = []
    for n in args.memories:
        print(f"running the job with {args.trainer} on {n} memories ...", file=sys.stderr, flush=True)
        extra = (["--max-minutes", str(args.max_minutes)] if args.max_minutes else []) + (["--quick"] if args.quick else [])
        extra += (["--model", args.model] if args.model else []) + (["--chat-template", args.chat_template] if args.chat_template else [])
        extra += ["--tuning", json.dumps(tuning)] if tuning else []
        child = subprocess.run([sys.executable, __file__, "--one", str(n), "--trainer", args.trainer,
                                "--cache", str(cache), *extra], env=env, capture_output=True, text=True, cwd=REPO)
        if child.returncode != 0:
            print(child.stderr[-3000:], file=sys.stderr)
            results.append({"memories": n, "status": "failed"})
            continue
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps({k: v for k, v in results[-1].items() if k != "answers"}), file=sys.stderr, flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    model_name = Path(args.model).name if args.model else "bundled SmolLM2-135M-Instruct Q4_1"
    print(f"\n{args.trainer} trainer, {model_name}, development set questions"
          + (f", training budget {args.max_minutes:g} min" if args.max_minutes else "") + (", --quick" if args.quick else "")
          + "".join(f", {key} {value}" for key, value in tuning.items()) + "\n")
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
