"""A CCXT bot for any exchange, through the Keyward gateway: fetch_ticker and fetch_balance.

Usage: ticker_balance.py EXCHANGE PROVIDER GATEWAY_URL TOKEN SYMBOL ASSET

Its API key is its Keyward token; secret and passphrase are placeholders (base64 where the
library decodes the secret). Every API host of the exchange is replaced by
GATEWAY_URL/PROVIDER. Prints {"last": …, "free": …} as JSON.
"""
import json
import re
import sys

import ccxt


def main():
    exchange_id, provider, gateway_url, token, symbol, asset = sys.argv[1:7]
    base = gateway_url.rstrip("/") + "/" + provider
    exchange = getattr(ccxt, exchange_id)({
        "apiKey": token,
        "secret": "cGxhY2Vob2xkZXItc2VjcmV0",  # base64 of "placeholder-secret"
        "password": "placeholder",
        "headers": {"X-Keyward-Token": token},
        "options": {"fetchCurrencies": False, "fetchMarkets": ["spot"], "defaultType": "spot"},
    })

    def redirect(urls):
        for name, url in list(urls.items()):
            if isinstance(url, str):
                urls[name] = re.sub(r"^https://[^/]+", base, url)
            elif isinstance(url, dict):
                redirect(url)

    redirect(exchange.urls["api"])
    ticker = exchange.fetch_ticker(symbol)
    balance = exchange.fetch_balance()
    print(json.dumps({"last": ticker["last"], "free": balance[asset]["free"]}))


if __name__ == "__main__":
    main()
