"""Benchmark (not a test) for file search: indexing throughput, query p95 at size, and recall@5 on a labelled set.

- Indexing: documents of generated prose go through the real path (text extraction, chunking, the chunk
  insert with its full-text index maintenance), a file at a time; reported as chunks per second.
- Queries: ``--queries`` questions over a store of ``--chunks`` chunks, p50/p95 in milliseconds.
- Recall@5 on two labelled sets, a question scoring when the chunk that answers it is among the first five:
  facts hidden in distractor prose, each asked by a paraphrased question; and ``tests/data/retrieval_labelled.json``,
  40 handbook passages (a file each) asked about mostly in other words.
- ``--embeddings-url`` (an OpenAI-compatible ``/v1`` base, e.g. ``make embeddings-server``): the stores are
  embedded with ``--embeddings-model`` and searched hybrid (indexing and query figures then include the
  embeddings calls); recall is reported for full text alone and for hybrid.

Everything lives in a project named ``bench-file-search``, emptied before and after; use a scratch database.
``--keep`` leaves the project (and its large store) in place after the run, and ``--reuse`` times the queries
over the store a ``--keep`` run left instead of indexing a new one (indexing and recall are then not measured):
generate once with ``--keep``, then measure queries as often as needed on a quiet machine.
"""

from __future__ import annotations

import cProfile
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from agents_admin.models import File, ModelConnection, Project, VectorStore, VectorStoreFile
from agents_admin.services.vector_stores import chunk_stats_refresh, chunks_retrieve, vector_store_file_index

BENCH_PROJECT = "bench-file-search"
LABELLED_SET = Path(settings.BASE_DIR) / "tests" / "data" / "retrieval_labelled.json"
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
        parser.add_argument("--embeddings-url", default="", help="OpenAI-compatible base URL ending in /v1.")
        parser.add_argument("--embeddings-model", default="all-minilm-l6-v2")
        parser.add_argument("--labelled", default=str(LABELLED_SET), help="The handbook set's JSON file.")
        parser.add_argument("--keep", action="store_true", help="Leave the project and its stores in place.")
        parser.add_argument("--reuse", action="store_true", help="Time queries over the store a --keep run left.")
        parser.add_argument("--profile", default="", help="Write a cProfile of the timed queries to this file.")

    def handle(self, *args: Any, **options: Any) -> None:
        rng = random.Random(21)
        if options["reuse"]:
            self.stdout.write(json.dumps(self._reuse(rng, options), indent=2))
            return
        Project.objects.filter(name=BENCH_PROJECT).delete()
        project = Project.objects.create(name=BENCH_PROJECT, display_name="Bench file search")
        embeddings: dict[str, Any] = {}
        if options["embeddings_url"]:
            connection_row = ModelConnection.objects.create(
                project=project, name=f"{BENCH_PROJECT}-embeddings", endpoint=options["embeddings_url"],
                auth=ModelConnection.Auth.NONE, embeddings_deployment=options["embeddings_model"],
            )  # fmt: skip
            embeddings = {"embedding_connection": connection_row, "embedding_model": options["embeddings_model"]}
        try:
            labelled = json.loads(Path(options["labelled"]).read_text())
            result = {
                "database": connection.vendor,
                "search": "hybrid" if embeddings else "full_text",
                **self._size(project, rng, options, embeddings),
                **self._recall_facts(project, rng, embeddings),
                **self._recall_handbook(project, labelled, embeddings),
            }
        finally:
            if not options["keep"]:
                Project.objects.filter(name=BENCH_PROJECT).delete()
        self.stdout.write(json.dumps(result, indent=2))

    def _reuse(self, rng: random.Random, options: dict[str, Any]) -> dict[str, Any]:
        store = VectorStore.objects.filter(project__name=BENCH_PROJECT, name="size").first()
        if store is None:
            raise CommandError("No store to reuse: run once with --keep first.")
        chunks = sum(VectorStoreFile.objects.filter(vector_store=store).values_list("chunk_count", flat=True))
        chunk_stats_refresh()
        return {
            "database": connection.vendor,
            "search": "hybrid" if store.embedding_connection_id else "full_text",
            "chunks": chunks,
            **self._queries(store, rng, options),
        }

    def _file(self, store: VectorStore, name: str, text: str) -> File:
        file = File(project=store.project, filename=name, bytes=len(text), purpose="assistants")
        file.content.save(file.id, ContentFile(text.encode()), save=False)
        file.save()
        return file

    def _index(self, store: VectorStore, name: str, text: str, strategy: dict[str, Any] | None = None) -> float:
        file = self._file(store, name, text)
        entry = VectorStoreFile.objects.create(vector_store=store, file=file, chunking_strategy=strategy or {})
        started = time.perf_counter()
        vector_store_file_index(entry_id=entry.pk)
        entry.refresh_from_db()
        if entry.status != VectorStoreFile.Status.COMPLETED:
            raise RuntimeError(f"{name} was not indexed: {entry.last_error}")
        return time.perf_counter() - started

    def _size(
        self, project: Project, rng: random.Random, options: dict[str, Any], embeddings: dict[str, Any]
    ) -> dict[str, Any]:
        store = VectorStore.objects.create(project=project, name="size", **embeddings)
        # Static 100-token chunks without overlap: a chunk is 400 characters of prose.
        strategy = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}
        per_file = options["chunks_per_file"]
        seconds = 0.0
        for number in range(max(options["chunks"] // per_file, 1)):
            seconds += self._index(store, f"doc{number}.txt", prose(rng, per_file * 55), strategy)
        chunks = sum(VectorStoreFile.objects.filter(vector_store=store).values_list("chunk_count", flat=True))
        chunk_stats_refresh()  # what the 10-minute beat does after such an import (PostgreSQL's statistics)
        return {
            "chunks": chunks,
            "index_chunks_per_second": round(chunks / seconds, 1),
            **self._queries(store, rng, options),
        }

    def _queries(self, store: VectorStore, rng: random.Random, options: dict[str, Any]) -> dict[str, Any]:
        store.refresh_from_db()
        questions = [
            " ".join(rng.choices(_VOCABULARY, weights=_WEIGHTS, k=rng.randint(3, 8)))
            for _ in range(options["queries"] + 1)
        ]
        started = time.perf_counter()  # the first search of a store loads its vectors into this process
        chunks_retrieve(store_ids=[store.id], query=questions[0], limit=20)
        first = (time.perf_counter() - started) * 1000
        timings = []
        profiler = cProfile.Profile() if options["profile"] else None
        for question in questions[1:]:
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            chunks_retrieve(store_ids=[store.id], query=question, limit=20)
            if profiler is not None:
                profiler.disable()
            timings.append((time.perf_counter() - started) * 1000)
        if profiler is not None:
            profiler.dump_stats(options["profile"])
        timings.sort()
        if not timings:
            return {"first_query_ms": round(first, 1)}
        return {
            "first_query_ms": round(first, 1),
            "query_ms_p50": round(statistics.median(timings), 1),
            "query_ms_p95": round(timings[int(len(timings) * 0.95) - 1], 1),
        }

    def _recall_facts(self, project: Project, rng: random.Random, embeddings: dict[str, Any]) -> dict[str, Any]:
        texts = [f"{prose(rng, 3000)} {fact} {prose(rng, 3000)}" for fact, _ in LABELLED]
        result: dict[str, Any] = {"fact_questions": len(LABELLED)}
        for label, fields in self._modes(embeddings):
            store = VectorStore.objects.create(project=project, name=f"facts {label}", **fields)
            for number, text in enumerate(texts):
                # Each fact sits in the middle of its own document of distractor prose (about ten 800-token chunks).
                self._index(store, f"policy{number}.txt", text)
            found = 0
            for fact, question in LABELLED:
                hits = chunks_retrieve(store_ids=[store.id], query=question, limit=5)
                found += any(fact in hit.text for hit in hits)
            result[f"facts_recall_at_5_{label}"] = round(found / len(LABELLED), 3)
        return result

    def _recall_handbook(self, project: Project, labelled: dict[str, Any], embeddings: dict[str, Any]) -> dict:
        passages, questions = labelled["passages"], labelled["questions"]
        result: dict[str, Any] = {"handbook_questions": len(questions)}
        for label, fields in self._modes(embeddings):
            store = VectorStore.objects.create(project=project, name=f"handbook {label}", **fields)
            names = {}
            for number, passage in enumerate(passages):
                self._index(store, f"handbook{number}.txt", passage)
                names[f"handbook{number}.txt"] = number
            found, missed = 0, []
            for question, answer in questions:
                hits = chunks_retrieve(store_ids=[store.id], query=question, limit=5)
                if any(names.get(hit.file_name) == answer for hit in hits):
                    found += 1
                else:
                    missed.append(question)
            result[f"handbook_recall_at_5_{label}"] = round(found / len(questions), 3)
            result[f"handbook_missed_{label}"] = missed
        return result

    @staticmethod
    def _modes(embeddings: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        return [("full_text", {}), *([("hybrid", embeddings)] if embeddings else [])]
