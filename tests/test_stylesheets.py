"""The page's stylesheets take every colour from theme.css's tokens (docs/page.md,
"Design"): a colour written anywhere else would not follow the dark theme. A token's
light fallback, var(--name, #fff), is allowed (parts write it until the tokens land)."""

import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parent.parent / "chat" / "static" / "chat"
TOKENS = {
    "--bg",
    "--surface",
    "--surface-2",
    "--text",
    "--text-muted",
    "--border",
    "--accent",
    "--accent-text",
    "--link",
    "--danger",
    "--success",
    "--warning",
    "--focus",
    "--mention-bg",
    "--radius",
    "--shadow",
    "--font-mono",
    "--lightbox-backdrop",
}
FALLBACK = re.compile(r"var\(--[\w-]+,[^()]*(?:\([^()]*\)[^()]*)*\)")
COLOUR = re.compile(
    r"#[0-9a-fA-F]{3,8}\b|\b(?:rgba?|hsla?|hwb|lab|lch|oklab|oklch)\(|"
    r"(?<![\w-])(?:white|black|red|green|blue|yellow|gray|grey|orange|purple|pink)(?![\w-])"
)


def without_comments(css: str) -> str:
    return re.sub(r"/\*.*?\*/", "", css, flags=re.S)


@pytest.mark.parametrize(
    "sheet", sorted(p.name for p in STATIC.glob("*.css") if p.name != "theme.css")
)
def test_no_colour_is_written_outside_theme_css(sheet: str) -> None:
    css = FALLBACK.sub("var()", without_comments((STATIC / sheet).read_text()))
    found = sorted({match[0] for match in COLOUR.finditer(css)})
    assert found == [], f"{sheet} writes colours of its own: {found}"


def test_theme_css_defines_exactly_the_tokens_in_light_and_both_dark_blocks() -> None:
    css = without_comments((STATIC / "theme.css").read_text())
    root = re.search(r":root\s*\{(.*?)\}", css, re.S)
    assert root
    assert set(re.findall(r"(--[\w-]+)\s*:", root[1])) == TOKENS
    system_dark = re.search(
        r'@media \(prefers-color-scheme: dark\)\s*\{\s*html:not\(\[data-theme="light"\]\)'
        r"\s*\{(.*?)\}",
        css,
        re.S,
    )
    chosen_dark = re.search(r'html\[data-theme="dark"\]\s*\{(.*?)\}', css, re.S)
    assert system_dark
    assert chosen_dark
    assert system_dark[1].split() == chosen_dark[1].split()  # the two dark blocks agree
    dark = set(re.findall(r"(--[\w-]+)\s*:", chosen_dark[1]))
    # The same in both themes: sizes, the type, and the dark behind an opened image.
    assert dark == TOKENS - {"--radius", "--font-mono", "--lightbox-backdrop"}
    assert "color-scheme: dark" in chosen_dark[1]
