// Room page client: one WebSocket per tab; renders every message as text (never HTML).
"use strict";

(function () {
  const slug = JSON.parse(document.getElementById("room-slug").textContent);
  const list = document.getElementById("messages");
  const statusEl = document.getElementById("status");
  const errorEl = document.getElementById("error");
  const form = document.getElementById("composer");
  const input = document.getElementById("body");

  let socket = null;
  let lastSeq = 0;
  let retry = 0;
  const seen = new Set();

  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  function showError(text) {
    errorEl.textContent = text;
    errorEl.hidden = !text;
  }

  function render(message) {
    if (seen.has(message.seq)) return;
    seen.add(message.seq);
    lastSeq = Math.max(lastSeq, message.seq);
    const item = document.createElement("li");
    item.className = "message";
    item.dataset.seq = String(message.seq);
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = message.author;
    const time = document.createElement("time");
    time.dateTime = message.created_at;
    time.textContent = new Date(message.created_at).toLocaleTimeString();
    const body = document.createElement("span");
    body.className = "body";
    body.textContent = message.body; // textContent: a payload is shown, never parsed
    item.append(author, " ", time, " ", body);
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(item);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/chat/${encodeURIComponent(slug)}/`);
    setStatus("connecting", retry ? "reconnecting…" : "connecting…");
    socket.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      switch (frame.type) {
        case "hello":
          retry = 0;
          setStatus("connected", "connected");
          frame.history.forEach(render);
          break;
        case "message":
          render(frame.message);
          break;
        case "error":
          showError(frame.detail);
          break;
      }
    };
    socket.onclose = (event) => {
      if (event.code === 4401) { location.href = "/accounts/login/?next=" + encodeURIComponent(location.pathname); return; }
      if (event.code === 4404 || event.code === 4403) { setStatus("offline", "room unavailable"); return; }
      setStatus("reconnecting", "reconnecting…");
      const delay = Math.min(30000, 500 * 2 ** retry) * (0.5 + Math.random() / 2);
      retry += 1;
      setTimeout(connect, delay);
    };
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value;
    if (!body.trim() || !socket || socket.readyState !== WebSocket.OPEN) return;
    showError("");
    socket.send(JSON.stringify({ type: "message.send", body, client_id: crypto.randomUUID() }));
    input.value = "";
  });

  connect();
})();
