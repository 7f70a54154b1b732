"""Scrollback and catching up as a person sees them, in headless chromium, on a site whose users may post in bulk."""

from __future__ import annotations

import json
import uuid

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as until
from selenium.webdriver.support.wait import WebDriverWait

from tests.testproject.chromium import (
    MESSAGES,
    RECONNECT_WAIT,
    RECORD_FRAMES,
    STATUS,
    WAIT,
    badge,
    log_in,
    open_room,
    post_over_http,
    sent_frames,
    shown_messages,
    wait_for_message,
)

# Scrolls the messages to the top; returns the oldest message shown and where it sits on screen, both read before
# the scroll event (dispatched after this script) can bring in the older page.
SCROLL_TO_TOP = """
const list = document.getElementById('messages');
list.scrollTop = 0;
const oldest = list.querySelector('li[data-id]');
return [Number(oldest.dataset.id), oldest.getBoundingClientRect().top];
"""


def load_older(driver):
    """Scroll to the top and wait for the older page; return the oldest message before it, and its place then."""
    shown = len(shown_messages(driver))
    message_id, top = driver.execute_script(SCROLL_TO_TOP)
    WebDriverWait(driver, WAIT).until(lambda driver: len(shown_messages(driver)) > shown)
    return message_id, top


def place_of(driver, message_id):
    return driver.execute_script(
        "return document.querySelector(`#messages li[data-id='${arguments[0]}']`).getBoundingClientRect().top;",
        message_id,
    )


def texts_of(driver, prefix):
    return [text for _, text in shown_messages(driver) if text.startswith(prefix)]


def test_scrolling_to_the_top_loads_older_messages_in_place_until_the_room_s_first(
    busy_site, busy_demo, browser, tmp_path
):
    a, b = busy_site.servers
    run = uuid.uuid4().hex[:6]
    title = f"Scrollback {run}"
    room = busy_site.manage("create_room", title, "--member", "alice", "--member", "bob")
    for n in range(1, 46):
        post_over_http(a, busy_demo["alice"], room, f"{run} #{n}")
    bob = browser()
    log_in(bob, b, "bob")
    open_room(bob, title)
    wait_for_message(bob, f"{run} #45")
    assert texts_of(bob, run) == [f"{run} #{n}" for n in range(26, 46)]  # the latest 20
    bob.execute_script(RECORD_FRAMES)

    # Each time the reader reaches the top, the 20 before come in above, and what they read stays where it was.
    for oldest_now in (6, 1):
        message_id, top = load_older(bob)
        assert texts_of(bob, run)[0] == f"{run} #{oldest_now}"
        assert abs(place_of(bob, message_id) - top) <= 1
    WebDriverWait(bob, WAIT).until(until.text_to_be_present_in_element(MESSAGES, f"This is the beginning of {title}."))
    assert texts_of(bob, run) == [f"{run} #{n}" for n in range(1, 46)]
    ids = [message_id for message_id, _ in shown_messages(bob)]
    assert ids == sorted(set(ids))
    bob.save_screenshot(str(tmp_path / "scrollback.png"))

    # At the room's first message the page stops asking: scrolling up again sends nothing.
    asked = [frame.get("before") for frame in sent_frames(bob) if frame["action"] == "select_room"]
    assert asked == [ids[25], ids[5]]
    bob.execute_script(
        "const list = document.getElementById('messages'); list.scrollTop = 0;list.dispatchEvent(new Event('scroll'));"
    )
    assert len(sent_frames(bob)) == 2


def test_after_its_process_is_killed_the_page_catches_up_every_room_with_nothing_twice(
    busy_site, busy_demo, browser, tmp_path
):
    a, b = busy_site.servers
    run = uuid.uuid4().hex[:6]
    alice = busy_demo["alice"]
    # General has messages before the drop, so the page catches up from the last one ("since"); "Alice and Bob"
    # has none yet (only this test posts there), so the page counts back from its latest; the side room has one.
    side = busy_site.manage("create_room", f"Side {run}", "--member", "alice", "--member", "bob")
    gone = busy_site.manage("create_room", f"Gone {run}", "--member", "alice", "--member", "bob")
    for n in range(1, 4):
        post_over_http(a, alice, busy_demo["General"], f"{run} before the drop {n}")
    post_over_http(a, alice, side, f"{run} side before the drop")
    bob = browser()
    log_in(bob, b, "bob")
    open_room(bob, "General")
    wait_for_message(bob, f"{run} before the drop 3")
    before = shown_messages(bob)
    lasts = {
        room["id"]: room["last"]
        for room in json.loads(bob.find_element(By.ID, "rooms-data").get_attribute("textContent"))
    }
    bob.execute_script(RECORD_FRAMES)
    try:
        b.kill()
        WebDriverWait(bob, WAIT).until(until.text_to_be_present_in_element(STATUS, "Offline"))
        for n in range(1, 31):
            post_over_http(a, alice, busy_demo["General"], f"{run} general {n}")
        for n in range(1, 6):
            post_over_http(a, alice, busy_demo["Alice and Bob"], f"{run} alice and bob {n}")
        for n in range(1, 4):
            post_over_http(a, alice, side, f"{run} side {n}")
        # Taken out of a room meanwhile, Bob's page missed the membership frame: its catch-up finds out.
        code = f"from testproject.chat.models import ChatRoom; ChatRoom.objects.get(pk={gone!r}).members.clear()"
        busy_site.manage("shell", "--verbosity", "0", "-c", code)
    finally:
        b.start()
    WebDriverWait(bob, RECONNECT_WAIT).until(until.text_to_be_present_in_element(STATUS, "Connected"))

    # The open room shows the latest page; each other room's badge counts exactly what it missed.
    wait_for_message(bob, f"{run} general 30")
    WebDriverWait(bob, WAIT).until(lambda driver: badge(driver, "Alice and Bob") == "5")
    WebDriverWait(bob, WAIT).until(lambda driver: badge(driver, f"Side {run}") == "3")
    assert texts_of(bob, f"{run} general") == [f"{run} general {n}" for n in range(11, 31)]
    WebDriverWait(bob, WAIT).until(lambda driver: not driver.find_elements(By.CSS_SELECTOR, f"[data-room='{gone}']"))
    bob.save_screenshot(str(tmp_path / "caught-up.png"))

    # Scrollback reaches the rest, down to what the page showed before the drop, each message once.
    while f"{run} before the drop 1" not in texts_of(bob, run):
        load_older(bob)
    assert texts_of(bob, run) == [
        *(f"{run} before the drop {n}" for n in range(1, 4)),
        *(f"{run} general {n}" for n in range(1, 31)),
    ]
    ids = [message_id for message_id, _ in shown_messages(bob)]
    assert ids == sorted(set(ids))
    assert set(before) <= set(shown_messages(bob))
    assert (badge(bob, "Alice and Bob"), badge(bob, f"Side {run}")) == ("5", "3")

    # The frames behind it: the open room from its last message first, then each other room once (from its last
    # message; from its latest when it had none: "Alice and Bob"), then the open room's latest page (30 missed).
    general = busy_demo["General"]
    assert (lasts[general], lasts[busy_demo["Alice and Bob"]]) == (before[-1][0], 0) and lasts[side] > 0
    expected = [
        (general, lasts[general], None),
        *((room, last or None, None) for room, last in lasts.items() if room != general),
        (general, None, None),
    ]
    frames = [frame for frame in sent_frames(bob) if frame["action"] == "select_room"]
    cursors = [(frame["room"], frame.get("since"), frame.get("before")) for frame in frames]
    assert cursors[: len(expected)] == expected
    assert all(room == general and before_id for room, _, before_id in cursors[len(expected) :])  # scrollback
