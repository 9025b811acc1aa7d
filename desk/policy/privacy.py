"""Privacy-rights requests (Privacy Policy §8, §10, §11). Pure: no Flask, no database.

- `privacy-10-rights`: which rights a person may ask for, by where they are;
- `privacy-10-verify`: a one-time code, valid 10 minutes, 3 attempts, or staff with a reason;
- `privacy-8-erasure`: what an erasure keeps and why, and the scrubber that replaces a
  person's identifiers (e-mail, login, links) wherever they were written;
- `privacy-11-minor`: a report that a user is under 18 leads to deletion, except what a
  serious-harm case holds.
"""
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from desk.policy.words import N_, Words, listing

RIGHTS_RULE = "privacy-10-rights"
VERIFY_RULE = "privacy-10-verify"
EXPORT_RULE = "privacy-10-export"
ERASURE_RULE = "privacy-8-erasure"
MINOR_RULE = "privacy-11-minor"

# Privacy §10, in the words a requester reads. California's "know" is access and its
# "delete" is deletion; "opt_out" is the right to opt out of sale or sharing.
RIGHTS = {
    "access": N_("Access: tell me what you hold about me"),
    "portability": N_("Portability: give me a copy of my data"),
    "correction": N_("Correction: correct inaccurate data"),
    "deletion": N_("Deletion: erase my data"),
    "restriction": N_("Restriction: limit the processing of my data"),
    "objection": N_("Objection: stop processing my data"),
    "consent": N_("Withdraw consent"),
    "opt_out": N_("Opt out of the sale or sharing of my data (California)"),
}
ALIASES = {"know": "access", "delete": "deletion", "erasure": "deletion", "consent_withdrawal": "consent",
           "opt_out_sale": "opt_out"}
# Rights answered with a copy of the data (one export serves both).
EXPORT_RIGHTS = frozenset({"access", "portability"})
# Rights that set a flag on the customer record, and the flag each sets.
FLAG_RIGHTS = {
    "restriction": "processing_restricted",
    "objection": "processing_objected",
    "consent": "consent_withdrawn",
    "opt_out": "sale_share_opt_out",
}
FLAG_LABELS = {  # marked: the answer to the requester names the flags set (desk.privacy.requests.apply_flags)
    "processing_restricted": N_("Processing restricted"),
    "processing_objected": N_("Objected to processing"),
    "consent_withdrawn": N_("Consent withdrawn"),
    "sale_share_opt_out": N_("Opted out of sale/sharing"),
    "minor_reported": N_("Reported under 18"),
}

JURISDICTIONS = {"eu": N_("EU / UK (GDPR)"), "ca": N_("California (CCPA/CPRA)"), "other": N_("Elsewhere")}

# The answer to a California opt-out (Privacy §10): there is nothing to stop, and it is recorded.
OPT_OUT_ANSWER = N_("We do not sell or share your personal information as the CCPA/CPRA defines those words. "
                    "Sharing data with our payment processors and our platform provider so they can perform "
                    "a service for us is not a sale or a share: they act on our instructions. Your opt-out is "
                    "recorded all the same, and we will not discriminate against you for exercising it.")


def normalise_rights(values) -> tuple[list[str], list[str]]:
    """(rights, unknown): the rights asked for, each once, in RIGHTS order."""
    wanted, unknown = set(), []
    for value in values or []:
        name = ALIASES.get(str(value).strip().lower(), str(value).strip().lower())
        if name in RIGHTS:
            wanted.add(name)
        elif name:
            unknown.append(str(value))
    return [r for r in RIGHTS if r in wanted], unknown


def rights_problem(rights: list[str], jurisdiction: str) -> str | None:
    """Why these rights cannot be asked for as they stand, or None (privacy-10-rights)."""
    if not rights:
        return N_("Choose at least one right.")
    if jurisdiction not in JURISDICTIONS:
        return N_("Say where you are: EU/UK, California or elsewhere.")
    return None


# privacy-10-verify
CODE_MINUTES = 10
MAX_ATTEMPTS = 3
CODE_DIGITS = 6


def new_code() -> str:
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def code_digest(secret: str, request_id: int, code: str) -> str:
    """The code is stored only as an HMAC bound to its request: a leaked table gives no code."""
    return hmac.new(secret.encode(), f"{request_id}:{code.strip()}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CodeCheck:
    ok: bool
    message: str
    words: Words | None = field(default=None, compare=False)  # `message` as a message id (desk.i18n.say)

    @property
    def text(self) -> str:
        return self.message


def _check(ok: bool, msgid: str, **params) -> CodeCheck:
    words = Words(msgid, params)
    return CodeCheck(ok, str(words), words)


def check_code(*, stored: str | None, given_digest: str, sent_at: datetime | None, attempts: int,
               now: datetime) -> CodeCheck:
    """Whether a typed code proves control of the e-mail (privacy-10-verify). `attempts` is
    the count before this one; a fourth try is refused even with the right code."""
    if stored is None or sent_at is None:
        return _check(False, N_("No code has been sent for this request. Ask for a new one."))
    if attempts >= MAX_ATTEMPTS:
        return _check(False, N_("This code was tried %(tries)s times. Ask for a new one."), tries=MAX_ATTEMPTS)
    if now > sent_at + timedelta(minutes=CODE_MINUTES):
        return _check(False, N_("This code has expired: codes are valid for %(minutes)s minutes. Ask for a new one."),
                      minutes=CODE_MINUTES)
    if not hmac.compare_digest(stored, given_digest):
        left = MAX_ATTEMPTS - attempts - 1
        return (_check(False, N_("That code is not right. 1 attempt left.")) if left == 1 else
                _check(False, N_("That code is not right. %(left)s attempts left."), left=left) if left else
                _check(False, N_("That code is not right, and no attempts are left. Ask for a new one.")))
    return _check(True, N_("Your e-mail address is verified."))


# privacy-8-erasure: what an erasure keeps, and why (the answer lists each that applies).
KEPT = {
    "ledger": (N_("Your balance movements (deposits, charges, refunds), under a pseudonym"),
               N_("accounting and tax law require us to keep them (Privacy §8, §10)")),
    "orders": (N_("The amounts and dates of your orders, without their links"),
               N_("they are the other half of the accounting records")),
    "tickets": (N_("The references, kinds and dates of your tickets, without their content"),
                N_("they show that the work was done; nothing in them identifies you")),
    "record": (N_("A record of this request (its date, nature, channel and our response)"),
               N_("the law asks us to keep it for at least 24 months (11 CCR §7101); it does not name you")),
    "blocked": (N_("Identifiers blocked for abuse"), N_("fraud prevention (AUP §5.3)")),
    "reports": (N_("The abuse or rights reports you made, without your name and address"),
                N_("the cases they opened are the record of what was decided (AUP §5.2)")),
    "evidence": (N_("Evidence of a closed abuse case, under a pseudonym"),
                 N_("it records what was decided and why (AUP §5.2); your identifiers were replaced")),
}


def kept_lines(keys) -> list[dict]:
    return [{"what": KEPT[k][0], "why": KEPT[k][1]} for k in KEPT if k in set(keys)]


def erasure_words(kept: list[dict]) -> list[Words]:
    """The answer to an erasure, a sentence a line: what was kept and why. The ticket's
    message says it in the requester's language, mail/privacy_erased.txt too: keep the
    two together."""
    lines = [Words(N_("Your personal data has been erased (Privacy Policy §8, §10)."))]
    if kept:
        lines.append(Words(N_("We kept only the following, for the reasons given:")))
        # No message id of its own: only the joints, around two sentences that have theirs.
        lines += [Words("- %(what)s: %(why)s.", {"what": Words(row["what"]), "why": Words(row["why"])})
                  for row in kept]
    return lines


def erasure_answer(kept: list[dict]) -> str:
    """The answer in English (the request's record, staff)."""
    return "\n".join(str(line) for line in erasure_words(kept))


def deferral_answer(blockers) -> Words:
    """Why an erasure waits; `blockers` (Words or text, desk.abuse.holds.erasure_blockers)
    are named one by one."""
    return Words(N_("We cannot erase your data yet: some of it must be preserved while a legal matter is open "
                    "(Privacy §8; AUP §5.2). The erasure will run when this ends. What holds it: %(holds)s."),
                 {"holds": listing(blockers)})


def pseudonym(kind: str, number: int) -> str:
    """The stand-in for an erased identifier: stable per person, meaningless outside the desk."""
    return f"erased-{kind}{number}"


def pseudonym_email(kind: str, number: int) -> str:
    # .invalid is reserved (RFC 2606): nothing can ever be sent to it.
    return f"{pseudonym(kind, number)}@erased.invalid"


def trie_pattern(needles) -> str:
    """One regular expression matching any of `needles` (lower case), shaped as a trie so
    that ten thousand links cost one pass over the text, not ten thousand. Longer needles
    win over their prefixes (greedy optional tails)."""
    trie: dict = {}
    for needle in needles:
        node = trie
        for ch in needle:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node) -> str:
        # Runs of single children are one literal, so recursion follows branch points only.
        end = "" in node
        children = sorted(ch for ch in node if ch)
        if not children:
            return ""
        alternatives = []
        for ch in children:
            run, sub = ch, node[ch]
            while "" not in sub and len(sub) == 1:
                (nxt, sub), = sub.items()
                run += nxt
            alternatives.append(re.escape(run) + build(sub))
        body = alternatives[0] if len(alternatives) == 1 and not end else "(?:" + "|".join(alternatives) + ")"
        return body + "?" if end else body

    return build(trie)


@dataclass
class Scrubber:
    """Replaces a person's identifiers in text and in JSON values. E-mails and links are
    replaced wherever they appear; a login only as a whole word, so "al" does not eat
    "also". Case is ignored: e-mail addresses and hosts are case-insensitive."""

    phrases: dict[str, str] = field(default_factory=dict)  # e-mails, links → replacement
    words: dict[str, str] = field(default_factory=dict)  # logins → replacement
    _pattern: re.Pattern | None = field(default=None, init=False, repr=False)
    _lookup: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        self._lookup = {}
        for needle, replacement in [*self.phrases.items(), *self.words.items()]:
            if needle:
                self._lookup.setdefault(needle.lower(), replacement)
        words = {k.lower() for k in self.words if k} - {k.lower() for k in self.phrases if k}
        phrases = {k.lower() for k in self.phrases if k}
        parts = []
        if phrases:
            parts.append(trie_pattern(phrases))
        if words:
            parts.append(rf"(?<![\w.-]){trie_pattern(words)}(?![\w-])")
        self._pattern = re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE) if parts else None

    @property
    def needles(self) -> list[str]:
        return list(self._lookup)

    def text(self, value: str) -> str:
        if not value or self._pattern is None:
            return value
        return self._pattern.sub(lambda m: self._lookup.get(m.group(0).lower(), m.group(0)), value)

    def value(self, value):
        """Strings, lists and dicts (keys too), recursively; other values as they are."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.value(v) for k, v in value.items()}
        return value

    def finds(self, value) -> bool:
        return self.value(value) != value
