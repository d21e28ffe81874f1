"""What a message holds, as pure rules: Markdown rendering, mentions, emoji, images,
upload size checks. No models, no publishing."""
