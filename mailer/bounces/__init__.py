"""Inbound mail at the bounce domain: DSNs, complaints, auto-replies and mailto
unsubscribes.

`classify.classify_inbound` reads a message (pure); `apply.record_inbound`
stores it and acts on it in one transaction; `receiver` (SMTP) and `mailbox`
(Maildir/mbox import) feed them through `inbound.process_inbound`.
"""
