// The chat page's client: one WebSocket for all the user's rooms, speaking the protocol of chat/protocol.py.
// The session cookie authenticates the socket. After a drop it reconnects with capped backoff and selects the
// open room again, which replaces its history: messages sent while offline appear, none twice.

const app = document.querySelector(".app");
const me = app.dataset.username;
const roomList = document.getElementById("rooms");
const noRooms = document.getElementById("no-rooms");
const roomTitle = document.getElementById("room-title");
const messageList = document.getElementById("messages");
const composer = document.getElementById("composer");
const input = document.getElementById("text");
const sendButton = composer.querySelector("button");
const statusLine = document.getElementById("status");
const errorLine = document.getElementById("error");

const rooms = new Map(JSON.parse(document.getElementById("rooms-data").textContent).map((room) => [room.id, { ...room, unread: 0 }]));
const shown = new Set(); // ids of the messages on screen, since a broadcast can race the history that has it
let selected = null;
let socket = null;
let pending = null; // uuid of our message in flight: the input is cleared when its broadcast comes back
let retryDelay = 500;
let openedAt = 0; // when the current connection opened; 0 while there is none
const STABLE_AFTER_MS = 30000;
const TRY_AGAIN_LATER = 4013; // protocol.TRY_AGAIN_LATER: the server cannot reach Redis
let counter = 0;
let errorTimer = null;

// crypto.randomUUID() exists only in secure contexts, and the demo may be opened over plain http.
const newUuid = () => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${(counter += 1)}`;

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/chat/`);
  socket.addEventListener("open", () => {
    openedAt = Date.now();
    setOnline(true, "Connected");
    if (selected) send("select_room", { room: selected });
  });
  socket.addEventListener("message", (event) => handle(JSON.parse(event.data)));
  socket.addEventListener("close", (event) => {
    // Only a connection that lasted starts the backoff afresh: one the server turned away (4013: it could not
    // reach Redis to sign the user in, which it tries for a few seconds) must not, or every page would retry
    // at once, again and again, until the chat is back.
    if (openedAt && Date.now() - openedAt >= STABLE_AFTER_MS) retryDelay = 500;
    openedAt = 0;
    const state = event.code === TRY_AGAIN_LATER ? "Chat unavailable" : "Offline";
    setOnline(false, `${state}, reconnecting in ${Math.round(retryDelay / 1000) || 1}s`);
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 10000);
  });
}

function send(action, fields) {
  const uuid = newUuid();
  socket.send(JSON.stringify({ uuid, action, ...fields }));
  return uuid;
}

function handle(frame) {
  if (frame.status === "error") {
    showError(frame.error_message);
    if (frame.uuid === pending) pending = null;
    return;
  }
  switch (frame.action) {
    case "select_room":
      if (frame.room === selected) showHistory(frame.room_messages);
      break;
    case "new_message":
      receive(frame);
      break;
    case "membership":
      if (frame.member) rooms.set(frame.room, { id: frame.room, title: frame.title, unread: 0 });
      else leaveRoom(frame.room);
      renderRooms();
      break;
  }
}

function receive(frame) {
  if (frame.uuid === pending) {
    pending = null;
    input.value = "";
  }
  if (frame.room === selected) {
    appendMessage(frame.message);
  } else if (rooms.has(frame.room)) {
    rooms.get(frame.room).unread += 1;
    renderRooms();
  }
}

function selectRoom(id) {
  selected = id;
  rooms.get(id).unread = 0;
  roomTitle.textContent = rooms.get(id).title;
  messageList.replaceChildren();
  shown.clear();
  input.placeholder = `Message ${rooms.get(id).title}`;
  renderRooms();
  updateComposer();
  if (socket.readyState === WebSocket.OPEN) send("select_room", { room: id });
  input.focus();
}

function leaveRoom(id) {
  rooms.delete(id);
  if (selected !== id) return;
  selected = null;
  roomTitle.textContent = "Pick a room";
  messageList.replaceChildren();
  updateComposer();
}

function showHistory(messages) {
  messageList.replaceChildren();
  shown.clear();
  messages.forEach(appendMessage);
}

function appendMessage(message) {
  if (shown.has(message.id)) return;
  shown.add(message.id);
  const item = document.createElement("li");
  item.classList.toggle("mine", message.user.username === me);
  const meta = document.createElement("div");
  meta.className = "meta";
  const author = document.createElement("b");
  author.textContent = message.user.username;
  const time = document.createElement("time");
  const date = new Date(message.timestamp * 1000);
  time.dateTime = date.toISOString();
  time.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  meta.append(author, time);
  const text = document.createElement("p");
  text.textContent = message.text;
  item.append(meta, text);
  messageList.append(item);
  messageList.scrollTop = messageList.scrollHeight;
}

function renderRooms() {
  const items = [...rooms.values()]
    .sort((a, b) => a.title.localeCompare(b.title))
    .map((room) => {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.room = room.id;
      button.setAttribute("aria-current", String(room.id === selected));
      button.addEventListener("click", () => selectRoom(room.id));
      const title = document.createElement("span");
      title.textContent = room.title;
      button.append(title);
      if (room.unread > 0) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = String(room.unread);
        button.append(badge);
      }
      const item = document.createElement("li");
      item.append(button);
      return item;
    });
  roomList.replaceChildren(...items);
  noRooms.hidden = rooms.size > 0;
}

function setOnline(online, text) {
  statusLine.textContent = text;
  statusLine.classList.toggle("offline", !online);
  updateComposer();
}

function updateComposer() {
  input.disabled = sendButton.disabled = !(socket.readyState === WebSocket.OPEN && selected);
}

function showError(message) {
  errorLine.textContent = message;
  errorLine.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => (errorLine.hidden = true), 5000);
}

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  if (!selected || !input.value.trim() || socket.readyState !== WebSocket.OPEN) return;
  errorLine.hidden = true;
  pending = send("new_message", { room: selected, text: input.value });
});

renderRooms();
connect();
