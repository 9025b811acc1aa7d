"""Abuse and rights-holder cases: intake, the moderation log, evidence, enforcement,
appeals, holds and disclosures (AUP §3–§7, Terms §20, §23)."""
