"""The emoji a reaction may be: a bounded, curated set of common Unicode emoji, checked
on the server. Pure (no Django, no I/O): protocol, services and tests import it.

A fixed list rather than "anything Unicode calls an emoji" (the `emoji` package): the
set a page offers and the set the server takes are one, a reaction can never carry
arbitrary text or a long ZWJ sequence, and a Unicode upgrade changes nothing by itself.
"""

# The picker's first row: the ones people use most.
COMMON = ("👍", "👎", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀", "✅")

_GROUPS = (
    # faces
    "😀 😃 😄 😁 😆 😅 🤣 😂 🙂 🙃 😉 😊 😇 🥰 😍 🤩 😘 😗 😚 😙 🥲 😋 😛 😜 🤪 😝 🤑 🤗"
    " 🤭 🤫 🤔 🤐 🤨 😐 😑 😶 😏 😒 🙄 😬 😮‍💨 🤥 😌 😔 😪 🤤 😴 😷 🤒 🤕 🤢 🤮 🤧 🥵"
    " 🥶 🥴 😵 🤯 🤠 🥳 🥸 😎 🤓 🧐 😕 😟 🙁 😮 😯 😲 😳 🥺 😦 😧 😨 😰 😥 😢 😭 😱 😖"
    " 😣 😞 😓 😩 😫 🥱 😤 😡 😠 🤬 😈 👿 💀 ☠️ 💩 🤡 👹 👺 👻 👽 👾 🤖 😺 😸 😹 😻 😼 😽"
    " 🙀 😿 😾 🙈 🙉 🙊",
    # hands and people
    "👋 🤚 🖐️ ✋ 🖖 👌 🤌 🤏 ✌️ 🤞 🤟 🤘 🤙 👈 👉 👆 🖕 👇 ☝️ 👍 👎 ✊ 👊 🤛 🤜 👏 🙌"
    " 👐 🤲 🤝 🙏 ✍️ 💅 💪 🦾 👀 👁️ 🧠 🫶 🫡 🫠 🙇 🙋 🙆 🙅 🤷 🤦 💁 🧑‍💻 🕺 💃 🏃 🚶",
    # hearts and symbols
    "❤️ 🧡 💛 💚 💙 💜 🖤 🤍 🤎 💔 ❣️ 💕 💞 💓 💗 💖 💘 💝 💟 💯 💢 💥 💫 💦 💨 💬 💭 💤"
    " ✅ ☑️ ✔️ ❌ ❎ ➕ ➖ ❓ ❔ ❗ ❕ ‼️ ⁉️ ⚠️ 🚫 ⛔ 🔴 🟠 🟡 🟢 🔵 🟣 ⚫ ⚪ 🔥 ✨ ⭐ 🌟 ⚡ 🆗"  # noqa: RUF001
    " 🆕 🆒 🆘 🔝 🔜 ♻️ ⏳ ⌛ ⏰ 🔔 🔕 📌 📍 🔗 🔒 🔓 🔑 💡 🏁 🚩 🎯",
    # celebrations, objects, work
    "🎉 🎊 🎈 🎁 🏆 🥇 🥈 🥉 🏅 🎖️ 🎂 🍰 🧁 🍕 🍔 🍟 🌮 🍣 🍜 🍩 🍪 🍫 🍿 🍎 🍌 🍓 🍒 🥑"
    " ☕ 🍵 🍺 🍻 🥂 🍷 🍸 🍹 🧃 💻 🖥️ ⌨️ 🖱️ 📱 📞 📧 📨 📝 📄 📎 📊 📈 📉 📅 🗓️ 📋 📁"
    " 📦 🔧 🔨 🛠️ ⚙️ 🧪 🔬 🐛 🚀 🛸 ✈️ 🚗 🚲 🏠 🏢 💰 💸 💳 🧾 📣 📢 🎵 🎶 🎤 🎧 🎮 🎲 🧩"
    " 📚 📖 ✏️ 🖊️ 🔍 🔎 🧹 🗑️ 🛒 ⏱️ 🧭",
    # nature and weather
    "🐶 🐱 🐭 🐹 🐰 🦊 🐻 🐼 🐨 🐯 🦁 🐮 🐷 🐸 🐵 🐔 🐧 🐦 🐤 🦆 🦅 🦉 🦄 🐝 🦋 🐌 🐞 🐢"
    " 🐍 🐙 🐬 🐳 🦈 🐘 🦒 🦔 🌵 🌲 🌳 🌴 🌱 🌿 🍀 🍁 🍂 🌷 🌹 🌻 🌼 🌸 💐 🌞 🌝 🌚 🌙 ⭐"
    " ☀️ 🌤️ ⛅ 🌧️ ⛈️ 🌩️ ❄️ ☃️ ⛄ 🌈 ☔ 🌊 🌍 🌎 🌏",
)

ALLOWED: tuple[str, ...] = tuple(dict.fromkeys(" ".join(_GROUPS).split()))
MAX_EMOJI_CHARS = 16  # longer than any emoji above: an input check before the lookup
_VS16 = "\ufe0f"  # emoji presentation selector: keyboards send it, or leave it out


def _key(text: str) -> str:
    return text.replace(_VS16, "")


_BY_KEY = {_key(emoji): emoji for emoji in ALLOWED}


def emoji_clean(text: str) -> str | None:
    """The allowed emoji `text` is (its stored spelling: with or without U+FE0F as the
    list spells it), or None when it is not one of them."""
    if not text or len(text) > MAX_EMOJI_CHARS:
        return None
    return _BY_KEY.get(_key(text))
