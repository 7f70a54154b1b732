// The page's one WebSocket, speaking the protocol of chat/protocol.py; the session cookie authenticates it.
// It reconnects with capped backoff, and pairs each request with its reply by uuid, so that the page can await
// a reply (catching up several rooms at once) instead of guessing which frame answers what.

export const TRY_AGAIN_LATER = 4013; // protocol.TRY_AGAIN_LATER: the server cannot reach Redis
export const SESSION_ENDED = 4401; // protocol.SESSION_ENDED: the handshake's session cookie names no live session
const STABLE_AFTER_MS = 30000;
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10000;

let counter = 0;
// crypto.randomUUID() exists only in secure contexts, and the demo may be opened over plain http.
const newUuid = () => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${(counter += 1)}`;

export class ChatSocket {
  #socket = null;
  #replies = new Map(); // uuid -> resolve() of the request awaiting that reply
  #retryDelay = FIRST_DELAY_MS;
  #openedAt = 0; // when the current connection opened; 0 while there is none
  #stopped = false;

  // onOpen(), onFrame(frame) for every frame that answers no request, onClose(code, retryDelayMs).
  constructor({ onOpen, onFrame, onClose }) {
    this.handlers = { onOpen, onFrame, onClose };
  }

  get isOpen() {
    return this.#socket !== null && this.#socket.readyState === WebSocket.OPEN;
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/chat/`);
    this.#socket = socket;
    socket.addEventListener("open", () => {
      this.#openedAt = Date.now();
      this.handlers.onOpen();
    });
    socket.addEventListener("message", (event) => this.#receive(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => this.#closed(event.code));
  }

  // Closes for good: no reconnecting (the session ended, the page is leaving).
  stop() {
    this.#stopped = true;
    if (this.#socket) this.#socket.close();
  }

  // Sends a frame whose reply comes to onFrame (new_message: its broadcast, or an error); returns its uuid.
  send(action, fields) {
    const uuid = newUuid();
    this.#socket.send(JSON.stringify({ uuid, action, ...fields }));
    return uuid;
  }

  // Resolves with the reply (success or error), or with null if the connection is not open or closes first.
  request(action, fields) {
    if (!this.isOpen) return Promise.resolve(null);
    return new Promise((resolve) => this.#replies.set(this.send(action, fields), resolve));
  }

  #receive(frame) {
    const resolve = this.#replies.get(frame.uuid);
    if (resolve === undefined) {
      this.handlers.onFrame(frame);
      return;
    }
    this.#replies.delete(frame.uuid);
    resolve(frame);
  }

  #closed(code) {
    for (const resolve of this.#replies.values()) resolve(null);
    this.#replies.clear();
    // Only a connection that lasted starts the backoff afresh: one the server turned away (4013: it could not
    // reach Redis to sign the user in, which it tries for a few seconds) must not, or every page would retry
    // at once, again and again, until the chat is back.
    if (this.#openedAt && Date.now() - this.#openedAt >= STABLE_AFTER_MS) this.#retryDelay = FIRST_DELAY_MS;
    this.#openedAt = 0;
    this.handlers.onClose(code, this.#retryDelay);
    if (this.#stopped) return;
    setTimeout(() => this.connect(), this.#retryDelay);
    this.#retryDelay = Math.min(this.#retryDelay * 2, MAX_DELAY_MS);
  }
}
