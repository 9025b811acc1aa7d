"""What a free-form e-mail asks for, read from its words, for the intakes that need a
field a form would have asked (an AUP category, the privacy rights, a rights holder's
right). Pure functions. A guess is only a start: the triage note says it was read from
the e-mail, and staff change it.
"""
import re

URL = re.compile(r"\bhttps?://[^\s<>\"'()\[\]]{3,2000}", re.IGNORECASE)
ORDER_REF = re.compile(r"\border\s*(?:id|no\.?|number|#)?\s*[:#]?\s*(\d{3,20})\b", re.IGNORECASE)

# AUP category by the first group of words found (most serious first: a mail that speaks of
# both threats and spam is read as the threat).
CATEGORY_WORDS = (
    ("3.1", r"child (sexual )?abuse|csam|\bcsem\b|terroris|trafficking|threat(en)? to (kill|life)|kill (him|her|you|them)"),
    ("3.3", r"harass|dox+ing|\bdox+ed\b|\bhate\b|incit|self[- ]harm|suicide|bully"),
    ("3.2", r"phishing|\bscam|fraud|fake (fundrais|charity|giveaway)|ponzi"),
    ("3.4", r"copyright|trademark|infring|\bdmca\b|pirat|private (information|photos)"),
    ("3.5", r"impersonat|disinformation|election|fake news"),
    ("3.6", r"\bdrugs?\b|weapon|firearm|gambling|casino|essay mill"),
    ("4.4", r"stolen card|chargeback|carding|account resale"),
    ("4.2", r"malware|\bbots?\b|botnet|scann?ing|ddos"),
    ("4.3", r"\bspam|unsolicited"),
    ("4.1", r"without (my |our )?(permission|consent)|my (page|account|channel|profile)|fake (followers|likes|views)"),
)
DEFAULT_CATEGORY = "4.1"  # the panel's own abuse: tools aimed at someone else's page

# ARF Feedback-Type (RFC 5965 §7.3) to the AUP.
FEEDBACK_CATEGORIES = {"abuse": "4.3", "fraud": "3.2", "virus": "4.2", "other": "4.3", "not-spam": "4.3",
                       "auth-failure": "4.2"}

RIGHT_WORDS = (
    ("deletion", r"delet|eras|forget|remove my (data|account|information)"),
    ("portability", r"portab|machine[- ]readable|export my"),
    ("access", r"access|copy of (my|the) (personal )?(data|information)|what (data|information) you (hold|have)|subject access|\bsar\b|\bdsar\b|right to know"),
    ("correction", r"correct|rectif|inaccurate|update my (data|details|information)"),
    ("restriction", r"restrict|limit the (use|processing)"),
    ("objection", r"\bobject|stop processing"),
    ("consent", r"withdraw (my )?consent|revoke (my )?consent"),
    ("opt_out", r"do not sell|don't sell|opt[- ]out|sale or shar"),
)
JURISDICTION_WORDS = (
    ("ca", r"california|\bccpa\b|\bcpra\b"),
    ("eu", r"\bgdpr\b|\beu\b|european|\buk\b|united kingdom|article 1[5-9]|article 2[01]"),
)
GOOD_FAITH = re.compile(r"good[- ]faith", re.IGNORECASE)


def _first(table, text: str) -> str | None:
    return next((value for value, words in table if re.search(words, text, re.IGNORECASE)), None)


def category(text: str) -> str:
    return _first(CATEGORY_WORDS, text) or DEFAULT_CATEGORY


def rights(text: str) -> list[str]:
    """The privacy rights named; access when none is (the least a request can mean)."""
    found = [right for right, words in RIGHT_WORDS if re.search(words, text, re.IGNORECASE)]
    return found or ["access"]


def jurisdiction(text: str) -> str:
    return _first(JURISDICTION_WORDS, text) or "other"


def legal_right(text: str) -> str:
    lowered = text.lower()
    if "trademark" in lowered or "trade mark" in lowered or "brand" in lowered:
        return "trademark"
    if "copyright" in lowered or "dmca" in lowered:
        return "copyright"
    return "other"


def good_faith(text: str) -> bool:
    return GOOD_FAITH.search(text) is not None


def links(text: str, limit: int = 20) -> list[str]:
    found = []
    for match in URL.findall(text):
        url = match.rstrip(".,;:!?")
        if url not in found:
            found.append(url)
    return found[:limit]


def orders(text: str, limit: int = 20) -> list[str]:
    found = []
    for ref in ORDER_REF.findall(text):
        if ref not in found:
            found.append(ref)
    return found[:limit]
