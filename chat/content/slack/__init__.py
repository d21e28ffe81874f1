"""Slack's message payloads (incoming webhooks; outgoing-webhook and slash-command
answers) read into a chat message: `text` as Markdown, attachments and blocks as card
HTML, a plain-text body. Pure: no Django models, no I/O, no Redis."""

from chat.content.slack.mrkdwn import mrkdwn_to_markdown
from chat.content.slack.payload import SlackMessage, payload_parse
from chat.content.slack.values import PayloadError

__all__ = ["PayloadError", "SlackMessage", "mrkdwn_to_markdown", "payload_parse"]
