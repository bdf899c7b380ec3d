"""A CCXT bot that calls Binance through the Keyward gateway.

Usage: binance_bot.py GATEWAY_URL TOKEN   (GATEWAY_URL like http://127.0.0.1:47311)

It holds no Binance secret: its API key is its Keyward token and its secret a placeholder.
The only change from a bot that calls Binance directly is the base URL (and the token header
for public calls). Prints one JSON object with what each call returned.
"""
import json
import sys

import ccxt


def keyward_binance(gateway_url, token):
    exchange = ccxt.binance({
        "apiKey": token,
        "secret": "placeholder-keyward-signs",
        # Public calls carry no API key in CCXT; the token header identifies the bot.
        "headers": {"X-Keyward-Token": token},
        "options": {"fetchMarkets": ["spot"], "fetchMargins": False, "fetchCurrencies": False, "defaultType": "spot"},
    })
    base = gateway_url.rstrip("/") + "/binance"
    for name, url in list(exchange.urls["api"].items()):
        if isinstance(url, str):
            exchange.urls["api"][name] = url.replace("https://api.binance.com", base)
    return exchange


def main():
    gateway_url, token = sys.argv[1], sys.argv[2]
    ex = keyward_binance(gateway_url, token)
    out = {}
    markets = ex.load_markets()
    out["markets"] = sorted(markets.keys())
    out["ticker"] = ex.fetch_ticker("BTC/USDT")["last"]
    book = ex.fetch_order_book("BTC/USDT", 5)
    out["best_bid"] = book["bids"][0][0]
    out["balance_btc"] = ex.fetch_balance()["BTC"]["free"]
    order = ex.create_order("BTC/USDT", "limit", "buy", 0.001, 90000)
    out["order_id"] = order["id"]
    out["open_orders"] = [o["id"] for o in ex.fetch_open_orders("BTC/USDT")]
    out["cancelled"] = ex.cancel_order(order["id"], "BTC/USDT")["status"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
