// A bot's message look and a card's colour (chat/static/chat/botlook.js), and the
// profile cache keeping a bot's flag while never learning a hook's look as the bot's
// profile (chat/static/chat/profiles.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import { avatarUrl, cardColor, iconEmoji, isBotMessage, messageLook } from "../../chat/static/chat/botlook.js";
import { Profiles } from "../../chat/static/chat/profiles.js";

const botMessage = (extra = {}) => ({
  kind: "user",
  author: "alerts-bot",
  author_bot: true,
  author_display_name: "Prometheus",
  author_avatar: "https://icons.example.com/prom.png",
  author_icon_emoji: null,
  ...extra,
});

test("a bot's message shows the name and icon it was posted with, badge kept", () => {
  const look = messageLook(botMessage());
  assert.equal(look.displayName, "Prometheus");
  assert.equal(look.avatar, "https://icons.example.com/prom.png");
  assert.equal(look.username, "alerts-bot");
  assert.equal(look.bot, true);
  assert.equal(look.emoji, "");
});

test("a person's message has no look of its own, whatever it carries", () => {
  assert.equal(messageLook(botMessage({ author_bot: false })), null);
  assert.equal(messageLook(botMessage({ kind: "system", author: null })), null);
  assert.equal(isBotMessage(null), false);
});

test("an icon_emoji is kept as text; markup or words are not an emoji", () => {
  assert.equal(messageLook(botMessage({ author_icon_emoji: "🚨" })).emoji, "🚨");
  assert.equal(iconEmoji("<img src=x>"), "");
  assert.equal(iconEmoji("two words"), "");
  assert.equal(iconEmoji("x".repeat(17)), "");
});

test("only the server's avatars and http(s) icons are shown", () => {
  assert.equal(avatarUrl("/api/users/alerts-bot/avatar/?v=2"), "/api/users/alerts-bot/avatar/?v=2");
  assert.equal(avatarUrl("javascript:alert(1)"), "");
  assert.equal(avatarUrl("data:image/png;base64,AAAA"), "");
  assert.equal(avatarUrl("//evil.example.com/x.png"), "");
  assert.equal(messageLook(botMessage({ author_avatar: "javascript:alert(1)" })).avatar, "");
});

test("no name falls back to the username; two names of one hook are two looks", () => {
  assert.equal(messageLook(botMessage({ author_display_name: "  " })).displayName, "alerts-bot");
  const grafana = messageLook(botMessage({ author_display_name: "Grafana" }));
  assert.notEqual(grafana.key, messageLook(botMessage()).key);
  assert.equal(messageLook(botMessage()).key, messageLook(botMessage()).key);
});

test("a card's colour is a #rgb or #rrggbb value, nothing else reaches the CSSOM", () => {
  assert.equal(cardColor("#36A64F"), "#36a64f");
  assert.equal(cardColor("#abc"), "#abc");
  assert.equal(cardColor("red; background: url(x)"), "");
  assert.equal(cardColor("#12345"), "");
  assert.equal(cardColor(undefined), "");
});

test("the profile cache keeps the bot flag and never takes a hook's look as the profile", async () => {
  const asked = [];
  globalThis.fetch = async (url) => {
    asked.push(url);
    return { ok: true, status: 200, json: async () => [{ username: "alerts-bot", display_name: "Alerts", avatar: "/api/users/alerts-bot/avatar/?v=1", author_bot: true }] };
  };
  try {
    const profiles = new Profiles();
    profiles.fromMessage(botMessage());
    assert.equal(profiles.get("alerts-bot"), null); // not "Prometheus"
    await new Promise((resolve) => setTimeout(resolve, 0));
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(asked, ["/api/users/?usernames=alerts-bot"]);
    assert.deepEqual(profiles.get("alerts-bot"), {
      username: "alerts-bot",
      displayName: "Alerts",
      avatar: "/api/users/alerts-bot/avatar/?v=1",
      bot: true,
    });
    profiles.fromMessage({ kind: "user", author: "alice", author_bot: false, author_display_name: "Alice", author_avatar: "/api/users/alice/avatar/?v=3" });
    assert.equal(profiles.get("alice").bot, false);
    assert.equal(profiles.get("alice").displayName, "Alice");
  } finally {
    delete globalThis.fetch;
  }
});
