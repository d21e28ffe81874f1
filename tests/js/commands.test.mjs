// The composer's slash-command rules (chat/static/chat/commands.js): which lines run a
// command hello listed, the `//` escape, the frame sent, and the `/` completion.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  commandFrame,
  commandMatches,
  commandNames,
  commandPrefixAt,
  commandSignature,
  parseLine,
} from "../../chat/static/chat/commands.js";

const COMMANDS = [
  { name: "me", description: "Say what you are doing", usage: "<action>" },
  { name: "shrug", description: "Shrug", usage: "[text]" },
  { name: "dnd", description: "Do not disturb", usage: "<minutes>|off" },
  { name: "help", description: "List the commands", usage: "" },
  { name: "weather", description: "The weather", usage: "[city]" },
];
const NAMES = commandNames(COMMANDS);

test("a listed command becomes its name and its text", () => {
  assert.deepEqual(parseLine("/shrug who knows", NAMES), { command: "/shrug", text: "who knows" });
  assert.deepEqual(parseLine("/help", NAMES), { command: "/help", text: "" });
  assert.deepEqual(parseLine("  /Weather   Paris  ", NAMES), { command: "/weather", text: "Paris" });
  assert.deepEqual(parseLine("/me waves\nand smiles", NAMES), { command: "/me", text: "waves\nand smiles" });
});

test("an unlisted /name and ordinary text stay messages as typed", () => {
  assert.deepEqual(parseLine("/nosuch thing", NAMES), { body: "/nosuch thing" });
  assert.deepEqual(parseLine("/shrugging", NAMES), { body: "/shrugging" });
  assert.deepEqual(parseLine("hello /shrug", NAMES), { body: "hello /shrug" });
  assert.deepEqual(parseLine("/ shrug", NAMES), { body: "/ shrug" });
});

test("a double slash sends a message starting with one slash", () => {
  assert.deepEqual(parseLine("//shrug is a command", NAMES), { body: "/shrug is a command" });
  assert.deepEqual(parseLine("//", NAMES), { body: "/" });
});

test("the frame names the room, the command and its text", () => {
  assert.deepEqual(commandFrame("design", parseLine("/dnd 30", NAMES)), {
    type: "command.run",
    room: "design",
    command: "/dnd",
    text: "30",
  });
});

test("no commands known: every line is a message", () => {
  assert.deepEqual(parseLine("/shrug", commandNames(undefined)), { body: "/shrug" });
});

test("the completion opens on a leading slash and a partial name only", () => {
  assert.equal(commandPrefixAt("/", "/"), "");
  assert.equal(commandPrefixAt("/Sh", "/Sh"), "sh");
  assert.equal(commandPrefixAt("/shrug ", "/shrug "), null);
  assert.equal(commandPrefixAt("hi /sh", "hi /sh"), null);
  assert.equal(commandPrefixAt("//sh", "//sh"), null);
  assert.equal(commandPrefixAt("/sh", "/sh\nmore"), null);
});

test("matches keep hello's order and the limit", () => {
  assert.deepEqual(
    commandMatches(COMMANDS, "").map((c) => c.name),
    ["me", "shrug", "dnd", "help", "weather"]
  );
  assert.deepEqual(
    commandMatches(COMMANDS, "", 2).map((c) => c.name),
    ["me", "shrug"]
  );
  assert.deepEqual(
    commandMatches(COMMANDS, "w").map((c) => c.name),
    ["weather"]
  );
  assert.deepEqual(commandMatches(COMMANDS, "zz"), []);
});

test("a command's signature shows its usage", () => {
  assert.equal(commandSignature(COMMANDS[2]), "/dnd <minutes>|off");
  assert.equal(commandSignature(COMMANDS[3]), "/help");
});
