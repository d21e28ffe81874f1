// The notification settings page: tell the server the browser's time zone (a pause
// "until tomorrow" or until a date is the user's own time) and show times locally.
for (const input of document.querySelectorAll("[data-time-zone]")) {
  input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
}
for (const node of document.querySelectorAll("time[data-local-time]")) {
  const when = new Date(node.getAttribute("datetime"));
  if (!Number.isNaN(when.getTime())) node.textContent = when.toLocaleString();
}
