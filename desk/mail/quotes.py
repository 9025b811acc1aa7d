"""Where a reply's own words end and the quoted history begins. Pure text, no Flask.

A ticket page shows what the person wrote this time; the history they quoted is kept
(folded away), never thrown out. Recognised: "On … wrote:" in the languages our customers
write in (the line may wrap once), Outlook's "-----Original Message-----" and its
From:/Sent: block, a line of underscores before a From: line, and a run of "> " lines
that lasts to the end of the message.
"""
import re

ATTRIBUTION = re.compile(
    r"^\s*(On|Le|Am|El|Em|Il|Op|Den|W dniu|В|Вы|El día)\b.{0,300}"
    r"(wrote|a écrit|schrieb|escribió|escreveu|ha scritto|schreef|skrev|napisał|написал|пишет|писал)\s*:?\s*$",
    re.IGNORECASE)
ORIGINAL = re.compile(r"^\s*-{2,}\s*(Original Message|Ursprüngliche Nachricht|Mensaje original|"
                      r"Mensagem original|Message d'origine|Исходное сообщение)\s*-{2,}\s*$", re.IGNORECASE)
HEADER_FROM = re.compile(r"^\s*\*?(From|De|Von|От)\s*:\*?\s+\S", re.IGNORECASE)
HEADER_NEXT = re.compile(r"^\s*\*?(Sent|Date|Enviado|Gesendet|Envoyé|Отправлено|To|Subject)\s*:", re.IGNORECASE)
UNDERSCORES = re.compile(r"^\s*_{20,}\s*$")


def split_quote(text: str) -> tuple[str, str]:
    """(new, quoted): `text` cut where its quoted history starts. Nothing is cut when the
    cut would leave no words of the person's own."""
    lines = text.split("\n")
    cut = _start(lines)
    if cut is None:
        return text, ""
    new, quoted = "\n".join(lines[:cut]).rstrip(), "\n".join(lines[cut:]).strip("\n")
    if not new.strip():
        return text, ""
    return new, quoted


def _start(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if ATTRIBUTION.match(line) or (i + 1 < len(lines) and ATTRIBUTION.match(f"{line} {lines[i + 1]}")
                                       and not lines[i + 1].startswith(">")):
            return i
        if ORIGINAL.match(line):
            return i
        if UNDERSCORES.match(line) and i + 1 < len(lines) and HEADER_FROM.match(lines[i + 1]):
            return i
        if HEADER_FROM.match(line) and any(HEADER_NEXT.match(x) for x in lines[i + 1:i + 4]) and i > 0:
            return i
    # A block of quoted lines that runs to the end (blank lines allowed inside it).
    last = len(lines)
    while last > 0 and not lines[last - 1].strip():
        last -= 1
    start = last
    while start > 0 and (lines[start - 1].startswith(">") or not lines[start - 1].strip()):
        start -= 1
    if start < last and any(lines[j].startswith(">") for j in range(start, last)):
        return start
    return None
