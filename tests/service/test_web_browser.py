"""The web front end in headless Chromium against a real server on 127.0.0.1.

A provider registers a model through the form; a user goes from a spreadsheet upload to the
model and predictions downloads; a card with a script in it is shown as text and runs nothing;
a page on another origin that posts the admin's key form is refused. Every page visited has a
label for each form control, fits a phone-width window without sideways scrolling, and is
saved as a screenshot: into ``$RECYCLE_WEB_SCREENSHOTS`` when set (``docs/screenshots`` is made
that way), else into the test's temporary folder.

Debian's ``chromium`` and ``chromium-driver`` drive it (``scripts/setup.sh`` installs them);
without them these tests are skipped with that reason.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from selenium import webdriver  # the dev extra, installed with pytest by `make test`
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from image_helpers import save_digit
from web_helpers import Site, digits_csv, model_files, register_api, serve

CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM = next(
    (
        p
        for p in ("/usr/lib/chromium/chromium", shutil.which("chromium") or "")
        if os.path.exists(p)
    ),
    None,
)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMEDRIVER is None or CHROMIUM is None,
        reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
        "chromium-driver; scripts/setup.sh does it)",
    ),
]
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

DESKTOP = (1280, 900)
PHONE = (390, 844)  # a common phone's CSS viewport
WAIT_S = 90  # a fit job on a loaded 2-core machine
XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("RECYCLE_WEB_SCREENSHOTS")
    out = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with serve(tmp_path_factory.mktemp("webb")) as s:
        register_api(s, "provider2", "digits.mlp-globex", 2, license="Apache-2.0",
                     description="Features of handwritten digits, 8x8 pixels.")  # fmt: skip
        register_api(s, "provider2", "digits.mlp-evil", 3, description=XSS)
        yield s


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def driver(downloads: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):  # fmt: skip
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    d = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    d.set_window_size(*DESKTOP)
    d.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    yield d
    d.quit()


def check_page(d: Any, shots: Path, name: str, phone: bool = True) -> None:
    """Labels on every control, no sideways scroll at phone width; screenshots of both."""
    unlabelled = d.execute_script(
        "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
        ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))"
        ".map(e => e.name || e.id)"
    )
    assert unlabelled == [], f"{name}: controls without a label: {unlabelled}"
    d.save_screenshot(str(shots / f"{name}.png"))
    if phone:
        d.set_window_size(*PHONE)
        overflow = d.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        d.save_screenshot(str(shots / f"{name}-phone.png"))
        d.set_window_size(*DESKTOP)
        assert overflow <= 0, f"{name}: {overflow}px sideways scroll at phone width"


def sign_in(d: Any, site: Site, who: str) -> None:
    """Sign in with the keyboard only: the key field has focus, type, Tab to the button, Enter."""
    d.delete_all_cookies()
    d.get(f"{site.url}/web/signin")
    field = d.switch_to.active_element
    assert field.get_attribute("id") == "api_key"
    field.send_keys(site.keys[who], Keys.TAB)
    button = d.switch_to.active_element
    assert button.text == "Sign in"
    button.send_keys(Keys.ENTER)
    WebDriverWait(d, 30).until(EC.url_contains("/web/zoo"))


def test_keyboard_skip_link_and_focus(driver: Any, site: Site) -> None:
    """The first Tab on a page reaches 'Skip to content'; Enter moves focus into the page."""
    d = driver
    sign_in(d, site, "user")
    d.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    skip = d.switch_to.active_element
    assert skip.text == "Skip to content" and skip.is_displayed()
    skip.send_keys(Keys.ENTER)
    assert d.switch_to.active_element.get_attribute("id") == "main"
    d.switch_to.active_element.send_keys(Keys.TAB)  # then the search box, first in the page
    assert d.switch_to.active_element.get_attribute("id") == "q"


def wait_for(d: Any, selector: str, timeout: float = WAIT_S) -> Any:
    return WebDriverWait(d, timeout).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, selector))
    )


def wait_file(folder: Path, suffix: str, timeout: float = 30, prefix: str = "") -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [
            p for p in folder.iterdir() if p.name.startswith(prefix) and p.name.endswith(suffix)
        ]
        if done:
            return done[0]
        time.sleep(0.2)
    raise AssertionError(f"no {suffix} downloaded into {folder}: {list(folder.iterdir())}")


def test_provider_registers_a_model(driver: Any, site: Site, shots: Path, tmp_path: Path) -> None:
    d = driver
    d.delete_all_cookies()
    d.get(f"{site.url}/web/zoo")  # not signed in: the sign-in page, with a way back
    assert "/web/signin?next=/web/zoo" in d.current_url
    check_page(d, shots, "signin")
    sign_in(d, site, "provider")
    m = model_files("digits.mlp-acme", 5, tmp_path)
    d.get(f"{site.url}/web/register")
    values = {"name": "Digits MLP", "task": "feature-extraction", "license": "MIT",
              "description": "An MLP over 8x8 digit images.", "input_shape": "64",
              "value_low": "0", "value_high": "16", "feature_dim": "16",
              "training_data_description": "scikit-learn digits"}  # fmt: skip
    for name, value in values.items():
        d.find_element(By.ID, name).clear()
        d.find_element(By.ID, name).send_keys(value)
    d.find_element(By.ID, "files").send_keys("\n".join(str(p) for p in m["files"]))
    d.find_element(By.ID, "config").send_keys(str(m["config"]))
    d.find_element(By.ID, "spec").send_keys(str(m["spec"]))
    d.find_element(By.CSS_SELECTOR, "button.primary[type=submit]").click()
    error = wait_for(d, "#name-error")  # "Digits MLP" is not a valid name
    assert "Card field 'name'" in error.text
    assert d.find_element(By.ID, "name").get_attribute("aria-invalid") == "true"
    check_page(d, shots, "register-error")
    d.find_element(By.ID, "name").clear()
    d.find_element(By.ID, "name").send_keys("digits.mlp-acme")
    for field, p in (("files", "\n".join(str(p) for p in m["files"])), ("config", m["config"]),
                     ("spec", m["spec"])):  # fmt: skip  # file inputs are not kept by browsers
        d.find_element(By.ID, field).send_keys(str(p))
    d.find_element(By.CSS_SELECTOR, "button.primary[type=submit]").click()
    WebDriverWait(d, WAIT_S).until(EC.url_contains("registered=1"))
    assert d.find_element(By.TAG_NAME, "h1").text.startswith("digits.mlp-acme")
    assert d.find_element(By.ID, "provider").text == "acme"
    entry = site.zoo.get("digits.mlp-acme")
    assert entry.card.provider == "acme" and entry.spec_sha256
    check_page(d, shots, "model")
    d.get(f"{site.url}/web/mine")
    rows = d.find_elements(By.CSS_SELECTOR, "#mine tbody tr")
    assert [r.find_element(By.TAG_NAME, "a").text for r in rows] == ["digits.mlp-acme"]
    check_page(d, shots, "my-models")


def test_user_goes_from_upload_to_download(
    driver: Any, site: Site, shots: Path, downloads: Path, tmp_path: Path
) -> None:
    d = driver
    sign_in(d, site, "user")
    check_page(d, shots, "zoo")
    train = digits_csv(tmp_path / "digits.csv", n=240, seed=0)
    unlabelled = digits_csv(tmp_path / "new-digits.csv", n=20, seed=7, label=False)
    d.get(f"{site.url}/web/recycle")
    check_page(d, shots, "upload")
    d.find_element(By.ID, "dataset").send_keys(str(train))
    d.find_element(By.CSS_SELECTOR, "button.primary").click()
    hits = wait_for(d, "#hits")
    names = [a.text for a in hits.find_elements(By.CSS_SELECTOR, "tbody label")]
    assert "digits.mlp-globex" in names and len(names) >= 2
    check_page(d, shots, "search")
    d.find_element(By.XPATH, "//button[contains(., 'Rank the ticked')]").click()
    ranking = wait_for(d, "#ranking")
    ranked = [x.text for x in ranking.find_elements(By.CSS_SELECTOR, "tbody label")]
    assert sorted(ranked) == sorted(names[:5])
    check_page(d, shots, "ranking")
    Select(d.find_element(By.ID, "strategy")).select_by_visible_text("linear_probe")
    Select(d.find_element(By.ID, "m")).select_by_visible_text("2")
    d.find_element(By.ID, "predict").send_keys(str(unlabelled))
    d.find_element(By.XPATH, "//button[. = 'Fit']").click()
    WebDriverWait(d, 30).until(EC.url_contains("/web/jobs/"))
    if d.find_elements(By.ID, "progress"):  # still working: the live progress bar
        check_page(d, shots, "fit-progress", phone=False)
    # No reload from the test: the page's script polls the job and shows the report when done.
    link = wait_for(d, "#download-model")
    assert d.find_element(By.CSS_SELECTOR, "#report dd").text == "linear_probe"
    check_page(d, shots, "report")
    link.click()
    archive = wait_file(downloads, ".tar.gz")
    with tarfile.open(archive) as tar:
        assert "model/recycler.json" in tar.getnames()
    d.find_element(By.ID, "download-predictions").click()
    preds = wait_file(downloads, ".csv").read_text().splitlines()
    assert preds[0] == "row,prediction" and len(preds) == 21
    assert all(line.split(",")[1].startswith("digit-") for line in preds[1:])
    # The ONNX export: a job of its own, then one file that runs in onnxruntime alone.
    d.find_element(By.ID, "export-onnx").click()
    onnx_link = wait_for(d, "#download-onnx")
    check_page(d, shots, "onnx-export")
    onnx_link.click()
    session = ort.InferenceSession(wait_file(downloads, ".onnx").read_bytes())
    rows = pd.read_csv(unlabelled).to_numpy(dtype=np.float32)
    proba = session.run(["probabilities"], {"input": rows})[0]
    classes = json.loads(session.get_modelmeta().custom_metadata_map["classes"])
    assert proba.shape == (20, len(classes))
    assert [classes[i] for i in proba.argmax(1)] == [line.split(",")[1] for line in preds[1:]]


def test_user_tries_a_model_on_a_sample(
    driver: Any, site: Site, shots: Path, tmp_path: Path
) -> None:
    d = driver
    sign_in(d, site, "user")
    d.find_element(By.LINK_TEXT, "digits.mlp-globex").click()
    sample = digits_csv(tmp_path / "sample.csv", n=4, seed=9, label=False)
    wait_for(d, "#sample").send_keys(str(sample))
    d.find_element(By.XPATH, "//button[. = 'Run']").click()
    rows = wait_for(d, "#tried").find_elements(By.CSS_SELECTOR, "tbody tr")
    assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == ["1", "2", "3", "4"]
    check_page(d, shots, "try-it")


def test_script_in_a_card_is_shown_as_text_and_never_runs(
    driver: Any, site: Site, shots: Path
) -> None:
    d = driver
    sign_in(d, site, "user")
    d.get(f"{site.url}/web/zoo?q=evil")
    d.find_element(By.LINK_TEXT, "digits.mlp-evil").click()
    wait_for(d, "#description")
    assert d.find_element(By.ID, "description").text == XSS
    assert d.execute_script("return window.__pwned") is None
    with pytest.raises(NoAlertPresentException):
        d.switch_to.alert.text  # noqa: B018 - raises when no alert is open
    assert not d.find_elements(By.CSS_SELECTOR, "main img")
    check_page(d, shots, "model-xss", phone=False)


class _EvilPage(http.server.BaseHTTPRequestHandler):
    """Another origin whose page posts the admin's 'create key' form to the recycle server."""

    target = ""

    def do_GET(self) -> None:
        body = (
            f'<form id="f" method="post" action="{self.target}/web/admin/keys">'
            '<input name="role" value="admin"><input name="owner" value="evil"></form>'
            "<script>document.getElementById('f').submit()</script>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_form_posted_from_another_site_is_refused(driver: Any, site: Site, shots: Path) -> None:
    d = driver
    sign_in(d, site, "admin")
    d.get(f"{site.url}/web/admin/keys")
    check_page(d, shots, "keys")
    before = {k["id"] for k in site.db.list_keys()}
    _EvilPage.target = site.url
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EvilPage)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        d.get(f"http://127.0.0.1:{evil.server_address[1]}/")
        WebDriverWait(d, 30).until(EC.url_contains("/web/admin/keys"))
        wait_for(d, "p.error")
        assert "another site" in d.find_element(By.CSS_SELECTOR, "p.error").text
    finally:
        evil.shutdown()
    check_page(d, shots, "csrf-refused", phone=False)
    assert {k["id"] for k in site.db.list_keys()} == before
    assert not [k for k in site.db.list_keys() if k["owner"] == "evil"]
    d.get(f"{site.url}/web/admin/audit")
    row = "//tr[td/code[contains(., 'POST /web/admin/keys')]]"
    statuses = [r.text for r in d.find_elements(By.XPATH, row + "/td[5]")]
    assert statuses and statuses[0] == "403"  # the refused attempt is in the audit log
    key_ids = d.find_elements(By.XPATH, row + "/td[2]")
    assert key_ids[0].text == site.keys["admin"].split("_")[1]  # with the key it rode on
    check_page(d, shots, "audit")


@pytest.fixture(scope="module")
def digit_images(site: Site, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """MNIST digits as a user has them: a zip of class folders and a zip of new images, each
    image in one of five formats, modes and sizes (28, 40, 56 px), with the clutter that
    zipping a folder on a Mac or in Jupyter adds; and the MNIST digit CNN in the zoo."""
    from recycle import datasets
    from recycle.sources import builtin
    from recycle.zoo.builtin_cards import builtin_card

    source = builtin("digitcnn.mnist")
    site.zoo.register(source, builtin_card("digitcnn.mnist", source), validate=False)
    root = tmp_path_factory.mktemp("digit-images")
    data = datasets.load("mnist")
    labels = np.asarray(data.y_test)
    truth = {}
    train, new = zipfile.ZipFile(root / "digits.zip", "w"), zipfile.ZipFile(root / "new.zip", "w")
    for digit in ("1", "4", "7", "9"):
        idx = np.flatnonzero(labels == data.classes.index(digit))
        for i, j in enumerate(idx[:12]):
            f = save_digit(data.X_test[j], root / f"{digit}_{j}", i)
            train.write(f, f"digits/digit{digit}/{f.name}")
        for i, j in enumerate(idx[300:305]):
            f = save_digit(data.X_test[j], root / f"new_{j}", i)
            new.write(f, f"new/{f.name}")
            truth[f"{f.name}"] = f"digit{digit}"
    for archive in (train, new):
        archive.writestr("__MACOSX/._x.png", b"\0junk")
        archive.writestr("digits/.ipynb_checkpoints/x.png", b"\0junk")
        archive.close()
    return {"train": root / "digits.zip", "new": root / "new.zip", "truth": truth}


def test_user_fits_on_a_zip_of_mixed_size_images_and_cancels_a_fit(
    driver: Any, site: Site, shots: Path, downloads: Path, digit_images: dict[str, Any]
) -> None:
    d = driver
    sign_in(d, site, "user")
    d.get(f"{site.url}/web/recycle")
    d.find_element(By.ID, "dataset").send_keys(str(digit_images["train"]))
    d.find_element(By.CSS_SELECTOR, "button.primary").click()
    tags = wait_for(d, "p.tags").text
    assert "image" in tags and "48 rows" in tags and "4 classes" in tags  # no clutter read
    check_page(d, shots, "images-dataset", phone=False)
    d.find_element(By.XPATH, "//button[contains(., 'Rank the ticked')]").click()
    wait_for(d, "#ranking")
    ranking_page = d.current_url
    Select(d.find_element(By.ID, "strategy")).select_by_visible_text("linear_probe")
    Select(d.find_element(By.ID, "m")).select_by_visible_text("1")
    d.find_element(By.ID, "predict").send_keys(str(digit_images["new"]))
    d.find_element(By.XPATH, "//button[. = 'Fit']").click()
    wait_for(d, "#download-predictions, #fit-error")
    assert not d.find_elements(By.ID, "fit-error"), d.find_element(By.ID, "fit-error").text
    d.find_element(By.ID, "download-predictions").click()
    rows = wait_file(downloads, ".csv", prefix="predictions-" + d.current_url.split("/")[-1])
    pred = dict(line.split(",") for line in rows.read_text().splitlines()[1:])
    truth = digit_images["truth"]
    assert set(pred) == {f"new/{name}" for name in truth}  # each image, named by its file
    accuracy = np.mean([pred[f"new/{name}"] == label for name, label in truth.items()])
    assert accuracy >= 0.9, pred  # a 4-way MNIST task with the MNIST CNN's features

    d.get(ranking_page)  # again, with the slow "auto" strategy, and cancel it
    Select(d.find_element(By.ID, "strategy")).select_by_visible_text("auto")
    d.find_element(By.XPATH, "//button[. = 'Fit']").click()
    wait_for(d, "#progress", timeout=30)
    job_id = d.current_url.split("/")[-1]
    d.find_element(By.XPATH, "//button[. = 'Cancel']").click()
    WebDriverWait(d, 30).until(
        EC.text_to_be_present_in_element((By.TAG_NAME, "main"), "The job cancelled")
    )
    check_page(d, shots, "cancelled", phone=False)
    assert site.db.get_job(job_id)["status"] == "cancelled"
    assert not (site.folder / "zoo" / "service-jobs" / job_id).exists()
