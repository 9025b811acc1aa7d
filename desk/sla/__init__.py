"""SLA clocks: support hours and legal deadlines per ticket, the sweep that reminds and
escalates, and the supervisors' dashboard. The rules themselves are in desk/policy/."""
