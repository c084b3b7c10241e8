"""The page of ``asr serve`` in a real headless Chromium (Debian's chromium and chromium-driver, driven by
selenium) against a real server: upload a demo-corpus WAV, read the words, play one, download subtitles,
record from a (fake) microphone, see an error. A screenshot is saved (``ASR_TEST_ARTIFACTS=DIR`` keeps a copy).

``ASR_BROWSER_TEST_MODEL=path/to/model_best.pt`` runs it with a trained model instead of the tests' own
untrained one (words from the demo model look like words in the screenshot)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from serve_support import demo_wavs, running_server, talkative_model, upload

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no headless browser here: apt-get install chromium chromium-driver (.ci/run installs them)")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("page")
    wavs = demo_wavs(root / "demo")
    model = Path(os.environ.get("ASR_BROWSER_TEST_MODEL") or talkative_model(root / "model.pt"))
    with running_server(model, root / "server") as server:
        yield server, wavs, root


@pytest.fixture(scope="module")
def browser(setup):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    _, wavs, _ = setup
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1000,820", "--autoplay-policy=no-user-gesture-required",
                # a microphone that plays a demo utterance, allowed without asking
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={wavs[0]}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


def wait_for(driver, condition, timeout: float = 60.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d))


def words_on_page(driver) -> list[dict]:
    return driver.execute_script("""
        return [...document.querySelectorAll('#transcript .word')].map(s => ({
            word: s.textContent, start: Number(s.dataset.start), end: Number(s.dataset.end),
            confidence: Number(s.dataset.confidence),
            alpha: Number(getComputedStyle(s).backgroundColor.match(/[\\d.]+(?=\\)$)/)[0])}));""")


def blob_text(driver, element_id: str) -> str:
    return driver.execute_async_script(
        "const done = arguments[1]; fetch(document.getElementById(arguments[0]).href)"
        ".then(r => r.text()).then(done, e => done(`failed: ${e}`));", element_id)


def test_upload_shows_shaded_words_plays_them_and_downloads_subtitles(setup, browser):
    from selenium.webdriver.common.by import By

    server, wavs, root = setup
    wav = wavs[2]
    expected = json.loads(upload(server.url, wav.name, wav.read_bytes())[2])
    browser.get(server.url)
    wait_for(browser, lambda d: "units" in d.find_element(By.ID, "model-info").text)
    assert "greedy decoding" in browser.find_element(By.ID, "model-info").text

    browser.find_element(By.ID, "file").send_keys(str(wav))
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#transcript .word"))
    shown = words_on_page(browser)
    # the page shows exactly the server's words, times and confidences, in order
    assert [(w["word"], w["start"], w["end"], w["confidence"]) for w in shown] == [
        (w["word"], w["start"], w["end"], w["confidence"]) for w in expected["words"]]
    assert len(shown) >= 2
    # shaded by confidence: the less sure, the stronger the shade
    for a in shown:
        for b in shown:
            if a["confidence"] < b["confidence"]:  # the shade's alpha is rounded: strict past 0.01
                assert a["alpha"] >= b["alpha"], (a, b)
                assert a["alpha"] > b["alpha"] or b["confidence"] - a["confidence"] < 0.01, (a, b)
    assert browser.find_element(By.ID, "result-name").text == wav.name
    assert re.fullmatch(rf"{len(shown)} words in [\d.]+ s\.", browser.find_element(By.ID, "status").text)

    # downloads: the server's own SRT and VTT for this file
    for fmt in ("srt", "vtt"):
        link = browser.find_element(By.ID, f"download-{fmt}")
        assert link.get_attribute("download") == f"{wav.stem}.{fmt}"
        assert blob_text(browser, f"download-{fmt}") == upload(server.url, wav.name, wav.read_bytes(),
                                                                f"?format={fmt}")[2].decode()

    shot = root / "page.png"
    browser.save_screenshot(str(shot))
    if os.environ.get("ASR_TEST_ARTIFACTS"):
        Path(os.environ["ASR_TEST_ARTIFACTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(os.environ["ASR_TEST_ARTIFACTS"]) / "serve_page.png")
    assert shot.stat().st_size > 10_000

    # a click plays that word's stretch of the audio, and stops at its end
    word = max(shown[:-1], key=lambda w: w["end"] - w["start"])  # not the last: the file's end would stop it
    span = browser.find_elements(By.CSS_SELECTOR, "#transcript .word")[shown.index(word)]
    span.click()
    player = browser.find_element(By.ID, "player")
    assert "playing" in span.get_attribute("class")
    assert abs(float(player.get_property("currentTime")) - word["start"]) < 0.3
    wait_for(browser, lambda d: player.get_property("paused") and "playing" not in span.get_attribute("class"),
             timeout=word["end"] - word["start"] + 10)
    # timeupdate fires every quarter second or so: the pause comes a little after the word's end
    assert word["end"] - 0.05 <= float(player.get_property("currentTime")) <= word["end"] + 0.6


def test_recording_from_the_microphone_is_sent_as_wav_and_transcribed(setup, browser):
    from selenium.webdriver.common.by import By

    server, _, _ = setup
    browser.get(server.url)
    wait_for(browser, lambda d: "units" in d.find_element(By.ID, "model-info").text)
    browser.find_element(By.ID, "record").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "record").text == "Stop")
    time.sleep(3)
    browser.find_element(By.ID, "record").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "result-name").text == "recording.wav"
             or "error" in d.find_element(By.ID, "status").get_attribute("class"))
    status = browser.find_element(By.ID, "status").text
    assert re.fullmatch(r"\d+ words in [\d.]+ s\.", status), status
    assert browser.find_elements(By.CSS_SELECTOR, "#transcript .word")
    # what was sent: a 16 kHz mono WAV of about the three seconds recorded
    duration = browser.execute_async_script(
        "const done = arguments[0]; fetch(document.getElementById('player').src).then(r => r.arrayBuffer())"
        ".then(b => { const v = new DataView(b); done([String.fromCharCode(...new Uint8Array(b, 0, 4)),"
        " v.getUint32(24, true), v.getUint16(22, true), v.getUint32(40, true) / 2 / v.getUint32(24, true)]); });")
    assert duration[:3] == ["RIFF", 16000, 1] and 2.0 < duration[3] < 5.0


def test_a_file_that_is_not_audio_shows_the_servers_one_line_error(setup, browser, tmp_path):
    from selenium.webdriver.common.by import By

    server, _, _ = setup
    bad = tmp_path / "notes.wav"
    bad.write_bytes(b"shopping list: milk, eggs\n" * 20)
    expected = json.loads(upload(server.url, bad.name, bad.read_bytes())[2])["error"]
    browser.get(server.url)
    browser.find_element(By.ID, "file").send_keys(str(bad))
    wait_for(browser, lambda d: "error" in d.find_element(By.ID, "status").get_attribute("class"))
    assert browser.find_element(By.ID, "status").text == expected
    assert expected.startswith("notes.wav: cannot read audio header")
    assert not browser.find_element(By.ID, "result").is_displayed()
