"""A dump dropped into the landing zone, followed through the running platform and looked at in a
real browser.

dagster-webserver and dagster-daemon run as `make dev` runs them, on 127.0.0.1 on a free port,
with a Dagster home, a landing zone and a data root of their own. The landing-zone sensor ingests
the dump by itself. The test launches `align` as `make run` does (`dg launch`, in a process of
its own: the worker is trained when someone decides); automation then rewrites the dump
(aligned_corpus) and audits it. The test launches `train` as the UI's Launchpad does (GraphQL's
launchRun), whose run pre-trains and evaluates every variant and writes the ablation report.
Headless Chromium, driven by Selenium, then opens the lineage graph, the dump's cleaned_text (its
preview readable: the text at least half the table's width), its checks, the dump's rewrites
before and after, the runs under their jobs, a loss curve, the audit and the ablation report
(its tables and charts: scores, judged ratios, scaling, seed ablation); no page shows a number
unrounded. Each page is kept as a screenshot under the test's tmp dir
(copied to $NATIVE_PIPELINE_SCREENSHOTS when set).

It needs Debian's `chromium` and `chromium-driver`: without them it is skipped, except under CI
(CI=true), where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from native_pipeline.landing import MARKER
from native_pipeline.sample import SAMPLE_CRAWL
from native_pipeline.settings import DEFAULT_CONFIG, load_settings
from native_pipeline_tests.defs.servers import (
    ROOT,
    bin_path,
    graphql,
    process_group,
    wait_for,
    webserver,
)

DUMP = "CC-MAIN-2026-05"  # one dump of the embedded crawl: the smallest real input
ARABIC = re.compile("[\u0600-\u06ff]")
DECIMAL = re.compile(r"\d+\.\d+")
SIGNIFICANT = 6  # a number shown with more significant digits than this was not rounded
ENDED = {"SUCCESS", "FAILURE", "CANCELED"}
DIALOG = (By.CSS_SELECTOR, "[role=dialog]")
# A materialized asset's node is drawn with a green border.
GREEN_NODE = (By.CSS_SELECTOR, "[style*='--minimal-border: var(--color-accent-green)']")
REPOSITORY = {"repositoryLocationName": "native_pipeline", "repositoryName": "__repository__"}

RUNS = """query($filter: RunsFilter) { runsOrError(filter: $filter) {
  ... on Runs { results { runId jobName status tags { key value } } } } }"""
LAUNCH = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
MATERIALIZED = """query($key: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $key) {
    ... on Asset { assetMaterializations(partitions: $partitions, limit: 1) { runId } } } }"""
GROUPS = "{ assetNodes { groupName assetKey { path } } }"
CHECKS = """query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) {
  ... on AssetNode { assetChecksOrError { ... on AssetChecks { checks { name } } } } } }"""


def _browser() -> tuple[str, str]:
    """Chromium and its driver, or the test skipped; under CI a missing browser is a failure."""
    found = {name: shutil.which(name) for name in ("chromium", "chromedriver")}
    if None in found.values():
        missing = [name for name, path in found.items() if path is None]
        reason = f"{' and '.join(missing)} not found: apt-get install chromium chromium-driver"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"{reason} (CI must run the browser test)")
        pytest.skip(reason)
    return found["chromium"], found["chromedriver"]


def _config(tmp: Path, landing: Path) -> Path:
    """The packaged config writing under `tmp`, with the smallest training that still runs every
    step: the worker one epoch on a seed of 8 segments, each variant two pre-training steps."""
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config |= {"data_root": str(tmp / "data"), "landing_zone": str(landing)}
    config["alignment"]["seeds"]["size"] = 8
    config["alignment"]["worker"]["training"]["epochs"] = 1
    config["training"]["loop"] |= {"max_steps": 2, "warmup_steps": 0, "save_every": 2}
    for spec in config["training"]["variants"].values():
        spec["budget"] = "same_tokens"
    config["evaluation"]["max_held_out_docs"] = 20
    config["evaluation"]["harmlessness"]["max_new_tokens"] = 8
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.mark.slow
def test_a_dropped_dump_runs_itself_through_to_the_ui(tmp_path):
    chromium, chromedriver = _browser()
    landing, home, logs, shots = (tmp_path / name for name in ("landing", "home", "logs", "shots"))
    for folder in (landing, home, logs):
        folder.mkdir()
    # The project's instance settings: runs start at once (DefaultRunCoordinator), no telemetry.
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    config = _config(tmp_path, landing)
    settings = load_settings(config)
    variants = list(settings.training.variants)
    env = {k: v for k, v in os.environ.items() if k != "NATIVE_PIPELINE_DATA_ROOT"}
    env |= {"NATIVE_PIPELINE_CONFIG": str(config), "DAGSTER_HOME": str(home)}
    daemon = [bin_path("dagster-daemon"), "run", "-w", "workspace.yaml"]
    try:
        with (
            webserver(home, env, logs / "webserver.log") as port,
            process_group(daemon, env, logs / "daemon.log"),
        ):
            _drop(SAMPLE_CRAWL / DUMP, landing)
            align = _carry_through(port, env, logs)
            with _chromium(chromium, chromedriver) as browser:
                pages = Pages(browser, port, shots)
                _lineage(pages, variants)
                _cleaned_text(pages)
                _before_after(pages)
                _runs_under_their_jobs(pages, align)
                _charts(pages, variants)
                _ablation(pages, variants, settings.alignment.seed_ablation.strategies)
    finally:
        if (target := os.environ.get("NATIVE_PIPELINE_SCREENSHOTS")) and shots.exists():
            shutil.copytree(shots, target, dirs_exist_ok=True)


def _drop(dump: Path, landing: Path) -> None:
    """Copies a dump as a crawler delivers one: its files first, the _SUCCESS marker last."""
    target = landing / dump.name
    shutil.copytree(dump, target, ignore=shutil.ignore_patterns(MARKER))
    (target / MARKER).touch()


def _carry_through(port: int, env: dict[str, str], logs: Path) -> str:
    """The dump from the landing zone to the ablation report: by itself but for the two jobs
    that run when a user decides. Returns the run of `align`, launched as `make run` does."""
    ingest = wait_for(lambda: _runs(port, pipelineName="ingest"), 180, "the sensor's ingest")
    assert len(ingest) == 1
    assert _tags(ingest[0])["dagster/sensor_name"] == "landing_zone_sensor"
    assert _tags(ingest[0])["dagster/partition"] == DUMP
    _finished(port, ingest[0]["runId"], 300, logs)

    # The worker, when a user decides, from the CLI as `make run` does; then automation rewrites
    # the dump.
    with (logs / "dg_launch.log").open("wb") as out:
        launched = subprocess.run(
            [bin_path("dg"), "launch", "--job", "align"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    assert launched.returncode == 0, f"dg launch --job align failed (see {logs})"
    (align,) = _runs(port, pipelineName="align")
    _finished(port, align["runId"], 60, logs)
    rewrite = wait_for(lambda: _made_by(port, "aligned_corpus", DUMP), 300, "the aligned dump")
    assert _automatic(_finished(port, rewrite, 60, logs))

    # Pre-training, evaluation and the ablation report, when a user decides; meanwhile the
    # audit follows the aligned corpus by itself.
    _finished(port, _launch(port, "train"), 600, logs)
    audit = wait_for(lambda: _made_by(port, "rewrite_audit"), 120, "the audit")
    assert _automatic(_finished(port, audit, 120, logs))
    return align["runId"]


def _runs(port: int, **filter: object) -> list[dict]:
    return graphql(port, RUNS, {"filter": filter})["runsOrError"]["results"]


def _tags(run: dict) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in run["tags"]}


def _automatic(run: dict) -> bool:
    return _tags(run).get("dagster/from_automation_condition") == "true"


def _finished(port: int, run_id: str, timeout_s: float, logs: Path) -> dict:
    """The run once it has ended, asserted successful."""
    run = wait_for(
        lambda: next((r for r in _runs(port, runIds=[run_id]) if r["status"] in ENDED), None),
        timeout_s,
        f"run {run_id} ending",
    )
    assert run["status"] == "SUCCESS", f"{run['jobName']} {run_id}: {run['status']} (see {logs})"
    return run


def _launch(port: int, job: str) -> str:
    params = {"selector": {**REPOSITORY, "jobName": job}, "runConfigData": {}}
    launched = graphql(port, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _made_by(port: int, asset: str, partition: str | None = None) -> str | None:
    """The run that materialized `asset` (or its `partition`) last, if any."""
    variables = {"key": {"path": [asset]}, "partitions": [partition] if partition else None}
    found = graphql(port, MATERIALIZED, variables)["assetOrError"]["assetMaterializations"]
    return found[0]["runId"] if found else None


@contextmanager
def _chromium(chromium: str, driver: str) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--window-size=1600,1500",  # the whole graph, expanded, at a readable size
    ):
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options, service=Service(driver))
    try:
        yield browser
    finally:
        browser.quit()


class Pages:
    """The UI as a user looks at it; every wait bounded, every page kept as a PNG."""

    def __init__(self, browser: WebDriver, port: int, shots: Path) -> None:
        self.browser, self.port, self.shots = browser, port, shots
        self.wait = WebDriverWait(browser, 60)
        shots.mkdir(parents=True, exist_ok=True)

    def open(self, path: str) -> None:
        self.browser.get(f"http://127.0.0.1:{self.port}{path}")

    def shown(self, text: str) -> WebElement:
        """The element whose own text is `text`, once visible."""
        locator = (By.XPATH, f"//*[normalize-space(text())='{text}']")
        return self.wait.until(seen.visibility_of_element_located(locator))

    def count(self, locator: tuple[str, str], n: int) -> None:
        """Waits until exactly `n` elements match."""
        self.wait.until(lambda browser: len(browser.find_elements(*locator)) == n)

    def metadata(self, key: str) -> WebElement:
        """Metadata entry `key` as the page shows it: inline, or in the dialog that its
        [Show Markdown] link opens."""
        row = (By.XPATH, f"//tr[td[normalize-space()='{key}']]")
        cell = self.wait.until(seen.visibility_of_element_located(row))
        links = cell.find_elements(By.XPATH, ".//a[normalize-space()='[Show Markdown]']")
        if not links:
            return cell
        links[0].click()
        return self.wait.until(seen.visibility_of_element_located(DIALOG))

    def image(self, key: str) -> WebElement:
        """The image of metadata entry `key` (inline, or in its dialog), once drawn: Markdown is
        rendered after the row appears."""
        entry = self.metadata(key)
        images = (By.TAG_NAME, "img")
        self.wait.until(lambda _: entry.find_elements(*images))
        image = entry.find_element(*images)
        self.wait.until(lambda _: image.get_property("naturalWidth") > 0)
        return image

    def close_dialog(self) -> None:
        """Closes the dialog `metadata` opened for an entry shown as Markdown; inline entries
        (tables) open none."""
        if not self.browser.find_elements(*DIALOG):
            return
        self.browser.find_element(By.XPATH, "//button[normalize-space()='Close']").click()
        self.wait.until(seen.invisibility_of_element_located(DIALOG))

    def keep(self, name: str, on: WebElement | None = None) -> None:
        """The page as a PNG, scrolled to `on` when given; the page shows no unrounded number."""
        if on is not None:
            self.browser.execute_script("arguments[0].scrollIntoView(true);", on)
        assert self.browser.save_screenshot(str(self.shots / f"{name}.png")), name
        text = self.browser.find_element(By.TAG_NAME, "body").text
        assert not unrounded(text), f"{name}: {unrounded(text)[:5]}"

    def cut_off(self, element: WebElement) -> float:
        """How many pixels of `element` its nearest clipping ancestor hides on the right."""
        return self.browser.execute_script(
            """const e = arguments[0];
            let box = e.parentElement;
            while (box && getComputedStyle(box).overflowX === "visible") box = box.parentElement;
            const right = Math.min(box ? box.getBoundingClientRect().right : 1e9, innerWidth);
            return Math.max(0, e.getBoundingClientRect().right - right);""",
            element,
        )

    def widths(self, table: WebElement) -> dict[str, float]:
        """Each column's width in the table, and the table's own ("")."""
        return self.browser.execute_script(
            """const t = arguments[0], width = (e) => e.getBoundingClientRect().width;
            const out = {"": width(t)};
            for (const th of t.querySelectorAll("th")) out[th.innerText] = width(th);
            return out;""",
            table,
        )

    def query(self, query: str, variables: dict | None = None) -> dict:
        return graphql(self.port, query, variables)


def unrounded(text: str) -> list[str]:
    """The numbers in `text` shown with more than SIGNIFICANT significant digits."""
    return [
        number
        for number in DECIMAL.findall(text)
        if len(number.replace(".", "").lstrip("0")) > SIGNIFICANT
    ]


def _lineage(pages: Pages, variants: list[str]) -> None:
    """Every group on the graph, one per variant among them; expanded, each variant's group
    holds its own chain of stages, and every asset is drawn materialized."""
    nodes = pages.query(GROUPS)["assetNodes"]
    groups = {node["groupName"] for node in nodes}
    assert set(variants) <= groups
    pages.open("/asset-groups")
    # Seen as a user who has answered Dagster's "join the community" dialog (it would cover the
    # graph), with the graph drawn top to bottom: the variants' groups side by side.
    for item, value in (("communityNux", "1"), ("asset-graph-direction", "vertical")):
        pages.browser.execute_script(f"localStorage.setItem('{item}', '\"{value}\"')")
    pages.open("/asset-groups")
    for group in groups:
        pages.shown(group)
    ActionChains(pages.browser).key_down(Keys.ALT).send_keys("e").key_up(Keys.ALT).perform()
    stage = (By.XPATH, "//*[normalize-space(text())='checkpoints']")  # "Expand all groups"
    pages.count(stage, len(variants))
    pages.browser.refresh()  # the graph fits the window when it loads
    pages.count(stage, len(variants))
    pages.count(GREEN_NODE, len(nodes))  # the seed ablation too: `align` runs it
    pages.keep("lineage")


def _cleaned_text(pages: Pages) -> None:
    """The dump's materialization with its preview of Arabic text, readable: the text column
    first and at least half the table's width; its checks all passed."""
    pages.open(f"/assets/cleaned_text?view=partitions&partition={DUMP}")
    pages.shown(DUMP)
    preview = pages.metadata("preview")
    assert ARABIC.search(preview.text) and "https://" in preview.text, preview.text[:500]
    table = preview.find_element(By.TAG_NAME, "table")
    widths = pages.widths(table)
    assert table.find_element(By.TAG_NAME, "th").text == "text"
    assert widths["text"] >= widths[""] / 2, widths
    pages.keep("cleaned_text_preview", preview)
    pages.close_dialog()

    node = pages.query(CHECKS, {"key": {"path": ["cleaned_text"]}})["assetNodeOrError"]
    checks = [check["name"] for check in node["assetChecksOrError"]["checks"]]
    assert len(checks) >= 3
    pages.open("/assets/cleaned_text?view=checks")
    for check in checks:
        pages.shown(check)
    pages.count((By.XPATH, "//*[normalize-space(text())='Succeeded']"), len(checks))
    assert "Failed" not in pages.browser.find_element(By.TAG_NAME, "body").text
    pages.keep("cleaned_text_checks")


def _before_after(pages: Pages) -> None:
    """The dump's rewrites before and after: the changed segments, each with its word diff and
    the harm before and after, and the rejected rewrites with their reason."""
    pages.open(f"/assets/aligned_corpus?view=partitions&partition={DUMP}")
    pages.shown(DUMP)
    changed = pages.metadata("changed_segments")
    headers = [th.text for th in changed.find_elements(By.TAG_NAME, "th")]
    assert headers[:4] == ["original", "aligned", "changes", "change"], headers
    assert ARABIC.search(changed.text) and "[-" in changed.text, changed.text[:500]
    assert "→" in changed.text  # harm before → after
    pages.metadata("rejected_rewrites")
    pages.keep("aligned_corpus_before_after", changed)


def _runs_under_their_jobs(pages: Pages, align: str) -> None:
    """The run `dg launch` started shows under its job, as the UI's and the sensor's do."""
    for job, run in (("align", align), ("ingest", None)):
        pages.open(f"/locations/native_pipeline/jobs/{job}/runs")
        shown = pages.wait.until(
            seen.visibility_of_element_located((By.XPATH, "//a[contains(@href, '/runs/')]"))
        )
        if run is not None:
            pages.shown(run[:8])
        assert "No runs found" not in pages.browser.find_element(By.TAG_NAME, "body").text
        pages.keep(f"{job}_runs", shown)


def _charts(pages: Pages, variants: list[str]) -> None:
    """A variant's loss curve drawn inline, its full chart under a key that says so; the audit's
    figures under theirs."""
    pages.open(f"/assets/{variants[0]}/checkpoints")
    pages.keep("checkpoints_loss_curve", pages.image("loss_curve"))
    pages.image("loss_curve (chart)")
    pages.close_dialog()
    pages.open("/assets/rewrite_audit")
    pages.image("perplexity and edit ratio (chart)")
    pages.keep("rewrite_audit")
    pages.close_dialog()


def _ablation(pages: Pages, variants: list[str], strategies: list[str]) -> None:
    """The ablation report: a table per task, a row per variant, whole on the page, among them
    the judged harmlessness and helpfulness ratios and who judged them; the scaling table; the
    seed ablation's table, a row per seed strategy; each with its chart (an image)."""
    pages.open("/assets/ablation_report")
    table = pages.metadata("scores: arabic_mmlu")
    assert all(variant in table.text for variant in variants), table.text[:500]
    assert "acc_norm" in table.text, table.text[:500]
    assert pages.cut_off(table.find_element(By.TAG_NAME, "table")) == 0  # whole on the page
    pages.keep("ablation_table", table)
    pages.close_dialog()

    # (columns on the right of a wide table may lie outside the view: the first ones are read)
    judged = pages.metadata("scores: judged")
    assert all(variant in judged.text for variant in ["base", *variants]), judged.text[:500]
    assert "harmlessness_ratio" in judged.text, judged.text[:500]
    assert "offline rubric" in pages.metadata("judge (scores: judged)").text
    pages.keep("ablation_judged", judged)
    pages.close_dialog()

    scaling = pages.metadata("scaling (every metric against aligned tokens)")
    on_axis = [v for v in variants if v.startswith("aligned")]  # the aligned slices, in full
    assert "aligned_tokens" in scaling.text, scaling.text[:500]
    assert all(v in scaling.text for v in on_axis), scaling.text[:500]
    pages.close_dialog()

    seeds = pages.metadata("seed ablation (rubric mean ± std over repeats)")
    assert all(s in seeds.text for s in strategies), seeds.text[:500]
    assert "format_mean" in seeds.text, seeds.text[:500]
    pages.keep("ablation_seed_ablation", seeds)
    pages.close_dialog()

    for chart, shot in (
        ("scores by variant", "ablation_chart"),
        ("every metric against aligned tokens", "ablation_scaling_chart"),
        ("seed ablation by strategy", "ablation_seed_chart"),
    ):
        pages.image(f"{chart} (chart)")
        pages.keep(shot)
        pages.close_dialog()
