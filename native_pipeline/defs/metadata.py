"""Materialization metadata that reads well in the Dagster UI."""

import base64
import io
import math
import unicodedata

import dagster as dg
import polars as pl
from matplotlib.figure import Figure

from native_pipeline.defs.columns import COLUMNS

_RLI, _PDI = "\u2067", "\u2069"  # right-to-left isolate: Arabic cells keep their own order

Cell = str | int | float | bool | None


def _cell(value: object, width: int) -> Cell:
    """A number stays a number; anything else becomes one line of text, cut at `width`."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # JSON has no NaN for the UI
    text = " ".join(str(value).split())
    if len(text) > width:
        text = text[:width] + "…"
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


def table(
    frame: pl.DataFrame,
    width: int = 160,
    described: dict[str, str] | None = None,
    rows: int = 100,
) -> dg.MetadataValue:
    """The frame's first `rows` rows as a table the UI shows inline, its columns described
    (`schema`); a last row says how many more the stored table has."""
    records = [
        dg.TableRecord({k: _cell(v, width) for k, v in row.items()})
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
    """A matplotlib figure as an image the UI shows inline (a data URI in Markdown)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return dg.MetadataValue.md(f"![figure](data:image/png;base64,{encoded})")


def line_plot(values: list[float], xlabel: str, ylabel: str) -> dg.MetadataValue:
    figure = Figure(figsize=(6, 3))
    axes = figure.subplots()
    axes.plot(range(1, len(values) + 1), values)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    return png(figure)
