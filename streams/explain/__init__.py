"""Explanations people read: the text of every reason code (zh, en) and a user's timeline."""

from streams.explain.texts import LANGUAGES, Language, text_of

__all__ = ["LANGUAGES", "Language", "text_of"]
