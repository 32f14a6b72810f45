"""The Channels tutorial chat, as most projects start: the stock-Channels baseline."""
