// Files that are not images: a download link with the file's name, type and size. Only
// the server's own attachment URL is used (same origin, access-checked, always served
// as an attachment download), whatever else a frame might carry.

import { span } from "./dom.js";

export function fileLink(attachment) {
  if (!attachment || attachment.kind !== "file") return null;
  if (typeof attachment.url !== "string" || !attachment.url.startsWith("/api/attachments/")) return null;
  const name = typeof attachment.name === "string" && attachment.name ? attachment.name : "file";
  const link = document.createElement("a");
  link.className = "attachment file";
  link.href = attachment.url;
  link.download = name;
  link.append(span("file-name", name));
  const type = typeof attachment.content_type === "string" ? attachment.content_type : "";
  const size = Number.isInteger(attachment.size) ? sizeText(attachment.size) : "";
  link.append(" ", span("file-meta", [type, size].filter(Boolean).join(", ")));
  link.setAttribute("aria-label", `Download ${name}${size ? ` (${size})` : ""}`);
  return link;
}

export function sizeText(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}
