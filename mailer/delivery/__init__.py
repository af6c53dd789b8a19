"""The delivery engine: ledger, claiming, SMTP transport, rate limits."""
