// The open room's messages on screen: in id order (the order the server stored them), each at most once, and
// the reader's position kept while older pages come in above and new messages below.

const AT_BOTTOM_PX = 40; // this close to the bottom, the reader follows new messages

export class MessageList {
  constructor(element, me) {
    this.element = element;
    this.me = me;
    this.ids = new Set(); // a broadcast can race the page of history that has the same message
    // A reader at the bottom stays there when the list shrinks (an error line shows below it, the window resizes).
    this.following = true;
    element.addEventListener("scroll", () => (this.following = this.#atBottom()));
    new ResizeObserver(() => {
      if (this.following) element.scrollTop = element.scrollHeight;
    }).observe(element);
  }

  // Id of the oldest message shown, or null.
  get oldest() {
    const first = this.element.querySelector("li[data-id]");
    return first ? Number(first.dataset.id) : null;
  }

  clear() {
    this.element.replaceChildren();
    this.ids.clear();
  }

  // The room's latest page; a live message newer than the page that came in first stays after it.
  replace(messages) {
    const newest = messages.length ? messages[messages.length - 1].id : 0;
    const later = [...this.element.querySelectorAll("li[data-id]")].filter((item) => Number(item.dataset.id) > newest);
    this.clear();
    this.element.append(...messages.map((message) => this.#item(message)), ...later);
    later.forEach((item) => this.ids.add(Number(item.dataset.id)));
    this.element.scrollTop = this.element.scrollHeight;
  }

  // A live or caught-up message, in its place by id; the view follows it if the reader was at the bottom.
  add(message) {
    if (this.ids.has(message.id)) return;
    const follow = this.#atBottom();
    let next = null;
    for (let item = this.element.lastElementChild; item; item = item.previousElementSibling) {
      if (item.dataset.id === undefined) continue; // a notice stays where it was said; messages go by id
      if (Number(item.dataset.id) < message.id) break;
      next = item;
    }
    this.element.insertBefore(this.#item(message), next);
    if (follow) this.element.scrollTop = this.element.scrollHeight;
  }

  // An older page above the oldest message.
  prepend(messages) {
    const items = messages.filter((message) => !this.ids.has(message.id)).map((message) => this.#item(message));
    this.#insertAbove(this.#fragment(items));
  }

  // A short line that is not a message (someone came online or went offline), below what is shown now.
  notice(text) {
    const follow = this.#atBottom();
    const item = document.createElement("li");
    item.className = "presence";
    item.textContent = text;
    this.element.append(item);
    if (follow) this.element.scrollTop = this.element.scrollHeight;
  }

  // The marker above the room's first message: there is nothing older to load.
  showStart(title) {
    if (this.element.querySelector("li.start")) return;
    const item = document.createElement("li");
    item.className = "start";
    item.textContent = `This is the beginning of ${title}.`;
    this.#insertAbove(item);
  }

  // What the reader was looking at stays where it was on screen (the list's overflow-anchor is off).
  #insertAbove(node) {
    const height = this.element.scrollHeight;
    this.element.insertBefore(node, this.element.firstElementChild);
    this.element.scrollTop += this.element.scrollHeight - height;
  }

  // Whether the messages leave the list without a scrollbar, so that the reader cannot scroll up to load more.
  get unfilled() {
    return this.element.scrollHeight <= this.element.clientHeight;
  }

  #atBottom() {
    const { scrollHeight, scrollTop, clientHeight } = this.element;
    return scrollHeight - scrollTop - clientHeight < AT_BOTTOM_PX;
  }

  #fragment(items) {
    const fragment = document.createDocumentFragment();
    fragment.append(...items);
    return fragment;
  }

  #item(message) {
    this.ids.add(message.id);
    const item = document.createElement("li");
    item.dataset.id = String(message.id);
    item.classList.toggle("mine", message.user.username === this.me);
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
    return item;
  }
}
