"""The web demo, driven in headless Chromium: upload, result, downloads, a bad file, offline page."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import trimesh

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
EXAMPLE = ROOT / "assets" / "examples" / "mug.png"
SCREENSHOT_COPY = ROOT / "docs" / "app.png"  # the README's picture, refreshed with REAL3D_UPDATE_SCREENSHOT=1

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()),
    reason="no browser installed (Debian: apt-get install chromium chromium-driver; .ci/run does)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"the app did not serve {url} within {timeout_s:.0f} s")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo on 127.0.0.1 (a free port) with the default model, on the CPU; stopped afterwards."""
    port = free_port()
    folder = tmp_path_factory.mktemp("app")
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(folder / "gradio"),
        "TMPDIR": str(folder),  # everything the app writes stays in the test's folder
        "OMP_NUM_THREADS": "1",
    }
    log_path = folder / "app.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "scripts/app.py", "--device", "cpu", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, process)
        yield url
    except (RuntimeError, TimeoutError) as exc:
        raise RuntimeError(f"{exc}; log:\n{log_path.read_text()}") from exc
    finally:
        process.terminate()
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_chromium(tmp_path: Path):  # noqa: ANN201 - selenium's WebDriver
    """Headless Chromium that can reach 127.0.0.1 only (so the page must work offline); downloads to tmp."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1200",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--enable-unsafe-swiftshader",  # software WebGL for the 3D viewer
    ):  # fmt: skip
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(tmp_path / "downloads"), "download.prompt_for_download": False}
    )
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path / "downloads")}
    )
    return driver


@pytest.fixture
def browser(tmp_path: Path):  # noqa: ANN201 - selenium's WebDriver
    pytest.importorskip("selenium")
    driver = start_chromium(tmp_path)
    yield driver
    driver.quit()


def set_number(driver, elem_id: str, value: int) -> None:  # noqa: ANN001
    """Type a value into a slider's number box, as a user does, and check that the slider took it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input[type=number]")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(value), Keys.TAB)
    slider = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input[type=range]")
    assert slider.get_attribute("value") == str(value)


def wait_for(driver, condition, timeout_s: float = 120.0, what: str = ""):  # noqa: ANN001, ANN201
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s, poll_frequency=0.25).until(condition, message=what)


def external_requests(driver) -> list[str]:  # noqa: ANN001
    """Every http(s) request the page made to a host other than 127.0.0.1."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if url.startswith("http") and not url.startswith("http://127.0.0.1:"):
                urls.append(url)
    return urls


def viewer_shows_a_mesh(driver) -> bool:  # noqa: ANN001
    """True once the middle of the 3D viewer is not blank (the mesh has been drawn)."""
    import io

    import numpy as np
    import PIL.Image
    from selenium.webdriver.common.by import By

    shot = driver.find_element(By.CSS_SELECTOR, "#model-3d canvas").screenshot_as_png
    pixels = np.asarray(PIL.Image.open(io.BytesIO(shot)).convert("L"), dtype=np.float32)
    h, w = pixels.shape
    middle = pixels[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
    return bool((np.abs(middle - np.median(pixels)) > 30).mean() > 0.01)


def viewer_file(driver) -> str | None:  # noqa: ANN001
    """The URL of the file the 3D viewer shows (its download link), if any."""
    from selenium.webdriver.common.by import By

    links = driver.find_elements(By.CSS_SELECTOR, "#model-3d a[data-testid=model3d-download-link]")
    return links[0].get_attribute("href") if links else None


def download(driver, elem_id: str, folder: Path, suffix: str) -> Path:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f"#{elem_id}").click()
    return wait_for(
        driver,
        lambda _: next((p for p in folder.glob(f"*{suffix}") if p.stat().st_size > 0), False),
        30,
        f"no {suffix} file downloaded",
    )


def test_app_in_a_browser(app_url: str, browser, tmp_path: Path) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    browser.get(app_url)
    line = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#model-line").text, 60, "no model line")
    assert "checkpoints/default/model.ckpt" in line and "default model" in line

    # Upload an example, small settings for speed, Generate.
    browser.find_element(By.CSS_SELECTOR, "#input-image input[type=file]").send_keys(str(EXAMPLE))
    set_number(browser, "mc-resolution", 32)
    set_number(browser, "video-views", 4)
    set_number(browser, "target-faces", 1000)  # the face budget
    floaters = browser.find_element(By.CSS_SELECTOR, "#keep-components")
    next(label for label in floaters.find_elements(By.TAG_NAME, "label") if "largest" in label.text).click()
    browser.find_element(By.CSS_SELECTOR, "#generate").click()
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#processed-image img"), 120, "no preprocessed image")
    video = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#video video[src]"), 120, "no video")[0]
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#model-3d canvas"), 60, "no 3D viewer")
    duration = wait_for(
        browser, lambda d: d.execute_script("return arguments[0].duration", video), 30, "video not decodable"
    )
    assert 0 < duration < 1.0  # 4 frames at 30 fps
    wait_for(browser, viewer_shows_a_mesh, 60, "the 3D viewer shows nothing")
    browser.save_screenshot(str(tmp_path / "app.png"))
    if os.environ.get("REAL3D_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(tmp_path / "app.png", SCREENSHOT_COPY)

    # Both downloads serve meshes that trimesh loads, within the face budget; the page says their faces and sizes.
    info = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#mesh-info").text, 30, "no mesh summary")
    for elem_id, suffix in (("download-glb", ".glb"), ("download-obj", ".obj")):
        mesh = trimesh.load(download(browser, elem_id, tmp_path / "downloads", suffix), force="mesh")
        assert 0 < len(mesh.faces) <= 1000 and len(mesh.vertices) > 0
        assert f"{len(mesh.faces):,} faces" in info and re.search(rf"{suffix[1:].upper()} \d+(\.\d)? [kM]B", info)

    # A file that is not an image: a clear message in the page.
    bad = tmp_path / "not_an_image.png"
    bad.write_text("this is text, not a picture")
    browser.find_element(By.CSS_SELECTOR, "#input-image button[aria-label='Remove Image']").click()
    browser.find_element(By.CSS_SELECTOR, "#input-image input[type=file]").send_keys(str(bad))
    browser.find_element(By.CSS_SELECTOR, "#generate").click()
    message = wait_for(
        browser,
        lambda d: next((t.text for t in d.find_elements(By.CSS_SELECTOR, ".toast-body") if t.text), False),
        60,
        "no error message",
    )
    assert "not_an_image.png: not a readable image" in message
    browser.save_screenshot(str(tmp_path / "bad_input.png"))

    # The server still serves: pick an example from the list, Generate again (mesh only).
    browser.find_element(By.CSS_SELECTOR, "#examples button.gallery-item").click()
    set_number(browser, "video-views", 0)
    first_mesh = viewer_file(browser)
    browser.find_element(By.CSS_SELECTOR, "#generate").click()
    wait_for(browser, lambda d: viewer_file(d) not in (None, first_mesh), 120, "no second result")
    assert not browser.find_elements(By.CSS_SELECTOR, "#video video[src]")
    assert external_requests(browser) == []
