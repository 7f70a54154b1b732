"""Results JSON to tables: plain text for the terminal, Markdown for docs/benchmarks.md.

python -m benchmarks.report benchmarks/results/<run>.json                  # print Markdown
python -m benchmarks.report benchmarks/results/<run>.json --update-docs    # fill docs/benchmarks.md
python -m benchmarks.report <run>.json --update-docs --section recovery  # fill its "results recovery" section
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .backends import REFERENCES

__all__ = ["render_markdown", "render_text", "update_docs"]

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
_ARROWS = {"higher": " ↑", "lower": " ↓", None: ""}


def render_text(results: dict[str, Any]) -> str:
    parts = [_heading_lines(results, markdown=False)]
    for name, entry in results["scenarios"].items():
        header, rows = _table(entry)
        parts.append(f"\n== {name}: {entry['title']}")
        parts.append(_aligned([header, *rows]))
        parts.extend(f"   {note}" for note in _notes(entry))
    targets, unmeasured = _measured_targets(results)
    parts.append("\nTargets (issues 6, 13, 16 and 17):")
    parts.extend(f"  [{t['status']:^6}] {t['target']}: {t['detail']}" for t in targets)
    parts.extend(f"  {line}" for line in unmeasured)
    return "\n".join(parts)


def render_markdown(results: dict[str, Any]) -> str:
    parts = [_heading_lines(results, markdown=True)]
    for name, entry in results["scenarios"].items():
        header, rows = _table(entry)
        parts.append(f"\n### `{name}`: {entry['title']}\n")
        parts.append("| " + " | ".join(header) + " |")
        parts.append("|" + "|".join([" --- "] + [" ---: "] * (len(header) - 1)) + "|")
        parts.extend("| " + " | ".join(row) + " |" for row in rows)
        notes = _notes(entry)
        if notes:
            parts.append("")
            parts.extend(f"- {note}" for note in notes)
    targets, unmeasured = _measured_targets(results)
    parts.append("\n### Targets (issues 6, 13, 16 and 17)\n")
    parts.extend(f"- **{t['status']}** {t['target']}: {t['detail']}" for t in targets)
    parts.extend(f"- {line}" for line in unmeasured)
    return "\n".join(parts) + "\n"


def update_docs(results: dict[str, Any], docs: Path = DOCS, section: str | None = None) -> None:
    """Replace the text between the results markers of ``docs`` (or of its named ``section``) with this run's tables."""
    name = f"results {section}" if section else "results"
    start, end = f"<!-- {name}: start -->", f"<!-- {name}: end -->"
    text = docs.read_text()
    if start not in text or end not in text:
        raise ValueError(f"{docs} has no {start} ... {end} section to fill")
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    docs.write_text(f"{head}{start}\n{render_markdown(results)}{end}{tail}")


def _measured_targets(results: dict[str, Any]) -> tuple[list[dict[str, str]], list[str]]:
    """The targets this run measured, and a line counting those it did not (their scenario or backend not run)."""
    targets = results.get("targets", [])
    measured = [t for t in targets if t["status"] != "n/a"]
    unmeasured = len(targets) - len(measured)
    return measured, [f"{unmeasured} more not measured: their scenario or backend was not run"] if unmeasured else []


def _heading_lines(results: dict[str, Any], markdown: bool) -> str:
    machine = results.get("machine", {})
    packages = ", ".join(f"{name} {version}" for name, version in machine.get("packages", {}).items() if version)
    lines = [
        f"Command: {results['command']}  ({results['repeats']} interleaved repeats, medians; "
        f"{'quick sizes' if results['quick'] else 'full sizes'}; {results.get('seconds', '?')} s)",
        f"Machine: {machine.get('cpu')}, {machine.get('cores')} cores, load average at start "
        f"{machine.get('load_average')}; {machine.get('os')}",
        f"Python {machine.get('python')}, redis-server {machine.get('redis_server')}; {packages}; "
        f"commit {machine.get('commit')}; started {results['started']}",
        "Ratios are backend / reference; ↑ higher is better, ↓ lower is better.",
    ]
    return "\n".join(f"- {line}" if markdown else line for line in lines)


def _table(entry: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    backends = list(entry["medians"])
    references = entry.get("references", REFERENCES)  # results written before scenarios named theirs
    # Ratios for the layers being compared; in-memory is a reference point of its own, not a contender.
    compared = [b for b in backends if b not in references and b != "inmemory"]
    pairs = [(b, ref) for b in compared for ref in references if ref in backends]
    header = ["metric", *backends, *(f"{b}/{ref}" for b, ref in pairs)]
    rows = []
    for metric in entry["metrics"]:
        values = {b: entry["medians"][b]["values"].get(metric["key"]) for b in backends}
        row = [metric["label"] + _ARROWS[metric["better"]]]
        row.extend(_number(values[b], metric["digits"]) for b in backends)
        row.extend(_ratio(values[b], values[ref]) if metric["ratio"] else "" for b, ref in pairs)
        rows.append(row)
    return header, rows


def _notes(entry: dict[str, Any]) -> list[str]:
    notes = []
    for backend, median in entry["medians"].items():
        if median["failed"]:
            error = next(r["error"] for r in entry["runs"] if r["backend"] == backend and "error" in r)
            runs = median["failed"] + median["runs"]
            notes.append(f"{backend}: {median['failed']} of {runs} runs failed ({error.strip().splitlines()[-1]})")
    troubled = [run["backend"] for run in entry["runs"] if run.get("teardown_errors")]
    for backend in dict.fromkeys(troubled):
        notes.append(f"{backend}: {troubled.count(backend)} runs did not shut down cleanly (see the JSON)")
    if entry.get("skipped"):
        notes.append(f"not run in this scenario: {', '.join(entry['skipped'])}")
    return notes


def _number(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _ratio(value: float | None, reference: float | None) -> str:
    if value is None or not reference:
        return "-"
    return f"{value / reference:.2f}x"


def _aligned(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
        for row in rows
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="a JSON file written by python -m benchmarks")
    parser.add_argument("--update-docs", action="store_true", help=f"fill the results section of {DOCS.name}")
    parser.add_argument(
        "--section",
        help="with --update-docs: the section between '<!-- results NAME: start -->' "
        "and its end marker, instead of the main one",
    )
    arguments = parser.parse_args()
    loaded = json.loads(arguments.results.read_text())
    if arguments.update_docs:
        update_docs(loaded, section=arguments.section)
        print(f"updated {DOCS}")
    else:
        print(render_markdown(loaded))
