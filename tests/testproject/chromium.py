"""The chat page in headless Debian chromium, through selenium: starting it, and what a person does on the page."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as until
from selenium.webdriver.support.wait import WebDriverWait

from tests.testproject.site import ChatSite, Daphne

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Without the networking flags chromium keeps dialling Google's hosts, which this closed network refuses.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1100,700",
]
PASSWORD = "browser-test"
WAIT = 10
RECONNECT_WAIT = 20  # the page retries after 0.5, 1, 2, 4 s...: a restart of a second or two fits well inside
MESSAGES = (By.ID, "messages")
STATUS = (By.ID, "status")

# Records every frame the page sends, on its current socket and on those it opens after a reconnect.
RECORD_FRAMES = """
window.sentFrames = [];
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) { window.sentFrames.push(JSON.parse(data)); return send.call(this, data); };
"""


def launch(profile: Path) -> WebDriver:
    """A chromium page with a fresh profile of its own (cookies included)."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(binary) is None:
            raise RuntimeError(f"{binary} is missing: run scripts/test.sh, or apt-get install chromium chromium-driver")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT)
    return driver


def set_up_demo(site: ChatSite) -> dict[str, str]:
    """The demo's users and rooms on the site, as setup_demo prints them: API tokens by user, room ids by title."""
    output = site.manage("setup_demo", "--password", PASSWORD, "--new-tokens")  # a token is shown only when issued
    tokens = dict(re.findall(r"^  (\w+) +([0-9a-f]{76})$", output, re.MULTILINE))
    rooms = {title: room for room, title in re.findall(r"^  ([0-9a-f]{32})  (.+) \(", output, re.MULTILINE)}
    assert set(tokens) == {"alice", "bob", "carol"} and "General" in rooms, output
    return {**tokens, **rooms}


def log_in(driver: WebDriver, server: Daphne, username: str) -> None:
    driver.get(f"{server.url}/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD + Keys.ENTER)
    WebDriverWait(driver, WAIT).until(until.text_to_be_present_in_element(STATUS, "Connected"))


def open_room(driver: WebDriver, title: str) -> None:
    room_button(driver, title).click()
    WebDriverWait(driver, WAIT).until(until.element_to_be_clickable((By.ID, "text")))


def room_button(driver: WebDriver, title: str) -> WebElement:
    return driver.find_element(By.XPATH, f'//ul[@id="rooms"]//button[span[1][text()="{title}"]]')


def badge(driver: WebDriver, title: str) -> str:
    """The unread count beside a room, "" if none."""
    badges = room_button(driver, title).find_elements(By.CLASS_NAME, "badge")
    return badges[0].text if badges else ""


def wait_for_message(driver: WebDriver, text: str, timeout: float = WAIT) -> None:
    WebDriverWait(driver, timeout).until(until.text_to_be_present_in_element(MESSAGES, text))


def shown_messages(driver: WebDriver) -> list[tuple[int, str]]:
    """(id, text) of every message on screen, top to bottom."""
    script = """return [...document.querySelectorAll('#messages li[data-id]')]
        .map((item) => [Number(item.dataset.id), item.querySelector('p').textContent]);"""
    return [(message_id, text) for message_id, text in driver.execute_script(script)]


def sent_frames(driver: WebDriver) -> list[dict[str, Any]]:
    """The frames sent since RECORD_FRAMES ran."""
    return list(driver.execute_script("return window.sentFrames;"))


def post_over_http(server: Daphne, token: str, room: str, text: str) -> None:
    request = urllib.request.Request(
        f"{server.url}/api/rooms/{room}/messages/",
        data=json.dumps({"text": text}).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        assert response.status == 201
