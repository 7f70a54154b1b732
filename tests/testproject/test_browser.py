"""A person's view: headless Debian chromium, two users in two pages, each page on its own daphne process."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
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


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Callable[[], WebDriver]]:
    """Start chromium pages (each with a fresh profile); all are quit after the test."""
    drivers: list[WebDriver] = []

    def launch() -> WebDriver:
        for binary in (CHROMIUM, CHROMEDRIVER):
            if shutil.which(binary) is None:
                raise RuntimeError(
                    f"{binary} is missing: run scripts/test.sh, or apt-get install chromium chromium-driver"
                )
        options = Options()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={tmp_path / f'profile-{len(drivers)}'}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        drivers.append(driver)
        driver.set_page_load_timeout(WAIT)
        return driver

    yield launch
    for driver in drivers:
        driver.quit()


@pytest.fixture
def demo(chat_site: ChatSite) -> dict[str, str]:
    """The demo's users and rooms on the site, as setup_demo prints them: API tokens by user, room ids by title."""
    output = chat_site.manage("setup_demo", "--password", PASSWORD)
    tokens = dict(re.findall(r"^  (\w+) +([0-9a-f]{40})$", output, re.MULTILINE))
    rooms = {title: room for room, title in re.findall(r"^  ([0-9a-f]{32})  (.+) \(", output, re.MULTILINE)}
    assert set(tokens) == {"alice", "bob", "carol"} and "General" in rooms, output
    return {**tokens, **rooms}


def log_in(driver: WebDriver, server: Daphne, username: str) -> None:
    driver.get(f"{server.url}/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD + Keys.ENTER)
    WebDriverWait(driver, WAIT).until(until.text_to_be_present_in_element((By.ID, "status"), "Connected"))


def open_room(driver: WebDriver, title: str) -> None:
    room_button(driver, title).click()
    WebDriverWait(driver, WAIT).until(until.element_to_be_clickable((By.ID, "text")))


def room_button(driver: WebDriver, title: str):
    return driver.find_element(By.XPATH, f'//ul[@id="rooms"]//button[span[1][text()="{title}"]]')


def wait_for_message(driver: WebDriver, text: str, timeout: float = WAIT) -> None:
    WebDriverWait(driver, timeout).until(until.text_to_be_present_in_element((By.ID, "messages"), text))


def post_over_http(server: Daphne, token: str, room: str, text: str) -> None:
    request = urllib.request.Request(
        f"{server.url}/api/rooms/{room}/messages/",
        data=json.dumps({"text": text}).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        assert response.status == 201


def test_a_message_typed_in_one_page_appears_in_the_other(chat_site, demo, browser, tmp_path):
    a, b = chat_site.servers
    alice, bob = browser(), browser()
    log_in(alice, a, "alice")
    log_in(bob, b, "bob")
    open_room(alice, "Alice and Bob")
    open_room(bob, "Alice and Bob")

    alice.find_element(By.ID, "text").send_keys("Hello Bob, typed on process A" + Keys.ENTER)
    wait_for_message(bob, "Hello Bob, typed on process A")
    wait_for_message(alice, "Hello Bob, typed on process A")
    WebDriverWait(alice, WAIT).until(lambda driver: driver.find_element(By.ID, "text").get_attribute("value") == "")

    # A message in a room Bob has not opened shows as an unread badge beside it.
    post_over_http(a, demo["carol"], demo["General"], "Carol says hi to everyone")
    WebDriverWait(bob, WAIT).until(lambda driver: room_button(driver, "General").text.endswith("1"))
    bob.save_screenshot(str(tmp_path / "bob.png"))


def test_a_page_reconnects_after_its_process_restarts_and_shows_what_it_missed(chat_site, demo, browser):
    a, b = chat_site.servers
    bob = browser()
    log_in(bob, b, "bob")
    open_room(bob, "General")
    try:
        b.stop()
        WebDriverWait(bob, WAIT).until(until.text_to_be_present_in_element((By.ID, "status"), "Offline"))
        post_over_http(a, demo["carol"], demo["General"], "Sent while Bob was away")
    finally:
        b.start()
    WebDriverWait(bob, RECONNECT_WAIT).until(until.text_to_be_present_in_element((By.ID, "status"), "Connected"))
    wait_for_message(bob, "Sent while Bob was away")


def test_a_page_turned_away_while_redis_is_down_backs_off_instead_of_retrying_at_once(private_redis, browser, tmp_path):
    (tmp_path / "site").mkdir()
    site = ChatSite(tmp_path / "site", private_redis.url, processes=1, settings="tests.testproject.impatient_settings")
    site.start()
    try:
        site.manage("setup_demo", "--password", PASSWORD)
        (server,) = site.servers
        alice = browser()
        log_in(alice, server, "alice")
        private_redis.kill()
        alice.refresh()  # the page loads from the database; its socket is accepted, then closed with 4013
        # Turned away after about 1 s at every attempt, the page waits 0.5, 1, 2, then 4 s between attempts.
        status = (By.ID, "status")
        WebDriverWait(alice, WAIT).until(until.text_to_be_present_in_element(status, "Chat unavailable"))
        WebDriverWait(alice, 20).until(until.text_to_be_present_in_element(status, "reconnecting in 4s"))
    finally:
        site.stop()
