"""What a message holds, as pure rules: Markdown rendering, mentions, emoji, images,
upload size checks, Slack payloads (slack/). No models, no publishing."""
