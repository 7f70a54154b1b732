"""Who is online, as a person sees it: headless Debian chromium, two users in two pages on two daphne processes."""

from __future__ import annotations

import uuid

from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as until
from selenium.webdriver.support.wait import WebDriverWait

from tests.testproject.chromium import MESSAGES, WAIT, log_in, open_room


def online(driver: WebDriver) -> list[str]:
    """The names listed as online beside the open room's title (read at once: the page may redraw the list)."""
    script = "return [...document.querySelectorAll('#online li')].map((item) => item.textContent);"
    return list(driver.execute_script(script))


def shows_online(driver: WebDriver, names: list[str]) -> None:
    WebDriverWait(driver, WAIT).until(lambda driver: online(driver) == names)


def test_a_page_shows_another_member_coming_online_and_going_offline(chat_site, demo, browser, tmp_path):
    a, b = chat_site.servers
    title = f"Presence {uuid.uuid4().hex[:8]}"  # a room of this test's own: nobody else is ever online in it
    chat_site.manage("create_room", title, "--member", "alice", "--member", "bob")
    bob = browser()
    log_in(bob, b, "bob")
    open_room(bob, title)
    shows_online(bob, ["bob"])

    alice = browser()
    log_in(alice, a, "alice")  # her page on the other process; she has not even opened the room
    shows_online(bob, ["alice", "bob"])
    WebDriverWait(bob, WAIT).until(until.text_to_be_present_in_element(MESSAGES, "alice came online"))
    bob.save_screenshot(str(tmp_path / "alice-online.png"))

    chat_tab = alice.current_window_handle
    alice.switch_to.new_window("tab")
    alice.switch_to.window(chat_tab)
    alice.close()  # she closes the chat's tab (her browser stays open), and with it the page's socket
    shows_online(bob, ["bob"])
    WebDriverWait(bob, WAIT).until(until.text_to_be_present_in_element(MESSAGES, "alice went offline"))
    bob.save_screenshot(str(tmp_path / "alice-offline.png"))
