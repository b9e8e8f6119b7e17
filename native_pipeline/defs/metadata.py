"""Materialization metadata that reads well in the Dagster UI."""

import base64
import io
import unicodedata

import dagster as dg
import polars as pl
from matplotlib.figure import Figure

_RLI, _PDI = "\u2067", "\u2069"  # right-to-left isolate: Arabic cells keep their own order


def _cell(value: object, width: int) -> str:
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    if len(text) > width:
        text = text[:width] + "…"
    text = text.replace("|", "\\|")
    if any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text):
        text = f"{_RLI}{text}{_PDI}"
    return text


def markdown_table(frame: pl.DataFrame, width: int = 160) -> dg.MetadataValue:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(_cell(v, width) for v in row) + " |" for row in frame.iter_rows()]
    return dg.MetadataValue.md("\n".join([header, rule, *rows]))


def schema(frame: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()]
    )


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
    return markdown_table(view)


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
