"""A CCXT bot that polls Binance as fast as its library lets it, for the gateway benchmark.

Usage: bot_loop.py BASE_URL SECONDS KIND [TOKEN]
  BASE_URL  the exchange (http://127.0.0.1:P) or the gateway's binance (http://127.0.0.1:P/binance)
  KIND      ticker (weight 2) or depth (weight 5)

Uses CCXT's implicit API (no load_markets) with enableRateLimit on, as a bot would. A failed
call is counted by its CCXT error class and the loop goes on, as naive bots do. Prints the
counts as JSON.
"""
import json
import sys
import time

import ccxt


def main():
    base, seconds, kind = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    token = sys.argv[4] if len(sys.argv) > 4 else None
    config = {"enableRateLimit": True}
    if token:
        config.update({"apiKey": token, "secret": "placeholder", "headers": {"X-Keyward-Token": token}})
    ex = ccxt.binance(config)
    for name, url in list(ex.urls["api"].items()):
        if isinstance(url, str):
            ex.urls["api"][name] = url.replace("https://api.binance.com", base.rstrip("/"))
    counts = {"ok": 0}
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        try:
            if kind == "depth":
                ex.publicGetDepth({"symbol": "BTCUSDT", "limit": 100})
            else:
                ex.publicGetTicker24hr({"symbol": "BTCUSDT"})
            counts["ok"] += 1
        except ccxt.BaseError as e:
            name = type(e).__name__
            counts[name] = counts.get(name, 0) + 1
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
