"""The periodic schedule, for `rq cron workers/cron.py` (and `flask desk cron`).

RQ's own CronScheduler (RQ 3) enqueues these; the workers run them. Every job here is
idempotent, so a schedule that fires twice (two cron processes) costs a little work and
sends nothing twice.
"""
from rq import cron

from workers.money import dormancy_run
from workers.outbox import relay_outbox
from workers.panel import refresh_open, sweep as panel_sweep
from workers.portal import forget_spent_tokens
from workers.privacy import expire_exports
from workers.sla import sweep
from workers.tickets import assign_waiting
from workers.webhooks import sweep as webhooks_sweep

cron.register(sweep, "high", interval=60)  # reminders at 75%, escalation at breach
cron.register(relay_outbox, "default", interval=30)  # jobs written while Redis was down
# Dormancy once a day at 19:00 UTC (03:00 in Singapore, outside support hours): notices,
# freezes and forfeitures as they fall due (terms-30-dormancy).
cron.register(dormancy_run, "low", cron="0 19 * * *")
# Released privacy exports past their link's time lose their file (privacy-10-export).
cron.register(expire_exports, "low", interval=3600)
# Used portal sign-in tokens past their expiry: refused as expired anyway, so they can go.
cron.register(forget_spent_tokens, "low", interval=3600)
# Tickets waiting for an agent in queues that assign by themselves: handed out once
# support opens, or when someone comes back or drops under their limit.
cron.register(assign_waiting, "default", interval=300)
# The panel's status of every order an open ticket is about, 100 per call (nothing while the
# integration is off), and refills whose next check was lost with Redis.
cron.register(refresh_open, "low", interval=600)
cron.register(panel_sweep, "low", interval=300)
# Webhook retries whose scheduled job was lost with Redis.
cron.register(webhooks_sweep, "low", interval=300)
