// Shared by the wsdemo pages: build the WebSocket (or event stream) URL relative to this page
// (so it also works behind jupyter-server-proxy at {base_url}proxy/PORT/),
// and show the connection's state. Received text is only ever inserted with
// textContent, never innerHTML: chat names and messages are shown as sent.
"use strict";

// An endpoint of this server relative to the page, with the page's join token (if any).
function endpointUrl(endpoint, params) {
  const url = new URL(endpoint, window.location.href);
  const token = new URLSearchParams(window.location.search).get("token");
  if (token) url.searchParams.set("token", token);
  for (const [key, value] of Object.entries(params || {})) url.searchParams.set(key, value);
  return url;
}

function wsUrl(endpoint, params) {
  const url = endpointUrl(endpoint, params);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

// What a close code means when the server gave no reason (RFC 6455 section 7.4.1).
// 1006 is never sent: the browser reports it when there was no closing handshake,
// e.g. the server refused the upgrade (a missing join token, a full room) or went away.
const CLOSE_HINTS = {
  1000: "normal closure",
  1001: "going away: the server stopped or the page left",
  1006: "no close frame: refused or connection lost; is the link complete?",
  1008: "refused by the server's rules",
  1011: "server error",
  4001: "the join token changed; rejoin with the new link",
};

// After these the page tries again by itself (the server restarted, the phone slept, the
// Wi-Fi dropped): going away, no close frame, server error, restart, try again later.
// Never after 1000 (a normal close), 1008 (kicked, a name kept for the teacher, a rate
// limit), 4001 (the join token changed) or anything else the server meant: the reason shows.
const RETRY_CODES = new Set([1001, 1006, 1011, 1012, 1013, 1014]);
const RETRY_MAX_MS = 30000;

function showState(element, state, detail) {
  element.dataset.state = state;
  element.textContent = detail ? state + " " + detail : state;
}

function closeText(event) {
  const hint = event.reason || CLOSE_HINTS[event.code];
  return "with code " + event.code + (hint ? " (" + hint + ")" : "");
}

// Open a WebSocket and keep the status element up to date; when the connection is lost
// (not closed on purpose) open a new one, waiting 1, 2, 4... up to 30 s between tries, and
// at once when the page becomes visible or the network comes back. Each new socket is
// passed to handlers.open. Only the newest socket of a status element may change it: the
// close of one replaced by a rejoin arrives later. The page closing its socket itself
// (ws.close()) never reconnects. protocols: the subprotocols to offer. A browser that offers
// some fails the connection when the server selects none (the Fetch standard), so offer
// only what the endpoint speaks.
// The waits between reconnection tries: 1, 2, 4... up to 30 s, each with a little jitter
// (±20%), so a room of pages does not come back in the same millisecond. reset() after a
// successful open. Shared by connect() and the event-stream page.
function backoff() {
  let delay = 1000;
  return {
    next() {
      const wait = Math.round(delay * (0.8 + 0.4 * Math.random()));
      delay = Math.min(delay * 2, RETRY_MAX_MS);
      return wait;
    },
    reset() { delay = 1000; },
  };
}

function tryingAgainText(wait) {
  return "trying again in " + Math.max(1, Math.round(wait / 1000)) + " s";
}

// The browser does not tell a page why a connection was refused: ask the page's own URL
// whether the server is there (0: no answer) and still takes our join link (403).
async function pageStatus() {
  try {
    return (await fetch(window.location.href, {method: "HEAD", cache: "no-store"})).status;
  } catch (e) { return 0; }  // no answer: the server is down or unreachable
}

function connect(endpoint, params, statusElement, handlers, protocols) {
  if (statusElement.wsdemoRetry) statusElement.wsdemoRetry.cancel();
  const waits = backoff();
  let timer = null, cancelled = false;
  const retry = {cancel() { cancelled = true; clearTimeout(timer); }, now: null};
  statusElement.wsdemoRetry = retry;

  function schedule(detail) {
    if (cancelled) return;
    const wait = waits.next();
    showState(statusElement, "closed", detail + "; " + tryingAgainText(wait));
    retry.now = () => { clearTimeout(timer); retry.now = null; if (!cancelled) open(); };
    timer = setTimeout(retry.now, wait);
  }

  // A handshake that failed says nothing in the browser (always 1006): ask the page's own
  // URL whether the server is there and still takes our join link.
  async function whyRefused(event) {
    const status = await pageStatus();
    if (cancelled || statusElement.wsdemoSocket !== lastSocket) return;
    if (status === 0 || status >= 500) {
      schedule("with code " + event.code + " (the server does not answer)");
    } else if (status === 403) {
      showState(statusElement, "closed", "with code " + event.code +
                " (the join link was refused: the token changed or the link is incomplete; ask for the new link)");
      if (handlers.close) handlers.close(event);
    } else {
      showState(statusElement, "closed", closeText(event));
      if (handlers.close) handlers.close(event);
    }
  }

  let lastSocket = null;
  function open() {
    showState(statusElement, "connecting");
    const ws = new WebSocket(wsUrl(endpoint, params), protocols || []);
    let opened = false, byPage = false;
    const close = ws.close.bind(ws);
    ws.close = (code, reason) => { byPage = true; retry.cancel(); close(code, reason); };
    lastSocket = ws;
    statusElement.wsdemoSocket = ws;
    const current = () => statusElement.wsdemoSocket === ws;
    ws.addEventListener("open", () => {
      if (!current()) return;
      opened = true;
      waits.reset();
      showState(statusElement, "open");
      if (handlers.open) handlers.open(ws);
    });
    ws.addEventListener("message", (event) => { if (current()) handlers.message(event.data, ws); });
    ws.addEventListener("close", (event) => {
      if (!current()) return;
      if (!byPage && !opened && event.code === 1006) { whyRefused(event); return; }
      if (!byPage && RETRY_CODES.has(event.code)) {
        schedule(closeText(event));
        if (handlers.close) handlers.close(event);
        return;
      }
      showState(statusElement, "closed", closeText(event));
      if (handlers.close) handlers.close(event);
    });
    return ws;
  }
  return open();
}

// A phone waking up or a network coming back: retry now rather than at the next backoff.
function retryNow() {
  for (const el of document.querySelectorAll(".status")) {
    if (el.wsdemoRetry && el.wsdemoRetry.now) el.wsdemoRetry.now();
  }
}
document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") retryNow(); });
window.addEventListener("online", retryNow);

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
