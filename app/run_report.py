"""The learning run's report: one typed record the job writes and every reader reads.

The job fills a `RunReport`; `TrainingRuns` stores it as JSON in training_runs.metrics and gives
it back typed; the CLI, the Learning view, the screenshots and the tests read only this type.
Rows written before this type existed hold dicts of older shapes: `from_dict` reads them best
effort and never raises on a missing or odd field.

Memory texts and probe questions are never stored (deleting a memory must delete every trace
of it): a stored report keeps memory ids only, and the reader fills texts from the memories
table as they are now.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

IN_WEIGHTS = "in the weights"
IN_PROMPT = "still in the prompt"
NOT_PROBED = "not probed"
OUTCOMES = (IN_WEIGHTS, IN_PROMPT, NOT_PROBED)


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int(value, default: int = 0) -> int:
    number = _number(value)
    return int(number) if number is not None else default


@dataclass
class Recall:
    """Recall on the held-out probes: from the weights alone (no memories in the prompt), or, as
    RunReport.chat_recall, with the prompt chat sends."""

    adapter: float
    base: float | None = None  # None in rows that stored only one number
    probes: int = 0  # held-out probes asking for a fact (yes/no probes are no evidence)

    @classmethod
    def from_value(cls, value) -> Recall | None:
        if isinstance(value, dict) and _number(value.get("adapter")) is not None:
            return cls(_number(value["adapter"]), _number(value.get("base")), _int(value.get("probes")))
        if _number(value) is not None:  # an older hand-made shape: one share (or a percentage)
            share = _number(value)
            return cls(share / 100 if share > 1 else share)
        return None


@dataclass
class GeneralAnswers:
    """General questions (nothing about the user) right, the adapter's against the base model's
    (ondevice/general_check.py): a night must not cost answers a user sees go wrong."""

    adapter: int
    base: int
    questions: int
    lost: int = 0  # right by the base model, wrong with the adapter
    gained: int = 0

    @classmethod
    def from_value(cls, value) -> GeneralAnswers | None:
        if not isinstance(value, dict) or any(_number(value.get(k)) is None for k in ("adapter", "base", "questions")):
            return None
        return cls(*(_int(value.get(k)) for k in ("adapter", "base", "questions", "lost", "gained")))


@dataclass
class MemoryResult:
    """What one approved memory became in this run."""

    memory_id: int
    outcome: str  # one of OUTCOMES
    text: str = ""  # filled when read (never stored): "" for a memory deleted since

    @classmethod
    def from_value(cls, value) -> MemoryResult | None:
        if not isinstance(value, dict) or value.get("outcome") not in OUTCOMES:
            return None
        memory_id = value.get("memory_id")
        return cls(memory_id, value["outcome"]) if isinstance(memory_id, int) else None


def memory_results(memories: list[tuple[int, str]], probed: set[int], learned: set[int]) -> list[MemoryResult]:
    """Each approved memory's outcome: in the weights, still in the prompt, or not probed.

    Args:
        memories: (id, text) of the approved memories.
        probed: memories that got held-out probes.
        learned: memories the promoted adapter recalls in chat (empty when none was promoted).
    """
    def outcome(memory_id: int) -> str:
        if memory_id in learned:
            return IN_WEIGHTS
        return IN_PROMPT if memory_id in probed else NOT_PROBED

    return [MemoryResult(memory_id, outcome(memory_id), text) for memory_id, text in memories]


@dataclass
class ShapeRecall:
    """Recall for one shape of fact (names, places, dates, ...): optional, a later measurement."""

    shape: str
    recall: float
    probes: int = 0

    @classmethod
    def from_value(cls, value) -> ShapeRecall | None:
        if isinstance(value, dict) and isinstance(value.get("shape"), str) and _number(value.get("recall")) is not None:
            return cls(value["shape"], _number(value["recall"]), _int(value.get("probes")))
        return None


@dataclass
class StrengthTrial:
    """One weaker copy of an adapter the gate measured (app/adapter_strength.py)."""

    strength: float
    drift: float
    recall: float | None = None  # measured only when its drift passed
    general: int | None = None  # general questions right, asked only when its recall passed too

    @classmethod
    def from_value(cls, value) -> StrengthTrial | None:
        if isinstance(value, dict) and _number(value.get("strength")) is not None \
                and _number(value.get("drift")) is not None:
            general = _number(value.get("general"))
            return cls(_number(value["strength"]), _number(value["drift"]), _number(value.get("recall")),
                       None if general is None else int(general))
        return None


@dataclass
class RunReport:
    """One learning run, as the user and the tests see it.

    status: running | succeeded | rejected | failed | cancelled | interrupted.
    reason: why, in words, when rejected, failed, cancelled or interrupted.
    recall_in_chat: share of the run's memories still recalled with the prompt chat sends
        (other memories in it), one never probed counting as a failure; measured only for an
        adapter that passed the gate.
    memories_recalled: share of the run's memories whose every held-out probe the adapter
        answers from its weights alone (never-probed ones count as failures).
    stage_seconds: wall time per progress stage (the next run's time-left estimate uses it).
    probe_answers: every probe's question and answers; in this process only, never stored.
    """

    status: str
    trigger: str = "manual"
    trainer: str = ""
    base_model: str = ""
    run_id: int | None = None
    started_at: str | None = None
    ended_at: str | None = None
    base_sha256: str | None = None
    reason: str | None = None
    adapter_version: str | None = None
    memories: int = 0
    memories_trained: int = 0
    proposed: int = 0
    examples: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)  # training tokens by source
    recall: Recall | None = None
    recall_in_chat: float | None = None
    # Held-out recall with the prompt chat sends: the adapter's (its learned memories left out)
    # against the base model's (every memory in it); measured for an adapter that passed the gate.
    chat_recall: Recall | None = None
    general_answers: GeneralAnswers | None = None  # measured for an adapter that passed recall and drift
    memories_recalled: float | None = None  # share of memories whose every probe passed bare
    drift_kl: float | None = None
    drift_limit: float | None = None
    yardstick_kl: float | None = None
    # Set when the full adapter drifted over the limit or lost general answers and a weaker copy
    # was kept instead (app/adapter_strength.py): its share of the trained change, the full
    # one's drift, and its general questions right when those were what failed.
    adapter_strength: float | None = None
    full_strength_drift_kl: float | None = None
    full_strength_general: int | None = None
    strengths_tried: list[StrengthTrial] = field(default_factory=list)
    wall_seconds: float | None = None
    training_seconds: float | None = None
    budget_minutes: float | None = None  # the night's training time it was allowed
    # Whether questions were also asked with their memory shown, and why (app/reading_practice.py).
    reading_practice: str | None = None
    # Whether training continued the adapter in use or started from zero, and why (app/warm_start.py).
    starting_point: str | None = None
    reading_examples: int = 0
    tokens_per_s: float | None = None
    final_loss: float | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    trainer_metrics: dict = field(default_factory=dict)
    args: dict = field(default_factory=dict)
    memory_results: list[MemoryResult] = field(default_factory=list)
    training_outcomes: dict[str, str] = field(default_factory=dict)  # memory id -> how it was taught
    superseded: list[int] = field(default_factory=list)  # older memories a newer one contradicts
    recall_by_shape: list[ShapeRecall] = field(default_factory=list)
    probe_answers: list[dict] = field(default_factory=list)

    # -- derived ------------------------------------------------------------------------------

    def ids_with(self, outcome: str) -> list[int]:
        return [m.memory_id for m in self.memory_results if m.outcome == outcome]

    @property
    def learned_memories(self) -> list[int]:
        """Memories the adapter holds (they leave the prompt once it is loaded)."""
        return self.ids_with(IN_WEIGHTS)

    @property
    def stopped_at_budget(self) -> bool:
        """Training ran out of the night's time before its planned steps."""
        return bool(self.trainer_metrics.get("stopped_early"))

    @property
    def finished(self) -> bool:
        return self.status != "running"

    # -- storage ------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """JSON-ready, for training_runs.metrics: no memory text, no probe question."""
        data = asdict(self)
        data.pop("probe_answers")
        data["memory_results"] = [{"memory_id": m.memory_id, "outcome": m.outcome}
                                  for m in self.memory_results]
        return data

    @classmethod
    def from_dict(cls, data: dict | None, **row) -> RunReport:
        """Read a stored report, of this shape or an older one, best effort.

        Args:
            data: the decoded metrics JSON (None for a run still going or killed).
            row: training_runs columns (status, trigger, trainer, adapter_version, started_at,
                ended_at, id) that override what the metrics say.
        """
        data = dict(data) if isinstance(data, dict) else {}
        kept = {}
        for spec in fields(cls):
            value = data.get(spec.name)
            if spec.name in ("recall", "chat_recall", "general_answers", "memory_results", "recall_by_shape", "probe_answers", "strengths_tried"):
                continue
            if spec.type in ("float | None",):
                value = _number(value)
            elif spec.type == "int":
                value = _int(value)
            elif spec.type == "int | None" and spec.name != "run_id":
                value = None if _number(value) is None else int(value)
            elif spec.type.startswith("dict"):
                value = value if isinstance(value, dict) else {}
            elif spec.type in ("str", "str | None"):
                value = value if isinstance(value, str) else None
            elif spec.type == "list[int]":
                value = [i for i in value if isinstance(i, int)] if isinstance(value, list) else []
            elif spec.name == "run_id":
                value = value if isinstance(value, int) else None
            if value is not None:
                kept[spec.name] = value
        report = cls(status=kept.pop("status", "failed"), **kept)
        report.recall = Recall.from_value(data.get("recall"))
        report.chat_recall = Recall.from_value(data.get("chat_recall"))
        report.general_answers = GeneralAnswers.from_value(data.get("general_answers"))
        report.drift_kl = report.drift_kl if report.drift_kl is not None else _number(data.get("drift"))
        report.memory_results = [m for m in map(MemoryResult.from_value, data.get("memory_results") or []) if m]
        promoted = (row.get("status") or report.status) == "succeeded"
        if not report.memory_results and promoted and isinstance(data.get("learned_memories"), list):
            # Older rows kept only the ids learned (and, for rejected runs, ids that were never
            # promoted): the rest is unknown, not "still in the prompt".
            report.memory_results = [MemoryResult(i, IN_WEIGHTS) for i in data["learned_memories"]
                                     if isinstance(i, int)]
        report.recall_by_shape = [s for s in map(ShapeRecall.from_value, data.get("recall_by_shape") or []) if s]
        report.strengths_tried = [t for t in map(StrengthTrial.from_value, data.get("strengths_tried") or []) if t]
        train = data.get("train")
        if isinstance(train, dict) and not report.trainer_metrics:  # the older layout
            report.trainer_metrics = train
            report.training_seconds = report.training_seconds or _number(train.get("seconds"))
            report.tokens_per_s = report.tokens_per_s or _number(train.get("tokens_per_s"))
            report.final_loss = report.final_loss or _number(train.get("final_loss"))
        if report.reason is None and isinstance(data.get("report"), str):
            report.reason = data["report"]  # the hand-made shape's free text
        for key, column in (("status", "status"), ("trigger", "trigger"), ("trainer", "trainer"),
                            ("adapter_version", "adapter_version"), ("started_at", "started_at"),
                            ("ended_at", "ended_at"), ("run_id", "id")):
            if row.get(column):
                setattr(report, key, row[column])
        return report
