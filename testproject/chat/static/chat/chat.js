// The chat page: the user's rooms with unread badges, the open room's messages, and a box to send.
// Every room has a cursor, the id of the newest message the page knows of in it (from the page's data, history and
// broadcasts). Each time the socket opens, the page catches up from those cursors with select_room "since": the
// open room first (shown, or reloaded at its latest page when more than a page was missed), then every other
// room (counted into its badge). Messages are kept by id, so nothing shows or counts twice.
// Who is online in each room comes with every select_room reply and changes with each presence frame after it;
// the open room's list is shown beside its title, and its comings and goings as short notices among its messages.

import { MessageList } from "./messages.js";
import { ChatSocket, SESSION_ENDED, TRY_AGAIN_LATER } from "./socket.js";

const HISTORY_LENGTH = 20; // services.HISTORY_LENGTH: a page of the latest messages, or of older ones
const AUTHENTICATION_REQUIRED = "Authentication required before sending any other messages";
const INVALID_ROOM = "Invalid room id";
const NEAR_TOP_PX = 60; // this close to the top of the messages, the older page is asked for

const app = document.querySelector(".app");
const roomList = document.getElementById("rooms");
const noRooms = document.getElementById("no-rooms");
const roomTitle = document.getElementById("room-title");
const onlineList = document.getElementById("online");
const composer = document.getElementById("composer");
const input = document.getElementById("text");
const sendButton = composer.querySelector("button");
const statusLine = document.getElementById("status");
const errorLine = document.getElementById("error");
const me = app.dataset.username;
const messages = new MessageList(document.getElementById("messages"), me);

const rooms = new Map();
const roomItems = new Map(); // room id -> its <li> in the room list
JSON.parse(document.getElementById("rooms-data").textContent).forEach(addRoom);
let selected = null; // id of the open room
let loaded = false; // the open room's latest page has been shown
let hasOlder = false; // the open room has messages older than those shown
let loadingOlder = false;
let pending = null; // uuid of our message in flight: the input is cleared when its broadcast comes back
let errorTimer = null;

const socket = new ChatSocket({ onOpen: opened, onFrame: handle, onClose: closed });

function addRoom({ id, title, last }) {
  // unread: ids, so a message counts once; online: usernames, as the server last said
  rooms.set(id, { id, title, last, unread: new Set(), online: new Set() });
}

function opened() {
  setOnline(true, "Connected");
  const open = rooms.get(selected);
  const others = [...rooms.values()].filter((room) => room !== open);
  if (open) catchUpOpenRoom(open);
  others.forEach(countMissed);
}

function closed(code, retryDelay) {
  if (code === SESSION_ENDED) {
    endSession();
    return;
  }
  rooms.forEach((room) => room.online.clear()); // unknown until the next connection's select_room replies
  renderPresence();
  const state = code === TRY_AGAIN_LATER ? "Chat unavailable" : "Offline";
  setOnline(false, `${state}, reconnecting in ${Math.round(retryDelay / 1000) || 1}s`);
}

// Frames that answer no request: broadcasts, membership and presence changes, and errors about our new_message.
function handle(frame) {
  if (frame.status === "error") {
    if (frame.uuid === pending) pending = null;
    failed(frame);
    return;
  }
  if (frame.action === "new_message") {
    if (frame.uuid === pending) {
      pending = null;
      input.value = "";
    }
    if (rooms.has(frame.room)) deliver(rooms.get(frame.room), [frame.message]);
  } else if (frame.action === "membership") {
    if (frame.member) joinRoom(frame.room, frame.title);
    else leaveRoom(frame.room);
    renderRooms();
  } else if (frame.action === "presence") {
    presenceChanged(frame);
  }
}

// A member of a room came online (their first connection) or went offline (their last).
function presenceChanged({ room: id, user: { username }, online }) {
  const room = rooms.get(id);
  if (room === undefined) return;
  if (online) room.online.add(username);
  else room.online.delete(username);
  if (id !== selected) return;
  renderPresence();
  if (username !== me) messages.notice(`${username} ${online ? "came online" : "went offline"}`);
}

// A page whose session ended (logged out, expired, password changed) goes to the login page, which says so.
function failed(frame) {
  if (frame.error_message === AUTHENTICATION_REQUIRED) endSession();
  else showError(frame.error_message);
}

function endSession() {
  socket.stop();
  location.assign("/?session=ended");
}

// select_room: the reply, or null when there is none to act on (connection lost; session ended; the user was
// taken out of the room while the page was offline, so that it missed the membership frame).
async function selectRoomRequest(room, fields) {
  const reply = await socket.request("select_room", { room: room.id, ...fields });
  if (reply === null) return null;
  if (reply.status === "success") {
    // Presence frames sent after this reply come after it: they change this list, never an older one.
    if (reply.online) room.online = new Set(reply.online);
    if (room.id === selected) renderPresence();
    return reply;
  }
  if (reply.error_message === AUTHENTICATION_REQUIRED) {
    endSession();
    return null;
  }
  if (reply.error_message === INVALID_ROOM) {
    if (rooms.get(room.id) === room) leaveRoom(room.id);
    renderRooms();
    return null;
  }
  return reply;
}

// Messages of a room, new to the page: shown if it is open, counted into its badge otherwise.
function deliver(room, list) {
  for (const message of list) {
    room.last = Math.max(room.last, message.id);
    if (room.id === selected) messages.add(message);
    else room.unread.add(message.id);
  }
  if (list.length) renderRooms();
}

async function catchUpOpenRoom(room) {
  if (loaded && room.last) {
    const reply = await selectRoomRequest(room, { since: room.last });
    if (reply === null) return; // the next connection catches up from the same cursor
    if (reply.status === "success" && !reply.has_more && reply.room_messages.length <= HISTORY_LENGTH) {
      deliver(room, reply.room_messages);
      return;
    }
  }
  // More than a page missed (scrollback reaches the rest), nothing shown yet, or the cursor's message was deleted.
  if (room.id === selected) loadLatest(room);
  else countMissed(room);
}

async function countMissed(room) {
  for (let since = room.last; since; ) {
    const reply = await selectRoomRequest(room, { since });
    if (reply === null) return;
    if (reply.status === "error") break; // the cursor's message was deleted
    deliver(room, reply.room_messages);
    if (!reply.has_more) return;
    since = reply.room_messages[reply.room_messages.length - 1].id;
  }
  countBack(room, room.last);
}

// Pages back from the latest message until one at or before `after` (0: count them all).
async function countBack(room, after) {
  for (let fields = {}; ; ) {
    const reply = await selectRoomRequest(room, fields);
    if (reply === null || reply.status === "error") return;
    const newer = reply.room_messages.filter((message) => message.id > after);
    deliver(room, newer);
    if (!reply.has_more || newer.length < reply.room_messages.length) return;
    fields = { before: reply.room_messages[0].id };
  }
}

async function loadLatest(room) {
  const reply = await selectRoomRequest(room, {});
  if (reply === null || room.id !== selected) return;
  if (reply.status === "error") {
    showError(reply.error_message);
    return;
  }
  reply.room_messages.forEach((message) => (room.last = Math.max(room.last, message.id)));
  messages.replace(reply.room_messages);
  loaded = true;
  olderPage(room, reply.has_more);
}

async function loadOlder() {
  const room = rooms.get(selected);
  loadingOlder = true;
  const reply = await selectRoomRequest(room, { before: messages.oldest });
  loadingOlder = false;
  if (reply === null || room.id !== selected) return;
  if (reply.status === "error") {
    showError(reply.error_message);
    return;
  }
  messages.prepend(reply.room_messages);
  olderPage(room, reply.has_more);
}

function olderPage(room, more) {
  hasOlder = more;
  if (!more) messages.showStart(room.title);
  else if (messages.unfilled) loadOlder(); // no scrollbar to scroll up with: fill the list first
}

function wantsOlder() {
  return hasOlder && !loadingOlder && messages.oldest !== null && messages.element.scrollTop < NEAR_TOP_PX;
}

function selectRoom(id) {
  const room = rooms.get(id);
  selected = id;
  loaded = hasOlder = false;
  room.unread.clear();
  roomTitle.textContent = room.title;
  renderPresence();
  messages.clear();
  input.placeholder = `Message ${room.title}`;
  renderRooms();
  updateComposer();
  loadLatest(room);
  input.focus();
}

// A room the user was just added to: its latest message is where its badge starts counting.
async function joinRoom(id, title) {
  addRoom({ id, title, last: 0 });
  const reply = await selectRoomRequest(rooms.get(id), {});
  if (reply !== null && reply.status === "success" && rooms.has(id)) {
    reply.room_messages.forEach((message) => (rooms.get(id).last = Math.max(rooms.get(id).last, message.id)));
  }
}

function leaveRoom(id) {
  rooms.delete(id);
  roomItems.delete(id);
  if (selected !== id) return;
  selected = null;
  loaded = hasOlder = false;
  roomTitle.textContent = "Pick a room";
  renderPresence();
  messages.clear();
  updateComposer();
}

// Buttons are kept across renders, so a click never lands on one that a badge update has just replaced.
function renderRooms() {
  const items = [...rooms.values()].sort((a, b) => a.title.localeCompare(b.title)).map(roomItem);
  roomList.replaceChildren(...items);
  noRooms.hidden = rooms.size > 0;
}

function roomItem(room) {
  let item = roomItems.get(room.id);
  if (item === undefined) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.room = room.id;
    button.addEventListener("click", () => selectRoom(room.id));
    const title = document.createElement("span");
    title.textContent = room.title;
    button.append(title);
    item = document.createElement("li");
    item.append(button);
    roomItems.set(room.id, item);
  }
  const button = item.firstElementChild;
  button.setAttribute("aria-current", String(room.id === selected));
  let badge = button.querySelector(".badge");
  if (room.unread.size === 0) {
    if (badge) badge.remove();
    return item;
  }
  if (!badge) {
    badge = document.createElement("span");
    badge.className = "badge";
    button.append(badge);
  }
  badge.textContent = String(room.unread.size);
  return item;
}

function renderPresence() {
  const room = rooms.get(selected);
  const names = room ? [...room.online].sort() : [];
  onlineList.replaceChildren(
    ...names.map((name) => {
      const item = document.createElement("li");
      item.textContent = name;
      return item;
    }),
  );
}

function setOnline(online, text) {
  statusLine.textContent = text;
  statusLine.classList.toggle("offline", !online);
  updateComposer();
}

function updateComposer() {
  input.disabled = sendButton.disabled = !(socket.isOpen && selected);
}

function showError(message) {
  errorLine.textContent = message;
  errorLine.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => (errorLine.hidden = true), 5000);
}

messages.element.addEventListener("scroll", () => {
  if (wantsOlder()) loadOlder();
});

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  if (!selected || !input.value.trim() || !socket.isOpen) return;
  errorLine.hidden = true;
  pending = socket.send("new_message", { room: selected, text: input.value });
});

renderRooms();
socket.connect();
