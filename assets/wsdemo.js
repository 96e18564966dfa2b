// Shared by the wsdemo pages: build the WebSocket URL relative to this page
// (so it also works behind jupyter-server-proxy at {base_url}proxy/PORT/),
// and show the connection's state. Received text is only ever inserted with
// textContent, never innerHTML: chat names and messages are shown as sent.
"use strict";

function wsUrl(endpoint, params) {
  const url = new URL(endpoint, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const token = new URLSearchParams(window.location.search).get("token");
  if (token) url.searchParams.set("token", token);
  for (const [key, value] of Object.entries(params || {})) url.searchParams.set(key, value);
  return url.toString();
}

// What a close code means when the server gave no reason (RFC 6455 section 7.4.1).
// 1006 is never sent: the browser reports it when there was no closing handshake,
// e.g. the server refused the upgrade (a missing join token, a full room) or went away.
const CLOSE_HINTS = {
  1000: "normal closure",
  1001: "going away: the server stopped or the page left",
  1006: "no close frame: refused or connection lost; is the link complete?",
  1011: "server error",
};

function showState(element, state, detail) {
  element.dataset.state = state;
  element.textContent = detail ? state + " " + detail : state;
}

// Open a WebSocket and keep the status element up to date. Only the newest socket of a
// status element may change it: the close of one replaced by a rejoin arrives later.
// protocols: the subprotocols to offer. A browser that offers some fails the connection
// when the server selects none (the Fetch standard), so offer only what the endpoint speaks.
function connect(endpoint, params, statusElement, handlers, protocols) {
  showState(statusElement, "connecting");
  const ws = new WebSocket(wsUrl(endpoint, params), protocols || []);
  statusElement.wsdemoSocket = ws;
  const current = () => statusElement.wsdemoSocket === ws;
  ws.addEventListener("open", () => {
    if (!current()) return;
    showState(statusElement, "open");
    if (handlers.open) handlers.open(ws);
  });
  ws.addEventListener("message", (event) => { if (current()) handlers.message(event.data, ws); });
  ws.addEventListener("close", (event) => {
    if (!current()) return;
    const hint = event.reason || CLOSE_HINTS[event.code];
    const reason = hint ? " (" + hint + ")" : "";
    showState(statusElement, "closed", "with code " + event.code + reason);
    if (handlers.close) handlers.close(event);
  });
  return ws;
}

// Add a line to a log list, keeping at most maxLines. The list scrolls itself to the new
// line only when it was already at the bottom (someone reading older lines keeps their
// place), and the page itself never jumps.
function appendLine(list, text, className, maxLines) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 8;
  const item = document.createElement("li");
  item.textContent = text;
  if (className) item.className = className;
  list.appendChild(item);
  while (list.children.length > (maxLines || 200)) list.removeChild(list.firstChild);
  if (atBottom) list.scrollTop = list.scrollHeight;
  return item;
}
