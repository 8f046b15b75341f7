"""``python -m voicelab``: the command line."""

from voicelab.cli import app

app()
