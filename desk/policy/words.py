"""Marks for the sentences the desk shows customers, with no Flask here (desk/policy stays
pure): `N_("…")` returns its text unchanged, and `flask desk i18n extract` finds it (babel.cfg
keyword N_), so the customer-facing rendering can translate it later with
`gettext(msgid) % params` (desk.i18n.say). The English text stays what staff, the API and
stored data see."""
from dataclasses import dataclass, field


def N_(msgid: str) -> str:
    return msgid


@dataclass(frozen=True)
class Words:
    """A sentence as a message id and its parameters: `str()` is the English rendering."""
    msgid: str
    params: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.msgid % self.params if self.params else self.msgid


def stored(words: Words) -> dict:
    """`words` as stored JSON keeps it ({msgid, params}); a parameter that is a sentence of
    its own (Words) stays one, so it is translated too when read back (desk.i18n.say)."""
    return {"msgid": words.msgid,
            "params": {k: stored(v) if isinstance(v, Words) else str(v) for k, v in words.params.items()}}


def listing(items, separator: str = "; ") -> Words:
    """Sentences (Words or plain text) joined as one parameter: its "message id" is only the
    joints (`%(0)s; %(1)s`), which no catalogue holds, so gettext leaves it and the items
    are translated one by one (desk.i18n.say)."""
    items = list(items)
    return Words(separator.join(f"%({i})s" for i in range(len(items))), {str(i): w for i, w in enumerate(items)})
