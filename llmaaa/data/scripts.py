"""Writing systems that put no spaces between words (Chinese, Japanese, Thai, ...), in one place.

Two parts of llmaaa need to know them: matching an LLM's mention in the text (no word boundaries
to respect there) and rebuilding a text from char-level tokens (joined without spaces).
Hangul is included: Korean puts spaces between phrases, not words, so an entity ends inside one
("서울에"), and char-level Korean files give the spaces as tokens of their own.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Sequence

NO_SPACE_SCRIPTS = re.compile(
    "[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff]"
)


def inside_word(left: str, right: str) -> bool:
    """Whether a boundary between characters ``left`` and ``right`` falls inside a word of a spaced script:
    between two characters of a script written without spaces every boundary may be a word's."""
    return (left.isalnum() and right.isalnum()
            and not (NO_SPACE_SCRIPTS.match(left) or NO_SPACE_SCRIPTS.match(right)))


def joins_previous(ch: str) -> bool:
    """A character that belongs to the one before it: a combining mark (a Thai vowel sign, an NFD accent), a
    zero-width joiner, a variation selector, an emoji skin tone or a flag's tag character."""
    return (unicodedata.category(ch)[0] == "M" or ch in "\u200d\ufe0e\ufe0f" or "\U0001f3fb" <= ch <= "\U0001f3ff"
            or "\U000e0020" <= ch <= "\U000e007f")


def _regional(ch: str) -> bool:
    return "\U0001f1e6" <= ch <= "\U0001f1ff"


def _one_character(token: str) -> bool:
    """One user-perceived character: a letter with its combining marks, an emoji with its skin tone, variation
    selector or zero-width-joined parts (👍🏽, 👩🏽‍💻), a flag (🇩🇪). One emoji in a char-level file must not make
    the whole file word-level (every sentence's text would get spaces between its characters)."""
    if not token:
        return False
    flag_half = _regional(token[0])
    for prev, ch in zip(token, token[1:]):
        if joins_previous(ch) or prev == "\u200d":
            continue
        if flag_half and _regional(ch):
            flag_half = False
            continue
        return False
    return True


# scripts whose words are written without spaces between them, Hangul left out: Korean word tokens ("서울 에")
# are separated by spaces in the text
_TIGHT = re.compile("[\u0e00-\u0e7f\u0e80-\u0eff\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
                    "\uff00-\uffef\U00020000-\U0002ffff]")
AUTO = None  # ``token_separator``'s answer for mixed word-level tokens: a space only between two spaced words


def token_separator(tokens: Sequence[str]) -> str | None:
    """``""`` for char-level tokens of a text written without spaces, ``AUTO`` (None) for word-level
    tokens of such a text ("東京 に 住む", "我 在 北京 2008 年"), else ``" "``.

    Char-level means every token is one character; digits, Latin letters and punctuation
    ("1998年", "，") are allowed beside the CJK/Thai ones, as char-level Chinese files hold them.
    ``AUTO`` puts a space only between two tokens that both touch it with a spaced script
    ("我爱New York"), see ``between``.
    """
    if tokens and all(_one_character(t) for t in tokens) and any(NO_SPACE_SCRIPTS.match(t) for t in tokens):
        return ""
    if any(_TIGHT.search(t) for t in tokens):
        return AUTO
    return " "


def between(left: str, right: str) -> str:
    """The separator ``AUTO`` puts between two tokens: none where either side is CJK, kana or Thai."""
    return "" if not left or not right or _TIGHT.match(left[-1]) or _TIGHT.match(right[0]) else " "
