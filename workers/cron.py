"""The periodic schedule, for `rq cron workers/cron.py` (and `flask desk cron`)."""
from rq import cron

from workers.outbox import relay_outbox

cron.register(relay_outbox, "default", interval=30)
