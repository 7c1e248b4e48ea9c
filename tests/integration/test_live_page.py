"""The worker's live page in a real browser: Debian's Chromium, driven by selenium, against a real
broker and worker with simulated events flowing (issue 35).

The worker runs with an API token, as a lender's would: the page first shows no data and asks for
the token, then shows counters that rise, every chart drawn, and a user's "why" in Chinese and in
English. Screenshots go to ``.cache/test-output/live-page/`` (and the test's tmp_path).
"""

from __future__ import annotations

import shutil
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from schemas.producer import CreditEventProducer
from schemas.topics import EVENTS
from streams.policy import default_policy
from streams.tools.simulate import Simulation
from tests.integration.worker_harness import Worker, wait_until

pytestmark = pytest.mark.broker

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
TOKEN = "live-page-test-token-0123456789"
OVERDUE_USER = "live-overdue-1"
CHARTS = ("chart-rates", "chart-latency", "chart-approval", "chart-dead-letters", "chart-scores", "chart-lag")
PAGE_BYTES_AT_MOST = 200 * 1024
OUTPUT = Path(__file__).resolve().parents[2] / ".cache" / "test-output" / "live-page"

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def _overdue_user_events() -> list[dict[str, object]]:
    """A user with a bill 10 days past due, then a credit purchase: declined, OVERDUE."""
    day = datetime.now(UTC) - timedelta(days=30)

    def stamp(days: int) -> str:
        return (day + timedelta(days=days)).isoformat()

    base = {"user_id": OVERDUE_USER}
    return [
        {**base, "event_id": "ov-open", "type": "account_opened", "occurred_at": stamp(0),
         "segment": "consumer", "monthly_income": "9000"},
        {**base, "event_id": "ov-buy-1", "type": "purchase", "occurred_at": stamp(1), "amount": "80.00",
         "merchant_id": "m-1", "merchant_category": "groceries", "funding": "credit"},
        {**base, "event_id": "ov-late", "type": "delinquency", "occurred_at": stamp(20), "product": "bnpl",
         "days_past_due": 10, "amount_overdue": "80.00"},
        {**base, "event_id": "ov-buy-2", "type": "purchase", "occurred_at": stamp(21), "amount": "30.00",
         "merchant_id": "m-1", "merchant_category": "groceries", "funding": "credit"},
    ]  # fmt: skip


class Flow:
    """Simulated events sent at a steady pace from a thread, until stopped."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.stopped = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, name="live-page-flow", daemon=True)

    def _run(self) -> None:
        lines = Simulation(300, 200, 7, default_policy(), id_prefix="live-").lines()
        with CreditEventProducer(self.worker.bootstrap, topic_prefix=self.worker.prefix) as producer:
            for event in _overdue_user_events():
                producer.send(event)
            # A record that is not an event: a dead letter, so that chart has data too.
            producer.send_bytes("purchase", "live-broken", b"{not json")
            for line in lines:
                if self.stopped.is_set():
                    return
                head = orjson.loads(line)
                producer.send_bytes(head["type"], head["user_id"], line)
                self.sent += 1
                if self.sent % 20 == 0:
                    producer.flush()
                    time.sleep(0.1)  # about 200 events a second

    def __enter__(self) -> Flow:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=30)


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Debian's chromium and chromium-driver are missing: scripts/setup installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    arguments = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    arguments += ["--window-size=1400,1800", f"--user-data-dir={tmp_path / 'chromium-profile'}"]
    for argument in arguments:
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture()
def worker(bootstrap: str, tmp_path: Path) -> Iterator[Worker]:
    prefix = f"live{uuid.uuid4().hex[:8]}."
    running = Worker(
        bootstrap,
        prefix,
        tmp_path / "state",
        tmp_path / "worker.log",
        extra_env={"CREDITSTREAM_API_TOKEN": TOKEN},
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _text(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def _number(driver: WebDriver, element_id: str) -> int | None:
    shown = _text(driver, element_id).replace(",", "")
    return int(shown) if shown.isdigit() else None


def _wait(driver: WebDriver, condition: Callable[[WebDriver], bool], seconds: float, what: str) -> None:
    try:
        WebDriverWait(driver, seconds, poll_frequency=0.25).until(condition)
    except WebDriverException as exc:
        raise AssertionError(f"the page did not show {what} within {seconds:.0f} s: {exc.msg}") from None


def _drawn(chart: str, least: int) -> Callable[[WebDriver], bool]:
    """Whether the chart has drawn at least ``least`` marks of data (the page counts them)."""

    def drawn(driver: WebDriver) -> bool:
        return int(driver.find_element(By.ID, chart).get_attribute("data-drawn") or 0) >= least

    return drawn


def _screenshot(driver: WebDriver, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot saved at {path}"
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, OUTPUT / path.name)
    return path


def test_the_live_page_shows_the_worker_and_a_users_why(
    worker: Worker, browser: WebDriver, tmp_path: Path
) -> None:
    base = f"http://127.0.0.1:{worker.port}/"
    with urllib.request.urlopen(base, timeout=10) as response:
        page = response.read()
        assert response.headers["Content-Type"].startswith("text/html")
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert len(page) < PAGE_BYTES_AT_MOST, f"the page is {len(page)} bytes"
    elsewhere = page.replace(b"http://www.w3.org/2000/svg", b"")  # SVG's namespace name, never fetched
    assert b"http://" not in elsewhere and b"https://" not in elsewhere, (
        "the page must load nothing from elsewhere"
    )

    with Flow(worker) as flow:
        browser.get(base)
        # Token-protected: the data is refused, and the page asks for the token.
        _wait(browser, lambda d: d.find_element(By.ID, "token-bar").is_displayed(), 20, "the token prompt")
        assert worker.get("/live.json")[0] == 401
        assert _number(browser, "events-total") is None
        assert "needs the API token" in _text(browser, "status")

        browser.find_element(By.ID, "token").send_keys(TOKEN)
        browser.find_element(By.CSS_SELECTOR, "#token-form button").click()
        _wait(browser, lambda d: (_number(d, "events-total") or 0) > 0, 60, "events counted")
        first = _number(browser, "events-total") or 0
        _wait(browser, lambda d: (_number(d, "events-total") or 0) > first, 30, "the counter rising")
        assert not browser.find_element(By.ID, "token-bar").is_displayed()

        wait_until(
            lambda: worker.metric_total("creditstream_dead_letters_total") > 0,
            60,
            "the broken record's dead letter",
        )
        for chart in CHARTS:
            # A line needs two points; a bar chart one bar.
            least = 2 if chart in ("chart-rates", "chart-latency") else 1
            _wait(browser, _drawn(chart, least), 40, f"{chart} drawn with data")
        marks = browser.find_elements(
            By.CSS_SELECTOR, "#chart-approval rect, #chart-scores rect, #chart-lag rect"
        )
        assert marks, "no bars drawn"
        assert browser.find_elements(By.CSS_SELECTOR, "#chart-rates polyline"), "no rate line drawn"
        _wait(
            browser,
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#recent tbody tr")) > 0,
            20,
            "the last decisions",
        )
        _screenshot(browser, tmp_path, "live-view")

        # The "why" of a user with an overdue bill, in Chinese, then in English.
        browser.find_element(By.ID, "lang-zh").click()
        browser.find_element(By.ID, "user-id").send_keys(OVERDUE_USER)
        browser.find_element(By.CSS_SELECTOR, "#lookup-form button[type=submit]").click()
        bnpl = "#user-products tr[data-product=bnpl] .reasons"

        def reasons_shown(driver: WebDriver) -> str:
            return "".join(element.text for element in driver.find_elements(By.CSS_SELECTOR, bnpl))

        _wait(browser, lambda d: "OVERDUE" in reasons_shown(d), 30, "bnpl's OVERDUE reason")
        chinese = browser.find_element(By.CSS_SELECTOR, bnpl).text
        assert "逾期" in chinese, chinese
        decisions = browser.find_element(By.ID, "user-decisions").text
        assert "declined" in decisions and "OVERDUE" in decisions, decisions
        assert browser.find_elements(By.CSS_SELECTOR, "#user-factors tr"), "no score factors shown"
        _screenshot(browser, tmp_path, "user-zh")

        browser.find_element(By.ID, "lang-en").click()
        _wait(
            browser,
            lambda d: "past due" in d.find_element(By.CSS_SELECTOR, bnpl).text,
            20,
            "the English text",
        )
        assert "逾期" not in browser.find_element(By.CSS_SELECTOR, bnpl).text
        # Nothing the page asked for put a user id in the page's own address.
        assert OVERDUE_USER not in browser.current_url
        assert flow.sent > 0


def test_the_live_document_answers_with_its_fields(worker: Worker) -> None:
    """The JSON behind the page, as a dashboard other than the page would read it."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with Flow(worker):
        wait_until(lambda: worker.records_processed() > 50, 60, "events applied")
        time.sleep(4.5)  # two samples of the 2 s timer at least: a window to take rates over
        status, document = worker.get("/live.json?lang=zh", headers=headers)
    assert status == 200
    assert document["rates"]["events_total"] > 0 and document["window_seconds"] > 0
    assert document["policy_version"] == default_policy().version
    assert document["engine"] in ("compiled", "python")
    assert set(document) >= {
        "approval",
        "dead_letters",
        "score_bands",
        "lag",
        "recent_decisions",
        "latency_ms",
    }
    assert worker.get("/live.json?lang=fr", headers=headers)[0] == 400
    assert EVENTS.name in {row["topic"].removeprefix(worker.prefix) for row in document["lag"]}
