"""Rule ``privacy-3-minimal``: the desk stores no card numbers or passwords.

Privacy Policy §3 promises data minimisation, so text typed by customers
(tickets, replies, inbound e-mail, contact form) goes through ``redact`` before
it is stored. Pure function: no Flask, no database.

What is removed
---------------
Card numbers
    A *run* is a maximal sequence of ASCII digit groups joined by single spaces
    or hyphens ("4111 1111 1111 1111", "3782-822463-10005"). Groups are never
    split, so a 25-digit number is never partly redacted. A run is a card when
    it has 13-19 digits, passes the Luhn check and (if it has separators) every
    group has 3+ digits, which keeps dates ("2024-01-15") and phone numbers
    with short area codes out. Otherwise, so that "4111 1111 1111 1111 123"
    (card + CVV) or "1001 4111 1111 1111 1111" do not leak, we look inside the
    run for a usual card layout (4-4-4-4[-1..3], Amex 4-6-5, Diners 4-6-4) or a
    single 13-19 digit group that passes Luhn. Luhn-failing numbers, order ids
    and phone numbers are kept.

Passwords and one-time codes
    A keyword (password, passwd, pwd -> kind ``password``; passcode/pass code,
    PIN, OTP, one-time code/password, verification/2FA/MFA/SMS/security code
    -> kind ``one_time_code``), then the next token (a quoted string or a run
    of non-blanks, trailing punctuation included). The token is redacted only if
    "is"/"was"/":"/"=" stands between keyword and token, or the token contains
    a digit: "my password is hunter2!" and "PIN 4821" are redacted, "I forgot my
    password yesterday" is not.

All patterns are linear (no nested quantifiers), so 100 kB bodies are fine.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

RULE_ID = "privacy-3-minimal"

CARD_PLACEHOLDER = "[card number removed]"
PASSWORD_PLACEHOLDER = "[password removed]"
CODE_PLACEHOLDER = "[code removed]"

_NOUNS = {
    "card_number": ("card number", "card numbers"),
    "password": ("password", "passwords"),
    "one_time_code": ("one-time code", "one-time codes"),
}


@dataclass(frozen=True)
class Redaction:
    text: str               # the redacted text
    kinds: tuple[str, ...]  # each kind once, in order of first appearance
    count: int              # how many spans were redacted
    rule: str = RULE_ID

    @property
    def note(self) -> str:
        """A sentence for the sender; empty when nothing was removed."""
        if not self.count:
            return ""
        if len(self.kinds) == 1:
            singular, plural = _NOUNS[self.kinds[0]]
            what = f"{self.count} {singular if self.count == 1 else plural}"
        else:
            names = [_NOUNS[k][0] for k in self.kinds]
            what = f"{self.count} items ({', '.join(names[:-1])} and {names[-1]})"
        return (
            f"We removed {what} from your message: the desk never stores "
            "card numbers or passwords (Privacy Policy §3)."
        )


# --- card numbers ------------------------------------------------------------

_RUN = re.compile(r"[0-9]+(?:[ -][0-9]+)*")
_GROUP = re.compile(r"[0-9]+")
_LAYOUTS = ((4, 4, 4, 4, 3), (4, 4, 4, 4, 2), (4, 4, 4, 4, 1), (4, 4, 4, 4), (4, 6, 5), (4, 6, 4))


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for run in _RUN.finditer(text):
        groups = [g.span() for g in _GROUP.finditer(text, run.start(), run.end())]
        sizes = [end - start for start, end in groups]

        def is_card(i: int, n: int) -> bool:
            digits = "".join(text[s:e] for s, e in groups[i:i + n])
            return 13 <= len(digits) <= 19 and _luhn(digits)

        if min(sizes) >= 3 and is_card(0, len(groups)):
            spans.append(run.span())
            continue
        i = 0
        while i < len(groups):
            for n in [len(l) for l in _LAYOUTS if tuple(sizes[i:i + len(l)]) == l] + [1]:
                if is_card(i, n):
                    spans.append((groups[i][0], groups[i + n - 1][1]))
                    i += n
                    break
            else:
                i += 1
    return spans


# --- passwords and one-time codes ---------------------------------------------

_SECRET = re.compile(
    r"""
    \b(?:
        (?P<password>passw(?:or)?d|pwd)
      | (?P<code>
            one[- ]?time[- ](?:pass(?:word|code)|code)
          | (?:verification|2fa|mfa|sms|security)[- ]code
          | otp(?:[- ]code)?
          | pass[- ]?code
          | pin(?:[- ]code)?
        )
    )\b
    (?P<sep>
        [ \t]*[:=][ \t]*\n?[ \t]*          # "Password: x", "pwd=x"
      | [ \t]+(?:is|was)\b[ \t]*:?[ \t]*   # "my password is x"
      | [ \t]+                             # "PIN 4821" (token needs a digit)
    )
    (?!\[(?:card\ number|password|code)\ removed\])
    (?P<token>"[^"\n]{1,200}"|'[^'\n]{1,200}'|\S+)
    """,
    re.IGNORECASE | re.VERBOSE,
)


def _secret_spans(text: str) -> list[tuple[int, int, str]]:
    spans = []
    pos = 0
    while m := _SECRET.search(text, pos):
        explicit = m.group("sep").strip() != ""
        if explicit or any(c.isdigit() for c in m.group("token")):
            kind = "password" if m.group("password") else "one_time_code"
            spans.append((m.start("token"), m.end("token"), kind))
            pos = m.end()
        else:
            pos = m.end("sep")  # the token may itself start the next match
    return spans


# --- the rule -------------------------------------------------------------------

_PLACEHOLDER = {
    "card_number": CARD_PLACEHOLDER,
    "password": PASSWORD_PLACEHOLDER,
    "one_time_code": CODE_PLACEHOLDER,
}


def redact(text: str) -> Redaction:
    """Remove card numbers, passwords and one-time codes from ``text``."""
    text = text or ""
    cards = _card_spans(text)  # sorted, non-overlapping
    card_ends = [end for _, end in cards]
    found = [(s, e, "card_number") for s, e in cards]
    for s, e, kind in _secret_spans(text):
        i = bisect.bisect_right(card_ends, s)  # first card ending after s
        if i == len(cards) or cards[i][0] >= e:  # cards win overlaps
            found.append((s, e, kind))
    found.sort()

    out, kinds, last = [], [], 0
    for start, end, kind in found:
        out.append(text[last:start])
        out.append(_PLACEHOLDER[kind])
        last = end
        if kind not in kinds:
            kinds.append(kind)
    out.append(text[last:])
    return Redaction(text="".join(out), kinds=tuple(kinds), count=len(found))
