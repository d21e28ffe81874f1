"""`:shortcode:` names of emoji (`:tada:` -> 🎉), from the maintained `emoji` package
(Unicode's CLDR names plus the GitHub/Slack aliases: :+1:, :thumbsup:, :smile:). Pure:
no Django, no I/O. Rendering and the plain-text reading of a body use it; the page's
picker data (chat/content/emojidata.py) is generated from the same tables.

Unknown names stay as typed: the package only replaces names it holds, so a body can
never gain text it did not have beyond one emoji per known name.
"""

import emoji

# "alias": the English CLDR names (":party_popper:") and the aliases GitHub and Slack
# use (":tada:"), in one table; other languages would turn ":gift:" (German) into 🎁 too.
LANGUAGE = "alias"


def emojize(text: str) -> str:
    """`text` with every known `:name:` replaced by its emoji; the rest unchanged."""
    if ":" not in text:
        return text
    return emoji.emojize(text, language=LANGUAGE)
