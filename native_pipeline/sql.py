"""dbt-like SQL: plain DuckDB files that become asset checks and report assets.

`checks/<asset>/<name>.sql` is a check on `<asset>`: it returns the offending rows, and zero rows
pass. `models/<name>.sql` is a report asset built from the query's result. A header of
`-- key: value` comment lines gives `description`, `severity` (error or warn), `blocking` and
`shows`: a check that measures something names the common table expression holding what it
measured, and its rows are shown whether the check passes or not (`measured`).

Templates know two calls: `{{ ref('asset') }}` or `{{ ref('asset', 'table') }}` becomes a
`read_parquet(...)` of that asset's table, and `{{ var('name', 'number') }}` (or `'text'`) a
configured value of that type. Nothing is pasted into the SQL text: the Parquet globs (which hold
dump names) and the values are bound as query parameters, so no name, path or config value can
change what a query does. Queries run read-only: a file may hold one SELECT and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

MAIN_TABLE = "data"
_HEADER = re.compile(r"^--\s*(\w+)\s*:\s*(.*?)\s*$")
_REF = re.compile(r"\{\{\s*ref\(\s*'(\w+)'\s*(?:,\s*'(\w+)'\s*)?\)\s*\}\}")
_VAR = re.compile(r"\{\{\s*var\(\s*'(\w+)'\s*(?:,\s*'(\w+)'\s*)?\)\s*\}\}")
# The types a var() may declare, and the Python values each accepts (bool is not a number).
VAR_TYPES: dict[str, tuple[type, ...]] = {"number": (int, float), "text": (str,)}


@dataclass(frozen=True)
class SqlFile:
    name: str
    target: str  # the asset a check guards, or the model's own name
    template: str
    description: str
    severity: str
    blocking: bool
    shows: str | None = None  # the CTE of what the check measured, shown pass or fail

    @property
    def refs(self) -> list[tuple[str, str]]:
        return [(a, t or MAIN_TABLE) for a, t in _REF.findall(self.template)]

    @property
    def upstream(self) -> list[str]:
        return sorted({asset for asset, _ in self.refs})


def parse(path: Path, target: str) -> SqlFile:
    text = path.read_text()
    header: dict[str, str] = {}
    for line in text.splitlines():
        match = _HEADER.match(line)
        if not match:
            break
        header[match.group(1).lower()] = match.group(2)
    severity = header.get("severity", "error").lower()
    if severity not in ("error", "warn"):
        raise ValueError(f"{path}: severity must be 'error' or 'warn', not {severity!r}")
    return SqlFile(
        name=path.stem,
        target=target,
        template=text,
        description=header.get("description", ""),
        severity=severity,
        blocking=header.get("blocking", "false").lower() == "true",
        shows=header.get("shows"),
    )


def load_checks(sql_dir: Path) -> list[SqlFile]:
    return [parse(p, p.parent.name) for p in sorted((sql_dir / "checks").glob("*/*.sql"))]


def load_models(sql_dir: Path) -> list[SqlFile]:
    return [parse(p, p.stem) for p in sorted((sql_dir / "models").glob("*.sql"))]


@dataclass(frozen=True)
class Rendered:
    """A query and the values of its `$name` parameters."""

    text: str
    params: dict[str, object]

    def shown(self) -> str:
        """The query with its parameters listed below it, for metadata."""
        values = "\n".join(f"-- ${k} = {v!r}" for k, v in self.params.items())
        return f"{self.text}\n{values}" if values else self.text


def _typed(sql: SqlFile, name: str, declared: str, value: object) -> object:
    where = f"{sql.target}/{sql.name}.sql var('{name}')"
    if declared not in VAR_TYPES:
        raise ValueError(f"{where}: type must be one of {sorted(VAR_TYPES)}, not {declared!r}")
    if isinstance(value, bool) or not isinstance(value, VAR_TYPES[declared]):
        raise TypeError(f"{where} must be {declared}, not {type(value).__name__}: {value!r}")
    return value


def render(
    sql: SqlFile, table_glob: Callable[[str, str], str], variables: Mapping[str, object]
) -> Rendered:
    """Resolve ref() to Parquet reads (dump recovered from hive-style paths) and var() to
    typed values, both as parameters."""
    params: dict[str, object] = {}

    def ref(match: re.Match[str]) -> str:
        name = f"ref_{match.group(1)}_{match.group(2) or MAIN_TABLE}"
        params[name] = table_glob(match.group(1), match.group(2) or MAIN_TABLE)
        return f"read_parquet(${name}, hive_partitioning = true, union_by_name = true)"

    def var(match: re.Match[str]) -> str:
        name, declared = match.group(1), match.group(2)
        if declared is None:
            raise ValueError(
                f"{sql.target}/{sql.name}.sql: var('{name}') must declare its type: "
                f"var('{name}', 'number') or var('{name}', 'text')"
            )
        if name not in variables:
            raise KeyError(f"{sql.target}/{sql.name}.sql uses var('{name}'), which is not set")
        params[f"var_{name}"] = _typed(sql, name, declared, variables[name])
        return f"$var_{name}"

    return Rendered(_VAR.sub(var, _REF.sub(ref, sql.template)), params)


_SELECT = re.compile(r"\bselect\b", re.IGNORECASE)


def measured(rendered: Rendered, cte: str) -> Rendered:
    """The query with its last top-level SELECT (the one that keeps the offending rows)
    replaced by one that returns every row of `cte`, one of its common table expressions."""
    depth, last = 0, None
    for i, char in enumerate(rendered.text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if (
            depth == 0
            and _SELECT.match(rendered.text, i)
            and not rendered.text[i - 1 : i].isalnum()
        ):
            last = i
    if last is None or not re.fullmatch(r"\w+", cte):
        raise ValueError(f"no top-level SELECT after a CTE {cte!r} to show")
    text = f"{rendered.text[:last]}select * from {cte}"
    used = {k: v for k, v in rendered.params.items() if re.search(rf"\${k}\b", text)}
    return Rendered(text, used)  # DuckDB refuses a parameter the query does not use


def query(rendered: Rendered | str) -> pl.DataFrame:
    """Run one read-only SELECT on a fresh in-memory DuckDB and return its rows."""
    if isinstance(rendered, str):
        rendered = Rendered(rendered, {})
    statements = duckdb.extract_statements(rendered.text)
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise ValueError("a dbt_like_sql file must hold exactly one SELECT statement")
    with duckdb.connect(":memory:") as con:
        return con.sql(rendered.text, params=rendered.params or None).pl()
