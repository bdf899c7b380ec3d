"""A minimal CCXT bot: asks Binance for its server time through the Keyward gateway.

Usage: server_time.py GATEWAY_URL TOKEN   -> prints {"serverTime": …}
"""
import json
import sys

import ccxt


def main():
    gateway_url, token = sys.argv[1], sys.argv[2]
    ex = ccxt.binance({"apiKey": token, "secret": "placeholder", "headers": {"X-Keyward-Token": token}})
    base = gateway_url.rstrip("/") + "/binance"
    for name, url in list(ex.urls["api"].items()):
        if isinstance(url, str):
            ex.urls["api"][name] = url.replace("https://api.binance.com", base)
    print(json.dumps(ex.publicGetTime()))


if __name__ == "__main__":
    main()
