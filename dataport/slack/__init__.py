"""Import a Slack export (`manage.py slack_import`): reading the archive (archive.py),
mapping its people and conversations (people.py, rooms.py), converting messages
(convert.py) and writing them through chat/services/importing.py (importer.py)."""
