"""The admin in a real browser at 1400x900: the job list, a failed job, the dashboard, schedules.

Drives Debian's headless Chromium (packages chromium and chromium-driver) with Selenium against
Django's live server, and saves a screenshot of each page under $DBQ_ARTIFACTS (default: a new
temporary folder, printed).
"""

import datetime
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from django.utils import timezone

from django_dbq.models import Job, JobState, Schedule
from django_dbq.testing import run_job

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WIDTH, HEIGHT = 1400, 900

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
        reason="the browser test needs Debian's chromium and chromium-driver packages "
        "(apt-get install chromium chromium-driver)",
    ),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the test extra)")
By = pytest.importorskip("selenium.webdriver.common.by").By
expected = pytest.importorskip("selenium.webdriver.support.expected_conditions")
WebDriverWait = pytest.importorskip("selenium.webdriver.support.wait").WebDriverWait


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("DBQ_ARTIFACTS") or tempfile.mkdtemp(prefix="dbq-browser-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots: {folder}")
    return folder


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        f"--window-size={WIDTH},{HEIGHT}",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def jobs():
    """A queue's worth of history: finished, failed, waiting and running jobs, a schedule."""
    now = timezone.now()
    for minutes in range(0, 50, 3):
        for queue_name in ("default", "emails"):
            done = Job.objects.create(name="three_steps", queue_name=queue_name)
            at = now - datetime.timedelta(minutes=minutes)
            Job.objects.filter(pk=done.pk).update(
                state=JobState.COMPLETED,
                step=2,
                next_task="",
                started_at=at - datetime.timedelta(seconds=2),
                finished_at=at,
            )
    failed = run_job(Job.objects.create(name="failing", queue_name="emails"))
    Job.objects.create(name="three_steps", run_after=now + datetime.timedelta(hours=2))
    Job.objects.create(name="process_pipeline", queue_name="emails", priority=5)
    running = Job.objects.create(name="three_steps")
    Job.objects.filter(pk=running.pk).update(
        state=JobState.PROCESSING,
        step=1,
        lease_owner="worker-host-1:4242:9f3c2a1b",
        lease_expires_at=now + datetime.timedelta(seconds=30),
        started_at=now - datetime.timedelta(seconds=40),
        progress_done=640,
        progress_total=1000,
        progress_message="resizing image 640",
        progress_at=now,
    )
    Schedule(name="nightly_report", job_name="basic", cron="30 3 * * 1-5").save()
    Schedule(
        name="every_quarter_hour",
        job_name="basic",
        cron="",
        interval=datetime.timedelta(minutes=15),
    ).save()
    return {"failed": failed, "running": running}


@pytest.fixture
def logged_in(browser, live_server, django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys("pw")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # A click does not wait for the page it opens.
    WebDriverWait(browser, 20).until(expected.presence_of_element_located((By.ID, "user-tools")))
    return browser


def visible_within_width(element) -> bool:
    rect = element.rect
    return element.is_displayed() and rect["x"] >= 0 and rect["x"] + rect["width"] <= WIDTH


def no_horizontal_scroll(browser) -> bool:
    """Neither the page nor the list's own box (which Django lets scroll) scrolls sideways."""
    return browser.execute_script(
        "var box = document.querySelector('#changelist .results');"
        "return document.documentElement.scrollWidth <= window.innerWidth"
        " && (!box || box.scrollWidth <= box.clientWidth);"
    )


def left_of_the_filters(browser, element) -> bool:
    """The element ends before the filter column starts (it is not hidden under it)."""
    filters = browser.find_element(By.ID, "changelist-filter")
    return element.rect["x"] + element.rect["width"] <= filters.rect["x"]


def test_the_job_list_fits_1400_pixels(logged_in, live_server, jobs, artifacts):
    logged_in.get(f"{live_server.url}/admin/django_dbq/job/")
    logged_in.save_screenshot(str(artifacts / "job_list.png"))
    for column in ("short_id", "state_badge", "step_and_progress", "runs_after", "duration"):
        header = logged_in.find_element(By.CSS_SELECTOR, f"#result_list th.column-{column}")
        assert visible_within_width(header), (column, header.rect)
        assert left_of_the_filters(logged_in, header), (column, header.rect)
    assert no_horizontal_scroll(logged_in)
    # "2 of 3" and its progress bar on one line: no taller than the cell of a one-line id.
    step = logged_in.find_element(By.CSS_SELECTOR, "#result_list td.field-step_and_progress")
    short_id = logged_in.find_element(By.CSS_SELECTOR, "#result_list th.field-short_id")
    assert step.rect["height"] <= short_id.rect["height"]
    bar = logged_in.find_element(
        By.CSS_SELECTOR, "#result_list td.field-step_and_progress .dbq-progress-under"
    )
    assert bar.get_attribute("title") == "64% (640 of 1000: resizing image 640)"
    dashboard = logged_in.find_element(By.CSS_SELECTOR, ".object-tools a[href$='/dashboard/']")
    assert dashboard.is_displayed()


def test_a_failed_job_shows_its_retry_button(logged_in, live_server, jobs, artifacts):
    logged_in.get(f"{live_server.url}/admin/django_dbq/job/{jobs['failed'].pk}/change/")
    logged_in.save_screenshot(str(artifacts / "failed_job.png"))
    retry = logged_in.find_element(By.XPATH, "//button[normalize-space()='Retry']")
    assert visible_within_width(retry)
    assert not logged_in.find_elements(By.XPATH, "//button[normalize-space()='Cancel']")
    retry.click()
    message = WebDriverWait(logged_in, 20).until(
        expected.presence_of_element_located((By.CSS_SELECTOR, "ul.messagelist li"))
    )
    assert "Retried 1 job(s)" in message.text
    logged_in.save_screenshot(str(artifacts / "failed_job_retried.png"))


def test_the_dashboard_shows_charts_workers_and_failures(logged_in, live_server, jobs, artifacts):
    logged_in.get(f"{live_server.url}/admin/django_dbq/dashboard/")
    logged_in.save_screenshot(str(artifacts / "dashboard.png"))
    charts = logged_in.find_elements(By.CSS_SELECTOR, "svg.dbq-chart")
    assert len(charts) == 2 and all(visible_within_width(chart) for chart in charts)
    assert "worker-host-1" in logged_in.find_element(By.CSS_SELECTOR, ".dbq-workers").text
    failures = logged_in.find_element(By.CSS_SELECTOR, ".dbq-failures")
    assert "failing" in failures.text
    assert no_horizontal_scroll(logged_in)
    pause = logged_in.find_element(By.ID, "dbq-pause")
    pause.click()
    assert pause.text == "Resume"


def test_the_schedule_list_keeps_rules_and_dates_on_one_line(
    logged_in, live_server, jobs, artifacts
):
    logged_in.get(f"{live_server.url}/admin/django_dbq/schedule/")
    logged_in.save_screenshot(str(artifacts / "schedule_list.png"))
    name = logged_in.find_element(By.CSS_SELECTOR, "#result_list th.field-name")
    for column in ("rule", "next_run"):
        cell = logged_in.find_element(By.CSS_SELECTOR, f"#result_list td.field-{column}")
        assert visible_within_width(cell), column
        assert left_of_the_filters(logged_in, cell), column
        assert cell.rect["height"] <= name.rect["height"], column
    assert no_horizontal_scroll(logged_in)


def test_a_running_job_shows_its_progress_bar(logged_in, live_server, jobs, artifacts):
    logged_in.get(f"{live_server.url}/admin/django_dbq/job/{jobs['running'].pk}/change/")
    logged_in.save_screenshot(str(artifacts / "job_progress.png"))
    bar = logged_in.find_element(By.CSS_SELECTOR, ".dbq-progress-wide")
    assert visible_within_width(bar) and bar.get_attribute("aria-valuenow") == "64"
    filled = bar.find_element(By.CSS_SELECTOR, "span")
    assert 0.6 * bar.rect["width"] <= filled.rect["width"] <= 0.7 * bar.rect["width"]
    text = logged_in.find_element(By.CSS_SELECTOR, ".field-reported_progress .dbq-progress-text")
    assert text.text.startswith("64% (640 of 1000): resizing image 640, reported 20")
    assert "<time" not in text.text


def test_paused_queues_are_named_above_the_job_list_and_listed(
    logged_in, live_server, jobs, artifacts
):
    from django_dbq import pauses

    pauses.pause("emails", by="ops", reason="mail provider down")
    pauses.pause("default", "three_steps")
    logged_in.get(f"{live_server.url}/admin/django_dbq/job/")
    logged_in.save_screenshot(str(artifacts / "job_list_paused.png"))
    notice = logged_in.find_element(By.CSS_SELECTOR, ".dbq-paused-notice")
    assert visible_within_width(notice)
    assert "queue emails" in notice.text and "job three_steps in queue default" in notice.text
    assert no_horizontal_scroll(logged_in)
    notice.find_element(By.LINK_TEXT, "resume").click()
    WebDriverWait(logged_in, 20).until(
        expected.presence_of_element_located((By.CSS_SELECTOR, "#result_list"))
    )
    logged_in.save_screenshot(str(artifacts / "paused_queues.png"))
    table = logged_in.find_element(By.CSS_SELECTOR, "#result_list").text
    assert "mail provider down" in table and "all jobs" in table and "three_steps" in table
