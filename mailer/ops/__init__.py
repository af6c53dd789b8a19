"""Operations: `mailer doctor` checks and the DNS records an operator publishes."""
