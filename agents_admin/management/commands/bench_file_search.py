"""Benchmark (not a test) for file search: indexing throughput, query p95 at size, and recall@5 on a labelled set.

- Indexing: documents of generated prose go through the real path (text extraction, chunking, the chunk
  insert with its full-text index maintenance), a file at a time; reported as chunks per second.
- Queries: ``--queries`` questions over a store of ``--chunks`` chunks, p50/p95 in milliseconds.
- Recall@5: a labelled set of facts hidden in distractor prose, each asked by a paraphrased question; a question
  scores when the chunk holding its fact is among the first five results.

Everything lives in a project named ``bench-file-search``, emptied before and after; use a scratch database.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from typing import Any

from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from agents_admin.models import File, Project, VectorStore, VectorStoreFile
from agents_admin.selectors.vector_stores import chunks_search
from agents_admin.services.vector_stores import vector_store_file_index

BENCH_PROJECT = "bench-file-search"
_COMMON = """
system service request network storage policy report budget travel office customer contract invoice schedule
meeting project release design review security backup server account payment training process quality support
manager team partner product market region quarter target analysis update record
""".split()  # noqa: SIM905 - a word list
# A vocabulary of 20,000 words drawn with Zipf's law, as natural text is: a few words everywhere, most rare.
_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "su", "da", "fe", "go", "hi", "ju", "be"]
_VOCABULARY = _COMMON + [
    "".join(_SYLLABLES[(n >> shift) % 16] for shift in (0, 4, 8)) + str(n % 7) for n in range(20_000)
]
_WEIGHTS = [1 / (rank + 1) for rank in range(len(_VOCABULARY))]
# (fact sentence, a question asking for it in other words)
LABELLED = [
    (
        "The hotel reimbursement limit in Lisbon is 185 euros per night.",
        "How much can I claim for a Lisbon hotel night?",
    ),
    ("Premium economy may be booked on flights longer than six hours.", "When am I allowed premium economy seats?"),
    ("The coffee machine on floor three is descaled every Friday.", "Which day is the coffee machine descaled?"),
    ("Visitors park for free at the Porto office on weekends.", "Is weekend parking free for visitors in Porto?"),
    (
        "Expense receipts must be filed within thirty days of travel.",
        "What is the deadline for filing expense receipts?",
    ),
    ("The VPN certificate is renewed every ninety days by IT.", "How often is the VPN certificate renewed?"),
    ("New laptops are ordered through the hardware portal by managers.", "Who orders new laptops and where?"),
    (
        "The Berlin warehouse ships orders until four in the afternoon.",
        "Until what time does the Berlin warehouse ship?",
    ),
    ("Parental leave lasts sixteen weeks at full salary.", "How long is parental leave and is it paid?"),
    ("The fire drill takes place on the first Monday of March.", "When is the fire drill held?"),
    ("Interns receive a monthly stipend of 1200 euros.", "What stipend do interns get each month?"),
    ("Passwords must contain at least fourteen characters.", "What is the minimum password length?"),
    ("The Madrid office closes for the August holidays.", "When does the Madrid office close for holidays?"),
    ("Customer refunds above 500 euros need a director's approval.", "Who must approve large customer refunds?"),
    ("Backups of the billing database are kept for seven years.", "How long are billing database backups kept?"),
    ("The cafeteria serves vegetarian lunch on Wednesdays.", "On which day is the lunch vegetarian?"),
    ("Bicycle commuters get a yearly allowance of 300 euros.", "What allowance do cyclists who commute receive?"),
    (
        "Support tickets marked urgent are answered within two hours.",
        "How quickly are urgent support tickets answered?",
    ),
    ("The annual company retreat is held in Sintra in May.", "Where and when is the yearly company retreat?"),
    ("Contractors need a badge from reception on their first day.", "What must contractors collect on arrival?"),
]


def prose(rng: random.Random, words: int) -> str:
    sentences = []
    while words > 0:
        n = rng.randint(8, 16)
        sentences.append(" ".join(rng.choices(_VOCABULARY, weights=_WEIGHTS, k=n)).capitalize() + ".")
        words -= n
    return " ".join(sentences)


class Command(BaseCommand):
    help = "Measure file search: indexing throughput, query p95 at size, recall@5 on a labelled set (JSON out)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunks", type=int, default=100_000)
        parser.add_argument("--queries", type=int, default=200)
        parser.add_argument("--chunks-per-file", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        rng = random.Random(21)
        Project.objects.filter(name=BENCH_PROJECT).delete()
        project = Project.objects.create(name=BENCH_PROJECT, display_name="Bench file search")
        try:
            result = {"database": connection.vendor, **self._size(project, rng, options), **self._recall(project, rng)}
        finally:
            Project.objects.filter(name=BENCH_PROJECT).delete()
        self.stdout.write(json.dumps(result, indent=2))

    def _index(self, store: VectorStore, name: str, text: str) -> float:
        file = File(project=store.project, filename=name, bytes=len(text), purpose="assistants")
        file.content.save(file.id, ContentFile(text.encode()), save=False)
        file.save()
        entry = VectorStoreFile.objects.create(vector_store=store, file=file, chunking_strategy={})
        started = time.perf_counter()
        vector_store_file_index(entry_id=entry.pk)
        return time.perf_counter() - started

    def _size(self, project: Project, rng: random.Random, options: dict[str, Any]) -> dict[str, Any]:
        store = VectorStore.objects.create(project=project, name="size")
        # Static 100-token chunks without overlap: a chunk is 400 characters of prose.
        per_file = options["chunks_per_file"]
        seconds = 0.0
        files = max(options["chunks"] // per_file, 1)
        for number in range(files):
            text = prose(rng, per_file * 55)
            file = File(project=project, filename=f"doc{number}.txt", bytes=len(text), purpose="assistants")
            file.content.save(file.id, ContentFile(text.encode()), save=False)
            file.save()
            strategy = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}
            entry = VectorStoreFile.objects.create(vector_store=store, file=file, chunking_strategy=strategy)
            started = time.perf_counter()
            vector_store_file_index(entry_id=entry.pk)
            seconds += time.perf_counter() - started
        chunks = sum(VectorStoreFile.objects.filter(vector_store=store).values_list("chunk_count", flat=True))
        timings = []
        for _ in range(options["queries"]):
            question = " ".join(rng.choices(_VOCABULARY, weights=_WEIGHTS, k=rng.randint(3, 8)))
            started = time.perf_counter()
            chunks_search(store_ids=[store.id], query=question, limit=20)
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        return {
            "chunks": chunks,
            "index_chunks_per_second": round(chunks / seconds, 1),
            "query_ms_p50": round(statistics.median(timings), 1),
            "query_ms_p95": round(timings[int(len(timings) * 0.95) - 1], 1),
        }

    def _recall(self, project: Project, rng: random.Random) -> dict[str, Any]:
        store = VectorStore.objects.create(project=project, name="labelled")
        for number, (fact, _) in enumerate(LABELLED):
            # Each fact sits in the middle of its own document of distractor prose (about ten 800-token chunks).
            text = f"{prose(rng, 3000)} {fact} {prose(rng, 3000)}"
            self._index(store, f"policy{number}.txt", text)
        found = 0
        for fact, question in LABELLED:
            hits = chunks_search(store_ids=[store.id], query=question, limit=5)
            found += any(fact in hit.text for hit in hits)
        return {"labelled_questions": len(LABELLED), "recall_at_5_full_text": round(found / len(LABELLED), 2)}
