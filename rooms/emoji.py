"""Which reactions are valid: a known short name, or exactly one Unicode emoji.

Short names are what keyboards without an emoji picker type (":+1:" without
the colons); the list is the common set chat tools offer first. A Unicode
emoji is one pictograph, optionally joined to more by ZERO WIDTH JOINER (a
family), with variation selectors, skin tones, keycaps or tag sequences (a
flag); two regional indicators make a country flag. Anything else (text, two
emoji, markup) is refused, so a reaction chip is always one symbol.
"""

from __future__ import annotations

SHORT_NAMES = frozenset({
    "+1", "-1", "thumbsup", "thumbsdown", "heart", "smile", "laughing", "joy", "wink",
    "tada", "clap", "pray", "fire", "rocket", "eyes", "thinking", "ok", "ok_hand",
    "100", "white_check_mark", "heavy_check_mark", "x", "warning", "question",
    "exclamation", "wave", "raised_hands", "muscle", "star", "sparkles", "bulb",
    "memo", "calendar", "coffee", "cry", "sob", "confused", "scream", "rage",
    "slightly_smiling_face", "upside_down_face", "sunglasses", "party", "handshake",
    "point_up", "heart_eyes", "grimacing", "sweat_smile", "zap", "trophy",
})

_ZWJ, _KEYCAP, _VS16 = 0x200D, 0x20E3, 0xFE0F
# Blocks whose characters are pictographs (a deliberately generous approximation of
# Unicode's Extended_Pictographic property, which the standard library lacks).
_PICTOGRAPHS = ((0x1F000, 0x1FAFF), (0x2600, 0x27BF), (0x2300, 0x23FF), (0x2B00, 0x2BFF),
                (0x2190, 0x21FF), (0x3030, 0x3030), (0x303D, 0x303D), (0x3297, 0x3297),
                (0x3299, 0x3299), (0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x203C, 0x203C),
                (0x2049, 0x2049), (0x2122, 0x2122), (0x2139, 0x2139))
_SKIN_TONES = (0x1F3FB, 0x1F3FF)
_REGIONAL = (0x1F1E6, 0x1F1FF)
_TAGS = (0xE0020, 0xE007F)
_KEYCAP_BASES = frozenset(map(ord, "0123456789#*"))
# The longest real sequences (families, tagged flags) are about a dozen code points.
MAX_CODE_POINTS = 16


def _within(cp: int, span: tuple[int, int]) -> bool:
    return span[0] <= cp <= span[1]


def _pictograph(cp: int) -> bool:
    return any(_within(cp, span) for span in _PICTOGRAPHS) and not _within(cp, _REGIONAL)


def _one_emoji(text: str) -> bool:
    cps = [ord(c) for c in text]
    if not 0 < len(cps) <= MAX_CODE_POINTS:
        return False
    if all(_within(cp, _REGIONAL) for cp in cps):
        return len(cps) == 2  # a country flag
    if cps[0] in _KEYCAP_BASES:
        return cps[1:] in ([_VS16, _KEYCAP], [_KEYCAP])
    expect_pictograph = True
    for cp in cps:
        if expect_pictograph:
            if not _pictograph(cp):
                return False
            expect_pictograph = False
        elif cp == _ZWJ:
            expect_pictograph = True
        elif not (cp == _VS16 or _within(cp, _SKIN_TONES) or _within(cp, _TAGS)):
            return False
    return not expect_pictograph


def valid(emoji: str) -> bool:
    """A short name from the list, or one Unicode emoji."""
    return emoji in SHORT_NAMES or _one_emoji(emoji)
