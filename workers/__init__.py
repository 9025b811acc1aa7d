"""RQ job functions. Each takes ids, runs inside the app context that desk.jobs.DeskWorker
provides, calls services, and is idempotent: the same job twice has one effect."""
