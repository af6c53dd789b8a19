"""`mailer bench`: the real delivery pipeline side by side with a ceiling
(plain smtplib over persistent connections) and a naive design (one Celery
task per recipient, full MIME per message, a new SMTP connection each).

See docs/performance.md for the method and the figures.
"""
