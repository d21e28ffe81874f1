// Slash commands, the pure part (docs/protocol.md, "Slash commands"): what a composer
// line means — a command of those hello listed, or a message (`//` escapes the slash) —
// and which commands complete a typed "/na". No DOM here (tests/js/commands.test.mjs).

const NAME = /^\/([a-z0-9_-]{1,32})(?:\s+([\s\S]*))?$/i;

// The known names, from hello.commands (entries {name, description, usage}).
export function commandNames(commands) {
  return new Set((Array.isArray(commands) ? commands : []).map((c) => String(c.name).toLowerCase()));
}

// A composer line: {command: "/name", text} for a listed command, else {body} (a line
// starting with "//" loses one slash; "/unknown x" stays a message as typed).
export function parseLine(line, names) {
  if (line.startsWith("//")) return { body: line.slice(1) };
  const match = NAME.exec(line.trim());
  if (match && names.has(match[1].toLowerCase())) {
    return { command: `/${match[1].toLowerCase()}`, text: (match[2] || "").trim() };
  }
  return { body: line };
}

// The frame a parsed command becomes.
export function commandFrame(slug, parsed) {
  return { type: "command.run", room: slug, command: parsed.command, text: parsed.text };
}

// While the composer holds only "/" and a partial name (no space yet): the prefix to
// complete, else null.
export function commandPrefixAt(textBeforeCaret, fullText) {
  if (fullText.includes("\n") || fullText.startsWith("//")) return null;
  const match = /^\/([a-z0-9_-]*)$/i.exec(textBeforeCaret);
  return match ? match[1].toLowerCase() : null;
}

// The commands whose name starts with the prefix, in hello's order (built-ins first).
export function commandMatches(commands, prefix, max = 8) {
  const found = [];
  for (const c of Array.isArray(commands) ? commands : []) {
    if (String(c.name).toLowerCase().startsWith(prefix)) found.push(c);
    if (found.length >= max) break;
  }
  return found;
}

// How a command shows in the list and /help: "/dnd <minutes>|off".
export function commandSignature(c) {
  return c.usage ? `/${c.name} ${c.usage}` : `/${c.name}`;
}
