"""Materialization metadata that reads well in the Dagster UI.

Every number is rounded here (`rounded`, and table cells), every table is laid out here (`table`):
the prose columns first and wide, the others cut short, so that a table built anywhere (an
ablation, a score table, a check's rows) reads the same.
"""

import base64
import io
import math
import re
import unicodedata
from collections.abc import Mapping

import dagster as dg
import polars as pl
from matplotlib.figure import Figure

from native_pipeline.defs.columns import COLUMNS

_RLI, _PDI = "\u2067", "\u2069"  # right-to-left isolate: Arabic cells keep their own order
_KEEP, _BREAK = "\u2060", "\u200b"  # word joiner (no line break here), zero-width space (may)
NAME = 24  # a cell of one word this short is a name (a dump, a variant): never broken
# In a longer word (a URL, a path) a line may break after these, so it yields the width to prose.
_BREAKABLE = re.compile(r"(?<=[/.\-_?&=])(?=[^/])")

Cell = str | int | float | bool | None

DIGITS = 4  # significant digits a number keeps in the UI
SHORT = 30  # characters a cell of a column that is not prose keeps (a URL, a reason, an id)
PROSE = 6  # a string column whose values average this many words is prose


def significant(value: float, digits: int = DIGITS) -> float:
    """`value` to `digits` significant digits, never cut into its integer part:
    5.28109073638916 -> 5.281, 0.27999999999999997 -> 0.28, 123456.7 -> 123457.0."""
    if not math.isfinite(value) or value == 0:
        return value
    return round(value, max(0, digits - 1 - math.floor(math.log10(abs(value)))))


def _round(value: object) -> object:
    """Floats rounded, inside lists and dicts too (JSON metadata)."""
    if isinstance(value, float):
        return significant(value)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    return value


def rounded(metadata: Mapping[str, object]) -> dict[str, object]:
    """Materialization metadata with every float rounded (plain, float and JSON values): what
    an asset reports goes through here."""
    out: dict[str, object] = {}
    for key, value in metadata.items():
        if isinstance(value, dg.FloatMetadataValue) and value.value is not None:
            value = dg.MetadataValue.float(significant(value.value))
        elif isinstance(value, dg.JsonMetadataValue):
            value = dg.MetadataValue.json(_round(value.data))
        elif isinstance(value, float | dict | list):  # plain values (a TableSchema is a tuple)
            value = _round(value)
        out[key] = value
    return out


def _cell(value: object, width: int) -> Cell:
    """A number stays a number (rounded); anything else becomes one line of text, cut at
    `width`."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):  # JSON has no NaN for the UI
        return significant(value) if math.isfinite(value) else str(value)
    text = " ".join(str(value).split())
    if len(text) > width:
        text = text[:width] + "…"
    if " " not in text:  # one word: a name stays on one line, a URL breaks at its parts
        text = text.replace("-", f"-{_KEEP}") if len(text) <= NAME else _BREAKABLE.sub(_BREAK, text)
    if any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text):
        text = f"{_RLI}{text}{_PDI}"
    return text


def schema(frame: pl.DataFrame, described: dict[str, str] | None = None) -> dg.TableSchema:
    """The frame's columns and types, each described by `described` or else by COLUMNS."""
    described = described or {}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, str(dtype), description=described.get(name, COLUMNS.get(name)))
            for name, dtype in frame.schema.items()
        ]
    )


def prose_columns(frame: pl.DataFrame) -> list[str]:
    """The string columns that hold prose (a text, an original, a rewrite): many words on
    average, where a URL, an id or a reason is one."""
    return [
        name
        for name, dtype in frame.schema.items()
        if dtype == pl.String
        and (frame[name].drop_nulls().str.count_matches(r"\S+").mean() or 0) >= PROSE
    ]


def table(
    frame: pl.DataFrame,
    width: int = 160,
    described: dict[str, str] | None = None,
    rows: int = 100,
) -> dg.MetadataValue:
    """The frame's first `rows` rows as a table the UI shows inline, its columns described
    (`schema`); a last row says how many more the stored table has. The prose columns come
    first, cut at `width`; the others (a URL, a reason) are cut at SHORT, so that the prose
    takes the table's width rather than two words a line."""
    prose = prose_columns(frame.head(rows))
    frame = frame.select(*prose, *(c for c in frame.columns if c not in prose))
    widths = {c: width if c in prose else min(width, SHORT) for c in frame.columns}
    records = [
        dg.TableRecord({k: _cell(v, widths[k]) for k, v in row.items()})
        for row in frame.head(rows).iter_rows(named=True)
    ]
    if frame.height > rows:
        more = f"… {frame.height - rows:,} more rows"
        records.append(
            dg.TableRecord({c: more if i == 0 else None for i, c in enumerate(frame.columns)})
        )
    return dg.MetadataValue.table(records, schema(frame, described))


def funnel(stages: pl.DataFrame) -> dg.MetadataValue:
    """One line per stage: documents and bytes in and out, removals, time."""
    view = stages.sort("step").select(
        "stage",
        "docs_in",
        "docs_out",
        (pl.col("docs_in") - pl.col("docs_out")).alias("removed"),
        (pl.col("bytes_in") / 1e6).round(3).alias("MB_in"),
        (pl.col("bytes_out") / 1e6).round(3).alias("MB_out"),
        pl.col("seconds").round(2),
    )
    return table(view)


def png(figure: Figure) -> dg.MetadataValue:
    """A matplotlib figure as an image in Markdown (a data URI): the UI shows Markdown this long
    behind a "[Show Markdown]" link, so it goes under a key that says it is a chart (`chart`)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return dg.MetadataValue.md(f"![figure](data:image/png;base64,{encoded})")


def chart(name: str, figure: Figure) -> dict[str, dg.MetadataValue]:
    """`figure` under the key `<name> (chart)`, so that its "[Show Markdown]" link says what
    opens."""
    return {f"{name} (chart)": png(figure)}


SPARK_POINTS = 40  # a sparkline's points at most: its Markdown stays under the UI's 1,000


def sparkline(values: list[float]) -> dg.MetadataValue:
    """`values` as a small line (an SVG data URI) with its first and last value: Markdown under
    1,000 characters, which the UI draws inline, where a full chart needs a click."""
    step = max(1, math.ceil(len(values) / SPARK_POINTS))
    shown = values[::step] if values else [0.0]
    low, high = min(shown), max(shown)
    span, width, height = (high - low) or 1.0, 240, 40
    points = ",".join(
        f"{round(i * width / max(len(shown) - 1, 1))},{round(2 + (high - v) * (height - 4) / span)}"
        for i, v in enumerate(shown)
    )
    svg = (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}'>"
        f"<polyline fill='none' stroke='%234f43dd' stroke-width='2' points='{points}'/></svg>"
    )
    uri = "data:image/svg+xml," + svg.replace("<", "%3C").replace(">", "%3E").replace(" ", "%20")
    first, last = (significant(v) for v in (values[0], values[-1])) if values else (0.0, 0.0)
    return dg.MetadataValue.md(f"![line]({uri}) {first} → {last}")


def line_plot(name: str, values: list[float], xlabel: str, ylabel: str) -> dict[str, object]:
    """`name`: the line inline (`sparkline`); `<name> (chart)`: the chart with its axes."""
    figure = Figure(figsize=(6, 3))
    axes = figure.subplots()
    axes.plot(range(1, len(values) + 1), values)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    return {name: sparkline(values), **chart(name, figure)}
