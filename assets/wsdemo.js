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

function showState(element, state, detail) {
  element.dataset.state = state;
  element.textContent = detail ? state + " " + detail : state;
}

// Open a WebSocket and keep the status element up to date.
function connect(endpoint, params, statusElement, handlers) {
  showState(statusElement, "connecting");
  const ws = new WebSocket(wsUrl(endpoint, params));
  ws.addEventListener("open", () => {
    showState(statusElement, "open");
    if (handlers.open) handlers.open(ws);
  });
  ws.addEventListener("message", (event) => handlers.message(event.data, ws));
  ws.addEventListener("close", (event) => {
    const reason = event.reason ? " (" + event.reason + ")" : "";
    showState(statusElement, "closed", "with code " + event.code + reason);
    if (handlers.close) handlers.close(event);
  });
  return ws;
}

function appendLine(list, text, className, maxLines) {
  const item = document.createElement("li");
  item.textContent = text;
  if (className) item.className = className;
  list.appendChild(item);
  while (list.children.length > (maxLines || 200)) list.removeChild(list.firstChild);
  item.scrollIntoView({block: "nearest"});
  return item;
}
