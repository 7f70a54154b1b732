"""A person's view: headless Debian chromium, two users in two pages, each page on its own daphne process."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as until
from selenium.webdriver.support.wait import WebDriverWait

from tests.testproject.chromium import (
    PASSWORD,
    RECONNECT_WAIT,
    STATUS,
    WAIT,
    badge,
    log_in,
    open_room,
    post_over_http,
    wait_for_message,
)
from tests.testproject.site import ChatSite

SESSION_ENDED = "Your session has ended"


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
    WebDriverWait(bob, WAIT).until(lambda driver: badge(driver, "General") == "1")
    bob.save_screenshot(str(tmp_path / "bob.png"))


def test_a_page_reconnects_after_its_process_restarts_and_shows_what_it_missed(chat_site, demo, browser):
    a, b = chat_site.servers
    bob = browser()
    log_in(bob, b, "bob")
    open_room(bob, "General")
    try:
        b.stop()
        WebDriverWait(bob, WAIT).until(until.text_to_be_present_in_element(STATUS, "Offline"))
        post_over_http(a, demo["carol"], demo["General"], "Sent while Bob was away")
    finally:
        b.start()
    WebDriverWait(bob, RECONNECT_WAIT).until(until.text_to_be_present_in_element(STATUS, "Connected"))
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
        WebDriverWait(alice, WAIT).until(until.text_to_be_present_in_element(STATUS, "Chat unavailable"))
        WebDriverWait(alice, 20).until(until.text_to_be_present_in_element(STATUS, "reconnecting in 4s"))
    finally:
        site.stop()


def test_a_page_whose_session_was_deleted_on_the_server_goes_to_the_login_page_and_says_why(
    chat_site, demo, browser, tmp_path
):
    a, b = chat_site.servers
    bob = browser()
    log_in(bob, b, "bob")
    key = bob.get_cookie("sessionid")["value"]
    code = f"from django.contrib.sessions.models import Session; print(Session.objects.filter(pk={key!r}).delete()[0])"
    assert chat_site.manage("shell", "--verbosity", "0", "-c", code) == "1"
    b.kill()  # as when scripts/demo.sh is stopped and run again: the page reconnects to a new process
    b.start()
    WebDriverWait(bob, RECONNECT_WAIT).until(until.text_to_be_present_in_element((By.TAG_NAME, "main"), SESSION_ENDED))
    assert bob.current_url == f"{b.url}/?session=ended"
    bob.find_element(By.NAME, "username")  # the login form, to log in again
    bob.save_screenshot(str(tmp_path / "session-ended.png"))


def test_a_page_logged_out_in_another_tab_goes_to_the_login_page_when_it_reconnects(chat_site, demo, browser):
    a, b = chat_site.servers
    alice = browser()
    log_in(alice, a, "alice")
    chat_tab = alice.current_window_handle
    alice.switch_to.new_window("tab")  # same browser, same session cookie
    alice.get(f"{a.url}/")
    alice.find_element(By.CSS_SELECTOR, "header form button").click()  # Log out: the cookie is gone too
    WebDriverWait(alice, WAIT).until(until.presence_of_element_located((By.NAME, "username")))
    alice.switch_to.window(chat_tab)
    a.kill()
    a.start()
    # No cookie, so the server cannot tell; the page's first request is refused as unauthenticated, and it knows.
    WebDriverWait(alice, RECONNECT_WAIT).until(
        until.text_to_be_present_in_element((By.TAG_NAME, "main"), SESSION_ENDED)
    )


def test_typing_faster_than_the_limit_shows_when_to_try_again_and_keeps_the_text(chat_site, demo, browser, tmp_path):
    a, _ = chat_site.servers
    bob = browser()
    log_in(bob, a, "bob")
    open_room(bob, "General")
    box = bob.find_element(By.ID, "text")
    error = bob.find_element(By.ID, "error")
    for n in range(1, 12):  # the default limit is 10 in 10 s: the 11th is refused at the latest
        box.send_keys(f"Quick message {n}" + Keys.ENTER)
        WebDriverWait(bob, WAIT).until(lambda driver: box.get_attribute("value") == "" or error.is_displayed())
        if error.is_displayed():
            break
    assert error.text.startswith("You are sending messages too fast: at most 10 messages in 10 seconds. Try again in")
    assert box.get_attribute("value") == f"Quick message {n}"  # to send again when the time is up
    bob.save_screenshot(str(tmp_path / "too-fast.png"))
