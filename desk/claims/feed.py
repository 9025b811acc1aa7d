"""What the panel's feeds tell the other domains, as signals (blinker, as Flask uses).

The mirror stores what the panel sends; other domains act on it without the mirror
importing them: money requests (a pending withdrawal cancelled by an order, a chargeback
case opened) and accounts (identifiers seen). Receivers run inside the feed's
transaction, before its commit; one that raises a DeskError refuses the whole delivery.
"""
from blinker import Namespace

_signals = Namespace()

# sender: None; rows: the LedgerEntry rows just stored (flushed, not committed);
# extras: {entry panel id: {"payment_fingerprint": ...}} for fields the ledger keeps elsewhere.
ledger_stored = _signals.signal("ledger-stored")

# sender: None; orders: [(customer row id, placed at, charge paid from Deposited Funds, order panel id)]
# for the orders the desk sees for the first time.
orders_placed = _signals.signal("orders-placed")

# sender: None; customer: the Customer row (flushed); body: the JSON the panel sent.
customer_updated = _signals.signal("customer-updated")
